//! im2col (the windows of a channel group laid out as the rows of a matrix, so that a
//! convolution is one GEMM per group) and its adjoint, col2im.

use super::simd::{Cols, Pad};
use super::{Geom, expect_len, invalid, rows};
use crate::Error;
use crate::simd::{Isa, dispatch};

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
#[cfg(all(test, feature = "std"))]
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
    dispatch(
        Isa::active(),
        Cols {
            g: *g,
            n,
            c0,
            cg,
            // Only read (im2col).
            x: x.as_ptr().cast_mut(),
            col: col.as_mut_ptr(),
            fold: false,
        },
    );
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
    dispatch(
        Isa::active(),
        Cols {
            g: *g,
            n,
            c0,
            cg,
            x: dx.as_mut_ptr(),
            // Only read (col2im).
            col: col.as_ptr().cast_mut(),
            fold: true,
        },
    );
    Ok(())
}

/// Copies `n` images of `h × w × c` (`x`) into `out` with `ph` rows and `pw` columns of
/// zeros on every side: `out` is `n × (h + 2ph) × (w + 2pw) × c`, every value written.
/// The callers cut both buffers to those lengths (only as many whole images as both
/// hold are written). Vector stores throughout: a row of a few values would otherwise
/// be three library calls.
pub(crate) fn pad(
    n: usize,
    (h, w, c): (usize, usize, usize),
    (ph, pw): (usize, usize),
    x: &[f32],
    out: &mut [f32],
) {
    let img = h.saturating_mul(w).saturating_mul(c);
    let pimg = (h.saturating_add(ph.saturating_mul(2)))
        .saturating_mul(w.saturating_add(pw.saturating_mul(2)))
        .saturating_mul(c);
    // Whole images only, as many as both buffers hold (a zero-sized image pads to
    // nothing or to zeros only: `checked_div` gives `n`, bounded by `out`).
    let n = n
        .min(x.len().checked_div(img).unwrap_or(n))
        .min(out.len().checked_div(pimg).unwrap_or(0));
    if n == 0 {
        return;
    }
    dispatch(
        Isa::active(),
        Pad {
            n,
            hwc: (h, w, c),
            pad: (ph, pw),
            x: x.as_ptr(),
            out: out.as_mut_ptr(),
        },
    );
}
