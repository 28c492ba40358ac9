//! Convolutions, 1-D and 2-D, with stride, zero padding, dilation and groups
//! (depthwise and pointwise included), over channels-last data.
//!
//! # Layout
//! An input example is `h × w × c_in` stored `[y][x][channel]` (a sequence is
//! `1 × len × c_in`, `[t][channel]`). The weights are one row-major
//! `(kh·kw·c_in/groups) × c_out` matrix, row `(ky·kw + kx)·(c_in/groups) + ci`, column
//! `oc`, then the bias (`c_out` values). PyTorch's `nn.Conv2d.weight` is
//! `c_out × c_in/groups × kh × kw` (`nn.Conv1d`: `c_out × c_in/groups × k`):
//!
//! ```text
//! microprop W[(ky·kw + kx)·cg + ci][oc] = torch weight[oc][ci][ky][kx]
//! ```
//!
//! (`cg = c_in/groups`; for a [`Conv1d`], `kh = 1`, `ky = 0` and `weight[oc][ci][kx]`.)
//! safetensors files carry the weights in PyTorch's layout, reordered on the way out and
//! back on the way in (see [`nn::safetensors`](crate::nn::safetensors)); the saved blob
//! ([`nn::save`](crate::nn::save)) keeps microprop's.
//!
//! # How it runs
//! Channels-last makes a convolution a matrix product whose rows are output pixels and
//! whose depth is a window: `kh·kw` taps of `c_in/groups` contiguous channels (one run of
//! `kw·c_in` values per kernel row when there is one group and no horizontal dilation).
//! The direct kernels (`gemm/direct.rs`) compute that product without unfolding it: a
//! register tile of output pixels by output channels keeps one pointer per pixel and
//! walks the window's taps by offset, broadcasting each input value from where it lies
//! in the (zero-padded) images, and finishes with the GEMM's epilogue (bias and
//! activation). A 2-D convolution's padding is a padded copy of its input in the
//! workspace; a 1-D convolution's is virtual: the windows inside the sequence are read
//! in place and the few that cross an end from a copy of that end with its zeros (the
//! same sums in the same order, and a workspace of the strips, `Direct::edge_len`, instead
//! of a copy of the batch; on AVX-512 the sliding tiles of a layer of at most 16 output
//! channels and kernel 3 are not used over it, which changes that layer's bits). The weight gradient is the same walk summed over the pixels, `α = −lr`,
//! `β = 1` for plain SGD straight into the weights. The input gradient of a stride-1
//! convolution is a direct convolution too: the delta, padded by `(k − 1)·d − p`, through
//! the weights flipped tap for tap and transposed per group, with the previous layer's
//! activation derivative in the epilogue; a strided convolution's is the delta times the
//! weights' transpose (a GEMM), folded back (col2im), then times the derivative. A
//! pointwise convolution (a 1 × 1 kernel, stride 1, no padding, one group) is a plain GEMM
//! over the input as it lies, and a depthwise one (`groups = c_in = c_out`) runs a direct
//! kernel vectorized over the channels (`window/depthwise.rs`).
//!
//! # Why channels-last
//! PyTorch stores activations `N × C × L` (`N × C × H × W`); microprop stores them
//! `N × L × C` (`N × H × W × C`). Channels-last puts the `c` values a kernel reads at one
//! position next to each other, so every loop that matters runs along contiguous
//! channels: the output tile is a vector of output channels, a window is a few runs of
//! contiguous input channels (no gather), pooling compares whole vectors of channels, and
//! a `Flatten` after a convolution is no copy at all. Channels-first would make a
//! window's values strided (`L` apart across channels) and the per-pixel output a column,
//! which is why an im2col copy is the usual way to convolve that layout. Measured at
//! batch 32 (the `bench` example's convolution table), these kernels do a whole forward
//! and backward pass of the vowels and digits networks' convolutions 1.3 to 1.6 times
//! faster than im2col plus `matrixmultiply` over the same channels-last data; a
//! channels-first implementation was not written to race them.
//!
//! To feed PyTorch-layout data: `x[n][t][c] = torch_x[n][c][t]` (`x[n][y][x][c] =
//! torch_x[n][c][y][x]`), i.e. `torch_x.permute(0, 2, 1)` (`permute(0, 2, 3, 1)`) made
//! contiguous; and back with the inverse permutation.

