//! Convolutional networks trained on real data (issue 17 C): the vowels network of
//! `examples/vowels.rs` reaches its target test accuracy, and its depthwise-separable
//! variant (depthwise k 3, then pointwise) trains.

use microprop::Activation::{Identity, Relu};
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Net, Trainer};
use microprop::{Adam, AdamConfig, Loss};
use rand::SeedableRng;
use rand::rngs::StdRng;

static VOWELS: &[u8] = include_bytes!("../examples/data/japanese_vowels/japanese_vowels.f32");
const RECORD: usize = 1396;

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

/// Trains `layers` on the 270 training records for `epochs` (Adam lr 1e-3, batch 32, He
/// initialisation, seed 0, the recipe of `examples/vowels.rs`) and returns the test accuracy over the 370 test records.
fn train(layers: &[Layer], epochs: usize) -> f32 {
    let net = Net::new(Shape::seq(29, 12), layers).unwrap();
    let p = net.param_len();
    let mut rng = StdRng::seed_from_u64(0); // as examples/vowels.rs
    let mut params = vec![0.0f32; p];
    net.init(&mut params, Init::HeUniform, &mut rng).unwrap();
    let mut grads = vec![0.0f32; p];
    let mut state = vec![0.0f32; Adam::state_len(p)];
    let adam = Adam::new(AdamConfig::adam(1e-3), &mut state).unwrap();
    let mut ws = vec![0.0f32; net.workspace_len(32)];
    let mut t = Trainer::new(
        net,
        &mut params,
        &mut grads,
        adam,
        &mut ws,
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    let (train, test) = (records(0, 270), records(270, 370));
    let mut order = [0u32; 270];
    identity_permutation(&mut order).unwrap();
    let mut rows = [0u32; 370];
    identity_permutation(&mut rows).unwrap();
    let (mut xb, mut labels, mut out) = (vec![0.0f32; 32 * 348], [0u32; 32], [0.0f32; 32 * 9]);
    let mut batch = Batch {
        x: &mut xb,
        y: &mut [],
        labels: &mut labels,
    };
    for _ in 0..epochs {
        shuffle(&mut order, &mut rng);
        let loss = t.epoch(&train, &order, &mut batch).unwrap();
        assert!(loss.is_finite());
    }
    t.evaluate(&test, &rows, &mut batch, &mut out, None)
        .unwrap()
        .accuracy()
}

#[test]
#[cfg_attr(miri, ignore = "100 epochs of a CNN: minutes in the interpreter")]
fn the_vowels_network_reaches_96_5_percent() {
    let layers = [
        Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
        Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
        Layer::Dense(Dense::new(448, 9).act(Identity)),
    ];
    let acc = train(&layers, 100);
    eprintln!("vowels network, 100 epochs: test accuracy {acc}");
    assert!(acc >= 0.965, "test accuracy {acc}");
}

#[test]
#[cfg_attr(miri, ignore = "100 epochs of a CNN: minutes in the interpreter")]
fn a_depthwise_separable_vowels_network_trains() {
    let layers = [
        Layer::Conv1d(Conv1d::new(12, 12, 3).padding(1).groups(12)),
        Layer::Conv1d(Conv1d::new(12, 32, 1).act(Relu)),
        Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).groups(32)),
        Layer::Conv1d(Conv1d::new(32, 32, 1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
        Layer::Dense(Dense::new(448, 9)),
    ];
    let acc = train(&layers, 60);
    eprintln!("depthwise-separable vowels network, 60 epochs: test accuracy {acc}");
    assert!(acc >= 0.85, "test accuracy {acc}");
}
