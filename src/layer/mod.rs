//! Layer kinds: what a network is built from, one type in one file each.
//!
//! A [`Layer`] is a small `Copy` description (sizes, activation, bias), like
//! [`Activation`] one level up: the enum names every kind, and this file dispatches each
//! question about a layer to its kind's file, the one place a kind is mapped to its
//! code. A kind owns, in its file:
//!
//! * its `const fn` shape rules: the output [`Shape`] for an input shape (or what is
//!   wrong with the input), its parameter count, and what it needs of the workspace
//!   (values kept from the forward pass for the backward pass, scratch, GEMM packing);
//! * its forward pass over flat buffers (bias and activation fused where it is a GEMM),
//!   its backward pass to its input (the previous layer's activation derivative applied
//!   on the way), and its update (the weight and bias gradients, written to a buffer or
//!   applied as plain SGD in place);
//! * its initialisation fans, its PyTorch weight layout (the order
//!   [`nn::safetensors`](crate::nn::safetensors) writes its weights in), and its record
//!   in the saved blob ([`nn::save`](crate::nn::save), format version 2: its fields in
//!   the 2-D form of the record's slots); the kind's save code, one byte, is given in
//!   [`Layer::save_code`], here.
//!
//! | kind | file | parameters | PyTorch `weight` | save code |
//! |---|---|---|---|---|
//! | [`Dense`] | `dense.rs` | `W` (`in × out`, row-major), then `b` (`out`) | `[out, in]` | 1 |
//! | [`Conv1d`] | `conv.rs` | `W` (`k·c_in/groups × c_out`, row-major), then `b` (`c_out`) | `[c_out, c_in/groups, k]` | 2 |
//! | [`Conv2d`] | `conv.rs` | `W` (`kh·kw·c_in/groups × c_out`, row-major), then `b` (`c_out`) | `[c_out, c_in/groups, kh, kw]` | 3 |
//! | [`MaxPool1d`](Layer::MaxPool1d), [`AvgPool1d`](Layer::AvgPool1d) ([`Pool`]) | `pool.rs` | none | | 4, 5 |
//! | [`MaxPool2d`](Layer::MaxPool2d), [`AvgPool2d`](Layer::AvgPool2d) ([`Pool2d`]) | `pool.rs` | none | | 6, 7 |
//! | [`GlobalAvgPool`](Layer::GlobalAvgPool) | `pool.rs` | none | | 8 |
//! | [`Flatten`](Layer::Flatten) | `flatten.rs` | none | | 9 |
//!
//! # Data layout
//! Every activation is channels-last: an example is an `h × w × c` [`Shape`], stored
//! row-major as `[y][x][channel]`; a batch of `N` examples is `N` such blocks one after
//! the other. A 1-D sequence of `len` steps is `1 × len × c`, a vector of features
//! `1 × 1 × n`.
//!
//! # How to add a layer kind
//! 1. A file `src/layer/NAME.rs` with a `Copy` description type (public fields or
//!    `const` builders) and its `const fn`s (`out_shape`, `param_len`, `needs`) and
//!    runtime passes (`forward`, `backward_input`, `update`), over the kernels.
//! 2. A variant of [`Layer`], and its arm in each `match` of this file (the compiler
//!    lists every one): among them its save code in [`Layer::save_code`] (the next
//!    unused byte; a code is never changed or reused, and the build fails if two
//!    coincide), its record's fields (`save_fields`, and its arm in `from_save_record`)
//!    and, with parameters, its PyTorch weight shape and order (`torch_weight`,
//!    `torch_weight_order`); add one layer of the kind to `KINDS`. `nn/save.rs` and
//!    `nn/safetensors.rs` then save and load it.
//! 3. Its tests: against its scalar reference on every instruction set, its gradients
//!    against f64 finite differences (`tests/layers.rs`), a saved network holding it
//!    (`tests/save_net.rs`) and its tensors (`tests/safetensors.rs`).

mod conv;
mod dense;
mod flatten;
mod pool;

pub use conv::{Conv1d, Conv2d};
pub use dense::Dense;
pub use pool::{Pool, Pool2d};

use crate::activation::{backward_inplace_isa, flush_tiny_inplace_isa};
use crate::optim::{colsum_isa, sgd_isa};
use crate::par::Executor;
use crate::simd::Isa;
use crate::{Activation, Error, MatRef};

