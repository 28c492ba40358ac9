//! Packing: copies a block of A or B into the workspace in the order the microkernel
//! reads it, zero-padding the last strip so the kernel never needs a bounds check.

/// Packs the `mc × kc` block of A at `a` (element `(i, p)` at `a + i·rs + p·cs`) into
/// `ceil(mc / MR)` strips; strip `s` holds, for each `p`, the `MR` values
/// `A[s·MR .. s·MR + MR][p]` (zeros past `mc`).
///
/// # Safety
/// Every `(i, p)` with `i < mc`, `p < kc` readable; `dst` writable for
/// `ceil(mc / MR)·MR·kc` values and disjoint from A.
#[inline(always)]
pub(crate) unsafe fn pack_a<const MR: usize>(
    mc: usize,
    kc: usize,
    a: *const f32,
    rs: usize,
    cs: usize,
    dst: *mut f32,
) {
    let mut d = dst;
    let mut i0 = 0;
    // SAFETY: reads stay in the `mc × kc` block; writes are exactly
    // `ceil(mc/MR)·MR·kc` values from `dst`.
    unsafe {
        while i0 < mc {
            let rows = if mc - i0 < MR { mc - i0 } else { MR };
            let base = a.add(i0 * rs);
            if rows == MR {
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
