//! A network as a list of layers of any kind: [`Net`].

use super::step::{self, ForwardLayout, Names, Stack, StepLayout, with_parts};
use crate::layer::{Layer, Shape};
use crate::optim::{Optimizer, all_finite};
use crate::par::{Executor, Serial};
use crate::simd::Isa;
use crate::{Error, Loss, Target};

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// What sizes a [`Net`]'s training workspace, for [`Error::WorkspaceTooSmall`].
const STEP_WORKSPACE: &str =
    "Net::workspace_len (Net::workspace_len_parts for an executor's parts)";
/// What sizes a [`Net`]'s inference workspace.
const FORWARD_WORKSPACE: &str =
    "Net::forward_workspace_len (Net::forward_workspace_len_parts for an executor's parts)";

/// The error of a layer whose output does not fit `usize` (a convolution's
/// `oh·ow·c_out`, which its shape rules check only for `c_in`).
const OUTPUT_OVERFLOWS: &str = "the output size h·w·c (values per example) overflows usize";

static NAMES: Names = Names {
    params: "params.len() must equal Net::param_len",
    grads: "grads.len() must equal Net::grad_len (Net::trainable_len for loss_and_grad)",
    x: "x (N examples of Net::input().len() values)",
    y: "y must be N x Net::output().len()",
    out: "out must be N x Net::output().len()",
    step_ws: STEP_WORKSPACE,
    forward_ws: FORWARD_WORKSPACE,
};

/// A network: a list of [`Layer`]s of any kind on an input [`Shape`], checked when it
/// is built, trained in place with no allocation.
///
/// The network is only its description; parameters, data and workspace are the
/// caller's flat slices, sized by `const fn`s, so firmware can keep all of them in
/// `static`s. A network built in a `const` is checked at compile time: a layer that
/// does not fit its input fails the build.
///
/// ```
/// use microprop::{Activation::Relu, layer::{Dense, Layer, Shape}, nn::Net};
///
/// const LAYERS: [Layer; 2] = [
///     Layer::Dense(Dense::new(64, 32).act(Relu)),
///     Layer::Dense(Dense::new(32, 10)),
/// ];
/// const NET: Net = match Net::new(Shape::flat(64), &LAYERS) {
///     Ok(net) => net,
///     Err(_) => panic!("the layers do not fit"),
/// };
/// const PARAMS: usize = NET.param_len();
/// assert_eq!(PARAMS, 64 * 32 + 32 + 32 * 10 + 10);
/// let workspace = [0.0f32; NET.workspace_len(32)]; // a batch of 32
/// # let _ = workspace;
/// ```
///
/// # Parameter layout
/// One flat `&[f32]` of [`Net::param_len`] values: each layer's parameters in order,
/// its weights first, then its bias (see each kind: [`Dense`](crate::layer::Dense),
/// [`Conv1d`](crate::layer::Conv1d)).
///
/// # Data layout
/// `x` holds `N` examples of the input shape one after the other, each channels-last
/// (`[t][channel]` for a sequence, `[y][x][channel]` for an image); outputs and `y` are
/// `N` rows of [`Net::output`]`.len()` values.
#[derive(Clone, Copy)]
pub struct Net<'a> {
    input: Shape,
    layers: &'a [Layer],
    /// The output shape.
    output: Shape,
    /// The parameter count.
    params: usize,
    /// Runs the parts of the large products ([`Net::on`]).
    exec: &'a dyn Executor,
    /// What each layer trains ([`Net::trainable`]); empty: every layer all of its parameters.
    plan: &'a [Train],
    /// Layers below this one are frozen ([`Net::freeze`]), whatever `plan` says.
    frozen_below: usize,
    /// Each layer's update applied on its own ([`Net::per_layer`]).
    per_layer: bool,
    /// Parameters that train, and the largest number of them in one layer.
    trainable: usize,
    largest: usize,
}

/// What a layer of a [`Net`] trains: its choice in a plan given to [`Net::trainable`] (or
/// [`Net::freeze`] for a frozen prefix).
///
/// A layer that trains nothing (`Frozen`, or `BiasOnly` without a bias, or a layer
/// without parameters) has no gradient, no optimizer state and, below the first layer
/// that trains, no delta: the backward pass stops at the first layer that trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Train {
    /// Weights and bias (the default).
    #[default]
    All,
    /// The bias only (fine-tuning by biases: a few parameters, no weight gradient).
    BiasOnly,
    /// Nothing: the layer's parameters are read, never written.
    Frozen,
}

