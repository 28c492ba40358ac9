//! The Goto/BLIS loop nest and the per-instruction-set instantiation.

use super::epilogue::Epilogue;
use super::gemm_workspace_len;
use super::kernel::{Prefetch, col_tile, dot_rows, microkernel, skinny_tile};
use super::pack::{pack_a, pack_b, pack_b_transposed, pack_bt};
use super::tiles::{
    AVX2, AVX512, DOT_JN, DOT_MAX_N, DOT_MIN_K, DOT_ROWS, KC, MC, NC, NEON, PORTABLE, SCALAR,
    SKINNY_B_MAX, tiles,
};
use crate::MatRef;
use crate::par::Executor;
use crate::simd::{Isa, Simd, WithSimd, dispatch};

/// `C ← α·A·B + β·C` followed by `epi`, on the given instruction set, split into
/// `parts` parts run by `exec` (one part: on the calling thread, `exec` unused).
///
/// # Safety
/// Shapes agree (`a` is m×k, `b` k×n, C m×n); every in-range element of C at
/// `c + i·rs + j·cs` is writable, distinct, disjoint from A, B and the workspace (and
/// readable unless `beta == 0`); `ws` is writable for `parts · ws_part` values, where
/// `ws_part ≥ gemm_workspace_len(m, k, n)`; the epilogue's pointers are valid for an m×n
/// C (bias: `n` values; h: m rows of `n`); nothing else accesses C or the workspace
/// until the call returns.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    isa: Isa,
    exec: &dyn Executor,
    parts: usize,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    ws: *mut f32,
    ws_part: usize,
    epi: Epilogue,
) {
    // The view constructors leave a stride unchecked where it never moves to another
    // element: every stride of an empty view (k = 0: A is m × 0, B is 0 × n) and the
    // stride of a dimension of length 1. The loops still form addresses of blocks and
    // rows past the end from them (never read), and `i · stride` could overflow. Such a
    // stride is replaced by a small one that addresses the same elements: 0 for a row
    // stride, 1 for a column stride, the contiguous layout the narrow-B and dot-product
    // paths look for (so a 1-wide B, like a 1-output layer, still takes its fast path).
    let k = a.cols();
    let unused = |len: usize| len <= 1 || k == 0;
    let row = |len: usize, stride: usize| if unused(len) { 0 } else { stride };
    let col = |len: usize, stride: usize| if unused(len) { 1 } else { stride };
    let (ars, acs) = (row(a.rows(), a.row_stride()), col(k, a.col_stride()));
    let (brs, bcs) = (row(k, b.row_stride()), col(b.cols(), b.col_stride()));
    let g = Gemm {
        m: a.rows(),
        k: a.cols(),
        n: b.cols(),
        alpha,
        a: a.ptr(),
        ars,
        acs,
        b: b.ptr(),
        brs,
        bcs,
        beta,
        c,
        crs: rs,
        ccs: cs,
        ws,
        epi,
    };
    let parts = parts.max(1);
    if parts == 1 {
        return run_part(isa, &g, 0, 1, ws_part);
    }
    let shared = Shared(g);
    // The executor runs each part once and returns after all of them (the safety
    // contract of `Executor`), so the parts' blocks of C and slices of the workspace are
    // written by one part each, all before this function returns.
    exec.run(parts, &|part| {
        if part < parts {
            run_part(isa, shared.gemm(), part, parts, ws_part);
        }
    });
}

/// Part `part` of `parts` of `g`, on `isa`. Not inlined: the one copy of the whole GEMM
/// for both callers in [`gemm_raw`] (one part, and each part of a split), so a build
/// carries its kernels once.
#[inline(never)]
fn run_part(isa: Isa, g: &Gemm, part: usize, parts: usize, ws_part: usize) {
    dispatch(
        isa,
        Job {
            g,
            part,
            parts,
            ws_part,
        },
    )
}

/// The arguments of [`gemm_raw`]; built only there, so they meet its safety contract
/// (or, for a part, [`Gemm::part`] made them from ones that do).
#[derive(Clone, Copy)]
struct Gemm {
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    brs: usize,
    bcs: usize,
    beta: f32,
    c: *mut f32,
    crs: usize,
    ccs: usize,
    ws: *mut f32,
    epi: Epilogue,
}

/// A [`Gemm`] the parts of a split share.
struct Shared(Gemm);
// SAFETY: the parts only read A, B and the epilogue's operands (which nothing writes
// during the call, by `gemm_raw`'s contract), and each part writes only its own block of
// C and its own slice of the workspace ([`Gemm::part`]): the blocks are disjoint, and an
// `Executor` runs each part exactly once (its safety contract), so no two threads write
// the same memory.
unsafe impl Sync for Shared {}

impl Shared {
    /// The product (a method, so that closures capture the whole `Shared`, which is
    /// `Sync`, not its field).
    fn gemm(&self) -> &Gemm {
        &self.0
    }
}

/// Part `part` of `parts` of the product `g`, with `ws_part` values of workspace a part.
struct Job<'g> {
    g: &'g Gemm,
    part: usize,
    parts: usize,
    ws_part: usize,
}

