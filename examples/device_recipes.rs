//! The two recipes the Cortex-M4F firmwares train the vowels CNN with
//! (`examples/cortex-m4/src/bin/vowels_full.rs` and `vowels_head.rs`), run here on the
//! desktop with the scalar instruction set, the same data, seed, batch and epochs, so
//! that `.ci/firmware.sh` can hold the device's test accuracy to the desktop's (within
//! one point):
//!
//! * `vowels_full`: the whole network, He initialisation from SplitMix64 seed 0, Adam lr
//!   1e-3, batch 4, per-layer updates, 10 epochs;
//! * `vowels_head`: a fresh head (He, seed 0) over the convolutions pretrained on five
//!   speakers (`examples/data/japanese_vowels/backbone.safetensors`, written by the
//!   `transfer` example), frozen; Adam lr 1e-3, batch 1, 10 epochs.
//!
//! Run: `cargo run --release --example device_recipes` (`-- EPOCHS` for other lengths).

use microprop::Activation::Relu;
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Net, Trainer};
use microprop::simd::{Isa, with_isa};
use microprop::{Adam, AdamConfig, Loss, SplitMix64};

static VOWELS: &[u8] = include_bytes!("data/japanese_vowels/japanese_vowels.f32");
static BACKBONE_FILE: &[u8] = include_bytes!("data/japanese_vowels/backbone.safetensors");
const RECORD: usize = 1396;
const TRAIN: usize = 270;
const TEST: usize = 370;
const LABEL: usize = 29 * 12 * 4;

const LAYERS: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
    Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(448, 9)),
];
const NET: Net = match Net::new(Shape::seq(29, 12), &LAYERS) {
    Ok(net) => net.per_layer(true),
    Err(_) => panic!(),
};
const HEAD_ONLY: Net = match NET.freeze(4) {
    Ok(net) => net,
    Err(_) => panic!("the network has 4 layers or more"),
};
const HEAD_LAYERS: [Layer; 1] = [Layer::Dense(Dense::new(448, 9))];
const HEAD: Net = match Net::new(Shape::flat(448), &HEAD_LAYERS) {
    Ok(net) => net,
    Err(_) => panic!(),
};

fn records(from: usize, len: usize) -> Dataset<'static> {
    let bytes = &VOWELS[from * RECORD..(from + len) * RECORD];
    Dataset {
        x: Features::F32Le {
            data: bytes,
            stride: RECORD,
        },
        y: Labels::ClassesU8 {
            data: &bytes[LABEL..],
            stride: RECORD,
        },
        len,
    }
}

/// The firmware's `vowels::run`, on the desktop: returns the test records classified
/// right.
fn run(net: Net, frozen: &[f32], b: usize, epochs: u32, seed: u64) -> usize {
    let (train, test) = (records(0, TRAIN), records(TRAIN, TEST));
    let mut rng = SplitMix64::new(seed);
    let mut params = vec![0.0f32; net.param_len() - frozen.len()];
    if frozen.is_empty() {
        net.init(&mut params, Init::HeUniform, &mut rng).unwrap();
    } else {
        HEAD.init(&mut params, Init::HeUniform, &mut rng).unwrap();
    }
    let (mut order, mut rows) = (vec![0u32; TRAIN], vec![0u32; TEST]);
    identity_permutation(&mut order).unwrap();
    identity_permutation(&mut rows).unwrap();
    let mut state = vec![0.0f32; Adam::state_len(net.trainable_len())];
    let adam = Adam::new(AdamConfig::adam(1e-3), &mut state).unwrap();
    let mut grads = vec![0.0f32; net.grad_len()];
    let mut ws = vec![0.0f32; net.workspace_len(b)];
    let loss = Loss::SoftmaxCrossEntropy;
    let mut t = if frozen.is_empty() {
        Trainer::new(net, &mut params, &mut grads, adam, &mut ws, loss)
    } else {
        Trainer::new_frozen(net, frozen, &mut params, &mut grads, adam, &mut ws, loss)
    }
    .unwrap();
    let (mut xb, mut lb, mut out) = (vec![0.0f32; b * 29 * 12], vec![0u32; b], vec![0.0; b * 9]);
    let mut batch = Batch {
        x: &mut xb,
        y: &mut [],
        labels: &mut lb,
    };
    for _ in 0..epochs {
        shuffle(&mut order, &mut rng);
        t.epoch(&train, &order, &mut batch).unwrap();
    }
    t.evaluate(&test, &rows, &mut batch, &mut out, None)
        .unwrap()
        .correct
}

fn main() {
    let epochs = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut frozen = vec![0.0f32; HEAD_ONLY.frozen_len()];
    let backbone = Net::new(Shape::seq(29, 12), &LAYERS[..4]).unwrap();
    backbone
        .load_safetensors(BACKBONE_FILE, &mut frozen)
        .unwrap();
    with_isa(Isa::Scalar, || {
        for (name, net, frozen, b) in [
            ("vowels_full", NET, &[][..], 4),
            ("vowels_head", HEAD_ONLY, &frozen[..], 1),
        ] {
            let correct = run(net, frozen, b, epochs, 0);
            println!(
                "desktop {name}: test accuracy {}% after {epochs} epochs ({correct} correct of \
                 {TEST}; scalar instruction set, batch {b})",
                100.0 * correct as f32 / TEST as f32
            );
        }
    })
    .unwrap();
}
