//! Direct convolution: the products of a convolution read from the images where they
//! lie, with no unfolded (im2col) copy of the input.
//!
//! A convolution over channels-last images is a matrix product whose left operand is
//! the unfolded input: row `p` (an output pixel) holds its window, `kh·kw` taps of `cg`
//! contiguous channels. Here that row is never written out: the register tile keeps one
//! base pointer per output pixel and walks the window's taps by offset, so every value
//! is broadcast straight from the image. Two-dimensional images must already hold
//! their zero padding (the layer copies them into a padded buffer). A 1-D convolution
//! (images of one row) reads its padding virtually instead ([`Direct::vp`]): the pixels
//! whose windows lie inside the sequence read it where it lies, and the few whose
//! windows cross an end read a small copy of that end with its zeros ([`fill_edges`]),
//! in the same order, so the sums are bit for bit those over a padded copy (but for the
//! sliding forward tiles, which a padded copy takes on AVX-512 and virtual padding does
//! not: see [`Forward`]).
//!
//! * [`conv_forward`]: `out[p][j] = epi(Σ_r x(p, r)·w[r][j])`, the forward pass (bias and
//!   activation in the epilogue) and, over the padded delta with the flipped weights,
//!   the input gradient of a stride-1 convolution (the previous activation's derivative
//!   in the epilogue).
//! * [`conv_wgrad`]: `dw[r][j] ← α·Σ_p x(p, r)·δ[p][j] + β·dw[r][j]`, the weight gradient
//!   (α = −lr, β = 1: plain SGD straight into the weights).
//!
//! On AVX-512, a forward product of stride 1 along the rows with three taps a kernel row
//! and one vector of columns takes sliding tiles instead ([`slide`]): each input value is
//! broadcast once for the three output pixels whose windows hold it.
//!
//! Both finish each tile with the GEMM's own [`store_tile`], so the epilogues are
//! computed exactly as a GEMM's. The window index `r = (ky·kw + kx)·cg + ci` of a tap
//! `(ky, kx)` and channel `ci` is the row of the weight matrix, as in the layers.

use super::epilogue::Epilogue;
use super::kernel::store_tile;
use super::{Epi, min};
use crate::simd::{Isa, Simd, WithSimd, dispatch};
use crate::{Error, MatMut, MatRef};

/// The geometry of a direct convolution over `n` images of `h × w × c` (padding
/// included), for the channels `c0 .. c0 + cg` of one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Direct {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub c0: usize,
    pub cg: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    /// Virtual zero columns on each side: `w` counts them but the images do not hold
    /// them (each holds `h·(w − 2·vp)·c` values), and the windows that cross them are
    /// read from the images' edge strips ([`fill_edges`]). 0 for images that hold their
    /// padding; non-zero only with `h == 1`.
    pub vp: usize,
}

/// Where the windows of a virtually padded row lie (see [`Direct::vp`]): pixels
/// `0 .. nl` in the image's left strip (padded columns `0 .. el`), `nl .. r0` in the
/// image itself, `r0 .. ow` in its right strip (padded columns `rs .. w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edges {
    nl: usize,
    r0: usize,
    el: usize,
    rs: usize,
}

impl Direct {
    /// Output rows: `(h − dh·(kh − 1) − 1)/sh + 1`, 0 when the window does not fit.
    pub(crate) const fn oh(&self) -> usize {
        out_len(self.h, self.kh, self.sh, self.dh)
    }
    /// Output columns.
    pub(crate) const fn ow(&self) -> usize {
        out_len(self.w, self.kw, self.sw, self.dw)
    }
    /// Output pixels of the batch, `n·oh·ow`: the product's rows.
    pub(crate) const fn m(&self) -> usize {
        self.n.saturating_mul(self.oh()).saturating_mul(self.ow())
    }
    /// Window values, `kh·kw·cg`: the product's depth.
    pub(crate) const fn k(&self) -> usize {
        self.kh.saturating_mul(self.kw).saturating_mul(self.cg)
    }

    /// The pixels of a row whose windows cross its virtual padding, and the edge strips
    /// they read (all pixels inside the image without virtual padding).
    const fn edges(&self) -> Edges {
        let ow = self.ow();
        if self.vp == 0 || ow == 0 || self.w < self.vp.saturating_mul(2) {
            return Edges {
                nl: 0,
                r0: ow,
                el: 0,
                rs: self.w,
            };
        }
        // A window that fits (`ow > 0`) spans at most `w` columns: no overflow.
        let span = (self.kw - 1) * self.dw + 1;
        // Left: the pixels whose windows start in the padding, `ox·sw < vp`.
        let nl = min(ow, self.vp.div_ceil(self.sw));
        // Right: from the first pixel whose window ends past the image,
        // `ox·sw + span > w − vp`.
        let lim = self.w - self.vp;
        let first = if lim >= span {
            (lim - span) / self.sw + 1
        } else {
            0
        };
        let r0 = max(nl, min(first, ow));
        Edges {
            nl,
            r0,
            el: if nl > 0 { (nl - 1) * self.sw + span } else { 0 },
            rs: if r0 < ow { r0 * self.sw } else { self.w },
        }
    }

    /// Values of one image's edge strips (0 without virtual padding).
    const fn strip_len(&self) -> usize {
        if self.vp == 0 {
            return 0;
        }
        let e = self.edges();
        // (Saturating: each term is at most `w`, their sum past `usize` for absurd sizes
        // that `check` refuses.)
        e.el.saturating_add(self.w - e.rs).saturating_mul(self.c)
    }

    /// Values of the edge strips of all `n` images: the `edges` buffer of the kernels
    /// ([`fill_edges`]); 0 without virtual padding.
    pub(crate) const fn edge_len(&self) -> usize {
        self.n.saturating_mul(self.strip_len())
    }

    /// Values of one image as the caller holds it: `h·(w − 2·vp)·c`.
    const fn image_len(&self) -> Option<usize> {
        match self.w.checked_sub(self.vp.saturating_mul(2)) {
            Some(w) => match self.h.checked_mul(w) {
                Some(hw) => hw.checked_mul(self.c),
                None => None,
            },
            None => None,
        }
    }

    /// Checks the geometry against an image buffer of `len` values and edge strips of
    /// `edges`.
    fn check(&self, len: usize, edges: usize) -> Result<(), Error> {
        let bad = |what| Err(Error::InvalidArgument { what });
        if self.kh == 0 || self.kw == 0 || self.sh == 0 || self.sw == 0 || self.dh == 0 {
            return bad("direct convolution: kernel and stride must be at least 1");
        }
        if self.dw == 0 || self.cg == 0 || self.c0 > self.c || self.cg > self.c - self.c0 {
            return bad("direct convolution: dilation >= 1 and a channel group within c");
        }
        if self.oh() == 0 || self.ow() == 0 {
            return bad("direct convolution: the window must fit the images");
        }
        if self.vp > 0 && (self.h != 1 || self.w <= self.vp.saturating_mul(2)) {
            return bad("direct convolution: virtual padding needs rows of one image row");
        }
        let overflow = Error::Overflow {
            what: "direct convolution: n·h·w·c",
        };
        let need = self
            .image_len()
            .and_then(|v| v.checked_mul(self.n))
            .ok_or(overflow)?;
        if len < need {
            return Err(Error::BufferTooSmall {
                what: "direct convolution: the images (n·h·(w − 2·vp)·c)",
                needed: need,
                len,
            });
        }
        // The strips are at most `2·w·c` values an image: no overflow once `n·w·c` fits.
        self.n
            .checked_mul(self.w)
            .and_then(|v| v.checked_mul(self.c))
            .and_then(|v| v.checked_mul(2))
            .ok_or(overflow)?;
        if edges < self.edge_len() {
            return Err(Error::BufferTooSmall {
                what: "direct convolution: the edge strips (Direct::edge_len)",
                needed: self.edge_len(),
                len: edges,
            });
        }
        Ok(())
    }
}

