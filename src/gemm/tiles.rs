//! Every instruction set's GEMM tiles, the blocking around them and the thresholds that
//! pick a path, in one place.
//!
//! | instruction set | lanes | packed tile | unpacked tile | wide unpacked | dot-product path | Aᵀ narrow tile |
//! |-----------------|-------|-------------|---------------|---------------|------------------|----------------|
//! | scalar          | 1     | 4 × 4       | 4 × 1         | 4 × 1         | no               | no             |
//! | portable        | 8     | 6 × 8       | 8 × 8         | 8 × 8         | no               | no             |
//! | neon            | 4     | 8 × 12      | 8 × 12        | 8 × 12        | no               | no             |
//! | avx2            | 8     | 6 × 16      | 8 × 16        | 8 × 16        | 4 × 16           | no             |
//! | avx512          | 16    | 8 × 48      | 16 × 16       | 8 × 32        | 4 × 16           | 32 × 10        |
//!
//! Tiles are rows × columns of C. The packed path is the Goto/BLIS loop nest (blocks of
//! [`MC`] × [`KC`] of A and [`KC`] × [`NC`] of B packed into the workspace); the unpacked
//! path reads a narrow B (at most the tile's columns, contiguous rows, `k·n` ≤
//! [`SKINNY_B_MAX`]) in place; the dot-product path takes a deep narrow product with
//! contiguous rows of A (`k` ≥ [`DOT_MIN_K`], `n` ≤ [`DOT_MAX_N`]). Each instruction set
//! takes the first of dot product (if it has it), unpacked, wide unpacked and packed that
//! fits. The wide unpacked tile serves B a little wider than the unpacked one (AVX-512:
//! 17–32 columns, such as a 32-unit hidden layer), where the packed path would pack both
//! operands and spend a third of its 48-column tile on padding; measured on the digits
//! epoch (64-32-10, batch 32) it cut the epoch from about 0.55 to 0.42 ms.
//! The Aᵀ narrow tile serves a narrow B (at most its columns) times an A whose columns
//! are contiguous (a transposed view, like the update `w2 −= lr·hᵀ·Δ`: 1000 × 64 × 10):
//! vectors run down the columns of C, so no lane is padding and A is loaded, not
//! broadcast (B is packed into the workspace, `k` rows of the tile's columns); measured on
//! 1000 × 64 × 10 (Aᵀ, β = 1) it took 30 µs down to 13–15 µs (matrixmultiply: 23 µs). Columns `n < NJ` still cost
//! `NJ` FMAs a step; 10 columns (20 accumulators) fit the lecture's and the digits
//! classifier's output layers exactly.
//! A transposed B (`Δ·w2ᵀ` of a small network) of one K block (`k ≤ KC`, so the packed
//! path would sum the same way) that the unpacked paths could take row-major is copied
//! row-major into the workspace first: the digits classifier's 32 × 10 × 32 (Bᵀ) went from
//! 0.67 to 0.43 µs, instead of packing both operands for the packed path.
//! The scalar backend (the only one of a Cortex-M or RISC-V build) keeps its unpacked tile
//! to one column, such as a 1-output layer: each width of that tile is its own copy of the
//! loop and the epilogue (about 700 bytes of flash at opt-level `"s"`), and B of 2–4
//! columns takes the packed 4 × 4 tile instead. On a Cortex-M4F that cut the training
//! step's flash by 2.3 KB for 1,826 more instructions a step on XOR 2-3-1 at opt-level
//! `"s"` (6,616 to 8,442 in the build of that change; 7,966 in the README's table of that
//! time, against 11,106 for plain loops) and none on 16-32-16-1, whose narrow products are all 1 wide.
//! With the scalar backend forced on a desktop, such a B takes the packed path too (for
//! `k > KC` it sums in blocks, so results can move by an ULP or so from the unpacked sum).
//! The unit test below holds this table to [`tiles`].

use super::kernel::COL_BUF;
use crate::simd::Isa;

