//! The register-tile microkernel and its epilogue, written once over [`Simd`].

use super::epilogue::Epilogue;
use super::scalar::microkernel_1;
use super::tiles::{DOT_JN, TILE_MAX};
use crate::activation::{ActivationOp, ActivationVisitor, act_v, deriv_mul_v};
use crate::simd::{Simd, flush_tiny};

/// Lines the [`microkernel`] asks the cache for while its K loop runs, spread over the
/// loop (one row every few steps) so that the misses overlap the FMAs instead of
/// stalling them: the rows of C of the tile that comes next, and, when B is read in place,
/// a share of the rows of the next strip of B. Hints only: any address is fine.
#[derive(Clone, Copy)]
pub(crate) struct Prefetch {
    /// First row of the next tile of C (`MR` rows `c_rs` apart, `NR` values each), or null.
    pub(crate) c: *const f32,
    /// Row stride of C.
    pub(crate) c_rs: usize,
    /// First row of the share of the next B strip (`b_rows` rows `b_rs` apart), or null.
    pub(crate) b: *const f32,
    /// Row stride of B.
    pub(crate) b_rs: usize,
    /// Rows of B to prefetch (at most `kc / 2` are).
    pub(crate) b_rows: usize,
}

impl Prefetch {
    /// No prefetching.
    pub(crate) const NONE: Prefetch = Prefetch {
        c: core::ptr::null(),
        c_rs: 0,
        b: core::ptr::null(),
        b_rs: 0,
        b_rows: 0,
    };
}

/// Computes one `MR × NR` tile (`NR = NV·LANES`) of `A·B` from packed strips, then
/// `C ← α·AB + β·C` and the epilogue for the `rows × cols` part that lies inside C.
///
/// # Safety
/// `ap` readable for `MR·kc` values, `bp + p·b_step + j` for `p < kc`, `j < NR`; C's `rows × cols` elements at
/// `c + i·rs + j·cs` writable and distinct (and readable unless `beta == 0`); the
/// epilogue's pointers valid for the same tile (see [`Epilogue`]); `rows ≤ MR`,
/// `cols ≤ NR`, `NR ≤ TILE_MAX`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn microkernel<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    ap: *const f32,
    bp: *const f32,
    // Distance between consecutive K steps of the B strip: NR when packed, B's row
    // stride when read in place.
    b_step: usize,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    epi: Epilogue,
    // Offsets of this tile in C, for the epilogue's bias and `h` pointers.
    row0: usize,
    col0: usize,
    pf: Prefetch,
) {
    if S::LANES == 1 && MR <= 4 && NV <= 4 {
        // SAFETY: the same contract.
        return unsafe {
            microkernel_1::<S, MR, NV>(
                s, kc, ap, bp, b_step, alpha, beta, c, rs, cs, rows, cols, epi, row0, col0,
            )
        };
    }
    let mut acc = [[s.splat(0.0); NV]; MR];
    // SAFETY: packed strips hold `kc` steps of MR (resp. NR) values; C and epilogue
    // accesses are limited to the `rows × cols` part of the tile inside C.
    unsafe {
        let (mut a, mut b) = (ap, bp);
        // One K step: NV loads of B, MR broadcasts of A, MR·NV FMAs.
        macro_rules! step {
            () => {
                let mut bv = [s.splat(0.0); NV];
                for (v, bv) in bv.iter_mut().enumerate() {
                    *bv = s.load(b.add(v * S::LANES));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = s.splat(*a.add(i));
                    for v in 0..NV {
                        row[v] = s.mul_add(av, bv[v], row[v]);
                    }
                }
                a = a.add(MR);
                // Wrapping: when B is read in place (`b_step` = its row stride), the step
                // after the last one points past B's allocation, and `add` there is UB.
                b = b.wrapping_add(b_step);
            };
        }
        // Groups of four steps, each asking for one row of the next C tile (the first MR
        // groups) and two rows of B (the first `b_rows / 2` groups).
        // (None where `prefetch` is a no-op: the plain loop is smaller code.)
        let groups = if HAS_PREFETCH { kc / 4 } else { 0 };
        let c_groups = if pf.c.is_null() { 0 } else { MR };
        let b_groups = if pf.b.is_null() {
            0
        } else {
            pf.b_rows.div_ceil(2)
        };
        let pf_groups = if c_groups > b_groups {
            c_groups
        } else {
            b_groups
        };
        let pf_groups = if pf_groups < groups {
            pf_groups
        } else {
            groups
        };
        let (mut pc, mut pb) = (pf.c, pf.b);
        for q in 0..pf_groups {
            step!();
            if q < c_groups {
                prefetch_row::<S, NV>(pc);
                pc = pc.wrapping_add(pf.c_rs);
            }
            step!();
            if q < b_groups {
                prefetch_row::<S, NV>(pb);
                pb = pb.wrapping_add(pf.b_rs);
            }
            step!();
            step!();
            if q < b_groups {
                prefetch_row::<S, NV>(pb);
                pb = pb.wrapping_add(pf.b_rs);
            }
        }
        for _ in pf_groups * 4..kc {
            step!();
        }

        store_tile::<S, MR, NV>(s, &acc, alpha, beta, c, rs, cs, rows, cols, epi, row0, col0);
    }
}

