//! Bad input against `Net` and `Trainer`, class by class, as `tests/hardening.rs` does
//! for `Mlp`: each call gets the documented error before anything is written (the
//! parameters, the gradient buffer and the optimizer's state bit for bit as they were,
//! on every instruction set), or the documented value, never a panic. Then every
//! `Error::Layer` of `Net::new`, absurd sizes, the saturating `const fn` sizes and the
//! empty batch.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::nets::{Opt, cnns};
use common::{fill, for_each_isa_once_under_miri as for_each_isa, rng};
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation};
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::{Net, Trainer};
use microprop::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use microprop::{Error, Loss, Target};

/// A NaN with a payload: a buffer of these proves a failing call wrote nothing.
const POISON: f32 = f32::from_bits(0x7fc0_beef);
const N: usize = 3;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn poisoned(v: &[f32]) -> bool {
    v.iter().all(|g| g.to_bits() == POISON.to_bits())
}

/// Parameters, inputs, targets and labels of a network, small and finite.
struct Data {
    params: Vec<f32>,
    x: Vec<f32>,
    y: Vec<f32>,
}

fn data(net: &Net<'_>, seed: u64) -> Data {
    let mut r = rng(seed);
    let d = net.output().len();
    Data {
        params: fill(&mut r, net.param_len())
            .iter()
            .map(|v| v * 0.5)
            .collect(),
        x: fill(&mut r, N * net.input().len()),
        y: fill(&mut r, N * d),
    }
}

/// `r` is `WorkspaceTooSmall` with `needed` and `len`, naming `sizer`.
#[track_caller]
fn assert_ws_error<T: std::fmt::Debug>(
    r: Result<T, Error>,
    needed: usize,
    len: usize,
    sizer: &str,
) {
    match r {
        Err(
            e @ Error::WorkspaceTooSmall {
                needed: n,
                len: l,
                sized_by,
            },
        ) => {
            assert_eq!((n, l), (needed, len));
            assert!(sized_by.starts_with(sizer), "{sized_by}");
            assert!(e.to_string().contains(sizer), "{e}");
        }
        r => panic!("expected WorkspaceTooSmall from {sizer}, got {r:?}"),
    }
}

/// The documented error, by variant.
fn is(e: &Error, want: &str) -> bool {
    matches!(
        (e, want),
        (Error::ShapeMismatch { .. }, "shape")
            | (Error::WorkspaceTooSmall { .. }, "workspace")
            | (Error::NonFinite { .. }, "nonfinite")
            | (Error::InvalidArgument { .. }, "invalid")
            | (Error::LabelOutOfRange { .. }, "label")
            | (Error::PartialRow { .. }, "rows")
            | (Error::StateMismatch { .. }, "state")
    )
}

/// A call with one thing wrong, and the error it must give.
#[derive(Clone)]
struct Call {
    name: String,
    params: Vec<f32>,
    grads_len: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    labels: Option<Vec<u32>>,
    loss: Loss,
    ws_len: usize,
    want: &'static str,
}

impl Call {
    fn target(&self) -> Target<'_> {
        match &self.labels {
            Some(l) => Target::Classes(l),
            None => Target::Values(&self.y),
        }
    }
}