/// The path a product takes, chosen from the whole product so that every part of a
/// split takes the same one (the paths sum in different orders).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    /// The dot-product path ([`dot_body`]).
    Dot,
    /// The Aᵀ narrow path ([`col_body`]).
    Col,
    /// The unpacked path with the narrow tile.
    Skinny,
    /// The unpacked path with the wide tile.
    Wide,
    /// The packed loop nest ([`gemm_body`]).
    Packed,
}

impl Gemm {
    /// Block `part` of `parts` of this product: rows `r0..r1` of A and C (all of B), or
    /// columns `c0..c1` of B and C (all of A), with the epilogue's operands moved along
    /// and the workspace slice `part · ws_part ..`. Blocks are whole tiles of `unit` rows
    /// (or columns), spread as evenly as possible; some may be empty.
    fn part(&self, rows: bool, unit: usize, part: usize, parts: usize, ws_part: usize) -> Gemm {
        let len = if rows { self.m } else { self.n };
        let tiles = len.div_ceil(unit);
        // Part p starts after p·q tiles plus one more for each earlier part among the first
        // r (q, r: quotient and remainder of tiles by parts): no product that can overflow.
        let (q, r) = (tiles / parts, tiles % parts);
        let cut = |p: usize| ((p * q + p.min(r)) * unit).min(len);
        let (lo, hi) = (cut(part), cut(part + 1));
        let mut g = *self;
        g.ws = self.ws.wrapping_add(part * ws_part);
        if rows {
            g.m = hi - lo;
            g.a = self.a.wrapping_add(lo * self.ars);
            g.c = self.c.wrapping_add(lo * self.crs);
            g.epi = self.epi.moved(lo, 0);
        } else {
            g.n = hi - lo;
            g.b = self.b.wrapping_add(lo * self.bcs);
            g.c = self.c.wrapping_add(lo * self.ccs);
            g.epi = self.epi.moved(0, lo);
        }
        g
    }
}

impl WithSimd for Job<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        /// [`run`] with the tiles `$t` of `S::ISA` (see [`super::tiles`]).
        macro_rules! run_with {
            ($t:ident) => {
                run::<
                    S,
                    { $t.packed.0 },
                    { $t.packed.1 },
                    { $t.skinny.0 },
                    { $t.skinny.1 },
                    { $t.wide.0 },
                    { $t.wide.1 },
                    { $t.dot },
                    { $t.dot_nv() },
                    { $t.col.0 },
                    { $t.col.1 },
                    { $t.col_mr_nv().0 },
                    { $t.col_mr_nv().1 },
                >(s, &self)
            };
        }
        // SAFETY: the fields satisfy `gemm_raw`'s contract (built only there). `S::ISA` is
        // a constant, so each instantiation keeps only its own tiles.
        unsafe {
            match S::ISA {
                Isa::Scalar => run_with!(SCALAR),
                Isa::Portable => run_with!(PORTABLE),
                Isa::Neon => run_with!(NEON),
                Isa::Avx2 => run_with!(AVX2),
                Isa::Avx512 => run_with!(AVX512),
            }
        }
    }
}

/// One part of the product on one instruction set's tiles (see [`super::tiles`]): the
/// dot-product path if `DOT` and the product fits it, else the unpacked path (`SMR × SNV`,
/// then the wide `WMR × WNV`) if B is narrow enough, else the packed loop nest
/// (`MR × NV`). The path is chosen from the whole product; the part then runs it over its
/// own block of C. The paths that read B whole split rows; the packed one splits the
/// dimension with more tiles.
///
/// # Safety
/// `job` satisfies the contract of [`gemm_raw`]; the tiles are those of `S::ISA`.
#[inline(always)]
unsafe fn run<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const SMR: usize,
    const SNV: usize,
    const WMR: usize,
    const WNV: usize,
    const DOT: bool,
    const DNV: usize,
    const CMV: usize,
    const CNJ: usize,
    const CMR: usize,
    const CNV: usize,
