//! Weights PyTorch and NumPy read: a network's parameters as a safetensors file, and back.
//!
//! ```text
//! cargo run --release --example safetensors -- export DIR
//! cargo run --release --example safetensors -- import FILE X OUT
//! cargo run --release --example safetensors -- export-cnn DIR
//! cargo run --release --example safetensors -- import-cnn cnn1d|cnn2d FILE X OUT
//! ```
//!
//! `export` writes `DIR/microprop.safetensors` for a 5-7-6-3 [`Mlp`] (ReLU, tanh,
//! identity; biases on) with fixed parameters, a batch of 4 inputs `DIR/x.f32` and the
//! network's outputs on them `DIR/out.f32` (raw little-endian `f32`, row-major).
//! `import` loads the safetensors `FILE` (written by PyTorch, NumPy or any other
//! safetensors writer, with microprop's tensor names) into the same network, runs it on
//! the inputs in `X` and writes its outputs to `OUT`.
//!
//! `export-cnn` does the same for two [`Net`]s, `cnn1d` (the vowels kind at small size:
//! 16 steps of 3 channels; Conv1d kernel 3, padding 1, ReLU; Conv1d with stride 2,
//! padding 1, dilation 2 and 2 groups, tanh; MaxPool1d(2); Flatten; Linear) and `cnn2d`
//! (6 × 8 images of 2 channels; Conv2d with a 3 × 2 kernel, padding 1, ReLU;
//! MaxPool2d(2); Flatten; Linear): `DIR/{name}.safetensors`, `DIR/{name}_x.f32` (the
//! inputs channels-last, as microprop reads them: `N × len × c`, `N × h × w × c`) and
//! `DIR/{name}_out.f32`. `import-cnn` loads `FILE` into the named network.
//! `.ci/safetensors_check.py` drives all four against Python's `safetensors` and NumPy.

use microprop::Activation::{Identity, Relu, Tanh};
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::{Mlp, Net};
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

/// The 1-D CNN: 16 steps of 3 channels.
const CNN1D: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(3, 8, 3).padding(1).act(Relu)),
    Layer::Conv1d(
        Conv1d::new(8, 6, 3)
            .stride(2)
            .padding(1)
            .dilation(2)
            .groups(2)
            .act(Tanh),
    ),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(3 * 6, 4)),
];
/// The 2-D CNN: 6 × 8 images of 2 channels.
const CNN2D: [Layer; 4] = [
    Layer::Conv2d(Conv2d::new(2, 4, (3, 2)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Flatten,
    Layer::Dense(Dense::new(3 * 4 * 4, 3)),
];

/// The CNN named `name`.
fn cnn(name: &str) -> Net<'static> {
    let net = match name {
        "cnn1d" => Net::new(Shape::seq(16, 3), &CNN1D),
        "cnn2d" => Net::new(Shape::image(6, 8, 2), &CNN2D),
        _ => fail(format!("no CNN named {name} (cnn1d, cnn2d)")),
    };
    net.unwrap_or_else(|e| fail(e))
}

fn cnn_forward(net: &Net<'_>, params: &[f32], x: &[f32]) -> Vec<f32> {
    let n = x.len() / net.input().len();
    let mut out = vec![0.0; n * net.output().len()];
    let mut ws = vec![0.0; net.forward_workspace_len(n)];
    net.forward(params, x, &mut out, &mut ws)
        .unwrap_or_else(|e| fail(e));
    out
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
        ["export-cnn", dir] => {
            for name in ["cnn1d", "cnn2d"] {
                let net = cnn(name);
                let params: Vec<f32> = (0..net.param_len())
                    .map(|i| (i as f32 * 0.731).sin() * 0.5)
                    .collect();
                let x: Vec<f32> = (0..N * net.input().len())
                    .map(|i| (i as f32 * 0.37).cos())
                    .collect();
                let mut file = vec![0u8; net.safetensors_len()];
                net.save_safetensors(&params, &mut file)
                    .unwrap_or_else(|e| fail(e));
                let path = format!("{dir}/{name}.safetensors");
                std::fs::write(&path, &file).unwrap_or_else(|e| fail(format!("{path}: {e}")));
                write_f32(&format!("{dir}/{name}_x.f32"), &x);
                write_f32(
                    &format!("{dir}/{name}_out.f32"),
                    &cnn_forward(&net, &params, &x),
                );
                println!(
                    "wrote {path} ({} bytes), {dir}/{name}_x.f32 and {dir}/{name}_out.f32",
                    file.len()
                );
            }
        }
        ["import-cnn", name, file, x, out] => {
            let net = cnn(name);
            let bytes = std::fs::read(file).unwrap_or_else(|e| fail(format!("{file}: {e}")));
            let mut params = vec![0.0; net.param_len()];
            net.load_safetensors(&bytes, &mut params)
                .unwrap_or_else(|e| fail(format!("{file}: {e}")));
            write_f32(out, &cnn_forward(&net, &params, &read_f32(x)));
            println!("loaded {file} into {name}; wrote its outputs to {out}");
        }
        _ => fail(
            "usage: safetensors export DIR | safetensors import FILE X OUT | \
             safetensors export-cnn DIR | safetensors import-cnn cnn1d|cnn2d FILE X OUT",
        ),
    }
}
