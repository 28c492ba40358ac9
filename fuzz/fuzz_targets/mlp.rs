//! `nn::Mlp` under hostile shapes and data: 1–4 layers of 1–16 units (sometimes 0 or
//! huge sizes, a wrong number of activations), every activation, biases on and off,
//! batches of 0–8 (sometimes a ragged `x`), data with NaN/inf/huge values, learning rates
//! including NaN/inf/huge, buffers and workspaces around the lengths they need, on a
//! fuzzed instruction set.
//!
//! Properties:
//! * Nothing panics; `Mlp::new` fails exactly for the documented reasons.
//! * Errors are the documented ones, in order: `forward` → `ShapeMismatch` / `PartialRow` /
//!   `WorkspaceTooSmall { needed: forward_workspace_len }`; `train_step` → `NonFinite`
//!   for a non-finite lr first (`InvalidArgument` for a negative one), then
//!   `ShapeMismatch` / `PartialRow`, `WorkspaceTooSmall { needed:
//!   workspace_len }`, then `NonFinite` for a non-finite loss or delta.
//! * On any `Err` from `train_step`, `params` is bit-identical to before.
//! * On `Ok`, the loss is finite and equals `loss_and_grad`'s loss bit for bit (both run
//!   the same `forward_backward` on the same instruction set).
//! * `forward` agrees with an f64 forward pass within a propagated error bound, and the
//!   loss with the f64 loss; with finite, moderate data a step must succeed and produce
//!   finite gradients.
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{HUGE, fill, isa, len_around, scalar};
use libfuzzer_sys::fuzz_target;
use microprop::nn::Mlp;
use microprop::simd::with_isa;
use microprop::{Activation, Error};