const fn out_len(len: usize, k: usize, s: usize, d: usize) -> usize {
    let span = match d.checked_mul(k.saturating_sub(1)) {
        Some(v) => v,
        None => return 0,
    };
    if k == 0 || s == 0 || span >= len {
        return 0;
    }
    (len - span - 1) / s + 1
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Fills `edges` with the edge strips of the `n` images `x` of a virtually padded
/// geometry ([`Direct::vp`]): for each image, the padded columns `0 .. el`, then
/// `rs .. w`, every channel, zeros where they are padding. Nothing to do without
/// virtual padding.
///
/// # Errors
/// As the kernels, for a geometry that does not fit `x` or `edges`; nothing is
/// written then.
pub(crate) fn fill_edges(d: &Direct, x: &[f32], edges: &mut [f32]) -> Result<(), Error> {
    d.check(x.len(), edges.len())?;
    if d.vp == 0 {
        return Ok(());
    }
    let (e, c, vp) = (d.edges(), d.c, d.vp);
    let (src, sl) = (d.w - 2 * vp, d.strip_len());
    // Padded columns `a .. b` into `out`: zeros, the image's columns that lie there (one
    // copy), zeros.
    let fill = |row: &[f32], out: &mut [f32], a: usize, b: usize| {
        let lo = a.max(vp).min(b);
        let hi = b.min(vp + src).max(lo);
        let (zl, rest) = out.split_at_mut((lo - a) * c);
        let (mid, zr) = rest.split_at_mut((hi - lo) * c);
        zl.fill(0.0);
        if hi > lo {
            mid.copy_from_slice(&row[(lo - vp) * c..(hi - vp) * c]);
        }
        zr.fill(0.0);
    };
    for (img, strip) in edges[..d.edge_len()].chunks_exact_mut(sl).enumerate() {
        let row = &x[img * src * c..][..src * c];
        let (left, right) = strip.split_at_mut(e.el * c);
        fill(row, left, 0, e.el);
        fill(row, right, e.rs, d.w);
    }
    Ok(())
}

/// The images of a kernel and where each output pixel's window lies in them.
#[derive(Clone, Copy)]
struct Src {
    x: *const f32,
    edges: *const f32,
    e: Edges,
    /// Values of an image in `x`, and of its strips in `edges`.
    img: usize,
    strip: usize,
    /// A pixel step, `sw·c`.
    step: usize,
    /// The offset of a pixel's window origin in `x` from its padded column's:
    /// `vp·c − c0` (wrapping).
    back: usize,
    c: usize,
    c0: usize,
}

impl Src {
    /// The images `x` and strips `edges` of a checked geometry `d`.
    fn new(d: &Direct, x: *const f32, edges: *const f32) -> Src {
        Src {
            x,
            edges,
            e: d.edges(),
            img: d.h * (d.w - 2 * d.vp) * d.c,
            strip: d.strip_len(),
            // (Wrapping: an absurd stride's step is never used with one output pixel.)
            step: d.sw.wrapping_mul(d.c),
            back: d.vp.wrapping_mul(d.c).wrapping_sub(d.c0),
            c: d.c,
            c0: d.c0,
        }
    }

    /// The window origin (tap 0, channel `c0`) of pixel `ox` of image `img`'s one row,
    /// virtual padding.
    #[inline(always)]
    fn pixel(&self, img: usize, ox: usize) -> *const f32 {
        let e = &self.e;
        let col = ox * self.step;
        if ox < e.nl {
            let at = img * self.strip + col + self.c0;
            self.edges.wrapping_add(at)
        } else if ox < e.r0 {
            self.x
                .wrapping_add((img * self.img + col).wrapping_sub(self.back))
        } else {
            let at = img * self.strip + e.el * self.c + col - e.rs * self.c + self.c0;
            self.edges.wrapping_add(at)
        }
    }
}

/// `m` must be `rows × cols` with contiguous rows.
fn check_mat(
    what: &'static str,
    rows: usize,
    cols: usize,
    got: (usize, usize, usize),
) -> Result<(), Error> {
    let (r, c, cs) = got;
    if (r, c) != (rows, cols) || (cs != 1 && rows > 0 && cols > 1) {
        return Err(Error::ShapeMismatch {
            what,
            expected: (rows, cols),
            found: (r, c),
        });
    }
    Ok(())
}

/// `out = epi(X·w)` where row `p` of `X` is output pixel `p`'s window of `x` (see the
/// module docs): `w` is `k × cols`, `out` `m × cols`, both with contiguous rows.
///
/// # Errors
/// [`Error::InvalidArgument`], [`Error::BufferTooSmall`] or [`Error::Overflow`] for a
/// geometry that does not fit `x`; [`Error::ShapeMismatch`] for `w`, `out` or the
/// epilogue's operands of the wrong shape. Nothing is written then.
pub(crate) fn conv_forward(
    isa: Isa,
    d: &Direct,
    x: &[f32],
    edges: &[f32],
    w: MatRef<'_>,
    mut out: MatMut<'_>,
    epi: Epi<'_>,
) -> Result<(), Error> {
    d.check(x.len(), edges.len())?;
    let (m, k, cols) = (d.m(), d.k(), w.cols());
    check_mat(
        "direct convolution: w must be k x cols",
        k,
        cols,
        (w.rows(), w.cols(), w.col_stride()),
    )?;
    check_mat(
        "direct convolution: out must be m x cols",
        m,
        cols,
        (out.rows(), out.cols(), out.col_stride()),
    )?;
    epi.check(m, cols)?;
    if m == 0 || cols == 0 {
        return Ok(());
    }
    let kernel = Forward {
        d: *d,
        src: Src::new(d, x.as_ptr(), edges.as_ptr()),
        w: w.ptr(),
        w_rs: if k > 1 { w.row_stride() } else { 0 },
        out: out.ptr_mut(),
        out_rs: if m > 1 { out.row_stride() } else { 0 },
        cols,
        epi: epi.raw(),
    };
    dispatch(isa, kernel);
    Ok(())
}

/// `dw ← α·Xᵀ·δ + β·dw` where row `p` of `X` is output pixel `p`'s window of `x`: `δ`
/// is `m × cols`, `dw` `k × cols`, both with contiguous rows. `β = 0` never reads `dw`.
/// With `db` (`cols` values), also `db = Σ_p δ[p]`, the bias gradient, summed in the
/// pass that reads `δ` for the first window positions (each column from +0 in pixel
/// order: the bits of a column sum row after row).
///
/// # Errors
/// As [`conv_forward`], for `delta`, `dw` and `db`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_wgrad(
    isa: Isa,
    d: &Direct,
    x: &[f32],
    edges: &[f32],
    delta: MatRef<'_>,
    alpha: f32,
    beta: f32,
    mut dw: MatMut<'_>,
    db: Option<&mut [f32]>,
) -> Result<(), Error> {
    d.check(x.len(), edges.len())?;
    let (m, k, cols) = (d.m(), d.k(), delta.cols());
    check_mat(
        "direct convolution: delta must be m x cols",
        m,
        cols,
        (delta.rows(), delta.cols(), delta.col_stride()),
    )?;
    check_mat(
        "direct convolution: dw must be k x cols",
        k,
        cols,
        (dw.rows(), dw.cols(), dw.col_stride()),
    )?;
    if let Some(db) = &db {
        check_mat(
            "direct convolution: db must hold cols values",
            1,
            cols,
            (1, db.len(), 1),
        )?;
    }
    if cols == 0 {
        return Ok(());
    }
    let kernel = Wgrad {
        d: *d,
        src: Src::new(d, x.as_ptr(), edges.as_ptr()),
        delta: delta.ptr(),
        d_rs: if m > 1 { delta.row_stride() } else { 0 },
        alpha,
        beta,
        dw: dw.ptr_mut(),
        dw_rs: if k > 1 { dw.row_stride() } else { 0 },
        db: db.map_or(core::ptr::null_mut(), <[f32]>::as_mut_ptr),
        cols,
    };
    dispatch(isa, kernel);
    Ok(())
}

/// The register tile of a backend with `lanes` lanes for a product `cols` wide:
/// `(MR, NV)`, rows by vectors: one vector and more rows when the columns fit in one
/// (a 16-channel layer on AVX-512 would waste half of a two-vector tile). Chosen at each
/// `dispatch` by matching `S::LANES` (the other arms are dead code).
macro_rules! by_lanes {
    ($lanes:expr, $cols:expr, $f:ident, $($arg:expr),*) => {
        match ($lanes, $cols <= $lanes) {
            (16, true) => $f::<_, 8, 1>($($arg),*),
            (16, false) => $f::<_, 8, 2>($($arg),*),
            (8, true) => $f::<_, 12, 1>($($arg),*),
            (8, false) => $f::<_, 6, 2>($($arg),*),
            (4, true) => $f::<_, 16, 1>($($arg),*),
            (4, false) => $f::<_, 8, 2>($($arg),*),
            _ => $f::<_, 4, 4>($($arg),*),
        }
    };
}

/// The kernel width of the sliding forward tiles.
const SLIDE_KW: usize = 3;

/// The forward kernel's arguments (built only by [`conv_forward`], after its checks).
struct Forward {
    d: Direct,
    src: Src,
    w: *const f32,
    w_rs: usize,
    out: *mut f32,
    out_rs: usize,
    cols: usize,
    epi: Epilogue,
}

