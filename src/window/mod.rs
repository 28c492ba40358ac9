//! Window kernels over channels-last images, for the convolution and pooling layers
//! (issue 17): im2col and its adjoint col2im, max, average and global average pooling,
//! and depthwise convolution.
//!
//! # Layout
//! A batch of `n` images is `n × h × w × c` row-major (`[img][y][x][ch]`); a 1-D sequence
//! is an image with `h = 1` (`n × len × c`, see [`Geom::d1`]). Every kernel's innermost
//! loop runs over a contiguous run of channels, so it vectorizes (and a whole run of
//! `kw` taps is one copy where the layout allows it).
//!
//! A window's taps are numbered in window order, `t = ky·kw + kx`; tap `(ky, kx)` of
//! output pixel `(oy, ox)` reads input row `oy·sh − ph + ky·dh` and column
//! `ox·sw − pw + kx·dw`, which is zero padding when it falls outside the image
//! (PyTorch's convention: cross-correlation, the kernel is not flipped).
//!
//! # Geometry
//! [`Geom::check`] accepts a geometry when every size, stride and dilation is at least 1,
//! the output is non-empty, no size overflows, and the padding is smaller than the
//! dilated kernel (`ph < dh·(kh − 1) + 1`, `pw < dw·(kw − 1) + 1`). The last rule makes
//! every window's span overlap the image, so without dilation every window reads at
//! least one input value (with dilation its taps may straddle a small image: a window of
//! padding alone is still computed, as zeros). It is stricter than PyTorch's
//! convolutions (which take any padding) and looser than PyTorch's pooling
//! (`pad ≤ k/2`); the pooling kernels here take no padding at all.
//!
//! # Errors
//! Every kernel is a safe function that validates the geometry and every slice length
//! (exact lengths: a longer buffer is a [`Error::ShapeMismatch`] too, so a caller's
//! off-by-one shows) before it writes anything; on an `Err` no buffer was changed. None
//! allocates: the few that need scratch use a 64-value array on the stack.
//!
//! # Rounding
//! Each kernel documents its order of operations; the unit tests hold nested-loop
//! references that compute the same operations in the same order and agree bit for bit.

mod col;
mod depthwise;
mod pool;
mod simd;
#[cfg(all(test, feature = "std"))]
mod tests;

#[cfg(all(test, feature = "std"))]
pub(crate) use col::im2col;
pub(crate) use col::{col2im_add, pad};
pub(crate) use depthwise::{depthwise, depthwise_backward_input, depthwise_backward_weight};
#[cfg(all(test, feature = "std"))]
pub(crate) use pool::max_pool_backward;
pub(crate) use pool::{
    avg_pool, avg_pool_backward, global_avg_pool, global_avg_pool_backward, max_pool,
    max_pool_backward_deriv,
};

use crate::Error;

/// Values of scratch the kernels that need it keep on the stack (a channel chunk).
const CHUNK: usize = 64;

/// Geometry of a window operation (convolution or pooling) over channels-last images.
///
/// 1-D: `h = 1, kh = 1, sh = 1, ph = 0, dh = 1` ([`Geom::d1`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geom {
    /// Input height (1 for a 1-D sequence).
    pub h: usize,
    /// Input width (a 1-D sequence's length).
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height (1 for 1-D).
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride (1 for 1-D).
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Zero padding above and below (0 for 1-D).
    pub ph: usize,
    /// Zero padding left and right.
    pub pw: usize,
    /// Vertical dilation (1 for 1-D; 1 is no dilation).
    pub dh: usize,
    /// Horizontal dilation (1 is no dilation).
    pub dw: usize,
}

/// Output length along one axis: `(len + 2p − d(k−1) − 1)/s + 1`, or 0 when the dilated
/// kernel is longer than the padded input (or `k` or `s` is 0). Saturating: never panics.
const fn out_len(len: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    if k == 0 || s == 0 {
        return 0;
    }
    let ek = d.saturating_mul(k - 1).saturating_add(1);
    let padded = len.saturating_add(p.saturating_mul(2));
    if ek > padded {
        0
    } else {
        (padded - ek) / s + 1
    }
}

/// `a·b`, or [`Error::Overflow`] naming `what`.
const fn mul(a: usize, b: usize, what: &'static str) -> Result<usize, Error> {
    match a.checked_mul(b) {
        Some(v) => Ok(v),
        None => Err(Error::Overflow { what }),
    }
}

