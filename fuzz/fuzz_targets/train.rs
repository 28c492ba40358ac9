//! The trainer of issue 8 under hostile input: every `Loss` with values or class targets
//! (random and NaN data, random labels), `Sgd`/`Adam` with random hyperparameters
//! (invalid ones included) updating random parameters, `Dataset::gather` with random
//! strides and indices (f32, byte and unaligned little-endian f32 sources), and `Mlp::train_step_with` / `train_epoch` / `evaluate` on tiny
//! networks, on a fuzzed instruction set.
//!
//! Properties: nothing panics; whenever an error is returned, every buffer the caller
//! owns (gradients, parameters, optimizer state, batch buffers, confusion matrix) is bit
//! for bit what it was (`train_epoch`: the parameters hold the batches before the failing
//! one, so only errors of its up-front checks are compared).
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{Rng, fill, isa, len_around, scalar};
use libfuzzer_sys::fuzz_target;
use microprop::data::{Batch, Dataset, Features, Labels};
use microprop::nn::Mlp;
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

/// A label: mostly in range, sometimes just out, sometimes anything.
fn label(u: &mut Unstructured, d: usize) -> u32 {
    match byte(u) {
        0..=199 => (byte(u) as usize % d.max(1)) as u32,
        200..=239 => d as u32,
        _ => u.arbitrary().unwrap_or(u32::MAX),
    }
}

/// Losses on their own: `loss_and_grad` and `loss` never panic, write nothing on error.
fn losses(u: &mut Unstructured) {
    let loss = Loss::ALL[byte(u) as usize % Loss::ALL.len()];
    let d = byte(u) as usize % 6;
    let n = byte(u) as usize % 6;
    let mut out = vec![0.0; len_around(u, Some(n * d), 64)];
    fill(u, &mut out);
    let classes = byte(u) % 2 == 0;
    let mut y = vec![0.0; len_around(u, Some(n * d), 64)];
    fill(u, &mut y);
    let labels: Vec<u32> = (0..len_around(u, Some(n), 16))
        .map(|_| label(u, d))
        .collect();
    let target = if classes {
        Target::Classes(&labels)
    } else {
        Target::Values(&y)
    };
    let mut grad = vec![f32::NAN; len_around(u, Some(out.len()), 64)];
    let before = bits(&grad);
    if loss.loss_and_grad(&out, d, target, &mut grad).is_err() {
        assert_eq!(bits(&grad), before, "{loss:?}: grad written on error");
        assert!(loss.loss(&out, d, target).is_err() || grad.len() != out.len());
    }
}

/// A hyperparameter: mostly sane, sometimes any float.
fn hyper(u: &mut Unstructured, sane: f32) -> f32 {
    if byte(u) < 200 { sane } else { scalar(u) }
}

/// Optimizers on their own, over a few updates of random parameters and gradients.
fn optimizers(u: &mut Unstructured) {
    let n = byte(u) as usize % 40;
    let mut params = vec![0.0; n];
    fill(u, &mut params);
    let mut state = vec![0.0; len_around(u, Some(2 * n), 128)];
    let adam = byte(u) % 2 == 0;
    let mut opt: Box<dyn Optimizer + '_> = if adam {
        let cfg = AdamConfig {
            lr: hyper(u, 1e-3),
            beta1: hyper(u, 0.9),
            beta2: hyper(u, 0.999),
            eps: hyper(u, 1e-8),
            weight_decay: hyper(u, 0.0),
            decoupled: byte(u) % 2 == 0,
        };
        match Adam::new(cfg, &mut state) {
            Ok(o) => Box::new(o),
            Err(_) => return,
        }
    } else {
        let cfg = SgdConfig {
            lr: hyper(u, 0.1),
            momentum: hyper(u, 0.0),
            nesterov: byte(u) % 4 == 0,
            weight_decay: hyper(u, 0.0),
        };
        let s = len_around(u, Some(n), 128).min(state.len());
        match Sgd::new(cfg, &mut state[..s]) {
            Ok(o) => Box::new(o),
            Err(_) => return,
        }
    };
    for _ in 0..1 + byte(u) % 3 {
        if byte(u) > 230 {
            opt.set_lr(scalar(u));
        }
        let mut grads = vec![0.0; len_around(u, Some(n), 64)];
        fill(u, &mut grads);
        let before = bits(&params);
        if opt.update(&mut params, &grads).is_err() {
            assert_eq!(bits(&params), before, "update wrote params on error");
        }
    }
}

