//! Pooling: the max or the mean over windows, 1-D and 2-D, and the mean over every
//! position (global average pooling), channel by channel over channels-last data.
//!
//! No parameters. Windows have no padding (PyTorch's default); a window that does not
//! fit at the end is left out (`floor` mode: the output is `⌊(len − k)/stride⌋ + 1`).
//! Max pooling keeps, for the backward pass, the position of each window's maximum (the
//! first, on ties; a window holding a NaN gives NaN, and its gradient goes to the first
//! NaN) in the workspace; the gradient of average pooling spreads each output's delta
//! evenly over its window (`1/(kh·kw)` each).

use super::{Cx, Needs, Prev, SaveFields, Scratch, Shape, ShapeError, slot};
use crate::Error;
use crate::window::{self, Geom};

/// A 1-D pooling window (PyTorch's `nn.MaxPool1d`/`nn.AvgPool1d` without padding).
///
/// ```
/// use microprop::layer::{Layer, Pool};
/// const POOL: Layer = Layer::MaxPool1d(Pool::new(2)); // stride 2, as in PyTorch
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Window width.
    pub kernel: usize,
    /// Step between windows (the kernel width by default).
    pub stride: usize,
}

/// A 2-D pooling window (`nn.MaxPool2d`/`nn.AvgPool2d` without padding); pairs are
/// `(height, width)`.
///
/// ```
/// use microprop::layer::{Layer, Pool2d};
/// const POOL: Layer = Layer::MaxPool2d(Pool2d::new((2, 2)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Window `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Steps between windows (the kernel by default).
    pub stride: (usize, usize),
}

impl Pool {
    /// A window of `kernel`, stride `kernel`.
    pub const fn new(kernel: usize) -> Pool {
        Pool {
            kernel,
            stride: kernel,
        }
    }
    /// With stride `stride`.
    #[must_use]
    pub const fn stride(self, stride: usize) -> Pool {
        Pool { stride, ..self }
    }
    /// The window of a saved record's fields: their width halves (the height halves of
    /// a 1-D record are kernel 1, stride 1, as [`Pool::spec`] saves them).
    pub(super) const fn from_save_fields(f: &SaveFields) -> Pool {
        let p = Pool2d::from_save_fields(f);
        Pool {
            kernel: p.kernel.1,
            stride: p.stride.1,
        }
    }

    /// The same window over `1 × len` images.
    pub(crate) const fn spec(&self) -> Pool2d {
        Pool2d {
            kernel: (1, self.kernel),
            stride: (1, self.stride),
        }
    }
}

impl Pool2d {
    /// A window of `kernel`, stride `kernel`.
    pub const fn new(kernel: (usize, usize)) -> Pool2d {
        Pool2d {
            kernel,
            stride: kernel,
        }
    }
    /// With stride `stride`.
    #[must_use]
    pub const fn stride(self, stride: (usize, usize)) -> Pool2d {
        Pool2d { stride, ..self }
    }

    /// Its record's fields in the saved format: the kernel and stride pairs.
    pub(super) const fn save_fields(&self) -> SaveFields {
        let mut f = [0; slot::COUNT];
        f[slot::KERNEL] = self.kernel.0;
        f[slot::KERNEL + 1] = self.kernel.1;
        f[slot::STRIDE] = self.stride.0;
        f[slot::STRIDE + 1] = self.stride.1;
        f
    }

    /// The window of a saved record's fields (the inverse of [`Pool2d::save_fields`]).
    pub(super) const fn from_save_fields(f: &SaveFields) -> Pool2d {
        Pool2d {
            kernel: (f[slot::KERNEL], f[slot::KERNEL + 1]),
            stride: (f[slot::STRIDE], f[slot::STRIDE + 1]),
        }
    }

    pub(crate) const fn geom(&self, input: Shape) -> Geom {
        Geom {
            h: input.h,
            w: input.w,
            c: input.c,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.stride.0,
            sw: self.stride.1,
            ph: 0,
            pw: 0,
            dh: 1,
            dw: 1,
        }
    }

    pub(crate) const fn out_of(&self, input: Shape) -> Shape {
        let g = self.geom(input);
        Shape {
            h: g.oh(),
            w: g.ow(),
            c: input.c,
        }
    }

    pub(crate) const fn out_shape(&self, input: Shape, one_d: bool) -> Result<Shape, ShapeError> {
        if one_d && input.h != 1 {
            return Err(
                "pool1d: the input must be a sequence (h = 1): use the 2-D pooling \
                        for images",
            );
        }
        match self.geom(input).check() {
            Ok(()) => {}
            Err(Error::InvalidArgument { what } | Error::Overflow { what }) => return Err(what),
            Err(_) => return Err("pool: the window does not fit the input"),
        }
        Ok(self.out_of(input))
    }

    /// Max pooling keeps the argmax of every output value for the backward pass.
    pub(crate) const fn step_needs(&self, input: Shape, n: usize, max: bool) -> Needs {
        Needs {
            keep: if max {
                n.saturating_mul(self.out_of(input).len())
            } else {
                0
            },
            ..Needs::NONE
        }
    }

    pub(crate) fn forward(
        &self,
        cx: Cx<'_>,
        input: Shape,
        max: bool,
        x: &[f32],
        out: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let g = self.geom(input);
        if max {
            let argmax = if s.keep.is_empty() {
                None
            } else {
                Some(s.keep)
            };
            window::max_pool(&g, cx.n, x, out, argmax)
        } else {
            window::avg_pool(&g, cx.n, x, out)
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_input(
        &self,
        cx: Cx<'_>,
        input: Shape,
        max: bool,
        dout: &[f32],
        prev: Prev<'_>,
        dx: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let g = self.geom(input);
        if max {
            // Windows that do not overlap write each input once, the derivative with it.
            if window::max_pool_backward_deriv(&g, cx.n, dout, s.keep, prev.act, prev.out, dx)? {
                return Ok(());
            }
        } else {
            window::avg_pool_backward(&g, cx.n, dout, dx)?;
        }
        prev.apply(cx, dx)
    }
}

/// Global average pooling: `1 × 1 × c`.
pub(crate) const fn global_out(input: Shape) -> Shape {
    Shape::flat(input.c)
}

pub(crate) fn global_forward(
    cx: Cx<'_>,
    input: Shape,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    window::global_avg_pool(input.h * input.w, input.c, cx.n, x, out)
}

pub(crate) fn global_backward_input(
    cx: Cx<'_>,
    input: Shape,
    dout: &[f32],
    prev: Prev<'_>,
    dx: &mut [f32],
) -> Result<(), Error> {
    window::global_avg_pool_backward(input.h * input.w, input.c, cx.n, dout, dx)?;
    prev.apply(cx, dx)
}