fn bits_eq(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// `None` for an activation without an f64 version here (`Activation` is
/// non-exhaustive): its networks are then run but not compared.
fn act_f64(act: Activation, z: f64) -> Option<f64> {
    Some(match act {
        Activation::Identity => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        _ => return None,
    })
}

/// f64 forward pass of one example with a bound on the f32 computation's error.
/// Returns `None` if anything is non-finite or too large to bound, or an activation has
/// no f64 version.
fn reference(net: &Mlp, params: &[f32], x: &[f32]) -> Option<(Vec<f64>, Vec<f64>)> {
    let eps = f32::EPSILON as f64;
    let sizes = net.sizes();
    let mut h: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut err = vec![0.0f64; h.len()];
    let mut off = 0;
    for l in 0..net.layers() {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        let w = &params[off..off + di * dout];
        off += di * dout;
        let b = if net.has_bias() {
            let b = &params[off..off + dout];
            off += dout;
            Some(b)
        } else {
            None
        };
        let mut h2 = vec![0.0; dout];
        let mut e2 = vec![0.0; dout];
        for j in 0..dout {
            let (mut z, mut mag, mut prop) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..di {
                let wij = w[i * dout + j] as f64;
                z += h[i] * wij;
                mag += (h[i] * wij).abs() + err[i] * wij.abs();
                prop += err[i] * wij.abs();
            }
            if let Some(b) = b {
                z += b[j] as f64;
                mag += (b[j] as f64).abs();
            }
            if !z.is_finite() || mag > 1e30 {
                return None;
            }
            let ez = prop + (di as f64 + 3.0) * 2.0 * eps * mag;
            let a = act_f64(net.activations()[l], z)?;
            h2[j] = a;
            // Every activation is 1-Lipschitz; a few ULP of its own, and a subnormal
            // output may be flushed to 0.
            e2[j] = ez + 8.0 * eps * a.abs() + 1e-37;
        }
        h = h2;
        err = e2;
    }
    Some((h, err))
}

fn run(u: &mut Unstructured) {
    let choose_isa = isa(u);
    // Shape.
    let layers = 1 + u.arbitrary::<u8>().unwrap_or(0) as usize % 4;
    let hostile: u8 = u.arbitrary().unwrap_or(0);
    let mut sizes = Vec::new();
    for _ in 0..=layers {
        let s: u8 = u.arbitrary().unwrap_or(0);
        sizes.push(if hostile >= 240 && s >= 224 {
            if s % 4 == 0 {
                0
            } else {
                HUGE[s as usize % HUGE.len()]
            }
        } else {
            1 + s as usize % 16
        });
    }
    if hostile == 255 {
        sizes.truncate(u.arbitrary::<u8>().unwrap_or(0) as usize % 2);
    }
    let mut acts = Vec::new();
    for _ in 0..sizes.len().saturating_sub(1) {
        let all = Activation::ALL;
        acts.push(all[u.arbitrary::<u8>().unwrap_or(0) as usize % all.len()]);
    }
    if hostile == 254 {
        acts.push(Activation::Relu);
    }
    let bias: bool = u.arbitrary().unwrap_or(false);

    let param_len = Mlp::param_len(&sizes, bias);
    let net = match Mlp::new(&sizes, &acts, bias) {
        Ok(net) => {
            assert!(sizes.len() >= 2 && acts.len() == sizes.len() - 1);
            assert!(sizes.iter().all(|&s| s > 0) && param_len != usize::MAX);
            net
        }
        Err(e) => {
            let valid =
                sizes.len() >= 2 && acts.len() == sizes.len() - 1 && sizes.iter().all(|&s| s > 0);
            match e {
                Error::InvalidArgument { .. } => assert!(!valid, "{sizes:?}: {e:?}"),
                Error::Overflow { .. } => assert!(valid && param_len == usize::MAX),
                _ => panic!("Mlp::new({sizes:?}): unexpected {e:?}"),
            }
            return;
        }
    };
    let (d0, dl) = (sizes[0], sizes[sizes.len() - 1]);
    let small = sizes.iter().all(|&s| s <= 16);

    // Data.
    let n = u.arbitrary::<u8>().unwrap_or(0) as usize % 9;
    let ragged = u.arbitrary::<u8>().unwrap_or(0) >= 240;
    let x_len = if small {
        n * d0 + usize::from(ragged)
    } else {
        n
    };
    let y_len = len_around(u, n.checked_mul(dl), 4096);
    let p_len = len_around(u, Some(param_len), 4096);
    let mut x = vec![0.0f32; x_len];
    let mut y = vec![0.0f32; y_len];
    let mut params = vec![0.0f32; p_len];
    let mut special = fill(u, &mut x);
    special |= fill(u, &mut y);
    special |= fill(u, &mut params);
    let lr = if u.arbitrary::<u8>().unwrap_or(0) < 128 {
        1e-3
    } else {
        scalar(u)
    };
    let moderate = !special
        && [&x, &y, &params]
            .iter()
            .all(|v| v.iter().all(|a| a.abs() <= 4.0))
        && lr.is_finite();

    let batch = (x_len % d0 == 0).then_some(x_len / d0);
    let shape_ok = p_len == param_len && batch.is_some_and(|b| y_len == b * dl);

    with_isa(choose_isa, || {
        // forward
        let fneed = batch.map(|b| Mlp::forward_workspace_len(&sizes, b));
        let out_len = len_around(u, batch.and_then(|b| b.checked_mul(dl)), 4096);
        let mut out = vec![f32::NAN; out_len];
        let mut ws = vec![f32::NAN; len_around(u, fneed, 1 << 20)];
        let r = net.forward(&params, &x, &mut out, &mut ws);
        let fshape_ok = p_len == param_len && batch.is_some_and(|b| out_len == b * dl);
        match (fshape_ok, r) {
            (false, Err(Error::ShapeMismatch { .. } | Error::PartialRow { .. })) => {}
            (true, Err(Error::WorkspaceTooSmall { needed, len, .. })) => {
                assert_eq!((Some(needed), len), (fneed, ws.len()));
                assert!(len < needed);
            }
            (true, Ok(())) => {
                assert!(ws.len() >= fneed.unwrap());
                for (e, o) in x.chunks_exact(d0).zip(out.chunks_exact(dl)) {
                    if let Some((want, err)) = reference(&net, &params, e) {
                        for j in 0..dl {
                            let diff = (o[j] as f64 - want[j]).abs();
                            assert!(
                                diff <= err[j],
                                "forward {sizes:?} {acts:?} bias {bias}: out {j} = {}, want {}, bound {}",
                                o[j],
                                want[j],
                                err[j]
                            );
                        }
                    }
                }
            }
            (ok, r) => panic!("forward {sizes:?} (shapes ok: {ok}): unexpected {r:?}"),
        }

        // train_step
        let need = batch.map(|b| Mlp::workspace_len(&sizes, b));
        let ws_len = len_around(u, need, 1 << 20);
        let mut ws = vec![f32::NAN; ws_len];
        let before = params.clone();
        let r = net.train_step(&mut params, &x, &y, lr, &mut ws);
        match r {
            Err(e) => {
                assert!(bits_eq(&params, &before), "train_step changed params on {e:?}");
                match e {
                    Error::NonFinite { what: "learning rate" } => assert!(!lr.is_finite()),
                    Error::InvalidArgument { .. } => assert!(lr < 0.0),
                    Error::ShapeMismatch { .. } | Error::PartialRow { .. } => {
                        assert!(lr >= 0.0 && !shape_ok)
                    }
                    Error::WorkspaceTooSmall { needed, len, .. } => {
                        assert!(lr >= 0.0 && shape_ok);
                        assert_eq!((Some(needed), len), (need, ws_len));
                        assert!(len < needed);
                    }
                    Error::NonFinite { .. } => {
                        assert!(lr.is_finite() && shape_ok && ws_len >= need.unwrap());
                        assert!(!moderate, "NonFinite on moderate data: {sizes:?} {acts:?}");
                    }
                    e => panic!("train_step: unexpected {e:?}"),
                }
            }
            Ok(loss) => {
                assert!(lr >= 0.0 && lr.is_finite() && shape_ok && ws_len >= need.unwrap());
                assert!(loss.is_finite(), "train_step returned loss {loss}");
                // The same loss from loss_and_grad on the parameters before the step.
                let mut grads = vec![f32::NAN; param_len];
                let mut ws = vec![f32::NAN; ws_len];
                let l2 = net.loss_and_grad(&before, &x, &y, &mut grads, &mut ws);
                assert_eq!(l2.map(f32::to_bits), Ok(loss.to_bits()), "loss_and_grad vs train_step");
                if moderate {
                    assert!(grads.iter().all(|g| g.is_finite()), "non-finite gradient on moderate data");
                }
                // The loss against the f64 forward pass.
                let (mut want, mut bound) = (0.0f64, 0.0f64);
                let mut usable = true;
                for (e, t) in x.chunks_exact(d0).zip(y.chunks_exact(dl)) {
                    match reference(&net, &before, e) {
                        Some((o, err)) => {
                            for j in 0..dl {
                                let d = o[j] - t[j] as f64;
                                want += d * d;
                                bound += 2.0 * d.abs() * err[j] + err[j] * err[j];
                            }
                        }
                        None => usable = false,
                    }
                }
                if usable && want < 1e30 {
                    let bound = bound + (n * dl + 4) as f64 * 2.0 * f32::EPSILON as f64 * want + 1e-37;
                    assert!(
                        (loss as f64 - want).abs() <= bound,
                        "loss {loss}, f64 {want}, bound {bound}"
                    );
                }
            }
        }

        // loss_and_grad with a possibly wrong gradient buffer: never panics, errors only
        // the documented ones.
        let g_len = len_around(u, Some(param_len), 4096);
        let mut grads = vec![0.0f32; g_len];
        let mut ws = vec![f32::NAN; ws_len];
        match net.loss_and_grad(&before, &x, &y, &mut grads, &mut ws) {
            Ok(loss) => assert!(loss.is_finite() && g_len == param_len && shape_ok),
            Err(Error::ShapeMismatch { .. } | Error::PartialRow { .. }) => {
                assert!(g_len != param_len || !shape_ok)
            }
            Err(Error::WorkspaceTooSmall { needed, .. }) => assert_eq!(Some(needed), need),
            Err(Error::NonFinite { .. }) => assert!(!moderate),
            Err(e) => panic!("loss_and_grad: unexpected {e:?}"),
        }
    })
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    run(&mut u);
});
