//! [`Loss::BinaryCrossEntropy`] with logits: one vector kernel, its scalar reference beside
//! it.
//!
//! Per element, logit `z` and target `y` (a 0/1 label or a probability):
//!
//! * `ℓ = −y·ln σ(z) − (1 − y)·ln(1 − σ(z)) = max(z, 0) − z·y + ln(1 + e^{−|z|})`, the form
//!   that never overflows and never takes the logarithm of a rounded `σ` (PyTorch's
//!   `binary_cross_entropy_with_logits`),
//! * `∂ℓ/∂z = σ(z) − y`, with `σ(z)` from the same `e = e^{−|z|}`: `1/(1 + e)` for `z ≥ 0`,
//!   `e/(1 + e)` below.
//!
//! The loss is the mean over all `N·d` elements, the gradient that of the mean (divided by
//! `N·d`). In the vector kernel `e` is `exp_neg` with `|z|` clamped and flushed to `+0`
//! where it would be subnormal (`|z| > 87.33654`), and `ln(1 + e)` is the vectorized
//! `log1p_unit` (worst 0.84 ULP over every `t ∈ [0, 1]`, see `simd/math.rs`).

use super::math::{keep_first, load_from, store_to};
use crate::simd::math::{exp_nonpos, log1p_unit, relu_v};
use crate::simd::{Isa, Simd, WithSimd, dispatch};

#[cfg(doc)]
use super::Loss;

/// The mean binary cross-entropy of logits `z` against `y` (validated: one length, not
/// empty), its gradient into `grad` if given.
pub(super) fn bce(isa: Isa, z: &[f32], y: &[f32], grad: Option<&mut [f32]>) -> f32 {
    let sum = match grad {
        Some(g) => dispatch(isa, Bce::<true> { z, y, g }),
        None => dispatch(isa, Bce::<false> { z, y, g: &mut [] }),
    };
    sum / z.len() as f32
}

/// The kernel's arguments; the gradient `g` is written if `GRAD` (else empty).
struct Bce<'a, const GRAD: bool> {
    z: &'a [f32],
    y: &'a [f32],
    g: &'a mut [f32],
}

impl<const GRAD: bool> WithSimd for Bce<'_, GRAD> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let n = self.z.len();
        let inv = s.splat(1.0 / n as f32);
        let (zero, one) = (s.splat(0.0), s.splat(1.0));
        let mut acc = zero;
        let mut i = 0;
        while i < n {
            let z = load_from(s, self.z, i);
            let y = load_from(s, self.y, i);
            let a = s.abs(z);
            let e = exp_nonpos(s, s.sub(zero, a));
            // max(z, 0) − z·y + ln(1 + e)
            let mut l = s.add(s.mul_add(s.sub(zero, z), y, relu_v(s, z)), log1p_unit(s, e));
            let r = n - i;
            if r < S::LANES {
                // The zero-filled lanes would add ln 2 each.
                l = keep_first(s, l, r, zero);
            }
            acc = s.add(acc, l);
            if GRAD {
                let q = s.recip_fast(s.add(one, e));
                let sig = s.lt_select(z, zero, s.mul(e, q), q);
                store_to(s, self.g, i, s.mul(s.sub(sig, y), inv));
            }
            i += S::LANES;
        }
        s.reduce_add(acc)
    }
}

/// The scalar reference of [`bce`]: the same formulas, one `f32` at a time in index order,
/// `libm::expf` and `libm::log1pf`.
pub(super) fn bce_scalar(z: &[f32], y: &[f32], grad: &mut [f32]) -> f32 {
    let n = z.len();
    let inv = 1.0 / n as f32;
    let mut sum = 0.0f32;
    for ((&z, &y), g) in z.iter().zip(y).zip(grad.iter_mut()) {
        let e = libm::expf(-z.abs());
        let relu = if z > 0.0 { z } else { 0.0 };
        sum += relu - z * y + libm::log1pf(e);
        let sig = if z < 0.0 {
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + e)
        };
        *g = (sig - y) * inv;
    }
    sum / n as f32
}
