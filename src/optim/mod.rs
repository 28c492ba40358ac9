//! Parameter updates and bias kernels.

use crate::activation::{AddFn, Lanewise2, check_len, map2};
use crate::simd::{Isa, Simd, WithSimd, dispatch};
use crate::{Error, MatMut, MatRef};

/// Plain gradient descent: `params[i] −= lr · grads[i]` (the lecture's `w1 -= 1e-4 * grad_w1`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::NonFinite`] if `lr` is NaN or
/// infinite; nothing is written then. Non-finite gradients are applied as given.
pub fn sgd_update(params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_sgd("sgd_update: grads.len() != params.len()", params, grads, lr)?;
    let p = params.as_mut_ptr();
    // SAFETY: both slices hold `params.len()` elements; `params` is read before written.
    unsafe { sgd_raw(Isa::active(), p, grads.as_ptr(), lr, params.len()) };
    Ok(())
}

/// The checks [`sgd_update`] and its scalar reference share: equal lengths, finite `lr`.
fn check_sgd(what: &'static str, params: &[f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_len(what, params.len(), grads.len())?;
    if !lr.is_finite() {
        return Err(Error::NonFinite {
            what: "learning rate",
        });
    }
    Ok(())
}

/// The scalar reference of [`sgd_update`] (`params[i] −= lr · grads[i]`, one rounding
/// per operation, no fused multiply-add).
///
/// # Errors
/// As [`sgd_update`]: nothing is written on an error.
pub fn sgd_update_scalar(params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_sgd(
        "sgd_update_scalar: grads.len() != params.len()",
        params,
        grads,
        lr,
    )?;
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
    Ok(())
}

/// # Safety
/// `params` readable and writable, `grads` readable, for `n` values.
pub(crate) unsafe fn sgd_raw(isa: Isa, params: *mut f32, grads: *const f32, lr: f32, n: usize) {
    dispatch(
        isa,
        Sgd {
            params,
            grads,
            lr,
            n,
        },
    )
}

/// The arguments of [`sgd_raw`]; built only there, so they meet its safety contract.
struct Sgd {
    params: *mut f32,
    grads: *const f32,
    lr: f32,
    n: usize,
}

impl WithSimd for Sgd {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let p = self.params;
        let f = Axpy { alpha: -self.lr };
        // SAFETY: the fields satisfy `sgd_raw`'s contract (built only there).
        unsafe { map2(s, self.grads, p, p, self.n, f) }
    }
}

/// `g·alpha + p`, lanewise.
#[derive(Clone, Copy)]
struct Axpy {
    alpha: f32,
}

impl Lanewise2 for Axpy {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, g: S::V, p: S::V) -> S::V {
        s.mul_add(g, s.splat(self.alpha), p)
    }
}

/// Adds `bias[j]` to every element of column `j`: `x[i][j] += bias[j]`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `bias.len() != x.cols()` (nothing is written).
pub fn bias_add(mut x: MatMut<'_>, bias: &[f32]) -> Result<(), Error> {
    check_len("bias_add: bias.len() != x.cols()", x.cols(), bias.len())?;
    let (rows, cols, rs, cs) = (x.rows(), x.cols(), x.row_stride(), x.col_stride());
    let p = x.ptr_mut();
    // SAFETY: the view guarantees every (i, j) in range is writable; bias has `cols` values.
    unsafe { bias_add_raw(Isa::active(), p, rows, cols, rs, cs, bias.as_ptr()) };
    Ok(())
}

/// # Safety
/// Every `x + i·rs + j·cs` for `i < rows`, `j < cols` writable and distinct; `bias` readable
/// for `cols` values.
pub(crate) unsafe fn bias_add_raw(
    isa: Isa,
    x: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    bias: *const f32,
) {
    // An empty view may have any number of rows (`usize::MAX × 0` is valid: looping
    // over them would never end) and any row stride (offsetting `x` by it would be UB).
    if rows == 0 || cols == 0 {
        return;
    }
    if cs == 1 {
        dispatch(
            isa,
            BiasAddRows {
                x,
                rows,
                cols,
                rs,
                bias,
            },
        );
    } else {
        for i in 0..rows {
            for j in 0..cols {
                // SAFETY: (i, j) is inside the view and j < cols (caller).
                unsafe { *x.add(i * rs + j * cs) += *bias.add(j) };
            }
        }
    }
}

/// [`bias_add_raw`] with contiguous rows; built only there, so it meets its contract.
struct BiasAddRows {
    x: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    bias: *const f32,
}

impl WithSimd for BiasAddRows {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        for i in 0..self.rows {
            // SAFETY: row `i` holds `cols` contiguous writable values, `bias` `cols`
            // readable ones (the contract of `bias_add_raw` with `cs == 1`).
            unsafe {
                let row = self.x.add(i * self.rs);
                map2(s, row, self.bias, row, self.cols, AddFn);
            }
        }
    }
}