impl WithSimd for Forward {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let d = &self.d;
        // SAFETY: `conv_forward` checked the geometry against `x`, `edges`, `w` and `out`
        // (each pixel's window lies in `x` or in its image's strips: `Src::pixel`).
        unsafe {
            if d.vp == 0 && d.sw == 1 && d.dw == 1 && d.kw == SLIDE_KW && S::LANES == 16 {
                // Sliding tiles of `R` output rows by `WT` pixels, one vector of columns
                // (AVX-512 only: the one backend measured; two vectors ran slower). Not
                // over virtual padding: its rows are not one run of pixels.
                let ow = d.ow();
                if self.cols <= S::LANES && ow >= 8 {
                    return slide::<_, 1, 8, 1>(s, &self);
                }
                if self.cols <= S::LANES && ow >= 4 {
                    return slide::<_, 4, 4, 1>(s, &self);
                }
            }
            by_lanes!(S::LANES, self.cols, forward, s, &self)
        }
    }
}

/// Walks the output pixels in order, giving the input offset of each one's window (its
/// tap (0, 0), channel `c0`) by steps, without a multiplication.
struct Pixels {
    /// The current pixel's offset.
    at: usize,
    /// The offset of the current output row's first pixel.
    row: usize,
    /// The offset of the current image's first pixel.
    img: usize,
    /// The current image, output row and column.
    i: usize,
    oy: usize,
    ox: usize,
}

impl Pixels {
    /// The walk from the first pixel.
    fn new(d: &Direct) -> Pixels {
        Pixels {
            at: d.c0,
            row: d.c0,
            img: d.c0,
            i: 0,
            oy: 0,
            ox: 0,
        }
    }

    /// The current pixel's offset, then a step to the next.
    #[inline(always)]
    fn next(&mut self, d: &Direct, oh: usize, ow: usize) -> usize {
        let at = self.at;
        self.ox += 1;
        // (Wrapping: a step past the last pixel is never used.)
        if self.ox < ow {
            self.at = self.at.wrapping_add(d.sw.wrapping_mul(d.c));
        } else {
            self.ox = 0;
            self.oy += 1;
            if self.oy < oh {
                self.row = self
                    .row
                    .wrapping_add(d.sh.wrapping_mul(d.w).wrapping_mul(d.c));
            } else {
                self.oy = 0;
                self.i += 1;
                self.img = self
                    .img
                    .wrapping_add(d.h.wrapping_mul(d.w).wrapping_mul(d.c));
                self.row = self.img;
            }
            self.at = self.row;
        }
        at
    }
}

/// Every tile of the forward product.
///
/// # Safety
/// `k` checked by [`conv_forward`].
#[inline(always)]
unsafe fn forward<S: Simd, const MR: usize, const NV: usize>(s: S, f: &Forward) {
    let d = &f.d;
    let (oh, ow, m) = (d.oh(), d.ow(), d.m());
    let nr = NV * S::LANES;
    // Saturating: with one tap along an axis any dilation is valid and its step unused
    // (`ky`, `kx` stay 0); a second tap lies inside the images, so its step fits.
    let row_step = d.dh.saturating_mul(d.w).saturating_mul(d.c);
    let tap_step = d.dw.saturating_mul(d.c);
    // The taps of a kernel row are one run of `kw·c` values when the group is every
    // channel and there is no horizontal dilation: one loop instead of two (the same
    // window positions in the same order).
    let (taps, run) = if d.dw == 1 && d.cg == d.c {
        (1, d.kw * d.cg)
    } else {
        (d.kw, d.cg)
    };
    // A small window of short runs (digits conv1: 3 × 3 taps of one channel) walks one
    // table of its offsets instead of nested loops of a few steps each.
    let k = d.k();
    let flat = k <= FLAT && run < 8;
    let mut table = [0usize; FLAT];
    if flat {
        let mut r = 0;
        for ky in 0..d.kh {
            for kx in 0..taps {
                for ci in 0..run {
                    table[r] = ky * row_step + kx * tap_step + ci;
                    r += 1;
                }
            }
        }
    }
    let mut pixels = Pixels::new(d);
    let mut p0 = 0;
    while p0 < m {
        let rows = (m - p0).min(MR);
        // One base per pixel of the tile; rows past `m` repeat the last (not stored).
        let mut base = [f.src.x; MR];
        for i in 0..MR {
            base[i] = if i >= rows {
                base[i - 1]
            } else if d.vp == 0 {
                f.src.x.wrapping_add(pixels.next(d, oh, ow))
            } else {
                // One row an image (`oh = 1`): the pixel's place in its image.
                let (img, ox) = (pixels.i, pixels.ox);
                pixels.next(d, oh, ow);
                f.src.pixel(img, ox)
            };
        }
        let mut j0 = 0;
        while j0 < f.cols {
            let cols = (f.cols - j0).min(nr);
            let walk = Walk {
                table: if flat { &table[..k] } else { &[] },
                taps,
                run,
                row_step,
                tap_step,
            };
            // SAFETY: each base is an output pixel's window origin inside the images
            // (the geometry was checked); whole vectors of columns (every weight load
            // unconditional) or the last, partial block.
            let acc = unsafe {
                if cols == nr {
                    forward_sum::<S, MR, NV, true>(s, f, &base, &walk, j0, cols)
                } else {
                    forward_sum::<S, MR, NV, false>(s, f, &base, &walk, j0, cols)
                }
            };
            // SAFETY: the tile's `rows × cols` lie inside `out` (row stride `out_rs`,
            // contiguous rows), and the epilogue was checked against `m × cols`.
            unsafe {
                store_tile::<S, MR, NV>(
                    s,
                    &acc,
                    1.0,
                    0.0,
                    f.out.add(p0 * f.out_rs + j0),
                    f.out_rs,
                    1,
                    rows,
                    cols,
                    f.epi,
                    p0,
                    j0,
                );
            }
            j0 += nr;
        }
        p0 += MR;
    }
}

/// How a forward tile walks a window: by a table of offsets (`table`, non-empty), or
/// by kernel rows of `taps` runs of `run` values.
struct Walk<'t> {
    table: &'t [usize],
    taps: usize,
    run: usize,
    row_step: usize,
    tap_step: usize,
}

/// The sums of a forward tile (see [`forward`]): every window value of the pixels at
/// `base`, times the weights' columns from `j0`.
///
/// # Safety
/// Each base an output pixel's window origin inside the images, `walk` the window's
/// offsets in weight-row order, `j0 + cols ≤` the weights' columns (`cols = NV·LANES`
/// when `FULL`).
#[inline(always)]
unsafe fn forward_sum<S: Simd, const MR: usize, const NV: usize, const FULL: bool>(
    s: S,
    f: &Forward,
    base: &[*const f32; MR],
    walk: &Walk<'_>,
    j0: usize,
    cols: usize,
) -> [[S::V; NV]; MR] {
    let mut acc = [[s.splat(0.0); NV]; MR];
    let mut wr = f.w.wrapping_add(j0);
    if !walk.table.is_empty() {
        for &off in walk.table {
            // SAFETY: `off` a tap of each base's window and `wr` its row of `w` (the
            // table lists them in row order), as below.
            unsafe { fma_step::<S, MR, NV, FULL>(s, &mut acc, base, off, wr, cols) };
            wr = wr.wrapping_add(f.w_rs);
        }
    } else {
        for ky in 0..f.d.kh {
            for kx in 0..walk.taps {
                let off = ky * walk.row_step + kx * walk.tap_step;
                for ci in 0..walk.run {
                    // SAFETY: `off + ci` a tap of each base's window (the geometry was
                    // checked), and `wr` row `(ky·kw + kx)·cg + ci < k` of `w` (`kx = 0`
                    // for a merged run), `cols` values from `j0`.
                    unsafe { fma_step::<S, MR, NV, FULL>(s, &mut acc, base, off + ci, wr, cols) };
                    wr = wr.wrapping_add(f.w_rs);
                }
            }
        }
    }
    acc
}

