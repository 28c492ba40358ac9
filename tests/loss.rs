//! The losses: every `Loss` on every instruction set against its scalar reference over
//! every length, gradients against central finite differences of f64 implementations,
//! extreme logits, probability targets against labels, every bad input (with `grad`
//! untouched), and no allocation.
//!
//! Tolerances, vector kernel against the scalar reference (they differ in summation order
//! and in `e^x`/`ln`: polynomials against `libm`):
//! * `SumSquared`, `MeanSquared` gradients: bit-exact (same arithmetic); `SumSquared` is
//!   bit-identical to `squared_error`.
//! * loss values: `|Δ| ≤ 4·10⁻⁶·max(1, |L|)` (means) and `(n + 1)·ε·L` for the sum.
//! * cross-entropy gradients: `|Δ| ≤ 8·10⁻⁷ / N` (softmax), `/ (N·d)` (binary), i.e. about
//!   7 ULP of the largest possible gradient element (measured: 3.9·10⁻⁷, 1.8·10⁻⁷).
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::simd::Isa;
use microprop::{Error, Loss, Target, squared_error};
use rand::RngExt;
use rand::rngs::StdRng;

// ---- a minimal counting allocator (per thread) ----

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

// ---- inputs ----

/// Output widths (fewer under Miri).
const DS: &[usize] = if cfg!(miri) {
    &[1, 3, 10]
} else {
    &[1, 2, 3, 10, 17]
};

/// An owned target of the kind `loss` takes (labels for softmax when `labels`).
enum Owned {
    Values(Vec<f32>),
    Classes(Vec<u32>),
}

impl Owned {
    fn target(&self) -> Target<'_> {
        match self {
            Owned::Values(v) => Target::Values(v),
            Owned::Classes(c) => Target::Classes(c),
        }
    }
}

/// Outputs (logits in [-4, 4), larger for the cross-entropies) and a matching target.
fn case(rng: &mut StdRng, loss: Loss, n: usize, d: usize, labels: bool) -> (Vec<f32>, Owned) {
    let spread = match loss {
        Loss::SoftmaxCrossEntropy | Loss::BinaryCrossEntropy => 8.0,
        _ => 2.0,
    };
    let out: Vec<f32> = (0..n * d)
        .map(|_| rng.random_range(-spread..spread))
        .collect();
    let target = match loss {
        Loss::SoftmaxCrossEntropy if labels => {
            Owned::Classes((0..n).map(|_| rng.random_range(0..d as u32)).collect())
        }
        Loss::SoftmaxCrossEntropy => {
            let mut p: Vec<f32> = (0..n * d).map(|_| rng.random_range(0.0f32..1.0)).collect();
            for row in p.chunks_mut(d) {
                let s: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= s);
            }
            Owned::Values(p)
        }
        // Half 0/1 labels, half probabilities.
        Loss::BinaryCrossEntropy => Owned::Values(
            (0..n * d)
                .map(|i| {
                    if i % 2 == 0 {
                        f32::from(rng.random_bool(0.5))
                    } else {
                        rng.random_range(0.0..1.0)
                    }
                })
                .collect(),
        ),
        _ => Owned::Values(fill(rng, n * d)),
    };
    (out, target)
}

/// Every (loss, labels?) pair: softmax twice, with labels and with probabilities.
fn kinds() -> Vec<(Loss, bool)> {
    let mut k: Vec<(Loss, bool)> = Loss::ALL.iter().map(|&l| (l, false)).collect();
    k.push((Loss::SoftmaxCrossEntropy, true));
    k
}

fn rows_for(len: usize, d: usize) -> usize {
    len.div_ceil(d)
}

// ---- f64 references (independent formulas where they differ) ----