>(
    s: S,
    job: &Job<'_>,
) {
    const { assert!(tiles(S::ISA).lanes == S::LANES) };
    let g = job.g;
    // A small transposed B (such as `Δ·w2ᵀ` of a small network) is copied row-major into
    // the workspace when that lets the unpacked paths read it (one K block: the packed
    // path would sum the same way).
    let bt = repack_b_fits(g) && {
        let r = Gemm { bcs: 1, ..*g };
        skinny_fits::<S>(&r, SNV) || (WNV > SNV && skinny_fits::<S>(&r, WNV))
    };
    let path = if DOT && dot_fits::<S>(g) {
        Path::Dot
    } else if CMV > 0 && col_fits::<S>(g, CNJ) {
        Path::Col
    } else if skinny_fits::<S>(g, SNV) || (bt && g.n <= SNV * S::LANES) {
        Path::Skinny
    } else if WNV > SNV && (skinny_fits::<S>(g, WNV) || bt) {
        Path::Wide
    } else {
        Path::Packed
    };
    let part = if job.parts == 1 {
        *g
    } else {
        let (rows, unit) = match path {
            Path::Dot => (true, DOT_ROWS),
            Path::Col => (true, CMR),
            Path::Skinny => (true, SMR),
            Path::Wide => (true, WMR),
            Path::Packed => {
                let nr = NV * S::LANES;
                let rows = g.m.div_ceil(MR) >= g.n.div_ceil(nr);
                (rows, if rows { MR } else { nr })
            }
        };
        let p = g.part(rows, unit, job.part, job.parts, job.ws_part);
        if p.m == 0 || p.n == 0 {
            return;
        }
        p
    };
    let mut part = part;
    // (Only these two read B in place; `bcs ≠ 1` rules out their own conditions.)
    if bt && matches!(path, Path::Skinny | Path::Wide) {
        let dst = align64(part.ws);
        // SAFETY: B is k × n; the workspace holds k·n + 16 values (`repack_b_fits`), and
        // the unpacked paths use no other.
        unsafe { repack_b(&part, dst) };
        part.b = dst;
        part.brs = part.n;
        part.bcs = 1;
    }
    // SAFETY: each path's condition was checked on the whole product, and a part is a
    // block of it (caller for the rest).
    unsafe {
        match path {
            Path::Dot => dot_body::<S, DOT_ROWS, DNV>(s, &part),
            Path::Col => col_body::<S, CMR, CMV, CNJ, CNV>(s, &part),
            Path::Skinny => skinny_body::<S, SMR, SNV>(s, &part),
            Path::Wide => skinny_body::<S, WMR, WNV>(s, &part),
            Path::Packed => gemm_body::<S, MR, NV>(s, &part),
        }
    }
}

/// Values of the packed Bᵀ of the dot-product path, plus 16 for aligning it.
#[inline(always)]
fn dot_ws_len<S: Simd>(k: usize, n: usize) -> usize {
    n.next_multiple_of(DOT_JN)
        .saturating_mul(k.next_multiple_of(S::LANES))
        .saturating_add(16)
}

/// Whether the dot-product path takes this product: long rows of A that are contiguous,
/// a narrow B (like the lecture's `h·w2`, 1000 deep and 10 wide), and a packed Bᵀ that
/// fits in the workspace the caller was asked for.
#[inline(always)]
fn dot_fits<S: Simd>(g: &Gemm) -> bool {
    g.acs == 1
        && g.alpha != 0.0
        && g.n >= 1
        && g.n <= DOT_MAX_N
        && g.k >= DOT_MIN_K
        && dot_ws_len::<S>(g.k, g.n) <= gemm_workspace_len(g.m, g.k, g.n)
}

/// The dot-product path: packs Bᵀ into the workspace, then runs [`dot_rows`] over tiles
/// of `R` rows and finishes each with [`store_tile`](super::kernel::store_tile).
///
/// # Safety
/// `g` satisfies the contract of [`gemm_raw`]; `dot_fits(g)`; `NV·LANES ≥ DOT_MAX_N`.
#[inline(always)]
unsafe fn dot_body<S: Simd, const R: usize, const NV: usize>(s: S, g: &Gemm) {
    const { assert!(R >= 1) };
    debug_assert!(NV * S::LANES >= DOT_MAX_N);
    let k_pad = g.k.next_multiple_of(S::LANES);
    let n_pad = g.n.next_multiple_of(DOT_JN);
    let bt = align64(g.ws);
    // SAFETY: B is k × n; `bt` is at most 15 values into the workspace, which holds
    // `dot_ws_len` ≥ n_pad·k_pad + 16 values (`dot_fits`).
    unsafe { pack_bt(g.k, g.n, g.b, g.brs, g.bcs, bt, k_pad, n_pad) };
    let mut i = 0;
    while i < g.m {
        let rows = if g.m - i < R { g.m - i } else { R };
        // SAFETY: rows i..i + rows of A (contiguous, `acs == 1`) and C exist; Bᵀ is
        // packed as `dot_rows` requires; n ≤ DOT_MAX_N ≤ NV·LANES.
        unsafe {
            let acc = dot_rows::<S, R, NV>(
                s,
                g.k,
                g.a.wrapping_add(i * g.ars),
                g.ars,
                rows,
                bt,
                k_pad,
                g.n,
            );
            super::kernel::store_tile::<S, R, NV>(
                s,
                &acc,
                g.alpha,
                g.beta,
                g.c.add(i * g.crs),
                g.crs,
                g.ccs,
                rows,
                g.n,
                g.epi,
                i,
                0,
            );
        }
        i += R;
    }
}

/// Whether B is a transposed view (`bcs ≠ 1`) of one K block whose row-major copy fits in
/// the workspace the caller was asked for.
#[inline(always)]
fn repack_b_fits(g: &Gemm) -> bool {
    g.bcs != 1
        && g.n >= 1
        && g.k <= KC
        && g.k.saturating_mul(g.n).saturating_add(16) <= gemm_workspace_len(g.m, g.k, g.n)
}