/// Every tile of a forward product of stride 1 along the rows, no horizontal dilation
/// and [`SLIDE_KW`] taps a kernel row, by sliding tiles: `R` output rows of `WT`
/// consecutive pixels, where each input value of a row, broadcast once, feeds the
/// (up to) three pixels whose windows hold it, one tap each. The pixels past the last
/// whole tile of a row (fewer than `WT`) take the plain tiles of [`forward`], one row
/// at a time; so do the images' last rows when fewer than `R` are left (by tiles of one
/// row). Each pixel's sum runs over the same window values as a plain tile's, in
/// another order (by kernel row, channel, then tap).
///
/// # Safety
/// As [`conv_forward`] checked, with `sw = dw = 1` and `kw = SLIDE_KW`.
#[inline(always)]
unsafe fn slide<S: Simd, const R: usize, const WT: usize, const NV: usize>(s: S, f: &Forward) {
    let d = &f.d;
    let (oh, ow) = (d.oh(), d.ow());
    let img_len = d.h * d.w * d.c;
    // The step to the next output row's window: used only when there is one (then it
    // lies in the image); a stride past the image, with one output row, wraps unused.
    let in_row = d.sh.wrapping_mul(d.w).wrapping_mul(d.c);
    let mut img_at = d.c0;
    let mut p_img = 0;
    for _ in 0..d.n {
        let mut oy = 0;
        while oy < oh {
            let rows = if oh - oy >= R { R } else { 1 };
            // The window origin and the output index of each row's first pixel.
            let mut org = [img_at + oy * in_row; R];
            let mut p = [p_img + oy * ow; R];
            for r in 1..R {
                org[r] = org[0] + r.min(rows - 1) * in_row;
                p[r] = p[0] + r.min(rows - 1) * ow;
            }
            let mut ox = 0;
            while ox + WT <= ow {
                let (o, q) = (org.map(|v| v + ox * d.c), p.map(|v| v + ox));
                // SAFETY: `rows` rows of `WT` pixels from `ox` lie in the output and
                // their windows in the images; rows past `rows` repeat the first, so
                // store nothing.
                unsafe {
                    if rows == R {
                        slide_tile::<S, R, WT, NV>(s, f, &o, &q, R);
                    } else {
                        slide_tile::<S, R, WT, NV>(s, f, &o, &q, 1);
                    }
                }
                ox += WT;
            }
            if ox < ow {
                for r in 0..rows {
                    // SAFETY: pixels `ox .. ow` of output row `oy + r` (fewer than
                    // `WT` of them), with their windows in the images.
                    unsafe { slide_rest::<S, WT, NV>(s, f, org[r] + ox * d.c, p[r] + ox, ow - ox) };
                }
            }
            oy += rows;
        }
        img_at += img_len;
        p_img += oh * ow;
    }
}

/// One sliding tile: rows `0 .. rows` (of `R`) of `WT` pixels, the first of row `r` at
/// window origin `org[r]` and output index `p[r]`, every column block.
///
/// # Safety
/// Each row's `WT + SLIDE_KW − 1` input pixels from `org[r]` of every kernel row lie
/// in the images; its `WT` output pixels from `p[r]` in `out`.
#[inline(always)]
unsafe fn slide_tile<S: Simd, const R: usize, const WT: usize, const NV: usize>(
    s: S,
    f: &Forward,
    org: &[usize; R],
    p: &[usize; R],
    rows: usize,
) {
    let d = &f.d;
    let nr = NV * S::LANES;
    let row_step = d.dh * d.w * d.c;
    let c = d.c;
    let tap_rs = d.cg * f.w_rs;
    let mut j0 = 0;
    while j0 < f.cols {
        let cols = (f.cols - j0).min(nr);
        let mut acc = [[[s.splat(0.0); NV]; WT]; R];
        for ky in 0..d.kh {
            for ci in 0..d.cg {
                // Weight rows `(ky·kw + kx)·cg + ci` of the three taps.
                let w0 = f.w.wrapping_add((ky * SLIDE_KW * d.cg + ci) * f.w_rs + j0);
                let mut wv = [[s.splat(0.0); NV]; SLIDE_KW];
                for (kx, wk) in wv.iter_mut().enumerate() {
                    let wr = w0.wrapping_add(kx * tap_rs);
                    for (v, b) in wk.iter_mut().enumerate() {
                        let o = v * S::LANES;
                        // SAFETY: row `< k` of `w`, `cols` values from `j0`.
                        unsafe {
                            if o + S::LANES <= cols {
                                *b = s.load(wr.add(o));
                            } else if o < cols {
                                *b = s.load_partial(wr.add(o), cols - o);
                            }
                        }
                    }
                }
                let off = ky * row_step + ci;
                for (r, tile) in acc.iter_mut().enumerate() {
                    let xp = f.src.x.wrapping_add(org[r] + off);
                    for t in 0..WT + SLIDE_KW - 1 {
                        // SAFETY: input pixel `t` of the row's span (caller).
                        let xv = s.splat(unsafe { *xp.add(t * c) });
                        for (kx, wk) in wv.iter().enumerate() {
                            if t >= kx && t - kx < WT {
                                for v in 0..NV {
                                    tile[t - kx][v] = s.mul_add(xv, wk[v], tile[t - kx][v]);
                                }
                            }
                        }
                    }
                }
            }
        }
        for r in 0..rows {
            // SAFETY: the row's `WT × cols` lie inside `out` (caller), and the epilogue
            // was checked against `m × cols`.
            unsafe {
                store_tile::<S, WT, NV>(
                    s,
                    &acc[r],
                    1.0,
                    0.0,
                    f.out.add(p[r] * f.out_rs + j0),
                    f.out_rs,
                    1,
                    WT,
                    cols,
                    f.epi,
                    p[r],
                    j0,
                );
            }
        }
        j0 += nr;
    }
}

/// The last `rows` pixels of an output row (fewer than a sliding tile), from window
/// origin `at` and output index `p0`, by one plain tile of [`forward`]'s kind a column
/// block.
///
/// # Safety
/// The pixels' windows lie in the images and `p0 + rows ≤ m`; `1 ≤ rows ≤ MR`.
#[inline(always)]
unsafe fn slide_rest<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    f: &Forward,
    at: usize,
    p0: usize,
    rows: usize,
) {
    let d = &f.d;
    let nr = NV * S::LANES;
    let row_step = d.dh * d.w * d.c;
    let mut base = [f.src.x; MR];
    for (i, b) in base.iter_mut().enumerate() {
        *b = f.src.x.wrapping_add(at + i.min(rows - 1) * d.c);
    }
    let mut j0 = 0;
    while j0 < f.cols {
        let cols = (f.cols - j0).min(nr);
        // The window by kernel rows of `SLIDE_KW` taps of the group's channels (no
        // horizontal dilation), as `forward` walks it.
        let walk = Walk {
            table: &[],
            taps: SLIDE_KW,
            run: d.cg,
            row_step,
            tap_step: d.c,
        };
        // SAFETY: each base a window origin inside the images (caller), `cols` values
        // of the weights from `j0`.
        let acc = unsafe { forward_sum::<S, MR, NV, false>(s, f, &base, &walk, j0, cols) };
        // SAFETY: `rows × cols` from `(p0, j0)` inside `out`; epilogue checked.
        unsafe {
            store_tile::<S, MR, NV>(
                s,
                &acc,
                1.0,
                0.0,
                f.out.add(p0 * f.out_rs + j0),
                f.out_rs,
                1,
                rows,
                cols,
                f.epi,
                p0,
                j0,
            );
        }
        j0 += nr;
    }
}

/// `cols ≤ NV·LANES` values from `p` as `NV` vectors (zero past `cols`); `FULL`: all
/// `NV·LANES` of them, by unconditional loads (no test of `cols` in a hot loop).
///
/// # Safety
/// `p` readable for `cols` values (`NV·LANES` when `FULL`).
#[inline(always)]
unsafe fn load_cols<S: Simd, const NV: usize, const FULL: bool>(
    s: S,
    p: *const f32,
    cols: usize,
) -> [S::V; NV] {
    let mut bv = [s.splat(0.0); NV];
    // SAFETY: the caller's range.
    unsafe {
        for (v, b) in bv.iter_mut().enumerate() {
            let o = v * S::LANES;
            if FULL || o + S::LANES <= cols {
                *b = s.load(p.add(o));
            } else if o < cols {
                *b = s.load_partial(p.add(o), cols - o);
            }
        }
    }
    bv
}

/// The most window values the forward kernel walks from a table of offsets.
const FLAT: usize = 32;

/// One window value of a forward tile: `acc[i] += x(base[i] + off) · w[wr ..]`, `cols`
/// values of the weight row.
///
/// # Safety
/// `base[i] + off` readable for every `i`; `wr` readable for `cols ≤ NV·LANES` values
/// (`FULL`: exactly `NV·LANES`).
#[inline(always)]
unsafe fn fma_step<S: Simd, const MR: usize, const NV: usize, const FULL: bool>(
    s: S,
    acc: &mut [[S::V; NV]; MR],
    base: &[*const f32; MR],
    off: usize,
    wr: *const f32,
    cols: usize,
) {
    // SAFETY: the caller's ranges.
    unsafe {
        let bv = load_cols::<S, NV, FULL>(s, wr, cols);
        for (row, b) in acc.iter_mut().zip(base.iter()) {
            let av = s.splat(*b.add(off));
            for v in 0..NV {
                row[v] = s.mul_add(av, bv[v], row[v]);
            }
        }
    }
}

