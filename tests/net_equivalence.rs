//! `Net` and `Trainer` against the paths they must equal bit for bit: a `Net` of dense
//! layers is the `Mlp` of the same sizes (forward, gradients, SGD and Adam steps, seeded
//! initialisation); `Trainer::step` is `Net::train_step`, `Trainer::epoch` the manual
//! loop of gathers and steps, a `Trainer` without a gradient buffer (plain SGD) the one
//! with; results do not depend on what the workspace held, nor on the number of parts
//! of an executor. Then a one-output binary classifier's evaluation by its threshold.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::nets::{Opt, cnns};
use common::{fill, for_each_isa_once_under_miri as for_each_isa, rng};
use microprop::Activation::{self, Identity, Relu, Sigmoid, Tanh};
use microprop::data::{Batch, Dataset, Features, Labels, batches, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Dense, Layer, Shape};
use microprop::metrics::{LOGIT_THRESHOLD, PROBABILITY_THRESHOLD};
use microprop::nn::{Mlp, Net, Trainer};
use microprop::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use microprop::par::{Executor, Serial};
use microprop::simd::Isa;
use microprop::{Error, Loss, Target};
use std::sync::atomic::{AtomicUsize, Ordering};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Adam under Miri is the slow soft-float square root: its cases run natively only
/// (Adam's kernel runs under Miri in tests/optim.rs).
const ADAM_OK: bool = !cfg!(miri);

/// Sizes and activations of the dense networks compared with an `Mlp`.
fn dense_cases() -> Vec<(Vec<usize>, Vec<Activation>)> {
    if cfg!(miri) {
        vec![(vec![3, 5, 2], vec![Tanh, Identity])]
    } else {
        vec![
            (vec![5, 7, 4, 3], vec![Relu, Tanh, Identity]),
            (vec![9, 33, 1], vec![Sigmoid, Sigmoid]),
            (vec![2, 1], vec![Identity]),
            // Within the tiny path of `Mlp::train_step` on the scalar instruction set.
            (vec![2, 3, 1], vec![Sigmoid, Identity]),
            (vec![8, 8, 8, 8], vec![Tanh, Sigmoid, Relu]),
            // Just past it (a layer of 9).
            (vec![2, 9, 1], vec![Sigmoid, Sigmoid]),
            (vec![40, 17, 65, 10], vec![Tanh, Relu, Identity]),
        ]
    }
}

fn dense_layers(sizes: &[usize], acts: &[Activation], bias: bool) -> Vec<Layer> {
    sizes
        .windows(2)
        .zip(acts)
        .map(|(s, &a)| Layer::Dense(Dense::new(s[0], s[1]).act(a).bias(bias)))
        .collect()
}

