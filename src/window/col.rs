//! im2col (the windows of a channel group laid out as the rows of a matrix, so that a
//! convolution is one GEMM per group) and its adjoint, col2im.

use super::simd::Cols;
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
#[cfg(test)]
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
/// The callers cut both buffers to those lengths.
pub(crate) fn pad(
    n: usize,
    (h, w, c): (usize, usize, usize),
    (ph, pw): (usize, usize),
    x: &[f32],
    out: &mut [f32],
) {
    let (wp, row) = (w + 2 * pw, w * c);
    let prow = wp * c;
    let (top, side) = (ph * prow, pw * c);
    for (img, dst) in x
        .chunks_exact(h * row)
        .zip(out.chunks_exact_mut((h + 2 * ph) * prow))
        .take(n)
    {
        let (head, rest) = dst.split_at_mut(top);
        head.fill(0.0);
        let (body, tail) = rest.split_at_mut(h * prow);
        tail.fill(0.0);
        for (src, d) in img.chunks_exact(row).zip(body.chunks_exact_mut(prow)) {
            d[..side].fill(0.0);
            d[side..side + row].copy_from_slice(src);
            d[side + row..].fill(0.0);
        }
    }
}