/// The whole trainer on a tiny network and a tiny data set.
fn trainer(u: &mut Unstructured) {
    let layers = 1 + byte(u) as usize % 2;
    let sizes: Vec<usize> = (0..=layers).map(|_| 1 + byte(u) as usize % 4).collect();
    let acts: Vec<Activation> = (0..layers)
        .map(|_| Activation::ALL[byte(u) as usize % Activation::ALL.len()])
        .collect();
    let bias = byte(u) % 2 == 0;
    // One to three parts for every product, however small (whatever the workspace
    // has room for).
    let split = Serial::new(1 + byte(u) as usize % 3).with_min_work(0);
    let net = Mlp::new(&sizes, &acts, bias).unwrap().on(&split);
    let (d0, d) = (sizes[0], sizes[layers]);
    let p = Mlp::param_len(&sizes, bias);
    let loss = Loss::ALL[byte(u) as usize % Loss::ALL.len()];
    let mut rng = Rng(u.arbitrary().unwrap_or(1));

    // Data: strides at or around the row widths, sources around the length needed.
    let len = byte(u) as usize % 9;
    let xs = d0 + byte(u) as usize % 3;
    let xs = if byte(u) > 240 {
        byte(u) as usize % (d0 + 1)
    } else {
        xs
    };
    let ys = d + byte(u) as usize % 2;
    let mut x = vec![0.0; len_around(u, Some(len * xs), 128)];
    for v in &mut x {
        *v = rng.value(2.0);
    }
    if byte(u) > 200 {
        fill(u, &mut x);
    }
    let xb: Vec<u8> = (0..len_around(u, Some(len * xs), 128))
        .map(|_| rng.next() as u8)
        .collect();
    let mut y = vec![0.0; len_around(u, Some(len * ys), 128)];
    for v in &mut y {
        *v = (rng.next() % 2) as f32;
    }
    if byte(u) > 220 {
        fill(u, &mut y);
    }
    let labels: Vec<u32> = (0..len_around(u, Some(len), 16))
        .map(|_| label(u, d))
        .collect();
    // The f32 values as little-endian bytes in records of 4·xs bytes plus 0–3 more, from
    // byte 1 of the buffer (unaligned); sometimes a source cut short or a stride in values.
    let extra = byte(u) as usize % 4;
    let xle_stride = if byte(u) > 245 { xs } else { 4 * xs + extra };
    let mut xle = vec![0u8; 1 + len_around(u, Some(len * xle_stride), 512)];
    for (i, rec) in xle[1..].chunks_mut(xle_stride.max(1)).enumerate() {
        for (j, b) in rec.chunks_exact_mut(4).take(xs).enumerate() {
            b.copy_from_slice(&x.get(i * xs + j).copied().unwrap_or(0.5).to_le_bytes());
        }
    }
    let features = match byte(u) % 3 {
        0 => Features::F32 {
            data: &x,
            stride: xs,
        },
        1 => Features::U8 {
            data: &xb,
            stride: xs,
            scale: hyper(u, 1.0 / 16.0),
        },
        _ => Features::F32Le {
            data: &xle[1..],
            stride: xle_stride,
        },
    };
    let classes = byte(u) % 2 == 0;
    let targets = if classes {
        Labels::Classes(&labels)
    } else {
        Labels::Values {
            data: &y,
            stride: ys,
        }
    };
    let data = Dataset {
        x: features,
        y: targets,
        len: len + usize::from(byte(u) > 240),
    };
    let order: Vec<u32> = (0..len_around(u, Some(len), 16))
        .map(|i| {
            if byte(u) > 245 {
                u.arbitrary().unwrap_or(0)
            } else {
                (i % len.max(1)) as u32
            }
        })
        .collect();

    let b = 1 + byte(u) as usize % 4;
    let mut bx = vec![f32::NAN; len_around(u, Some(b * d0), 32)];
    let mut by = vec![f32::NAN; len_around(u, Some(b * d), 32)];
    let mut bl = vec![u32::MAX; len_around(u, Some(b), 8)];
    let mut params = vec![0.0; len_around(u, Some(p), 64)];
    for v in &mut params {
        *v = rng.value(1.0);
    }
    let mut grads = vec![f32::NAN; len_around(u, Some(p), 64)];
    let mut ws = vec![f32::NAN; len_around(u, Some(Mlp::workspace_len(&sizes, b)), 4096)];
    let mut state = vec![0.0; 2 * p];
    let mut opt: Box<dyn Optimizer + '_> = if byte(u) % 2 == 0 {
        match Adam::new(
            AdamConfig {
                lr: hyper(u, 1e-2),
                ..AdamConfig::adam(1e-2)
            },
            &mut state,
        ) {
            Ok(o) => Box::new(o),
            Err(_) => return,
        }
    } else {
        let m = hyper(u, 0.0);
        let s = if m != 0.0 { p } else { 0 };
        match Sgd::new(
            SgdConfig {
                momentum: m,
                ..SgdConfig::new(hyper(u, 0.1))
            },
            &mut state[..s],
        ) {
            Ok(o) => Box::new(o),
            Err(_) => return,
        }
    };
    if byte(u) > 230 {
        opt.set_lr(scalar(u));
    }

    // Dataset::gather on its own: nothing written on error.
    let rows: Vec<u32> = order.iter().take(b).copied().collect();
    let snap = (bits(&bx), bits(&by), bl.clone());
    {
        let mut batch = Batch {
            x: &mut bx,
            y: &mut by,
            labels: &mut bl,
        };
        if data.gather(&rows, d0, d, &mut batch).is_err() {
            drop(batch);
            assert_eq!(
                (bits(&bx), bits(&by), bl.clone()),
                snap,
                "gather wrote on error"
            );
        }
    }

    // One step with a gathered batch, or a raw target.
    if len > 0 && data.check(d0, d).is_ok() && order.iter().all(|&r| (r as usize) < data.len) {
        let mut batch = Batch {
            x: &mut bx,
            y: &mut by,
            labels: &mut bl,
        };
        if let Ok((xg, t)) = data.gather(&rows, d0, d, &mut batch) {
            let (xg, t) = (
                xg.to_vec(),
                match t {
                    Target::Values(v) => (v.to_vec(), vec![]),
                    Target::Classes(c) => (vec![], c.to_vec()),
                    _ => (vec![], vec![]),
                },
            );
            let target = if classes {
                Target::Classes(&t.1)
            } else {
                Target::Values(&t.0)
            };
            let before = (bits(&params), bits(&grads));
            let r = net.loss_and_grad_with(&params, &xg, target, loss, &mut grads, &mut ws);
            if r.is_err() {
                assert_eq!(
                    (bits(&params), bits(&grads)),
                    before,
                    "loss_and_grad_with: {r:?}"
                );
            }
            let before = (bits(&params), bits(&grads));
            let r = net.train_step_with(
                &mut params,
                &xg,
                target,
                loss,
                &mut *opt,
                &mut grads,
                &mut ws,
            );
            match r {
                // The optimizer's own refusals come after the gradient (documented).
                Err(Error::ShapeMismatch { what, .. }) if what.contains("update") => {
                    assert_eq!(bits(&params), before.0)
                }
                Err(Error::NonFinite { what }) if what.contains("update") => {
                    assert_eq!(bits(&params), before.0)
                }
                // A whole-network update from the gradient (not fused SGD) checks the hidden
                // activations and deltas through it, after it is written (documented).
                Err(Error::NonFinite { what })
                    if opt.plain_sgd_lr().is_none()
                        && (what.contains("hidden") || what.contains("delta")) =>
                {
                    assert_eq!(bits(&params), before.0)
                }
                Err(e) => assert_eq!(
                    (bits(&params), bits(&grads)),
                    before,
                    "train_step_with: {e:?}"
                ),
                Ok(l) => assert!(l.is_finite()),
            }
        }
    }

    // An epoch: an error of its up-front checks changes nothing.
    let before = bits(&params);
    let up_front = params.len() != p
        || grads.len() != p
        || bx.len() < d0
        || ws.len() < Mlp::workspace_len(&sizes, bx.len() / d0)
        || data.check(d0, d).is_err()
        || order.iter().any(|&r| r as usize >= data.len);
    let mut batch = Batch {
        x: &mut bx,
        y: &mut by,
        labels: &mut bl,
    };
    let r = net.train_epoch(
        &mut params,
        &data,
        &order,
        loss,
        &mut *opt,
        &mut batch,
        &mut grads,
        &mut ws,
    );
    if up_front {
        assert!(r.is_err(), "train_epoch accepted bad input");
        assert_eq!(bits(&params), before, "train_epoch changed params: {r:?}");
    }
    if let Ok(l) = r {
        assert!(l.is_finite() || order.is_empty());
    }

    // Evaluation, with a confusion matrix for class labels.
    let mut out = vec![f32::NAN; len_around(u, Some(b * d), 32)];
    let mut conf = vec![3u32; len_around(u, Some(d * d), 32)];
    let want_conf = conf.clone();
    let confusion = if classes && byte(u) % 2 == 0 {
        Some(&mut conf[..])
    } else {
        None
    };
    let r = net.evaluate(
        &params, &data, &order, loss, &mut batch, &mut out, confusion, &mut ws,
    );
    match r {
        // A label out of range found mid-way (named by its batch and data set row) leaves
        // the batches before it counted.
        Err(Error::LabelOutOfRange { .. } | Error::Data { label: Some(_), .. }) | Ok(_) => {}
        Err(_) => assert_eq!(
            conf, want_conf,
            "evaluate wrote the confusion matrix: {r:?}"
        ),
    }
    if let Ok(ev) = r {
        assert!(ev.correct <= ev.count && ev.count == order.len());
    }
    let mut one = vec![0.0; len_around(u, Some(d), 8)];
    let _ = net.predict(&params, &x[..x.len().min(d0)], &mut one, &mut ws);
}

fn run(u: &mut Unstructured) {
    let choose_isa = isa(u);
    let what = byte(u) % 4;
    with_isa(choose_isa, || match what {
        0 => losses(u),
        1 => optimizers(u),
        _ => trainer(u),
    })
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    run(&mut u);
});