/// The weight-gradient kernel's arguments (built only by [`conv_wgrad`]).
struct Wgrad {
    d: Direct,
    src: Src,
    delta: *const f32,
    d_rs: usize,
    alpha: f32,
    beta: f32,
    dw: *mut f32,
    dw_rs: usize,
    /// The bias gradient's `cols` values, or null.
    db: *mut f32,
    cols: usize,
}

impl WithSimd for Wgrad {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // SAFETY: `conv_wgrad` checked the geometry against `x`, `edges`, `delta`, `dw` and
        // `db` (each pixel's window lies in `x` or in its image's strips: `Src::pixel`).
        unsafe {
            match (S::LANES, self.cols <= S::LANES) {
                (16, true) => wgrad::<_, 8, 1, 16>(s, &self),
                (16, false) => wgrad::<_, 8, 2, 12>(s, &self),
                (8, true) => wgrad::<_, 12, 1, 12>(s, &self),
                (8, false) => wgrad::<_, 6, 2, 6>(s, &self),
                (4, true) => wgrad::<_, 16, 1, 16>(s, &self),
                (4, false) => wgrad::<_, 8, 2, 12>(s, &self),
                _ => wgrad::<_, 4, 4, 4>(s, &self),
            }
        }
    }
}

/// Every tile of the weight gradient: window positions by `NV` vectors of columns, summed
/// over every output pixel. A tile of `MRC` positions that lie in one run of contiguous
/// input values (a kernel row's taps when the group is every channel and there is no
/// horizontal dilation, else one tap's channels) reads them from one pointer at constant
/// offsets, which leaves the registers for a taller tile; any other tile (the rest of a
/// run, or one across runs) has `MR` positions, each at its own offset.
///
/// # Safety
/// As [`conv_wgrad`] checked.
#[inline(always)]
unsafe fn wgrad<S: Simd, const MR: usize, const NV: usize, const MRC: usize>(s: S, f: &Wgrad) {
    let d = &f.d;
    let k = d.k();
    let run = if d.dw == 1 && d.cg == d.c {
        d.kw * d.cg
    } else {
        d.cg
    };
    // Nine positions in three runs of three at one step apart (a 3 × 3 kernel over one
    // channel): one tile of nine rows, every row's value at a constant offset from two
    // registers, in one pass over the pixels (rather than 8 rows, then 1).
    // (No offset past `k` is computed: it may overflow.)
    let grid = |o0: usize, step: usize| {
        (0..9).all(|r| offset(d, r) == o0.wrapping_add((r / 3).wrapping_mul(step)) + r % 3)
    };
    if NV == 1 && k == 9 && grid(offset(d, 0), offset(d, 3).wrapping_sub(offset(d, 0))) {
        let (o0, step) = (offset(d, 0), offset(d, 3) - offset(d, 0));
        let mut off = [0; 9];
        (off[0], off[1]) = (o0, step);
        let mut j0 = 0;
        while j0 < f.cols {
            // SAFETY: the nine positions lie at `o0 + (r / 3)·step + r % 3` (just
            // checked), `j0 < cols`.
            unsafe { wgrad_tile::<S, 9, NV, GRID>(s, f, 0, 9, off, j0, true) };
            j0 += NV * S::LANES;
        }
        return;
    }
    let mut r0 = 0;
    while r0 < k {
        // Positions left in the run `r0` lies in.
        let left = run - r0 % run;
        let mut j0 = 0;
        if left >= MRC {
            let o = offset(d, r0);
            while j0 < f.cols {
                // SAFETY: rows `r0 .. r0 + MRC` of one run lie at `o + i` (checked geometry).
                unsafe { wgrad_tile::<S, MRC, NV, RUN>(s, f, r0, MRC, [o; MRC], j0, r0 == 0) };
                j0 += NV * S::LANES;
            }
            r0 += MRC;
        } else {
            let rows = (k - r0).min(MR);
            while j0 < f.cols {
                // SAFETY: `r0 < k`, `rows ≥ 1`.
                unsafe {
                    // A short last tile (digits conv1: 9 positions, 8 + 1) is four rows
                    // high rather than MR: fewer FMAs on repeated rows per pixel.
                    if rows <= SHORT && MR > SHORT {
                        wgrad_tile::<S, SHORT, NV, BY_OFFSET>(
                            s,
                            f,
                            r0,
                            rows,
                            [0; SHORT],
                            j0,
                            r0 == 0,
                        )
                    } else {
                        wgrad_tile::<S, MR, NV, BY_OFFSET>(s, f, r0, rows, [0; MR], j0, r0 == 0)
                    }
                };
                j0 += NV * S::LANES;
            }
            r0 += MR;
        }
    }
}

/// How a weight-gradient tile finds its rows' input values from a pixel's window origin
/// `px`: each row at its own offset, `px + off[i]` (the offsets kept in memory: there
/// are more than registers to hold them).
const BY_OFFSET: u8 = 0;
/// One run of contiguous values: `px + off[0] + i`.
const RUN: u8 = 1;
/// Three runs of three, `off[1]` apart: `px + off[0] + (i / 3)·off[1] + i % 3` (a 3 × 3
/// kernel over one channel, digits conv1), nine rows in one pass over the pixels.
const GRID: u8 = 2;

/// The height of a weight-gradient tile for the last few window positions.
const SHORT: usize = 4;

/// The input offset of window position `r` (its tap's pixel and channel) from the
/// pixel's window origin.
#[inline(always)]
fn offset(d: &Direct, r: usize) -> usize {
    let (tap, ci) = (r / d.cg, r % d.cg);
    let (ky, kx) = (tap / d.kw, tap % d.kw);
    ky * d.dh * d.w * d.c + kx * d.dw * d.c + d.c0 + ci
}

/// One output pixel's terms of a weight-gradient tile: `acc[i] += x(px, i) · δ[dp ..]`,
/// and with `BIAS` `bias += δ[dp ..]`.
///
/// # Safety
/// Row `i`'s value (where `L` says: [`BY_OFFSET`], [`RUN`], [`GRID`]) readable for every
/// `i < MR`; `dp` readable for `cols ≤ NV·LANES` values (`FULL`: exactly `NV·LANES`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wgrad_px<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const L: u8,
    const FULL: bool,
    const BIAS: bool,
>(
    s: S,
    acc: &mut [[S::V; NV]; MR],
    bias: &mut [S::V; NV],
    px: *const f32,
    off: &[usize; MR],
    dp: *const f32,
    cols: usize,
) {
    // SAFETY: the caller's ranges.
    unsafe {
        let dv = load_cols::<S, NV, FULL>(s, dp, cols);
        if BIAS {
            for v in 0..NV {
                bias[v] = s.add(bias[v], dv[v]);
            }
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let at = match L {
                BY_OFFSET => off[i],
                RUN => i,
                _ => (i / 3) * off[1] + i % 3,
            };
            let xv = s.splat(*px.add(at));
            for v in 0..NV {
                row[v] = s.mul_add(xv, dv[v], row[v]);
            }
        }
    }
}