fn loss_f64(loss: Loss, out: &[f64], d: usize, target: &Owned) -> f64 {
    let n = out.len() / d;
    if n == 0 {
        return 0.0;
    }
    let nd = out.len() as f64;
    match (loss, target) {
        (Loss::SumSquared, Owned::Values(y)) => out
            .iter()
            .zip(y)
            .map(|(&a, &y)| (a - y as f64).powi(2))
            .sum(),
        (Loss::MeanSquared, Owned::Values(y)) => {
            out.iter()
                .zip(y)
                .map(|(&a, &y)| (a - y as f64).powi(2))
                .sum::<f64>()
                / nd
        }
        (Loss::SoftmaxCrossEntropy, t) => {
            let mut total = 0.0;
            for r in 0..n {
                let z = &out[r * d..r * d + d];
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
                total += match t {
                    Owned::Classes(l) => lse - z[l[r] as usize],
                    Owned::Values(p) => (0..d).map(|j| -(p[r * d + j] as f64) * (z[j] - lse)).sum(),
                };
            }
            total / n as f64
        }
        (Loss::BinaryCrossEntropy, Owned::Values(y)) => {
            out.iter()
                .zip(y)
                .map(|(&z, &y)| {
                    let y = y as f64;
                    // −y ln σ(z) − (1 − y) ln(1 − σ(z)), with ln σ(z) = −ln(1 + e^{−z}).
                    y * (-z).exp().ln_1p() + (1.0 - y) * z.exp().ln_1p()
                })
                .sum::<f64>()
                / nd
        }
        _ => unreachable!(),
    }
}

// ---- tests ----

#[test]
fn every_loss_on_every_isa_matches_its_scalar_reference() {
    let mut rng = rng(8);
    let mut worst = vec![(0.0f64, 0.0f64); kinds().len()];
    for_each_isa(|isa| {
        for (k, &(loss, labels)) in kinds().iter().enumerate() {
            for &d in DS {
                for len in lengths_light() {
                    let n = rows_for(len, d);
                    let ctx = format!("{loss:?} labels={labels} [{}] N={n} d={d}", isa.name());
                    let (out, t) = case(&mut rng, loss, n, d, labels);
                    let mut want = vec![f32::NAN; n * d];
                    let want_loss = loss
                        .loss_and_grad_scalar(&out, d, t.target(), &mut want)
                        .unwrap();
                    let mut grad = vec![f32::NAN; n * d];
                    let got_loss = loss.loss_and_grad(&out, d, t.target(), &mut grad).unwrap();
                    // The value alone: the same arithmetic, the same bits.
                    let alone = loss.loss(&out, d, t.target()).unwrap();
                    assert_eq!(alone.to_bits(), got_loss.to_bits(), "{ctx}: loss()");
                    assert!(got_loss.is_finite(), "{ctx}: loss {got_loss}");

                    // Loss value.
                    let dl = (got_loss as f64 - want_loss as f64).abs();
                    let tol = if loss == Loss::SumSquared {
                        (n * d + 1) as f64 * f32::EPSILON as f64 * want_loss as f64 + 1e-30
                    } else {
                        4e-6 * (want_loss.abs() as f64).max(1.0)
                    };
                    assert!(dl <= tol, "{ctx}: loss {got_loss} vs {want_loss}");
                    worst[k].0 = worst[k].0.max(dl / (want_loss.abs() as f64).max(1.0));

                    // Gradient: every element overwritten (the NaN poison gone).
                    let scale = match loss {
                        Loss::SoftmaxCrossEntropy => 1.0 / n as f64,
                        _ => 1.0 / (n * d) as f64,
                    };
                    for (i, (&g, &w)) in grad.iter().zip(&want).enumerate() {
                        assert!(
                            g.is_finite() && w.is_finite(),
                            "{ctx}: grad[{i}] = {g}, {w}"
                        );
                        match loss {
                            Loss::SumSquared | Loss::MeanSquared => {
                                assert_eq!(g.to_bits(), w.to_bits(), "{ctx}: grad[{i}]")
                            }
                            _ => {
                                let e = (g as f64 - w as f64).abs() / scale;
                                assert!(e <= 8e-7, "{ctx}: grad[{i}] {g} vs {w} ({e:e}·scale)");
                                worst[k].1 = worst[k].1.max(e);
                            }
                        }
                    }
                }
            }
        }
    });
    for (&(loss, labels), w) in kinds().iter().zip(&worst) {
        println!(
            "{loss:?} labels={labels}: worst loss {:.2e} (relative), grad {:.2e} (of 1/N or 1/(N·d))",
            w.0, w.1
        );
    }
}

