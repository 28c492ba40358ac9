//! A 1-D convolutional network on a real time series: speaker recognition from the UCI
//! Japanese Vowels data (12 LPC cepstrum coefficients over up to 29 frames, 9 speakers).
//!
//! Conv1d(12→32, k 3, pad 1)–ReLU–Conv1d(32→32, k 3, pad 1)–ReLU–MaxPool(2)–Flatten–
//! Dense(448→9): 8,329 parameters, softmax cross-entropy, Adam lr 1e-3, batch 32, He
//! initialisation, 100 epochs; records 0–269 train, 270–639 (other sessions) test.
//! Prints each tenth epoch's training loss and test accuracy, then the time per epoch
//! beside the arithmetic floor: the step's products at this core's FMA peak, measured in
//! the same run.
//!
//! Run: `cargo run --release --example vowels` (optionally `-- SEED`).

use microprop::Activation::Relu;
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Net, Trainer};
use microprop::simd::Isa;
use microprop::{Adam, AdamConfig, Loss};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

#[path = "common/flops.rs"]
mod flops;
#[path = "common/peak.rs"]
mod peak;

/// 640 records of 29 × 12 little-endian f32 (`[t][c]`), a label byte, a length byte and
/// two zero bytes; see examples/data/japanese_vowels/README.md.
static VOWELS: &[u8] = include_bytes!("data/japanese_vowels/japanese_vowels.f32");
const RECORD: usize = 1396;
const TRAIN: usize = 270;
const TEST: usize = 370;

const LAYERS: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
    Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(448, 9)),
];
const NET: Net = match Net::new(Shape::seq(29, 12), &LAYERS) {
    Ok(net) => net,
    Err(_) => panic!("the layers do not fit"),
};
const PARAMS: usize = NET.param_len();
const B: usize = 32;
const EPOCHS: usize = 100;

/// The records `from..from + len`, read in place.
fn records(from: usize, len: usize) -> Dataset<'static> {
    let bytes = &VOWELS[from * RECORD..(from + len) * RECORD];
    Dataset {
        x: Features::F32Le {
            data: bytes,
            stride: RECORD,
        },
        y: Labels::ClassesU8 {
            data: &bytes[29 * 12 * 4..],
            stride: RECORD,
        },
        len,
    }
}

fn main() -> Result<(), microprop::Error> {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(seed);
    let (train, test) = (records(0, TRAIN), records(TRAIN, TEST));

    let mut params = vec![0.0f32; PARAMS];
    NET.init(&mut params, Init::HeUniform, &mut rng)?;
    let mut state = vec![0.0f32; Adam::state_len(PARAMS)];
    let adam = Adam::new(AdamConfig::adam(1e-3), &mut state)?;
    let mut grads = vec![0.0f32; PARAMS];
    let mut ws = vec![0.0f32; NET.workspace_len(B)];
    let d0 = NET.input().len();
    let (mut xb, mut labels, mut out) = (vec![0.0f32; B * d0], [0u32; B], [0.0f32; B * 9]);
    let mut order = [0u32; TRAIN];
    identity_permutation(&mut order)?;
    let mut test_rows = [0u32; TEST];
    identity_permutation(&mut test_rows)?;
    let mut trainer = Trainer::new(
        NET,
        &mut params,
        &mut grads,
        adam,
        &mut ws,
        Loss::SoftmaxCrossEntropy,
    )?;

    let isa = Isa::active();
    println!(
        "microprop vowels: Conv1d(12→32,k3)-ReLU-Conv1d(32→32,k3)-ReLU-MaxPool(2)-Dense(448→9), \
         {PARAMS} parameters, Adam lr 1e-3, batch {B}, seed {seed}, isa={}",
        isa.name()
    );
    let mut epochs = Vec::with_capacity(EPOCHS);
    let mut acc = 0.0;
    for epoch in 1..=EPOCHS {
        shuffle(&mut order, &mut rng);
        let mut batch = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut labels,
        };
        let t = Instant::now();
        let loss = trainer.epoch(&train, &order, &mut batch)?;
        epochs.push(t.elapsed());
        let eval = trainer.evaluate(&test, &test_rows, &mut batch, &mut out, None)?;
        acc = eval.accuracy();
        if epoch % 10 == 0 || epoch == 1 {
            println!(
                "epoch {epoch:3}  train loss {loss:.4}  test accuracy {:.1}%",
                100.0 * acc
            );
        }
    }
    report(&epochs, acc, isa);
    Ok(())
}

/// The median epoch beside the arithmetic floor at the FMA peak of this run.
fn report(epochs: &[Duration], acc: f32, isa: Isa) {
    let mut ms: Vec<f64> = epochs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let flops = flops::step_flops_per_example(&NET) * TRAIN as f64;
    println!(
        "test accuracy {:.1}% after {EPOCHS} epochs; median epoch {median:.3} ms \
         (training only, {} steps of batch {B}; fastest {:.3} ms)",
        100.0 * acc,
        TRAIN.div_ceil(B),
        ms[0]
    );
    if let Some(peak) = peak::fma_peak_gflops(isa) {
        let floor = flops / (peak * 1e6);
        println!(
            "arithmetic floor: {:.1} MFLOP per epoch at the FMA peak measured now \
             ({peak:.1} GFLOP/s, {}): {floor:.3} ms; the median epoch is {:.2}x the floor",
            flops / 1e6,
            isa.name(),
            median / floor
        );
    }
}
