//! The transfer flow of the `transfer` example, shared with tests/transfer.rs: pretrain
//! the vowels CNN on speakers 1–5, export its convolutions as safetensors, load them
//! frozen under a fresh nine-speaker head and train the head alone.
#![allow(dead_code)]

use microprop::Activation::Relu;
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Net, Trainer};
use microprop::{Adam, AdamConfig, Loss};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// 640 records of 29 × 12 little-endian f32 (`[t][c]`), a label byte, a length byte and
/// two zero bytes; see examples/data/japanese_vowels/README.md.
static VOWELS: &[u8] = include_bytes!("../data/japanese_vowels/japanese_vowels.f32");
const RECORD: usize = 1396;
pub const TRAIN: usize = 270;
pub const TEST: usize = 370;
const LABEL: usize = 29 * 12 * 4;

/// The convolutions: what is pretrained, exported and frozen.
const BACKBONE: [Layer; 4] = [
    Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
    Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
];
const fn with_head(classes: usize) -> [Layer; 5] {
    let [a, b, c, d] = BACKBONE;
    [a, b, c, d, Layer::Dense(Dense::new(448, classes))]
}
const LAYERS5: [Layer; 5] = with_head(5);
const LAYERS9: [Layer; 5] = with_head(9);
const fn net(layers: &'static [Layer]) -> Net<'static> {
    match Net::new(Shape::seq(29, 12), layers) {
        Ok(net) => net,
        Err(_) => panic!("the layers do not fit"),
    }
}
pub const PRETRAIN: Net = net(&LAYERS5);
pub const BACKBONE_NET: Net = net(&BACKBONE);
/// The nine-speaker network with its convolutions frozen: only the head trains.
pub const FINE: Net = match net(&LAYERS9).freeze(BACKBONE.len()) {
    Ok(net) => net.per_layer(true),
    Err(_) => panic!("the backbone is part of the network"),
};
const B: usize = 32;
pub const EPOCHS: usize = 100;

pub fn records(from: usize, len: usize) -> Dataset<'static> {
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

/// The records (of `data`, `len` of them from `from`) whose speaker is below `classes`.
pub fn speakers_below(from: usize, len: usize, classes: u8) -> Vec<u32> {
    (0..len as u32)
        .filter(|&r| VOWELS[(from + r as usize) * RECORD + LABEL] < classes)
        .collect()
}

/// Trains `net` for `EPOCHS` epochs over the rows `order` of `train`, then returns the
/// accuracy over the rows `test_rows` of `test`.
#[allow(clippy::too_many_arguments)]
pub fn train_and_test(
    net: Net,
    params: &mut [f32],
    train: &Dataset,
    order: &mut [u32],
    test: &Dataset,
    test_rows: &[u32],
    rng: &mut StdRng,
    what: Option<&str>,
) -> Result<f32, microprop::Error> {
    let mut state = vec![0.0f32; Adam::state_len(net.trainable_len())];
    let adam = Adam::new(AdamConfig::adam(1e-3), &mut state)?;
    let mut grads = vec![0.0f32; net.grad_len()];
    let mut ws = vec![0.0f32; net.workspace_len(B)];
    let classes = net.output().len();
    let (mut xb, mut labels, mut out) = (
        vec![0.0f32; B * net.input().len()],
        [0u32; B],
        vec![0.0f32; B * classes],
    );
    let mut t = Trainer::new(
        net,
        params,
        &mut grads,
        adam,
        &mut ws,
        Loss::SoftmaxCrossEntropy,
    )?;
    let mut batch = Batch {
        x: &mut xb,
        y: &mut [],
        labels: &mut labels,
    };
    let mut acc = 0.0;
    for epoch in 1..=EPOCHS {
        shuffle(order, rng);
        let loss = t.epoch(train, order, &mut batch)?;
        if epoch % 25 == 0 {
            acc = t
                .evaluate(test, test_rows, &mut batch, &mut out, None)?
                .accuracy();
            if let Some(what) = what {
                println!(
                    "{what}: epoch {epoch:3}  train loss {loss:.4}  test accuracy {:.1}%",
                    100.0 * acc
                );
            }
        }
    }
    let Some(what) = what else { return Ok(acc) };
    println!(
        "{what}: {} parameters trained ({} frozen), gradient buffer {} values, \
         workspace {} values",
        net.trainable_len(),
        net.param_len() - net.trainable_len(),
        net.grad_len(),
        net.workspace_len(B)
    );
    Ok(acc)
}

/// What the flow gives.
pub struct Outcome {
    /// The pretrained network's test accuracy on speakers 1–5.
    pub pretrained: f32,
    /// The fine-tuned network's test accuracy on all nine speakers.
    pub fine_tuned: f32,
    /// The exported convolutions (the safetensors file's bytes).
    pub file: Vec<u8>,
    /// Whether the frozen convolutions came out of the fine-tuning as they went in.
    pub frozen_untouched: bool,
}

/// The whole flow with `seed`, the convolutions exported to `path`; `verbose` prints
/// each 25th epoch.
pub fn run(seed: u64, path: &str, verbose: bool) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (train, test) = (records(0, TRAIN), records(TRAIN, TEST));

    // 1. Pretrain on speakers 1–5.
    let mut params5 = vec![0.0f32; PRETRAIN.param_len()];
    PRETRAIN.init(&mut params5, Init::HeUniform, &mut rng)?;
    let mut order5 = speakers_below(0, TRAIN, 5);
    let test5 = speakers_below(TRAIN, TEST, 5);
    let what = verbose.then_some("pretrain, speakers 1-5");
    let pretrained = train_and_test(
        PRETRAIN,
        &mut params5,
        &train,
        &mut order5,
        &test,
        &test5,
        &mut rng,
        what,
    )?;

    // 2. Export the convolutions.
    let backbone = &params5[..BACKBONE_NET.param_len()];
    let mut file = vec![0u8; BACKBONE_NET.safetensors_len()];
    BACKBONE_NET.save_safetensors(backbone, &mut file)?;
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, &file)?;

    // 3. A fresh nine-speaker head over the frozen convolutions, read from the file.
    let mut params9 = vec![0.0f32; FINE.param_len()];
    FINE.init(&mut params9, Init::HeUniform, &mut rng)?;
    let read = std::fs::read(path)?;
    let frozen = FINE.frozen_len();
    BACKBONE_NET.load_safetensors(&read, &mut params9[..frozen])?;
    let mut order9 = vec![0u32; TRAIN];
    identity_permutation(&mut order9)?;
    let mut test9 = vec![0u32; TEST];
    identity_permutation(&mut test9)?;
    let what = verbose.then_some("fine-tune the head, 9 speakers");
    let fine_tuned = train_and_test(
        FINE,
        &mut params9,
        &train,
        &mut order9,
        &test,
        &test9,
        &mut rng,
        what,
    )?;
    Ok(Outcome {
        pretrained,
        fine_tuned,
        frozen_untouched: params9[..frozen] == *backbone,
        file,
    })
}