#[test]
fn a_net_of_dense_layers_is_the_mlp_bit_for_bit() {
    for (sizes, acts) in dense_cases() {
        for bias in [true, false] {
            let mlp = Mlp::new(&sizes, &acts, bias).unwrap();
            let layers = dense_layers(&sizes, &acts, bias);
            let net = Net::new(Shape::flat(sizes[0]), &layers).unwrap();
            let p = Mlp::param_len(&sizes, bias);
            assert_eq!(net.param_len(), p);
            let n = 6;
            let d = *sizes.last().unwrap();
            assert_eq!(net.workspace_len(n), Mlp::workspace_len(&sizes, n));
            assert_eq!(
                net.forward_workspace_len(n),
                Mlp::forward_workspace_len(&sizes, n)
            );
            let what = format!("{sizes:?} {acts:?} bias {bias}");
            // Seeded initialisation: the same draws in the same places.
            for init in [Init::XavierUniform, Init::HeNormal] {
                if cfg!(miri) && init == Init::HeNormal {
                    continue; // (libm's logarithm and square root: slow under Miri)
                }
                let (mut a, mut b) = (vec![f32::NAN; p], vec![0.5; p]);
                mlp.init(&mut a, init, &mut rng(3)).unwrap();
                net.init(&mut b, init, &mut rng(3)).unwrap();
                assert_eq!(bits(&a), bits(&b), "{what} {init:?}");
            }
            let mut r = rng(4);
            let params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
            let x = fill(&mut r, n * sizes[0]);
            let y = fill(&mut r, n * d);
            let labels: Vec<u32> = (0..n as u32).map(|i| i % d as u32).collect();
            for_each_isa(|isa| {
                let what = format!("{what} {isa:?}");
                // Forward.
                let (mut oa, mut ob) = (vec![0.0; n * d], vec![f32::NAN; n * d]);
                let mut ws = vec![0.0; net.workspace_len(n)];
                mlp.forward(&params, &x, &mut oa, &mut ws).unwrap();
                net.forward(&params, &x, &mut ob, &mut ws).unwrap();
                assert_eq!(bits(&oa), bits(&ob), "{what}: forward");
                // Gradients of every loss.
                for loss in Loss::ALL {
                    let t = match loss {
                        Loss::SoftmaxCrossEntropy if d > 1 => Target::Classes(&labels),
                        _ => Target::Values(&y),
                    };
                    let (mut ga, mut gb) = (vec![0.0; p], vec![f32::NAN; p]);
                    let la = mlp.loss_and_grad_with(&params, &x, t, *loss, &mut ga, &mut ws);
                    let lb = net.loss_and_grad(&params, &x, t, *loss, &mut gb, &mut ws);
                    assert_eq!(
                        la.map(f32::to_bits),
                        lb.map(f32::to_bits),
                        "{what} {loss:?}"
                    );
                    assert_eq!(bits(&ga), bits(&gb), "{what} {loss:?}: grads");
                }
                // Steps: plain SGD (fused), SGD with momentum, Adam.
                for kind in 0..3 {
                    if kind == 2 && !ADAM_OK {
                        continue;
                    }
                    let (mut sa, mut sb) = (vec![0.0; 2 * p], vec![0.0; 2 * p]);
                    let (mut opt_a, mut opt_b) = (opt(kind, p, &mut sa), opt(kind, p, &mut sb));
                    let (mut pa, mut pb) = (params.clone(), params.clone());
                    let (mut ga, mut gb) = (vec![0.0; p], vec![0.0; p]);
                    for step in 0..3 {
                        let t = Target::Values(&y);
                        let la = mlp.train_step_with(
                            &mut pa,
                            &x,
                            t,
                            Loss::MeanSquared,
                            &mut opt_a,
                            &mut ga,
                            &mut ws,
                        );
                        let lb = net.train_step(
                            &mut pb,
                            &x,
                            t,
                            Loss::MeanSquared,
                            &mut opt_b,
                            &mut gb,
                            &mut ws,
                        );
                        let what = format!("{what} optimizer {kind} step {step}");
                        assert_eq!(la.map(f32::to_bits), lb.map(f32::to_bits), "{what}");
                        assert_eq!(bits(&pa), bits(&pb), "{what}: params");
                        assert_eq!(opt_a.state(), opt_b.state(), "{what}: state");
                    }
                }
                // The lecture's step (sum of squares, fused SGD) is the same as a Net's
                // step with Loss::SumSquared and plain SGD.
                let (mut pa, mut pb) = (params.clone(), params.clone());
                let la = mlp.train_step(&mut pa, &x, &y, 0.01, &mut ws).unwrap();
                let mut sgd = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
                let t = Target::Values(&y);
                let lb = net
                    .train_step(&mut pb, &x, t, Loss::SumSquared, &mut sgd, &mut [], &mut ws)
                    .unwrap();
                assert_eq!(
                    (la.to_bits(), bits(&pa)),
                    (lb.to_bits(), bits(&pb)),
                    "{what}"
                );
            });
        }
    }
}