/// `a·b·c`, or `None` on overflow.
const fn mul3(a: usize, b: usize, c: usize) -> Option<usize> {
    match a.checked_mul(b) {
        Some(ab) => ab.checked_mul(c),
        None => None,
    }
}

const fn invalid(what: &'static str) -> Error {
    Error::InvalidArgument { what }
}

impl Geom {
    #[cfg(all(test, feature = "std"))]
    /// A 1-D geometry: a sequence of `len` positions of `c` channels, kernel `k`, stride
    /// `stride`, padding `pad` on both ends, dilation `dil`.
    pub const fn d1(len: usize, c: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Geom {
        Geom {
            h: 1,
            w: len,
            c,
            kh: 1,
            kw: k,
            sh: 1,
            sw: stride,
            ph: 0,
            pw: pad,
            dh: 1,
            dw: dil,
        }
    }

    /// Output height: `(h + 2ph − dh(kh−1) − 1)/sh + 1`, or 0 when the dilated kernel is
    /// taller than the padded input. Never panics (saturating for huge values, 0 for a
    /// zero stride or kernel); exact whenever [`Geom::check`] passes.
    pub const fn oh(&self) -> usize {
        out_len(self.h, self.kh, self.sh, self.ph, self.dh)
    }

    /// Output width: `(w + 2pw − dw(kw−1) − 1)/sw + 1`, or 0 as for [`Geom::oh`].
    pub const fn ow(&self) -> usize {
        out_len(self.w, self.kw, self.sw, self.pw, self.dw)
    }

    /// Accepts the geometry or says what is wrong with it:
    /// [`Error::InvalidArgument`] when a size, stride or dilation is 0, when the padding
    /// is not smaller than the dilated kernel (`ph < dh·(kh − 1) + 1` and likewise for
    /// the width; see the [module docs](self#geometry)), or when the dilated kernel is
    /// larger than the padded input (an empty output); [`Error::Overflow`] when the
    /// dilated kernel, the padded input, `h·w·c`, `oh·ow·c` or `kh·kw·c` overflow `usize`.
    pub const fn check(&self) -> Result<(), Error> {
        if self.h == 0 || self.w == 0 {
            return Err(invalid(
                "window geometry: the input height h and width w must be at least 1 \
                 (h = 1 for a 1-D sequence)",
            ));
        }
        if self.c == 0 {
            return Err(invalid(
                "window geometry: the channel count c must be at least 1",
            ));
        }
        if self.kh == 0 || self.kw == 0 {
            return Err(invalid(
                "window geometry: the kernel kh × kw must be at least 1 × 1",
            ));
        }
        if self.sh == 0 || self.sw == 0 {
            return Err(invalid(
                "window geometry: the strides sh and sw must be at least 1",
            ));
        }
        if self.dh == 0 || self.dw == 0 {
            return Err(invalid(
                "window geometry: the dilations dh and dw must be at least 1 (1 is no dilation)",
            ));
        }
        let (ekh, ekw) = match (
            self.dh.checked_mul(self.kh - 1),
            self.dw.checked_mul(self.kw - 1),
        ) {
            (Some(a), Some(b)) => match (a.checked_add(1), b.checked_add(1)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(Error::Overflow {
                        what: "window geometry: the dilated kernel d·(k − 1) + 1",
                    });
                }
            },
            _ => {
                return Err(Error::Overflow {
                    what: "window geometry: the dilated kernel d·(k − 1) + 1",
                });
            }
        };
        let (padded_h, padded_w) = match (self.ph.checked_mul(2), self.pw.checked_mul(2)) {
            (Some(a), Some(b)) => match (self.h.checked_add(a), self.w.checked_add(b)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(Error::Overflow {
                        what: "window geometry: the padded input h + 2·ph or w + 2·pw",
                    });
                }
            },
            _ => {
                return Err(Error::Overflow {
                    what: "window geometry: the padded input h + 2·ph or w + 2·pw",
                });
            }
        };
        if self.ph >= ekh || self.pw >= ekw {
            return Err(invalid(
                "window geometry: the padding must be smaller than the dilated kernel \
                 (ph < dh·(kh − 1) + 1 and pw < dw·(kw − 1) + 1), so that every window \
                 overlaps the input",
            ));
        }
        if ekh > padded_h || ekw > padded_w {
            return Err(invalid(
                "window geometry: the dilated kernel d·(k − 1) + 1 is larger than the padded \
                 input (h + 2·ph or w + 2·pw): the output would be empty",
            ));
        }
        if mul3(self.h, self.w, self.c).is_none() {
            return Err(Error::Overflow {
                what: "window geometry: the image size h·w·c",
            });
        }
        if mul3(self.oh(), self.ow(), self.c).is_none() {
            return Err(Error::Overflow {
                what: "window geometry: the output image size oh·ow·c",
            });
        }
        if mul3(self.kh, self.kw, self.c).is_none() {
            return Err(Error::Overflow {
                what: "window geometry: the kernel size kh·kw·c",
            });
        }
        Ok(())
    }

    #[cfg(all(test, feature = "std"))]
    /// Length of a batch of `n` input images, `n·h·w·c`, or [`Error::Overflow`].
    pub const fn input_len(&self, n: usize) -> Result<usize, Error> {
        match mul3(n, self.h, self.w) {
            Some(v) => mul(v, self.c, "window: the input length n·h·w·c"),
            None => Err(Error::Overflow {
                what: "window: the input length n·h·w·c",
            }),
        }
    }

    #[cfg(all(test, feature = "std"))]
    /// Length of a batch of `n` output images of `c_out` channels, `n·oh·ow·c_out`, or
    /// [`Error::Overflow`].
    pub const fn output_len(&self, n: usize, c_out: usize) -> Result<usize, Error> {
        match mul3(n, self.oh(), self.ow()) {
            Some(v) => mul(v, c_out, "window: the output length n·oh·ow·c_out"),
            None => Err(Error::Overflow {
                what: "window: the output length n·oh·ow·c_out",
            }),
        }
    }

    #[cfg(all(test, feature = "std"))]
    /// Length of the [`im2col`] matrix of `n` images for a group of `cg` channels,
    /// `(n·oh·ow) × (kh·kw·cg)`, or [`Error::Overflow`].
    pub const fn col_len(&self, n: usize, cg: usize) -> Result<usize, Error> {
        match (mul3(n, self.oh(), self.ow()), mul3(self.kh, self.kw, cg)) {
            (Some(rows), Some(cols)) => mul(rows, cols, "im2col: the column matrix length"),
            _ => Err(Error::Overflow {
                what: "im2col: the column matrix length",
            }),
        }
    }
}