/// Calls of `loss_and_grad` / `train_step` with one thing wrong each.
fn bad_calls(net: &Net<'_>, d: &Data) -> Vec<Call> {
    let p = net.param_len();
    let ok = Call {
        name: String::new(),
        params: d.params.clone(),
        grads_len: p,
        x: d.x.clone(),
        y: d.y.clone(),
        labels: None,
        loss: Loss::MeanSquared,
        ws_len: net.workspace_len(N),
        want: "",
    };
    let with = |name: &str, want, f: &dyn Fn(&mut Call)| {
        let mut c = Call {
            name: name.to_string(),
            want,
            ..ok.clone()
        };
        f(&mut c);
        c
    };
    let classes = net.output().len() as u32;
    let mut calls = vec![
        with("params short", "shape", &|c| {
            c.params.pop();
        }),
        with("params long", "shape", &|c| c.params.push(0.0)),
        with("params empty", "shape", &|c| c.params.clear()),
        with("grads short", "shape", &|c| c.grads_len = p - 1),
        with("grads long", "shape", &|c| c.grads_len = p + 1),
        with("x ragged", "rows", &|c| {
            c.x.pop();
        }),
        with("x one value over", "rows", &|c| c.x.push(0.0)),
        with("x one example fewer", "shape", &|c| {
            c.x.truncate(c.x.len() - net.input().len())
        }),
        with("y short", "shape", &|c| {
            c.y.pop();
        }),
        with("y long", "shape", &|c| c.y.push(0.0)),
        with("labels long", "shape", &|c| {
            c.labels = Some(vec![0; N + 1]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("labels short", "shape", &|c| {
            c.labels = Some(vec![0; N - 1]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("label = classes", "label", &|c| {
            c.labels = Some(vec![0, classes, 1]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("label u32::MAX", "label", &|c| {
            c.labels = Some(vec![0, 1, u32::MAX]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("classes with MeanSquared", "invalid", &|c| {
            c.labels = Some(vec![0, 1, 0])
        }),
        with("workspace one short", "workspace", &|c| c.ws_len -= 1),
        with("workspace empty", "workspace", &|c| c.ws_len = 0),
        with("workspace for N - 1", "workspace", &|c| {
            c.ws_len = net.workspace_len(N - 1)
        }),
        with("y overflows the loss", "nonfinite", &|c| {
            c.y.iter_mut().for_each(|v| *v = 3e38);
            c.loss = Loss::SumSquared;
        }),
    ];
    let at = [0, ok.x.len() / 2, ok.x.len() - 1];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for i in at {
            calls.push(with(&format!("x[{i}] = {bad}"), "nonfinite", &|c| {
                c.x[i] = bad
            }));
        }
        for i in [0, ok.y.len() - 1] {
            calls.push(with(&format!("y[{i}] = {bad}"), "nonfinite", &|c| {
                c.y[i] = bad
            }));
        }
    }
    // A NaN at every parameter (under Miri every seventh): whatever layer it is in,
    // it reaches an activation, the loss or a delta.
    for i in (0..p).step_by(if cfg!(miri) { 7 } else { 1 }) {
        calls.push(with(&format!("params[{i}] = NaN"), "nonfinite", &|c| {
            c.params[i] = f32::NAN
        }));
    }
    // ±∞ in the last layer's weights: the output, so the loss, is not finite.
    let last = net.layers().len() - 1;
    let (w, _) = net.param_ranges(last).unwrap();
    for i in [w.start, w.end - 1] {
        for inf in [f32::INFINITY, f32::NEG_INFINITY] {
            calls.push(with(&format!("params[{i}] = {inf}"), "nonfinite", &|c| {
                c.params[i] = inf
            }));
        }
    }
    calls
}

fn check_loss_and_grad(net: &Net<'_>, c: &Call, what: &str) {
    let mut grads = vec![POISON; c.grads_len];
    let mut ws = vec![POISON; c.ws_len];
    let r = net.loss_and_grad(&c.params, &c.x, c.target(), c.loss, &mut grads, &mut ws);
    let e = r.expect_err(what);
    assert!(is(&e, c.want), "{what}: {e:?}, want {}", c.want);
    assert!(poisoned(&grads), "{what}: grads written");
}

/// The optimizers of the tests, each after one good step (so its state is not zero).
fn optimizer<'s>(kind: usize, p: usize, state: &'s mut [f32]) -> Opt<'s> {
    match kind {
        0 => Opt::Sgd(Sgd::new(SgdConfig::new(0.05), &mut []).unwrap()),
        1 => Opt::Sgd(
            Sgd::new(
                SgdConfig {
                    momentum: 0.9,
                    ..SgdConfig::new(0.05)
                },
                &mut state[..Sgd::state_len(p)],
            )
            .unwrap(),
        ),
        _ => {
            Opt::Adam(Adam::new(AdamConfig::adam(0.01), &mut state[..Adam::state_len(p)]).unwrap())
        }
    }
}

const OPTS: [&str; 3] = ["plain sgd", "sgd momentum", "adam"];

fn warm_up(net: &Net<'_>, d: &Data, params: &mut [f32], opt: &mut Opt<'_>) {
    let mut grads = vec![0.0; params.len()];
    let mut ws = vec![0.0; net.workspace_len(N)];
    let t = Target::Values(&d.y);
    net.train_step(params, &d.x, t, Loss::MeanSquared, opt, &mut grads, &mut ws)
        .unwrap();
}

#[test]
fn loss_and_grad_refuses_bad_input_and_writes_nothing() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let d = data(&net, 1);
        let calls = bad_calls(&net, &d);
        for_each_isa(|isa| {
            for c in &calls {
                check_loss_and_grad(&net, c, &format!("{} {isa:?}: {}", case.name, c.name));
            }
        });
    }
}

#[test]
fn train_step_refuses_bad_input_and_changes_nothing() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let d = data(&net, 2);
        let mut calls: Vec<(Call, Option<f32>)> =
            bad_calls(&net, &d).into_iter().map(|c| (c, None)).collect();
        // Learning rates `set_lr` cannot refuse: the step must, before writing.
        for (lr, want) in [
            (f32::NAN, "nonfinite"),
            (f32::INFINITY, "nonfinite"),
            (f32::NEG_INFINITY, "nonfinite"),
            (-0.1, "invalid"),
            (-f32::MIN_POSITIVE, "invalid"),
        ] {
            let mut c = bad_calls(&net, &d).swap_remove(0);
            c.params = d.params.clone();
            c.name = format!("lr {lr}");
            c.want = want;
            calls.push((c, Some(lr)));
        }
        for_each_isa(|isa| {
            for (kind, opt_name) in OPTS.iter().enumerate() {
                // Under Miri, Adam's square root is the slow soft-float one: Adam once.
                if cfg!(miri) && kind == 2 {
                    continue;
                }
                for (c, lr) in &calls {
                    let what = format!("{} {isa:?} {opt_name}: {}", case.name, c.name);
                    let mut state = vec![0.0; Adam::state_len(p)];
                    let mut opt = optimizer(kind, p, &mut state);
                    let mut params = c.params.clone();
                    if params.len() == p && params.iter().all(|v| v.is_finite()) {
                        warm_up(&net, &d, &mut params, &mut opt);
                    }
                    if let Some(lr) = lr {
                        use microprop::optim::Optimizer;
                        opt.set_lr(*lr);
                    }
                    let before = (bits(&params), opt.state());
                    let mut grads = vec![POISON; c.grads_len];
                    let mut ws = vec![POISON; c.ws_len];
                    let r = net.train_step(
                        &mut params,
                        &c.x,
                        c.target(),
                        c.loss,
                        &mut opt,
                        &mut grads,
                        &mut ws,
                    );
                    let e = r.expect_err(&what);
                    assert!(is(&e, c.want), "{what}: {e:?}, want {}", c.want);
                    assert_eq!(bits(&params), before.0, "{what}: params changed");
                    assert_eq!(opt.state(), before.1, "{what}: optimizer state changed");
                    assert!(poisoned(&grads), "{what}: grads written");
                }
            }
        });
    }
}

#[test]
fn an_optimizer_sized_for_other_params_is_refused_before_anything_changes() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let d = data(&net, 3);
        for (state_len, adam) in [
            (Adam::state_len(p + 1), true),
            (Adam::state_len(p - 1), true),
            (Sgd::state_len(p - 1), false),
            (Sgd::state_len(p) + 2, false),
        ] {
            let mut state = vec![0.5; state_len];
            let mut opt = if adam {
                Opt::Adam(Adam::new(AdamConfig::adam(0.01), &mut state).unwrap())
            } else {
                let cfg = SgdConfig {
                    momentum: 0.5,
                    ..SgdConfig::new(0.1)
                };
                Opt::Sgd(Sgd::new(cfg, &mut state).unwrap())
            };
            let mut params = d.params.clone();
            let mut grads = vec![POISON; p];
            let mut ws = vec![0.0; net.workspace_len(N)];
            let before = opt.state();
            let r = net.train_step(
                &mut params,
                &d.x,
                Target::Values(&d.y),
                Loss::MeanSquared,
                &mut opt,
                &mut grads,
                &mut ws,
            );
            assert!(
                matches!(r, Err(Error::StateMismatch { params: n, sized_by, .. })
                    if n == p && sized_by.ends_with("::state_len")),
                "{} state {state_len}: {r:?}",
                case.name
            );
            assert_eq!(bits(&params), bits(&d.params));
            assert_eq!(opt.state(), before);
            assert!(poisoned(&grads));
            // The Trainer refuses it when it is built.
            let mut ws = vec![0.0; net.workspace_len(N)];
            let r = Trainer::new(
                net,
                &mut params,
                &mut grads,
                opt,
                &mut ws,
                Loss::MeanSquared,
            );
            assert!(matches!(r, Err(Error::StateMismatch { .. })), "{r:?}");
        }
    }
}

#[test]
fn every_short_workspace_is_refused_naming_its_size_function() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let d = data(&net, 4);
        let mut params = d.params.clone();
        let needed = net.workspace_len(N);
        let fneeded = net.forward_workspace_len(N);
        assert!(fneeded <= needed, "{}", case.name);
        let mut ws = vec![POISON; needed];
        let mut out = vec![POISON; N * net.output().len()];
        let mut grads = vec![POISON; params.len()];
        let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        let lens: Vec<usize> = if cfg!(miri) {
            vec![0, 1, fneeded / 2, fneeded - 1, fneeded, needed - 1]
        } else {
            (0..needed).collect()
        };
        let t = Target::Values(&d.y);
        for len in lens {
            let ws = &mut ws[..len];
            let r = net.train_step(
                &mut params,
                &d.x,
                t,
                Loss::MeanSquared,
                &mut sgd,
                &mut grads,
                ws,
            );
            assert_ws_error(r, needed, len, "Net::workspace_len");
            let r = net.loss_and_grad(&params, &d.x, t, Loss::MeanSquared, &mut grads, ws);
            assert_ws_error(r, needed, len, "Net::workspace_len");
            if len < fneeded {
                let r = net.forward(&params, &d.x, &mut out, ws);
                assert_ws_error(r, fneeded, len, "Net::forward_workspace_len");
            }
        }
        assert_eq!(bits(&params), bits(&d.params));
        assert!(
            poisoned(&ws) && poisoned(&out) && poisoned(&grads),
            "{}",
            case.name
        );
    }
}

/// A wide input flattened into a narrow layer: a step keeps less than inference's two
/// buffers of the flattened input, yet asks for `Net::workspace_len` (so that the same
/// workspace serves a `Trainer`'s `evaluate` and `predict`), and says so when refused
/// (found by the `net` fuzz target).
#[test]
fn a_step_asks_for_workspace_len_where_inference_needs_more_than_it_keeps() {
    let layers = [
        Layer::Flatten,
        Layer::Dense(
            Dense::new(60, 1)
                .act(microprop::Activation::Relu)
                .bias(false),
        ),
    ];
    let net = Net::new(Shape::seq(20, 3), &layers).unwrap();
    let needed = net.workspace_len(N);
    assert_eq!(
        needed,
        net.forward_workspace_len(N),
        "inference sizes this one"
    );
    let d = data(&net, 6);
    let mut params = d.params.clone();
    let mut grads = vec![POISON; params.len()];
    let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    let mut ws = vec![POISON; needed];
    let t = Target::Values(&d.y);
    let r = net.train_step(
        &mut params,
        &d.x,
        t,
        Loss::MeanSquared,
        &mut sgd,
        &mut grads,
        &mut ws[..needed - 1],
    );
    assert_ws_error(r, needed, needed - 1, "Net::workspace_len");
    assert!(poisoned(&grads) && poisoned(&ws) && bits(&params) == bits(&d.params));
    net.train_step(
        &mut params,
        &d.x,
        t,
        Loss::MeanSquared,
        &mut sgd,
        &mut grads,
        &mut ws,
    )
    .unwrap();
}

#[test]
fn forward_refuses_wrong_lengths_and_propagates_non_finite_inputs() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let d = data(&net, 5);
        let dl = net.output().len();
        let d0 = net.input().len();
        let mut ws = vec![POISON; net.forward_workspace_len(N)];
        let mut out = vec![POISON; N * dl];
        let p = &d.params;
        let shape =
            |r: Result<(), Error>| assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        shape(net.forward(&p[1..], &d.x, &mut out, &mut ws));
        shape(net.forward(&[p.as_slice(), &[0.0]].concat(), &d.x, &mut out, &mut ws));
        shape(net.forward(p, &d.x, &mut out[1..], &mut ws));
        shape(net.forward(p, &d.x[d0..], &mut out, &mut ws));
        assert_eq!(
            net.forward(p, &d.x[1..], &mut out, &mut ws),
            Err(Error::PartialRow {
                what: "x (N examples of Net::input().len() values)",
                len: d.x.len() - 1,
                row: d0,
            })
        );
        shape(net.check_params(&p[1..]));
        assert!(poisoned(&ws) && poisoned(&out));
        // NaN and ±∞ in one example reach that example's outputs only (no pooling or
        // convolution mixes examples): the others' bits are those of the clean batch,
        // and a NaN shows in the example's output (±∞ may saturate a tanh or sigmoid).
        for_each_isa(|isa| {
            let mut clean = vec![0.0; N * dl];
            net.forward(p, &d.x, &mut clean, &mut ws).unwrap();
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut x = d.x.clone();
                x[d0 + 1] = bad;
                net.forward(p, &x, &mut out, &mut ws).unwrap();
                let what = format!("{} {isa:?} {bad}", case.name);
                assert_eq!(bits(&out[..dl]), bits(&clean[..dl]), "{what}");
                assert_eq!(bits(&out[2 * dl..]), bits(&clean[2 * dl..]), "{what}");
                if bad.is_nan() {
                    assert!(out[dl..2 * dl].iter().any(|v| v.is_nan()), "{what}");
                }
            }
        });
        // check_params finds any non-finite value.
        assert_eq!(net.check_params(p), Ok(()));
        for i in [0, p.len() / 2, p.len() - 1] {
            let mut q = p.clone();
            q[i] = f32::NEG_INFINITY;
            assert_eq!(
                net.check_params(&q),
                Err(Error::NonFinite { what: "params" })
            );
        }
    }
}