/// The optimizer of kind `kind` (plain SGD, SGD with momentum and Nesterov, AdamW).
fn opt(kind: usize, p: usize, state: &mut [f32]) -> Opt<'_> {
    match kind {
        0 => Opt::Sgd(Sgd::new(SgdConfig::new(0.05), &mut []).unwrap()),
        1 => Opt::Sgd(
            Sgd::new(
                SgdConfig {
                    momentum: 0.8,
                    nesterov: true,
                    weight_decay: 1e-3,
                    ..SgdConfig::new(0.05)
                },
                &mut state[..Sgd::state_len(p)],
            )
            .unwrap(),
        ),
        _ => Opt::Adam(
            Adam::new(
                AdamConfig::adamw(0.01, 1e-2),
                &mut state[..Adam::state_len(p)],
            )
            .unwrap(),
        ),
    }
}

/// Batch size, data set rows, and the steps of the comparisons.
const B: usize = 3;
const ROWS: usize = if cfg!(miri) { 5 } else { 11 };
const STEPS: usize = if cfg!(miri) { 2 } else { 4 };

struct Set {
    x: Vec<f32>,
    y: Vec<f32>,
    labels: Vec<u32>,
    d0: usize,
    d: usize,
}

impl Set {
    fn new(net: &Net<'_>, seed: u64) -> Self {
        let mut r = rng(seed);
        let (d0, d) = (net.input().len(), net.output().len());
        Set {
            x: fill(&mut r, ROWS * d0),
            y: fill(&mut r, ROWS * d),
            labels: (0..ROWS as u32).map(|i| (i * 5 + 2) % d as u32).collect(),
            d0,
            d,
        }
    }
    fn data(&self, classes: bool) -> Dataset<'_> {
        Dataset {
            x: Features::F32 {
                data: &self.x,
                stride: self.d0,
            },
            y: if classes {
                Labels::Classes(&self.labels)
            } else {
                Labels::Values {
                    data: &self.y,
                    stride: self.d,
                }
            },
            len: ROWS,
        }
    }
}

#[test]
fn trainer_step_is_net_train_step_and_needs_no_gradients_for_plain_sgd() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let set = Set::new(&net, 10);
        let params: Vec<f32> = fill(&mut rng(11), p).iter().map(|v| v * 0.5).collect();
        let x = &set.x[..B * set.d0];
        let y = &set.y[..B * set.d];
        let labels = &set.labels[..B];
        for_each_isa(|isa| {
            for kind in 0..3 {
                if kind == 2 && !ADAM_OK {
                    continue;
                }
                let (mut sa, mut sb) = (vec![0.0; 2 * p], vec![0.0; 2 * p]);
                let (mut pa, mut pb) = (params.clone(), params.clone());
                let (mut ga, mut gb) = (vec![0.0; p], vec![0.0; p]);
                let mut wa = vec![0.0; net.workspace_len(B)];
                let mut wb = vec![f32::NAN; net.workspace_len(B)];
                let mut oa = opt(kind, p, &mut sa);
                let ob = opt(kind, p, &mut sb);
                let mut t =
                    Trainer::new(net, &mut pb, &mut gb, ob, &mut wb, Loss::MeanSquared).unwrap();
                for step in 0..STEPS {
                    let (target, loss) = if step % 2 == 0 {
                        (Target::Values(y), Loss::MeanSquared)
                    } else {
                        (Target::Classes(labels), Loss::SoftmaxCrossEntropy)
                    };
                    t.set_loss(loss);
                    let la = net.train_step(&mut pa, x, target, loss, &mut oa, &mut ga, &mut wa);
                    let lb = t.step(x, target);
                    let what = format!("{} {isa:?} optimizer {kind} step {step}", case.name);
                    assert_eq!(la.map(f32::to_bits), lb.map(f32::to_bits), "{what}");
                    assert_eq!(bits(&pa), bits(t.params()), "{what}: params");
                    assert_eq!(oa.state(), t.optimizer().state(), "{what}: state");
                }
                let ob = t.into_optimizer();
                assert_eq!(oa.state(), ob.state());
                assert_eq!(bits(&ga), bits(&gb), "{} {isa:?}: the gradients", case.name);
            }
            // Plain SGD with no gradient buffer: the same steps, bit for bit.
            let (mut pa, mut pb) = (params.clone(), params.clone());
            let mut ga = vec![f32::NAN; p];
            let (mut wa, mut wb) = (
                vec![0.0; net.workspace_len(B)],
                vec![0.0; net.workspace_len(B)],
            );
            let sgd = || Sgd::new(SgdConfig::new(0.05), &mut []).unwrap();
            let mut ta =
                Trainer::new(net, &mut pa, &mut ga, sgd(), &mut wa, Loss::MeanSquared).unwrap();
            let mut tb =
                Trainer::new(net, &mut pb, &mut [], sgd(), &mut wb, Loss::MeanSquared).unwrap();
            for _ in 0..STEPS {
                let la = ta.step(x, Target::Values(y)).unwrap();
                let lb = tb.step(x, Target::Values(y)).unwrap();
                assert_eq!(la.to_bits(), lb.to_bits());
                assert_eq!(
                    bits(ta.params()),
                    bits(tb.params()),
                    "{} {isa:?}",
                    case.name
                );
            }
            assert!(
                ga.iter().all(|g| g.is_nan()),
                "fused SGD writes no gradient"
            );
        });
    }
}