/// The GEMM tiles of one instruction set. A tile is `MR` rows by `NV` vectors of
/// `lanes` values (`NR = NV·lanes` columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiles {
    /// Lanes per vector (the backend's `Simd::LANES`; checked where it is used).
    pub(crate) lanes: usize,
    /// `(MR, NV)` of the packed path's register tile.
    pub(crate) packed: (usize, usize),
    /// `(MR, NV)` of the unpacked path for narrow B: many rows to amortize each B load
    /// (remainder rows go in tiles of 8, 4, 2, 1).
    pub(crate) skinny: (usize, usize),
    /// `(MR, NV)` of a second unpacked tile, tried when B is wider than `skinny`'s
    /// columns; the same as `skinny` where there is none.
    pub(crate) wide: (usize, usize),
    /// Whether the dot-product path is used: it pays off only where a horizontal
    /// reduction is cheap next to the FMAs it saves (AVX2, AVX-512).
    pub(crate) dot: bool,
    /// `(MV, NJ)` of the Aᵀ narrow tile (`MV·lanes` rows × `NJ` columns, vectors down
    /// the columns; see [`col_tile`](super::kernel::col_tile)); `(0, 0)`: no such path.
    pub(crate) col: (usize, usize),
    /// Whether the packed path packs a transposed B with vector transposes of 8 of its
    /// columns ([`Simd::transpose_rows`](crate::simd::Simd::transpose_rows)`::<8>`, vector
    /// code only on AVX-512; elsewhere value by value, which is faster there).
    pub(crate) bt_transpose: bool,
}

impl Tiles {
    /// `(MR, NR)` of the packed path's register tile.
    pub(crate) const fn packed_mr_nr(&self) -> (usize, usize) {
        (self.packed.0, self.packed.1 * self.lanes)
    }
    /// `(MR, NR)` of the unpacked path's tile.
    pub(crate) const fn skinny_mr_nr(&self) -> (usize, usize) {
        (self.skinny.0, self.skinny.1 * self.lanes)
    }
    /// `(MR, NR)` of the wide unpacked tile.
    pub(crate) const fn wide_mr_nr(&self) -> (usize, usize) {
        (self.wide.0, self.wide.1 * self.lanes)
    }
    /// `(MR, NV)` of the Aᵀ narrow tile: its rows, and the vectors per row of its
    /// transposed copy for [`store_tile`](super::kernel::store_tile).
    pub(crate) const fn col_mr_nv(&self) -> (usize, usize) {
        (self.col.0 * self.lanes, self.col.1.div_ceil(self.lanes))
    }
    /// Vectors per row of C on the dot-product path: enough for [`DOT_MAX_N`] columns.
    pub(crate) const fn dot_nv(&self) -> usize {
        DOT_MAX_N.div_ceil(self.lanes)
    }
}

/// Scalar: 4 × 4, 16 independent accumulators; unpacked only for one column (see the
/// module docs).
pub(crate) const SCALAR: Tiles = Tiles {
    lanes: 1,
    packed: (4, 4),
    skinny: (4, 1),
    wide: (4, 1),
    dot: false,
    col: (0, 0),
    bt_transpose: false,
};
/// Portable (eight emulated lanes).
pub(crate) const PORTABLE: Tiles = Tiles {
    lanes: 8,
    packed: (6, 1),
    skinny: (8, 1),
    wide: (8, 1),
    dot: false,
    col: (0, 0),
    bt_transpose: false,
};
/// NEON: packed 8 × 12, 24 accumulators of 4 lanes, three B vectors and a broadcast of
/// A (28 of aarch64's 32 vector registers).
pub(crate) const NEON: Tiles = Tiles {
    lanes: 4,
    packed: (8, 3),
    skinny: (8, 3),
    wide: (8, 3),
    dot: false,
    col: (0, 0),
    bt_transpose: false,
};
/// AVX2: packed 6 × 16, 12 accumulators of 8 lanes, two B vectors, broadcasts of A
/// (16 ymm registers).
pub(crate) const AVX2: Tiles = Tiles {
    lanes: 8,
    packed: (6, 2),
    skinny: (8, 2),
    wide: (8, 2),
    dot: true,
    col: (0, 0),
    bt_transpose: false,
};
/// AVX-512: packed 8 × 48, 24 accumulators of 16 lanes, three B vectors and a broadcast
/// of A (28 of the 32 zmm registers); 24 independent FMAs cover 2 pipes × 4 cycles of
/// latency three times over, and 8 rows divide the lecture's 64 and 1000. (12 × 32 and
/// 6 × 64 measured no better here.)
pub(crate) const AVX512: Tiles = Tiles {
    lanes: 16,
    packed: (8, 3),
    skinny: (16, 1),
    wide: (8, 2),
    dot: true,
    col: (2, 10),
    bt_transpose: true,
};