/// Asks the cache for the lines of `NV·LANES` values from `row` (which need not start on
/// a line boundary): one touch per 64 bytes plus the last value.
#[inline(always)]
fn prefetch_row<S: Simd, const NV: usize>(row: *const f32) {
    for v in 0..NV * S::LANES / 16 {
        prefetch(row.wrapping_add(v * 16));
    }
    prefetch(row.wrapping_add(NV * S::LANES - 1));
}

/// Whether [`prefetch`] does anything on this target.
const HAS_PREFETCH: bool = cfg!(target_arch = "x86_64");

/// A hint to load the line holding `p` into all cache levels; never faults, whatever `p`.
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is SSE (baseline on x86_64) and only a hint: it does not
    // access memory architecturally, so any address is fine.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `C ← α·acc + β·C` and the epilogue, for the `rows × cols` part of an `MR × NR` tile of
/// accumulators that lies inside C.
///
/// # Safety
/// As for [`microkernel`], without the packed strips.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    acc: &[[S::V; NV]; MR],
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    let nr = NV * S::LANES;
    // SAFETY: C and epilogue accesses are limited to the `rows × cols` part of the tile
    // inside C (caller).
    unsafe {
        let full = rows == MR && cols == nr && cs == 1;
        if full && matches!(epi, Epilogue::None) {
            // Interior tile, no epilogue: constant loop bounds keep `acc` in registers.
            // Same operations as the general path below, so results are bit-identical.
            let va = s.splat(alpha);
            if beta == 0.0 && alpha == 1.0 {
                // 1·x is exact: skipping the multiply changes no bit.
                for (i, row) in acc.iter().enumerate() {
                    for (v, &accv) in row.iter().enumerate() {
                        s.store(c.add(i * rs + v * S::LANES), accv);
                    }
                }
            } else if beta == 0.0 {
                for (i, row) in acc.iter().enumerate() {
                    for (v, &accv) in row.iter().enumerate() {
                        s.store(c.add(i * rs + v * S::LANES), s.mul(va, accv));
                    }
                }
            } else {
                let vb = s.splat(beta);
                for (i, row) in acc.iter().enumerate() {
                    for (v, &accv) in row.iter().enumerate() {
                        let p = c.add(i * rs + v * S::LANES);
                        s.store(p, s.mul_add(vb, s.load(p), s.mul(va, accv)));
                    }
                }
            }
            return;
        }
        if full && beta == 0.0 {
            // Interior tile with an epilogue (a convolution's): constant loop bounds and
            // the activation chosen once for the tile; the same operations as `finish`,
            // so the same bits as the general path below.
            if let Epilogue::BiasAct { act, .. } | Epilogue::MulDeriv { act, .. } = epi {
                act.dispatch(FullTile {
                    s,
                    // A copy: a reference to `acc` would keep it in memory during the K loop.
                    acc: *acc,
                    alpha,
                    c,
                    rs,
                    epi,
                    row0,
                    col0,
                });
                return;
            }
        }
        // A copy of the tile, indexed by the runtime `rows` below. Indexing `acc` itself
        // that way would make LLVM keep it in memory during the K loop.
        let spill: [[S::V; NV]; MR] = *acc;
        if cs == 1 {
            // Contiguous rows: the last vector of a partial row is a masked load and
            // store (a stack copy on backends without masks), everything else in place.
            for (i, row) in spill.iter().enumerate().take(rows) {
                let crow = c.add(i * rs);
                let biasp = epi.bias_ptr_opt(col0).unwrap_or(core::ptr::null());
                let hp = epi.h_ptr_opt(row0 + i, col0).unwrap_or(core::ptr::null());
                for (v, &accv) in row.iter().enumerate() {
                    let off = v * S::LANES;
                    if off >= cols {
                        break;
                    }
                    let live = cols - off;
                    let c_old = if beta != 0.0 {
                        load_n(s, crow.add(off), live)
                    } else {
                        s.splat(0.0)
                    };
                    let bias = if biasp.is_null() {
                        s.splat(0.0)
                    } else {
                        load_n(s, biasp.add(off), live)
                    };
                    let h = if hp.is_null() {
                        s.splat(0.0)
                    } else {
                        load_n(s, hp.add(off), live)
                    };
                    let val = finish(s, accv, alpha, beta, c_old, bias, h, epi);
                    if live >= S::LANES {
                        s.store(crow.add(off), val);
                    } else {
                        s.store_partial(crow.add(off), val, live);
                    }
                }
            }
            return;
        }
        // Strided C: zero-padded stack copies of a row of C, the bias and the `h` row
        // (zeroed once).
        let [mut tmp, mut btmp, mut htmp] = [[0.0f32; TILE_MAX]; 3];
        for (i, row) in spill.iter().enumerate().take(rows) {
            let crow = c.add(i * rs);
            if beta != 0.0 {
                for (j, t) in tmp.iter_mut().enumerate().take(cols) {
                    *t = *crow.add(j * cs);
                }
            }
            if let Some(bias) = epi.bias_ptr_opt(col0) {
                core::ptr::copy_nonoverlapping(bias, btmp.as_mut_ptr(), cols);
            }
            if let Some(h) = epi.h_ptr_opt(row0 + i, col0) {
                core::ptr::copy_nonoverlapping(h, htmp.as_mut_ptr(), cols);
            }
            for (v, &accv) in row.iter().enumerate() {
                let off = v * S::LANES;
                let val = finish(
                    s,
                    accv,
                    alpha,
                    beta,
                    s.load(tmp.as_ptr().add(off)),
                    s.load(btmp.as_ptr().add(off)),
                    s.load(htmp.as_ptr().add(off)),
                    epi,
                );
                s.store(tmp.as_mut_ptr().add(off), val);
            }
            for (j, &t) in tmp.iter().enumerate().take(cols) {
                *crow.add(j * cs) = t;
            }
        }
    }
}