#[test]
fn an_empty_batch_has_loss_zero_and_zero_gradients() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let d = data(&net, 6);
        for_each_isa(|isa| {
            let mut grads = vec![POISON; net.param_len()];
            let mut ws = vec![POISON; net.workspace_len(0)];
            for (t, loss) in [
                (Target::Values(&[]), Loss::MeanSquared),
                (Target::Values(&[]), Loss::SumSquared),
                (Target::Classes(&[]), Loss::SoftmaxCrossEntropy),
            ] {
                let l = net.loss_and_grad(&d.params, &[], t, loss, &mut grads, &mut ws);
                assert_eq!(l, Ok(0.0), "{} {isa:?} {loss:?}", case.name);
                assert!(
                    grads.iter().all(|g| g.to_bits() == 0),
                    "{} {isa:?}",
                    case.name
                );
                grads.fill(POISON);
                // Plain SGD on nothing leaves the parameters as they were.
                let mut params = d.params.clone();
                let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
                let l = net.train_step(&mut params, &[], t, loss, &mut sgd, &mut [], &mut ws);
                assert_eq!(l, Ok(0.0));
                assert_eq!(bits(&params), bits(&d.params));
            }
            let mut out = [POISON; 0];
            net.forward(&d.params, &[], &mut out, &mut []).unwrap();
            // A zero-length workspace is enough for an empty batch? Only if it needs none.
            let need = net.workspace_len(0);
            let r = net.loss_and_grad(
                &d.params,
                &[],
                Target::Values(&[]),
                Loss::MeanSquared,
                &mut grads,
                &mut [],
            );
            if need == 0 {
                assert_eq!(r, Ok(0.0));
            } else {
                assert_ws_error(r, need, 0, "Net::workspace_len");
            }
        });
        // The Trainer too, and its epoch over no rows.
        let mut params = d.params.clone();
        let mut ws = vec![0.0; net.workspace_len(N)];
        let sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        let mut t =
            Trainer::new(net, &mut params, &mut [], sgd, &mut ws, Loss::MeanSquared).unwrap();
        assert_eq!(t.step(&[], Target::Values(&[])), Ok(0.0));
        let ds = Dataset {
            x: Features::F32 {
                data: &d.x,
                stride: net.input().len(),
            },
            y: Labels::Values {
                data: &d.y,
                stride: net.output().len(),
            },
            len: N,
        };
        let (mut xb, mut yb) = (
            vec![0.0; 2 * net.input().len()],
            vec![0.0; 2 * net.output().len()],
        );
        let mut batch = Batch {
            x: &mut xb,
            y: &mut yb,
            labels: &mut [],
        };
        assert_eq!(t.epoch(&ds, &[], &mut batch), Ok(0.0));
        let e = t.evaluate(
            &ds,
            &[],
            &mut batch,
            &mut vec![0.0; 2 * net.output().len()],
            None,
        );
        assert_eq!(e.map(|e| (e.count, e.correct, e.loss)), Ok((0, 0, 0.0)));
        assert_eq!(bits(&params), bits(&d.params));
    }
}

