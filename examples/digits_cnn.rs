//! A 2-D convolutional network on small images: the UCI handwritten digits as 1 × 8 × 8
//! images (the MLP of the `digits` example reads them as 64 features).
//!
//! Conv2d(1→16, 3×3, pad 1)–ReLU–MaxPool(2×2)–Conv2d(16→32, 3×3, pad 1)–ReLU–
//! MaxPool(2×2)–Flatten–Dense(128→10): 6,090 parameters, softmax cross-entropy, Adam lr
//! 1e-3, batch 32, He initialisation, 100 epochs; the first 1,437 records train, the last
//! 360 (other writers) test.
//! Prints each tenth epoch's training loss and test accuracy, then the time per epoch
//! beside the arithmetic floor: the step's products at this core's FMA peak, measured in
//! the same run.
//!
//! Run: `cargo run --release --example digits_cnn` (optionally `-- SEED`).

use microprop::Activation::Relu;
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv2d, Dense, Layer, Pool2d, Shape};
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

/// 1,797 records of 64 pixel bytes (0–16, row-major 8 × 8) and a label byte; see
/// examples/data/digits/README.md.
static DIGITS: &[u8] = include_bytes!("data/digits/digits.u8");
const RECORD: usize = 65;
const TRAIN: usize = 1437;
const TEST: usize = 360;

const LAYERS: [Layer; 6] = [
    Layer::Conv2d(Conv2d::new(1, 16, (3, 3)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Conv2d(Conv2d::new(16, 32, (3, 3)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Flatten,
    Layer::Dense(Dense::new(128, 10)),
];
const NET: Net = match Net::new(Shape::image(8, 8, 1), &LAYERS) {
    Ok(net) => net,
    Err(_) => panic!("the layers do not fit"),
};
const PARAMS: usize = NET.param_len();
const B: usize = 32;
const EPOCHS: usize = 100;

/// The records `from..from + len`, read in place.
fn records(from: usize, len: usize) -> Dataset<'static> {
    let bytes = &DIGITS[from * RECORD..(from + len) * RECORD];
    Dataset {
        x: Features::U8 {
            data: bytes,
            stride: RECORD,
            scale: 1.0 / 16.0,
        },
        y: Labels::ClassesU8 {
            data: &bytes[64..],
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
    let (mut xb, mut labels, mut out) = (vec![0.0f32; B * d0], [0u32; B], [0.0f32; B * 10]);
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
        "microprop digits_cnn: Conv2d(1→16,3x3)-ReLU-MaxPool(2x2)-Conv2d(16→32,3x3)-ReLU-MaxPool(2x2)-Dense(128→10), \
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
