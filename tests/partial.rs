//! Partial training (frozen layers, biases only, any per-layer plan) and per-layer
//! updates, held to full training:
//!
//! - a plan's gradients are, bit for bit, the full network's gradients of the
//!   parameters that train (packed in layer order): the backward pass runs the same
//!   operations down to the first layer that trains and stops there;
//! - a step of a planned network (Adam, SGD with momentum, plain SGD fused into the
//!   products; whole-network or per-layer update; parameters whole or with the frozen
//!   prefix apart, read-only) is, bit for bit, the full network's step with the frozen
//!   part's learning rate at zero: the optimizer over the trainable parameters alone,
//!   from the full gradients;
//! - what is refused is refused before anything is written.
//!
//! The full gradients themselves are checked against finite differences of f64
//! references in tests/layers.rs, so the trainable part's are too.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::nets::{NetCase, Opt, cnns};
use common::{fill, for_each_isa, rng};
use microprop::nn::{Net, Train, Trainer};
use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use microprop::{Error, Loss, Target};

/// Plans for a network of `depth` layers.
fn plans(depth: usize) -> Vec<(String, Vec<Train>, usize)> {
    let mut v = Vec::new();
    for k in 0..=depth {
        v.push((format!("freeze({k})"), Vec::new(), k));
    }
    v.push(("biases only".into(), vec![Train::BiasOnly; depth], 0));
    let cycle = [Train::Frozen, Train::All, Train::BiasOnly];
    v.push((
        "frozen, all, bias, …".into(),
        (0..depth).map(|l| cycle[l % 3]).collect(),
        0,
    ));
    v.push((
        "bias, frozen, all, … after freeze(2)".into(),
        (0..depth).map(|l| cycle[(l + 2) % 3]).collect(),
        2,
    ));
    v
}

fn planned<'a>(net: Net<'a>, plan: &'a [Train], k: usize) -> Net<'a> {
    let net = if plan.is_empty() {
        net
    } else {
        net.trainable(plan).unwrap()
    };
    net.freeze(k).unwrap()
}

/// Whether parameter `i` trains, and the packed order of those that do.
fn trains(net: &Net) -> Vec<bool> {
    let mut t = vec![false; net.param_len()];
    for l in 0..net.layers().len() {
        let (w, b) = net.param_ranges(l).unwrap();
        match net.train_of(l) {
            Train::All => t[w.start..b.end].fill(true),
            Train::BiasOnly => t[b].fill(true),
            Train::Frozen => {}
        }
    }
    t
}

fn pack(v: &[f32], mask: &[bool]) -> Vec<f32> {
    v.iter()
        .zip(mask)
        .filter(|&(_, &m)| m)
        .map(|(&x, _)| x)
        .collect()
}

