//! `nn::Net` and `nn::Trainer` under hostile layer lists and data: random convolutional
//! networks (1-D and 2-D convolutions with random channels, kernels, strides, paddings,
//! dilations, groups — depthwise and pointwise included —, activations and biases; max,
//! average and global average pooling; flatten; dense) on small input shapes, each
//! description sometimes broken (a zero or huge size, channels that do not match, a
//! window larger than its input); batches of 0–4 examples (sometimes a ragged `x`), data
//! and parameters with NaN/±∞/huge values, every loss with value or class targets
//! (labels sometimes out of range), plain SGD, SGD with momentum or Adam with hostile
//! learning rates and state lengths, workspaces around the lengths they need, 1–3 parts
//! of an executor, on a fuzzed instruction set; half the networks with a training plan
//! (a frozen prefix, a random `Train` per layer, per-layer updates; the frozen layers'
//! parameters sometimes apart, at a split that may be wrong).
//!
//! Properties:
//! * Nothing panics. `Net::new` either builds the network or refuses its last layer
//!   (`Error::Layer` naming that index) or its parameter count (`Error::Overflow`).
//! * Errors are the documented ones; on any error `out`, `grads` (but for the documented
//!   overflow of a weight gradient), `params` and the optimizer's state are bit for bit
//!   what they were (but for the documented overflow of a weight gradient with
//!   per-layer updates: the layers updated before it keep their update).
//! * A step's loss is finite, and `loss_and_grad` on the parameters before the step
//!   returns it bit for bit; a `Trainer` with the same plain SGD takes the same step.
//! * On finite, moderate data and parameters the forward pass is finite and a step
//!   succeeds.
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{HUGE, fill, isa, len_around, scalar};
use libfuzzer_sys::fuzz_target;
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::{Net, Train, Trainer};
use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use microprop::par::Serial;
use microprop::simd::with_isa;
use microprop::{Activation, Error, Loss, Target};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn byte(u: &mut Unstructured) -> u8 {
    u.arbitrary().unwrap_or(0)
}

/// A size: mostly `fit` (what the shape so far needs) or small, rarely 0 or huge.
fn size(u: &mut Unstructured, fit: usize, small: usize) -> usize {
    match byte(u) {
        0..=159 => fit,
        160..=239 => 1 + byte(u) as usize % small,
        240..=247 => 0,
        s => HUGE[s as usize % HUGE.len()],
    }
}

/// A kernel, stride, padding or dilation: mostly `0..=small` plus `base`, rarely huge.
fn knob(u: &mut Unstructured, base: usize, small: usize) -> usize {
    match byte(u) {
        0..=249 => base + byte(u) as usize % (small + 1),
        s => HUGE[s as usize % HUGE.len()],
    }
}

fn act(u: &mut Unstructured) -> Activation {
    Activation::ALL[byte(u) as usize % Activation::ALL.len()]
}

/// Groups for `c` input channels: 1, `c` (depthwise), a divisor, or anything.
fn groups(u: &mut Unstructured, c: usize) -> usize {
    match byte(u) % 8 {
        0..=3 => 1,
        4 | 5 => c,
        6 => {
            let divs: Vec<usize> = (1..=c.min(8)).filter(|g| c % g == 0).collect();
            let i = byte(u) as usize % divs.len().max(1);
            divs.get(i).copied().unwrap_or(1)
        }
        _ => byte(u) as usize % 5,
    }
}