/// Copies B row-major to `dst` (`k` rows of `n` values), column by column of B (its
/// contiguous direction when it is a transposed view).
///
/// # Safety
/// `g` satisfies the contract of [`gemm_raw`]; `dst` is writable for `k·n` values inside
/// the workspace.
#[inline(always)]
unsafe fn repack_b(g: &Gemm, dst: *mut f32) {
    let (k, _) = depth_alpha(g);
    // SAFETY: reads at p < k, j < n inside B; writes at p·n + j < k·n (caller).
    unsafe {
        for j in 0..g.n {
            let col = g.b.wrapping_add(j * g.bcs);
            for p in 0..k {
                *dst.add(p * g.n + j) = *col.add(p * g.brs);
            }
        }
    }
}

/// Whether the Aᵀ narrow path with `nj` columns takes this product: A's columns are
/// contiguous (a transposed view, `ars == 1`), B has at most `nj` columns, and B packed
/// as `k` rows of `nj` values fits in the workspace the caller was asked for.
#[inline(always)]
fn col_fits<S: Simd>(g: &Gemm, nj: usize) -> bool {
    g.ars == 1
        && g.n >= 1
        && g.n <= nj
        && g.k.saturating_mul(nj).saturating_add(16) <= gemm_workspace_len(g.m, g.k, g.n)
}

/// The Aᵀ narrow path: packs B into the workspace (`k` rows of `NJ` values, zeros past
/// `n`), then runs [`col_tile`] over tiles of `MR` rows (the last one partial).
///
/// # Safety
/// `g` satisfies the contract of [`gemm_raw`]; `col_fits(g, NJ)`; the tile constants
/// are those of [`col_tile`].
#[inline(always)]
unsafe fn col_body<S: Simd, const MR: usize, const MV: usize, const NJ: usize, const NV: usize>(
    s: S,
    g: &Gemm,
) {
    let (k, alpha) = depth_alpha(g);
    let bp = align64(g.ws);
    // SAFETY: B is k × n (reads at p < k, j < n); `bp` is at most 15 values into the
    // workspace, which holds at least k·NJ + 16 values (`col_fits`).
    unsafe {
        for p in 0..k {
            let row = g.b.add(p * g.brs);
            let d = bp.add(p * NJ);
            for j in 0..NJ {
                *d.add(j) = if j < g.n { *row.add(j * g.bcs) } else { 0.0 };
            }
        }
    }
    let mut i = 0;
    while i < g.m {
        let rows = if g.m - i < MR { g.m - i } else { MR };
        // SAFETY: rows i..i + rows of A (columns contiguous, `ars == 1`) and of C exist; B
        // is packed as `col_tile` reads it.
        unsafe {
            col_tile::<S, MR, MV, NJ, NV>(
                s,
                k,
                g.a.wrapping_add(i),
                g.acs,
                rows,
                bp,
                alpha,
                g.beta,
                g.c.add(i * g.crs),
                g.crs,
                g.ccs,
                g.n,
                g.epi,
                i,
            )
        };
        i += MR;
    }
}

/// Whether the unpacked path with `nv` vectors per row takes this product: B has
/// contiguous rows, at most `nv·LANES` columns, and is small enough to stay in cache.
#[inline(always)]
fn skinny_fits<S: Simd>(g: &Gemm, nv: usize) -> bool {
    g.bcs == 1 && g.n >= 1 && g.n <= nv * S::LANES && g.k.saturating_mul(g.n) <= SKINNY_B_MAX
}

/// `α = 0` or `k = 0`: the product is zero by definition and A, B are not read; returns
/// the depth and α to use.
#[inline(always)]
fn depth_alpha(g: &Gemm) -> (usize, f32) {
    if g.alpha == 0.0 || g.k == 0 {
        (0, 0.0)
    } else {
        (g.k, g.alpha)
    }
}

/// The unpacked path for narrow B (see [`skinny_tile`]): row tiles of `MR`, then of 8,
/// 4, 2 and 1 rows for the remainder, each over the whole depth and all `n` columns.
///
/// # Safety
/// `g` satisfies the contract of [`gemm_raw`]; `skinny_fits(g, NV)`.
#[inline(always)]
unsafe fn skinny_body<S: Simd, const MR: usize, const NV: usize>(s: S, g: &Gemm) {
    if S::LANES == 1 && MR <= 4 && NV <= 4 {
        // SAFETY: the same contract.
        return unsafe { skinny_body_1::<S, MR, NV>(s, g) };
    }
    let mut i = 0;
    // SAFETY: each call covers rows i..i + R with i + R ≤ m, inside A and C; B's `n`
    // columns are contiguous (`bcs == 1`) and `n ≤ NV·LANES`.
    unsafe {
        while i < g.m {
            let left = g.m - i;
            i += if left >= MR {
                skinny_rows::<S, MR, NV>(s, g, i)
            } else if MR > 8 && left >= 8 {
                skinny_rows::<S, 8, NV>(s, g, i)
            } else if MR > 4 && left >= 4 {
                skinny_rows::<S, 4, NV>(s, g, i)
            } else if MR > 2 && left >= 2 {
                skinny_rows::<S, 2, NV>(s, g, i)
            } else {
                skinny_rows::<S, 1, NV>(s, g, i)
            };
        }
    }
}