/// The taps `lo..hi` (of `count`, at padded coordinates `start + k·step`) that fall inside
/// an input of `len` positions after `pad` positions of padding. Empty as `lo == hi`.
///
/// Used both ways: the taps of one output position (`start = o·s`, `step = d`,
/// `count = k`) and the output positions one tap reaches (`start = t·d`, `step = s`,
/// `count = oh`).
#[inline]
const fn inside(start: usize, step: usize, count: usize, pad: usize, len: usize) -> (usize, usize) {
    let end = pad + len;
    if step == 1 {
        // No division for the common undilated window (the im2col of every output pixel
        // asks this twice).
        let lo = pad.saturating_sub(start);
        let hi = if start >= end {
            0
        } else if end - start < count {
            end - start
        } else {
            count
        };
        return if lo < hi { (lo, hi) } else { (hi, hi) };
    }
    let lo = if start >= pad {
        0
    } else {
        (pad - start).div_ceil(step)
    };
    let hi = if start >= end {
        0
    } else {
        let h = (end - start).div_ceil(step);
        if h < count { h } else { count }
    };
    if lo < hi { (lo, hi) } else { (hi, hi) }
}

/// The buffer `what` must hold exactly `rows × cols` values: [`Error::ShapeMismatch`]
/// (its shape found as whole rows of `cols` where it is a multiple, else `1 × len`), or
/// [`Error::Overflow`] when `rows·cols` overflows.
fn expect_len(what: &'static str, len: usize, rows: usize, cols: usize) -> Result<(), Error> {
    let needed = mul(rows, cols, what)?;
    if len == needed {
        return Ok(());
    }
    let found = if cols > 0 && len.is_multiple_of(cols) {
        (len / cols, cols)
    } else {
        (1, len)
    };
    Err(Error::ShapeMismatch {
        what,
        expected: (rows, cols),
        found,
    })
}

/// `n·a·b` rows, or [`Error::Overflow`] naming `what`.
fn rows(n: usize, a: usize, b: usize, what: &'static str) -> Result<usize, Error> {
    mul3(n, a, b).ok_or(Error::Overflow { what })
}