// A network is a description; a panic in a caller's executor leaves nothing of it
// half-updated (as for `Mlp`).
impl core::panic::UnwindSafe for Net<'_> {}
impl core::panic::RefUnwindSafe for Net<'_> {}

impl core::fmt::Debug for Net<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Net")
            .field("input", &self.input)
            .field("layers", &self.layers)
            .field("output", &self.output)
            .field("params", &self.params)
            .field("trainable", &self.trainable)
            .field("frozen_below", &self.frozen_below)
            .field("plan", &self.plan)
            .field("per_layer", &self.per_layer)
            .field("parts", &self.exec.parts())
            .finish()
    }
}

impl<'a> Net<'a> {
    /// A network of `layers` on examples of shape `input`, each layer checked against
    /// the shape the one before it gives.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no layers or an empty input shape;
    /// [`Error::Layer`] naming the first layer that does not fit its input (a channel
    /// count that differs, a kernel larger than its padded input, a dense layer on an
    /// input that is not flat, an output whose size overflows `usize`, …) and what is
    /// wrong; [`Error::Overflow`] if the parameter count overflows `usize`.
    pub const fn new(input: Shape, layers: &'a [Layer]) -> Result<Self, Error> {
        if layers.is_empty() {
            return Err(Error::InvalidArgument {
                what: "Net needs at least one layer",
            });
        }
        if input.is_empty() || input.len() == usize::MAX {
            return Err(Error::InvalidArgument {
                what: "Net: the input shape must hold at least one value (h, w, c >= 1) \
                       and its size must fit usize",
            });
        }
        let mut shape = input;
        let mut params: usize = 0;
        let mut l = 0;
        while l < layers.len() {
            let layer = &layers[l];
            let out = match layer.out_shape(shape) {
                // (`Shape::len` saturates: an output of `usize::MAX` values or more.)
                Ok(out) if out.len() == usize::MAX => Err(OUTPUT_OVERFLOWS),
                out => out,
            };
            match out {
                Ok(out) => {
                    let Some(p) = params.checked_add(layer.param_len()) else {
                        return Err(Error::Overflow {
                            what: "Net parameter count",
                        });
                    };
                    params = p;
                    shape = out;
                }
                Err(what) => {
                    return Err(Error::Layer {
                        index: l,
                        kind: layer.kind(),
                        input: (shape.h, shape.w, shape.c),
                        what,
                    });
                }
            }
            l += 1;
        }
        let net = Net {
            input,
            layers,
            output: shape,
            params,
            exec: &Serial::ONE,
            plan: &[],
            frozen_below: 0,
            per_layer: false,
            trainable: 0,
            largest: 0,
        };
        Ok(net.counted())
    }

    /// The network with its trainable counts recomputed from its plan (each count at
    /// most `params`, which fits).
    const fn counted(mut self) -> Self {
        let (mut all, mut largest) = (0, 0);
        let mut l = 0;
        while l < self.layers.len() {
            let t = self.trained_len(l);
            all += t;
            if t > largest {
                largest = t;
            }
            l += 1;
        }
        self.trainable = all;
        self.largest = largest;
        self
    }

    /// What layer `l` trains, from the plan ([`Train::All`] past the last layer).
    pub const fn train_of(&self, l: usize) -> Train {
        if l < self.frozen_below {
            Train::Frozen
        } else if l < self.plan.len() {
            self.plan[l]
        } else {
            Train::All
        }
    }

    /// How many of layer `l`'s parameters train: all, its bias, or none.
    const fn trained_len(&self, l: usize) -> usize {
        let layer = &self.layers[l];
        match self.train_of(l) {
            Train::All => layer.param_len(),
            Train::BiasOnly => layer.param_len() - layer.weight_len(),
            Train::Frozen => 0,
        }
    }