/// A layer for an input of shape `s`: usually one that fits it.
fn layer(u: &mut Unstructured, s: Shape) -> Layer {
    match byte(u) % 10 {
        0 | 1 => {
            let g = groups(u, s.c);
            let cout = if byte(u) % 3 == 0 {
                s.c
            } else {
                g.max(1).saturating_mul(1 + byte(u) as usize % 3)
            };
            Layer::Conv1d(Conv1d {
                in_channels: size(u, s.c, 6),
                out_channels: size(u, cout, 8),
                kernel: knob(u, 1, 3),
                stride: knob(u, 1, 2),
                padding: knob(u, 0, 2),
                dilation: knob(u, 1, 2),
                groups: g,
                act: act(u),
                bias: byte(u) % 4 != 0,
            })
        }
        2 | 3 => {
            let g = groups(u, s.c);
            let cout = if byte(u) % 3 == 0 {
                s.c
            } else {
                g.max(1).saturating_mul(1 + byte(u) as usize % 3)
            };
            Layer::Conv2d(Conv2d {
                in_channels: size(u, s.c, 6),
                out_channels: size(u, cout, 8),
                kernel: (knob(u, 1, 2), knob(u, 1, 2)),
                stride: (knob(u, 1, 1), knob(u, 1, 2)),
                padding: (knob(u, 0, 1), knob(u, 0, 2)),
                dilation: (knob(u, 1, 1), knob(u, 1, 2)),
                groups: g,
                act: act(u),
                bias: byte(u) % 4 != 0,
            })
        }
        4 => {
            let p = Pool {
                kernel: knob(u, 1, 2),
                stride: knob(u, 1, 2),
            };
            if byte(u) % 2 == 0 {
                Layer::MaxPool1d(p)
            } else {
                Layer::AvgPool1d(p)
            }
        }
        5 => {
            let p = Pool2d {
                kernel: (knob(u, 1, 1), knob(u, 1, 2)),
                stride: (knob(u, 1, 1), knob(u, 1, 2)),
            };
            if byte(u) % 2 == 0 {
                Layer::MaxPool2d(p)
            } else {
                Layer::AvgPool2d(p)
            }
        }
        6 => Layer::GlobalAvgPool,
        7 => Layer::Flatten,
        _ => Layer::Dense(Dense {
            inputs: size(u, s.len(), 16),
            outputs: {
                let fit = 1 + byte(u) as usize % 6;
                size(u, fit, 6)
            },
            act: act(u),
            bias: byte(u) % 4 != 0,
        }),
    }
}

/// Either optimizer, with its state's bits for comparisons.
enum Opt<'s> {
    Sgd(Sgd<'s>),
    Adam(Adam<'s>),
}

impl Opt<'_> {
    fn dynamic(&mut self) -> &mut dyn Optimizer {
        match self {
            Opt::Sgd(o) => o,
            Opt::Adam(o) => o,
        }
    }
    fn state(&self) -> (Vec<u32>, u64) {
        match self {
            Opt::Sgd(o) => (bits(o.momentum_buffer()), 0),
            Opt::Adam(o) => {
                let (m, v) = o.moments();
                let mut b = bits(m);
                b.extend(bits(v));
                (b, o.step_count())
            }
        }
    }
}

/// Labels: mostly in range, sometimes just out, sometimes anything.
fn label(u: &mut Unstructured, d: usize) -> u32 {
    match byte(u) {
        0..=219 => (byte(u) as usize % d.max(1)) as u32,
        220..=239 => d as u32,
        _ => u.arbitrary().unwrap_or(u32::MAX),
    }
}

