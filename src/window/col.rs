//! im2col (the windows of a channel group laid out as the rows of a matrix, so that a
//! convolution is one GEMM per group) and its adjoint, col2im.

use super::{Geom, expect_len, inside, invalid, rows};
use crate::Error;

/// One piece of a row of the column matrix, as [`walk`] visits them.
enum Seg {
    /// `len` values of the column matrix from `col` on are padding.
    Pad { col: usize, len: usize },
    /// `taps` consecutive kernel columns (`kx`) inside the image: column-matrix values
    /// `col .. col + taps·cg` are input values `x + k·dw·c .. + cg` for `k < taps`.
    Run { col: usize, x: usize, taps: usize },
}

/// Visits the column matrix of `n` images for channels `c0 .. c0 + cg` in order (row by
/// row, each row in window order), as runs of in-image taps and stretches of padding
/// that together cover every value once. `g` checked, the channel range in `0..c`.
#[inline(always)]
fn walk(g: &Geom, n: usize, c0: usize, cg: usize, mut f: impl FnMut(Seg)) {
    let (oh, ow) = (g.oh(), g.ow());
    let seg_len = g.kw * cg; // one kernel row
    let row_len = g.kh * seg_len;
    let img_len = g.h * g.w * g.c;
    let mut row = 0;
    for img in 0..n {
        for oy in 0..oh {
            let (ky_lo, ky_hi) = inside(oy * g.sh, g.dh, g.kh, g.ph, g.h);
            for ox in 0..ow {
                let (kx_lo, kx_hi) = inside(ox * g.sw, g.dw, g.kw, g.pw, g.w);
                if ky_lo > 0 {
                    f(Seg::Pad {
                        col: row,
                        len: ky_lo * seg_len,
                    });
                }
                for ky in ky_lo..ky_hi {
                    let seg = row + ky * seg_len;
                    if kx_lo > 0 {
                        f(Seg::Pad {
                            col: seg,
                            len: kx_lo * cg,
                        });
                    }
                    if kx_lo < kx_hi {
                        let iy = oy * g.sh + ky * g.dh - g.ph;
                        let ix = ox * g.sw + kx_lo * g.dw - g.pw;
                        f(Seg::Run {
                            col: seg + kx_lo * cg,
                            x: img * img_len + (iy * g.w + ix) * g.c + c0,
                            taps: kx_hi - kx_lo,
                        });
                    }
                    if kx_hi < g.kw {
                        f(Seg::Pad {
                            col: seg + kx_hi * cg,
                            len: (g.kw - kx_hi) * cg,
                        });
                    }
                }
                if ky_hi < g.kh {
                    f(Seg::Pad {
                        col: row + ky_hi * seg_len,
                        len: (g.kh - ky_hi) * seg_len,
                    });
                }
                row += row_len;
            }
        }
    }
}

