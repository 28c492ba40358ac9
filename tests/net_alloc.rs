//! A counting global allocator proves that a convolutional network of every layer kind
//! (1-D and 2-D convolutions through im2col, depthwise and pointwise ones, max, average
//! and global average pooling, flatten, dense) never allocates: `Net::forward`,
//! `loss_and_grad`, `train_step` (plain SGD fused into the updates, and Adam), and the
//! `Trainer`'s `step`, `epoch`, `evaluate` and `predict`, on success and on error, on
//! every instruction set; and the same networks under training plans (frozen layers,
//! biases only, per-layer updates, the frozen parameters apart). Counts are per thread.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::alloc::count_allocs;
use common::nets::cnns;
use common::{fill, for_each_isa_once_under_miri as for_each_isa, rng};
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::nn::{Net, Train, Trainer};
use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use microprop::{Loss, Target};

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

/// (Adam's square root is libm's soft-float one under Miri: slow; its kernel runs there
/// in tests/optim.rs.)
const ADAM_OK: bool = !cfg!(miri);

#[test]
fn every_layer_kind_trains_and_infers_without_allocating() {
    // Detection reads MICROPROP_ISA once (a String); do it before counting.
    let _ = microprop::simd::Isa::detected();
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let (d0, d) = (net.input().len(), net.output().len());
        let (b, len) = (3, 7);
        let mut r = rng(1);
        let mut params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
        let mut grads = vec![0.0; p];
        let mut ws = vec![0.0; net.workspace_len(b)];
        let mut fws = vec![0.0; net.forward_workspace_len(b)];
        let x = fill(&mut r, len * d0);
        let y = fill(&mut r, len * d);
        let labels: Vec<u32> = (0..len as u32).map(|i| i % d as u32).collect();
        let mut out = vec![0.0; b * d];
        let mut adam_state = vec![0.0; Adam::state_len(p)];
        let mut order = vec![0u32; len];
        identity_permutation(&mut order).unwrap();
        let (mut xb, mut lb) = (vec![0.0; b * d0], vec![0u32; b]);
        let mut conf = vec![0u32; d * d];
        let data = Dataset {
            x: Features::F32 {
                data: &x,
                stride: d0,
            },
            y: Labels::Classes(&labels),
            len,
        };
        let xs = &x[..b * d0];
        for_each_isa(|isa| {
            let count = count_allocs(|| {
                let mut sgd = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
                let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut adam_state).unwrap();
                net.forward(&params, xs, &mut out, &mut fws).unwrap();
                for (t, loss) in [
                    (Target::Classes(&labels[..b]), Loss::SoftmaxCrossEntropy),
                    (Target::Values(&y[..b * d]), Loss::MeanSquared),
                ] {
                    net.loss_and_grad(&params, xs, t, loss, &mut grads, &mut ws)
                        .unwrap();
                    net.train_step(&mut params, xs, t, loss, &mut sgd, &mut grads, &mut ws)
                        .unwrap();
                    if ADAM_OK {
                        net.train_step(&mut params, xs, t, loss, &mut adam, &mut grads, &mut ws)
                            .unwrap();
                    }
                }
                // Error paths too: they carry only static strings and numbers.
                let bad = Target::Classes(&[u32::MAX; 3]);
                let loss = Loss::SoftmaxCrossEntropy;
                assert!(
                    net.loss_and_grad(&params, xs, bad, loss, &mut grads, &mut ws)
                        .is_err()
                );
                assert!(net.forward(&params, &x[1..], &mut out, &mut fws).is_err());
                assert!(net.check_params(&params[1..]).is_err());
            });
            assert_eq!(count, 0, "{} {isa:?}: the network allocated", case.name);

            // The Trainer: built, stepped, an epoch, an evaluation and a prediction.
            let count = count_allocs(|| {
                let mut shuffle_rng = microprop::SplitMix64::new(5);
                let sgd = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
                let mut t = Trainer::new(
                    net,
                    &mut params,
                    &mut [],
                    sgd,
                    &mut ws,
                    Loss::SoftmaxCrossEntropy,
                )
                .unwrap();
                for _ in 0..2 {
                    t.step(xs, Target::Classes(&labels[..b])).unwrap();
                    shuffle(&mut order, &mut shuffle_rng);
                    let mut batch = Batch {
                        x: &mut xb,
                        y: &mut [],
                        labels: &mut lb,
                    };
                    t.epoch(&data, &order, &mut batch).unwrap();
                    t.evaluate(&data, &order, &mut batch, &mut out, Some(&mut conf))
                        .unwrap();
                }
                t.predict(&x[..d0], &mut out[..d]).unwrap();
                t.forward(xs, &mut out).unwrap();
                t.optimizer_mut().set_lr(f32::NAN);
                assert!(t.step(xs, Target::Classes(&labels[..b])).is_err());
                assert!(t.predict(&x[..d0 + 1], &mut out[..d]).is_err());
                let mut batch = Batch {
                    x: &mut xb,
                    y: &mut [],
                    labels: &mut lb,
                };
                assert!(t.epoch(&data, &[len as u32], &mut batch).is_err());
            });
            assert_eq!(count, 0, "{} {isa:?}: the trainer allocated", case.name);
            if ADAM_OK {
                let count = count_allocs(|| {
                    let adam = Adam::new(AdamConfig::adam(1e-3), &mut adam_state).unwrap();
                    let mut t = Trainer::new(
                        net,
                        &mut params,
                        &mut grads,
                        adam,
                        &mut ws,
                        Loss::MeanSquared,
                    )
                    .unwrap();
                    t.step(xs, Target::Values(&y[..b * d])).unwrap();
                });
                assert_eq!(
                    count, 0,
                    "{} {isa:?}: the trainer with Adam allocated",
                    case.name
                );
            }
        });
        assert!(params.iter().all(|v| v.is_finite()), "{}", case.name);
    }
    // The counter works: a Vec allocates.
    assert_eq!(
        count_allocs(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}

#[test]
fn training_plans_train_without_allocating() {
    let _ = microprop::simd::Isa::detected();
    for case in cnns() {
        let depth = case.layers.len();
        let cycle = [Train::Frozen, Train::BiasOnly, Train::All];
        let mixed: Vec<Train> = (0..depth).map(|l| cycle[l % 3]).collect();
        let base = Net::new(case.input, &case.layers).unwrap();
        for (name, net) in [
            ("freeze(1)", base.freeze(1).unwrap()),
            (
                "freeze(1), per-layer",
                base.freeze(1).unwrap().per_layer(true),
            ),
            (
                "frozen, bias, all, …, per-layer",
                base.trainable(&mixed).unwrap().per_layer(true),
            ),
        ] {
            let (p, f) = (net.param_len(), net.frozen_len());
            let (d0, d, b) = (net.input().len(), net.output().len(), 3);
            let mut r = rng(2);
            let mut params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
            let frozen = params[..f].to_vec();
            let mut grads = vec![0.0; net.grad_len()];
            let mut ws = vec![0.0; net.workspace_len(b)];
            let mut adam_state = vec![0.0; Adam::state_len(net.trainable_len())];
            // Buffers sized for the network without its plan (every layer trains).
            let mut whole_grads = vec![0.0; base.grad_len()];
            let mut whole_state = vec![0.0; Adam::state_len(base.trainable_len())];
            assert_ne!(whole_grads.len(), grads.len(), "{name}");
            assert_ne!(whole_state.len(), adam_state.len(), "{name}");
            let x = fill(&mut r, b * d0);
            let labels: Vec<u32> = (0..b as u32).map(|i| i % d as u32).collect();
            let (t, loss) = (Target::Classes(&labels), Loss::SoftmaxCrossEntropy);
            for_each_isa(|isa| {
                let count = count_allocs(|| {
                    let mut sgd = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
                    net.train_step(&mut params, &x, t, loss, &mut sgd, &mut grads, &mut ws)
                        .unwrap();
                    if ADAM_OK {
                        let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut adam_state).unwrap();
                        net.train_step(&mut params, &x, t, loss, &mut adam, &mut grads, &mut ws)
                            .unwrap();
                        let tail = &mut params[f..];
                        net.train_step_frozen(
                            &frozen, tail, &x, t, loss, &mut adam, &mut grads, &mut ws,
                        )
                        .unwrap();
                        // Errors: a gradient buffer or Adam's state sized for another plan.
                        assert!(
                            net.train_step(
                                &mut params,
                                &x,
                                t,
                                loss,
                                &mut adam,
                                &mut whole_grads,
                                &mut ws
                            )
                            .is_err()
                        );
                        let mut whole =
                            Adam::new(AdamConfig::adam(1e-3), &mut whole_state).unwrap();
                        assert!(
                            net.train_step(
                                &mut params,
                                &x,
                                t,
                                loss,
                                &mut whole,
                                &mut grads,
                                &mut ws
                            )
                            .is_err()
                        );
                        // A Trainer with Adam over the frozen parameters apart.
                        let mut tr = Trainer::new_frozen(
                            net,
                            &frozen,
                            &mut params[f..],
                            &mut grads,
                            adam,
                            &mut ws,
                            loss,
                        )
                        .unwrap();
                        tr.step(&x, t).unwrap();
                    }
                    let sgd = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
                    let mut tr = Trainer::new_frozen(
                        net,
                        &frozen,
                        &mut params[f..],
                        &mut [],
                        sgd,
                        &mut ws,
                        loss,
                    )
                    .unwrap();
                    tr.step(&x, t).unwrap();
                });
                assert_eq!(
                    count, 0,
                    "{} {name} {isa:?}: a planned step allocated",
                    case.name
                );
            });
            assert!(params.iter().all(|v| v.is_finite()), "{} {name}", case.name);
        }
    }
    // The counter works: a Vec allocates.
    assert_eq!(
        count_allocs(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}
