//! [`Loss::SoftmaxCrossEntropy`] on logits: one vector kernel, its scalar reference beside it.
//!
//! Per row `z` (length `d`) with target probabilities `p` (a label `l` is the one-hot
//! `p = e_l`), by log-sum-exp with the row maximum `m` subtracted:
//!
//! * `s = Σ_j e^{z_j − m}` (`≥ 1`: the maximum contributes `e^0 = 1`, so `ln s` is finite),
//! * `ℓ = −Σ_j p_j·ln softmax_j = ln s · Σ_j p_j − Σ_j p_j (z_j − m)`; for a label
//!   `ℓ = ln s − (z_l − m)`,
//! * `∂ℓ/∂z_k = softmax_k · Σ_j p_j − p_k` (`softmax_k − p_k` when the row sums to 1).
//!
//! The loss is the mean of `ℓ` over the `N` rows, the gradient that of the mean (each row's
//! divided by `N`). Only differences `z_j − m ≤ 0` are exponentiated, so logits of any
//! finite size are safe; `z_j − m < −87.33654` gives `e = +0` in the vector kernel.
//!
//! Passes per row: the maximum; `e^{z_j − m}` (stored into the gradient row), `s`, `Σ p`
//! and `Σ p (z − m)` together; then one `libm::logf` and, for the gradient, a scaling pass
//! over the stored exponentials. A row of one-hot probabilities gives the same bits as its
//! label (the gradient is formed as `e·c − p/N` without a fused multiply-add for that).

use super::Target;
use super::math::{exp_nonpos, keep_first, load_from, max_v, reduce_max, store_to};
use crate::simd::{Isa, Simd, WithSimd, dispatch};

#[cfg(doc)]
use super::Loss;

/// The mean softmax cross-entropy of `z` (`N × d`, validated: labels `< d`, `p` and `grad`
/// of `z`'s length, `N ≥ 1`), its gradient into `grad` if given.
pub(super) fn softmax_ce(
    isa: Isa,
    z: &[f32],
    d: usize,
    target: Target<'_>,
    grad: Option<&mut [f32]>,
) -> f32 {
    match (target, grad) {
        (Target::Values(p), Some(g)) => {
            dispatch(isa, SoftmaxCe::<true, true> { z, d, p, l: &[], g })
        }
        (Target::Values(p), None) => dispatch(
            isa,
            SoftmaxCe::<false, true> {
                z,
                d,
                p,
                l: &[],
                g: &mut [],
            },
        ),
        (Target::Classes(l), Some(g)) => {
            dispatch(isa, SoftmaxCe::<true, false> { z, d, p: &[], l, g })
        }
        (Target::Classes(l), None) => dispatch(
            isa,
            SoftmaxCe::<false, false> {
                z,
                d,
                p: &[],
                l,
                g: &mut [],
            },
        ),
    }
}

/// The kernel's arguments: probabilities `p` if `PROBS`, else labels `l`; the gradient `g`
/// if `GRAD` (else empty).
struct SoftmaxCe<'a, const GRAD: bool, const PROBS: bool> {
    z: &'a [f32],
    d: usize,
    p: &'a [f32],
    l: &'a [u32],
    g: &'a mut [f32],
}

impl<const GRAD: bool, const PROBS: bool> WithSimd for SoftmaxCe<'_, GRAD, PROBS> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let d = self.d;
        let rows = self.z.len().checked_div(d).unwrap_or(0);
        let inv_n = 1.0 / rows as f32;
        let mut total = 0.0f32;
        for r in 0..rows {
            let span = r * d..r * d + d;
            let z = self.z.get(span.clone()).unwrap_or(&[]);
            let p = if PROBS {
                self.p.get(span.clone()).unwrap_or(&[])
            } else {
                &[]
            };
            let g = if GRAD {
                self.g.get_mut(span).unwrap_or(&mut [])
            } else {
                &mut []
            };
            total += row::<S, GRAD, PROBS>(s, z, p, self.l.get(r).copied(), g, inv_n);
        }
        total / rows as f32
    }
}

/// The largest value of a non-empty `z` (a NaN may be skipped; it shows up in `e^{z − m}`).
#[inline(always)]
fn row_max<S: Simd>(s: S, z: &[f32]) -> f32 {
    let Some(&z0) = z.first() else { return 0.0 };
    let mut acc = s.splat(z0);
    let full = z.len() - z.len() % S::LANES;
    let mut i = 0;
    while i < full {
        acc = max_v(s, acc, load_from(s, z, i));
        i += S::LANES;
    }
    if i < z.len() {
        // The zero fill is replaced by the running maximum, which changes nothing.
        let v = keep_first(s, load_from(s, z, i), z.len() - i, acc);
        acc = max_v(s, acc, v);
    }
    reduce_max(s, acc)
}