fn run(u: &mut Unstructured) {
    let chosen = isa(u);
    // The input shape: a sequence or a small image, rarely an empty or huge one.
    let two_d = byte(u) % 2 == 0;
    let mut input = Shape {
        h: if two_d { 1 + byte(u) as usize % 5 } else { 1 },
        w: 1 + byte(u) as usize % 9,
        c: 1 + byte(u) as usize % 4,
    };
    match byte(u) {
        250 => input.c = 0,
        251..=255 => input.w = HUGE[byte(u) as usize % HUGE.len()],
        _ => {}
    }
    // Layers, each checked as it is added: a network is built or its last layer refused.
    let depth = 1 + byte(u) as usize % 6;
    let mut layers: Vec<Layer> = Vec::new();
    let mut shape = input;
    for i in 0..depth {
        layers.push(layer(u, shape));
        match Net::new(input, &layers) {
            Ok(net) => shape = net.output(),
            Err(Error::Layer {
                index,
                kind,
                input: at,
                what,
            }) => {
                assert_eq!((index, kind), (i, layers[i].kind()), "{what}");
                assert_eq!(at, (shape.h, shape.w, shape.c));
                assert!(!what.is_empty());
                return;
            }
            Err(Error::InvalidArgument { .. }) => {
                assert!(input.is_empty() || input.len() == usize::MAX, "{input:?}");
                return;
            }
            Err(Error::Overflow { .. }) => {
                let total = layers
                    .iter()
                    .try_fold(0usize, |t, l| t.checked_add(l.param_len()));
                assert!(
                    total.is_none(),
                    "{layers:?}: Overflow with a parameter count that fits"
                );
                return;
            }
            Err(e) => panic!("Net::new({input:?}, {layers:?}): unexpected {e:?}"),
        }
    }
    let net = Net::new(input, &layers).unwrap();
    let (p, d0, d) = (net.param_len(), net.input().len(), net.output().len());
    // The const sizes never panic, whatever the batch or the parts.
    let _ = (
        net.workspace_len(usize::MAX),
        net.workspace_len_parts(3, usize::MAX),
    );
    let _ = net.forward_workspace_len_parts(usize::MAX, 2);
    // Keep to networks that run fast.
    if p > 1 << 14 || d0 > 1 << 10 || d > 1 << 12 || net.workspace_len(4) > 1 << 18 {
        return;
    }
    let parts = 1 + byte(u) as usize % 3;
    let split = Serial::new(parts).with_min_work(0);
    let net = if parts > 1 { net.on(&split) } else { net };
    // Half the time a training plan: a frozen prefix, a choice per layer, per-layer
    // updates.
    let planned = byte(u) >= 128;
    let plan: Vec<Train> = (0..depth)
        .map(|_| [Train::All, Train::BiasOnly, Train::Frozen][byte(u) as usize % 3])
        .collect();
    let mut per_layer = false;
    let net = if planned {
        let k = byte(u) as usize % (depth + 2);
        let net = if byte(u) % 2 == 0 {
            net.trainable(&plan).unwrap()
        } else {
            net
        };
        // A frozen range past the network is refused.
        match net.freeze(k) {
            Ok(net) => {
                per_layer = byte(u) % 2 == 0;
                net.per_layer(per_layer)
            }
            Err(e) => {
                assert!(
                    k > depth && matches!(e, Error::InvalidArgument { .. }),
                    "{e:?}"
                );
                net
            }
        }
    } else {
        net
    };
    let (pt, pg) = (net.trainable_len(), net.grad_len());
    assert!(pg <= pt && pt <= p && net.frozen_len() <= p);

    // Data.
    let n = byte(u) as usize % 5;
    let ragged = byte(u) >= 245;
    let mut x = vec![0.0f32; n * d0 + usize::from(ragged)];
    let mut special = fill(u, &mut x);
    let batch = x.len().is_multiple_of(d0).then(|| x.len() / d0);
    let loss = Loss::ALL[byte(u) as usize % Loss::ALL.len()];
    let classes = loss == Loss::SoftmaxCrossEntropy && byte(u) % 2 == 0 || byte(u) == 255;
    let mut y = vec![0.0f32; len_around(u, Some(n * d), 256)];
    special |= fill(u, &mut y);
    let labels: Vec<u32> = (0..len_around(u, Some(n), 8))
        .map(|_| label(u, d))
        .collect();
    let target = if classes {
        Target::Classes(&labels)
    } else {
        Target::Values(&y)
    };
    let mut params = vec![0.0f32; len_around(u, Some(p), 1 << 15)];
    special |= fill(u, &mut params);
    let moderate = !special
        && [&x, &y, &params]
            .iter()
            .all(|v| v.iter().all(|a| a.abs() <= 2.0))
        && params.len() == p;

    with_isa(chosen, || {
        // forward
        let fneed = batch.map(|b| net.forward_workspace_len(b));
        let out_len = len_around(u, batch.map(|b| b * d), 1 << 12);
        let mut out = vec![f32::NAN; out_len];
        let mut fws = vec![f32::NAN; len_around(u, fneed, 1 << 20)];
        let shapes_ok = params.len() == p && batch.is_some_and(|b| out_len == b * d);
        let before_out = bits(&out);
        match net.forward(&params, &x, &mut out, &mut fws) {
            Ok(()) => {
                assert!(shapes_ok && fws.len() >= fneed.unwrap());
                if moderate {
                    assert!(
                        out.iter().all(|v| v.is_finite()),
                        "forward not finite: {layers:?}"
                    );
                }
            }
            Err(e) => {
                assert_eq!(bits(&out), before_out, "forward wrote out on {e:?}");
                match e {
                    Error::ShapeMismatch { .. } | Error::PartialRow { .. } => assert!(!shapes_ok),
                    Error::WorkspaceTooSmall { needed, len, .. } => {
                        assert!(shapes_ok && Some(needed) == fneed && len < needed)
                    }
                    e => panic!("forward: unexpected {e:?}"),
                }
            }
        }

        // train_step with an optimizer of hostile settings.
        let need = batch.map(|b| net.workspace_len(b));
        let ws_len = len_around(u, need, 1 << 20);
        let mut ws = vec![f32::NAN; ws_len];
        let mut state = vec![0.0f32; len_around(u, Some(Adam::state_len(pt)), 1 << 16)];
        let lr = if byte(u) < 200 { 1e-2 } else { scalar(u) };
        let kind = byte(u) % 3;
        let mut opt = match kind {
            0 => Opt::Sgd(Sgd::new(SgdConfig::new(0.01), &mut []).unwrap()),
            1 => {
                let s = len_around(u, Some(pt), 1 << 15).min(state.len());
                let cfg = SgdConfig {
                    momentum: 0.9,
                    ..SgdConfig::new(0.01)
                };
                Opt::Sgd(Sgd::new(cfg, &mut state[..s]).unwrap())
            }
            _ => match Adam::new(AdamConfig::adam(1e-3), &mut state) {
                Ok(o) => Opt::Adam(o),
                Err(_) => return, // an odd state length
            },
        };
        opt.dynamic().set_lr(lr);
        let fused = opt.dynamic().plain_sgd_lr().is_some();
        let g_len = if fused && byte(u) % 2 == 0 {
            0
        } else {
            len_around(u, Some(pg), 1 << 15)
        };
        let mut grads = vec![f32::NAN; g_len];
        let before = (bits(&params), opt.state(), bits(&grads));
        // Sometimes the frozen layers' parameters apart (read-only), at a split that
        // may be wrong.
        let apart = planned && byte(u) % 2 == 0;
        let r = if apart {
            let at = len_around(u, Some(net.frozen_len()), 64).min(params.len());
            let (head, tail) = params.split_at_mut(at);
            net.train_step_frozen(
                head,
                tail,
                &x,
                target,
                loss,
                opt.dynamic(),
                &mut grads,
                &mut ws,
            )
        } else {
            net.train_step(
                &mut params,
                &x,
                target,
                loss,
                opt.dynamic(),
                &mut grads,
                &mut ws,
            )
        };
        match r {
            Err(e) => {
                let weight_grad_overflow =
                    matches!(e, Error::NonFinite { what } if what.contains("grads"));
                // With per-layer updates a layer's weight gradient is checked when its
                // update runs: the layers before it may have changed (documented).
                if !(weight_grad_overflow && net.grad_len() < net.trainable_len()) {
                    assert_eq!(
                        bits(&params),
                        before.0,
                        "train_step changed params on {e:?}"
                    );
                    assert_eq!(
                        opt.state(),
                        before.1,
                        "train_step changed the state on {e:?}"
                    );
                }
                // A whole-network update from the gradient (not fused SGD, not per-layer
                // updates) checks the hidden activations and deltas through it, after it
                // is written (documented).
                let whole = !fused && net.grad_len() == net.trainable_len();
                let through_grads = whole
                    && matches!(e, Error::NonFinite { what }
                        if what.contains("hidden") || what.contains("delta"));
                if !weight_grad_overflow && !through_grads {
                    assert_eq!(bits(&grads), before.2, "train_step wrote grads on {e:?}");
                }
                match e {
                    Error::NonFinite { .. }
                    | Error::InvalidArgument { .. }
                    | Error::ShapeMismatch { .. }
                    | Error::PartialRow { .. }
                    | Error::StateMismatch { .. }
                    | Error::LabelOutOfRange { .. } => {}
                    Error::WorkspaceTooSmall { needed, len, .. } => {
                        assert!(
                            Some(needed) == need && len < needed,
                            "{needed} {len} {need:?} {layers:?}"
                        )
                    }
                    e => panic!("train_step: unexpected {e:?}"),
                }
            }
            Ok(l) => {
                assert!(l.is_finite(), "train_step returned loss {l}");
                assert!(lr.is_finite() && lr >= 0.0 && ws_len >= need.unwrap());
                // loss_and_grad on the parameters before the step: the same loss.
                let start: Vec<f32> = before.0.iter().map(|&b| f32::from_bits(b)).collect();
                let mut g = vec![f32::NAN; pt];
                let mut ws2 = vec![0.0f32; ws_len];
                let l2 = net.loss_and_grad(&start, &x, target, loss, &mut g, &mut ws2);
                // A whole-network update from the gradient checks the hidden activations
                // and deltas through it (documented: `Scan::ByGrads`), so one that reaches
                // no trainable parameter's gradient does not stop the step; loss_and_grad
                // scans them all.
                let by_grads = !fused && !per_layer;
                let unreached = by_grads
                    && matches!(l2, Err(Error::NonFinite { what })
                        if what.contains("hidden") || what.contains("delta"));
                if !unreached {
                    assert_eq!(
                        l2.map(f32::to_bits),
                        Ok(l.to_bits()),
                        "loss_and_grad vs train_step"
                    );
                }
                // (A weight gradient may overflow to ±∞ from finite activations and
                // deltas, as documented; not from moderate data.)
                if moderate && !unreached {
                    assert!(
                        g.iter().all(|v| v.is_finite()),
                        "non-finite grads on moderate data"
                    );
                }
                // A Trainer with the same plain SGD: the same step.
                if fused && !apart {
                    let mut q = start.clone();
                    let mut ws3 = vec![0.0f32; ws_len];
                    let sgd = Sgd::new(SgdConfig::new(lr), &mut []).unwrap();
                    let mut t = Trainer::new(net, &mut q, &mut [], sgd, &mut ws3, loss).unwrap();
                    let l3 = t.step(&x, target).unwrap();
                    assert_eq!(l3.to_bits(), l.to_bits(), "Trainer::step vs train_step");
                    assert_eq!(bits(t.params()), bits(&params), "Trainer::step params");
                }
            }
        }
        if moderate && lr == 1e-2 && kind == 0 && g_len == pg {
            // On moderate data a step with a valid setup succeeds: checked with fresh
            // buffers of the right sizes (the fuzzed ones may be wrong on purpose).
            if let (Some(b), Target::Values(_)) = (batch, target) {
                if y.len() == b * d && loss != Loss::SoftmaxCrossEntropy {
                    let mut q = params.clone();
                    let mut ws = vec![0.0f32; net.workspace_len(b)];
                    let mut sgd = Sgd::new(SgdConfig::new(1e-2), &mut []).unwrap();
                    let r = net.train_step(&mut q, &x, target, loss, &mut sgd, &mut [], &mut ws);
                    let overflow =
                        matches!(r, Err(Error::NonFinite { .. })) && loss == Loss::SumSquared;
                    assert!(
                        r.is_ok() || overflow,
                        "moderate step failed: {r:?} {layers:?}"
                    );
                }
            }
        }

        // loss_and_grad with possibly wrong buffers: nothing written on error.
        let mut g = vec![f32::NAN; len_around(u, Some(pt), 1 << 15)];
        let gb = bits(&g);
        let mut ws = vec![f32::NAN; ws_len];
        match net.loss_and_grad(&params, &x, target, loss, &mut g, &mut ws) {
            Ok(l) => assert!(l.is_finite()),
            Err(e) => {
                assert_eq!(bits(&g), gb, "loss_and_grad wrote grads on {e:?}");
                assert!(
                    !matches!(e, Error::Layer { .. } | Error::Overflow { .. }),
                    "{e:?}"
                );
            }
        }
    })
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    run(&mut u);
});
