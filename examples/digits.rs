//! Train your own model: the UCI handwritten digits (8×8 images, 10 classes) with a
//! 64-32-10 ReLU network, softmax cross-entropy (mean over the batch), Adam (lr 1e-3),
//! batch 32, He initialisation, 100 epochs. The first 1,437 records train, the last 360
//! (other writers) test. Prints each epoch's training loss and test accuracy, then the
//! time per epoch.
//!
//! Run: `cargo run --release --example digits` (optionally `-- SEED`).

use microprop::Activation::{Identity, Relu};
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::nn::Mlp;
use microprop::{Adam, AdamConfig, Loss};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// 1,797 records of 64 pixel bytes (0–16) and a label byte; see examples/data/digits/README.md.
static DIGITS: &[u8] = include_bytes!("data/digits/digits.u8");
const RECORD: usize = 65;
const TRAIN: usize = 1437;
const TEST: usize = 360;

const SIZES: [usize; 3] = [64, 32, 10];
const NET: Mlp = match Mlp::new(&SIZES, &[Relu, Identity], true) {
    Ok(net) => net,
    Err(_) => panic!("bad network"),
};
const PARAMS: usize = Mlp::param_len(&SIZES, true);
const B: usize = 32;
const EPOCHS: usize = 100;

/// The records `from..from + len` as a data set read in place: pixels scaled to [0, 1].
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

    let mut params = [0.0f32; PARAMS];
    NET.init(&mut params, Init::HeUniform, &mut rng)?;
    let mut state = [0.0f32; Adam::state_len(PARAMS)];
    let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut state)?;
    let mut grads = [0.0f32; PARAMS];
    let mut ws = vec![0.0f32; Mlp::workspace_len(&SIZES, B)];
    let (mut xb, mut labels, mut out) = ([0.0f32; B * 64], [0u32; B], [0.0f32; B * 10]);
    let mut order = [0u32; TRAIN];
    identity_permutation(&mut order)?;
    let mut test_rows = [0u32; TEST];
    identity_permutation(&mut test_rows)?;

    println!(
        "microprop digits: 64-32-10 ReLU, softmax cross-entropy, Adam lr 1e-3, batch {B}, seed {seed}"
    );
    let mut trained = Duration::ZERO;
    let mut acc = 0.0;
    for epoch in 1..=EPOCHS {
        shuffle(&mut order, &mut rng);
        let mut batch = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut labels,
        };
        let t = Instant::now();
        let loss = NET.train_epoch(
            &mut params,
            &train,
            &order,
            Loss::SoftmaxCrossEntropy,
            &mut adam,
            &mut batch,
            &mut grads,
            &mut ws,
        )?;
        trained += t.elapsed();
        let eval = NET.evaluate(
            &params,
            &test,
            &test_rows,
            Loss::SoftmaxCrossEntropy,
            &mut batch,
            &mut out,
            None,
            &mut ws,
        )?;
        acc = eval.accuracy();
        println!(
            "epoch {epoch:3}  train loss {loss:.4}  test accuracy {:.1}%",
            100.0 * acc
        );
    }
    let per_epoch = trained.as_secs_f64() * 1e3 / EPOCHS as f64;
    println!(
        "test accuracy {:.1}% after {EPOCHS} epochs; {per_epoch:.3} ms per epoch (training only, {} steps of batch {B})",
        100.0 * acc,
        TRAIN.div_ceil(B)
    );
    Ok(())
}
