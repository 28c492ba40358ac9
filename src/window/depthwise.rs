//! Depthwise convolution (`groups = c_in = c_out`): forward, and the gradients of the
//! input and of the weights.
//!
//! The weights are `(kh·kw) × c`, tap-major rows of `c` (`w[(ky·kw + kx)·c + ch]`), the
//! layout of the general convolution's `(kh·kw·cg_in) × c_out` matrix with
//! `cg_in = 1`, `c_out = c`. Padding is zeros: a tap in the padding contributes nothing
//! (it is skipped, not multiplied by 0, so a non-finite weight does not reach an output
//! through the padding), except for a tap that reads only padding at every output pixel
//! (dilation can make one): a NaN or ±∞ weight there makes its channel's outputs NaN,
//! as the general convolution's product with the padding's zeros does, so that a
//! non-finite weight always shows in the output (see [`depthwise`]).

use super::{CHUNK, Geom, expect_len, inside, rows};
use crate::Error;

/// One step of [`visit`].
enum Step {
    /// Output pixel `o` (the offset of its `c` values) starts.
    Pixel { o: usize },
    /// A tap of output pixel `o` inside the image: the `c` values at `x` in the image meet
    /// the `c` weights at `w`.
    Tap { o: usize, x: usize, w: usize },
}

/// Visits every output pixel of `n` images in order and, after each, its taps inside the
/// image in window order. `g` checked.
#[inline(always)]
fn visit(g: &Geom, n: usize, mut f: impl FnMut(Step)) {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let img_len = g.h * g.w * c;
    let mut o = 0;
    for img in 0..n {
        for oy in 0..oh {
            let (ky_lo, ky_hi) = inside(oy * g.sh, g.dh, g.kh, g.ph, g.h);
            for ox in 0..ow {
                let (kx_lo, kx_hi) = inside(ox * g.sw, g.dw, g.kw, g.pw, g.w);
                f(Step::Pixel { o });
                for ky in ky_lo..ky_hi {
                    let iy = oy * g.sh + ky * g.dh - g.ph;
                    for kx in kx_lo..kx_hi {
                        let ix = ox * g.sw + kx * g.dw - g.pw;
                        f(Step::Tap {
                            o,
                            x: img * img_len + (iy * g.w + ix) * c,
                            w: (ky * g.kw + kx) * c,
                        });
                    }
                }
                o += c;
            }
        }
    }
}

