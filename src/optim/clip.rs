//! Gradient clipping by global L2 norm (PyTorch's `torch.nn.utils.clip_grad_norm_`).
//!
//! The norm is taken over every gradient together, as if the slices were one vector:
//! `‖g‖ = √(Σ g²)`. If it exceeds `max_norm`, every gradient is multiplied by
//! `max_norm / (‖g‖ + 1e-6)` (`f32`, PyTorch's coefficient), so the clipped norm is
//! `max_norm` to rounding (slightly below; the 1e-6 matters only for norms not far above
//! 1e-6, which are clipped to noticeably less). The norm before clipping is returned, for
//! logging.
//!
//! Accuracy: each slice's sum of squares is accumulated in `f32` over several vector
//! lanes (relative error at most about `n·2⁻²⁴` for `n` values, far less in practice), the
//! slices' sums are added in `f64`. A sum of squares that overflows `f32` is recomputed
//! with every value scaled by 2⁻¹⁰⁰, one below 2⁻¹⁰⁰ with every value scaled by 2¹⁰⁰
//! (both exact), so any norm that fits in `f32` is found, however large or small.

use crate::Error;
use crate::activation::{Lanewise1, map1};
use crate::simd::{Isa, Simd, WithSimd, dispatch};

/// Clips one gradient slice to `max_norm`; see [`clip_grad_norm_slices`].
///
/// # Errors
/// As [`clip_grad_norm_slices`].
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> Result<f32, Error> {
    clip_grad_norm_slices(&mut [grads], max_norm)
}

/// Clips the gradients in `grads` (for example one slice per layer) to a global L2 norm
/// of at most `max_norm`, in place, and returns the norm they had before.
///
/// The gradients are scaled, by `max_norm / (norm + 1e-6)`, only if `norm > max_norm`;
/// otherwise they are left untouched. `max_norm = +∞` only computes the norm. No gradients
/// give norm 0.
///
/// # Errors
/// [`Error::NonFinite`] if `max_norm` is NaN, or if the norm is not finite (a gradient is
/// NaN or infinite, or the norm exceeds `f32::MAX`); [`Error::InvalidArgument`] if
/// `max_norm` is negative. Nothing is scaled then.
pub fn clip_grad_norm_slices(grads: &mut [&mut [f32]], max_norm: f32) -> Result<f32, Error> {
    if max_norm.is_nan() {
        return Err(Error::NonFinite {
            what: "clip_grad_norm: max_norm",
        });
    }
    if max_norm < 0.0 {
        return Err(Error::InvalidArgument {
            what: "clip_grad_norm: max_norm is negative",
        });
    }
    let isa = Isa::active();
    let mut total = 0.0f64;
    for g in grads.iter() {
        total += sum_squares(isa, g);
    }
    let norm = libm::sqrt(total);
    if norm.is_nan() || norm > f64::from(f32::MAX) {
        return Err(Error::NonFinite {
            what: "clip_grad_norm: the gradient norm (a gradient is NaN or infinite, or the norm overflows f32)",
        });
    }
    let norm = norm as f32;
    if norm > max_norm {
        let coef = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            dispatch(isa, ScaleAll { x: g, coef });
        }
    }
    Ok(norm)
}

/// `Σ g²` of one slice as `f64`: in `f32`, or with every value scaled by 2⁻¹⁰⁰ when that
/// overflows, by 2¹⁰⁰ when it is tiny (so that squares do not underflow). NaN if a value is
/// NaN, +∞ if one is infinite.
fn sum_squares(isa: Isa, g: &[f32]) -> f64 {
    // 2⁻¹⁰⁰ and 2¹⁰⁰ (exact powers of two: scaling by them is exact but for underflow).
    const DOWN: f32 = 7.888_609e-31; // 0x0d80_0000
    const UP: f32 = 1.267_650_6e30; // 0x7180_0000
    let s = dispatch(isa, SumSquares { x: g, scale: 1.0 });
    if s == f32::INFINITY {
        // Every scaled square is below 2²⁵⁶·2⁻²⁰⁰ = 2⁵⁶ and no slice holds 2⁶² values, so
        // this sum (< 2¹¹⁸) is finite for finite values. A scaled square that underflows
        // loses less than 2⁻¹⁴⁹, i.e. 2⁵¹ unscaled, per value: against a sum that
        // overflowed (≥ 2¹²⁸) that is below 2⁻²⁴ relative for any slice under 2⁵³ values.
        let s = dispatch(isa, SumSquares { x: g, scale: DOWN });
        f64::from(s) * libm::ldexp(1.0, 200)
    } else if s < DOWN {
        // Σ g² < 2⁻¹⁰⁰ (or squares underflowed): every |g| < 2⁻⁵⁰ up to values whose
        // squares underflowed, so the scaled squares sum to less than 2¹⁰⁰ + n·2⁵¹.
        let s = dispatch(isa, SumSquares { x: g, scale: UP });
        f64::from(s) * libm::ldexp(1.0, -200)
    } else {
        f64::from(s)
    }
}

/// `Σ (scale·x)²` over a slice, four vector accumulators.
struct SumSquares<'a> {
    x: &'a [f32],
    scale: f32,
}

impl WithSimd for SumSquares<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let (p, n) = (self.x.as_ptr(), self.x.len());
        let scale = s.splat(self.scale);
        let mut acc = [s.splat(0.0); 4];
        let mut i = 0;
        // SAFETY: every load reads below `n` (the loop bounds), and `p` holds `n` values.
        unsafe {
            while i + 4 * S::LANES <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    let v = s.mul(s.load(p.add(i + j * S::LANES)), scale);
                    *a = s.mul_add(v, v, *a);
                }
                i += 4 * S::LANES;
            }
            while i + S::LANES <= n {
                let v = s.mul(s.load(p.add(i)), scale);
                acc[0] = s.mul_add(v, v, acc[0]);
                i += S::LANES;
            }
            if i < n {
                let v = s.mul(s.load_partial(p.add(i), n - i), scale);
                acc[0] = s.mul_add(v, v, acc[0]);
            }
        }
        let sum = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
        s.reduce_add(sum)
    }
}

/// `x[i] ← coef·x[i]` in place.
struct ScaleAll<'a> {
    x: &'a mut [f32],
    coef: f32,
}

impl WithSimd for ScaleAll<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let (p, n) = (self.x.as_mut_ptr(), self.x.len());
        // SAFETY: `p` holds `n` readable and writable values; input and output coincide.
        unsafe { map1(s, p, p, n, Scale { coef: self.coef }) }
    }
}

/// `coef·x`, lanewise.
#[derive(Clone, Copy)]
struct Scale {
    coef: f32,
}

impl Lanewise1 for Scale {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
        s.mul(v, s.splat(self.coef))
    }
}
