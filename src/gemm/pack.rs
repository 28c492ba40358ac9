//! Packing: copies a block of A or B into the workspace in the order the microkernel
//! reads it, zero-padding the last strip so the kernel never needs a bounds check.

use crate::simd::Simd;

/// Packs the `mc × kc` block of A at `a` (element `(i, p)` at `a + i·rs + p·cs`) into
/// `ceil(mc / MR)` strips; strip `s` holds, for each `p`, the `MR` values
/// `A[s·MR .. s·MR + MR][p]` (zeros past `mc`).
///
/// # Safety
/// Every `(i, p)` with `i < mc`, `p < kc` readable; `dst` writable for
/// `ceil(mc / MR)·MR·kc` values and disjoint from A.
#[inline(always)]
pub(crate) unsafe fn pack_a<S: Simd, const MR: usize>(
    s: S,
    mc: usize,
    kc: usize,
    a: *const f32,
    rs: usize,
    cs: usize,
    dst: *mut f32,
) {
    if kc == 0 {
        // Nothing to pack, and A may be empty (a dangling pointer): offsetting it is UB.
        return;
    }
    let mut d = dst;
    let mut i0 = 0;
    // SAFETY: reads stay in the `mc × kc` block; writes are exactly
    // `ceil(mc/MR)·MR·kc` values from `dst`.
    unsafe {
        while i0 < mc {
            let rows = if mc - i0 < MR { mc - i0 } else { MR };
            let base = a.add(i0 * rs);
            if rows == MR && rs == 1 && S::LANES > 1 {
                // A transposed view (the updates' xᵀ): each step's MR values are
                // contiguous.
                for p in 0..kc {
                    core::ptr::copy_nonoverlapping(base.add(p * cs), d, MR);
                    d = d.add(MR);
                }
            } else if rows == MR && cs == 1 && S::LANES > 1 {
                // Row-major A: LANES steps at a time by a vector transpose, then the rest
                // value by value.
                let mut p = 0;
                while p + S::LANES <= kc {
                    s.transpose_rows::<MR>(base.add(p), rs, d);
                    d = d.add(MR * S::LANES);
                    p += S::LANES;
                }
                while p < kc {
                    for i in 0..MR {
                        *d.add(i) = *base.add(i * rs + p);
                    }
                    d = d.add(MR);
                    p += 1;
                }
            } else if rows == MR {
                for p in 0..kc {
                    let col = base.add(p * cs);
                    for i in 0..MR {
                        *d.add(i) = *col.add(i * rs);
                    }
                    d = d.add(MR);
                }
            } else {
                for p in 0..kc {
                    let col = base.add(p * cs);
                    for i in 0..MR {
                        *d.add(i) = if i < rows { *col.add(i * rs) } else { 0.0 };
                    }
                    d = d.add(MR);
                }
            }
            i0 += MR;
        }
    }
}

/// Packs the `kc × nc` panel of B at `b` (element `(p, j)` at `b + p·rs + j·cs`) into
/// `ceil(nc / nr)` strips; strip `s` holds, for each `p`, the `nr` values
/// `B[p][s·nr .. s·nr + nr]` (zeros past `nc`).
///
/// # Safety
/// Every `(p, j)` with `p < kc`, `j < nc` readable; `dst` writable for
/// `ceil(nc / nr)·nr·kc` values and disjoint from B.
#[inline(always)]
pub(crate) unsafe fn pack_b(
    kc: usize,
    nc: usize,
    b: *const f32,
    rs: usize,
    cs: usize,
    dst: *mut f32,
    nr: usize,
) {
    if kc == 0 {
        // Nothing to pack, and B may be empty (a dangling pointer): offsetting it is UB.
        return;
    }
    let mut d = dst;
    let mut j0 = 0;
    // SAFETY: reads stay in the `kc × nc` panel; writes are exactly
    // `ceil(nc/nr)·nr·kc` values from `dst`.
    unsafe {
        while j0 < nc {
            let cols = if nc - j0 < nr { nc - j0 } else { nr };
            let base = b.add(j0 * cs);
            if cols == nr && cs == 1 {
                for p in 0..kc {
                    core::ptr::copy_nonoverlapping(base.add(p * rs), d, nr);
                    d = d.add(nr);
                }
            } else {
                for p in 0..kc {
                    let row = base.add(p * rs);
                    for j in 0..nr {
                        *d.add(j) = if j < cols { *row.add(j * cs) } else { 0.0 };
                    }
                    d = d.add(nr);
                }
            }
            j0 += nr;
        }
    }
}

/// Packs the `k × n` matrix B at `b` (element `(p, j)` at `b + p·rs + j·cs`) transposed:
/// row `j < n_pad` of the result holds `B[0..k][j]` followed by zeros up to `k_pad`
/// values; rows `n..n_pad` are all zeros.
///
/// # Safety
/// Every `(p, j)` with `p < k`, `j < n` readable; `dst` writable for `n_pad·k_pad` values
/// and disjoint from B; `n ≤ n_pad`, `k ≤ k_pad`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pack_bt(
    k: usize,
    n: usize,
    b: *const f32,
    rs: usize,
    cs: usize,
    dst: *mut f32,
    k_pad: usize,
    n_pad: usize,
) {
    // SAFETY: reads are (p, j) with p < k, j < n; writes stay in n_pad·k_pad values.
    unsafe {
        // Row by row of the result: contiguous writes, reads `rs` apart (B is small).
        for j in 0..n {
            let col = b.add(j * cs);
            let d = dst.add(j * k_pad);
            for p in 0..k {
                *d.add(p) = *col.add(p * rs);
            }
        }
        for j in 0..n_pad {
            let from = if j < n { k } else { 0 };
            for p in from..k_pad {
                *dst.add(j * k_pad + p) = 0.0;
            }
        }
    }
}