#[test]
fn scalar_reference_and_kernels_agree_with_f64() {
    let mut rng = rng(9);
    for_each_isa(|isa| {
        for &(loss, labels) in &kinds() {
            for &d in DS {
                let n = if cfg!(miri) { 3 } else { 40 };
                let (out, t) = case(&mut rng, loss, n, d, labels);
                let out64: Vec<f64> = out.iter().map(|&v| v as f64).collect();
                let exact = loss_f64(loss, &out64, d, &t);
                let mut g = vec![0.0; n * d];
                let fast = loss.loss_and_grad(&out, d, t.target(), &mut g).unwrap() as f64;
                let slow = loss
                    .loss_and_grad_scalar(&out, d, t.target(), &mut g)
                    .unwrap() as f64;
                let tol = 2e-6 * exact.abs().max(1.0);
                let ctx = format!("{loss:?} labels={labels} [{}] d={d}", isa.name());
                assert!((fast - exact).abs() <= tol, "{ctx}: {fast} vs f64 {exact}");
                assert!(
                    (slow - exact).abs() <= tol,
                    "{ctx}: scalar {slow} vs f64 {exact}"
                );
            }
        }
    });
}

#[test]
fn gradients_match_central_differences_of_f64_references() {
    let mut rng = rng(10);
    let shapes: &[(usize, usize)] = if cfg!(miri) {
        &[(2, 3)]
    } else {
        &[(1, 1), (3, 1), (2, 3), (4, 5), (3, 17)]
    };
    for_each_isa(|isa| {
        for &(loss, labels) in &kinds() {
            for &(n, d) in shapes {
                let (out, t) = case(&mut rng, loss, n, d, labels);
                let mut grad = vec![f32::NAN; n * d];
                loss.loss_and_grad(&out, d, t.target(), &mut grad).unwrap();
                let mut x: Vec<f64> = out.iter().map(|&v| v as f64).collect();
                let h = 1e-5;
                for i in 0..n * d {
                    let x0 = x[i];
                    x[i] = x0 + h;
                    let up = loss_f64(loss, &x, d, &t);
                    x[i] = x0 - h;
                    let down = loss_f64(loss, &x, d, &t);
                    x[i] = x0;
                    let fd = (up - down) / (2.0 * h);
                    let g = grad[i] as f64;
                    assert!(
                        (g - fd).abs() <= 1e-6 + 1e-4 * fd.abs(),
                        "{loss:?} labels={labels} [{}] N={n} d={d} i={i}: {g} vs {fd}",
                        isa.name()
                    );
                }
            }
        }
    });
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    const D: usize = 4;
    // Rows: one huge winner; two tied huge; all equal and huge; a mixture near ±1e4; all
    // huge negative; moderate values next to a huge one.
    let z: Vec<f32> = vec![
        1e4, -1e4, 0.0, 1.0, //
        1e4, 1e4, -1e4, -1e4, //
        1e4, 1e4, 1e4, 1e4, //
        1e4, 9_999.0, -9_999.0, -1e4, //
        -1e4, -1e4, -1e4, -9_998.0, //
        -1e4, 3.0, -2.0, 0.5, //
    ];
    let n = z.len() / D;
    let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    for labels in [[0u32, 1, 2, 1, 3, 0], [1, 2, 3, 0, 0, 3]] {
        let t = Owned::Classes(labels.to_vec());
        let exact = loss_f64(Loss::SoftmaxCrossEntropy, &z64, D, &t);
        // The exact gradient: (softmax − onehot)/N.
        let mut want = vec![0.0f64; z.len()];
        for r in 0..n {
            let row = &z64[r * D..r * D + D];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
            for j in 0..D {
                let onehot = f64::from(labels[r] as usize == j);
                want[r * D + j] = (((row[j] - m).exp() / s) - onehot) / n as f64;
            }
        }
        let check = |name: &str, l: f32, g: &[f32]| {
            assert!(l.is_finite(), "{name}: loss {l}");
            assert!(
                (l as f64 - exact).abs() <= 1e-6 * exact.abs().max(1.0),
                "{name}: loss {l} vs {exact}"
            );
            for (i, (&g, &w)) in g.iter().zip(&want).enumerate() {
                assert!((g as f64 - w).abs() <= 1e-7, "{name}: grad[{i}] {g} vs {w}");
            }
        };
        for_each_isa(|isa| {
            let mut g = vec![f32::NAN; z.len()];
            let l = Loss::SoftmaxCrossEntropy
                .loss_and_grad(&z, D, t.target(), &mut g)
                .unwrap();
            check(isa.name(), l, &g);
        });
        let mut g = vec![f32::NAN; z.len()];
        let l = Loss::SoftmaxCrossEntropy
            .loss_and_grad_scalar(&z, D, t.target(), &mut g)
            .unwrap();
        check("scalar reference", l, &g);
        // A confident wrong answer costs its full margin (about 1e4 for row 5, label 0).
        assert!(exact > 1e4 / n as f64);
    }
}

