//! The dot product kernel.

use crate::Error;
use crate::error::check_len;
use crate::simd::{Isa, Simd, WithSimd, dispatch};

/// `Σ a[i]·b[i]`, vectorized (lanes accumulate separately, then are summed; fused
/// multiply-add where the instruction set has it).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, Error> {
    check_len("dot: b.len() != a.len()", a.len(), b.len())?;
    Ok(dispatch(
        Isa::active(),
        Dot {
            a: a.as_ptr(),
            b: b.as_ptr(),
            n: a.len(),
        },
    ))
}

/// The dot kernel's arguments: `a` and `b` readable for `n` values (built only in [`dot`]
/// from two slices of length `n`).
struct Dot {
    a: *const f32,
    b: *const f32,
    n: usize,
}

impl WithSimd for Dot {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let Dot { a, b, n } = self;
        let mut acc = s.splat(0.0);
        let mut i = 0;
        // SAFETY: `a` and `b` hold `n` values; every access is below `n`.
        unsafe {
            while i + S::LANES <= n {
                acc = s.mul_add(s.load(a.add(i)), s.load(b.add(i)), acc);
                i += S::LANES;
            }
            if i < n {
                let r = n - i;
                acc = s.mul_add(
                    s.load_partial(a.add(i), r),
                    s.load_partial(b.add(i), r),
                    acc,
                );
            }
        }
        s.reduce_add(acc)
    }
}