/// A whole tile with `β = 0` and an epilogue, stored by [`store_tile`] (see there).
struct FullTile<S: Simd, const MR: usize, const NV: usize> {
    s: S,
    acc: [[S::V; NV]; MR],
    alpha: f32,
    c: *mut f32,
    rs: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
}

impl<S: Simd, const MR: usize, const NV: usize> ActivationVisitor for FullTile<S, MR, NV> {
    type Output = ();
    // Inlined in optimized builds (the tile stays in registers). A debug build keeps it
    // out of line: inlined there, one copy of the tile per activation, tile shape and
    // instruction set piled up in the caller's frame and overflowed a test thread's
    // 2 MiB stack.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline(never))]
    fn call<A: ActivationOp>(self) {
        let FullTile {
            s,
            acc,
            alpha,
            c,
            rs,
            epi,
            row0,
            col0,
        } = self;
        let va = s.splat(alpha);
        // SAFETY: `store_tile`'s contract with `rows = MR`, `cols = NV·LANES`, `cs = 1`:
        // every element of the tile, its bias and its `h` row are in bounds.
        unsafe {
            match epi {
                Epilogue::BiasAct { has_bias, bias, .. } => {
                    for v in 0..NV {
                        let b = if has_bias {
                            s.load(bias.add(col0 + v * S::LANES))
                        } else {
                            s.splat(0.0)
                        };
                        for (i, row) in acc.iter().enumerate() {
                            let mut val = s.mul(va, row[v]);
                            if has_bias {
                                val = s.add(val, b);
                            }
                            s.store(c.add(i * rs + v * S::LANES), A::forward_v(s, val));
                        }
                    }
                }
                Epilogue::MulDeriv { h, h_rs, .. } => {
                    for (i, row) in acc.iter().enumerate() {
                        let hp = h.add((row0 + i) * h_rs + col0);
                        for (v, &accv) in row.iter().enumerate() {
                            let val = s.mul(va, accv);
                            let hv = s.load(hp.add(v * S::LANES));
                            let out = flush_tiny(s, A::deriv_mul_v(s, val, hv));
                            s.store(c.add(i * rs + v * S::LANES), out);
                        }
                    }
                }
                Epilogue::None => {}
            }
        }
    }
}