/// [`skinny_body`] for one lane: tiles exactly as wide as B (`n ≤ NV ≤ 4` columns, so
/// none is padding; the scalar tiles have `NV = 1`, see [`super::tiles`]) of `MR` rows,
/// the last one partial (one copy of the tile for both).
///
/// # Safety
/// As for [`skinny_body`], with `S::LANES == 1`, `n ≤ NV ≤ 4`, `MR ≤ 4`.
#[inline(always)]
unsafe fn skinny_body_1<S: Simd, const MR: usize, const NV: usize>(s: S, g: &Gemm) {
    /// Rows `i..i + r` with `NV` columns on an `R`-row tile (1 ≤ r ≤ R).
    ///
    /// # Safety
    /// As for [`skinny_body_1`], with `i + r ≤ m` and `NV == n`.
    #[inline(always)]
    unsafe fn rows<S: Simd, const R: usize, const NV: usize>(s: S, g: &Gemm, i: usize, r: usize) {
        let (k, alpha) = depth_alpha(g);
        // SAFETY: rows i..i + r of A and C exist; B is k × NV with contiguous rows.
        unsafe {
            super::scalar::skinny_tile_1::<S, R, NV>(
                s,
                k,
                g.a.wrapping_add(i * g.ars),
                g.ars,
                g.acs,
                g.b,
                g.brs,
                alpha,
                g.beta,
                g.c.add(i * g.crs),
                g.crs,
                g.ccs,
                r,
                g.epi,
                i,
                0,
            )
        }
    }
    /// All rows with `NV` columns.
    ///
    /// # Safety
    /// As for [`skinny_body_1`], with `NV == n`.
    #[inline(always)]
    unsafe fn all<S: Simd, const MR: usize, const NV: usize>(s: S, g: &Gemm) {
        let mut i = 0;
        // SAFETY: each call covers rows i..i + r inside A and C.
        unsafe {
            while i < g.m {
                let left = g.m - i;
                rows::<S, MR, NV>(s, g, i, if left < MR { left } else { MR });
                i += MR;
            }
        }
    }
    // SAFETY: `n` (1 ≤ n ≤ 4) picks the tile as wide as B.
    unsafe {
        match g.n {
            1 => all::<S, MR, 1>(s, g),
            2 if NV >= 2 => all::<S, MR, 2>(s, g),
            3 if NV >= 3 => all::<S, MR, 3>(s, g),
            _ if NV >= 4 => all::<S, MR, 4>(s, g),
            _ => debug_assert!(false, "skinny_body_1: n > NV"),
        }
    }
}

/// Rows `i..i + R` of C on the unpacked path; returns `R`.
///
/// # Safety
/// As for [`skinny_body`], and `i + R ≤ m`.
#[inline(always)]
unsafe fn skinny_rows<S: Simd, const R: usize, const NV: usize>(s: S, g: &Gemm, i: usize) -> usize {
    let (k, alpha) = depth_alpha(g);
    // SAFETY: rows i..i + R of A and C exist; B is k × n with contiguous rows (caller).
    unsafe {
        skinny_tile::<S, R, NV>(
            s,
            k,
            g.a.wrapping_add(i * g.ars),
            g.ars,
            g.acs,
            g.b,
            g.brs,
            alpha,
            g.beta,
            g.c.add(i * g.crs),
            g.crs,
            g.ccs,
            g.n,
            g.epi,
            i,
            0,
        )
    };
    R
}

/// The first 64-byte aligned `f32` at or after `p` (at most 15 values on).
#[inline(always)]
fn align64(p: *mut f32) -> *mut f32 {
    let skip = (64 - (p.addr() & 63)) % 64 / 4;
    p.wrapping_add(skip)
}

/// The position (row, column) in C of the tile after the one at `(jc, pc, ic, jr, ir)`
/// in the loop order of [`gemm_body`] (`ir` fastest), given the current block sizes
/// `(nc, kc, mc, nr, MR)`; `None` after the last.
#[inline(always)]
fn next_tile(
    g: &Gemm,
    (jc, pc, ic, jr, ir): (usize, usize, usize, usize, usize),
    (nc, kc, mc, nr, mr): (usize, usize, usize, usize, usize),
) -> Option<(usize, usize)> {
    if ir + mr < mc {
        Some((ic + ir + mr, jc + jr))
    } else if jr + nr < nc {
        Some((ic, jc + jr + nr))
    } else if ic + MC < g.m {
        Some((ic + MC, jc))
    } else if pc + kc < g.k {
        Some((0, jc))
    } else if jc + NC < g.n {
        Some((0, jc + NC))
    } else {
        None
    }
}