    /// This network training only what `plan` says, one [`Train`] per layer.
    /// Gradients and optimizer state then hold only the parameters that train
    /// ([`Net::trainable_len`]), packed in layer order (weights before bias, as in
    /// `params`); `params` stays the whole network's. Replaces an earlier plan;
    /// [`Net::freeze`] still applies.
    ///
    /// ```
    /// use microprop::{Activation::Relu, layer::{Dense, Layer, Shape}, nn::{Net, Train}};
    /// const LAYERS: [Layer; 3] = [
    ///     Layer::Dense(Dense::new(8, 16).act(Relu)),
    ///     Layer::Dense(Dense::new(16, 16).act(Relu)),
    ///     Layer::Dense(Dense::new(16, 4)),
    /// ];
    /// const PLAN: [Train; 3] = [Train::Frozen, Train::BiasOnly, Train::All];
    /// const NET: Net = match Net::new(Shape::flat(8), &LAYERS) {
    ///     Ok(net) => match net.trainable(&PLAN) {
    ///         Ok(net) => net,
    ///         Err(_) => panic!("one Train per layer"),
    ///     },
    ///     Err(_) => panic!(),
    /// };
    /// assert_eq!(NET.trainable_len(), 16 + (16 * 4 + 4));
    /// ```
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless the plan has one entry per layer (a plan written
    /// for another network).
    pub const fn trainable(mut self, plan: &'a [Train]) -> Result<Self, Error> {
        if plan.len() != self.layers.len() {
            return Err(Error::ShapeMismatch {
                what: "Net::trainable: the plan must hold one Train per layer",
                expected: (1, self.layers.len()),
                found: (1, plan.len()),
            });
        }
        self.plan = plan;
        Ok(self.counted())
    }

    /// This network with its first `k` layers frozen (`k` = the number of layers: all
    /// of them, nothing trains): fine-tuning the rest of a network trained elsewhere.
    /// The frozen layers' parameters are only read: [`Net::frozen_len`] of them lead
    /// `params` and may stay in flash ([`Net::train_step_frozen`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `k` is past the last layer.
    pub const fn freeze(mut self, k: usize) -> Result<Self, Error> {
        if k > self.layers.len() {
            return Err(Error::InvalidArgument {
                what: "Net::freeze(k): k is past the last layer (at most Net::layers().len())",
            });
        }
        self.frozen_below = k;
        Ok(self.counted())
    }

    /// This network updating each layer as soon as its gradient is computed
    /// (`per_layer = true`), so that the gradient buffer of a training step holds one
    /// layer's gradient ([`Net::grad_len`] is the largest layer's trainable count), not
    /// the network's: the memory plan of training on microcontrollers. The optimizer
    /// still keeps state for every parameter that trains, and counts steps, not layers
    /// (Adam's bias correction is the same); results are bit-identical to the
    /// whole-network update for the crate's optimizers, whose rules are elementwise.
    ///
    /// The difference is what an error leaves: every shape, the input, the loss and
    /// every delta are checked before any parameter changes, as always, but a layer's
    /// weight gradient is checked for NaN and ±∞ only when its own update runs, so one
    /// that overflowed stops the step with the layers updated before it changed (their
    /// optimizer state too). A clip of the gradient by its global norm needs every
    /// gradient at once: use the whole-network update for it. Plain SGD is fused into
    /// the weight products either way and needs no gradient buffer.
    pub const fn per_layer(mut self, per_layer: bool) -> Self {
        self.per_layer = per_layer;
        self
    }

    /// Parameters that train under the plan ([`Net::trainable`], [`Net::freeze`]): the
    /// length of the optimizer's parameter count (`Adam::state_len(trainable_len)`)
    /// and of [`Net::loss_and_grad`]'s `grads`. [`Net::param_len`] without a plan.
    pub const fn trainable_len(&self) -> usize {
        self.trainable
    }

    /// The length of a training step's `grads`: [`Net::trainable_len`], or with
    /// [`Net::per_layer`] the largest number of parameters that train in one layer.
    pub const fn grad_len(&self) -> usize {
        if self.per_layer {
            self.largest
        } else {
            self.trainable
        }
    }

    /// The parameters before the first layer that trains: the frozen prefix of
    /// `params`, which [`Net::train_step_frozen`] takes as a read-only slice (flash).
    pub const fn frozen_len(&self) -> usize {
        let mut p = 0;
        let mut l = 0;
        while l < self.layers.len() && self.trained_len(l) == 0 {
            p += self.layers[l].param_len();
            l += 1;
        }
        p
    }

    /// This network with its large products split into parts that `exec` runs, perhaps
    /// on several cores (see [`par`](crate::par)): bit-identical results, as
    /// [`Mlp::on`](super::Mlp::on). Size workspaces with the `_parts` functions.
    ///
    /// The products that are GEMMs split: dense layers, pointwise convolutions and a
    /// strided convolution's input gradient. The direct convolution kernels and depthwise
    /// convolutions run on the calling thread, so a CNN of ordinary convolutions gains
    /// little from an executor yet.
    pub const fn on<'e>(self, exec: &'e dyn Executor) -> Net<'e>
    where
        'a: 'e,
    {
        Net {
            input: self.input,
            layers: self.layers,
            output: self.output,
            params: self.params,
            exec,
            plan: self.plan,
            frozen_below: self.frozen_below,
            per_layer: self.per_layer,
            trainable: self.trainable,
            largest: self.largest,
        }
    }