fn unpack(into: &mut [f32], packed: &[f32], mask: &[bool]) {
    let mut it = packed.iter();
    for (x, &m) in into.iter_mut().zip(mask) {
        if m {
            *x = *it.next().unwrap();
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

struct Data {
    params: Vec<f32>,
    x: Vec<f32>,
    labels: Vec<u32>,
    n: usize,
}

fn data(net: &Net, seed: u64) -> Data {
    let mut r = rng(seed);
    let n = 3;
    let d = net.output().len() as u32;
    Data {
        params: fill(&mut r, net.param_len())
            .iter()
            .map(|v| v * 0.6)
            .collect(),
        x: fill(&mut r, n * net.input().len()),
        labels: (0..n as u32).map(|i| (i * 7 + 1) % d).collect(),
        n,
    }
}

const LOSS: Loss = Loss::SoftmaxCrossEntropy;

#[test]
fn a_plans_gradients_are_the_full_gradients_of_what_trains() {
    for NetCase {
        name,
        input,
        layers,
    } in cnns()
    {
        let full = Net::new(input, &layers).unwrap();
        let d = data(&full, 1);
        let target = Target::Classes(&d.labels);
        for (plan_name, plan, k) in plans(layers.len()) {
            let net = planned(full, &plan, k);
            let mask = trains(&net);
            assert_eq!(
                net.trainable_len(),
                mask.iter().filter(|&&m| m).count(),
                "{name} {plan_name}"
            );
            for_each_isa(|isa| {
                let mut ws = vec![0.0; full.workspace_len(d.n)];
                let mut g_full = vec![0.0; full.param_len()];
                let l_full = full
                    .loss_and_grad(&d.params, &d.x, target, LOSS, &mut g_full, &mut ws)
                    .unwrap();
                let mut ws = vec![f32::NAN; net.workspace_len(d.n)];
                let mut g = vec![f32::NAN; net.trainable_len()];
                let l = net
                    .loss_and_grad(&d.params, &d.x, target, LOSS, &mut g, &mut ws)
                    .unwrap();
                assert_eq!(l.to_bits(), l_full.to_bits(), "{name} {plan_name} {isa:?}");
                assert_eq!(
                    bits(&g),
                    bits(&pack(&g_full, &mask)),
                    "{name} {plan_name} {isa:?}"
                );
            });
        }
    }
}

/// The optimizers a step is checked with, each built on `state`.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Adam,
    Momentum,
}

fn opt(kind: Kind, state: &mut [f32]) -> Opt<'_> {
    match kind {
        Kind::Adam => Opt::Adam(Adam::new(AdamConfig::adamw(0.01, 0.1), state).unwrap()),
        Kind::Momentum => Opt::Sgd(
            Sgd::new(
                SgdConfig {
                    momentum: 0.9,
                    weight_decay: 0.01,
                    ..SgdConfig::new(0.05)
                },
                state,
            )
            .unwrap(),
        ),
    }
}

fn state_len(kind: Kind, params: usize) -> usize {
    match kind {
        Kind::Adam => Adam::state_len(params),
        Kind::Momentum => Sgd::state_len(params),
    }
}

#[test]
fn a_planned_step_is_the_full_step_with_the_frozen_part_at_learning_rate_zero() {
    const STEPS: usize = 3;
    for NetCase {
        name,
        input,
        layers,
    } in cnns()
    {
        let full = Net::new(input, &layers).unwrap();
        let d = data(&full, 2);
        let target = Target::Classes(&d.labels);
        for (plan_name, plan, k) in plans(layers.len()) {
            let net = planned(full, &plan, k);
            let mask = trains(&net);
            let t = net.trainable_len();
            // (Plain SGD is fused into the products, the reference's is not: see
            // the next test.)
            for kind in [Kind::Adam, Kind::Momentum] {
                for_each_isa(|isa| {
                    // The reference: the full gradients, the optimizer over the packed
                    // trainable parameters, scattered back.
                    let mut want = d.params.clone();
                    let mut st = vec![0.0; state_len(kind, t)];
                    let mut o = opt(kind, &mut st);
                    let mut ws = vec![0.0; full.workspace_len(d.n)];
                    let mut g = vec![0.0; full.param_len()];
                    for _ in 0..STEPS {
                        full.loss_and_grad(&want, &d.x, target, LOSS, &mut g, &mut ws)
                            .unwrap();
                        let mut p = pack(&want, &mask);
                        o.update(&mut p, &pack(&g, &mask)).unwrap();
                        unpack(&mut want, &p, &mask);
                    }
                    let want_state = o.state();
                    for per_layer in [false, true] {
                        for apart in [false, true] {
                            let net = net.per_layer(per_layer);
                            let what = format!(
                                "{name} {plan_name} {kind:?} per_layer {per_layer} \
                                 frozen apart {apart} {isa:?}"
                            );
                            let mut params = d.params.clone();
                            let mut st = vec![0.0; state_len(kind, t)];
                            let mut o = opt(kind, &mut st);
                            let mut ws = vec![f32::NAN; net.workspace_len(d.n)];
                            let mut g = vec![f32::NAN; net.grad_len()];
                            let f = net.frozen_len();
                            for _ in 0..STEPS {
                                if apart {
                                    let (head, tail) = params.split_at_mut(f);
                                    net.train_step_frozen(
                                        head, tail, &d.x, target, LOSS, &mut o, &mut g, &mut ws,
                                    )
                                } else {
                                    net.train_step(
                                        &mut params,
                                        &d.x,
                                        target,
                                        LOSS,
                                        &mut o,
                                        &mut g,
                                        &mut ws,
                                    )
                                }
                                .unwrap_or_else(|e| panic!("{what}: {e}"));
                            }
                            assert_eq!(bits(&params), bits(&want), "{what}");
                            assert_eq!(o.state(), want_state, "{what}");
                        }
                    }
                });
            }
        }
    }
}

#[test]
fn plain_sgd_of_a_plan_is_the_full_fused_step_where_it_trains() {
    // Fused SGD writes no gradient: the same products as the full network's fused
    // step, for the layers that train; the frozen parameters are untouched.
    for NetCase {
        name,
        input,
        layers,
    } in cnns()
    {
        let full = Net::new(input, &layers).unwrap();
        let d = data(&full, 3);
        let target = Target::Classes(&d.labels);
        for (plan_name, plan, k) in plans(layers.len()) {
            let net = planned(full, &plan, k);
            let mask = trains(&net);
            for_each_isa(|isa| {
                let mut want = d.params.clone();
                let mut sgd = Sgd::new(SgdConfig::new(0.05), &mut []).unwrap();
                let mut ws = vec![0.0; full.workspace_len(d.n)];
                full.train_step(&mut want, &d.x, target, LOSS, &mut sgd, &mut [], &mut ws)
                    .unwrap();
                for per_layer in [false, true] {
                    let net = net.per_layer(per_layer);
                    let f = net.frozen_len();
                    let mut got = d.params.clone();
                    let mut ws = vec![f32::NAN; net.workspace_len(d.n)];
                    let (head, tail) = got.split_at_mut(f);
                    net.train_step_frozen(
                        head,
                        tail,
                        &d.x,
                        target,
                        LOSS,
                        &mut sgd,
                        &mut [],
                        &mut ws,
                    )
                    .unwrap();
                    for (i, &m) in mask.iter().enumerate() {
                        let w = if m { want[i] } else { d.params[i] };
                        assert_eq!(
                            got[i].to_bits(),
                            w.to_bits(),
                            "{name} {plan_name} {isa:?} per_layer {per_layer} parameter {i} \
                             (trains: {m})"
                        );
                    }
                }
            });
        }
    }
}

#[test]
fn buffers_are_sized_for_what_trains() {
    let case = cnns().remove(0);
    let full = Net::new(case.input, &case.layers).unwrap();
    let depth = case.layers.len();
    let head = full.freeze(depth - 1).unwrap(); // the last dense layer alone
    let (w, b) = full.param_ranges(depth - 1).unwrap();
    assert_eq!(head.trainable_len(), b.end - w.start);
    assert_eq!(head.frozen_len(), w.start);
    assert_eq!(head.grad_len(), head.trainable_len());
    // The backward pass stops at the first layer that trains, and the layers below
    // the one before it run forward in two ping-pong buffers.
    assert!(head.workspace_len(8) < full.workspace_len(8));
    // Per-layer: the largest layer's trainable count.
    let per = full.per_layer(true);
    let largest = (0..depth)
        .map(|l| {
            let (w, b) = full.param_ranges(l).unwrap();
            b.end - w.start
        })
        .max()
        .unwrap();
    assert_eq!(per.grad_len(), largest);
    assert_eq!(per.trainable_len(), full.param_len());
    // Nothing trains: no gradient, no state, every parameter frozen.
    let none = full.freeze(depth).unwrap();
    assert_eq!(
        (none.trainable_len(), none.grad_len(), none.frozen_len()),
        (0, 0, full.param_len())
    );
}

#[test]
fn what_a_plan_refuses_writes_nothing() {
    let case = cnns().remove(1);
    let full = Net::new(case.input, &case.layers).unwrap();
    let net = full.freeze(3).unwrap().per_layer(true);
    let d = data(&full, 4);
    let target = Target::Classes(&d.labels);
    let t = net.trainable_len();
    let f = net.frozen_len();
    let mut ws = vec![0.0; net.workspace_len(d.n)];
    let run = |params: &mut [f32],
               state: &mut [f32],
               grads: &mut [f32],
               frozen: Option<usize>|
     -> Error {
        let before = (bits(params), bits(state));
        let mut adam = Adam::new(AdamConfig::adam(0.01), state).unwrap();
        let mut ws = ws.clone();
        let e = match frozen {
            Some(h) => {
                let (head, tail) = params.split_at_mut(h);
                net.train_step_frozen(head, tail, &d.x, target, LOSS, &mut adam, grads, &mut ws)
            }
            None => net.train_step(params, &d.x, target, LOSS, &mut adam, grads, &mut ws),
        }
        .unwrap_err();
        assert_eq!(adam.step_count(), 0, "{e}");
        assert_eq!(bits(params), before.0, "{e}");
        e
    };
    let mut params = d.params.clone();
    // Adam's state sized for every parameter, not for those that train.
    let e = run(
        &mut params,
        &mut vec![0.0; Adam::state_len(full.param_len())],
        &mut vec![0.0; net.grad_len()],
        None,
    );
    assert!(matches!(e, Error::StateMismatch { .. }), "{e}");
    // A gradient buffer sized for the whole-network update.
    let e = run(
        &mut params,
        &mut vec![0.0; Adam::state_len(t)],
        &mut vec![0.0; t + 1],
        None,
    );
    assert!(
        matches!(e, Error::ShapeMismatch { what, .. } if what.contains("grad_len")),
        "{e}"
    );
    // A frozen slice that is not the frozen layers' parameters.
    for h in [1, f - 1, f + 1] {
        let e = run(
            &mut params,
            &mut vec![0.0; Adam::state_len(t)],
            &mut vec![0.0; net.grad_len()],
            Some(h),
        );
        assert!(
            matches!(e, Error::ShapeMismatch { what, .. } if what.contains("frozen")),
            "{h}: {e}"
        );
    }
    // The frozen slice omitted: `params` must then be the rest, not every parameter.
    let mut ws2 = ws.clone();
    let mut st = vec![0.0; Adam::state_len(t)];
    let mut adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
    let e = net
        .train_step_frozen(
            &[],
            &mut params,
            &d.x,
            target,
            LOSS,
            &mut adam,
            &mut vec![0.0; net.grad_len()],
            &mut ws2,
        )
        .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    assert_eq!(bits(&params), bits(&d.params));
    // NaN in the frozen part's output reaches the loss: refused, nothing written.
    let mut bad = d.params.clone();
    bad[0] = f32::NAN;
    let e = run(
        &mut bad,
        &mut vec![0.0; Adam::state_len(t)],
        &mut vec![0.0; net.grad_len()],
        Some(f),
    );
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    let _ = &mut ws;
}

#[test]
fn a_trainer_takes_a_plan() {
    let case = cnns().remove(0);
    let full = Net::new(case.input, &case.layers).unwrap();
    let depth = case.layers.len();
    let net = full.freeze(depth - 2).unwrap().per_layer(true);
    let d = data(&full, 5);
    let target = Target::Classes(&d.labels);
    let t = net.trainable_len();
    let mut want = d.params.clone();
    {
        let mut st = vec![0.0; Adam::state_len(t)];
        let mut adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
        let (mut g, mut ws) = (vec![0.0; net.grad_len()], vec![0.0; net.workspace_len(d.n)]);
        for _ in 0..2 {
            net.train_step(&mut want, &d.x, target, LOSS, &mut adam, &mut g, &mut ws)
                .unwrap();
        }
    }
    let mut params = d.params.clone();
    let mut st = vec![0.0; Adam::state_len(t)];
    let adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
    let (mut g, mut ws) = (vec![0.0; net.grad_len()], vec![0.0; net.workspace_len(d.n)]);
    {
        // A gradient buffer of every parameter is refused up front.
        let mut big = vec![0.0; full.param_len()];
        let st2 = &mut vec![0.0; Adam::state_len(t)];
        let a2 = Adam::new(AdamConfig::adam(0.01), st2).unwrap();
        let mut p2 = d.params.clone();
        assert!(Trainer::new(net, &mut p2, &mut big, a2, &mut ws, LOSS).is_err());
    }
    let mut tr = Trainer::new(net, &mut params, &mut g, adam, &mut ws, LOSS).unwrap();
    for _ in 0..2 {
        tr.step(&d.x, target).unwrap();
    }
    assert_eq!(bits(tr.params()), bits(&want));
}

#[test]
fn a_trainer_with_the_frozen_parameters_apart_is_the_trainer_on_the_whole() {
    use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation};
    for case in cnns() {
        let full = Net::new(case.input, &case.layers).unwrap();
        let net = full.freeze(2).unwrap().per_layer(true);
        let d = data(&full, 6);
        let (d0, dout) = (net.input().len(), net.output().len());
        let len = 7;
        let mut r = rng(7);
        let xs = fill(&mut r, len * d0);
        let labels: Vec<u32> = (0..len as u32).map(|i| i % dout as u32).collect();
        let set = Dataset {
            x: Features::F32 {
                data: &xs,
                stride: d0,
            },
            y: Labels::Classes(&labels),
            len,
        };
        let mut order = vec![0u32; len];
        identity_permutation(&mut order).unwrap();
        let t = net.trainable_len();
        let f = net.frozen_len();
        let run = |apart: bool| {
            let mut params = d.params.clone();
            let mut st = vec![0.0; Adam::state_len(t)];
            let adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
            let mut g = vec![0.0; net.grad_len()];
            let mut ws = vec![f32::NAN; net.workspace_len(3)];
            let (head, tail) = params.split_at_mut(f);
            let mut tr = if apart {
                Trainer::new_frozen(net, head, tail, &mut g, adam, &mut ws, LOSS).unwrap()
            } else {
                Trainer::new(net, &mut params, &mut g, adam, &mut ws, LOSS).unwrap()
            };
            let (mut xb, mut lb) = (vec![0.0; 3 * d0], vec![0u32; 3]);
            let mut batch = Batch {
                x: &mut xb,
                y: &mut [],
                labels: &mut lb,
            };
            let l1 = tr.step(&d.x, Target::Classes(&d.labels)).unwrap();
            let l2 = tr.epoch(&set, &order, &mut batch).unwrap();
            let mut out = vec![0.0; 3 * dout];
            let ev = tr
                .evaluate(&set, &order, &mut batch, &mut out, None)
                .unwrap();
            let mut one = vec![0.0; dout];
            let class = tr.predict(&xs[..d0], &mut one).unwrap();
            let p = bits(tr.params());
            let p = if apart { p } else { p[f..].to_vec() };
            (
                l1.to_bits(),
                l2.to_bits(),
                ev.loss.to_bits(),
                ev.correct,
                class,
                bits(&one),
                p,
            )
        };
        assert_eq!(run(true), run(false), "{}", case.name);
        // The frozen slice must be the frozen layers' parameters.
        let mut params = d.params.clone();
        let mut st = vec![0.0; Adam::state_len(t)];
        let adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
        let (mut g, mut ws) = (vec![0.0; net.grad_len()], vec![0.0; net.workspace_len(3)]);
        let (head, tail) = params.split_at_mut(f + 1);
        assert!(Trainer::new_frozen(net, head, tail, &mut g, adam, &mut ws, LOSS).is_err());
    }
}