/// One tile of the weight gradient: rows `r0 .. r0 + rows` (`rows ≤ MR`), columns from
/// `j0`, summed over every output pixel. `L` says where the rows' input values lie:
/// [`RUN`] and [`GRID`] from `off[0]` (and `off[1]`); [`BY_OFFSET`] at offsets the tile
/// computes itself (into `off`, replacing the caller's values).
///
/// # Safety
/// `r0 + rows ≤ k`, `rows ≥ 1`, `j0 < cols`; `first`: the column block's first tile
/// (it writes `db`'s columns when there is one); with [`RUN`], `off[0]` the offset of
/// row `r0` and the rows in one run; with [`GRID`], the nine rows at `off[0] + (i / 3)·
/// off[1] + i % 3`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wgrad_tile<S: Simd, const MR: usize, const NV: usize, const L: u8>(
    s: S,
    f: &Wgrad,
    r0: usize,
    rows: usize,
    off: [usize; MR],
    j0: usize,
    first: bool,
) {
    let d = &f.d;
    let cols = (f.cols - j0).min(NV * S::LANES);
    let mut off = off;
    if L == BY_OFFSET {
        // The input offset of each window position of the tile; rows past `k` repeat the
        // last (not stored).
        for (i, o) in off.iter_mut().enumerate() {
            *o = offset(d, r0 + i.min(rows - 1));
        }
        // Opaque: LLVM would otherwise keep the terms of each offset apart and add them
        // up again in the loop, in more registers than there are.
        off = core::hint::black_box(off);
    }
    // SAFETY: the caller's ranges; whole vectors of columns (the tile's every load
    // unconditional) or the last, partial block.
    // The first tile of a column block sums the bias gradient too, when asked for.
    let (acc, bias) = unsafe {
        match (cols == NV * S::LANES, first && !f.db.is_null()) {
            (true, false) => wgrad_sum::<S, MR, NV, L, true, false>(s, f, &off, j0, cols),
            (false, false) => wgrad_sum::<S, MR, NV, L, false, false>(s, f, &off, j0, cols),
            (true, true) => wgrad_sum::<S, MR, NV, L, true, true>(s, f, &off, j0, cols),
            (false, true) => wgrad_sum::<S, MR, NV, L, false, true>(s, f, &off, j0, cols),
        }
    };
    if first && !f.db.is_null() {
        for (v, &b) in bias.iter().enumerate() {
            let o = v * S::LANES;
            // SAFETY: `db` holds `f.cols ≥ j0 + cols` values (checked by `conv_wgrad`).
            unsafe {
                if o + S::LANES <= cols {
                    s.store(f.db.add(j0 + o), b);
                } else if o < cols {
                    s.store_partial(f.db.add(j0 + o), b, cols - o);
                }
            }
        }
    }
    // SAFETY: rows `r0 .. r0 + rows` and `cols` columns from `j0` of `dw`.
    unsafe {
        store_tile::<S, MR, NV>(
            s,
            &acc,
            f.alpha,
            f.beta,
            f.dw.add(r0 * f.dw_rs + j0),
            f.dw_rs,
            1,
            rows,
            cols,
            Epilogue::None,
            0,
            0,
        );
    }
}

/// The sums of a weight-gradient tile over every output pixel (see [`wgrad_tile`]).
///
/// # Safety
/// As [`wgrad_tile`], with `off` the rows' offsets (or as [`RUN`] and [`GRID`] say)
/// and `cols = NV·LANES` when `FULL`. With `BIAS`, the column sums of `δ` too.
#[inline(always)]
unsafe fn wgrad_sum<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const L: u8,
    const FULL: bool,
    const BIAS: bool,
>(
    s: S,
    f: &Wgrad,
    off: &[usize; MR],
    j0: usize,
    cols: usize,
) -> ([[S::V; NV]; MR], [S::V; NV]) {
    let d = &f.d;
    let (oh, ow) = (d.oh(), d.ow());
    let mut acc = [[s.splat(0.0); NV]; MR];
    let mut bias = [s.splat(0.0); NV];
    let mut dp = f.delta.wrapping_add(j0);
    // (Wrapping: with one output column or row the steps are never used.)
    let px_step = d.sw.wrapping_mul(d.c);
    let row_step = d.sh.wrapping_mul(d.w).wrapping_mul(d.c);
    // Tiles of one run (and the grid) read from the window origin plus `off[0]`, the
    // others at `off[i]` from the origin (both count `c0`, which `pixel` and `row`
    // include: taken off here, wrapping).
    let at = if L != BY_OFFSET { off[0] } else { 0 }.wrapping_sub(d.c0);
    let src = &f.src;
    for img in 0..d.n {
        if d.vp > 0 {
            // One row an image: the pixels in its left strip, in the image, in its right
            // strip, in order (the sums of a padded copy).
            let e = &src.e;
            for (p0, p1) in [(0, e.nl), (e.nl, e.r0), (e.r0, ow)] {
                if p0 < p1 {
                    let px = src.pixel(img, p0).wrapping_add(at);
                    // SAFETY: pixels `p0 .. p1` of one segment lie `px_step` apart from
                    // `px` in one buffer (their windows checked), `dp` their rows of δ.
                    dp = unsafe {
                        wgrad_run::<S, MR, NV, L, FULL, BIAS>(
                            s,
                            &mut acc,
                            &mut bias,
                            px,
                            px_step,
                            p1 - p0,
                            off,
                            dp,
                            f.d_rs,
                            cols,
                        )
                    };
                }
            }
            continue;
        }
        let mut row = src.x.wrapping_add(img * src.img + d.c0);
        for _ in 0..oh {
            // SAFETY: the row's `ow` pixels lie `px_step` apart from `row` (their windows
            // checked), `dp` their rows of δ.
            dp = unsafe {
                wgrad_run::<S, MR, NV, L, FULL, BIAS>(
                    s,
                    &mut acc,
                    &mut bias,
                    row.wrapping_add(at),
                    px_step,
                    ow,
                    off,
                    dp,
                    f.d_rs,
                    cols,
                )
            };
            row = row.wrapping_add(row_step);
        }
    }
    (acc, bias)
}

/// The terms of `count` consecutive output pixels of a weight-gradient tile, the first
/// at `px` (its window origin plus the tile's base offset, see [`wgrad_px`]) and rows
/// `px_step` apart, their rows of δ from `dp`, `d_rs` apart; returns `dp` past them.
///
/// # Safety
/// As [`wgrad_px`] for each pixel; the `count` pixels lie `px_step` apart in one buffer
/// (a row of the images, or one image's edge strip).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wgrad_run<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const L: u8,
    const FULL: bool,
    const BIAS: bool,
>(
    s: S,
    acc: &mut [[S::V; NV]; MR],
    bias: &mut [S::V; NV],
    mut px: *const f32,
    px_step: usize,
    count: usize,
    off: &[usize; MR],
    mut dp: *const f32,
    d_rs: usize,
    cols: usize,
) -> *const f32 {
    // Tiles of one run: two pixels a step (fewer loop instructions between the FMAs),
    // then the odd one; the same sums in the same order. (Tiles with an offset a row
    // step one pixel at a time: two at a time ran slower.)
    let pairs = if L != BY_OFFSET { count / 2 } else { 0 };
    for _ in 0..pairs {
        // SAFETY: the caller's pixels `px` and `px + px_step`, rows `dp`, `dp + d_rs`.
        unsafe {
            wgrad_px::<S, MR, NV, L, FULL, BIAS>(s, acc, bias, px, off, dp, cols);
            let (px2, dp2) = (px.add(px_step), dp.add(d_rs));
            wgrad_px::<S, MR, NV, L, FULL, BIAS>(s, acc, bias, px2, off, dp2, cols);
        }
        px = px.wrapping_add(2 * px_step);
        dp = dp.wrapping_add(2 * d_rs);
    }
    for _ in 2 * pairs..count {
        // SAFETY: as above, one pixel.
        unsafe { wgrad_px::<S, MR, NV, L, FULL, BIAS>(s, acc, bias, px, off, dp, cols) };
        px = px.wrapping_add(px_step);
        dp = dp.wrapping_add(d_rs);
    }
    dp
}