// ----- Trainer ---------------------------------------------------------------------------

#[test]
fn trainer_new_refuses_mis_sized_buffers_and_bad_optimizers() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let d = data(&net, 7);
        let mut ws = vec![0.0; net.workspace_len(N)];
        let loss = Loss::MeanSquared;
        let sgd = || Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        for (params_len, grads_len) in [
            (p - 1, p),
            (p + 1, p),
            (0, 0),
            (p, p - 1),
            (p, p + 1),
            (p, 1),
        ] {
            let mut params = vec![POISON; params_len];
            let mut grads = vec![POISON; grads_len];
            let r = Trainer::new(net, &mut params, &mut grads, sgd(), &mut ws, loss);
            assert!(
                matches!(r, Err(Error::ShapeMismatch { .. })),
                "{params_len} {grads_len}: {r:?}"
            );
            assert!(poisoned(&params) && poisoned(&grads));
        }
        let mut params = d.params.clone();
        // Plain SGD needs no gradient buffer; every other optimizer does.
        assert!(Trainer::new(net, &mut params, &mut [], sgd(), &mut ws, loss).is_ok());
        let mut state = vec![0.0; Adam::state_len(p)];
        let adam = Adam::new(AdamConfig::adam(0.01), &mut state).unwrap();
        let r = Trainer::new(net, &mut params, &mut [], adam, &mut ws, loss);
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        let mut state = vec![0.0; Sgd::state_len(p)];
        let cfg = SgdConfig {
            momentum: 0.5,
            ..SgdConfig::new(0.1)
        };
        let momentum = Sgd::new(cfg, &mut state).unwrap();
        let r = Trainer::new(net, &mut params, &mut [], momentum, &mut ws, loss);
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        // A learning rate set to NaN, ±∞ or below 0.
        for (lr, want) in [
            (f32::NAN, "nonfinite"),
            (f32::INFINITY, "nonfinite"),
            (-1.0, "invalid"),
        ] {
            use microprop::optim::Optimizer;
            let mut o = sgd();
            o.set_lr(lr);
            let r = Trainer::new(net, &mut params, &mut [], o, &mut ws, loss);
            let e = r.expect_err("bad lr");
            assert!(is(&e, want), "{lr}: {e:?}");
        }
        // A workspace too short for any batch is refused at the step, not at `new`.
        let mut grads = vec![POISON; p];
        let mut t = Trainer::new(net, &mut params, &mut grads, sgd(), &mut ws[..1], loss).unwrap();
        let r = t.step(&d.x, Target::Values(&d.y));
        assert_ws_error(r, net.workspace_len(N), 1, "Net::workspace_len");
        assert_eq!(bits(&params), bits(&d.params));
        assert!(poisoned(&grads));
    }
}