    /// The executor the network's products run on ([`Net::on`]).
    pub fn executor(&self) -> &'a dyn Executor {
        self.exec
    }

    /// The shape of one input example.
    pub const fn input(&self) -> Shape {
        self.input
    }
    /// The shape of one output example.
    pub const fn output(&self) -> Shape {
        self.output
    }
    /// The layers.
    pub const fn layers(&self) -> &'a [Layer] {
        self.layers
    }
    /// Number of parameters: the length of `params` (and of `grads`).
    pub const fn param_len(&self) -> usize {
        self.params
    }

    /// The input shape of layer `l` (`None` past the last layer).
    pub const fn layer_input(&self, l: usize) -> Option<Shape> {
        if l >= self.layers.len() {
            return None;
        }
        let mut shape = self.input;
        let mut i = 0;
        while i < l {
            shape = self.layers[i].out_of(shape);
            i += 1;
        }
        Some(shape)
    }

    /// The first layer that trains (the last if none does: its delta, the loss's
    /// gradient, is still computed): its input gradient is never computed, and the
    /// layers below it only run forward.
    const fn first_trained(&self) -> usize {
        let mut l = 0;
        while l < self.layers.len() {
            if self.trained_len(l) > 0 {
                return l;
            }
            l += 1;
        }
        l - 1
    }

    const fn step_layout(&self, n: usize, input_grad: bool) -> StepLayout {
        let grad_from = if input_grad {
            0
        } else {
            self.first_trained() + 1
        };
        let mut layout = StepLayout::new(n, grad_from);
        let mut shape = self.input;
        let mut l = 0;
        while l < self.layers.len() {
            layout = layout.add(&self.layers[l], shape);
            shape = self.layers[l].out_of(shape);
            l += 1;
        }
        if input_grad {
            layout
        } else {
            // A training workspace serves inference too (a `Trainer`'s `evaluate` and
            // `predict`): with frozen layers, or a wide input flattened into a narrow
            // layer, a step keeps less than two buffers of the largest output.
            layout.at_least(self.forward_layout(n).len())
        }
    }

    const fn forward_layout(&self, n: usize) -> ForwardLayout {
        let mut layout = ForwardLayout::new(n);
        let mut shape = self.input;
        let mut l = 0;
        while l < self.layers.len() {
            layout = layout.add(&self.layers[l], shape);
            shape = self.layers[l].out_of(shape);
            l += 1;
        }
        layout
    }

    /// Workspace a training step needs for a batch of `n` examples: every layer's
    /// output and delta (from the first layer that trains; the frozen layers below it
    /// run forward in two buffers), what layers keep from the forward pass for the
    /// backward pass (max pooling's argmax), the largest scratch and GEMM packing space;
    /// at least [`Net::forward_workspace_len`], so that a training workspace serves
    /// inference (a `Trainer`'s `evaluate` and `predict`). Saturates on overflow.
    pub const fn workspace_len(&self, n: usize) -> usize {
        self.step_layout(n, false).len()
    }

    /// [`Net::workspace_len`] with GEMM packing space for `parts` parts (see
    /// [`Net::on`]). Saturates on overflow.
    pub const fn workspace_len_parts(&self, n: usize, parts: usize) -> usize {
        // The step's own regions (without inference's floor), each layout's packing
        // space grown by the parts, and the larger of the two.
        let layout = self.step_layout(n, false).at_least(0);
        let fwd = self.forward_layout(n);
        max(
            with_parts(layout.len(), layout.gemm, parts),
            with_parts(fwd.len(), fwd.gemm, parts),
        )
    }

    /// Workspace [`Net::loss_and_grads`] needs for a batch of `n` examples: a training
    /// step's, with room for every layer's input gradient down to the network's input.
    /// Saturates on overflow.
    pub const fn input_grad_workspace_len(&self, n: usize) -> usize {
        self.step_layout(n, true).len()
    }

    /// Workspace [`Net::forward`] needs for a batch of `n` examples: two buffers of the
    /// largest hidden output, scratch and GEMM packing space.
    pub const fn forward_workspace_len(&self, n: usize) -> usize {
        self.forward_layout(n).len()
    }

    /// [`Net::forward_workspace_len`] with GEMM packing space for `parts` parts.
    pub const fn forward_workspace_len_parts(&self, n: usize, parts: usize) -> usize {
        let layout = self.forward_layout(n);
        with_parts(layout.len(), layout.gemm, parts)
    }

    /// Where layer `l`'s parameters lie in the flat buffer: the range of its weights
    /// and the range of its bias (empty without one).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `l` is not a layer.
    pub fn param_ranges(
        &self,
        l: usize,
    ) -> Result<(core::ops::Range<usize>, core::ops::Range<usize>), Error> {
        if l >= self.layers.len() {
            return Err(Error::InvalidArgument {
                what: "layer index must be below Net::layers().len()",
            });
        }
        let mut shape = self.input;
        let mut p = 0;
        for layer in &self.layers[..l] {
            p += layer.param_len();
            shape = layer.out_of(shape);
        }
        let layer = &self.layers[l];
        let w = layer.weight_len();
        let all = layer.param_len();
        Ok((p..p + w, p + w..p + all))
    }

    /// Checks that `params` fits this network and holds only finite values (the scan a
    /// training step leaves out for speed, as [`Mlp::check_params`](super::Mlp::check_params)).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length, [`Error::NonFinite`] if any value is
    /// NaN or ±∞.
    pub fn check_params(&self, params: &[f32]) -> Result<(), Error> {
        step::check_param_count(self, NAMES.params, params.len())?;
        if !all_finite(Isa::active(), params) {
            return Err(Error::NonFinite { what: "params" });
        }
        Ok(())
    }

    /// Initialises `params` for training: each layer's weights drawn by `init` with its
    /// fans ([`Layer::fans`]: PyTorch's, `c_in/groups·kh·kw` and `c_out·kh·kw` for a
    /// convolution), every bias zero. A seeded generator gives the same parameters on
    /// every target.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != Net::param_len` (nothing is written).
    pub fn init(
        &self,
        params: &mut [f32],
        init: crate::init::Init,
        rng: &mut impl rand_core::Rng,
    ) -> Result<(), Error> {
        super::train::init_params(self, params, init, rng)
    }

    /// Batched inference: `out` (`N ×` [`Net::output`]`.len()`) for the batch `x` (`N`
    /// examples of the input shape).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong `params`, `x` or `out` length,
    /// [`Error::PartialRow`] for an `x` that is not a whole number of examples,
    /// [`Error::WorkspaceTooSmall`] (with [`Net::forward_workspace_len`]); nothing is
    /// written then. NaN or infinite inputs propagate to the outputs.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<(), Error> {
        step::check_param_count(self, NAMES.params, params.len())?;
        step::forward(self, params, x, out, workspace)
    }

    /// `∂L/∂θ` of the loss of the network's output against `target` into `grads`
    /// (laid out as `params`; with a plan ([`Net::trainable`], [`Net::freeze`]) the
    /// [`Net::trainable_len`] gradients of what trains, packed in layer order); returns
    /// the loss. `params` is not changed. Each loss
    /// states how it reduces over the batch (see [`Loss`]). An empty batch gives a loss
    /// of 0 and zero gradients.
    ///
    /// # Errors
    /// Nothing is written to `grads` on any error: [`Error::ShapeMismatch`] for a wrong
    /// length of `params`, `grads`, `x` or the target, [`Error::WorkspaceTooSmall`]
    /// (with [`Net::workspace_len`]), [`Error::LabelOutOfRange`],
    /// [`Error::NonFinite`] for a NaN or ±∞ in `x`, the loss, a hidden layer's output
    /// or a delta (as [`Mlp::train_step`](super::Mlp::train_step) documents).
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad(
        &self,
        params: &[f32],
        x: &[f32],
        target: Target<'_>,
        loss: Loss,
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        step::loss_and_grad_with(self, params, x, target, loss.pick(), grads, None, workspace)
    }

    /// [`Net::loss_and_grad`], and the gradient of the loss with respect to the input,
    /// `∂L/∂x`, into `dx` (`x`'s length): to chain this network behind another, to
    /// explain a prediction (a saliency map), or to check a layer's input gradient.
    /// `workspace` needs [`Net::input_grad_workspace_len`].
    ///
    /// ```
    /// use microprop::{Loss, Target, layer::{Conv1d, Layer, Shape}, nn::Net};
    /// let layers = [Layer::Conv1d(Conv1d::new(2, 3, 3).padding(1))];
    /// let net = Net::new(Shape::seq(5, 2), &layers)?;
    /// let params = vec![0.25f32; net.param_len()];
    /// let x = [0.5f32; 10];
    /// let y = [0.0f32; 15];
    /// let (mut grads, mut dx) = (vec![0.0; net.param_len()], [0.0f32; 10]);
    /// let mut ws = vec![0.0; net.input_grad_workspace_len(1)];
    /// net.loss_and_grads(&params, &x, Target::Values(&y), Loss::MeanSquared, &mut grads, &mut dx, &mut ws)?;
    /// assert!(dx.iter().all(|&g| g > 0.0)); // raising any input raises the loss
    /// # Ok::<(), microprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Net::loss_and_grad`], and [`Error::ShapeMismatch`] for a `dx` of another
    /// length than `x`; nothing is written to `grads` or `dx` on any error, except when
    /// the input gradient itself overflowed to ±∞ ([`Error::NonFinite`] after `dx` was
    /// written; `grads` untouched).
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grads(
        &self,
        params: &[f32],
        x: &[f32],
        target: Target<'_>,
        loss: Loss,
        grads: &mut [f32],
        dx: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        step::loss_and_grad_with(
            self,
            params,
            x,
            target,
            loss.pick(),
            grads,
            Some(dx),
            workspace,
        )
    }

    /// One training step with any loss and any [`Optimizer`]: `∂L/∂θ` into `grads`,
    /// then `opt.update(params, grads)`; plain SGD is fused into the weight-update
    /// products and does not write `grads`. Returns the loss before the update.
    ///
    /// # Errors
    /// As [`Net::loss_and_grad`], plus what [`Optimizer::check`] refuses; `params` and
    /// the optimizer's state are unchanged on any error (as
    /// [`Mlp::train_step_with`](super::Mlp::train_step_with) documents), but for a weight
    /// gradient that overflows with [`Net::per_layer`] updates, which leaves the layers
    /// updated before it changed. `grads` is written when an optimizer other than plain
    /// SGD updates the whole network and the step is refused for a gradient, hidden
    /// activations or deltas that are not finite: such a step checks the activations and
    /// deltas through the gradient they give (every NaN or ±∞ that reaches a parameter
    /// makes its gradient non-finite), with the same errors; one that reaches no
    /// parameter (a max pool's unselected −∞, an overflow that a ReLU's zero derivative or
    /// a saturated sigmoid cuts off) does not stop the step. With plain SGD,
    /// fused into the weight updates, a weight gradient that overflows `f32` from finite
    /// activations and deltas is not detected and reaches the parameters as ±∞ (as for
    /// [`Mlp::train_step`](super::Mlp::train_step); [`Net::check_params`] finds it).
    #[allow(clippy::too_many_arguments)]
    pub fn train_step<O: Optimizer + ?Sized>(
        &self,
        params: &mut [f32],
        x: &[f32],
        target: Target<'_>,
        loss: Loss,
        opt: &mut O,
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        step::train_step_with(
            self,
            params,
            x,
            false,
            target,
            loss.pick(),
            opt,
            grads,
            workspace,
        )
    }

    /// [`Net::train_step`] with the frozen layers' parameters apart: `frozen`, the first
    /// [`Net::frozen_len`] values of the network's parameters, is only read (it may be
    /// a `static` in flash), and `params` holds the rest, which the step updates:
    /// `frozen` is the parameters of every layer before the first that trains (with
    /// [`Net::freeze`]`(k)` alone, the first `k` layers').
    ///
    /// ```
    /// use microprop::{Activation::Relu, Loss, Target, Sgd, SgdConfig};
    /// use microprop::{layer::{Dense, Layer, Shape}, nn::Net};
    /// const LAYERS: [Layer; 2] = [
    ///     Layer::Dense(Dense::new(4, 8).act(Relu)),
    ///     Layer::Dense(Dense::new(8, 2)),
    /// ];
    /// const NET: Net = match Net::new(Shape::flat(4), &LAYERS) {
    ///     Ok(net) => match net.freeze(1) {
    ///         Ok(net) => net,
    ///         Err(_) => panic!(),
    ///     },
    ///     Err(_) => panic!(),
    /// };
    /// static PRETRAINED: [f32; NET.frozen_len()] = [0.1; 40]; // in flash
    /// let mut head = [0.0f32; NET.param_len() - NET.frozen_len()];
    /// let mut ws = [0.0f32; NET.workspace_len(1)];
    /// let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut [])?;
    /// let loss = NET.train_step_frozen(&PRETRAINED, &mut head, &[1.0; 4],
    ///     Target::Classes(&[1]), Loss::SoftmaxCrossEntropy, &mut sgd, &mut [], &mut ws)?;
    /// assert!(loss > 0.0);
    /// # Ok::<(), microprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Net::train_step`], and [`Error::ShapeMismatch`] if `frozen` is not
    /// [`Net::frozen_len`] values or `params` not the rest. Nothing is written then.
    #[allow(clippy::too_many_arguments)]
    pub fn train_step_frozen<O: Optimizer + ?Sized>(
        &self,
        frozen: &[f32],
        params: &mut [f32],
        x: &[f32],
        target: Target<'_>,
        loss: Loss,
        opt: &mut O,
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        if frozen.is_empty() {
            // (No frozen prefix: `params` is every parameter.)
            step::check_split(self, 0, params.len())?;
        }
        step::train_step_split(
            self,
            frozen,
            params,
            x,
            false,
            target,
            loss.pick(),
            opt,
            grads,
            workspace,
        )
    }
}

