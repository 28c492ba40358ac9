//! Max, average and global average pooling, forward and backward.
//!
//! Max and average pooling take no padding and no dilation (`ph = pw = 0`,
//! `dh = dw = 1`) and at most 2²² taps per window (so a tap index, the tap count and a tap
//! index ± ½ are exact in `f32`). An average is the rounded sum of the taps in window order (from the
//! first tap) divided by the tap count, `sum / count`: one rounded division, as
//! PyTorch's CPU kernels; the backward passes give each tap `dout / count`, the same
//! division, so forward and backward are transposes of one linear map.

use super::simd::{Pooling, PoolingBack};
use super::{Geom, expect_len, invalid, rows};
use crate::simd::{Isa, dispatch};
use crate::{Activation, Error};

/// Most taps a pooling window may have: its tap indices and count are exact in `f32`.
const MAX_TAPS: usize = 1 << 22;

/// The geometry of a pooling kernel: [`Geom::check`]'s, and no padding or dilation, and
/// at most [`MAX_TAPS`] taps.
fn check_pool(g: &Geom, what: &'static str) -> Result<(), Error> {
    g.check()?;
    if g.ph != 0 || g.pw != 0 || g.dh != 1 || g.dw != 1 {
        return Err(invalid(what));
    }
    if g.kh * g.kw > MAX_TAPS {
        return Err(invalid(
            "pooling: a window has more than 2^22 taps (its tap index and count must be \
             exact in f32)",
        ));
    }
    Ok(())
}

