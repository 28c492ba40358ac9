//! The squared-error loss fused with its gradient.

use crate::Error;
use crate::activation::check_len;
use crate::simd::{Isa, Simd, WithSimd, dispatch};

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

#[inline(always)]
unsafe fn squared_error_body<S: Simd>(
    s: S,
    pred: *const f32,
    target: *const f32,
    grad: *mut f32,
    n: usize,
) -> f32 {
    let two = s.splat(2.0);
    let mut acc = s.splat(0.0);
    let mut i = 0;
    // SAFETY: every access is below `n` (see `activation::map1`).
    unsafe {
        while i + S::LANES <= n {
            let d = s.sub(s.load(pred.add(i)), s.load(target.add(i)));
            s.store(grad.add(i), s.mul(two, d));
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
            s.store_partial(grad.add(i), s.mul(two, d), r);
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
        SquaredError {
            pred,
            target,
            grad,
            n,
        },
    )
}

/// The arguments of [`squared_error_raw`]; built only there, so they meet its contract.
struct SquaredError {
    pred: *const f32,
    target: *const f32,
    grad: *mut f32,
    n: usize,
}

impl WithSimd for SquaredError {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        // SAFETY: the fields satisfy `squared_error_raw`'s contract (built only there).
        unsafe { squared_error_body(s, self.pred, self.target, self.grad, self.n) }
    }
}