#[test]
fn trainer_epoch_is_the_manual_loop_bit_for_bit() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let set = Set::new(&net, 12);
        let (d0, d) = (set.d0, set.d);
        for (classes, loss) in [
            (true, Loss::SoftmaxCrossEntropy),
            (false, Loss::SumSquared),
            (false, Loss::BinaryCrossEntropy),
        ] {
            let ds = set.data(classes);
            for kind in 0..3 {
                if kind == 2 && !ADAM_OK {
                    continue;
                }
                let mut r = rng(13);
                let params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
                let mut manual = params.clone();
                let mut trained = params.clone();
                let (mut sa, mut sb) = (vec![0.0; 2 * p], vec![0.0; 2 * p]);
                let mut om = opt(kind, p, &mut sa);
                let ot = opt(kind, p, &mut sb);
                let (mut ga, mut gb) = (vec![0.0; p], vec![0.0; p]);
                let (mut wa, mut wb) = (
                    vec![0.0; net.workspace_len(B)],
                    vec![0.0; net.workspace_len(B)],
                );
                let mut t = Trainer::new(net, &mut trained, &mut gb, ot, &mut wb, loss).unwrap();
                let mut order = vec![0u32; ROWS];
                identity_permutation(&mut order).unwrap();
                let (mut xa, mut ya, mut la) = (vec![0.0; B * d0], vec![0.0; B * d], vec![0; B]);
                let (mut xb, mut yb, mut lb) = (vec![0.0; B * d0], vec![0.0; B * d], vec![0; B]);
                for epoch in 0..2 {
                    shuffle(&mut order, &mut r);
                    let mut batch = Batch {
                        x: &mut xb,
                        y: &mut yb,
                        labels: &mut lb,
                    };
                    let mean = t.epoch(&ds, &order, &mut batch).unwrap();
                    let mut total = 0.0f64;
                    let mut last = 0;
                    for rows in batches(ROWS, B).unwrap() {
                        let rows = &order[rows];
                        last = rows.len();
                        let mut batch = Batch {
                            x: &mut xa,
                            y: &mut ya,
                            labels: &mut la,
                        };
                        let (x, target) = ds.gather(rows, d0, d, &mut batch).unwrap();
                        let l = net
                            .train_step(&mut manual, x, target, loss, &mut om, &mut ga, &mut wa)
                            .unwrap();
                        total += if loss == Loss::SumSquared {
                            f64::from(l)
                        } else {
                            f64::from(l) * rows.len() as f64
                        };
                    }
                    assert_eq!(last, ROWS % B, "a short last batch");
                    let what = format!("{} {loss:?} optimizer {kind} epoch {epoch}", case.name);
                    assert_eq!(bits(&manual), bits(t.params()), "{what}: params");
                    assert_eq!(om.state(), t.optimizer().state(), "{what}: state");
                    assert_eq!(
                        mean.to_bits(),
                        ((total / ROWS as f64) as f32).to_bits(),
                        "{what}"
                    );
                }
                // evaluate: the forward passes, the loss and the accuracy per batch.
                let mut out = vec![0.0; B * d];
                let mut batch = Batch {
                    x: &mut xb,
                    y: &mut yb,
                    labels: &mut lb,
                };
                let ev = t.evaluate(&ds, &order, &mut batch, &mut out, None).unwrap();
                let mut fws = vec![0.0; net.forward_workspace_len(B)];
                let (mut total, mut correct) = (0.0f64, 0);
                for rows in batches(ROWS, B).unwrap() {
                    let rows = &order[rows];
                    let mut batch = Batch {
                        x: &mut xa,
                        y: &mut ya,
                        labels: &mut la,
                    };
                    let (x, target) = ds.gather(rows, d0, d, &mut batch).unwrap();
                    let o = &mut out[..rows.len() * d];
                    net.forward(&manual, x, o, &mut fws).unwrap();
                    let l = loss.loss(o, d, target).unwrap();
                    total += if loss == Loss::SumSquared {
                        f64::from(l)
                    } else {
                        f64::from(l) * rows.len() as f64
                    };
                    correct += match target {
                        Target::Classes(c) => microprop::metrics::accuracy(o, d, c).unwrap(),
                        Target::Values(v) => {
                            microprop::metrics::accuracy_values(o, d, v, LOGIT_THRESHOLD).unwrap()
                        }
                        _ => unreachable!(),
                    };
                }
                assert_eq!(ev.count, ROWS);
                assert_eq!(ev.correct, correct, "{} {loss:?}", case.name);
                assert_eq!(ev.loss.to_bits(), ((total / ROWS as f64) as f32).to_bits());
            }
        }
    }
}