/// Checks a pooling call's geometry and its input-sized and output-sized buffers.
fn check_pool_lens(
    g: &Geom,
    n: usize,
    input: (&'static str, usize),
    outputs: &[(&'static str, usize)],
    geom: &'static str,
) -> Result<(), Error> {
    check_pool(g, geom)?;
    let pixels = rows(n, g.h, g.w, "pooling: the input length n·h·w·c")?;
    expect_len(input.0, input.1, pixels, g.c)?;
    let opixels = rows(n, g.oh(), g.ow(), "pooling: the output length n·oh·ow·c")?;
    for &(what, len) in outputs {
        expect_len(what, len, opixels, g.c)?;
    }
    Ok(())
}

/// Max pooling: `out[img][oy][ox][ch]` is the largest of its window's `kh·kw` values
/// (`out` is `n·oh·ow·c`). With `argmax`, its same-shaped slice receives the
/// window-relative index `ky·kw + kx` of that value, as an `f32` (exact).
///
/// Ties go to the first tap in window order (so `+0` and `−0` keep the first). A window
/// holding a NaN gives NaN, the first NaN in window order (bit for bit), and its argmax
/// points at it, as PyTorch propagates NaN.
///
/// # Errors
/// [`Geom::check`]'s; [`Error::InvalidArgument`] for padding, dilation or more than 2²²
/// taps; [`Error::ShapeMismatch`] unless `x` holds `n·h·w·c` values and `out` (and
/// `argmax`) `n·oh·ow·c`. Nothing is written on an error.
pub(crate) fn max_pool(
    g: &Geom,
    n: usize,
    x: &[f32],
    out: &mut [f32],
    argmax: Option<&mut [f32]>,
) -> Result<(), Error> {
    let arg_len = argmax.as_ref().map_or(out.len(), |a| a.len());
    check_pool_lens(
        g,
        n,
        ("max_pool: x (n·h·w rows of c channels)", x.len()),
        &[
            ("max_pool: out (n·oh·ow rows of c channels)", out.len()),
            ("max_pool: argmax (the shape of out)", arg_len),
        ],
        "max_pool: pooling takes no padding and no dilation (ph = pw = 0, dh = dw = 1)",
    )?;
    dispatch(
        Isa::active(),
        Pooling {
            g: *g,
            n,
            x: x.as_ptr(),
            out: out.as_mut_ptr(),
            arg: argmax.map_or(core::ptr::null_mut(), <[f32]>::as_mut_ptr),
            max: true,
        },
    );
    Ok(())
}

/// Backward of [`max_pool`]: zeroes `dx` (`n·h·w·c`), then adds each `dout` value to the
/// input position its `argmax` names (overlapping windows add up, in output order).
///
/// The argmax is only compared with each tap's index (never used as an index), so any
/// values are safe: one within ½ of no tap index (NaN, negative, too large) sends its
/// delta nowhere.
///
/// # Errors
/// As [`max_pool`] (`dout` and `argmax` in the output's shape, `dx` in the input's).
pub(crate) fn max_pool_backward(
    g: &Geom,
    n: usize,
    dout: &[f32],
    argmax: &[f32],
    dx: &mut [f32],
) -> Result<(), Error> {
    check_pool_lens(
        g,
        n,
        ("max_pool_backward: dx (n·h·w rows of c channels)", dx.len()),
        &[
            (
                "max_pool_backward: dout (n·oh·ow rows of c channels)",
                dout.len(),
            ),
            (
                "max_pool_backward: argmax (the shape of dout)",
                argmax.len(),
            ),
        ],
        "max_pool_backward: pooling takes no padding and no dilation (ph = pw = 0, dh = dw = 1)",
    )?;
    dispatch(
        Isa::active(),
        PoolingBack {
            g: *g,
            n,
            dout: dout.as_ptr(),
            arg: argmax.as_ptr(),
            dx: dx.as_mut_ptr(),
            h: core::ptr::null(),
            act: Activation::Identity,
        },
    );
    Ok(())
}

/// [`max_pool_backward`], then `dx ← flush(dx ⊙ act'(h))` (the previous layer's
/// activation derivative, then the tiny values flushed, as `Prev::apply` does) in the
/// same pass when the windows do not overlap (`sh ≥ kh`, `sw ≥ kw`): each input value is
/// then written once. Returns whether it applied the derivative; with overlapping windows
/// it does only [`max_pool_backward`] and leaves the derivative to the caller.
///
/// # Errors
/// As [`max_pool_backward`], and [`Error::ShapeMismatch`] unless `h` is as long as `dx`.
pub(crate) fn max_pool_backward_deriv(
    g: &Geom,
    n: usize,
    dout: &[f32],
    argmax: &[f32],
    act: Activation,
    h: &[f32],
    dx: &mut [f32],
) -> Result<bool, Error> {
    if g.sh < g.kh || g.sw < g.kw {
        max_pool_backward(g, n, dout, argmax, dx)?;
        return Ok(false);
    }
    check_pool_lens(
        g,
        n,
        ("max_pool_backward: dx (n·h·w rows of c channels)", dx.len()),
        &[
            (
                "max_pool_backward: dout (n·oh·ow rows of c channels)",
                dout.len(),
            ),
            (
                "max_pool_backward: argmax (the shape of dout)",
                argmax.len(),
            ),
        ],
        "max_pool_backward: pooling takes no padding and no dilation (ph = pw = 0, dh = dw = 1)",
    )?;
    expect_len(
        "max_pool_backward: h (the previous layer's output, the shape of dx)",
        h.len(),
        1,
        dx.len(),
    )?;
    dispatch(
        Isa::active(),
        PoolingBack {
            g: *g,
            n,
            dout: dout.as_ptr(),
            arg: argmax.as_ptr(),
            dx: dx.as_mut_ptr(),
            h: h.as_ptr(),
            act,
        },
    );
    Ok(true)
}

/// Average pooling: `out[img][oy][ox][ch]` is the mean of its window's `kh·kw` values
/// (`out` is `n·oh·ow·c`): their sum in window order, starting from the first tap,
/// divided by `kh·kw`.
///
/// # Errors
/// As [`max_pool`].
pub(crate) fn avg_pool(g: &Geom, n: usize, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check_pool_lens(
        g,
        n,
        ("avg_pool: x (n·h·w rows of c channels)", x.len()),
        &[("avg_pool: out (n·oh·ow rows of c channels)", out.len())],
        "avg_pool: pooling takes no padding and no dilation (ph = pw = 0, dh = dw = 1)",
    )?;
    dispatch(
        Isa::active(),
        Pooling {
            g: *g,
            n,
            x: x.as_ptr(),
            out: out.as_mut_ptr(),
            arg: core::ptr::null_mut(),
            max: false,
        },
    );
    Ok(())
}

/// Backward of [`avg_pool`]: zeroes `dx` (`n·h·w·c`), then adds `dout / (kh·kw)` of every
/// window to each of its taps (overlapping windows add up, in output order).
///
/// # Errors
/// As [`max_pool`] (`dout` in the output's shape, `dx` in the input's).
pub(crate) fn avg_pool_backward(
    g: &Geom,
    n: usize,
    dout: &[f32],
    dx: &mut [f32],
) -> Result<(), Error> {
    check_pool_lens(
        g,
        n,
        ("avg_pool_backward: dx (n·h·w rows of c channels)", dx.len()),
        &[(
            "avg_pool_backward: dout (n·oh·ow rows of c channels)",
            dout.len(),
        )],
        "avg_pool_backward: pooling takes no padding and no dilation (ph = pw = 0, dh = dw = 1)",
    )?;
    dispatch(
        Isa::active(),
        PoolingBack {
            g: *g,
            n,
            dout: dout.as_ptr(),
            arg: core::ptr::null(),
            dx: dx.as_mut_ptr(),
            h: core::ptr::null(),
            act: Activation::Identity,
        },
    );
    Ok(())
}

/// Checks a global pooling call: `hw ≥ 1`, `c ≥ 1`, the images `n·hw × c` and the
/// per-image values `n × c`.
fn check_global(
    hw: usize,
    c: usize,
    n: usize,
    images: (&'static str, usize),
    per_image: (&'static str, usize),
) -> Result<(), Error> {
    if hw == 0 || c == 0 {
        return Err(invalid(
            "global_avg_pool: the positions per image h·w and the channels c must be at least 1",
        ));
    }
    let pixels = rows(n, hw, 1, "global_avg_pool: the image length n·h·w·c")?;
    expect_len(images.0, images.1, pixels, c)?;
    expect_len(per_image.0, per_image.1, n, c)
}

/// Global average pooling: `out[img][ch]` (`out` is `n × c`) is the mean over the `hw`
/// positions of image `img` of `x` (`n·hw·c`): their sum in position order, starting from
/// the first, divided by `hw` (as an `f32`: rounded when `hw > 2²⁴`).
///
/// # Errors
/// [`Error::InvalidArgument`] when `hw` or `c` is 0; [`Error::ShapeMismatch`] unless `x`
/// holds `n·hw·c` values and `out` `n·c`; [`Error::Overflow`]. Nothing is written on an
/// error.
pub(crate) fn global_avg_pool(
    hw: usize,
    c: usize,
    n: usize,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    check_global(
        hw,
        c,
        n,
        ("global_avg_pool: x (n·h·w rows of c channels)", x.len()),
        ("global_avg_pool: out (n rows of c channels)", out.len()),
    )?;
    let count = hw as f32;
    for (xi, o) in x.chunks_exact(hw * c).zip(out.chunks_exact_mut(c)) {
        let (first, rest) = xi.split_at(c);
        o.copy_from_slice(first);
        for row in rest.chunks_exact(c) {
            for (s, &v) in o.iter_mut().zip(row) {
                *s += v;
            }
        }
        for s in o {
            *s /= count;
        }
    }
    Ok(())
}

/// Backward of [`global_avg_pool`]: writes every position of `dx` (`n·hw·c`, overwritten)
/// with `dout[img][ch] / hw`.
///
/// # Errors
/// As [`global_avg_pool`] (`dout` is `n × c`, `dx` `n·hw·c`).
pub(crate) fn global_avg_pool_backward(
    hw: usize,
    c: usize,
    n: usize,
    dout: &[f32],
    dx: &mut [f32],
) -> Result<(), Error> {
    check_global(
        hw,
        c,
        n,
        (
            "global_avg_pool_backward: dx (n·h·w rows of c channels)",
            dx.len(),
        ),
        (
            "global_avg_pool_backward: dout (n rows of c channels)",
            dout.len(),
        ),
    )?;
    let count = hw as f32;
    for (di, d) in dx.chunks_exact_mut(hw * c).zip(dout.chunks_exact(c)) {
        let (first, rest) = di.split_at_mut(c);
        for (x, &v) in first.iter_mut().zip(d) {
            *x = v / count;
        }
        for row in rest.chunks_exact_mut(c) {
            row.copy_from_slice(first);
        }
    }
    Ok(())
}
