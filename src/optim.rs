//! Parameter updates and bias kernels.

use crate::activation::{check_len, map2};
use crate::simd::{Isa, Simd, dispatch};
use crate::{Error, MatMut, MatRef};

/// Plain gradient descent: `params[i] −= lr · grads[i]` (the lecture's `w1 -= 1e-4 * grad_w1`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::NonFinite`] if `lr` is NaN or
/// infinite; nothing is written then. Non-finite gradients are applied as given.
pub fn sgd_update(params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_len(
        "sgd_update: grads.len() != params.len()",
        params.len(),
        grads.len(),
    )?;
    if !lr.is_finite() {
        return Err(Error::NonFinite {
            what: "learning rate",
        });
    }
    let p = params.as_mut_ptr();
    // SAFETY: both slices hold `params.len()` elements; `params` is read before written.
    unsafe { sgd_raw(Isa::active(), p, grads.as_ptr(), lr, params.len()) };
    Ok(())
}

/// The scalar reference of [`sgd_update`].
pub fn sgd_update_scalar(params: &mut [f32], grads: &[f32], lr: f32) {
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
}

/// # Safety
/// `params` readable and writable, `grads` readable, for `n` values.
pub(crate) unsafe fn sgd_raw(isa: Isa, params: *mut f32, grads: *const f32, lr: f32, n: usize) {
    dispatch!(isa, s => {
        let neg_lr = s.splat(-lr);
        // SAFETY: forwarded from the caller.
        unsafe { map2(s, grads, params, params, n, |g, p| s.mul_add(g, neg_lr, p)) }
    })
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
    for i in 0..rows {
        // SAFETY: rows are inside the view (caller); contiguous rows take the vector path.
        unsafe {
            let row = x.add(i * rs);
            if cs == 1 {
                dispatch!(isa, s => map2(s, row, bias, row, cols, |a, b| s.add(a, b)));
            } else {
                for j in 0..cols {
                    *row.add(j * cs) += *bias.add(j);
                }
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
            0.0,
        )
    };
    Ok(())
}

/// `out[j] = beta·out[j] + Σᵢ g[i][j]` (with `beta == 0`, `out` is not read).
///
/// # Safety
/// Every `g + i·rs + j·cs` readable; `out` writable for `cols` values, disjoint from `g`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn colsum_raw(
    isa: Isa,
    g: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    out: *mut f32,
    beta: f32,
) {
    // SAFETY: every index stays inside the caller's ranges: `j < cols` for `out`, and
    // `(i, j)` with `i < rows`, `j < cols` for `g` (contiguous rows read `cols` values).
    unsafe {
        if beta == 0.0 {
            core::ptr::write_bytes(out, 0, cols);
        } else if beta != 1.0 {
            for j in 0..cols {
                *out.add(j) *= beta;
            }
        }
        for i in 0..rows {
            let row = g.add(i * rs);
            if cs == 1 {
                dispatch!(isa, s => map2(s, row, out, out, cols, |a, b| s.add(a, b)));
            } else {
                for j in 0..cols {
                    *out.add(j) += *row.add(j * cs);
                }
            }
        }
    }
}