#[test]
fn binary_cross_entropy_is_stable_for_huge_logits() {
    let z = [
        1e4f32, -1e4, 1e4, -1e4, 100.0, -100.0, 88.0, -88.0, 87.0, -87.0, 0.0, 20.0,
    ];
    let y = [
        1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.25, 0.9,
    ];
    let nd = z.len() as f64;
    for_each_isa(|isa| {
        let mut g = vec![f32::NAN; z.len()];
        let l = Loss::BinaryCrossEntropy
            .loss_and_grad(&z, 1, Target::Values(&y), &mut g)
            .unwrap();
        let mut exact = 0.0f64;
        for (i, (&z, &y)) in z.iter().zip(&y).enumerate() {
            let (z, y) = (z as f64, y as f64);
            exact += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            let sig = 1.0 / (1.0 + (-z).exp());
            let want = (sig - y) / nd;
            assert!(
                (g[i] as f64 - want).abs() <= 1e-7,
                "[{}] grad[{i}] {} vs {want}",
                isa.name(),
                g[i]
            );
        }
        exact /= nd;
        assert!(
            (l as f64 - exact).abs() <= 1e-6 * exact,
            "[{}] {l} vs {exact}",
            isa.name()
        );
    });
}

#[test]
fn probability_targets_give_the_bits_of_one_hot_labels() {
    let mut rng = rng(11);
    for_each_isa(|isa| {
        for &d in DS {
            for len in lengths_light() {
                let n = rows_for(len, d);
                let (z, labels) = case(&mut rng, Loss::SoftmaxCrossEntropy, n, d, true);
                let Owned::Classes(labels) = labels else {
                    unreachable!()
                };
                let mut p = vec![0.0f32; n * d];
                for (r, &l) in labels.iter().enumerate() {
                    p[r * d + l as usize] = 1.0;
                }
                let sm = Loss::SoftmaxCrossEntropy;
                let mut ga = vec![f32::NAN; n * d];
                let mut gb = vec![f32::NAN; n * d];
                let a = sm.loss_and_grad(&z, d, Target::Classes(&labels), &mut ga);
                let b = sm.loss_and_grad(&z, d, Target::Values(&p), &mut gb);
                let ctx = format!("[{}] N={n} d={d}", isa.name());
                assert_eq!(a.unwrap().to_bits(), b.unwrap().to_bits(), "{ctx}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&ga), bits(&gb), "{ctx}");
                let a = sm.loss_and_grad_scalar(&z, d, Target::Classes(&labels), &mut ga);
                let b = sm.loss_and_grad_scalar(&z, d, Target::Values(&p), &mut gb);
                assert_eq!(a.unwrap().to_bits(), b.unwrap().to_bits(), "{ctx} scalar");
                assert_eq!(bits(&ga), bits(&gb), "{ctx} scalar");
            }
        }
    });
}

#[test]
fn sum_squared_is_bit_identical_to_squared_error() {
    let mut rng = rng(12);
    for_each_isa(|isa| {
        for len in lengths_light() {
            let a = fill(&mut rng, len);
            let y = fill(&mut rng, len);
            let mut g1 = vec![f32::NAN; len];
            let mut g2 = vec![f32::NAN; len];
            let l1 = squared_error(&a, &y, &mut g1).unwrap();
            let l2 = Loss::SumSquared
                .loss_and_grad(&a, 1, Target::Values(&y), &mut g2)
                .unwrap();
            assert_eq!(l1.to_bits(), l2.to_bits(), "[{}] n={len}", isa.name());
            assert!(
                g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits()),
                "[{}] n={len}",
                isa.name()
            );
        }
    });
}

