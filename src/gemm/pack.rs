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
            } else if rows == MR && MR == 4 && S::LANES == 1 {
                // The scalar tile's four rows written out (at opt-level "s" LLVM keeps the
                // loop below rolled: six instructions a value).
                for p in 0..kc {
                    let col = base.add(p * cs);
                    *d = *col;
                    *d.add(1) = *col.add(rs);
                    *d.add(2) = *col.add(2 * rs);
                    *d.add(3) = *col.add(3 * rs);
                    d = d.add(4);
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
                // (Strided: the columns and the zero padding in two loops; one loop with a
                // test per value compiled, on AVX2, to a compare against a spilled `cols` per
                // value. Contiguous: one loop, which LLVM vectorizes.)
                for p in 0..kc {
                    let row = base.add(p * rs);
                    if cs == 1 {
                        for j in 0..nr {
                            *d.add(j) = if j < cols { *row.add(j) } else { 0.0 };
                        }
                    } else {
                        for j in 0..cols {
                            *d.add(j) = *row.add(j * cs);
                        }
                        for j in cols..nr {
                            *d.add(j) = 0.0;
                        }
                    }
                    d = d.add(nr);
                }
            }
            j0 += nr;
        }
    }
}

/// [`pack_b`] for a transposed view (`rs = 1`, like `Δ·w2ᵀ`) on a backend whose
/// [`Simd::transpose_rows`]`::<8>` is vector code (`bt_transpose` in `tiles.rs`): the same
/// packed strips, built by [`pack_bt_strip`].
///
/// # Safety
/// As for [`pack_b`] with `rs = 1`, and every value from `b` up to `end` (B's slice)
/// readable: a column is read a vector at a time, which may run past its `kc` values
/// into the next; `nr` a multiple of 8.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pack_b_transposed<S: Simd>(
    s: S,
    kc: usize,
    nc: usize,
    b: *const f32,
    cs: usize,
    dst: *mut f32,
    nr: usize,
    end: *const f32,
) {
    if kc == 0 {
        // Nothing to pack, and B may be empty (a dangling pointer): offsetting it is UB.
        return;
    }
    let mut j0 = 0;
    // SAFETY: each strip's reads stay in the `kc × nc` panel or end by `end`; writes are
    // exactly `ceil(nc/nr)·nr·kc` values from `dst` (caller).
    unsafe {
        while j0 < nc {
            let cols = if nc - j0 < nr { nc - j0 } else { nr };
            pack_bt_strip(
                s,
                kc,
                cols,
                b.add(j0 * cs),
                cs,
                dst.add(j0 / nr * nr * kc),
                nr,
                end,
            );
            j0 += nr;
        }
    }
}

/// One strip of [`pack_b`] for a transposed view (`rs = 1`, `Δ·w2ᵀ`): its columns are
/// contiguous, so groups of `T` columns are transposed `LANES` steps at a time with
/// vectors ([`Simd::transpose_rows`]) where the reads stay inside B's slice, value by
/// value elsewhere (and past `cols`: zeros).
///
/// # Safety
/// As for [`pack_b_transposed`], for the strip at `base` (`cols ≤ nr` columns, `cs` apart) and `d`
/// (`kc·nr` values); `nr` a multiple of `T`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_bt_strip<S: Simd>(
    s: S,
    kc: usize,
    cols: usize,
    base: *const f32,
    cs: usize,
    d: *mut f32,
    nr: usize,
    end: *const f32,
) {
    debug_assert!(nr.is_multiple_of(T));
    // SAFETY: vector reads end at `last ≤ end` (inside B's slice); scalar reads are at
    // p < kc, j < cols; writes at p < kc, j < nr of the strip (caller).
    unsafe {
        // A transposed view (`Δ·w2ᵀ`): its columns are contiguous, so groups of
        // `T` columns are transposed `LANES` steps at a time with vectors
        // ([`Simd::transpose_rows`]) where the reads stay inside B's slice, value
        // by value elsewhere (and past `cols`: zeros).
        let mut tmp = [0.0f32; T * crate::simd::MAX_LANES];
        for g in 0..nr / T {
            let j0 = g * T;
            let mut p0 = 0;
            while p0 < kc {
                let steps = if kc - p0 < S::LANES {
                    kc - p0
                } else {
                    S::LANES
                };
                let src = base.wrapping_add(j0 * cs + p0);
                let last = src.wrapping_add((T - 1) * cs + S::LANES);
                if j0 + T <= cols && last.addr() <= end.addr() {
                    s.transpose_rows::<T>(src, cs, tmp.as_mut_ptr());
                    for p in 0..steps {
                        core::ptr::copy_nonoverlapping(
                            tmp.as_ptr().add(p * T),
                            d.add((p0 + p) * nr + j0),
                            T,
                        );
                    }
                } else {
                    for p in 0..steps {
                        for j in 0..T {
                            *d.add((p0 + p) * nr + j0 + j) = if j0 + j < cols {
                                *src.add(j * cs + p)
                            } else {
                                0.0
                            };
                        }
                    }
                }
                p0 += steps;
            }
        }
    }
}

/// Columns per vector transpose of [`pack_b`] for a transposed B (the AVX-512 backend
/// transposes 8 rows in registers).
const T: usize = 8;

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