/// The shape of one example's activations: `h × w × c`, channels last.
///
/// ```
/// use microprop::layer::Shape;
/// assert_eq!(Shape::flat(10).len(), 10);
/// assert_eq!(Shape::seq(29, 12), Shape { h: 1, w: 29, c: 12 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Height (rows of an image; 1 for sequences and vectors).
    pub h: usize,
    /// Width (columns of an image, steps of a sequence; 1 for vectors).
    pub w: usize,
    /// Channels (features of a vector).
    pub c: usize,
}

impl Shape {
    /// `n` features: `1 × 1 × n`.
    pub const fn flat(n: usize) -> Shape {
        Shape { h: 1, w: 1, c: n }
    }
    /// A sequence of `len` steps of `channels` values: `1 × len × channels`, stored
    /// `[t][channel]`.
    pub const fn seq(len: usize, channels: usize) -> Shape {
        Shape {
            h: 1,
            w: len,
            c: channels,
        }
    }
    /// An `h × w` image of `channels` channels, stored `[y][x][channel]`.
    pub const fn image(h: usize, w: usize, channels: usize) -> Shape {
        Shape { h, w, c: channels }
    }
    /// Values of one example, `h·w·c`; `usize::MAX` if that overflows.
    pub const fn len(&self) -> usize {
        match self.h.checked_mul(self.w) {
            Some(hw) => match hw.checked_mul(self.c) {
                Some(v) => v,
                None => usize::MAX,
            },
            None => usize::MAX,
        }
    }
    /// Whether an example holds no value.
    pub const fn is_empty(&self) -> bool {
        self.h == 0 || self.w == 0 || self.c == 0
    }
    /// Whether this is a vector of features (`h = w = 1`).
    pub const fn is_flat(&self) -> bool {
        self.h == 1 && self.w == 1
    }
}

/// One layer of a network: a small `Copy` description; parameters, data and workspace
/// are the caller's flat buffers.
///
/// New kinds may be added, so matches outside this crate need a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layer {
    /// Fully connected: `act(x·W + b)` over a flat input (PyTorch's `nn.Linear`).
    Dense(Dense),
    /// 1-D convolution over a sequence (`nn.Conv1d`).
    Conv1d(Conv1d),
    /// 2-D convolution over an image (`nn.Conv2d`).
    Conv2d(Conv2d),
    /// The maximum over 1-D windows (`nn.MaxPool1d`).
    MaxPool1d(Pool),
    /// The mean over 1-D windows (`nn.AvgPool1d`).
    AvgPool1d(Pool),
    /// The maximum over 2-D windows (`nn.MaxPool2d`).
    MaxPool2d(Pool2d),
    /// The mean over 2-D windows (`nn.AvgPool2d`).
    AvgPool2d(Pool2d),
    /// The mean over every position, channel by channel: `h × w × c` to `1 × 1 × c`
    /// (`nn.AdaptiveAvgPool1d(1)`/`nn.AdaptiveAvgPool2d(1)` then a flatten).
    GlobalAvgPool,
    /// `h × w × c` to `1 × 1 × h·w·c`; moves no data (PyTorch's `nn.Flatten`, but the
    /// features come in channels-last order: see
    /// [`nn::safetensors`](crate::nn::safetensors) for the dense layer after it).
    Flatten,
}

/// The error of a layer that does not fit its input; [`Net::new`](crate::nn::Net::new)
/// adds the layer's index and the input shape.
pub(crate) type ShapeError = &'static str;

/// The slots of a layer's record in the saved format (version 2): every kind's fields
/// in their 2-D form (a 1-D kind is its 2-D equivalent over `1 × len` images: kernel,
/// stride and dilation heights 1, padding height 0), each slot one `u32`, 0 where the
/// kind has no such field.
pub(crate) mod slot {
    /// `in_channels` of a convolution, `inputs` of a dense layer.
    pub const IN: usize = 0;
    /// `out_channels` of a convolution, `outputs` of a dense layer.
    pub const OUT: usize = 1;
    /// The kernel's `(h, w)`: this slot and the next.
    pub const KERNEL: usize = 2;
    /// The stride's `(h, w)`.
    pub const STRIDE: usize = 4;
    /// The padding's `(h, w)`.
    pub const PADDING: usize = 6;
    /// The dilation's `(h, w)`.
    pub const DILATION: usize = 8;
    /// A convolution's groups.
    pub const GROUPS: usize = 10;
    /// Slots in a record.
    pub const COUNT: usize = 11;
}