/// The tiles of `isa`.
pub(crate) const fn tiles(isa: Isa) -> Tiles {
    match isa {
        Isa::Scalar => SCALAR,
        Isa::Portable => PORTABLE,
        Isa::Neon => NEON,
        Isa::Avx2 => AVX2,
        Isa::Avx512 => AVX512,
    }
}

/// Depth of one packed block (the microkernel's inner loop length).
pub(crate) const KC: usize = 128;
/// Rows of A packed per block; a multiple of every backend's `MR`.
pub(crate) const MC: usize = 96;
/// Columns of B packed per panel; a multiple of every backend's `NR`.
pub(crate) const NC: usize = 1056;

/// Largest `k·n` the unpacked path takes: every row tile reads all of B again, so B
/// should stay in L2 (256 KiB).
pub(crate) const SKINNY_B_MAX: usize = 1 << 16;

/// Rows per tile of the dot-product path: 4 × [`DOT_JN`] = 16 independent accumulators,
/// and 8 loads per 16 FMAs.
pub(crate) const DOT_ROWS: usize = 4;
/// Columns per group of the dot-product kernel: `DOT_ROWS × DOT_JN` accumulators.
pub(crate) const DOT_JN: usize = 4;
/// Shortest depth the dot-product path takes: each of its results costs a horizontal
/// reduction, and Bᵀ is packed once for all rows.
pub(crate) const DOT_MIN_K: usize = 256;
/// Widest B the dot-product path takes (one row of C in ≤ 16 lanes).
pub(crate) const DOT_MAX_N: usize = 16;

/// Largest `NR` of any tile of the instruction sets this build can run (packed,
/// unpacked, wide unpacked, and the dot-product path's rows where it is used): bounds the
/// stack tiles of edge tiles and of the dot-product path. A `no_std` Cortex-M build
/// (the scalar 4 × 4 tile alone) gets 4, which keeps a training step's stack small: at a
/// fixed 64 the stack tiles took over 1 KiB of the GEMM's frame there.
pub(crate) const TILE_MAX: usize = {
    // With `std` the dot-product path's rows (`DOT_MAX_N`) always fit: its unit test runs
    // it on the portable and scalar tokens too, on every architecture.
    let mut most = if cfg!(feature = "std") { DOT_MAX_N } else { 1 };
    let mut i = 0;
    while i < Isa::ALL.len() {
        let t = tiles(Isa::ALL[i]);
        if can_run(Isa::ALL[i]) {
            let widths = [
                t.packed_mr_nr().1,
                t.skinny_mr_nr().1,
                t.wide_mr_nr().1,
                if t.dot { t.dot_nv() * t.lanes } else { 1 },
                t.col_mr_nv().1 * t.lanes,
            ];
            let mut j = 0;
            while j < widths.len() {
                if widths[j] > most {
                    most = widths[j];
                }
                j += 1;
            }
        }
        i += 1;
    }
    most
};

/// Whether this build can run GEMM on `isa`: with `std`, every instruction set of the
/// target architecture (runtime detection picks one); without it, only
/// [`Isa::compile_time_best`] (every kernel dispatches on that constant).
pub(crate) const fn can_run(isa: Isa) -> bool {
    if !cfg!(feature = "std") {
        return isa as u8 == Isa::compile_time_best() as u8;
    }
    match isa {
        Isa::Scalar | Isa::Portable => true,
        Isa::Avx2 | Isa::Avx512 => cfg!(target_arch = "x86_64"),
        Isa::Neon => cfg!(target_arch = "aarch64"),
    }
}