#[test]
fn trainer_step_refuses_bad_input_and_changes_nothing() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let d = data(&net, 8);
        // The calls whose buffers the Trainer does not own: x, the target, the loss,
        // and a workspace sized for fewer examples.
        let calls: Vec<Call> = bad_calls(&net, &d)
            .into_iter()
            .filter(|c| {
                c.params.len() == p && c.grads_len == p && c.params.iter().all(|v| v.is_finite())
            })
            .collect();
        for_each_isa(|isa| {
            for (kind, opt_name) in OPTS.iter().enumerate() {
                if cfg!(miri) && kind == 2 {
                    continue;
                }
                for c in &calls {
                    let what = format!("{} {isa:?} {opt_name}: {}", case.name, c.name);
                    let mut state = vec![0.0; Adam::state_len(p)];
                    let mut opt = optimizer(kind, p, &mut state);
                    let mut params = d.params.clone();
                    warm_up(&net, &d, &mut params, &mut opt);
                    let before = (bits(&params), opt.state());
                    let mut grads = vec![POISON; p];
                    let mut ws = vec![POISON; c.ws_len];
                    let mut t =
                        Trainer::new(net, &mut params, &mut grads, opt, &mut ws, c.loss).unwrap();
                    let e = t.step(&c.x, c.target()).expect_err(&what);
                    assert!(is(&e, c.want), "{what}: {e:?}, want {}", c.want);
                    // A learning rate made bad through the trainer: refused too.
                    {
                        use microprop::optim::Optimizer;
                        t.optimizer_mut().set_lr(f32::NAN);
                    }
                    let e = t.step(&d.x, Target::Values(&d.y)).expect_err(&what);
                    assert!(is(&e, "nonfinite"), "{what}: {e:?}");
                    assert_eq!(bits(t.params()), before.0, "{what}: params changed");
                    let opt = t.into_optimizer();
                    assert_eq!(opt.state(), before.1, "{what}: optimizer state changed");
                    assert!(poisoned(&grads), "{what}: grads written");
                }
            }
        });
    }
}

/// A data set of `len` rows of `d0` features, with class labels and target values.
struct Set {
    x: Vec<f32>,
    y: Vec<f32>,
    labels: Vec<u32>,
    len: usize,
    d0: usize,
    d: usize,
}

impl Set {
    fn new(net: &Net<'_>, len: usize, seed: u64) -> Self {
        let mut r = rng(seed);
        let (d0, d) = (net.input().len(), net.output().len());
        Set {
            x: fill(&mut r, len * d0),
            y: fill(&mut r, len * d),
            labels: (0..len as u32).map(|i| (i * 7 + 1) % d as u32).collect(),
            len,
            d0,
            d,
        }
    }
    fn classes(&self) -> Dataset<'_> {
        Dataset {
            x: Features::F32 {
                data: &self.x,
                stride: self.d0,
            },
            y: Labels::Classes(&self.labels),
            len: self.len,
        }
    }
}