/// A layer's fields as its saved record holds them, by [`slot`].
pub(crate) type SaveFields = [usize; slot::COUNT];

/// A weight tensor's shape in PyTorch: its first `n` dimensions (at most 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TorchShape {
    /// The dimensions, outermost first; those past `n` are 0.
    pub dims: [usize; 4],
    /// How many there are.
    pub n: usize,
}

impl TorchShape {
    /// The number of elements, `None` if it overflows `usize`.
    pub(crate) const fn numel(&self) -> Option<usize> {
        let mut v: usize = 1;
        let mut i = 0;
        while i < self.n {
            match v.checked_mul(self.dims[i]) {
                Some(p) => v = p,
                None => return None,
            }
            i += 1;
        }
        Some(v)
    }
}

/// One layer of each kind, for the check that their save codes differ and the decoding
/// of a code (the fields do not matter).
const KINDS: [Layer; 9] = [
    Layer::Dense(Dense::new(1, 1)),
    Layer::Conv1d(Conv1d::new(1, 1, 1)),
    Layer::Conv2d(Conv2d::new(1, 1, (1, 1))),
    Layer::MaxPool1d(Pool::new(1)),
    Layer::AvgPool1d(Pool::new(1)),
    Layer::MaxPool2d(Pool2d::new((1, 1))),
    Layer::AvgPool2d(Pool2d::new((1, 1))),
    Layer::GlobalAvgPool,
    Layer::Flatten,
];

// The build fails if two kinds share a save code.
const _: () = {
    let mut i = 0;
    while i < KINDS.len() {
        let mut j = i + 1;
        while j < KINDS.len() {
            assert!(
                KINDS[i].save_code() != KINDS[j].save_code(),
                "two layer kinds share a save code"
            );
            j += 1;
        }
        i += 1;
    }
};

/// What a layer needs of a workspace, beyond its output and its delta, for a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Values kept from the forward pass for the backward pass (max pooling's argmax).
    pub keep: usize,
    /// The bias gradient's scratch (a dense layer's outputs, a convolution's channels).
    pub bias: usize,
    /// Scratch used within one pass (a convolution's padded input or delta).
    pub scratch: usize,
    /// GEMM packing space of the layer's products.
    pub gemm: usize,
}

/// The arguments every pass of a layer shares.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'e> {
    /// The instruction set of the step.
    pub isa: Isa,
    /// The executor of the large products.
    pub exec: &'e dyn Executor,
    /// The batch size, at least 1.
    pub n: usize,
}

/// Where the update stage puts a layer's gradient.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Update {
    /// Subtract `lr ·` it from the parameters: plain SGD fused into the weight-update
    /// GEMM (α = −lr, β = 1), no weight gradient materialized.
    FusedSgd {
        /// The learning rate.
        lr: f32,
    },
    /// Write it to a gradient buffer.
    Gradient,
}

impl Update {
    /// `(α, β)` of the weight products: `(−lr, 1)` to subtract `lr ·` the gradient from
    /// the parameters, `(1, 0)` to write it.
    pub(crate) const fn alpha_beta(self) -> (f32, f32) {
        match self {
            Update::FusedSgd { lr } => (-lr, 1.0),
            Update::Gradient => (1.0, 0.0),
        }
    }

    /// The bias's part of the update: `db = colsum(delta)` (`delta` has rows of
    /// `b.len()` values) into the scratch `db`, then `b ← b − lr·db` or `b ← db`.
    pub(crate) fn bias(
        self,
        cx: Cx<'_>,
        delta: &[f32],
        b: &mut [f32],
        db: &mut [f32],
    ) -> Result<(), Error> {
        let cols = b.len();
        let db = &mut db[..cols];
        colsum_isa(cx.isa, MatRef::rows_of(delta, cols), db)?;
        self.bias_from_sums(cx, b, db)
    }

    /// The bias's part of the update from its gradient `db` (`b.len()` values, the
    /// column sums of the delta): `b ← b − lr·db` or `b ← db`.
    pub(crate) fn bias_from_sums(self, cx: Cx<'_>, b: &mut [f32], db: &[f32]) -> Result<(), Error> {
        match self {
            Update::FusedSgd { lr } => sgd_isa(cx.isa, b, db, lr),
            Update::Gradient => {
                b.copy_from_slice(db);
                Ok(())
            }
        }
    }
}