/// One [`microkernel`] call; a last strip of B at most one or two vectors wide (such as
/// the 16 columns left of 1024 by 48) runs with that many vectors instead of `NV`, which
/// saves the FMAs on its zero padding. Each element of C gets the same operations either
/// way. (Vector backends with `NV ≥ 3` only: the scalar tile keeps one kernel.)
///
/// # Safety
/// As for [`microkernel`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    ap: *const f32,
    bp: *const f32,
    b_step: usize,
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
    pf: Prefetch,
) {
    let narrow = NV >= 3 && S::LANES >= 8;
    // SAFETY: the narrower kernels read a prefix of each step of the strip and `cols`
    // fits their width (caller for the rest).
    unsafe {
        if narrow && cols <= S::LANES {
            microkernel::<S, MR, 1>(
                s, kc, ap, bp, b_step, alpha, beta, c, rs, cs, rows, cols, epi, row0, col0, pf,
            )
        } else if narrow && cols <= 2 * S::LANES {
            microkernel::<S, MR, 2>(
                s, kc, ap, bp, b_step, alpha, beta, c, rs, cs, rows, cols, epi, row0, col0, pf,
            )
        } else {
            microkernel::<S, MR, NV>(
                s, kc, ap, bp, b_step, alpha, beta, c, rs, cs, rows, cols, epi, row0, col0, pf,
            )
        }
    }
}