/// One row's loss `ℓ`; its gradient divided by `N` (`inv_n = 1/N`) into `g` if `GRAD`.
#[inline(always)]
fn row<S: Simd, const GRAD: bool, const PROBS: bool>(
    s: S,
    z: &[f32],
    p: &[f32],
    label: Option<u32>,
    g: &mut [f32],
    inv_n: f32,
) -> f32 {
    let m = row_max(s, z);
    let (mm, zero) = (s.splat(m), s.splat(0.0));
    let (mut se, mut sp, mut spx) = (zero, zero, zero);
    let mut i = 0;
    while i < z.len() {
        let mut x = s.sub(load_from(s, z, i), mm);
        let r = z.len() - i;
        if r < S::LANES {
            x = keep_first(s, x, r, zero);
        }
        let mut e = exp_nonpos(s, x);
        if r < S::LANES {
            e = keep_first(s, e, r, zero);
        }
        se = s.add(se, e);
        if GRAD {
            store_to(s, g, i, e);
        }
        if PROBS {
            let pv = load_from(s, p, i);
            sp = s.add(sp, pv);
            spx = s.mul_add(pv, x, spx);
        }
        i += S::LANES;
    }
    let se = s.reduce_add(se);
    let ln_s = libm::logf(se);
    if PROBS {
        let sp = s.reduce_add(sp);
        if GRAD {
            let c = s.splat(sp * inv_n / se);
            let inv = s.splat(inv_n);
            let mut i = 0;
            while i < g.len() {
                let v = s.sub(s.mul(load_from(s, g, i), c), s.mul(load_from(s, p, i), inv));
                store_to(s, g, i, v);
                i += S::LANES;
            }
        }
        ln_s * sp - s.reduce_add(spx)
    } else {
        let l = label.map_or(usize::MAX, |l| l as usize);
        if GRAD {
            let c = s.splat(inv_n / se);
            let mut i = 0;
            while i < g.len() {
                let v = s.mul(load_from(s, g, i), c);
                store_to(s, g, i, v);
                i += S::LANES;
            }
            if let Some(gl) = g.get_mut(l) {
                *gl -= inv_n;
            }
        }
        ln_s - (z.get(l).copied().unwrap_or(f32::NAN) - m)
    }
}

/// The scalar reference of [`softmax_ce`]: the same formulas, one `f32` at a time in index
/// order, `libm::expf` and `libm::logf`.
pub(super) fn softmax_ce_scalar(z: &[f32], d: usize, target: Target<'_>, grad: &mut [f32]) -> f32 {
    let rows = z.len().checked_div(d).unwrap_or(0);
    let inv_n = 1.0 / rows as f32;
    let mut total = 0.0f32;
    for r in 0..rows {
        let span = r * d..r * d + d;
        let zr = z.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span.clone()).unwrap_or(&mut []);
        let mut m = zr.first().copied().unwrap_or(0.0);
        for &v in zr {
            if v > m {
                m = v;
            }
        }
        let mut se = 0.0f32;
        for (gj, &zj) in g.iter_mut().zip(zr) {
            let e = libm::expf(zj - m);
            *gj = e;
            se += e;
        }
        let ln_s = libm::logf(se);
        total += match target {
            Target::Values(p) => {
                let p = p.get(span).unwrap_or(&[]);
                let (mut sp, mut spx) = (0.0f32, 0.0f32);
                for (&pj, &zj) in p.iter().zip(zr) {
                    sp += pj;
                    spx += pj * (zj - m);
                }
                let c = sp * inv_n / se;
                for (gj, &pj) in g.iter_mut().zip(p) {
                    *gj = *gj * c - pj * inv_n;
                }
                ln_s * sp - spx
            }
            Target::Classes(labels) => {
                let l = labels.get(r).map_or(usize::MAX, |&l| l as usize);
                let c = inv_n / se;
                for gj in g.iter_mut() {
                    *gj *= c;
                }
                if let Some(gl) = g.get_mut(l) {
                    *gl -= inv_n;
                }
                ln_s - (zr.get(l).copied().unwrap_or(f32::NAN) - m)
            }
        };
    }
    total / rows as f32
}