/// Checks the geometry, the image-shaped buffer (`n·h·w × c`), the output-shaped one
/// (`n·oh·ow × c`) and the weights (`kh·kw × c`).
fn check(
    g: &Geom,
    n: usize,
    image: (&'static str, usize),
    output: (&'static str, usize),
    weights: (&'static str, usize),
) -> Result<(), Error> {
    g.check()?;
    let overflow = "depthwise: a buffer length";
    expect_len(image.0, image.1, rows(n, g.h, g.w, overflow)?, g.c)?;
    expect_len(output.0, output.1, rows(n, g.oh(), g.ow(), overflow)?, g.c)?;
    expect_len(weights.0, weights.1, g.kh * g.kw, g.c)
}

/// Depthwise convolution: `out[img][oy][ox][ch] = bias[ch] + Σ x[img][iy][ix][ch]·w[(ky·kw + kx)·c + ch]`
/// over the window's taps inside the image (`iy = oy·sh − ph + ky·dh`,
/// `ix = ox·sw − pw + kx·dw`); `out` (`n·oh·ow·c`) is overwritten. Each output starts
/// from its bias (or 0) and adds the rounded products in window order. Then, for a tap
/// that is inside the image at no output pixel, each of its weights that is NaN or ±∞
/// is multiplied by the padding's 0 and added to every output of its channel (making
/// them NaN, as in the general convolution; a finite weight there is never read).
///
/// # Errors
/// [`Geom::check`]'s; [`Error::ShapeMismatch`] unless `x` holds `n·h·w·c` values, `w`
/// `kh·kw·c`, `bias` `c` and `out` `n·oh·ow·c`; [`Error::Overflow`]. Nothing is written on
/// an error.
pub(crate) fn depthwise(
    g: &Geom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), Error> {
    check(
        g,
        n,
        ("depthwise: x (n·h·w rows of c channels)", x.len()),
        ("depthwise: out (n·oh·ow rows of c channels)", out.len()),
        ("depthwise: w (kh·kw rows of c channels)", w.len()),
    )?;
    let c = g.c;
    if let Some(b) = bias {
        expect_len("depthwise: bias (one value per channel)", b.len(), 1, c)?;
    }
    visit(g, n, |s| match s {
        Step::Pixel { o } => match bias {
            Some(b) => out[o..o + c].copy_from_slice(b),
            None => out[o..o + c].fill(0.0),
        },
        Step::Tap { o, x: xa, w: wa } => {
            let acc = &mut out[o..o + c];
            for ((a, &xv), &wv) in acc.iter_mut().zip(&x[xa..xa + c]).zip(&w[wa..wa + c]) {
                *a += xv * wv;
            }
        }
    });
    // Taps of padding alone: their non-finite weights times the padding's zeros.
    for ky in 0..g.kh {
        let (oy_lo, oy_hi) = inside(ky * g.dh, g.sh, g.oh(), g.ph, g.h);
        for kx in 0..g.kw {
            let (ox_lo, ox_hi) = inside(kx * g.dw, g.sw, g.ow(), g.pw, g.w);
            if oy_lo < oy_hi && ox_lo < ox_hi {
                continue; // the tap reads the image somewhere
            }
            let t = (ky * g.kw + kx) * c;
            for (ch, &wv) in w[t..t + c].iter().enumerate() {
                if !wv.is_finite() {
                    for a in out[ch..].iter_mut().step_by(c) {
                        *a += wv * 0.0;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Gradient of [`depthwise`] with respect to its input: zeroes `dx` (`n·h·w·c`, so it is
/// overwritten), then adds `dout[img][oy][ox][ch]·w[(ky·kw + kx)·c + ch]` to every input
/// position each window's in-image tap read, in the forward's order (output pixels, then
/// window order).
///
/// # Errors
/// As [`depthwise`] (`dout` in the output's shape, `dx` in the input's).
pub(crate) fn depthwise_backward_input(
    g: &Geom,
    n: usize,
    dout: &[f32],
    w: &[f32],
    dx: &mut [f32],
) -> Result<(), Error> {
    check(
        g,
        n,
        (
            "depthwise_backward_input: dx (n·h·w rows of c channels)",
            dx.len(),
        ),
        (
            "depthwise_backward_input: dout (n·oh·ow rows of c channels)",
            dout.len(),
        ),
        (
            "depthwise_backward_input: w (kh·kw rows of c channels)",
            w.len(),
        ),
    )?;
    let c = g.c;
    dx.fill(0.0);
    visit(g, n, |s| {
        if let Step::Tap { o, x: xa, w: wa } = s {
            let d = &dout[o..o + c];
            for ((x, &dv), &wv) in dx[xa..xa + c].iter_mut().zip(d).zip(&w[wa..wa + c]) {
                *x += dv * wv;
            }
        }
    });
    Ok(())
}

/// Gradient of [`depthwise`] with respect to its weights, BLAS-style:
/// `dw ← α·S + β·dw` with `S[(ky·kw + kx)·c + ch] = Σ x[img][iy][ix][ch]·dout[img][oy][ox][ch]`
/// over every output pixel whose tap `(ky, kx)` is inside the image. With `β = 0`, `dw`
/// is only written, never read (a NaN there does not propagate); `α = −lr, β = 1` applies
/// an SGD step in place.
///
/// Each `S` value is summed in output-pixel order from 0, one rounded `+=` of a rounded
/// product per term, then `α·S + β·dw` (two products and a sum, each rounded). The loops
/// run per tap over all output pixels, a chunk of up to 64 channels at a time kept on
/// the stack (contiguous and innermost).
///
/// # Errors
/// As [`depthwise`] (`x` in the input's shape, `dout` in the output's, `dw` in the
/// weights').
pub(crate) fn depthwise_backward_weight(
    g: &Geom,
    n: usize,
    x: &[f32],
    dout: &[f32],
    alpha: f32,
    beta: f32,
    dw: &mut [f32],
) -> Result<(), Error> {
    check(
        g,
        n,
        (
            "depthwise_backward_weight: x (n·h·w rows of c channels)",
            x.len(),
        ),
        (
            "depthwise_backward_weight: dout (n·oh·ow rows of c channels)",
            dout.len(),
        ),
        (
            "depthwise_backward_weight: dw (kh·kw rows of c channels)",
            dw.len(),
        ),
    )?;
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let img_len = g.h * g.w * c;
    let mut acc = [0.0f32; CHUNK];
    for ky in 0..g.kh {
        // The output rows and columns whose tap (ky, kx) is inside the image.
        let (oy_lo, oy_hi) = inside(ky * g.dh, g.sh, oh, g.ph, g.h);
        for kx in 0..g.kw {
            let (ox_lo, ox_hi) = inside(kx * g.dw, g.sw, ow, g.pw, g.w);
            let t = (ky * g.kw + kx) * c;
            let mut c0 = 0;
            while c0 < c {
                let len = if c - c0 < CHUNK { c - c0 } else { CHUNK };
                let acc = &mut acc[..len];
                acc.fill(0.0);
                for img in 0..n {
                    for oy in oy_lo..oy_hi {
                        let iy = oy * g.sh + ky * g.dh - g.ph;
                        for ox in ox_lo..ox_hi {
                            let ix = ox * g.sw + kx * g.dw - g.pw;
                            let xa = img * img_len + (iy * g.w + ix) * c + c0;
                            let da = ((img * oh + oy) * ow + ox) * c + c0;
                            let terms = x[xa..xa + len].iter().zip(&dout[da..da + len]);
                            for (a, (&xv, &dv)) in acc.iter_mut().zip(terms) {
                                *a += xv * dv;
                            }
                        }
                    }
                }
                let d = &mut dw[t + c0..t + c0 + len];
                if beta == 0.0 {
                    for (d, &a) in d.iter_mut().zip(acc.iter()) {
                        *d = alpha * a;
                    }
                } else {
                    for (d, &a) in d.iter_mut().zip(acc.iter()) {
                        *d = alpha * a + beta * *d;
                    }
                }
                c0 += len;
            }
        }
    }
    Ok(())
}