/// `n` values at `p` (a masked load if `n < LANES`, zeros past them).
///
/// # Safety
/// `p..p + min(n, LANES)` readable; `n ≥ 1`.
#[inline(always)]
unsafe fn load_n<S: Simd>(s: S, p: *const f32, n: usize) -> S::V {
    // SAFETY: the caller vouches for min(n, LANES) values.
    unsafe {
        if n >= S::LANES {
            s.load(p)
        } else {
            s.load_partial(p, n)
        }
    }
}

/// One vector of a finished tile: `α·acc + β·c_old`, then the epilogue (`bias` and `h`
/// are the epilogue's operands, ignored when it has none). The same operations as the
/// interior fast path, so every element of C is computed identically wherever it lies.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn finish<S: Simd>(
    s: S,
    acc: S::V,
    alpha: f32,
    beta: f32,
    c_old: S::V,
    bias: S::V,
    h: S::V,
    epi: Epilogue,
) -> S::V {
    let mut val = s.mul(s.splat(alpha), acc);
    if beta != 0.0 {
        val = s.mul_add(s.splat(beta), c_old, val);
    }
    match epi {
        Epilogue::None => val,
        Epilogue::BiasAct { act, has_bias, .. } => {
            if has_bias {
                val = s.add(val, bias);
            }
            act_v(s, act, val)
        }
        Epilogue::MulDeriv { act, .. } => flush_tiny(s, deriv_mul_v(s, act, val, h)),
    }
}

/// One `MR × NR` tile (`NR = NV·LANES`) of `A·B` over the whole depth `k`, reading A and
/// B where they are (no packing), then [`store_tile`]. A is read by broadcasts at any
/// strides; B's rows must be contiguous, and the last vector of each is a masked
/// [`Simd::load_partial`] when `cols` is not a multiple of the lanes. For products whose
/// B is small (a few columns): the same B rows serve every tile from cache.
///
/// # Safety
/// `a + i·ars + p·acs` readable for `i < MR`, `p < k` (the tile has `MR` rows inside C);
/// `b + p·brs + j` readable for `p < k`, `j < cols`; C and the epilogue as for
/// [`microkernel`] with `rows = MR`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn skinny_tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    k: usize,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    brs: usize,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    cols: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    let mut acc = [[s.splat(0.0); NV]; MR];
    // Rows are addressed from one base per group of four, each advanced on its own. Left
    // to itself LLVM rewrites every `a + i·ars` as one chain of MR dependent adds per
    // step, which is slower than the FMAs it feeds; `black_box` hides that the bases are
    // related (it costs one store and load per base, outside the loop).
    const { assert!(MR <= 16) };
    let mut bases = [a; 4];
    for (g, base) in bases.iter_mut().enumerate() {
        *base = core::hint::black_box(a.wrapping_add(4 * g * ars));
    }
    // SAFETY: every read is at p < k, a row i < MR and a column j < cols (caller).
    unsafe {
        let mut b = b;
        for _ in 0..k {
            let mut bv = [s.splat(0.0); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                let off = v * S::LANES;
                if off + S::LANES <= cols {
                    *bv = s.load(b.add(off));
                } else if off < cols {
                    *bv = s.load_partial(b.add(off), cols - off);
                }
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = s.splat(*bases[i / 4].add((i % 4) * ars));
                for v in 0..NV {
                    row[v] = s.mul_add(av, bv[v], row[v]);
                }
            }
            for base in bases.iter_mut().take(MR.div_ceil(4)) {
                *base = base.wrapping_add(acs);
            }
            // Wrapping: after the last step `b` points past B (`add` there is UB).
            b = b.wrapping_add(brs);
        }
        store_tile::<S, MR, NV>(s, &acc, alpha, beta, c, rs, cs, MR, cols, epi, row0, col0);
    }
}

