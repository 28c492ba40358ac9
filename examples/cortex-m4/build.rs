//! Puts the board's memory map on the linker's search path as `memory.x` (cortex-m-rt's
//! `link.x` includes it), chosen by the target (none of the files is named `memory.x`
//! itself: the linker would find that one in the package directory first):
//!
//! * `memory-mps2.x`: QEMU's MPS2 boards AN385 (Cortex-M3), AN386 (Cortex-M4F) and AN500
//!   (Cortex-M7), which share one map: 4 MiB of code SRAM at 0, 4 MiB of SRAM at
//!   0x2000_0000 (thumbv7m, thumbv7em; and thumbv6m, whose ARMv6-M code runs on the
//!   AN385's Cortex-M3: QEMU's only ARMv6-M board, the BBC micro:bit, has 16 KiB of RAM,
//!   too little for this firmware's buffers);
//! * `memory-an547.x`: QEMU's MPS3 AN547 (Cortex-M55, thumbv8m.main): the SSE-300's
//!   512 KiB ITCM at 0 and 512 KiB DTCM at 0x2000_0000.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let memory = if target.starts_with("thumbv8m.main") {
        "memory-an547.x"
    } else {
        "memory-mps2.x"
    };
    fs::copy(memory, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    for file in ["memory-mps2.x", "memory-an547.x", "build.rs"] {
        println!("cargo:rerun-if-changed={file}");
    }
    // Each vowels firmware's RAM budget, enforced by the linker.
    fs::copy("budget-256k.x", out.join("budget-256k.x")).expect("copy a budget");
    fs::copy("budget-96k.x", out.join("budget-96k.x")).expect("copy a budget");
    println!("cargo:rustc-link-arg-bin=vowels_full=-Tbudget-256k.x");
    println!("cargo:rustc-link-arg-bin=vowels_head=-Tbudget-96k.x");
    for file in ["budget-256k.x", "budget-96k.x"] {
        println!("cargo:rerun-if-changed={file}");
    }
    if env::var_os("CARGO_FEATURE_VOWELS").is_some() {
        backbone(&out);
    }
}

/// Writes `backbone.rs`: the vowels CNN's convolutions, pretrained on the desktop and
/// exported as safetensors (PyTorch's layouts), read by microprop into its own layout
/// and written as a `static` array of their bits, so that `vowels_head` keeps them in
/// flash.
fn backbone(out: &std::path::Path) {
    use microprop::Activation::Relu;
    use microprop::layer::{Conv1d, Layer, Pool, Shape};
    use microprop::nn::Net;
    use std::fmt::Write;
    const FILE: &str = "../data/japanese_vowels/backbone.safetensors";
    println!("cargo:rerun-if-changed={FILE}");
    let layers = [
        Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
        Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
    ];
    let net = Net::new(Shape::seq(29, 12), &layers).expect("the backbone's layers");
    let bytes = fs::read(FILE).expect("the backbone file (cargo run --release --example transfer)");
    let mut params = vec![0.0f32; net.param_len()];
    net.load_safetensors(&bytes, &mut params)
        .expect("the backbone file fits the network");
    let mut src = format!(
        "/// The vowels CNN's convolutions, pretrained on the desktop ({FILE}).\n\
         pub static FROZEN: [f32; {}] = [\n",
        params.len()
    );
    for p in &params {
        writeln!(src, "    f32::from_bits(0x{:08x}),", p.to_bits()).unwrap();
    }
    src.push_str("];\n");
    fs::write(out.join("backbone.rs"), src).expect("write backbone.rs");
}