/// The layer before one being differentiated: its activation and output (`A_{l−1}`), so
/// the input gradient can leave `∂L/∂Z_{l−1} = ∂L/∂A_{l−1} ⊙ act'(A_{l−1})`.
#[derive(Clone, Copy)]
pub(crate) struct Prev<'a> {
    /// Its activation.
    pub act: Activation,
    /// Its output, `N × shape.len()` values.
    pub out: &'a [f32],
}

impl Prev<'_> {
    /// `d ← d ⊙ act'(out)` in place (the input gradient of a layer becomes the previous
    /// layer's delta), then the tiny values flushed, as a GEMM's derivative epilogue does.
    pub(crate) fn apply(&self, cx: Cx<'_>, d: &mut [f32]) -> Result<(), Error> {
        backward_inplace_isa(cx.isa, self.act, d, self.out)?;
        flush_tiny_inplace_isa(cx.isa, d);
        Ok(())
    }
}

/// The scratch regions of a pass.
pub(crate) struct Scratch<'a> {
    /// Values kept from the forward pass (training only): [`Needs::keep`] of this layer.
    pub keep: &'a mut [f32],
    /// The bias gradient: at least [`Needs::bias`] values.
    pub bias: &'a mut [f32],
    /// Scratch of one pass: at least [`Needs::scratch`].
    pub scratch: &'a mut [f32],
    /// GEMM packing space: at least [`Needs::gemm`] (more for several parts).
    pub gemm: &'a mut [f32],
}