/// Training steps, gradients and a forward pass on `net` (a workspace with room for
/// `room` parts, filled with `fill` on entry): every bit of the results.
fn run(net: &Net<'_>, room: usize, fill_with: f32) -> Vec<u32> {
    let p = net.param_len();
    let mut r = rng(20);
    let mut params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
    let n = 4;
    let (d0, d) = (net.input().len(), net.output().len());
    let x = fill(&mut r, n * d0);
    let y = fill(&mut r, n * d);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % d as u32).collect();
    let mut ws = vec![fill_with; net.workspace_len_parts(n, room)];
    let mut grads = vec![fill_with; p];
    let mut all = Vec::new();
    let mut state = vec![0.0; Adam::state_len(p)];
    for kind in 0..3 {
        if kind == 2 && !ADAM_OK {
            continue;
        }
        let mut o = opt(kind, p, &mut state);
        for step in 0..2 {
            let (t, loss) = if step == 0 {
                (Target::Classes(&labels), Loss::SoftmaxCrossEntropy)
            } else {
                (Target::Values(&y), Loss::MeanSquared)
            };
            let l = net.train_step(&mut params, &x, t, loss, &mut o, &mut grads, &mut ws);
            all.push(l.unwrap().to_bits());
        }
        all.extend(o.state().0);
    }
    let l = net.loss_and_grad(
        &params,
        &x,
        Target::Values(&y),
        Loss::BinaryCrossEntropy,
        &mut grads,
        &mut ws,
    );
    all.push(l.unwrap().to_bits());
    let mut out = vec![fill_with; n * d];
    let mut fws = vec![fill_with; net.forward_workspace_len_parts(n, room)];
    net.forward(&params, &x, &mut out, &mut fws).unwrap();
    all.extend(bits(&params));
    all.extend(bits(&grads));
    all.extend(bits(&out));
    all
}

