//! The squared-error losses fused with their gradients: [`Loss::SumSquared`] (the lecture's
//! [`squared_error`]) and [`Loss::MeanSquared`], one kernel for both.

use crate::Error;
use crate::error::check_len;
use crate::simd::{Isa, Simd, WithSimd, dispatch};

#[cfg(doc)]
use super::Loss;

/// Returns `Σ (pred[i] − target[i])²` and writes `grad[i] = 2 (pred[i] − target[i])` in the
/// same pass (the lecture's `loss` and `grad_y_pred`).
///
/// The sum is accumulated in f32 vector lanes, then across lanes; a NaN or infinite
/// input makes the loss NaN or infinite (and the gradient alike), it is not an error here.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the three lengths differ (nothing is written).
///
/// ```
/// let mut g = [0.0f32; 2];
/// let loss = microprop::squared_error(&[1.0, 3.0], &[0.0, 1.0], &mut g)?;
/// assert_eq!((loss, g), (5.0, [2.0, 4.0]));
/// # Ok::<(), microprop::Error>(())
/// ```
pub fn squared_error(pred: &[f32], target: &[f32], grad: &mut [f32]) -> Result<f32, Error> {
    check_len(
        "squared_error: target.len() != pred.len()",
        pred.len(),
        target.len(),
    )?;
    check_len(
        "squared_error: grad.len() != pred.len()",
        pred.len(),
        grad.len(),
    )?;
    // SAFETY: all three slices hold `pred.len()` elements.
    Ok(unsafe {
        squared_error_raw(
            Isa::active(),
            pred.as_ptr(),
            target.as_ptr(),
            grad.as_mut_ptr(),
            pred.len(),
        )
    })
}

/// The scalar reference of [`squared_error`]: one running f32 sum in index order.
///
/// # Errors
/// As [`squared_error`]: [`Error::ShapeMismatch`] if the three lengths differ (nothing is
/// written).
pub fn squared_error_scalar(pred: &[f32], target: &[f32], grad: &mut [f32]) -> Result<f32, Error> {
    check_len(
        "squared_error_scalar: target.len() != pred.len()",
        pred.len(),
        target.len(),
    )?;
    check_len(
        "squared_error_scalar: grad.len() != pred.len()",
        pred.len(),
        grad.len(),
    )?;
    let mut sum = 0.0f32;
    for ((p, y), g) in pred.iter().zip(target).zip(grad.iter_mut()) {
        let d = p - y;
        *g = 2.0 * d;
        sum += d * d;
    }
    Ok(sum)
}

/// `Σ (pred − target)²`, and `grad = scale·(pred − target)` if `GRAD`.
///
/// # Safety
/// `pred`, `target` readable for `n` values; if `GRAD`, `grad` writable for `n` values and
/// equal to or disjoint from each input (unused otherwise).
#[inline(always)]
unsafe fn squared_error_body<S: Simd, const GRAD: bool>(
    s: S,
    pred: *const f32,
    target: *const f32,
    grad: *mut f32,
    n: usize,
    scale: f32,
) -> f32 {
    let scale = s.splat(scale);
    let mut acc = s.splat(0.0);
    let mut i = 0;
    // SAFETY: every access is below `n` (see `activation::map1`).
    unsafe {
        while i + S::LANES <= n {
            let d = s.sub(s.load(pred.add(i)), s.load(target.add(i)));
            if GRAD {
                s.store(grad.add(i), s.mul(scale, d));
            }
            acc = s.mul_add(d, d, acc);
            i += S::LANES;
        }
        if i < n {
            let r = n - i;
            // Zero-filled lanes give d = 0 and add nothing.
            let d = s.sub(
                s.load_partial(pred.add(i), r),
                s.load_partial(target.add(i), r),
            );
            if GRAD {
                s.store_partial(grad.add(i), s.mul(scale, d), r);
            }
            acc = s.mul_add(d, d, acc);
        }
    }
    s.reduce_add(acc)
}

/// # Safety
/// `pred`, `target` readable and `grad` writable for `n` values; `grad` equals or is
/// disjoint from each input.
pub(crate) unsafe fn squared_error_raw(
    isa: Isa,
    pred: *const f32,
    target: *const f32,
    grad: *mut f32,
    n: usize,
) -> f32 {
    dispatch(
        isa,
        SquaredError::<true> {
            pred,
            target,
            grad,
            n,
            scale: 2.0,
        },
    )
}

/// [`Loss::SumSquared`] (`grad = Some`: exactly [`squared_error_raw`]) or
/// [`Loss::MeanSquared`] over validated slices of one length.
pub(super) fn squared(
    isa: Isa,
    mean: bool,
    pred: &[f32],
    target: &[f32],
    grad: Option<&mut [f32]>,
) -> f32 {
    // The callers validate that the lengths agree; the shortest bounds every access
    // regardless, so no call can reach past a slice.
    let n = pred.len().min(target.len());
    let n = grad.as_deref().map_or(n, |g| n.min(g.len()));
    let (pred, target) = (pred.as_ptr(), target.as_ptr());
    // 2/(N·d) is the gradient's factor of the mean; the sum is divided by N·d once.
    let scale = if mean { 2.0 / n as f32 } else { 2.0 };
    let sum = match grad {
        // Every slice holds at least `n` values (above); `grad` is a distinct `&mut`.
        Some(g) => dispatch(
            isa,
            SquaredError::<true> {
                pred,
                target,
                grad: g.as_mut_ptr(),
                n,
                scale,
            },
        ),
        None => dispatch(
            isa,
            SquaredError::<false> {
                pred,
                target,
                grad: core::ptr::null_mut(),
                n,
                scale,
            },
        ),
    };
    if mean && n > 0 { sum / n as f32 } else { sum }
}

/// The scalar reference of [`squared`]: [`squared_error_scalar`]'s loop, with the mean's
/// factors.
pub(super) fn squared_scalar(mean: bool, pred: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    let n = pred.len();
    let scale = if mean { 2.0 / n as f32 } else { 2.0 };
    let mut sum = 0.0f32;
    for ((p, y), g) in pred.iter().zip(target).zip(grad.iter_mut()) {
        let d = p - y;
        *g = scale * d;
        sum += d * d;
    }
    if mean && n > 0 { sum / n as f32 } else { sum }
}

/// The arguments of [`squared_error_body`]; built only in this file, from pointers that meet
/// its contract (`grad` is used only if `GRAD`).
struct SquaredError<const GRAD: bool> {
    pred: *const f32,
    target: *const f32,
    grad: *mut f32,
    n: usize,
    scale: f32,
}

impl<const GRAD: bool> WithSimd for SquaredError<GRAD> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        // SAFETY: the fields satisfy `squared_error_body`'s contract (built only here).
        unsafe {
            squared_error_body::<S, GRAD>(s, self.pred, self.target, self.grad, self.n, self.scale)
        }
    }
}
