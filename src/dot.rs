//! The dot product kernel.

use crate::Error;
use crate::activation::check_len;
use crate::simd::{Isa, Simd, dispatch};

/// `Σ a[i]·b[i]`, vectorized (lanes accumulate separately, then are summed).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, Error> {
    check_len("dot: b.len() != a.len()", a.len(), b.len())?;
    let (pa, pb, n) = (a.as_ptr(), b.as_ptr(), a.len());
    Ok(dispatch!(Isa::active(), s => {
        let mut acc = s.splat(0.0);
        let mut i = 0;
        // SAFETY: both slices hold `n` values; every access is below `n`.
        unsafe {
            while i + s_lanes(s) <= n {
                acc = s.mul_add(s.load(pa.add(i)), s.load(pb.add(i)), acc);
                i += s_lanes(s);
            }
            if i < n {
                let r = n - i;
                acc = s.mul_add(s.load_partial(pa.add(i), r), s.load_partial(pb.add(i), r), acc);
            }
        }
        s.reduce_add(acc)
    }))
}

#[inline(always)]
fn s_lanes<S: Simd>(_: S) -> usize {
    S::LANES
}