/// An executor that counts the parts it ran (so a test knows products were split).
struct Counted<'e> {
    inner: &'e dyn Executor,
    parts_run: AtomicUsize,
}

// SAFETY: forwards `run` to `inner`, an executor that keeps the contract.
unsafe impl Executor for Counted<'_> {
    fn parts(&self) -> usize {
        self.inner.parts()
    }
    fn min_work(&self) -> usize {
        self.inner.min_work()
    }
    fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        self.parts_run.fetch_add(parts, Ordering::Relaxed);
        self.inner.run(parts, part)
    }
}

#[test]
fn results_do_not_depend_on_the_workspace_or_the_number_of_parts() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        for_each_isa(|isa| {
            let want = run(&net, 1, 0.0);
            // Run after run, whatever the workspace held.
            assert_eq!(run(&net, 1, 0.0), want, "{} {isa:?}: again", case.name);
            assert_eq!(
                run(&net, 1, f32::NAN),
                want,
                "{} {isa:?}: NaN workspace",
                case.name
            );
            assert_eq!(
                run(&net, 1, -3e38),
                want,
                "{} {isa:?}: huge workspace",
                case.name
            );
            // 1 to 3 parts, every product split (no minimum work), room for each part
            // or for one.
            for parts in 1..=3 {
                let serial = Serial::new(parts).with_min_work(0);
                let counted = Counted {
                    inner: &serial,
                    parts_run: AtomicUsize::new(0),
                };
                let on = net.on(&counted);
                assert_eq!(
                    run(&on, parts, f32::NAN),
                    want,
                    "{} {isa:?}: {parts} parts",
                    case.name
                );
                assert_eq!(
                    run(&on, 1, 0.0),
                    want,
                    "{} {isa:?}: {parts} parts, room for 1",
                    case.name
                );
                let split = counted.parts_run.load(Ordering::Relaxed);
                assert_eq!(
                    split > 0,
                    parts > 1,
                    "{} {isa:?}: {parts} parts ran {split}",
                    case.name
                );
            }
        });
    }
}

/// A one-output network: `z = x₀ − x₁` (a dense layer of weights 1 and −1, no bias),
/// then the last activation.
fn binary(act: Activation) -> [Layer; 1] {
    [Layer::Dense(Dense::new(2, 1).act(act).bias(false))]
}