impl Layer {
    /// The layer's kind in lower case: `"dense"`, `"conv1d"`, `"conv2d"`, `"maxpool1d"`,
    /// `"avgpool1d"`, `"maxpool2d"`, `"avgpool2d"`, `"globalavgpool"`, `"flatten"`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv1d(_) => "conv1d",
            Layer::Conv2d(_) => "conv2d",
            Layer::MaxPool1d(_) => "maxpool1d",
            Layer::AvgPool1d(_) => "avgpool1d",
            Layer::MaxPool2d(_) => "maxpool2d",
            Layer::AvgPool2d(_) => "avgpool2d",
            Layer::GlobalAvgPool => "globalavgpool",
            Layer::Flatten => "flatten",
        }
    }

    /// The byte that stands for this layer's kind in the
    /// [saved-weights format](crate::nn::save#format-version-2): Dense 1, Conv1d 2,
    /// Conv2d 3, MaxPool1d 4, AvgPool1d 5, MaxPool2d 6, AvgPool2d 7, GlobalAvgPool 8,
    /// Flatten 9. A code, once given, never changes and is never reused; the build fails
    /// if two kinds share one. (0 is no kind's, so a zeroed record is refused.)
    ///
    /// ```
    /// use microprop::layer::{Dense, Layer};
    /// assert_eq!(Layer::Dense(Dense::new(4, 2)).save_code(), 1);
    /// assert_eq!(Layer::Flatten.save_code(), 9);
    /// ```
    pub const fn save_code(&self) -> u8 {
        match self {
            Layer::Dense(_) => 1,
            Layer::Conv1d(_) => 2,
            Layer::Conv2d(_) => 3,
            Layer::MaxPool1d(_) => 4,
            Layer::AvgPool1d(_) => 5,
            Layer::MaxPool2d(_) => 6,
            Layer::AvgPool2d(_) => 7,
            Layer::GlobalAvgPool => 8,
            Layer::Flatten => 9,
        }
    }

    /// Its fields as its saved record holds them ([`slot`]): a 1-D kind in its 2-D form,
    /// 0 in every slot the kind does not use.
    pub(crate) const fn save_fields(&self) -> SaveFields {
        match self {
            Layer::Dense(d) => d.save_fields(),
            Layer::Conv1d(c) => c.spec().save_fields(),
            Layer::Conv2d(c) => c.save_fields(),
            Layer::MaxPool1d(p) | Layer::AvgPool1d(p) => p.spec().save_fields(),
            Layer::MaxPool2d(p) | Layer::AvgPool2d(p) => p.save_fields(),
            Layer::GlobalAvgPool | Layer::Flatten => [0; slot::COUNT],
        }
    }

    /// The layer a saved record describes: its kind's `code`, its activation, its bias
    /// flag and its fields. Only the record [`Layer::save_code`], [`Layer::activation`],
    /// [`Layer::has_bias`] and [`Layer::save_fields`] of some layer give is accepted (a
    /// slot the kind does not use holds 0, a 1-D kind's heights are its 2-D form's, a
    /// kind without parameters has neither an activation nor a bias); otherwise what is
    /// wrong. Whether the layer fits its input is not checked here.
    pub(crate) fn from_save_record(
        code: u8,
        act: Activation,
        bias: bool,
        f: &SaveFields,
    ) -> Result<Layer, &'static str> {
        let Some(kind) = KINDS.iter().find(|k| k.save_code() == code) else {
            return Err("unknown layer kind code");
        };
        let layer = match kind {
            Layer::Dense(_) => Layer::Dense(Dense::from_save_fields(f, act, bias)),
            Layer::Conv1d(_) => Layer::Conv1d(Conv1d::from_save_fields(f, act, bias)),
            Layer::Conv2d(_) => Layer::Conv2d(Conv2d::from_save_fields(f, act, bias)),
            Layer::MaxPool1d(_) => Layer::MaxPool1d(Pool::from_save_fields(f)),
            Layer::AvgPool1d(_) => Layer::AvgPool1d(Pool::from_save_fields(f)),
            Layer::MaxPool2d(_) => Layer::MaxPool2d(Pool2d::from_save_fields(f)),
            Layer::AvgPool2d(_) => Layer::AvgPool2d(Pool2d::from_save_fields(f)),
            Layer::GlobalAvgPool => Layer::GlobalAvgPool,
            Layer::Flatten => Layer::Flatten,
        };
        if layer.save_fields() != *f {
            return Err(
                "a layer record's fields do not fit its kind (a slot the kind does \
                        not use is not 0, or a 1-D kind's heights are not its 2-D form's)",
            );
        }
        if layer.activation() != act || layer.has_bias() != bias {
            return Err("a layer kind without parameters is saved with an activation or a bias");
        }
        Ok(layer)
    }

    /// The shape of its weight tensor in PyTorch (`None` for kinds without weights):
    /// `[out, in]` (`nn.Linear`), `[c_out, c_in/groups, k]` (`nn.Conv1d`),
    /// `[c_out, c_in/groups, kh, kw]` (`nn.Conv2d`).
    pub(crate) const fn torch_weight(&self) -> Option<TorchShape> {
        match self {
            Layer::Dense(d) => Some(TorchShape {
                dims: [d.outputs, d.inputs, 0, 0],
                n: 2,
            }),
            Layer::Conv1d(c) => {
                let [o, i, _, k] = c.spec().torch_shape();
                Some(TorchShape {
                    dims: [o, i, k, 0],
                    n: 3,
                })
            }
            Layer::Conv2d(c) => Some(TorchShape {
                dims: c.torch_shape(),
                n: 4,
            }),
            _ => None,
        }
    }

    /// The length of its bias (`None` without one): its outputs or output channels.
    pub(crate) const fn bias_len(&self) -> Option<usize> {
        match self {
            Layer::Dense(d) if d.bias => Some(d.outputs),
            Layer::Conv1d(c) if c.bias => Some(c.out_channels),
            Layer::Conv2d(c) if c.bias => Some(c.out_channels),
            _ => None,
        }
    }

    /// Calls `f` with the index among its weights ([`Layer::weight_len`]) of each element
    /// of its PyTorch weight tensor ([`Layer::torch_weight`]), in that tensor's row-major
    /// order. `flat_from`: for a dense layer right after a [`Layer::Flatten`], the shape
    /// that was flattened (its features are reordered from channels-last to PyTorch's
    /// `[ch][y][x]`); `None` otherwise.
    pub(crate) fn torch_weight_order(&self, flat_from: Option<Shape>, f: impl FnMut(usize)) {
        match self {
            Layer::Dense(d) => d.torch_order(flat_from, f),
            Layer::Conv1d(c) => c.spec().torch_order(f),
            Layer::Conv2d(c) => c.torch_order(f),
            _ => {}
        }
    }

    /// The activation applied last ([`Activation::Identity`] for kinds without one).
    pub const fn activation(&self) -> Activation {
        match self {
            Layer::Dense(d) => d.act,
            Layer::Conv1d(c) => c.act,
            Layer::Conv2d(c) => c.act,
            _ => Activation::Identity,
        }
    }

    /// Whether the layer adds a bias.
    pub const fn has_bias(&self) -> bool {
        match self {
            Layer::Dense(d) => d.bias,
            Layer::Conv1d(c) => c.bias,
            Layer::Conv2d(c) => c.bias,
            _ => false,
        }
    }

    /// The output shape for an `input` shape, or what is wrong with it.
    pub(crate) const fn out_shape(&self, input: Shape) -> Result<Shape, ShapeError> {
        match self {
            Layer::Dense(d) => d.out_shape(input),
            Layer::Conv1d(c) => c.spec().out_shape(input, true),
            Layer::Conv2d(c) => c.out_shape(input, false),
            Layer::MaxPool1d(p) | Layer::AvgPool1d(p) => p.spec().out_shape(input, true),
            Layer::MaxPool2d(p) | Layer::AvgPool2d(p) => p.out_shape(input, false),
            Layer::GlobalAvgPool => Ok(pool::global_out(input)),
            Layer::Flatten => flatten::out_shape(input),
        }
    }

    /// [`Layer::out_shape`] of an input the network checked when it was built.
    /// (Computed without the checks, saturating: the size functions give a size for
    /// any description.)
    pub(crate) const fn out_of(&self, input: Shape) -> Shape {
        match self {
            Layer::Dense(d) => Shape::flat(d.outputs),
            Layer::Conv1d(c) => c.spec().out_of(input),
            Layer::Conv2d(c) => c.out_of(input),
            Layer::MaxPool1d(p) | Layer::AvgPool1d(p) => p.spec().out_of(input),
            Layer::MaxPool2d(p) | Layer::AvgPool2d(p) => p.out_of(input),
            Layer::GlobalAvgPool => pool::global_out(input),
            Layer::Flatten => Shape::flat(input.len()),
        }
    }

    /// Number of parameters, weights then bias (saturating at `usize::MAX`). No kind's
    /// count depends on its input's size.
    pub const fn param_len(&self) -> usize {
        match self {
            Layer::Dense(d) => d.param_len(),
            Layer::Conv1d(c) => c.spec().param_len(),
            Layer::Conv2d(c) => c.param_len(),
            _ => 0,
        }
    }

    /// Number of weights (the parameters before the bias).
    pub const fn weight_len(&self) -> usize {
        match self {
            Layer::Dense(d) => d.weight_len(),
            Layer::Conv1d(c) => c.spec().weight_len(),
            Layer::Conv2d(c) => c.weight_len(),
            _ => 0,
        }
    }

    /// The fans its weights are initialised with, `(fan_in, fan_out)`, as PyTorch
    /// computes them (`torch.nn.init._calculate_fan_in_and_fan_out`): a dense layer's
    /// inputs and outputs; a convolution's `c_in/groups·kh·kw` and `c_out·kh·kw`.
    /// `None` for kinds without weights.
    pub const fn fans(&self) -> Option<(usize, usize)> {
        match self {
            Layer::Dense(d) => Some((d.inputs, d.outputs)),
            Layer::Conv1d(c) => Some(c.spec().fans()),
            Layer::Conv2d(c) => Some(c.fans()),
            _ => None,
        }
    }

    /// Whether the output is the input itself, moved nowhere ([`Layer::Flatten`] after
    /// the first layer): no activation or delta storage of its own.
    pub(crate) const fn aliases_input(&self) -> bool {
        matches!(self, Layer::Flatten)
    }

    /// What a training step needs for this layer on a batch of `n`; `input_grad` says
    /// whether its input gradient is computed (not for the first layer that trains).
    pub(crate) const fn step_needs(&self, input: Shape, n: usize, input_grad: bool) -> Needs {
        match self {
            Layer::Dense(d) => d.step_needs(n, input_grad),
            Layer::Conv1d(c) => c.spec().step_needs(input, n, input_grad),
            Layer::Conv2d(c) => c.step_needs(input, n, input_grad),
            Layer::MaxPool1d(p) => p.spec().step_needs(input, n, true),
            Layer::AvgPool1d(p) => p.spec().step_needs(input, n, false),
            Layer::MaxPool2d(p) => p.step_needs(input, n, true),
            Layer::AvgPool2d(p) => p.step_needs(input, n, false),
            Layer::GlobalAvgPool => Needs::NONE,
            Layer::Flatten => flatten::needs(input),
        }
    }

    /// What the forward pass alone (inference) needs for this layer on a batch of `n`.
    pub(crate) const fn forward_needs(&self, input: Shape, n: usize) -> Needs {
        match self {
            Layer::Dense(d) => d.forward_needs(n),
            Layer::Conv1d(c) => c.spec().forward_needs(input, n),
            Layer::Conv2d(c) => c.forward_needs(input, n),
            Layer::Flatten => flatten::needs(input),
            _ => Needs::NONE,
        }
    }

    /// Values a training step keeps of this layer from the forward pass to the backward
    /// pass, for a batch of `n` ([`Needs::keep`], without the rest of the needs).
    pub(crate) const fn keep_len(&self, input: Shape, n: usize) -> usize {
        match self {
            Layer::MaxPool1d(p) => p.spec().step_needs(input, n, true).keep,
            Layer::MaxPool2d(p) => p.step_needs(input, n, true).keep,
            _ => 0,
        }
    }

    /// `out = layer(x)`: `x` holds `N` examples of `input`, `out` `N` of the output
    /// shape; `params` this layer's parameters. `s.keep` is the layer's region for what
    /// the backward pass needs, empty in inference.
    ///
    /// (Always inlined, like the other passes: for a network whose layers are known to
    /// be dense, an `Mlp`, the other kinds' arms are then dead code and leave no trace in
    /// a firmware's flash.)
    #[inline(always)]
    pub(crate) fn forward(
        &self,
        cx: Cx<'_>,
        input: Shape,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        match self {
            Layer::Dense(d) => d.forward(cx, params, x, out, s),
            Layer::Conv1d(c) => c.spec().forward(cx, input, params, x, out, s),
            Layer::Conv2d(c) => c.forward(cx, input, params, x, out, s),
            Layer::MaxPool1d(p) => p.spec().forward(cx, input, true, x, out, s),
            Layer::AvgPool1d(p) => p.spec().forward(cx, input, false, x, out, s),
            Layer::MaxPool2d(p) => p.forward(cx, input, true, x, out, s),
            Layer::AvgPool2d(p) => p.forward(cx, input, false, x, out, s),
            Layer::GlobalAvgPool => pool::global_forward(cx, input, x, out),
            Layer::Flatten => flatten::forward(input, x, out),
        }
    }

    /// The input gradient: `dx = (∂L/∂x) ⊙ prev.act'(prev.out)` from this layer's delta
    /// `dout` (`∂L/∂Z`, `N` examples of the output shape).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
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
        match self {
            Layer::Dense(d) => d.backward_input(cx, params, dout, prev, dx, s),
            Layer::Conv1d(c) => c
                .spec()
                .backward_input(cx, input, params, dout, prev, dx, s),
            Layer::Conv2d(c) => c.backward_input(cx, input, params, dout, prev, dx, s),
            Layer::MaxPool1d(p) => p.spec().backward_input(cx, input, true, dout, prev, dx, s),
            Layer::AvgPool1d(p) => p.spec().backward_input(cx, input, false, dout, prev, dx, s),
            Layer::MaxPool2d(p) => p.backward_input(cx, input, true, dout, prev, dx, s),
            Layer::AvgPool2d(p) => p.backward_input(cx, input, false, dout, prev, dx, s),
            Layer::GlobalAvgPool => pool::global_backward_input(cx, input, dout, prev, dx),
            Layer::Flatten => flatten::backward_input(cx, input, dout, prev, dx),
        }
    }

    /// The update of this layer's parameters `dest` (or their gradient, by `how`) from
    /// its input `x` (`A_{l−1}`) and its delta.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
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
        match self {
            Layer::Dense(d) => d.update(cx, x, delta, dest, how, s),
            Layer::Conv1d(c) => c.spec().update(cx, input, x, delta, dest, how, s),
            Layer::Conv2d(c) => c.update(cx, input, x, delta, dest, how, s),
            _ => Ok(()),
        }
    }
}

impl Needs {
    /// Nothing.
    pub(crate) const NONE: Needs = Needs {
        keep: 0,
        bias: 0,
        scratch: 0,
        gemm: 0,
    };
}

impl From<Dense> for Layer {
    fn from(d: Dense) -> Layer {
        Layer::Dense(d)
    }
}

impl From<Conv1d> for Layer {
    fn from(c: Conv1d) -> Layer {
        Layer::Conv1d(c)
    }
}

impl From<Conv2d> for Layer {
    fn from(c: Conv2d) -> Layer {
        Layer::Conv2d(c)
    }
}