use super::{Cx, Needs, Prev, SaveFields, Scratch, Shape, ShapeError, Update, slot};
use crate::activation::forward_inplace_isa;
use crate::gemm::{
    Direct, Epi, conv_forward, conv_wgrad, fill_edges, gemm_fused_on, gemm_workspace_len,
};
use crate::window::{self, Geom};
use crate::{Activation, Error, MatMut, MatRef};

/// A 1-D convolution over a sequence (PyTorch's `nn.Conv1d`), its activation applied
/// last. Build it with [`Conv1d::new`] and the `const` builders:
///
/// ```
/// use microprop::{Activation::Relu, layer::{Conv1d, Layer}};
/// // 12 → 32 channels, kernel 3, "same" padding.
/// const CONV: Layer = Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu));
/// // Depthwise (one filter per channel), then pointwise.
/// const DW: Layer = Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).groups(32));
/// const PW: Layer = Layer::Conv1d(Conv1d::new(32, 64, 1).act(Relu));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1d {
    /// Input channels (the input's `c`).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel width.
    pub kernel: usize,
    /// Step between windows (1 by default).
    pub stride: usize,
    /// Zeros added at both ends (0 by default); less than the dilated kernel's extent,
    /// `dilation·(kernel − 1) + 1` (a window of padding only is refused; PyTorch allows it).
    pub padding: usize,
    /// Step between a window's taps (1 by default).
    pub dilation: usize,
    /// Groups: each sees `in_channels / groups` inputs and gives
    /// `out_channels / groups` outputs (1 by default; `in_channels` for depthwise).
    pub groups: usize,
    /// Applied last ([`Activation::Identity`] by default).
    pub act: Activation,
    /// Whether it adds a bias (on by default).
    pub bias: bool,
}

/// A 2-D convolution over an image (PyTorch's `nn.Conv2d`), its activation applied
/// last; every pair is `(height, width)`.
///
/// ```
/// use microprop::{Activation::Relu, layer::{Conv2d, Layer}};
/// const CONV: Layer = Layer::Conv2d(Conv2d::new(1, 16, (3, 3)).padding((1, 1)).act(Relu));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels (the input's `c`).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Steps between windows (`(1, 1)` by default).
    pub stride: (usize, usize),
    /// Zeros added on both sides (`(0, 0)` by default); each less than the dilated
    /// kernel's extent along its axis, `dilation·(kernel − 1) + 1`, as for
    /// [`Conv1d::padding`](Conv1d#structfield.padding).
    pub padding: (usize, usize),
    /// Steps between a window's taps (`(1, 1)` by default).
    pub dilation: (usize, usize),
    /// Groups, as for [`Conv1d::groups`].
    pub groups: usize,
    /// Applied last ([`Activation::Identity`] by default).
    pub act: Activation,
    /// Whether it adds a bias (on by default).
    pub bias: bool,
}

impl Conv1d {
    /// `in_channels → out_channels` with a kernel of `kernel`: stride 1, no padding,
    /// dilation 1, one group, a bias and no activation (`nn.Conv1d`'s defaults).
    pub const fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv1d {
        Conv1d {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            act: Activation::Identity,
            bias: true,
        }
    }
    /// With stride `stride`.
    #[must_use]
    pub const fn stride(self, stride: usize) -> Conv1d {
        Conv1d { stride, ..self }
    }
    /// With `padding` zeros at both ends.
    #[must_use]
    pub const fn padding(self, padding: usize) -> Conv1d {
        Conv1d { padding, ..self }
    }
    /// With dilation `dilation`.
    #[must_use]
    pub const fn dilation(self, dilation: usize) -> Conv1d {
        Conv1d { dilation, ..self }
    }
    /// With `groups` groups.
    #[must_use]
    pub const fn groups(self, groups: usize) -> Conv1d {
        Conv1d { groups, ..self }
    }
    /// With activation `act`.
    #[must_use]
    pub const fn act(self, act: Activation) -> Conv1d {
        Conv1d { act, ..self }
    }
    /// With the bias on or off.
    #[must_use]
    pub const fn bias(self, bias: bool) -> Conv1d {
        Conv1d { bias, ..self }
    }