#[cfg(all(test, feature = "std"))]
mod tests {
    //! The direct kernels against the unfolded product (im2col, then the scalar GEMM in
    //! f64) on every instruction set: every tile edge (pixels not a multiple of the tile,
    //! columns past one and two vectors and past a column block), strides, dilations,
    //! channel groups, NaN-poisoned outputs, α/β.
    use super::*;
    use crate::Activation;
    use crate::simd::with_isa;
    use crate::window::{Geom, im2col};
    use std::vec;
    use std::vec::Vec;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn vals(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    /// The unfolded input of `d` (im2col with no padding: the images are padded).
    fn unfold(d: &Direct, x: &[f32]) -> Vec<f32> {
        let g = Geom {
            h: d.h,
            w: d.w,
            c: d.c,
            kh: d.kh,
            kw: d.kw,
            sh: d.sh,
            sw: d.sw,
            ph: 0,
            pw: 0,
            dh: d.dh,
            dw: d.dw,
        };
        let mut col = vec![0.0; d.m() * d.k()];
        im2col(&g, d.n, d.c0, d.cg, x, &mut col).unwrap();
        col
    }

    fn cases() -> Vec<(Direct, usize)> {
        let mut v = Vec::new();
        // n, h, w, c, kh, kw, sh, sw, dh, dw
        let shapes: &[[usize; 10]] = &[
            [2, 1, 31, 12, 1, 3, 1, 1, 1, 1],
            [3, 1, 13, 5, 1, 4, 2, 2, 1, 2],
            [2, 10, 10, 1, 3, 3, 1, 1, 1, 1],
            [1, 6, 6, 16, 3, 3, 1, 1, 1, 1],
            [2, 7, 9, 3, 2, 3, 2, 1, 2, 1],
            [1, 5, 5, 2, 5, 5, 1, 1, 1, 1],
            // Sliding tiles (AVX-512): rows of 4, 6, 14 and 38 pixels (both tile
            // shapes, the rests of rows, and images with rows left over).
            [2, 6, 6, 32, 3, 3, 1, 1, 1, 1],
            [1, 7, 8, 2, 3, 3, 1, 1, 1, 1],
            [1, 4, 16, 1, 3, 3, 1, 1, 1, 1],
            [2, 1, 40, 3, 1, 3, 1, 1, 1, 1],
            // Nine positions in three runs of three (one weight-gradient tile): 3 × 3
            // over one channel with row dilation and column stride; three taps down of
            // a three-channel group (c0 = 1) with both dilations.
            [1, 9, 9, 1, 3, 3, 1, 2, 2, 1],
            [2, 9, 6, 5, 3, 1, 2, 1, 2, 3],
        ];
        for &[n, h, w, c, kh, kw, sh, sw, dh, dw] in shapes {
            for &cols in &[1usize, 3, 16, 17, 33, 70] {
                let d = Direct {
                    n,
                    h,
                    w,
                    c,
                    c0: 0,
                    cg: c,
                    kh,
                    kw,
                    sh,
                    sw,
                    dh,
                    dw,
                    vp: 0,
                };
                v.push((d, cols));
                if c > 2 {
                    v.push((
                        Direct {
                            c0: 1,
                            cg: c - 2,
                            ..d
                        },
                        cols,
                    ));
                }
            }
        }
        if cfg!(miri) {
            // Six cases, the products kept small: full and edge column tiles (1, 3 and 17
            // columns) on a 1-D and a strided, dilated shape, each with a channel offset.
            v.retain(|(d, cols)| (d.w == 31 && *cols <= 3) || (d.w == 13 && *cols == 17));
        }
        v
    }

    fn each_isa(mut f: impl FnMut(Isa)) {
        for &isa in Isa::ALL {
            if isa.is_supported() && (!cfg!(miri) || isa == Isa::Portable) {
                with_isa(isa, || f(isa)).unwrap();
            }
        }
    }

    fn close(got: f32, want: f64, scale: f64) -> bool {
        (f64::from(got) - want).abs() <= 1e-5 * (scale + want.abs())
    }

    #[test]
    fn forward_matches_the_unfolded_product_with_bias_and_activation() {
        let mut r = Lcg(1);
        for (d, cols) in cases() {
            let x = r.vals(d.n * d.h * d.w * d.c);
            let (m, k) = (d.m(), d.k());
            let w = r.vals(k * cols);
            let bias = r.vals(cols);
            let col = unfold(&d, &x);
            each_isa(|isa| {
                let mut out = vec![f32::from_bits(0x7fc0_dead); m * cols];
                let epi = Epi::BiasAct {
                    act: Activation::Tanh,
                    bias: Some(&bias),
                };
                conv_forward(
                    isa,
                    &d,
                    &x,
                    &[],
                    MatRef::row_major(&w, k, cols).unwrap(),
                    MatMut::row_major(&mut out, m, cols).unwrap(),
                    epi,
                )
                .unwrap();
                for p in 0..m {
                    for j in 0..cols {
                        let z: f64 = (0..k)
                            .map(|r| f64::from(col[p * k + r]) * f64::from(w[r * cols + j]))
                            .sum::<f64>()
                            + f64::from(bias[j]);
                        let got = out[p * cols + j];
                        assert!(
                            close(got, z.tanh(), 1.0),
                            "{isa:?} {d:?} cols {cols} ({p}, {j}): {got} vs {}",
                            z.tanh()
                        );
                    }
                }
            });
        }
    }

    #[test]
    fn wgrad_matches_the_unfolded_product_with_alpha_and_beta() {
        let mut r = Lcg(2);
        for (d, cols) in cases() {
            let x = r.vals(d.n * d.h * d.w * d.c);
            let (m, k) = (d.m(), d.k());
            let delta = r.vals(m * cols);
            let w0 = r.vals(k * cols);
            let col = unfold(&d, &x);
            each_isa(|isa| {
                for (alpha, beta) in [(1.0f32, 0.0f32), (-0.1, 1.0), (0.5, -0.25)] {
                    let mut dw = if beta == 0.0 {
                        vec![f32::NAN; k * cols]
                    } else {
                        w0.clone()
                    };
                    // The bias gradient with two of the three: the column sums of δ, bit
                    // for bit those of a sum row after row from +0.
                    let mut db = vec![f32::NAN; cols];
                    let with_db = beta != 0.0;
                    conv_wgrad(
                        isa,
                        &d,
                        &x,
                        &[],
                        MatRef::row_major(&delta, m, cols).unwrap(),
                        alpha,
                        beta,
                        MatMut::row_major(&mut dw, k, cols).unwrap(),
                        with_db.then_some(&mut db[..]),
                    )
                    .unwrap();
                    for (j, &got) in db.iter().enumerate() {
                        let want = (0..m).fold(0.0f32, |a, p| a + delta[p * cols + j]);
                        assert!(
                            if with_db {
                                got.to_bits() == want.to_bits()
                            } else {
                                got.is_nan()
                            },
                            "{isa:?} {d:?} cols {cols} db[{j}]: {got} vs {want}"
                        );
                    }
                    for rr in 0..k {
                        for j in 0..cols {
                            let g: f64 = (0..m)
                                .map(|p| {
                                    f64::from(col[p * k + rr]) * f64::from(delta[p * cols + j])
                                })
                                .sum();
                            let want = f64::from(alpha) * g
                                + if beta == 0.0 {
                                    0.0
                                } else {
                                    f64::from(beta) * f64::from(w0[rr * cols + j])
                                };
                            let got = dw[rr * cols + j];
                            assert!(
                                close(got, want, m as f64),
                                "{isa:?} {d:?} cols {cols} α {alpha} β {beta} ({rr}, {j}): {got} vs {want}"
                            );
                        }
                    }
                }
            });
        }
    }

    /// Virtual padding (1-D) against the same kernels over a padded copy: the same bits
    /// (the forward's sliding tiles aside, which sum in another order: close there), on
    /// every instruction set, for pixels in both strips, strips that overlap (a kernel
    /// as wide as the sequence, padding wider than the kernel), strides, dilations and
    /// channel groups; and a short strip buffer refused before anything is written.
    #[test]
    fn virtual_padding_matches_a_padded_copy() {
        let mut r = Lcg(3);
        // n, w (unpadded), c, kw, sw, dw, vp
        let shapes: &[[usize; 7]] = &[
            [2, 28, 12, 3, 1, 1, 1],
            [3, 11, 5, 4, 2, 2, 3],
            [2, 3, 3, 3, 1, 1, 1],
            [2, 2, 2, 3, 1, 1, 2],
            [1, 9, 4, 5, 3, 1, 2],
            [2, 20, 3, 3, 1, 2, 2],
        ];
        let mut checked = 0;
        // (Under Miri: the small shapes, one width.)
        let (shapes, widths): (_, &[usize]) = if cfg!(miri) {
            (&shapes[2..], &[17])
        } else {
            (shapes, &[3, 16, 33])
        };
        for &[n, ws, c, kw, sw, dw, vp] in shapes {
            for &cols in widths {
                for (c0, cg) in [(0, c), (1, c.saturating_sub(2).max(1))] {
                    let pad = Direct {
                        n,
                        h: 1,
                        w: ws + 2 * vp,
                        c,
                        c0,
                        cg,
                        kh: 1,
                        kw,
                        sh: 1,
                        sw,
                        dh: 1,
                        dw,
                        vp: 0,
                    };
                    let virt = Direct { vp, ..pad };
                    let (m, k) = (pad.m(), pad.k());
                    assert!(m > 0 && c0 + cg <= c, "{pad:?}");
                    let x = r.vals(n * ws * c);
                    let mut xp = vec![0.0; n * (ws + 2 * vp) * c];
                    crate::window::pad(n, (1, ws, c), (0, vp), &x, &mut xp);
                    let mut edges = vec![f32::NAN; virt.edge_len()];
                    fill_edges(&virt, &x, &mut edges).unwrap();
                    let w = r.vals(k * cols);
                    let delta = r.vals(m * cols);
                    let slides = cols <= 16 && kw == SLIDE_KW && sw == 1 && dw == 1;
                    each_isa(|isa| {
                        let fwd = |d: &Direct, x: &[f32], e: &[f32]| {
                            let mut out = vec![f32::from_bits(0x7fc0_dead); m * cols];
                            conv_forward(
                                isa,
                                d,
                                x,
                                e,
                                MatRef::row_major(&w, k, cols).unwrap(),
                                MatMut::row_major(&mut out, m, cols).unwrap(),
                                Epi::None,
                            )
                            .unwrap();
                            out
                        };
                        let (a, b) = (fwd(&pad, &xp, &[]), fwd(&virt, &x, &edges));
                        for (i, (&a, &b)) in a.iter().zip(&b).enumerate() {
                            let same = if slides {
                                (a - b).abs() <= 1e-5 * (1.0 + a.abs())
                            } else {
                                a.to_bits() == b.to_bits()
                            };
                            assert!(
                                same,
                                "{isa:?} {virt:?} cols {cols} forward [{i}]: {b} vs {a}"
                            );
                        }
                        let wg = |d: &Direct, x: &[f32], e: &[f32]| {
                            let mut dw = vec![f32::NAN; k * cols];
                            let mut db = vec![f32::NAN; cols];
                            conv_wgrad(
                                isa,
                                d,
                                x,
                                e,
                                MatRef::row_major(&delta, m, cols).unwrap(),
                                1.0,
                                0.0,
                                MatMut::row_major(&mut dw, k, cols).unwrap(),
                                Some(&mut db),
                            )
                            .unwrap();
                            dw.extend(db);
                            dw
                        };
                        let (a, b) = (wg(&pad, &xp, &[]), wg(&virt, &x, &edges));
                        for (i, (&a, &b)) in a.iter().zip(&b).enumerate() {
                            assert!(
                                a.to_bits() == b.to_bits(),
                                "{isa:?} {virt:?} cols {cols} wgrad [{i}]: {b} vs {a}"
                            );
                        }
                    });
                    checked += 1;
                    if edges.is_empty() {
                        continue;
                    }
                    // A strip buffer one value short: refused, nothing written.
                    let mut out = vec![7.0f32; m * cols];
                    let res = conv_forward(
                        Isa::active(),
                        &virt,
                        &x,
                        &edges[..edges.len() - 1],
                        MatRef::row_major(&w, k, cols).unwrap(),
                        MatMut::row_major(&mut out, m, cols).unwrap(),
                        Epi::None,
                    );
                    assert!(matches!(res, Err(Error::BufferTooSmall { .. })), "{res:?}");
                    assert!(out.iter().all(|&v| v == 7.0));
                }
            }
        }
        assert!(checked > 0);
        // Virtual padding over images of more than one row is refused.
        let two_rows = Direct {
            n: 1,
            h: 2,
            w: 6,
            c: 1,
            c0: 0,
            cg: 1,
            kh: 1,
            kw: 3,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            vp: 1,
        };
        let mut e = vec![0.0; 64];
        let res = fill_edges(&two_rows, &[0.0; 8], &mut e);
        assert!(matches!(res, Err(Error::InvalidArgument { .. })), "{res:?}");
    }

    /// Not a test: the kernels' speed on the example networks' shapes (the best of many
    /// timings, for a shared machine): `cargo test --release --lib kernel_speed --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn kernel_speed() {
        use std::time::Instant;
        let isa = Isa::active();
        // name, n, h, w, c, kh, kw, cols (padded images)
        let shapes: &[(&str, [usize; 7])] = &[
            ("digits conv1", [32, 10, 10, 1, 3, 3, 16]),
            ("digits conv2", [32, 6, 6, 16, 3, 3, 32]),
            ("digits conv2 dx", [32, 6, 6, 32, 3, 3, 16]),
            ("vowels conv1", [32, 1, 31, 12, 1, 3, 32]),
            ("vowels conv2", [32, 1, 31, 32, 1, 3, 32]),
            ("vowels conv2 dx", [32, 1, 31, 32, 1, 3, 32]),
        ];
        let mut r = Lcg(9);
        for &(name, [n, h, w, c, kh, kw, cols]) in shapes {
            let d = Direct {
                n,
                h,
                w,
                c,
                c0: 0,
                cg: c,
                kh,
                kw,
                sh: 1,
                sw: 1,
                dh: 1,
                dw: 1,
                vp: 0,
            };
            let (m, k) = (d.m(), d.k());
            let x = r.vals(n * h * w * c);
            let (wbuf, dbuf) = (r.vals(k * cols + 32), r.vals(m * cols + 32));
            // 64-byte aligned operands, as a step's are not necessarily.
            let at = |b: &Vec<f32>| (16 - (b.as_ptr() as usize / 4) % 16) % 16;
            let (wo, dof) = (at(&wbuf), at(&dbuf));
            let wt = &wbuf[wo..wo + k * cols];
            let delta = &dbuf[dof..dof + m * cols];
            let bias = r.vals(cols);
            let mut obuf = vec![0.0f32; m * cols + 32];
            let oo = at(&obuf);
            let out = &mut obuf[oo..oo + m * cols];
            let mut dw = vec![0.0; k * cols];
            let best = |f: &mut dyn FnMut()| {
                (0..400)
                    .map(|_| {
                        let t = Instant::now();
                        f();
                        t.elapsed().as_secs_f64()
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let tf = best(&mut || {
                let epi = Epi::BiasAct {
                    act: Activation::Relu,
                    bias: Some(&bias),
                };
                conv_forward(
                    isa,
                    &d,
                    &x,
                    &[],
                    MatRef::row_major(wt, k, cols).unwrap(),
                    MatMut::row_major(out, m, cols).unwrap(),
                    epi,
                )
                .unwrap();
            });
            let tw = best(&mut || {
                conv_wgrad(
                    isa,
                    &d,
                    &x,
                    &[],
                    MatRef::row_major(delta, m, cols).unwrap(),
                    -0.1,
                    1.0,
                    MatMut::row_major(&mut dw, k, cols).unwrap(),
                    None,
                )
                .unwrap();
            });
            let fl = (2 * m * k * cols) as f64;
            std::println!(
                "{name:16} m {m:5} k {k:4} n {cols:3}: forward {:7.2} us {:6.1} GFLOP/s, wgrad {:7.2} us {:6.1} GFLOP/s",
                tf * 1e6,
                fl / tf / 1e9,
                tw * 1e6,
                fl / tw / 1e9
            );
        }
    }

    #[test]
    fn bad_geometry_and_shapes_are_refused_before_writing() {
        let d = Direct {
            n: 1,
            h: 1,
            w: 8,
            c: 2,
            c0: 0,
            cg: 2,
            kh: 1,
            kw: 3,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            vp: 0,
        };
        let x = [0.5f32; 16];
        let w = [0.5f32; 6 * 4];
        let mut out = [7.0f32; 6 * 4];
        let isa = Isa::active();
        let wv = MatRef::row_major(&w, 6, 4).unwrap();
        // Too few images, a group past c, wrong output shape.
        assert!(
            conv_forward(
                isa,
                &d,
                &x[..15],
                &[],
                wv,
                MatMut::row_major(&mut out, 6, 4).unwrap(),
                Epi::None
            )
            .is_err()
        );
        let bad = Direct { c0: 1, ..d };
        assert!(
            conv_forward(
                isa,
                &bad,
                &x,
                &[],
                wv,
                MatMut::row_major(&mut out, 6, 4).unwrap(),
                Epi::None
            )
            .is_err()
        );
        assert!(
            conv_forward(
                isa,
                &d,
                &x,
                &[],
                wv,
                MatMut::row_major(&mut out[..20], 5, 4).unwrap(),
                Epi::None
            )
            .is_err()
        );
        assert!(out.iter().all(|&v| v == 7.0));
        // A window that does not fit (an empty output) is refused before any index
        // arithmetic, whatever its dilation (an outside review's input: it overflowed
        // `ky·dh·w·c` in a debug build).
        let empty = Direct {
            h: 1,
            w: 2,
            c: 1,
            cg: 1,
            kh: 2,
            dh: usize::MAX,
            ..d
        };
        let mut dw = [7.0f32; 2];
        let r = conv_wgrad(
            isa,
            &empty,
            &x[..2],
            &[],
            MatRef::row_major(&[], 0, 1).unwrap(),
            1.0,
            0.0,
            MatMut::row_major(&mut dw, 2, 1).unwrap(),
            None,
        );
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
        assert_eq!(dw, [7.0; 2]);
        // A bias gradient of the wrong length: refused, nothing written.
        let delta = [0.5f32; 6 * 4];
        let mut dw = [7.0f32; 6 * 4];
        let mut db = [7.0f32; 5];
        let r = conv_wgrad(
            isa,
            &d,
            &x,
            &[],
            MatRef::row_major(&delta, 6, 4).unwrap(),
            1.0,
            0.0,
            MatMut::row_major(&mut dw, 6, 4).unwrap(),
            Some(&mut db),
        );
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        assert!(dw.iter().chain(&db).all(|&v| v == 7.0));
    }
}