#[test]
fn mean_squared_and_bce_match_pytorch_examples() {
    // torch.nn.functional.mse_loss(tensor([1., 3.]), tensor([0., 1.])) = 2.5
    let mut g = [0.0f32; 2];
    let l = Loss::MeanSquared.loss_and_grad(&[1.0, 3.0], 1, Target::Values(&[0.0, 1.0]), &mut g);
    assert_eq!((l, g), (Ok(2.5), [1.0, 2.0]));
    // binary_cross_entropy_with_logits(tensor([0.]), tensor([1.])) = ln 2, grad −0.5
    let l = Loss::BinaryCrossEntropy.loss_and_grad(&[0.0], 1, Target::Values(&[1.0]), &mut g[..1]);
    assert!((l.unwrap() - core::f32::consts::LN_2).abs() <= f32::EPSILON);
    assert_eq!(g[0], -0.5);
    // cross_entropy(tensor([[0., 0.]]), tensor([1])) = ln 2, grad [0.5, −0.5]
    let l = Loss::SoftmaxCrossEntropy.loss_and_grad(&[0.0, 0.0], 2, Target::Classes(&[1]), &mut g);
    assert!((l.unwrap() - core::f32::consts::LN_2).abs() <= f32::EPSILON);
    assert_eq!(g, [0.5, -0.5]);
}

#[test]
fn empty_batch_is_zero_and_writes_nothing() {
    for &loss in Loss::ALL {
        for d in [1, 3] {
            let mut g: [f32; 0] = [];
            assert_eq!(
                loss.loss_and_grad(&[], d, Target::Values(&[]), &mut g),
                Ok(0.0)
            );
            assert_eq!(
                loss.loss_and_grad_scalar(&[], d, Target::Values(&[]), &mut g),
                Ok(0.0)
            );
            assert_eq!(loss.loss(&[], d, Target::Values(&[])), Ok(0.0));
        }
    }
    assert_eq!(
        Loss::SoftmaxCrossEntropy.loss(&[], 4, Target::Classes(&[])),
        Ok(0.0)
    );
}

#[test]
fn nan_and_infinity_propagate() {
    for_each_isa(|isa| {
        for &loss in Loss::ALL {
            for bad in [f32::NAN, f32::INFINITY] {
                let out = [0.5, bad, -0.25, 1.0, 0.0, 2.0];
                let y = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
                let mut g = [0.0f32; 6];
                let l = loss
                    .loss_and_grad(&out, 3, Target::Values(&y), &mut g)
                    .unwrap();
                assert!(!l.is_finite(), "{loss:?} [{}] {bad}: {l}", isa.name());
                // A NaN reaches the gradient too. (An infinite logit may have a finite,
                // correct gradient: σ(+inf) − 1 = 0 for binary cross-entropy.)
                assert!(
                    !bad.is_nan() || g[1].is_nan(),
                    "{loss:?} [{}]: {g:?}",
                    isa.name()
                );
            }
        }
    });
}

const SENTINEL: f32 = -1234.5;

/// `f` must fail with `want` and leave the sentinel gradient bit-identical, for the vector
/// kernel, the scalar reference and (without the gradient check) `loss`.
fn rejects(
    loss: Loss,
    out: &[f32],
    d: usize,
    t: Target<'_>,
    glen: usize,
    want: impl Fn(&Error) -> bool,
) {
    let ctx = format!("{loss:?} out={} d={d} t={t:?} grad={glen}", out.len());
    let mut g = vec![SENTINEL; glen];
    let e = loss.loss_and_grad(out, d, t, &mut g).unwrap_err();
    assert!(want(&e), "{ctx}: {e:?}");
    assert!(
        g.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
        "{ctx}: grad written"
    );
    let e = loss.loss_and_grad_scalar(out, d, t, &mut g).unwrap_err();
    assert!(want(&e), "{ctx}: scalar {e:?}");
    assert!(
        g.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
        "{ctx}: scalar grad written"
    );
    if glen == out.len() {
        assert!(want(&loss.loss(out, d, t).unwrap_err()), "{ctx}: loss()");
    }
    // Every error says what to fix in words.
    assert!(e.to_string().len() > 20, "{ctx}: {e}");
}