    /// The convolution of a saved record's fields: their width halves (the height
    /// halves of a 1-D record are kernel 1, stride 1, padding 0, dilation 1, as
    /// [`Conv1d::spec`] saves them).
    pub(super) const fn from_save_fields(f: &SaveFields, act: Activation, bias: bool) -> Conv1d {
        let c = Conv2d::from_save_fields(f, act, bias);
        Conv1d {
            in_channels: c.in_channels,
            out_channels: c.out_channels,
            kernel: c.kernel.1,
            stride: c.stride.1,
            padding: c.padding.1,
            dilation: c.dilation.1,
            groups: c.groups,
            act,
            bias,
        }
    }

    /// The same convolution as a [`Conv2d`] over `1 × len` images.
    pub(crate) const fn spec(&self) -> Conv2d {
        Conv2d {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel: (1, self.kernel),
            stride: (1, self.stride),
            padding: (0, self.padding),
            dilation: (1, self.dilation),
            groups: self.groups,
            act: self.act,
            bias: self.bias,
        }
    }
}

impl Conv2d {
    /// `in_channels → out_channels` with a `(kh, kw)` kernel: stride `(1, 1)`, no
    /// padding, dilation `(1, 1)`, one group, a bias and no activation.
    pub const fn new(in_channels: usize, out_channels: usize, kernel: (usize, usize)) -> Conv2d {
        Conv2d {
            in_channels,
            out_channels,
            kernel,
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            act: Activation::Identity,
            bias: true,
        }
    }
    /// With stride `stride`.
    #[must_use]
    pub const fn stride(self, stride: (usize, usize)) -> Conv2d {
        Conv2d { stride, ..self }
    }
    /// With `padding` zeros on both sides.
    #[must_use]
    pub const fn padding(self, padding: (usize, usize)) -> Conv2d {
        Conv2d { padding, ..self }
    }
    /// With dilation `dilation`.
    #[must_use]
    pub const fn dilation(self, dilation: (usize, usize)) -> Conv2d {
        Conv2d { dilation, ..self }
    }
    /// With `groups` groups.
    #[must_use]
    pub const fn groups(self, groups: usize) -> Conv2d {
        Conv2d { groups, ..self }
    }
    /// With activation `act`.
    #[must_use]
    pub const fn act(self, act: Activation) -> Conv2d {
        Conv2d { act, ..self }
    }
    /// With the bias on or off.
    #[must_use]
    pub const fn bias(self, bias: bool) -> Conv2d {
        Conv2d { bias, ..self }
    }

    /// Its record's fields in the saved format: channels, the four `(h, w)` pairs and
    /// the groups.
    pub(super) const fn save_fields(&self) -> SaveFields {
        let mut f = [0; slot::COUNT];
        f[slot::IN] = self.in_channels;
        f[slot::OUT] = self.out_channels;
        f[slot::KERNEL] = self.kernel.0;
        f[slot::KERNEL + 1] = self.kernel.1;
        f[slot::STRIDE] = self.stride.0;
        f[slot::STRIDE + 1] = self.stride.1;
        f[slot::PADDING] = self.padding.0;
        f[slot::PADDING + 1] = self.padding.1;
        f[slot::DILATION] = self.dilation.0;
        f[slot::DILATION + 1] = self.dilation.1;
        f[slot::GROUPS] = self.groups;
        f
    }

    /// The convolution of a saved record's fields (the inverse of
    /// [`Conv2d::save_fields`]).
    pub(super) const fn from_save_fields(f: &SaveFields, act: Activation, bias: bool) -> Conv2d {
        Conv2d {
            in_channels: f[slot::IN],
            out_channels: f[slot::OUT],
            kernel: (f[slot::KERNEL], f[slot::KERNEL + 1]),
            stride: (f[slot::STRIDE], f[slot::STRIDE + 1]),
            padding: (f[slot::PADDING], f[slot::PADDING + 1]),
            dilation: (f[slot::DILATION], f[slot::DILATION + 1]),
            groups: f[slot::GROUPS],
            act,
            bias,
        }
    }