#[test]
fn trainer_epoch_evaluate_and_predict_refuse_bad_input_before_writing() {
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        let p = net.param_len();
        let d = data(&net, 9);
        let set = Set::new(&net, 7, 10);
        let (d0, dl) = (set.d0, set.d);
        let b = 3;
        let mut order = vec![0u32; set.len];
        identity_permutation(&mut order).unwrap();
        let mut state = vec![0.0; Adam::state_len(p)];
        let opt = optimizer(2, p, &mut state);
        let mut params = d.params.clone();
        let mut grads = vec![POISON; p];
        let mut ws = vec![POISON; net.workspace_len(b)];
        let mut t = Trainer::new(
            net,
            &mut params,
            &mut grads,
            opt,
            &mut ws,
            Loss::SoftmaxCrossEntropy,
        )
        .unwrap();
        let (mut xb, mut lb) = (vec![POISON; b * d0], vec![u32::MAX; b]);
        let mut out = vec![POISON; b * dl];
        let mut conf = vec![7u32; dl * dl];
        let ds = set.classes();
        let before = bits(t.params());
        // epoch: an index past the data, a batch too big for the workspace, a source too short.
        let mut bad_order = order.clone();
        bad_order[5] = set.len as u32;
        let mut bt = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut lb,
        };
        assert!(matches!(
            t.epoch(&ds, &bad_order, &mut bt),
            Err(Error::RowOutOfRange { index: 5, .. })
        ));
        let mut big_x = vec![0.0; (b + 1) * d0];
        let mut big_l = vec![0; b + 1];
        let mut big = Batch {
            x: &mut big_x,
            y: &mut [],
            labels: &mut big_l,
        };
        let r = t.epoch(&ds, &order, &mut big);
        assert_ws_error(
            r,
            net.workspace_len(b + 1),
            net.workspace_len(b),
            "Net::workspace_len",
        );
        let short = Dataset {
            len: set.len + 1,
            ..ds
        };
        assert!(matches!(
            t.epoch(&short, &order, &mut bt),
            Err(Error::BufferTooSmall { .. })
        ));
        let mut no_x: [f32; 0] = [];
        let mut no_l = [0u32; 3];
        let mut empty = Batch {
            x: &mut no_x,
            y: &mut [],
            labels: &mut no_l,
        };
        assert!(matches!(
            t.epoch(&ds, &order, &mut empty),
            Err(Error::BufferTooSmall { .. })
        ));
        // A label out of range at the first batch stops the epoch before any update.
        let mut labels = set.labels.clone();
        labels[order[1] as usize] = dl as u32;
        let bad_labels = Dataset {
            y: Labels::Classes(&labels),
            ..ds
        };
        // Named by the data set's row and the batch (issue 17 D.2).
        let e = t.epoch(&bad_labels, &order, &mut bt);
        assert!(
            matches!(e, Err(Error::Data { batch: 0, row, label: Some(_), .. }) if row == order[1]),
            "{e:?}"
        );
        assert_eq!(
            bits(t.params()),
            before,
            "{}: epoch changed params",
            case.name
        );
        // evaluate: out too short, a confusion matrix of the wrong size, an index past
        // the data, a workspace too short for the batch.
        let r = t.evaluate(&ds, &order, &mut bt, &mut out[1..], Some(&mut conf));
        assert!(matches!(r, Err(Error::BufferTooSmall { .. })), "{r:?}");
        let r = t.evaluate(&ds, &order, &mut bt, &mut out, Some(&mut conf[1..]));
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        let r = t.evaluate(&ds, &bad_order, &mut bt, &mut out, Some(&mut conf));
        assert!(matches!(r, Err(Error::RowOutOfRange { .. })), "{r:?}");
        let values = Dataset {
            y: Labels::Values {
                data: &set.y,
                stride: dl,
            },
            ..ds
        };
        let r = t.evaluate(&values, &order, &mut bt, &mut out, Some(&mut conf));
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
        assert!(
            conf.iter().all(|&c| c == 7),
            "{}: confusion written",
            case.name
        );
        let mut huge_x = vec![0.0; 64 * d0];
        let mut huge = Batch {
            x: &mut huge_x,
            y: &mut [],
            labels: &mut [],
        };
        let mut huge_out = vec![0.0; 64 * dl];
        let r = t.evaluate(&ds, &order, &mut huge, &mut huge_out, None);
        if net.forward_workspace_len(64) > net.workspace_len(b) {
            assert_ws_error(
                r,
                net.forward_workspace_len(64),
                net.workspace_len(b),
                "Net::forward_workspace_len",
            );
        }
        // predict: one example and one output row, exactly.
        let mut o = vec![POISON; dl];
        assert!(matches!(
            t.predict(&set.x[..d0 - 1], &mut o),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            t.predict(&set.x[..2 * d0], &mut o),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            t.predict(&set.x[..d0], &mut o[1..]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(poisoned(&o));
        assert!(t.predict(&set.x[..d0], &mut o).is_ok());
        // forward: the network's checks.
        assert!(matches!(
            t.forward(&set.x[..d0 + 1], &mut out[..dl]),
            Err(Error::PartialRow { .. })
        ));
        assert_eq!(bits(t.params()), before);
        let opt = t.into_optimizer();
        assert_eq!(opt.state().1, 0, "{}: an update ran", case.name);
        assert!(poisoned(&grads), "{}: grads written", case.name);
    }
}

// ----- Net::new ----------------------------------------------------------------------------

/// `Net::new(input, layers)` fails at layer `index` (of `kind`, on `input`) with a
/// message containing `word`.
#[track_caller]
fn refused(input: Shape, layers: &[Layer], index: usize, word: &str) {
    match Net::new(input, layers) {
        Err(
            e @ Error::Layer {
                index: i,
                kind,
                input: at,
                what,
            },
        ) => {
            assert_eq!(i, index, "{layers:?}: {what}");
            assert_eq!(kind, layers[index].kind());
            let shape = if index == 0 {
                input
            } else {
                Net::new(input, &layers[..index]).unwrap().output()
            };
            assert_eq!(at, (shape.h, shape.w, shape.c), "{layers:?}");
            assert!(what.contains(word), "{layers:?}: {what:?} lacks {word:?}");
            let shown = e.to_string();
            let head = format!(
                "layer {index} ({kind}) on an input of {}x{}x{}",
                shape.h, shape.w, shape.c
            );
            assert!(shown.starts_with(&head) && shown.ends_with(what), "{shown}");
        }
        other => panic!("{layers:?}: expected Error::Layer at {index}, got {other:?}"),
    }
}

#[test]
fn every_shape_rule_of_every_kind_is_an_error_naming_the_layer() {
    let seq = Shape::seq(10, 4);
    let img = Shape::image(6, 5, 4);
    let flat = Shape::flat(8);
    let c1 = |cin, cout, k| Layer::Conv1d(Conv1d::new(cin, cout, k));
    let c2 = |cin, cout, k| Layer::Conv2d(Conv2d::new(cin, cout, k));
    // Dense.
    refused(flat, &[Layer::Dense(Dense::new(0, 3))], 0, "at least 1");
    refused(flat, &[Layer::Dense(Dense::new(8, 0))], 0, "at least 1");
    refused(flat, &[Layer::Dense(Dense::new(7, 3))], 0, "inputs");
    refused(seq, &[Layer::Dense(Dense::new(40, 3))], 0, "flat");
    refused(
        img,
        &[c2(4, 2, (3, 3)), Layer::Dense(Dense::new(24, 3))],
        1,
        "flat",
    );
    refused(
        flat,
        &[
            Layer::Dense(Dense::new(8, 3)),
            Layer::Dense(Dense::new(8, 3)),
        ],
        1,
        "inputs",
    );
    // Convolutions, both dimensions.
    refused(seq, &[c1(0, 3, 3)], 0, "at least 1");
    refused(seq, &[c1(4, 0, 3)], 0, "at least 1");
    refused(img, &[c2(4, 0, (3, 3))], 0, "at least 1");
    refused(seq, &[c1(5, 3, 3)], 0, "in_channels");
    refused(img, &[c2(3, 3, (3, 3))], 0, "in_channels");
    refused(img, &[c1(4, 3, 3)], 0, "sequence");
    for g in [0, 3, 8] {
        refused(
            seq,
            &[Layer::Conv1d(Conv1d::new(4, 6, 3).groups(g))],
            0,
            "groups",
        );
        refused(
            img,
            &[Layer::Conv2d(Conv2d::new(4, 6, (1, 1)).groups(g))],
            0,
            "groups",
        );
    }
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 6, 3).groups(4))],
        0,
        "groups",
    );
    refused(seq, &[c1(4, 3, 0)], 0, "kernel");
    refused(img, &[c2(4, 3, (3, 0))], 0, "kernel");
    refused(img, &[c2(4, 3, (0, 3))], 0, "kernel");
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 3, 3).stride(0))],
        0,
        "strides",
    );
    refused(
        img,
        &[Layer::Conv2d(Conv2d::new(4, 3, (3, 3)).stride((0, 1)))],
        0,
        "strides",
    );
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 3, 3).dilation(0))],
        0,
        "dilations",
    );
    refused(
        img,
        &[Layer::Conv2d(Conv2d::new(4, 3, (3, 3)).dilation((1, 0)))],
        0,
        "dilations",
    );
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 3, 3).padding(3))],
        0,
        "padding",
    );
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 3, 1).padding(1))],
        0,
        "padding",
    );
    refused(
        img,
        &[Layer::Conv2d(Conv2d::new(4, 3, (3, 3)).padding((0, 3)))],
        0,
        "padding",
    );
    refused(seq, &[c1(4, 3, 11)], 0, "larger than the padded");
    refused(
        seq,
        &[Layer::Conv1d(Conv1d::new(4, 3, 4).dilation(4))],
        0,
        "larger than the padded",
    );
    refused(img, &[c2(4, 3, (7, 1))], 0, "larger than the padded");
    refused(
        img,
        &[c2(4, 4, (3, 3)), c2(4, 4, (3, 3)), c2(4, 4, (3, 3))],
        2,
        "larger than the padded",
    );
    // Pooling, both dimensions.
    let mp1 = |k, s| Layer::MaxPool1d(Pool::new(k).stride(s));
    let ap1 = |k, s| Layer::AvgPool1d(Pool::new(k).stride(s));
    let mp2 = |k, s| Layer::MaxPool2d(Pool2d::new(k).stride(s));
    let ap2 = |k, s| Layer::AvgPool2d(Pool2d::new(k).stride(s));
    for pool in [mp1, ap1] {
        refused(img, &[pool(2, 2)], 0, "sequence");
        refused(seq, &[pool(0, 1)], 0, "kernel");
        refused(seq, &[pool(2, 0)], 0, "strides");
        refused(seq, &[pool(11, 1)], 0, "larger than the padded");
        refused(
            seq,
            &[pool(2, 2), pool(2, 2), pool(2, 2), pool(2, 2)],
            3,
            "larger than the padded",
        );
    }
    for pool in [mp2, ap2] {
        refused(img, &[pool((0, 1), (1, 1))], 0, "kernel");
        refused(img, &[pool((2, 2), (1, 0))], 0, "strides");
        refused(img, &[pool((7, 1), (1, 1))], 0, "larger than the padded");
        refused(img, &[pool((1, 6), (1, 1))], 0, "larger than the padded");
        refused(
            img,
            &[pool((2, 2), (2, 2)), pool((3, 3), (1, 1))],
            1,
            "larger than the padded",
        );
    }
    // After a flatten or a global pooling the shape is flat: only dense layers fit.
    refused(
        img,
        &[Layer::Flatten, c2(120, 2, (3, 1))],
        1,
        "larger than the padded",
    );
    refused(img, &[Layer::Flatten, c2(4, 2, (1, 1))], 1, "in_channels");
    refused(
        img,
        &[Layer::GlobalAvgPool, mp2((2, 1), (1, 1))],
        1,
        "larger than the padded",
    );
    refused(
        img,
        &[Layer::GlobalAvgPool, mp1(2, 1)],
        1,
        "larger than the padded",
    );
    // Valid networks that start with a kind without parameters, or hold none.
    for layers in [
        vec![Layer::Flatten],
        vec![Layer::GlobalAvgPool],
        vec![mp2((2, 2), (2, 2)), Layer::Flatten],
        vec![Layer::Flatten, Layer::Dense(Dense::new(120, 2))],
        vec![ap2((3, 3), (1, 1)), c2(4, 2, (1, 1)), Layer::GlobalAvgPool],
    ] {
        let net = Net::new(img, &layers).unwrap_or_else(|e| panic!("{layers:?}: {e}"));
        assert!(net.workspace_len(2) > 0);
    }
    // No layers, an empty input shape, an input whose size overflows.
    let dense = [Layer::Dense(Dense::new(8, 2))];
    for (input, layers) in [
        (flat, &[][..]),
        (Shape::flat(0), &dense[..]),
        (Shape::image(0, 3, 2), &dense[..]),
        (Shape::image(1 << 33, 1 << 33, 1), &dense[..]),
        (Shape::image(usize::MAX, 1, 1), &dense[..]),
    ] {
        assert!(
            matches!(Net::new(input, layers), Err(Error::InvalidArgument { .. })),
            "{input:?}"
        );
    }
}