/// The largest packed register tile `(MR, NR)` of the instruction sets this build can
/// run. The workspace is sized for it, so one buffer fits each of them, and a `no_std`
/// build (one instruction set, e.g. the scalar 4 × 4 tile on Cortex-M) asks for no more
/// than its own tile needs.
const TILE_BOUND: (usize, usize) = {
    let (mut mr, mut nr) = (1, 1);
    let mut i = 0;
    while i < Isa::ALL.len() {
        if can_run(Isa::ALL[i]) {
            let (m, n) = tiles(Isa::ALL[i]).packed_mr_nr();
            mr = if m > mr { m } else { mr };
            nr = if n > nr { n } else { nr };
        }
        i += 1;
    }
    (mr, nr)
};
/// See [`TILE_BOUND`].
pub(crate) const MR_MAX: usize = TILE_BOUND.0;
/// See [`TILE_BOUND`].
pub(crate) const NR_MAX: usize = TILE_BOUND.1;

const _: () = {
    let mut i = 0;
    while i < Isa::ALL.len() {
        let isa = Isa::ALL[i];
        let t = tiles(isa);
        // The workspace formula relies on MR ≤ MR_MAX and NR ≤ NR_MAX for every
        // instruction set this build can run (NR ≤ TILE_MAX for the edge tile, on all of
        // them); MC and NC being multiples of the tile keeps blocks aligned to whole tiles.
        let run = can_run(isa);
        let (mr, nr) = t.packed_mr_nr();
        assert!(!run || (mr <= MR_MAX && nr <= NR_MAX && nr <= TILE_MAX));
        assert!(MC.is_multiple_of(mr) && NC.is_multiple_of(nr));
        // The unpacked path uses no workspace; its edge pads hold TILE_MAX values and its
        // row remainders are split in 8, 4, 2, 1 (so MR ≤ 16).
        let (mr, nr) = t.skinny_mr_nr();
        assert!(mr <= 16 && (!run || nr <= TILE_MAX));
        let (mr, nr) = t.wide_mr_nr();
        assert!(mr <= 16 && (!run || nr <= TILE_MAX));
        // The dot-product path's rows of C fit its vectors and the stack tile.
        assert!(t.dot_nv() * t.lanes >= DOT_MAX_N);
        assert!(!run || !t.dot || t.dot_nv() * t.lanes <= TILE_MAX);
        // The Aᵀ narrow tile and its transposed copy fit the stack buffers.
        let (mr, nv) = t.col_mr_nv();
        assert!(mr * t.col.1 <= COL_BUF && mr * nv * t.lanes <= COL_BUF);
        i += 1;
    }
    assert!(DOT_MAX_N.is_multiple_of(DOT_JN));
};

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::format;

    /// The table in the module docs is this module's [`tiles`].
    #[test]
    fn doc_table_matches_the_tiles() {
        let src = include_str!("tiles.rs");
        for &isa in Isa::ALL {
            let t = tiles(isa);
            let (pm, pn) = t.packed_mr_nr();
            let (sm, sn) = t.skinny_mr_nr();
            let (wm, wn) = t.wide_mr_nr();
            let dot = if t.dot {
                format!("{DOT_ROWS} × {DOT_MAX_N}")
            } else {
                "no".into()
            };
            let col = if t.col.0 > 0 {
                format!("{} × {}", t.col_mr_nv().0, t.col.1)
            } else {
                "no".into()
            };
            let row = format!(
                "| {:<15} | {:<5} | {:<11} | {:<13} | {:<13} | {:<16} | {:<14} |",
                isa.name(),
                t.lanes,
                format!("{pm} × {pn}"),
                format!("{sm} × {sn}"),
                format!("{wm} × {wn}"),
                dot,
                col
            );
            assert!(src.contains(&row), "no doc row {row}");
        }
    }
}