fn shape(what: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::ShapeMismatch { what: w, .. } if w.contains(what))
}

#[test]
fn bad_inputs_are_rejected_before_anything_is_written() {
    let out = [0.5f32; 6];
    let y = [0.0f32; 6];
    for &loss in Loss::ALL {
        // d = 0, and out not a multiple of d.
        rejects(
            loss,
            &out,
            0,
            Target::Values(&y),
            6,
            shape("d (outputs per row)"),
        );
        rejects(loss, &out, 4, Target::Values(&y), 6, |e| {
            matches!(e, Error::PartialRow { len: 6, row: 4, .. })
        });
        rejects(
            loss,
            &[],
            0,
            Target::Values(&[]),
            0,
            shape("d (outputs per row)"),
        );
        // Target and grad lengths.
        rejects(
            loss,
            &out,
            3,
            Target::Values(&y[..5]),
            6,
            shape("y must be N x d"),
        );
        rejects(
            loss,
            &out,
            3,
            Target::Values(&[0.0; 7]),
            6,
            shape("y must be N x d"),
        );
        rejects(loss, &out, 3, Target::Values(&y), 5, shape("grad"));
        rejects(loss, &out, 3, Target::Values(&y), 7, shape("grad"));
        if loss == Loss::SoftmaxCrossEntropy {
            rejects(
                loss,
                &out,
                3,
                Target::Classes(&[0]),
                6,
                shape("labels must be N"),
            );
            rejects(
                loss,
                &out,
                3,
                Target::Classes(&[0, 1, 2]),
                6,
                shape("labels must be N"),
            );
            rejects(loss, &out, 3, Target::Classes(&[0, 1]), 5, shape("grad"));
            for (labels, index, label) in [([3u32, 0], 0, 3), ([2, u32::MAX], 1, u32::MAX)] {
                rejects(loss, &out, 3, Target::Classes(&labels), 6, |e| {
                    *e == Error::LabelOutOfRange {
                        index,
                        label,
                        classes: 3,
                    }
                });
            }
        } else {
            // Labels belong to softmax cross-entropy only (checked before their length).
            for labels in [&[0u32, 1][..], &[0], &[7, 7]] {
                rejects(
                    loss,
                    &out,
                    3,
                    Target::Classes(labels),
                    6,
                    |e| matches!(e, Error::InvalidArgument { what } if what.contains("SoftmaxCrossEntropy")),
                );
            }
        }
    }
    let msg = Error::LabelOutOfRange {
        index: 4,
        label: 10,
        classes: 10,
    }
    .to_string();
    assert!(
        msg.contains("label 10") && msg.contains("index 4") && msg.contains("0..10"),
        "{msg}"
    );
}

#[test]
fn losses_allocate_nothing() {
    let _ = Isa::detected();
    let mut rng = rng(13);
    let (n, d) = if cfg!(miri) { (3, 5) } else { (64, 10) };
    let cases: Vec<_> = kinds()
        .into_iter()
        .map(|(loss, labels)| (loss, case(&mut rng, loss, n, d, labels)))
        .collect();
    let mut grad = vec![0.0f32; n * d];
    for_each_isa(|isa| {
        let count = common::alloc::count_allocs(|| {
            for (loss, (out, t)) in &cases {
                let t = t.target();
                loss.loss_and_grad(out, d, t, &mut grad).unwrap();
                loss.loss_and_grad_scalar(out, d, t, &mut grad).unwrap();
                loss.loss(out, d, t).unwrap();
            }
        });
        assert_eq!(count, 0, "[{}]", isa.name());
    });
}