/// The loop nest with an `MR × NV·LANES` register tile.
///
/// Measured and rejected for few rows (AVX-512, 64 × 1000 × 1000, B read in place; old
/// and new timed alternately in one process, 600 rounds, best single-call GFLOP/s on a
/// loaded 2-core VM): strip-major order (A packed once for all K, each strip's `m × NR`
/// column of C kept in L1 across the K blocks, the same K blocks and bits) 151 vs 157
/// for this order; a whole-K tile (C loaded and stored once, B's `k × NR` strip from L2)
/// 141. A's `MC × KC` block in L1 is worth more than C in L1, and the strip read in place
/// from L2 (rows 4000 bytes apart: one row a page, beyond the L1 prefetchers) costs more
/// than the 8 C round trips it saves.
///
/// # Safety
/// `g` satisfies the contract of [`gemm_raw`]; `MR ≤ MR_MAX`, `NV·LANES ≤ NR_MAX`.
#[inline(always)]
unsafe fn gemm_body<S: Simd, const MR: usize, const NV: usize>(s: S, g: &Gemm) {
    let nr = NV * S::LANES;
    if g.m == 0 || g.n == 0 {
        return;
    }
    // α = 0 or k = 0: one pass with an empty K block still applies β and the epilogue.
    let (k, alpha) = depth_alpha(g);
    let kc_max = if k < KC { k } else { KC };
    let mc_max = if g.m < MC { g.m } else { MC };
    // Both packed panels start on a 64-byte boundary, so no vector load of B splits a
    // cache line. `gemm_workspace_len` holds ALIGN_SLACK spare values for this.
    let ap = align64(g.ws);
    let a_len = (mc_max.div_ceil(MR) * MR * kc_max).next_multiple_of(16);
    // SAFETY: `ap` is at most 15 values into the workspace; the packed A block takes
    // round_up(mc_max, MR)·kc_max ≤ (min(m, MC) + MR_MAX − 1)·kc_max values, rounded up to
    // 16, the first part of `gemm_workspace_len`; B's panel follows it.
    let bp = unsafe { ap.add(a_len) };

    // One past the last element of B (k ≥ 1 here whenever B is read): its slice holds
    // every value from `b` up to there.
    let b_end =
        g.b.wrapping_add((k.max(1) - 1) * g.brs + (g.n - 1) * g.bcs + 1);
    let mut jc = 0;
    while jc < g.n {
        let nc = if g.n - jc < NC { g.n - jc } else { NC };
        let mut pc = 0;
        loop {
            let kc = if k - pc < KC { k - pc } else { KC };
            let first = pc == 0;
            let last = pc + kc == k;
            // B with contiguous rows is read in place by whole strips (its rows are the
            // strip's rows, `brs` apart); only a last, partial strip is packed. Other
            // layouts are packed whole.
            let direct = g.bcs == 1 && g.m <= MC;
            let (pack_from, pack_cols) = if direct {
                let whole = nc - nc % nr;
                (whole, nc - whole)
            } else {
                (0, nc)
            };
            // SAFETY: the packed columns are inside B (p < k, j < n), whose slice holds
            // every value up to `b_end`; `bp` has room for round_up(nc, NR)·kc ≤ the second
            // part of `gemm_workspace_len`.
            unsafe {
                let from = g.b.wrapping_add(pc * g.brs + (jc + pack_from) * g.bcs);
                if const { tiles(S::ISA).bt_transpose } && g.brs == 1 && nr.is_multiple_of(8) {
                    pack_b_transposed(s, kc, pack_cols, from, g.bcs, bp, nr, b_end)
                } else {
                    pack_b(kc, pack_cols, from, g.brs, g.bcs, bp, nr)
                }
            };
            let beta = if first { g.beta } else { 1.0 };
            let epi = if last { g.epi } else { Epilogue::None };
            let mut ic = 0;
            while ic < g.m {
                let mc = if g.m - ic < MC { g.m - ic } else { MC };
                // SAFETY: the A block is inside A; `ap` has room for round_up(mc, MR)·kc.
                unsafe {
                    pack_a::<S, MR>(
                        s,
                        mc,
                        kc,
                        g.a.wrapping_add(ic * g.ars + pc * g.acs),
                        g.ars,
                        g.acs,
                        ap,
                    )
                };
                let mut jr = 0;
                // B read in place is not in cache the first time a strip is used: each
                // tile of the strip asks for `pf_share` rows of the next strip (on from
                // the current strip's rows; the next K block's first strip after the last).
                let tiles = mc.div_ceil(MR);
                let pf_share = if direct { kc.div_ceil(tiles) } else { 0 };
                while jr < nc {
                    let cols = if nc - jr < nr { nc - jr } else { nr };
                    let b_next = if !direct {
                        core::ptr::null()
                    } else if jr + nr < pack_from {
                        g.b.wrapping_add(pc * g.brs + jc + jr + nr)
                    } else if jr + nr >= nc && pc + kc < k {
                        g.b.wrapping_add((pc + kc) * g.brs + jc)
                    } else {
                        core::ptr::null()
                    };
                    let mut ir = 0;
                    while ir < mc {
                        let rows = if mc - ir < MR { mc - ir } else { MR };
                        let (row0, col0) = (ic + ir, jc + jr);
                        let (b_strip, b_step) = if jr < pack_from {
                            (g.b.wrapping_add(pc * g.brs + jc + jr), g.brs)
                        } else {
                            (bp.wrapping_add((jr - pack_from) * kc).cast_const(), nr)
                        };
                        let pf = Prefetch {
                            c: next_tile(g, (jc, pc, ic, jr, ir), (nc, kc, mc, nr, MR))
                                .map_or(core::ptr::null(), |(i, j)| {
                                    g.c.wrapping_add(i * g.crs + j * g.ccs).cast_const()
                                }),
                            c_rs: g.crs,
                            b: b_next.wrapping_add(pf_share * (ir / MR) * g.brs),
                            b_rs: g.brs,
                            b_rows: pf_share,
                        };
                        // SAFETY: strip `ir / MR` of A is packed; strip `jr / NR` of B is
                        // either whole in B (direct: kc rows of NR values, `brs` apart) or
                        // packed; the tile's `rows × cols` part lies inside C; the caller
                        // vouches for C and the epilogue pointers.
                        unsafe {
                            tile::<S, MR, NV>(
                                s,
                                kc,
                                ap.add(ir * kc),
                                b_strip,
                                b_step,
                                alpha,
                                beta,
                                g.c.add(row0 * g.crs + col0 * g.ccs),
                                g.crs,
                                g.ccs,
                                rows,
                                cols,
                                epi,
                                row0,
                                col0,
                                if g.ccs == 1 { pf } else { Prefetch::NONE },
                            )
                        };
                        ir += MR;
                    }
                    jr += nr;
                }
                ic += MC;
            }
            pc += kc;
            if pc >= k {
                break;
            }
        }
        jc += NC;
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    //! The fused epilogues on every instruction set and both paths (packed and unpacked),
    //! against the unfused scalar computation.
    use super::*;
    use crate::Activation;
    use crate::gemm::{Epi, gemm_fused, gemm_workspace_len};
    use std::vec;
    use std::vec::Vec;

    fn fill(seed: &mut u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// [`Gemm::part`] cuts rows (or columns) into consecutive blocks of whole tiles that
    /// cover the product exactly, with no overflow for any length and part count.
    #[test]
    fn parts_tile_the_product_exactly() {
        let g = |m: usize, n: usize| Gemm {
            m,
            k: 1,
            n,
            alpha: 1.0,
            a: core::ptr::null(),
            ars: 1,
            acs: 1,
            b: core::ptr::null(),
            brs: 1,
            bcs: 1,
            beta: 0.0,
            c: core::ptr::null_mut(),
            crs: 1,
            ccs: 1,
            ws: core::ptr::null_mut(),
            epi: Epilogue::None,
        };
        // Up to the longest f32 slice there can be (isize::MAX bytes).
        let lens = [
            1,
            7,
            8,
            9,
            1000,
            1 << 20,
            usize::MAX / 64,
            isize::MAX as usize / 4,
        ];
        let counts = [1, 2, 3, 5, 64, 1 << 15, usize::MAX / 1024];
        for &len in &lens {
            for &parts in &counts {
                for unit in [1, 4, 8, 48] {
                    for rows in [true, false] {
                        let whole = if rows { g(len, 3) } else { g(3, len) };
                        let mut next = 0;
                        // Every part for small counts; the first and last few otherwise.
                        let check: Vec<usize> = if parts <= 64 {
                            (0..parts).collect()
                        } else {
                            (0..3).chain(parts - 3..parts).collect()
                        };
                        for p in check {
                            let b = whole.part(rows, unit, p, parts, 0);
                            // C starts at address 0 with unit strides: its offset in f32s.
                            let start = b.c.addr() / size_of::<f32>();
                            let size = if rows { b.m } else { b.n };
                            assert!(size <= len, "{len} {parts} {unit}: part {p} has {size}");
                            if parts <= 64 {
                                assert_eq!(start, next, "{len} {parts} {unit}: part {p}");
                                next = start + size;
                                assert!(
                                    next == len || size % unit == 0,
                                    "{len} {parts} {unit}: part {p} not whole tiles"
                                );
                            }
                        }
                        if parts <= 64 {
                            assert_eq!(next, len, "{len} {parts} {unit}: not covered");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn epilogues_match_unfused_reference_on_every_isa() {
        let mut seed = 1;
        // n ≤ 16 takes an unpacked path on AVX2/AVX-512 (k ≥ 256: the dot-product one);
        // the others the packed one.
        // Under Miri (portable and scalar only): the unpacked path, the packed path with a
        // partial strip and two K blocks (the epilogue runs on the last one only), k = 1.
        let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
            &[(7, 5, 3), (5, 130, 10), (3, 1, 17)]
        } else {
            &[
                (7, 5, 3),
                (17, 33, 10),
                (9, 300, 16),
                (13, 517, 10),
                (6, 1000, 3),
                (20, 40, 50),
                (3, 1, 97),
            ]
        };
        for &(m, k, n) in shapes {
            let a = fill(&mut seed, m * k);
            let b = fill(&mut seed, k * n);
            let bias = fill(&mut seed, n);
            let h: Vec<f32> = fill(&mut seed, m * n).iter().map(|x| x.abs()).collect();
            let c0 = fill(&mut seed, m * n);
            let mut plain = c0.clone();
            crate::gemm_scalar(
                1.5,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.5,
                crate::MatMut::row_major(&mut plain, m, n).unwrap(),
            )
            .unwrap();
            let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
            for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
                for act in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
                    let epis = [
                        Epi::BiasAct {
                            act,
                            bias: Some(&bias),
                        },
                        Epi::MulDeriv {
                            act,
                            h: MatRef::row_major(&h, m, n).unwrap(),
                        },
                    ];
                    for (e, epi) in epis.into_iter().enumerate() {
                        let mut c = c0.clone();
                        gemm_fused(
                            isa,
                            1.5,
                            MatRef::row_major(&a, m, k).unwrap(),
                            MatRef::row_major(&b, k, n).unwrap(),
                            0.5,
                            crate::MatMut::row_major(&mut c, m, n).unwrap(),
                            &mut ws,
                            epi,
                        )
                        .unwrap();
                        for i in 0..m {
                            for j in 0..n {
                                let x = plain[i * n + j];
                                let want = if e == 0 {
                                    act.scalar(x + bias[j])
                                } else {
                                    x * act.derivative_scalar(h[i * n + j])
                                };
                                let got = c[i * n + j];
                                assert!(
                                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                    "{isa:?} {act:?} epi {e} ({m},{k},{n}) at ({i},{j}): \
                                     {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// The dot-product path ([`dot_body`]) is taken only on AVX2 and AVX-512; run its
    /// generic body on the portable token (8 lanes × 2 vectors, AVX2's shape) and the scalar
    /// one too, so that its pointer arithmetic is checked where Miri can run it.
    #[test]
    fn dot_path_on_portable_and_scalar_tokens() {
        use crate::simd::{Portable, Scalar};
        let mut seed = 7;
        let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
            &[(5, 260, 10)]
        } else {
            &[(5, 260, 10), (9, 300, 16), (1, 256, 1), (13, 517, 3)]
        };
        for &(m, k, n) in shapes {
            let a = fill(&mut seed, m * k);
            let b = fill(&mut seed, k * n);
            let c0 = fill(&mut seed, m * n);
            let mut want = c0.clone();
            crate::gemm_scalar(
                1.5,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.5,
                crate::MatMut::row_major(&mut want, m, n).unwrap(),
            )
            .unwrap();
            let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
            for isa in [Isa::Portable, Isa::Scalar] {
                let mut c = c0.clone();
                let g = Gemm {
                    m,
                    k,
                    n,
                    alpha: 1.5,
                    a: a.as_ptr(),
                    ars: k,
                    acs: 1,
                    b: b.as_ptr(),
                    brs: n,
                    bcs: 1,
                    beta: 0.5,
                    c: c.as_mut_ptr(),
                    crs: n,
                    ccs: 1,
                    ws: ws.as_mut_ptr(),
                    epi: Epilogue::None,
                };
                // SAFETY: row-major buffers of exactly these shapes, a workspace of
                // `gemm_workspace_len`; `dot_fits` is asserted and NV·LANES = 16 = DOT_MAX_N.
                unsafe {
                    if isa == Isa::Portable {
                        assert!(dot_fits::<Portable>(&g));
                        dot_body::<Portable, DOT_ROWS, 2>(Portable, &g);
                    } else {
                        assert!(dot_fits::<Scalar>(&g));
                        dot_body::<Scalar, DOT_ROWS, 16>(Scalar, &g);
                    }
                }
                for (i, (&got, &want)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{isa:?} ({m},{k},{n}) at {i}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
