//! Weights PyTorch and NumPy read: a network's parameters as a safetensors file, and back.
//!
//! ```text
//! cargo run --release --example safetensors -- export DIR
//! cargo run --release --example safetensors -- import FILE X OUT
//! ```
//!
//! `export` writes `DIR/microprop.safetensors` for a 5-7-6-3 network (ReLU, tanh,
//! identity; biases on) with fixed parameters, a batch of 4 inputs `DIR/x.f32` and the
//! network's outputs on them `DIR/out.f32` (raw little-endian `f32`, row-major).
//! `import` loads the safetensors `FILE` (written by PyTorch, NumPy or any other
//! safetensors writer, with microprop's tensor names) into the same network, runs it on
//! the inputs in `X` and writes its outputs to `OUT`. `.ci/safetensors_check.py` drives both
//! against Python's `safetensors` and NumPy.

use microprop::Activation::{Identity, Relu, Tanh};
use microprop::nn::Mlp;
use std::process::exit;

const SIZES: [usize; 4] = [5, 7, 6, 3];
const PARAMS: usize = Mlp::param_len(&SIZES, true);
const N: usize = 4;

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("safetensors example: {what}");
    exit(1)
}

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn write_f32(path: &str, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap_or_else(|e| fail(format!("{path}: {e}")));
}

fn forward(net: &Mlp<'_>, params: &[f32], x: &[f32]) -> Vec<f32> {
    let n = x.len() / SIZES[0];
    let mut out = vec![0.0; n * SIZES[3]];
    let mut ws = vec![0.0; Mlp::forward_workspace_len(&SIZES, n)];
    net.forward(params, x, &mut out, &mut ws)
        .unwrap_or_else(|e| fail(e));
    out
}

fn main() {
    let net = Mlp::new(&SIZES, &[Relu, Tanh, Identity], true).unwrap_or_else(|e| fail(e));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["export", dir] => {
            let params: Vec<f32> = (0..PARAMS)
                .map(|i| (i as f32 * 0.731).sin() * 0.8)
                .collect();
            let x: Vec<f32> = (0..N * SIZES[0]).map(|i| (i as f32 * 0.37).cos()).collect();
            let mut file = vec![0u8; Mlp::safetensors_len(&SIZES, true)];
            net.save_safetensors(&params, &mut file)
                .unwrap_or_else(|e| fail(e));
            let path = format!("{dir}/microprop.safetensors");
            std::fs::write(&path, &file).unwrap_or_else(|e| fail(format!("{path}: {e}")));
            write_f32(&format!("{dir}/x.f32"), &x);
            write_f32(&format!("{dir}/out.f32"), &forward(&net, &params, &x));
            println!(
                "wrote {path} ({} bytes), {dir}/x.f32 and {dir}/out.f32",
                file.len()
            );
        }
        ["import", file, x, out] => {
            let bytes = std::fs::read(file).unwrap_or_else(|e| fail(format!("{file}: {e}")));
            let mut params = vec![0.0; PARAMS];
            net.load_safetensors(&bytes, &mut params)
                .unwrap_or_else(|e| fail(format!("{file}: {e}")));
            let y = forward(&net, &params, &read_f32(x));
            write_f32(out, &y);
            println!("loaded {file} into {SIZES:?}; wrote its outputs to {out}");
        }
        _ => fail("usage: safetensors export DIR | safetensors import FILE X OUT"),
    }
}