/// The bias gradient: column sums `db[j] = Σᵢ g[i][j]` (overwrites `db`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `db.len() != g.cols()` (nothing is written).
pub fn bias_grad(g: MatRef<'_>, db: &mut [f32]) -> Result<(), Error> {
    check_len("bias_grad: db.len() != g.cols()", g.cols(), db.len())?;
    // SAFETY: the view guarantees every (i, j) in range is readable; db has `cols` values.
    unsafe {
        colsum_raw(
            Isa::active(),
            g.ptr(),
            g.rows(),
            g.cols(),
            g.row_stride(),
            g.col_stride(),
            db.as_mut_ptr(),
        )
    };
    Ok(())
}

/// `out[j] = Σᵢ g[i][j]` (`out` is overwritten, never read).
///
/// # Safety
/// Every `g + i·rs + j·cs` readable; `out` writable for `cols` values, disjoint from `g`.
pub(crate) unsafe fn colsum_raw(
    isa: Isa,
    g: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    out: *mut f32,
) {
    if cols == 0 {
        // Nothing to sum, and offsetting `g` to rows of an empty view could be UB.
        return;
    }
    // SAFETY: every index stays inside the caller's ranges: `j < cols` for `out`, and
    // `(i, j)` with `i < rows`, `j < cols` for `g` (contiguous rows read `cols` values).
    unsafe {
        core::ptr::write_bytes(out, 0, cols);
        // As in `bias_add_raw`: no endless loop over the rows of an empty view.
        if rows == 0 {
            return;
        }
        if cs != 1 {
            for i in 0..rows {
                let row = g.add(i * rs);
                for j in 0..cols {
                    *out.add(j) += *row.add(j * cs);
                }
            }
            return;
        }
    }
    dispatch(
        isa,
        ColsumRows {
            g,
            rows,
            cols,
            rs,
            out,
        },
    )
}

/// The accumulation of [`colsum_raw`] with contiguous rows; built only there, so it meets
/// its contract.
struct ColsumRows {
    g: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    out: *mut f32,
}

impl WithSimd for ColsumRows {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        for i in 0..self.rows {
            // SAFETY: row `i` of `g` holds `cols` contiguous readable values, `out` `cols`
            // writable ones disjoint from `g` (the contract of `colsum_raw` with `cs == 1`).
            unsafe {
                let row = self.g.add(i * self.rs);
                map2(s, row, self.out, self.out, self.cols, AddFn);
            }
        }
    }
}

/// Whether every value of `v` is finite (no NaN, no ±∞): the check [`crate::nn::Mlp`]
/// runs on its inputs, activations and deltas before it updates any parameter.
pub(crate) fn all_finite(isa: Isa, v: &[f32]) -> bool {
    dispatch(
        isa,
        AllFinite {
            p: v.as_ptr(),
            n: v.len(),
        },
    )
}

/// The scalar reference of [`all_finite`].
#[cfg(test)]
fn all_finite_scalar(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// The arguments of [`all_finite`]: `p` readable for `n` values (built only there, from a
/// slice).
struct AllFinite {
    p: *const f32,
    n: usize,
}

impl WithSimd for AllFinite {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> bool {
        // `x − x` is 0 for a finite `x` and NaN for NaN or ±∞, and a NaN survives every
        // later addition: the sum is NaN exactly when some value is not finite. Four
        // accumulators hide the addition latency; no branch per value.
        let AllFinite { p, n } = self;
        let mut acc = [s.splat(0.0); 4];
        let mut i = 0;
        // SAFETY: every load reads below `n` (the loop bounds), and `p` holds `n` values.
        unsafe {
            while i + 4 * S::LANES <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    let v = s.load(p.add(i + j * S::LANES));
                    *a = s.add(*a, s.sub(v, v));
                }
                i += 4 * S::LANES;
            }
            while i + S::LANES <= n {
                let v = s.load(p.add(i));
                acc[0] = s.add(acc[0], s.sub(v, v));
                i += S::LANES;
            }
            if i < n {
                let v = s.load_partial(p.add(i), n - i);
                acc[0] = s.add(acc[0], s.sub(v, v));
            }
        }
        let sum = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
        !s.reduce_add(sum).is_nan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_finite_matches_scalar_on_every_isa() {
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN];
        // Under Miri: empty, partial, one, four (the unrolled loop) and more vectors.
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 7, 8, 9, 32, 33, 41]
        } else {
            &[
                0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 69, 70,
            ]
        };
        for isa in Isa::ALL.iter().copied().filter(|i| i.is_supported()) {
            for &n in lens {
                let clean: [f32; 70] = core::array::from_fn(|i| (i as f32 - 35.0) * 9e36);
                let v = &clean[..n];
                assert!(all_finite(isa, v), "{isa:?} n={n}");
                for bad in 0..n {
                    for sp in specials {
                        let mut w = clean;
                        w[bad] = sp;
                        let got = all_finite(isa, &w[..n]);
                        assert_eq!(got, all_finite_scalar(&w[..n]), "{isa:?} n={n} at {bad}");
                        assert!(!got);
                    }
                }
            }
        }
    }
}