/// Validates what both directions share: the geometry, the channel range, the image
/// buffer (`n·h·w` rows of `c`) and the column matrix (`n·oh·ow` rows of `kh·kw·cg`).
fn validate(
    g: &Geom,
    n: usize,
    c0: usize,
    cg: usize,
    image_len: usize,
    col_len: usize,
    what: [&'static str; 4],
) -> Result<(), Error> {
    let [range, image, col, overflow] = what;
    g.check()?;
    if cg == 0 || cg > g.c || c0 > g.c - cg {
        return Err(invalid(range));
    }
    expect_len(image, image_len, rows(n, g.h, g.w, overflow)?, g.c)?;
    let cols = super::mul(g.kh * g.kw, cg, overflow)?;
    expect_len(col, col_len, rows(n, g.oh(), g.ow(), overflow)?, cols)
}

/// im2col: lays out the windows of channels `c0 .. c0 + cg` of `n` images as the rows of
/// `col`, an `(n·oh·ow) × (kh·kw·cg)` row-major matrix:
/// `col[(img·oh + oy)·ow + ox][(ky·kw + kx)·cg + ci] = x[img][oy·sh − ph + ky·dh][ox·sw − pw + kx·dw][c0 + ci]`,
/// or 0 where that position is padding. Overwrites all of `col`.
///
/// A run of in-image taps is one copy when the group is all the channels and there is
/// no horizontal dilation (the taps are then adjacent in `x`); otherwise one copy of
/// `cg` values per tap.
///
/// # Errors
/// [`Geom::check`]'s; [`Error::InvalidArgument`] unless `1 ≤ cg` and `c0 + cg ≤ c`;
/// [`Error::ShapeMismatch`] unless `x` holds `n·h·w·c` values and `col`
/// [`Geom::col_len`]`(n, cg)`; [`Error::Overflow`] for lengths beyond `usize`.
pub(crate) fn im2col(
    g: &Geom,
    n: usize,
    c0: usize,
    cg: usize,
    x: &[f32],
    col: &mut [f32],
) -> Result<(), Error> {
    validate(
        g,
        n,
        c0,
        cg,
        x.len(),
        col.len(),
        [
            "im2col: the channel group c0 .. c0 + cg must be non-empty and within the c input channels",
            "im2col: x (n·h·w rows of c channels)",
            "im2col: col (n·oh·ow rows of kh·kw·cg)",
            "im2col: a buffer length",
        ],
    )?;
    let contiguous = cg == g.c && g.dw == 1;
    // Saturating: with a 1-wide kernel any dilation is valid and the step unused (a run
    // of two taps or more has its second inside the image, so the step fits there).
    let step = g.dw.saturating_mul(g.c);
    walk(g, n, c0, cg, |s| match s {
        Seg::Pad { col: o, len } => col[o..o + len].fill(0.0),
        Seg::Run { col: o, x: i, taps } => {
            let dst = &mut col[o..o + taps * cg];
            if contiguous {
                dst.copy_from_slice(&x[i..i + taps * cg]);
            } else {
                for (k, d) in dst.chunks_exact_mut(cg).enumerate() {
                    let at = i + k * step;
                    d.copy_from_slice(&x[at..at + cg]);
                }
            }
        }
    });
    Ok(())
}

/// col2im, the adjoint of [`im2col`]: `dx[...] += col[...]` for every entry of `col` that
/// [`im2col`] would have read from `dx`'s position (entries for padding are dropped).
/// Does **not** zero `dx` first: zero it to get the plain col2im, or leave a gradient
/// there to accumulate onto (one call per channel group fills a whole `dx`).
///
/// Each `dx` value receives its terms in column-matrix order (row by row, window order
/// within a row), one rounded `+=` each.
///
/// # Errors
/// As [`im2col`] (with `dx` in the place of `x`); `dx` is unchanged on an error.
pub(crate) fn col2im_add(
    g: &Geom,
    n: usize,
    c0: usize,
    cg: usize,
    col: &[f32],
    dx: &mut [f32],
) -> Result<(), Error> {
    validate(
        g,
        n,
        c0,
        cg,
        dx.len(),
        col.len(),
        [
            "col2im_add: the channel group c0 .. c0 + cg must be non-empty and within the c input channels",
            "col2im_add: dx (n·h·w rows of c channels)",
            "col2im_add: col (n·oh·ow rows of kh·kw·cg)",
            "col2im_add: a buffer length",
        ],
    )?;
    let contiguous = cg == g.c && g.dw == 1;
    let step = g.dw.saturating_mul(g.c); // (saturating, as in `im2col`)
    walk(g, n, c0, cg, |s| {
        if let Seg::Run { col: o, x: i, taps } = s {
            let src = &col[o..o + taps * cg];
            if contiguous {
                for (d, &v) in dx[i..i + taps * cg].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (k, s) in src.chunks_exact(cg).enumerate() {
                    let at = i + k * step;
                    for (d, &v) in dx[at..at + cg].iter_mut().zip(s) {
                        *d += v;
                    }
                }
            }
        }
    });
    Ok(())
}
