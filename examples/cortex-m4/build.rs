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
}