/// Rows `0..R` of `A·B` for a narrow B, as dot products along k: vectors hold `LANES`
/// consecutive values of a row of A and of a row of `Bᵀ` (packed by
/// [`pack_bt`](super::pack::pack_bt)), each of the `R × DOT_JN` accumulators of a column
/// group is reduced at the end, and the results are returned as rows of at most
/// `NV·LANES` values (lanes past `n` are zero) for [`store_tile`].
///
/// Every lane of every FMA is useful, whatever `n` (the broadcast path wastes the lanes
/// past `n`), and A needs one load per `LANES` values instead of one broadcast per value.
///
/// # Safety
/// `a + r·ars + p` readable for `r < rows`, `p < k` (`1 ≤ rows ≤ R`); `bt` holds
/// `n_pad ≥ n` rows of `k_pad ≥ k` values (a multiple of `LANES`, zero past `k`), with
/// `n_pad` a multiple of `DOT_JN` and `n ≤ NV·LANES`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dot_rows<S: Simd, const R: usize, const NV: usize>(
    s: S,
    k: usize,
    a: *const f32,
    ars: usize,
    rows: usize,
    bt: *const f32,
    k_pad: usize,
    n: usize,
) -> [[S::V; NV]; R] {
    let mut out = [[0.0f32; TILE_MAX]; R];
    // Rows past `rows` repeat the last real row (read, never stored).
    let mut ap = [a; R];
    for (r, p) in ap.iter_mut().enumerate() {
        *p = a.wrapping_add(if r < rows { r } else { rows - 1 } * ars);
    }
    let full = k - k % S::LANES;
    // SAFETY: A reads are at p < k of rows < rows (masked tail); Bᵀ reads at j < n_pad,
    // p < k_pad (caller).
    unsafe {
        let mut j0 = 0;
        while j0 < n {
            let mut acc = [[s.splat(0.0); DOT_JN]; R];
            let b0 = bt.add(j0 * k_pad);
            let mut p = 0;
            while p < full {
                let mut bv = [s.splat(0.0); DOT_JN];
                for (jj, bv) in bv.iter_mut().enumerate() {
                    *bv = s.load(b0.add(jj * k_pad + p));
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = s.load(ap[r].add(p));
                    for jj in 0..DOT_JN {
                        row[jj] = s.mul_add(av, bv[jj], row[jj]);
                    }
                }
                p += S::LANES;
            }
            if full < k {
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = s.load_partial(ap[r].add(full), k - full);
                    for (jj, acc) in row.iter_mut().enumerate() {
                        *acc = s.mul_add(av, s.load(b0.add(jj * k_pad + full)), *acc);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (jj, &v) in row.iter().enumerate() {
                    out[r][j0 + jj] = s.reduce_add(v);
                }
            }
            j0 += DOT_JN;
        }
        let mut res = [[s.splat(0.0); NV]; R];
        for (r, row) in res.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                *x = s.load(out[r].as_ptr().add(v * S::LANES));
            }
        }
        res
    }
}

/// Values of the stack buffers of [`col_tile`]: its `MR × NJ` tile of C, column by column
/// and row by row.
pub(crate) const COL_BUF: usize = 512;

/// Rows `0..rows` (`rows ≤ MR = MV·LANES`) and columns `0..cols` (`cols ≤ NJ`) of `A·B`
/// over the whole depth `k`, for an A whose columns are contiguous (a transposed view,
/// like the update's `hᵀ`: element `(i, p)` at `a + i + p·acs`) and a narrow B packed as
/// `k` rows of `NJ` values (zeros past `cols`). Vectors run down the columns of C: each
/// step loads `MV` vectors of a column of A, broadcasts the `NJ` values of a row of B and
/// does `MV·NJ` FMAs, so every lane is useful whatever `cols` (the row-vector tiles waste
/// the lanes past `cols` and broadcast every value of A). The tile is then transposed
/// through the stack into rows of `NV` vectors and finished by [`store_tile`]; each
/// element gets the same operations as on the row-vector paths (a sum from zero over
/// `p` in order, one FMA per step, then `store_tile`).
///
/// # Safety
/// `a + i + p·acs` readable for `i < rows`, `p < k`; `bp` readable for `k·NJ` values;
/// C and the epilogue as for [`microkernel`] with an `MR × cols` tile; `MR = MV·LANES`,
/// `NJ ≤ NV·LANES`, `MR·NJ ≤ COL_BUF`, `MR·NV·LANES ≤ COL_BUF`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn col_tile<
    S: Simd,
    const MR: usize,
    const MV: usize,
    const NJ: usize,
    const NV: usize,