#[test]
fn absurd_sizes_are_errors_and_the_const_sizes_saturate() {
    let max = usize::MAX;
    let seq = Shape::seq(10, 4);
    let img = Shape::image(6, 5, 4);
    // Each of these must be an Error::Layer or Error::Overflow from `new`, never a panic.
    let absurd: Vec<(Shape, Vec<Layer>)> = vec![
        (Shape::flat(4), vec![Layer::Dense(Dense::new(4, max))]),
        (Shape::flat(4), vec![Layer::Dense(Dense::new(4, max / 2))]),
        (
            Shape::flat(max / 2),
            vec![Layer::Dense(Dense::new(max / 2, 3))],
        ),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, max, 3))]),
        (seq, vec![Layer::Conv1d(Conv1d::new(max, 4, 3))]),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, 4, max))]),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, 4, 3).dilation(max))]),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, 4, 3).padding(max))]),
        (
            seq,
            vec![Layer::Conv1d(Conv1d::new(4, 4, 3).padding(max / 2))],
        ),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, 4, 3).groups(max))]),
        (seq, vec![Layer::Conv1d(Conv1d::new(4, 1 << 62, 3))]),
        (img, vec![Layer::Conv2d(Conv2d::new(4, max, (3, 3)))]),
        (img, vec![Layer::Conv2d(Conv2d::new(4, 4, (max, max)))]),
        (
            img,
            vec![Layer::Conv2d(
                Conv2d::new(4, 4, (3, 3)).dilation((max, max)),
            )],
        ),
        (
            img,
            vec![Layer::Conv2d(Conv2d::new(4, 4, (3, 3)).padding((max, max)))],
        ),
        (
            img,
            vec![Layer::Conv2d(
                Conv2d::new(4, 4, (3, 3)).padding((max / 2, 1)),
            )],
        ),
        (seq, vec![Layer::MaxPool1d(Pool::new(max))]),
        (img, vec![Layer::MaxPool2d(Pool2d::new((max, 2)))]),
        (
            Shape::flat(1),
            vec![
                Layer::Dense(Dense::new(1, 1 << 62)),
                Layer::Dense(Dense::new(1 << 62, 2).bias(false)),
            ],
        ),
        (
            Shape::seq(1 << 20, 1),
            vec![Layer::Conv1d(Conv1d::new(1, 1 << 50, 1))],
        ),
        (
            Shape::seq(1 << 20, 1),
            vec![Layer::Conv1d(Conv1d::new(1, 1 << 50, 1)), Layer::Flatten],
        ),
    ];
    for (input, layers) in &absurd {
        match Net::new(*input, layers) {
            Err(Error::Layer { what, .. }) => assert!(!what.is_empty()),
            Err(Error::Overflow { .. }) => {}
            other => panic!("{input:?} {layers:?}: expected Layer or Overflow, got {other:?}"),
        }
        // The layers' own `const fn` sizes never panic and saturate.
        for l in layers {
            let _ = (l.param_len(), l.weight_len(), l.fans(), l.kind());
        }
    }
    // Accepted but absurd: a kernel nearly as wide as a sequence of nearly usize::MAX
    // steps. The size functions saturate and never panic (the edge strips of its
    // virtual padding overflowed in a debug build: an outside review's input).
    let wide = [Layer::Conv1d(
        Conv1d::new(1, 1, max - 1).padding(1).bias(false),
    )];
    for input in [Shape::seq(max - 2, 1), Shape::seq(max / 2, 1)] {
        if let Ok(net) = Net::new(input, &wide) {
            let _ = (
                net.workspace_len(0),
                net.workspace_len(1),
                net.workspace_len(2),
            );
            let _ = net.forward_workspace_len(1);
        }
    }
    // Strides of usize::MAX are valid: one window. They train like any other.
    for (input, layers) in [
        (
            seq,
            vec![Layer::Conv1d(Conv1d::new(4, 3, 3).stride(max).padding(1))],
        ),
        (
            img,
            vec![Layer::Conv2d(
                Conv2d::new(4, 3, (2, 3))
                    .stride((max, max))
                    .dilation((4, 2)),
            )],
        ),
        (
            seq,
            vec![
                Layer::AvgPool1d(Pool::new(2).stride(max)),
                Layer::Dense(Dense::new(4, 2)),
            ],
        ),
        (
            img,
            vec![
                Layer::MaxPool2d(Pool2d::new((2, 2)).stride((max, max))),
                Layer::Dense(Dense::new(4, 2)),
            ],
        ),
    ] {
        let net = Net::new(input, &layers).unwrap_or_else(|e| panic!("{layers:?}: {e}"));
        assert!(net.output().is_flat(), "{layers:?}");
        let p = fill(&mut rng(20), net.param_len());
        let x = fill(&mut rng(21), 2 * input.len());
        let y = fill(&mut rng(22), 2 * net.output().len());
        let mut g = vec![0.0; p.len()];
        let mut ws = vec![0.0; net.workspace_len(2)];
        let l = net.loss_and_grad(
            &p,
            &x,
            Target::Values(&y),
            Loss::MeanSquared,
            &mut g,
            &mut ws,
        );
        assert!(l.unwrap().is_finite());
    }
    // Saturating sizes of a valid network with huge layers.
    let layers = [
        Layer::Dense(Dense::new(1, 1 << 61)),
        Layer::Dense(Dense::new(1 << 61, 1)),
    ];
    let net = Net::new(Shape::flat(1), &layers).unwrap();
    assert_eq!(net.param_len(), (1 << 61) * 3 + 1);
    for n in [4, 1 << 40, max] {
        assert_eq!(net.workspace_len(n), max);
        assert_eq!(net.forward_workspace_len(n), max);
        assert_eq!(net.workspace_len_parts(n, max), max);
        assert_eq!(net.forward_workspace_len_parts(n, 3), max);
    }
    // And of a small one: any batch or part count, no overflow panic.
    for case in cnns() {
        let net = Net::new(case.input, &case.layers).unwrap();
        assert_eq!(net.workspace_len(max), max);
        assert_eq!(net.forward_workspace_len(max), max);
        assert_eq!(net.workspace_len_parts(1, max), max);
        assert_eq!(net.forward_workspace_len_parts(1, max), max);
        assert!(net.workspace_len(0) < net.workspace_len(1));
        assert_eq!(net.workspace_len_parts(5, 0), net.workspace_len(5));
        assert_eq!(net.workspace_len_parts(5, 1), net.workspace_len(5));
        // A batch of huge x is a size error, not an allocation or a panic.
        let mut out = [0.0f32; 0];
        let r = net.forward(&vec![0.0; net.param_len()], &[], &mut out, &mut []);
        assert_eq!(r, Ok(()));
    }
}