#[test]
fn a_single_output_is_a_binary_classifier_decided_by_its_threshold() {
    // Logits z of 0.3, −0.2, 0.1, −0.4, 2.0: a logit's class is z > 0 (1, 0, 1, 0, 1); a
    // probability's is σ(z) > ½, the same classes. Read with the other threshold each
    // would differ: a logit of 0.3 is below ½ (class 0), every σ(z) is above 0 (class 1).
    let x = [0.5f32, 0.2, 0.0, 0.2, 0.3, 0.2, 0.1, 0.5, 2.0, 0.0];
    let z_class = [1u32, 0, 1, 0, 1];
    let y: Vec<f32> = [1.0f32, 0.0, 0.0, 1.0, 1.0].to_vec(); // rows 0, 1 and 4 right
    let params = [1.0f32, -1.0];
    let data = Dataset {
        x: Features::F32 {
            data: &x,
            stride: 2,
        },
        y: Labels::Values {
            data: &y,
            stride: 1,
        },
        len: 5,
    };
    let rows = [0u32, 1, 2, 3, 4];
    for (act, threshold) in [
        (Identity, LOGIT_THRESHOLD),
        (Sigmoid, PROBABILITY_THRESHOLD),
    ] {
        let layers = binary(act);
        let net = Net::new(Shape::flat(2), &layers).unwrap();
        let mut p = params;
        let mut ws = vec![0.0; net.workspace_len(5)];
        let sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        let mut t =
            Trainer::new(net, &mut p, &mut [], sgd, &mut ws, Loss::BinaryCrossEntropy).unwrap();
        let (mut xb, mut yb) = ([0.0f32; 4], [0.0f32; 2]);
        let mut batch = Batch {
            x: &mut xb,
            y: &mut yb,
            labels: &mut [],
        };
        let mut out = [0.0f32; 2];
        let ev = t
            .evaluate(&data, &rows, &mut batch, &mut out, None)
            .unwrap();
        assert_eq!((ev.correct, ev.count), (3, 5), "{act:?}");
        // The same count from the metrics with the threshold of the activation.
        let mut all = [0.0f32; 5];
        t.forward(&x, &mut all).unwrap();
        let by_metrics = microprop::metrics::accuracy_values(&all, 1, &y, threshold).unwrap();
        assert_eq!(by_metrics, 3, "{act:?}");
        // predict: each row's class by the threshold, not the argmax of one value.
        for (r, &want) in z_class.iter().enumerate() {
            let mut o = [0.0f32];
            assert_eq!(
                t.predict(&x[2 * r..2 * r + 2], &mut o),
                Ok(want as usize),
                "{act:?} row {r}"
            );
        }
        // Class labels: the confusion matrix of one output is 2 × 2 (rows the true
        // class, columns the predicted one). Only softmax cross-entropy takes class
        // labels, and with one output only the label 0 is in its range: every row
        // labelled 0, the predictions counted by the threshold.
        let zeros = [0u32; 5];
        let labelled = Dataset {
            y: Labels::Classes(&zeros),
            ..data
        };
        t.set_loss(Loss::SoftmaxCrossEntropy);
        let mut labels = [0u32; 2];
        let mut batch = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut labels,
        };
        let mut conf = [0u32; 4];
        let ev = t
            .evaluate(&labelled, &rows, &mut batch, &mut out, Some(&mut conf))
            .unwrap();
        assert_eq!(conf, [2, 3, 0, 0], "{act:?}");
        assert_eq!(ev.correct, 2, "{act:?}");
        let r = t.evaluate(&labelled, &rows, &mut batch, &mut out, Some(&mut conf[..1]));
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        // A label of 1, the binary classifier's other class: no loss takes it.
        let ones = [1u32; 5];
        let one = Dataset {
            y: Labels::Classes(&ones),
            ..data
        };
        for loss in [Loss::SoftmaxCrossEntropy, Loss::BinaryCrossEntropy] {
            t.set_loss(loss);
            let r = t.evaluate(&one, &rows, &mut batch, &mut out, Some(&mut conf));
            assert!(r.is_err(), "{loss:?}: {r:?}");
        }
        assert_eq!(conf, [2, 3, 0, 0], "{act:?}: written on error");
    }
}