#[test]
fn a_plan_that_does_not_fit_the_network_is_refused() {
    let case = cnns().remove(1);
    let net = Net::new(case.input, &case.layers).unwrap();
    let depth = case.layers.len();
    let short = vec![Train::All; depth - 1];
    let long = vec![Train::Frozen; depth + 1];
    for plan in [&short, &long] {
        let e = net.trainable(plan).unwrap_err();
        assert!(
            matches!(e, Error::ShapeMismatch { what, expected: (1, d), .. } if what.contains("one Train per layer") && d == depth),
            "{e}"
        );
    }
    let e = net.freeze(depth + 1).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { what } if what.contains("past the last layer")),
        "{e}"
    );
    assert!(
        net.freeze(depth).is_ok(),
        "every layer frozen: nothing trains"
    );
}

#[test]
fn a_training_workspace_serves_inference_with_frozen_layers() {
    // Retraining the last layer of a network whose widest output is frozen: the step
    // keeps less than inference's two buffers of that output.
    use microprop::Activation::Relu;
    use microprop::layer::{Dense, Layer, Shape};
    let layers = [
        Layer::Dense(Dense::new(10, 1000).act(Relu)),
        Layer::Dense(Dense::new(1000, 2)),
    ];
    let net = Net::new(Shape::flat(10), &layers)
        .unwrap()
        .freeze(1)
        .unwrap();
    for n in [1, 3, 32] {
        assert!(net.workspace_len(n) >= net.forward_workspace_len(n), "{n}");
        assert!(net.workspace_len_parts(n, 3) >= net.forward_workspace_len_parts(n, 3));
    }
    let mut params = vec![0.01f32; net.param_len()];
    let mut ws = vec![0.0; net.workspace_len(1)];
    let mut st = vec![0.0; Adam::state_len(net.trainable_len())];
    let adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
    let mut g = vec![0.0; net.grad_len()];
    let mut t = Trainer::new(net, &mut params, &mut g, adam, &mut ws, LOSS).unwrap();
    t.step(&[0.5; 10], Target::Classes(&[1])).unwrap();
    let mut out = [0.0; 2];
    t.predict(&[0.5; 10], &mut out).unwrap();
}

#[test]
fn an_overflow_in_the_first_per_layer_update_counts_no_step() {
    // The first layer's weight gradient overflows (huge inputs, finite deltas): nothing
    // is updated, and the optimizer counts no step.
    use microprop::layer::{Dense, Layer, Shape};
    let layers = [
        Layer::Dense(Dense::new(2, 2)),
        Layer::Dense(Dense::new(2, 1)),
    ];
    let net = Net::new(Shape::flat(2), &layers).unwrap().per_layer(true);
    let mut params = vec![1.0f32; net.param_len()];
    params[..4].fill(1e-30);
    let before = bits(&params);
    let mut st = vec![0.0; Adam::state_len(net.trainable_len())];
    let mut adam = Adam::new(AdamConfig::adam(0.01), &mut st).unwrap();
    let mut g = vec![0.0; net.grad_len()];
    let mut ws = vec![0.0; net.workspace_len(1)];
    let e = net
        .train_step(
            &mut params,
            &[1e30, 1e30],
            Target::Values(&[-1e15]),
            Loss::MeanSquared,
            &mut adam,
            &mut g,
            &mut ws,
        )
        .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    assert_eq!(bits(&params), before);
    assert_eq!(adam.step_count(), 0);
}