    /// PyTorch's weight shape, `[c_out, c_in/groups, kh, kw]`.
    pub(super) const fn torch_shape(&self) -> [usize; 4] {
        [self.out_channels, self.cg(), self.kernel.0, self.kernel.1]
    }

    /// Calls `f` with the index in `W` of each element of PyTorch's `weight`
    /// (`c_out × c_in/groups × kh × kw`), in its row-major order.
    pub(super) fn torch_order(&self, mut f: impl FnMut(usize)) {
        let (cout, cg, (kh, kw)) = (self.out_channels, self.cg(), self.kernel);
        for oc in 0..cout {
            for ci in 0..cg {
                for ky in 0..kh {
                    for kx in 0..kw {
                        f(((ky * kw + kx) * cg + ci) * cout + oc);
                    }
                }
            }
        }
    }

    /// The window geometry on an `input` shape.
    pub(crate) const fn geom(&self, input: Shape) -> Geom {
        Geom {
            h: input.h,
            w: input.w,
            c: input.c,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.stride.0,
            sw: self.stride.1,
            ph: self.padding.0,
            pw: self.padding.1,
            dh: self.dilation.0,
            dw: self.dilation.1,
        }
    }

    /// Input channels of a group, `c_in / groups`.
    const fn cg(&self) -> usize {
        match self.in_channels.checked_div(self.groups) {
            Some(c) => c,
            None => 0,
        }
    }

    /// Output channels of a group, `c_out / groups`.
    const fn og(&self) -> usize {
        match self.out_channels.checked_div(self.groups) {
            Some(c) => c,
            None => 0,
        }
    }

    /// Rows of the weight matrix, `kh·kw·c_in/groups` (saturating).
    const fn k(&self) -> usize {
        self.kernel
            .0
            .saturating_mul(self.kernel.1)
            .saturating_mul(self.cg())
    }

    /// `(c_in/groups·kh·kw, c_out·kh·kw)`, PyTorch's fans of a convolution's weight.
    pub(crate) const fn fans(&self) -> (usize, usize) {
        let taps = self.kernel.0.saturating_mul(self.kernel.1);
        (self.k(), self.out_channels.saturating_mul(taps))
    }

    /// Weights, `kh·kw·c_in/groups·c_out` (saturating).
    pub(crate) const fn weight_len(&self) -> usize {
        self.k().saturating_mul(self.out_channels)
    }

    /// Weights and bias (saturating).
    pub(crate) const fn param_len(&self) -> usize {
        let w = self.weight_len();
        if self.bias {
            w.saturating_add(self.out_channels)
        } else {
            w
        }
    }

    /// The output shape, unchecked.
    pub(crate) const fn out_of(&self, input: Shape) -> Shape {
        let g = self.geom(input);
        Shape {
            h: g.oh(),
            w: g.ow(),
            c: self.out_channels,
        }
    }