>(
    s: S,
    k: usize,
    a: *const f32,
    acs: usize,
    rows: usize,
    bp: *const f32,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    cols: usize,
    epi: Epilogue,
    row0: usize,
) {
    debug_assert!(MR == MV * S::LANES && NJ <= NV * S::LANES);
    debug_assert!(MR * NJ <= COL_BUF && MR * NV * S::LANES <= COL_BUF);
    let mut acc = [[s.splat(0.0); MV]; NJ];
    // SAFETY: A reads are at i < rows (a masked load for the last vector of a partial
    // tile), p < k; B reads at p < k, j < NJ (caller).
    unsafe {
        macro_rules! steps {
            ($load:expr) => {
                let (mut a, mut b) = (a, bp);
                for _ in 0..k {
                    let av: [S::V; MV] = core::array::from_fn(|v| $load(a, v));
                    for (j, row) in acc.iter_mut().enumerate() {
                        let bj = s.splat(*b.add(j));
                        for v in 0..MV {
                            row[v] = s.mul_add(bj, av[v], row[v]);
                        }
                    }
                    // Wrapping: after the last step `a` points past A.
                    a = a.wrapping_add(acs);
                    b = b.add(NJ);
                }
            };
        }
        if rows == MR {
            steps!(|a: *const f32, v: usize| s.load(a.add(v * S::LANES)));
        } else {
            steps!(|a: *const f32, v: usize| {
                let off = v * S::LANES;
                if off + S::LANES <= rows {
                    s.load(a.add(off))
                } else if off < rows {
                    s.load_partial(a.add(off), rows - off)
                } else {
                    s.splat(0.0)
                }
            });
        }
        // Column j of the tile to `by_col[j·MR ..]`.
        let mut by_col = [0.0f32; COL_BUF];
        let bc = by_col.as_mut_ptr();
        for (j, col) in acc.iter().enumerate() {
            for (v, &x) in col.iter().enumerate() {
                s.store(bc.add(j * MR + v * S::LANES), x);
            }
        }
        let mut by_row = [0.0f32; COL_BUF];
        let br = by_row.as_mut_ptr();
        if cs == 1 && rs == cols && matches!(epi, Epilogue::None) {
            // The tile's rows are contiguous in C (a row-major C as wide as B): it is one
            // run of `rows·cols` values, finished a vector at a time, only the last one
            // masked. (Row by row, each masked load of C would wait on the masked store of
            // the row before, whose vector overlaps it.) The same operations per element
            // as `store_tile`'s.
            for i in 0..rows {
                for j in 0..cols {
                    *br.add(i * cols + j) = *bc.add(j * MR + i);
                }
            }
            let (va, vb) = (s.splat(alpha), s.splat(beta));
            let len = rows * cols;
            let mut q = 0;
            while q < len {
                let live = if len - q < S::LANES {
                    len - q
                } else {
                    S::LANES
                };
                let mut val = s.mul(va, s.load(br.add(q)));
                if beta != 0.0 {
                    val = s.mul_add(vb, load_n(s, c.add(q), live), val);
                }
                if live == S::LANES {
                    s.store(c.add(q), val);
                } else {
                    s.store_partial(c.add(q), val, live);
                }
                q += S::LANES;
            }
            return;
        }
        // Row i to `by_row[i·NV·LANES ..]` (zeros past `cols`), for `store_tile`.
        let nr = NV * S::LANES;
        for i in 0..rows {
            for j in 0..cols {
                *br.add(i * nr + j) = *bc.add(j * MR + i);
            }
        }
        let tile: [[S::V; NV]; MR] = core::array::from_fn(|i| {
            core::array::from_fn(|v| s.load(br.add(i * nr + v * S::LANES)))
        });
        store_tile::<S, MR, NV>(s, &tile, alpha, beta, c, rs, cs, rows, cols, epi, row0, 0);
    }
}