/// `Mlp::train_step` on a tiny network takes a path of its own on the scalar instruction
/// set: it refuses what the general step refuses on every other, with the same error, and
/// writes nothing then.
#[test]
fn the_tiny_step_refuses_bad_input_as_the_general_step_does() {
    let sizes = [2, 3, 1];
    let mlp = Mlp::new(&sizes, &[Sigmoid, Identity], true).unwrap();
    let p = Mlp::param_len(&sizes, true);
    let n = 4;
    let params: Vec<f32> = fill(&mut rng(7), p).iter().map(|v| v * 0.5).collect();
    let x = fill(&mut rng(8), n * 2);
    let y = fill(&mut rng(9), n);
    let ws_len = Mlp::workspace_len(&sizes, n);
    let mut nan_x = x.clone();
    nan_x[3] = f32::NAN;
    let mut inf_y = y.clone();
    inf_y[1] = f32::INFINITY;
    // A first-layer weight of NaN: the hidden activations are NaN, then the loss.
    let mut nan_w = params.clone();
    nan_w[0] = f32::NAN;
    type Case<'a> = (&'a str, &'a [f32], &'a [f32], &'a [f32], f32, usize);
    let cases: [Case<'_>; 9] = [
        ("NaN in x", &params, &nan_x, &y, 0.1, ws_len),
        ("∞ in y", &params, &x, &inf_y, 0.1, ws_len),
        ("NaN weight", &nan_w, &x, &y, 0.1, ws_len),
        ("workspace one short", &params, &x, &y, 0.1, ws_len - 1),
        ("y one short", &params, &x, &y[1..], 0.1, ws_len),
        ("x a partial row", &params, &x[1..], &y, 0.1, ws_len),
        ("negative lr", &params, &x, &y, -0.1, ws_len),
        ("NaN lr", &params, &x, &y, f32::NAN, ws_len),
        ("params one short", &params[1..], &x, &y, 0.1, ws_len),
    ];
    for (what, p0, x, y, lr, ws_len) in cases {
        let mut got: Vec<(Isa, Result<f32, Error>)> = Vec::new();
        for_each_isa(|isa| {
            let mut pa = p0.to_vec();
            let mut ws = vec![0.0; ws_len];
            let r = mlp.train_step(&mut pa, x, y, lr, &mut ws);
            assert!(r.is_err(), "{what} {isa:?}: {r:?}");
            assert_eq!(bits(&pa), bits(p0), "{what} {isa:?}: params written");
            got.push((isa, r));
        });
        for (isa, r) in &got[1..] {
            assert_eq!(r, &got[0].1, "{what}: {isa:?} against {:?}", got[0].0);
        }
    }
    // An empty batch: a loss of 0, nothing written, on every instruction set.
    for_each_isa(|isa| {
        let mut pa = params.clone();
        let mut ws = vec![0.0; Mlp::workspace_len(&sizes, 0)];
        assert_eq!(
            mlp.train_step(&mut pa, &[], &[], 0.1, &mut ws),
            Ok(0.0),
            "{isa:?}"
        );
        assert_eq!(bits(&pa), bits(&params), "{isa:?}");
    });
}

/// The tiny path of `Mlp::train_step` (scalar instruction set, every size ≤ 8, batch ≤ 16)
/// against a `Net`'s general step, forced onto the scalar instruction set: the one test of
/// that path that also runs under Miri (the others take only the portable backend there),
/// for its raw-pointer dot products.
#[test]
fn the_tiny_step_is_the_general_step_on_the_scalar_isa() {
    let cases: [(&[usize], &[Activation]); 2] = [
        (&[2, 3, 1], &[Sigmoid, Identity]),
        (&[3, 4, 2, 2], &[Tanh, Relu, Sigmoid]),
    ];
    for (sizes, acts) in cases {
        for bias in [true, false] {
            let mlp = Mlp::new(sizes, acts, bias).unwrap();
            let layers = dense_layers(sizes, acts, bias);
            let net = Net::new(Shape::flat(sizes[0]), &layers).unwrap();
            let p = Mlp::param_len(sizes, bias);
            let n = 5;
            let mut r = rng(11);
            let params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.5).collect();
            let x = fill(&mut r, n * sizes[0]);
            let y = fill(&mut r, n * sizes[sizes.len() - 1]);
            let mut ws = vec![0.0; Mlp::workspace_len(sizes, n)];
            microprop::simd::with_isa(Isa::Scalar, || {
                let (mut pa, mut pb) = (params.clone(), params.clone());
                for step in 0..2 {
                    let la = mlp.train_step(&mut pa, &x, &y, 0.05, &mut ws).unwrap();
                    let mut sgd = Sgd::new(SgdConfig::new(0.05), &mut []).unwrap();
                    let t = Target::Values(&y);
                    let lb = net
                        .train_step(&mut pb, &x, t, Loss::SumSquared, &mut sgd, &mut [], &mut ws)
                        .unwrap();
                    assert_eq!(
                        (la.to_bits(), bits(&pa)),
                        (lb.to_bits(), bits(&pb)),
                        "{sizes:?} bias {bias} step {step}"
                    );
                }
            })
            .unwrap();
        }
    }
}