impl Stack for Net<'_> {
    #[inline(always)]
    fn depth(&self) -> usize {
        self.layers.len()
    }
    #[inline(always)]
    fn input(&self) -> Shape {
        self.input
    }
    #[inline(always)]
    fn layer(&self, l: usize) -> Layer {
        self.layers[l]
    }
    #[inline(always)]
    fn exec(&self) -> &dyn Executor {
        self.exec
    }
    #[inline(always)]
    fn names(&self) -> &'static Names {
        &NAMES
    }
    #[inline(always)]
    fn param_len(&self) -> usize {
        self.params
    }
    #[inline(always)]
    fn step_layout(&self, n: usize, input_grad: bool) -> StepLayout {
        Net::step_layout(self, n, input_grad)
    }
    #[inline(always)]
    fn forward_layout(&self, n: usize) -> ForwardLayout {
        Net::forward_layout(self, n)
    }
    #[inline(always)]
    fn train_of(&self, l: usize) -> Train {
        Net::train_of(self, l)
    }
    #[inline(always)]
    fn trainable_len(&self) -> usize {
        self.trainable
    }
    #[inline(always)]
    fn per_layer(&self) -> bool {
        self.per_layer
    }
    #[inline(always)]
    fn grad_len(&self) -> usize {
        Net::grad_len(self)
    }
    #[inline(always)]
    fn frozen_len(&self) -> usize {
        Net::frozen_len(self)
    }
}