    /// The output shape, or what is wrong; `one_d` for a [`Conv1d`] (whose input must
    /// be a sequence).
    pub(crate) const fn out_shape(&self, input: Shape, one_d: bool) -> Result<Shape, ShapeError> {
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err("conv: in_channels and out_channels must be at least 1");
        }
        if self.groups == 0
            || !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Err(
                "conv: groups must be at least 1 and divide both in_channels and \
                        out_channels",
            );
        }
        if one_d && input.h != 1 {
            return Err("conv1d: the input must be a sequence (h = 1): use Conv2d for images");
        }
        if input.c != self.in_channels {
            return Err("conv: in_channels must equal the input's channels (c)");
        }
        match self.geom(input).check() {
            Ok(()) => {}
            Err(Error::InvalidArgument { what } | Error::Overflow { what }) => return Err(what),
            Err(_) => return Err("conv: the window does not fit the input"),
        }
        if self.param_len() == usize::MAX || self.k() == usize::MAX {
            return Err("conv: the parameter count overflows usize");
        }
        Ok(self.out_of(input))
    }

    /// A pointwise convolution over the input as it lies: a 1 × 1 kernel, stride 1, no
    /// padding, one group (the input is already the unfolded matrix).
    const fn is_pointwise(&self) -> bool {
        self.kernel.0 == 1
            && self.kernel.1 == 1
            && self.stride.0 == 1
            && self.stride.1 == 1
            && self.padding.0 == 0
            && self.padding.1 == 0
            && self.groups == 1
    }

    /// A depthwise convolution: one filter per channel (`groups = c_in = c_out`).
    const fn is_depthwise(&self) -> bool {
        self.groups == self.in_channels && self.out_channels == self.in_channels && self.groups > 1
    }

    /// Rows of the unfolded input for a batch of `n`: `n·oh·ow` (saturating).
    const fn m(&self, input: Shape, n: usize) -> usize {
        let o = self.out_of(input);
        n.saturating_mul(o.h).saturating_mul(o.w)
    }

    pub(crate) const fn step_needs(&self, input: Shape, n: usize, input_grad: bool) -> Needs {
        let bias = self.out_channels;
        if self.is_depthwise() {
            return Needs {
                bias,
                ..Needs::NONE
            };
        }
        let (m, k, og) = (self.m(input, n), self.k(), self.og());
        if self.is_pointwise() {
            let mut gemm = max(gemm_workspace_len(m, k, og), gemm_workspace_len(k, m, og));
            if input_grad {
                gemm = max(gemm, gemm_workspace_len(m, og, k));
            }
            return Needs {
                keep: 0,
                bias,
                scratch: 0,
                gemm,
            };
        }
        // The padded input (forward and weight gradient); for the input gradient the
        // padded delta and the flipped weights (stride 1), or the unfolded delta's
        // gradient and its GEMM (strided).
        let mut scratch = self.padded_len(input, n);
        let mut gemm = 0;
        if input_grad {
            if self.stride.0 == 1 && self.stride.1 == 1 {
                let back = self
                    .padded_delta_len(input, n)
                    .saturating_add(self.weight_len());
                scratch = max(scratch, back);
            } else {
                scratch = max(scratch, m.saturating_mul(k));
                gemm = gemm_workspace_len(m, og, k);
            }
        }
        Needs {
            keep: 0,
            bias,
            scratch,
            gemm,
        }
    }

    pub(crate) const fn forward_needs(&self, input: Shape, n: usize) -> Needs {
        if self.is_depthwise() {
            return Needs::NONE;
        }
        if self.is_pointwise() {
            let (m, k, og) = (self.m(input, n), self.k(), self.og());
            return Needs {
                gemm: gemm_workspace_len(m, k, og),
                ..Needs::NONE
            };
        }
        Needs {
            scratch: self.padded_len(input, n),
            ..Needs::NONE
        }
    }

    /// Whether the input's padding is read virtually: a 1-D convolution (one row, no
    /// vertical padding) reads its windows in place, and the few that cross an end from
    /// small edge strips ([`Direct::vp`]), rather than from a padded copy of its input.
    const fn virtual_pad(h: usize, (ph, pw): (usize, usize)) -> bool {
        h == 1 && ph == 0 && pw > 0
    }

    /// The input's padding in `scratch` ([`Conv2d::padding_len`]), 0 without padding
    /// (the kernels read the input itself).
    const fn padded_len(&self, input: Shape, n: usize) -> usize {
        if self.padding.0 == 0 && self.padding.1 == 0 {
            return 0;
        }
        self.padding_len(n, (input.h, input.w, input.c), self.padding, true)
    }

    /// Values in `scratch` of the padding of `n` images of `h × w × c` padded by `pad`
    /// for the direct kernels (with this layer's strides when `strided`, else 1):
    /// `n·(h + 2·pad.0)·(w + 2·pad.1)·c` of a padded copy, or the edge strips of a 1-D
    /// convolution's virtual padding (`Direct::edge_len`).
    const fn padding_len(
        &self,
        n: usize,
        (h, w, c): (usize, usize, usize),
        pad: (usize, usize),
        strided: bool,
    ) -> usize {
        let hp = h.saturating_add(pad.0.saturating_mul(2));
        let wp = w.saturating_add(pad.1.saturating_mul(2));
        if Self::virtual_pad(h, pad) {
            return self.direct(n, (hp, wp, pad.1), c, 0, 0, strided).edge_len();
        }
        n.saturating_mul(hp).saturating_mul(wp).saturating_mul(c)
    }

    /// The delta's full padding for the input gradient of a stride-1 convolution:
    /// `((kh − 1)·dh − ph, (kw − 1)·dw − pw)` on each side (the geometry's check keeps
    /// both non-negative).
    const fn delta_pad(&self) -> (usize, usize) {
        let ph = (self.kernel.0 - 1) * self.dilation.0;
        let pw = (self.kernel.1 - 1) * self.dilation.1;
        (
            ph.saturating_sub(self.padding.0),
            pw.saturating_sub(self.padding.1),
        )
    }

    /// The delta's padding in `scratch` ([`Conv2d::padding_len`]).
    const fn padded_delta_len(&self, input: Shape, n: usize) -> usize {
        let o = self.out_of(input);
        self.padding_len(n, (o.h, o.w, self.out_channels), self.delta_pad(), false)
    }

    /// The direct kernels' geometry over `n` padded images of `hp × wp × c` for group
    /// `g`'s `cg` channels from `c0`, `vp` of the padding columns on each side virtual.
    #[allow(clippy::too_many_arguments)]
    const fn direct(
        &self,
        n: usize,
        (hp, wp, vp): (usize, usize, usize),
        c: usize,
        c0: usize,
        cg: usize,
        strided: bool,
    ) -> Direct {
        Direct {
            vp,
            n,
            h: hp,
            w: wp,
            c,
            c0,
            cg,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: if strided { self.stride.0 } else { 1 },
            sw: if strided { self.stride.1 } else { 1 },
            dh: self.dilation.0,
            dw: self.dilation.1,
        }
    }

    /// The weights (`k × c_out`) and the bias of this layer's parameters.
    #[inline]
    fn split<'p>(&self, params: &'p [f32]) -> (&'p [f32], Option<&'p [f32]>) {
        let (w, rest) = params.split_at(self.weight_len());
        let bias = if self.bias {
            Some(&rest[..self.out_channels])
        } else {
            None
        };
        (w, bias)
    }

    /// Group `g`'s weights: a `k × c_out/groups` view of the weight matrix.
    fn w_group<'p>(&self, w: &'p [f32], g: usize) -> Result<MatRef<'p>, Error> {
        let og = self.og();
        MatRef::new(&w[g * og..], self.k(), og, self.out_channels, 1)
    }

    pub(crate) fn forward(
        &self,
        cx: Cx<'_>,
        input: Shape,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (w, bias) = self.split(params);
        let (n, cout) = (cx.n, self.out_channels);
        if self.is_depthwise() {
            window::depthwise(&self.geom(input), n, x, w, bias, out)?;
            forward_inplace_isa(cx.isa, self.act, out);
            return Ok(());
        }
        if self.is_pointwise() {
            let a = MatRef::rows_of(x, self.in_channels);
            let c = MatMut::rows_of(out, cout);
            let b = MatRef::rows_of(w, cout);
            let epi = Epi::BiasAct {
                act: self.act,
                bias,
            };
            return gemm_fused_on(cx.isa, cx.exec, 1.0, a, b, 0.0, c, s.gemm, epi);
        }
        let (og, cg) = (self.og(), self.cg());
        let (xp, edges, hwv) = self.pad_input(input, n, x, s.scratch)?;
        for g in 0..self.groups {
            let d = self.direct(n, hwv, input.c, g * cg, cg, true);
            let c = MatMut::new(&mut out[g * og..], d.m(), og, cout, 1)?;
            let bias = bias.map(|b| &b[g * og..][..og]);
            let epi = Epi::BiasAct {
                act: self.act,
                bias,
            };
            conv_forward(cx.isa, &d, xp, edges, self.w_group(w, g)?, c, epi)?;
        }
        Ok(())
    }

    /// The images the direct kernels read for the layer's input `x`: `x` itself without
    /// padding, else as [`Conv2d::pad_images`] gives them.
    #[allow(clippy::type_complexity)]
    fn pad_input<'s>(
        &self,
        input: Shape,
        n: usize,
        x: &'s [f32],
        scratch: &'s mut [f32],
    ) -> Result<(&'s [f32], &'s [f32], (usize, usize, usize)), Error> {
        if self.padding == (0, 0) {
            return Ok((x, &[], (input.h, input.w, 0)));
        }
        let hwc = (input.h, input.w, input.c);
        self.pad_images(n, hwc, self.padding, true, x, scratch)
    }

    /// The images the direct kernels read for `n` images `x` of `h × w × c` padded by
    /// `pad` (see [`Conv2d::padding_len`]): a padded copy in `scratch`, or `x` itself with
    /// its edge strips in `scratch` (virtual padding); the edge strips (empty for a
    /// copy); the padded height and width and the virtual columns on each side.
    #[allow(clippy::type_complexity)]
    fn pad_images<'s>(
        &self,
        n: usize,
        (h, w, c): (usize, usize, usize),
        pad: (usize, usize),
        strided: bool,
        x: &'s [f32],
        scratch: &'s mut [f32],
    ) -> Result<(&'s [f32], &'s [f32], (usize, usize, usize)), Error> {
        let (hp, wp) = (h + 2 * pad.0, w + 2 * pad.1);
        let out = &mut scratch[..self.padding_len(n, (h, w, c), pad, strided)];
        if Self::virtual_pad(h, pad) {
            let d = self.direct(n, (hp, wp, pad.1), c, 0, c, strided);
            fill_edges(&d, x, out)?;
            return Ok((x, out, (hp, wp, pad.1)));
        }
        window::pad(n, (h, w, c), pad, x, out);
        Ok((out, &[], (hp, wp, 0)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_input(
        &self,
        cx: Cx<'_>,
        input: Shape,
        params: &[f32],
        dout: &[f32],
        prev: Prev<'_>,
        dx: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (w, _) = self.split(params);
        let geom = self.geom(input);
        let (n, cout) = (cx.n, self.out_channels);
        if self.is_pointwise() {
            let d = MatRef::rows_of(dout, cout);
            let b = MatRef::rows_of(w, cout).t();
            let h = MatRef::rows_of(prev.out, self.in_channels);
            let c = MatMut::rows_of(dx, self.in_channels);
            let epi = Epi::MulDeriv { act: prev.act, h };
            return gemm_fused_on(cx.isa, cx.exec, 1.0, d, b, 0.0, c, s.gemm, epi);
        }
        if self.stride == (1, 1) && !self.is_depthwise() {
            return self.backward_input_direct(cx, input, w, dout, prev, dx, s);
        }
        if self.is_depthwise() {
            window::depthwise_backward_input(&geom, n, dout, w, dx)?;
        } else {
            let (m, k, og, cg) = (self.m(input, n), self.k(), self.og(), self.cg());
            let dcol = &mut s.scratch[..m * k];
            dx.fill(0.0);
            for g in 0..self.groups {
                let d = MatRef::new(&dout[g * og..], m, og, cout, 1)?;
                let b = self.w_group(w, g)?.t();
                let c = MatMut::rows_of(dcol, k);
                gemm_fused_on(cx.isa, cx.exec, 1.0, d, b, 0.0, c, s.gemm, Epi::None)?;
                window::col2im_add(&geom, n, g * cg, cg, dcol, dx)?;
            }
        }
        prev.apply(cx, dx)
    }

    /// The input gradient of a stride-1 convolution as a direct convolution: the delta,
    /// padded by `(k − 1)·d − p` on each side, through the weights flipped tap for tap
    /// and transposed per group, with the previous activation's derivative in the
    /// epilogue.
    #[allow(clippy::too_many_arguments)]
    fn backward_input_direct(
        &self,
        cx: Cx<'_>,
        input: Shape,
        w: &[f32],
        dout: &[f32],
        prev: Prev<'_>,
        dx: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let n = cx.n;
        let o = self.out_of(input);
        let (p, q) = self.delta_pad();
        let (dlen, wlen) = (self.padded_delta_len(input, n), self.weight_len());
        let (dp, rest) = s.scratch.split_at_mut(dlen);
        let wf = &mut rest[..wlen];
        let cout = self.out_channels;
        // The padded delta, or the delta itself and its edge strips (virtual padding).
        let (src, edges, hwv) = self.pad_images(n, (o.h, o.w, cout), (p, q), false, dout, dp)?;
        self.flip_weights(w, wf);
        let (og, cg, cin) = (self.og(), self.cg(), self.in_channels);
        let k_flip = self.kernel.0 * self.kernel.1 * og;
        for g in 0..self.groups {
            let d = self.direct(n, hwv, cout, g * og, og, false);
            let wg = MatRef::row_major(&wf[g * k_flip * cg..][..k_flip * cg], k_flip, cg)?;
            let c = MatMut::new(&mut dx[g * cg..], d.m(), cg, cin, 1)?;
            let h = MatRef::new(&prev.out[g * cg..], d.m(), cg, cin, 1)?;
            let epi = Epi::MulDeriv { act: prev.act, h };
            conv_forward(cx.isa, &d, src, edges, wg, c, epi)?;
        }
        Ok(())
    }

    /// `wf`, per group, the `(kh·kw·og) × cg` matrix of the transposed convolution:
    /// `wf_g[(ky·kw + kx)·og + oc][ci] = w[((kh−1−ky)·kw + (kw−1−kx))·cg + ci][g·og + oc]`.
    fn flip_weights(&self, w: &[f32], wf: &mut [f32]) {
        let (kh, kw) = self.kernel;
        let (og, cg, cout) = (self.og(), self.cg(), self.out_channels);
        let taps = kh * kw;
        // The flipped taps in order are the taps in reverse order. Each flipped tap's
        // `og × cg` block is written row after row, in order (a store stream), each row
        // read down a column of the source tap's `cg × cout` block (loads from the
        // block in L1); writing down columns instead, a cache line a store, ran 2-3
        // times slower.
        let block = og * cg;
        let mut dst = wf[..self.groups * taps * block].chunks_exact_mut(block);
        for g in 0..self.groups {
            for (rows, out) in w[..taps * cg * cout]
                .chunks_exact(cg * cout)
                .rev()
                .zip(&mut dst)
            {
                for (oc, drow) in out.chunks_exact_mut(cg).enumerate() {
                    let col = g * og + oc;
                    for (d, row) in drow.iter_mut().zip(rows.chunks_exact(cout)) {
                        *d = row[col];
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &self,
        cx: Cx<'_>,
        input: Shape,
        x: &[f32],
        delta: &[f32],
        dest: &mut [f32],
        how: Update,
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (alpha, beta) = how.alpha_beta();
        let geom = self.geom(input);
        let (n, cout) = (cx.n, self.out_channels);
        let (w, rest) = dest.split_at_mut(self.weight_len());
        if self.is_depthwise() {
            window::depthwise_backward_weight(&geom, n, x, delta, alpha, beta, w)?;
        } else if self.is_pointwise() {
            let a_t = MatRef::rows_of(x, self.in_channels).t();
            let d = MatRef::rows_of(delta, cout);
            let c = MatMut::rows_of(w, cout);
            gemm_fused_on(cx.isa, cx.exec, alpha, a_t, d, beta, c, s.gemm, Epi::None)?;
        } else {
            let (og, cg) = (self.og(), self.cg());
            let (xp, edges, hwv) = self.pad_input(input, n, x, s.scratch)?;
            for g in 0..self.groups {
                let d = self.direct(n, hwv, input.c, g * cg, cg, true);
                let dg = MatRef::new(&delta[g * og..], d.m(), og, cout, 1)?;
                let c = MatMut::new(&mut w[g * og..], d.k(), og, cout, 1)?;
                // The bias gradient is summed in the kernel's pass over the delta.
                let db = self.bias.then(|| &mut s.bias[g * og..][..og]);
                conv_wgrad(cx.isa, &d, xp, edges, dg, alpha, beta, c, db)?;
            }
            if self.bias {
                return how.bias_from_sums(cx, &mut rest[..cout], &s.bias[..cout]);
            }
        }
        if self.bias {
            how.bias(cx, delta, &mut rest[..cout], s.bias)?;
        }
        Ok(())
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
