//! The multi-layer perceptron: forward, loss, backward and the update in place, no
//! allocation.
//!
//! A training step is four stages with a seam between each: the forward pass (bias and
//! activation fused into each layer's GEMM), the **loss pass** (one fused kernel writes
//! the loss's gradient `∂L/∂A_L` into the workspace), the backward pass (each delta one
//! GEMM with the activation's derivative fused), and the **update** (plain SGD fused into
//! the weight-update GEMM, or the gradient written to a caller buffer). The loss and the
//! update are arguments of the step, not code inside it.

use super::step::{self, ForwardLayout, Names, Stack, StepLayout, with_parts};
use super::tiny;
use crate::error::check_rows;
use crate::layer::{Dense, Layer, Shape, Update};

/// What sizes a training step's workspace, for [`Error::WorkspaceTooSmall`].
pub(super) const STEP_WORKSPACE: &str =
    "Mlp::workspace_len (Mlp::workspace_len_parts for an executor's parts)";
/// What sizes an inference workspace, for [`Error::WorkspaceTooSmall`].
pub(super) const FORWARD_WORKSPACE: &str =
    "Mlp::forward_workspace_len (Mlp::forward_workspace_len_parts for an executor's parts)";
use crate::optim::Optimizer;
use crate::optim::{all_finite, check_lr};
use crate::par::{Executor, Serial};
use crate::simd::Isa;
use crate::{Activation, Error, Loss, MatMut, MatRef, Target};

/// A fully connected network: `A₀ = x`, `A_l = act_l(A_{l−1}·W_l + b_l)` for `l = 1..L`.
///
/// Trained in place with no allocation: [`Mlp::train_step`] is the lecture's step (the
/// summed squared error `Σ (A_L − y)²`, plain gradient descent fused into the weight
/// update); [`Mlp::train_step_with`] takes any [`Loss`] and any [`Optimizer`], and
/// [`Mlp::train_epoch`] runs a shuffled pass over a [`Dataset`](crate::data::Dataset).
/// [`Mlp::init`] initialises the parameters, [`Mlp::evaluate`] and [`Mlp::predict`] measure
/// the result.
///
/// The network itself is only its shape: layer sizes `[d₀, d₁, …, d_L]`, one activation
/// per layer, biases on or off. Parameters, data and workspace are the caller's flat
/// slices, so firmware can keep all of them in `static` buffers sized by the `const fn`s.
///
/// # Parameter layout
/// One flat `&[f32]` of [`Mlp::param_len`] values: for each layer `l = 1..L` in order,
/// `W_l` as a row-major `d_{l−1} × d_l` matrix (so a layer is `x·W`, as the lecture's
/// `x.dot(w1)`), followed by `b_l` (`d_l` values) when biases are on.
///
/// # Data layout
/// `x` is a row-major `N × d₀` batch (one example per row), `y` and outputs `N × d_L`.
/// `N` is `x.len() / d₀`.
///
/// ```
/// use microprop::{Activation::*, nn::Mlp};
/// // The lecture's 2-layer net, at a smaller size.
/// const SIZES: [usize; 3] = [4, 8, 2];
/// const NET: Mlp = match Mlp::new(&SIZES, &[Sigmoid, Identity], false) {
///     Ok(net) => net,
///     Err(_) => panic!("bad shape"),
/// };
/// const N: usize = 3;
/// let mut params = [0.1f32; Mlp::param_len(&SIZES, false)];
/// let mut ws = [0.0f32; Mlp::workspace_len(&SIZES, N)];
/// let x = [0.5f32; N * 4];
/// let y = [1.0f32; N * 2];
/// let first = NET.train_step(&mut params, &x, &y, 1e-2, &mut ws)?;
/// let second = NET.train_step(&mut params, &x, &y, 1e-2, &mut ws)?;
/// assert!(second < first);
/// # Ok::<(), microprop::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Mlp<'a> {
    pub(super) sizes: &'a [usize],
    acts: &'a [Activation],
    bias: bool,
    /// [`Mlp::param_len`] of `sizes` and `bias`, computed once by [`Mlp::new`]: the step
    /// checks buffers against it, and a firmware keeps no loop to recompute it.
    params: usize,
    /// Runs the parts of the step's large products ([`Mlp::on`]).
    exec: &'a dyn Executor,
}

// A network is a description (sizes, activations, an executor it only calls through
// `&self`); a panic in a caller's closure or executor leaves nothing of it half-updated,
// so it may cross `catch_unwind` as it could before it held an executor.
impl core::panic::UnwindSafe for Mlp<'_> {}
impl core::panic::RefUnwindSafe for Mlp<'_> {}

impl core::fmt::Debug for Mlp<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mlp")
            .field("sizes", &self.sizes)
            .field("acts", &self.acts)
            .field("bias", &self.bias)
            .field("parts", &self.exec.parts())
            .finish()
    }
}

impl<'a> Mlp<'a> {
    /// A network with layer sizes `sizes = [d₀, …, d_L]` and `acts[l]` applied after
    /// layer `l + 1`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is no layer, a size is 0, or
    /// `acts.len() != sizes.len() − 1`; [`Error::Overflow`] if the parameter count
    /// overflows `usize`.
    pub const fn new(
        sizes: &'a [usize],
        acts: &'a [Activation],
        bias: bool,
    ) -> Result<Self, Error> {
        if sizes.len() < 2 {
            return Err(Error::InvalidArgument {
                what: "Mlp needs at least two sizes (input and output)",
            });
        }
        if acts.len() != sizes.len() - 1 {
            return Err(Error::InvalidArgument {
                what: "Mlp needs one activation per layer (sizes.len() - 1)",
            });
        }
        let mut i = 0;
        while i < sizes.len() {
            if sizes[i] == 0 {
                return Err(Error::InvalidArgument {
                    what: "Mlp layer sizes must be at least 1",
                });
            }
            i += 1;
        }
        let params = Self::param_len(sizes, bias);
        if params == usize::MAX {
            return Err(Error::Overflow {
                what: "Mlp parameter count",
            });
        }
        Ok(Mlp {
            sizes,
            acts,
            bias,
            params,
            exec: &Serial::ONE,
        })
    }

    /// This network with its large products split into parts that `exec` runs, perhaps
    /// on several cores (see [`par`](crate::par)): the results are bit-identical to one
    /// part's, only sooner. Every method uses it: training steps, epochs, the forward
    /// pass and evaluation. A network from [`Mlp::new`] runs on [`Serial::ONE`].
    ///
    /// Each part needs its own GEMM packing space: size the workspace with
    /// [`Mlp::workspace_len_parts`] (or [`Mlp::forward_workspace_len_parts`]) for
    /// [`Executor::parts`] parts. A workspace with room for fewer runs fewer parts (one,
    /// for [`Mlp::workspace_len`]), with the same results.
    pub const fn on<'e>(self, exec: &'e dyn Executor) -> Mlp<'e>
    where
        'a: 'e,
    {
        Mlp {
            sizes: self.sizes,
            acts: self.acts,
            bias: self.bias,
            params: self.params,
            exec,
        }
    }

    /// The executor the network's products run on ([`Mlp::on`]).
    pub fn executor(&self) -> &'a dyn Executor {
        self.exec
    }

    /// Layer sizes `[d₀, …, d_L]`.
    pub const fn sizes(&self) -> &'a [usize] {
        self.sizes
    }
    /// Activation of each layer.
    pub const fn activations(&self) -> &'a [Activation] {
        self.acts
    }
    /// Whether layers have biases.
    pub const fn has_bias(&self) -> bool {
        self.bias
    }
    /// Number of layers `L`.
    pub const fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Number of parameters of a network with these sizes (see the layout above);
    /// `usize::MAX` on overflow.
    pub const fn param_len(sizes: &[usize], bias: bool) -> usize {
        let mut total: usize = 0;
        let mut l = 1;
        while l < sizes.len() {
            let Some(w) = sizes[l - 1].checked_mul(sizes[l]) else {
                return usize::MAX;
            };
            let layer = if bias {
                w.checked_add(sizes[l])
            } else {
                Some(w)
            };
            let Some(layer) = layer else {
                return usize::MAX;
            };
            let Some(t) = total.checked_add(layer) else {
                return usize::MAX;
            };
            total = t;
            l += 1;
        }
        total
    }

    /// Workspace [`Mlp::train_step`] and [`Mlp::loss_and_grad`] need for a batch of `n`
    /// examples: every layer's activations and deltas (`2·N·Σ d_l` for `l ≥ 1`), GEMM
    /// packing space, and `max d_l` for the bias gradient. Saturates on overflow.
    pub const fn workspace_len(sizes: &[usize], n: usize) -> usize {
        Self::step_layout(sizes, n).len()
    }

    /// [`Mlp::workspace_len`] with GEMM packing space for `parts` parts (see [`Mlp::on`]):
    /// one more part's packing space for each part after the first (`parts = 0` counts
    /// as 1). Saturates on overflow.
    pub const fn workspace_len_parts(sizes: &[usize], n: usize, parts: usize) -> usize {
        let layout = Self::step_layout(sizes, n);
        with_parts(layout.len(), layout.gemm, parts)
    }

    /// Workspace [`Mlp::forward`] needs for a batch of `n` examples: two ping-pong
    /// activation buffers of `N·max d_l` (hidden layers only) and GEMM packing space.
    pub const fn forward_workspace_len(sizes: &[usize], n: usize) -> usize {
        Self::forward_layout(sizes, n).len()
    }

    /// [`Mlp::forward_workspace_len`] with GEMM packing space for `parts` parts (see
    /// [`Mlp::on`]). Saturates on overflow.
    pub const fn forward_workspace_len_parts(sizes: &[usize], n: usize, parts: usize) -> usize {
        let layout = Self::forward_layout(sizes, n);
        with_parts(layout.len(), layout.gemm, parts)
    }

    /// Offset of layer `l`'s weights (0-based) in the parameter buffer.
    fn layer_offset(&self, l: usize) -> usize {
        let mut off = 0;
        for i in 0..l {
            off +=
                self.sizes[i] * self.sizes[i + 1] + if self.bias { self.sizes[i + 1] } else { 0 };
        }
        off
    }

    /// Layer `l`'s parameters (0-based: `l = 0` is `W₁`, `b₁`) inside `params`: the
    /// weights as a `d_l × d_{l+1}` view and the bias (`None` without biases).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != Mlp::param_len`,
    /// [`Error::InvalidArgument`] if `l ≥ L`.
    pub fn layer<'p>(
        &self,
        params: &'p [f32],
        l: usize,
    ) -> Result<(MatRef<'p>, Option<&'p [f32]>), Error> {
        self.check_param_len(params.len())?;
        self.check_layer(l)?;
        Ok(self.layer_of_checked(params, l))
    }

    /// [`Mlp::layer`] for this module's own calls, whose `params` has `param_len` values
    /// (checked by the caller) and `l < L`: the same views, without checking both again
    /// for every layer of every step (less code in a firmware's step, and less time).
    fn layer_of_checked<'p>(&self, params: &'p [f32], l: usize) -> (MatRef<'p>, Option<&'p [f32]>) {
        debug_assert!(l < self.layers());
        debug_assert_eq!(params.len(), self.params);
        let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
        let (w, rest) = params[self.layer_offset(l)..].split_at(di * dout);
        let bias = if self.bias { Some(&rest[..dout]) } else { None };
        (MatRef::rows_of(w, dout), bias)
    }

    /// Layer `l`'s parameters inside `params`, writable; see [`Mlp::layer`].
    ///
    /// # Errors
    /// As [`Mlp::layer`].
    pub fn layer_mut<'p>(
        &self,
        params: &'p mut [f32],
        l: usize,
    ) -> Result<(MatMut<'p>, Option<&'p mut [f32]>), Error> {
        self.check_param_len(params.len())?;
        self.check_layer(l)?;
        let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
        let (w, bias) = self.layer_slices_mut(params, l);
        Ok((MatMut::row_major(w, di, dout)?, bias))
    }

    /// Layer `l`'s weights and bias as slices of a buffer of [`Mlp::param_len`] values.
    pub(super) fn layer_slices_mut<'p>(
        &self,
        params: &'p mut [f32],
        l: usize,
    ) -> (&'p mut [f32], Option<&'p mut [f32]>) {
        let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
        let (w, rest) = params[self.layer_offset(l)..].split_at_mut(di * dout);
        let bias = if self.bias {
            Some(&mut rest[..dout])
        } else {
            None
        };
        (w, bias)
    }

    fn check_layer(&self, l: usize) -> Result<(), Error> {
        if l >= self.layers() {
            return Err(Error::InvalidArgument {
                what: "layer index must be below Mlp::layers()",
            });
        }
        Ok(())
    }

    pub(super) fn check_param_len(&self, len: usize) -> Result<(), Error> {
        self.check_len_of("params.len() must equal Mlp::param_len", len)
    }

    /// `len` must be [`Mlp::param_len`]; `what` names the buffer.
    pub(super) fn check_len_of(&self, what: &'static str, len: usize) -> Result<(), Error> {
        let need = self.params;
        if len != need {
            return Err(Error::ShapeMismatch {
                what,
                expected: (1, need),
                found: (1, len),
            });
        }
        Ok(())
    }

    /// Checks that `params` fits this network and holds only finite values: the scan
    /// [`Mlp::train_step`] leaves out for speed. Useful after loading or receiving
    /// parameters, or now and then during long unattended training.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length, [`Error::NonFinite`] if any value is
    /// NaN or ±∞.
    pub fn check_params(&self, params: &[f32]) -> Result<(), Error> {
        self.check_param_len(params.len())?;
        if !all_finite(Isa::active(), params) {
            return Err(Error::NonFinite { what: "params" });
        }
        Ok(())
    }

    /// Batched inference: `out = A_L` for the `N × d₀` batch `x` (the lecture's 3-layer
    /// forward pass with biases is an `Mlp` with sizes `[3, h, h, o]`). Bias and
    /// activation are fused into each layer's GEMM.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong `params`, `x` or `out` length,
    /// [`Error::WorkspaceTooSmall`] (with [`Mlp::forward_workspace_len`]); nothing is
    /// written then. NaN or infinite inputs propagate to the outputs.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<(), Error> {
        self.check_param_len(params.len())?;
        step::forward(self, params, x, out, workspace)
    }

    /// One step of plain gradient descent on `Σ (A_L − y)²`, in place: forward, loss,
    /// backward and the update `θ ← θ − lr·∂loss/∂θ`, with no allocation. Returns the
    /// loss before the update (the lecture's `loss`).
    ///
    /// The weight update is one GEMM per layer, `W_l ← W_l − lr·A_{l−1}ᵀ·Δ_l`, straight
    /// into `params` (no weight gradient is materialized); each delta
    /// `Δ_{l−1} = (Δ_l·W_lᵀ) ⊙ act'(A_{l−1})` is one GEMM with the derivative fused.
    /// On the scalar instruction set (Cortex-M, or forced) a network at most 8 wide on a
    /// batch of at most 16 runs the same arithmetic in plain loops instead (bit for bit,
    /// without the GEMM's fixed costs: XOR 2-3-1 takes 3.4 times fewer instructions).
    /// Hidden-layer delta entries below `1e-30` in magnitude are flushed to zero: they
    /// cannot move a weight, and their subnormal products would slow saturated networks
    /// several-fold on x86. An empty batch (`x` and `y` empty) returns a loss of 0 and
    /// changes nothing.
    ///
    /// # Errors
    /// Nothing is written to `params` on any error: every check below runs before the
    /// first parameter changes.
    /// * [`Error::ShapeMismatch`]: `params`, `x` or `y` of the wrong length.
    /// * [`Error::WorkspaceTooSmall`]: shorter than [`Mlp::workspace_len`]`(sizes, N)`.
    /// * [`Error::InvalidArgument`]: `lr` is negative (gradient descent only; `lr = 0`
    ///   computes the loss and leaves `params` as they are).
    /// * [`Error::NonFinite`]: `lr` or any value of `x` is NaN or ±∞, or the step itself
    ///   is not finite: the loss (so also any NaN or ±∞ in `y`), a hidden layer's
    ///   activations, or a delta `Δ_l` (e.g. from diverging training).
    ///
    /// # Non-finite parameters
    /// `params` is not scanned on every step (for the lecture's network that pass would
    /// cost about 6% of a step; [`Mlp::check_params`] does it on request). A NaN anywhere
    /// in `params` always surfaces as [`Error::NonFinite`] through an activation, the
    /// loss or a delta. A ±∞ weight of a layer `l ≥ 2` does too; a ±∞ weight of the
    /// first layer or a ±∞ bias is reported unless it only feeds a saturated sigmoid,
    /// tanh or ReLU, in which case the step succeeds and that parameter stays ±∞.
    /// A finite step never turns a finite parameter non-finite, except when the
    /// gradient or `lr·gradient` itself overflows `f32` (a learning rate far too large),
    /// which is not detected.
    pub fn train_step(
        &self,
        params: &mut [f32],
        x: &[f32],
        y: &[f32],
        lr: f32,
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        check_lr(
            lr,
            "learning rate",
            "train_step: the learning rate is negative (that would climb the loss; \
             for gradient ascent negate the loss instead)",
        )?;
        self.check_param_len(params.len())?;
        // `step::sum_squared`'s checks, on the sizes (no walk over the layers).
        let n = check_rows(NAMES.x, x.len(), self.sizes[0])?;
        let d = self.sizes[self.sizes.len() - 1];
        if Some(y.len()) != n.checked_mul(d) {
            return Err(Error::ShapeMismatch {
                what: NAMES.y,
                expected: (n, d),
                found: (1, y.len()),
            });
        }
        if tiny::fits(Isa::active(), self.sizes, n) {
            return tiny::train_step(
                self.sizes, self.acts, self.bias, params, x, y, n, lr, workspace,
            );
        }
        self.sgd_step(params, x, y, lr, workspace)
    }

    /// [`Mlp::train_step`] through the general step, once `lr` and `params` are checked.
    /// Not inlined into it: inlined, LLVM kept `forward_backward` out of line and the two
    /// frames added up (the sine network's step peaked at 2,256 bytes of stack on a
    /// Cortex-M4F at opt-level "s", 1,928 like this).
    #[inline(never)]
    fn sgd_step(
        &self,
        params: &mut [f32],
        x: &[f32],
        y: &[f32],
        lr: f32,
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        let pass = step::sum_squared(self, x, y)?;
        let (loss, n) = step::forward_backward(
            self,
            step::Params::whole(params),
            x,
            false,
            step::Scan::Here,
            workspace,
            pass,
            None,
        )?;
        step::update(
            self,
            params,
            0,
            x,
            n,
            workspace,
            Update::FusedSgd { lr },
            false,
        )?;
        Ok(loss)
    }

    /// Like [`Mlp::train_step`] but leaves `params` alone and writes `∂loss/∂θ` to `grads`
    /// (same length and layout as `params`), for other optimizers and gradient checks.
    /// Returns the loss. An empty batch gives a loss of 0 and zero gradients.
    ///
    /// # Errors
    /// As [`Mlp::train_step`] (`grads` must have `params`'s length); nothing is written
    /// to `grads` on any error. Non-finite parameters are handled as described there.
    pub fn loss_and_grad(
        &self,
        params: &[f32],
        x: &[f32],
        y: &[f32],
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        self.check_param_len(params.len())?;
        self.check_len_of("grads.len() must equal Mlp::param_len", grads.len())?;
        let pass = step::sum_squared(self, x, y)?;
        let (loss, n) = step::forward_backward(
            self,
            step::Params::whole(params),
            x,
            false,
            step::Scan::Here,
            workspace,
            pass,
            None,
        )?;
        step::update(self, grads, 0, x, n, workspace, Update::Gradient, false)?;
        Ok(loss)
    }

    /// [`Mlp::loss_and_grad`] for any [`Loss`]: `∂L/∂θ` of the loss of the network's
    /// output `A_L` against `target` into `grads`; returns the loss. `params` is not
    /// changed. Each loss states how it reduces over the batch (see [`Loss`]); for the
    /// cross-entropy losses the last layer's activation is normally
    /// [`Activation::Identity`] (the loss takes logits), but any activation is
    /// differentiated through.
    ///
    /// # Errors
    /// As [`Mlp::loss_and_grad`], with the target checked before the forward pass
    /// ([`Error::ShapeMismatch`] for `N × d_L` values or `N` labels of the wrong length,
    /// [`Error::InvalidArgument`] for class labels with a loss that takes values) and
    /// [`Error::LabelOutOfRange`] for a label `≥ d_L`; nothing is written to `grads` on
    /// any error.
    pub fn loss_and_grad_with(
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

    /// Back-propagates a loss of the caller's own: `loss(A_L, G)` receives the network's
    /// output `A_L` (`N × d_L`, row-major) and must write `G = ∂L/∂A_L` (same shape,
    /// every value; it arrives holding garbage) and return `L`. Then `∂L/∂θ` goes to
    /// `grads`, as in [`Mlp::loss_and_grad`]. `loss` runs only for a non-empty batch.
    ///
    /// ```
    /// use microprop::{Activation::*, nn::Mlp};
    /// let sizes = [2, 3, 1];
    /// let net = Mlp::new(&sizes, &[Tanh, Identity], true)?;
    /// let params = vec![0.5f32; Mlp::param_len(&sizes, true)];
    /// let mut grads = vec![0.0f32; params.len()];
    /// let mut ws = vec![0.0f32; Mlp::workspace_len(&sizes, 2)];
    /// // L = Σ a (the output's sum): ∂L/∂a = 1.
    /// let l = net.loss_and_grad_custom(&params, &[1.0, 2.0, 3.0, 4.0], &mut grads, &mut ws, |a, g| {
    ///     g.fill(1.0);
    ///     Ok(a.iter().sum())
    /// })?;
    /// assert!(l.is_finite() && grads.iter().any(|&g| g != 0.0));
    /// # Ok::<(), microprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Mlp::loss_and_grad`]; an error returned by `loss` is passed on. Nothing is
    /// written to `grads` on any error.
    pub fn loss_and_grad_custom(
        &self,
        params: &[f32],
        x: &[f32],
        grads: &mut [f32],
        workspace: &mut [f32],
        loss: impl FnOnce(&[f32], &mut [f32]) -> Result<f32, Error>,
    ) -> Result<f32, Error> {
        self.check_param_len(params.len())?;
        self.check_len_of("grads.len() must equal Mlp::param_len", grads.len())?;
        let pass = |_: Isa, out: &[f32], g: &mut [f32]| loss(out, g);
        let (loss, n) = step::forward_backward(
            self,
            step::Params::whole(params),
            x,
            false,
            step::Scan::Here,
            workspace,
            pass,
            None,
        )?;
        step::update(self, grads, 0, x, n, workspace, Update::Gradient, false)?;
        Ok(loss)
    }

    /// One training step with any loss and any [`Optimizer`]: `∂L/∂θ` into `grads`, then
    /// `opt.update(params, grads)`. Returns the loss before the update.
    ///
    /// An optimizer that is plain SGD ([`Optimizer::plain_sgd_lr`], e.g. [`Sgd`] without
    /// momentum or weight decay) is fused into the weight-update GEMM as in
    /// [`Mlp::train_step`]: no gradient is materialized and `grads` is not written (it
    /// must still hold [`Mlp::param_len`] values; a firmware that only ever trains with
    /// plain SGD can call [`Mlp::train_step`] and spare that buffer).
    ///
    /// # Errors
    /// As [`Mlp::loss_and_grad_with`], plus what [`Optimizer::check`] refuses (a NaN,
    /// infinite or negative learning rate, state sized for another parameter count),
    /// checked before anything is written. `params` and the optimizer's state are
    /// unchanged on any error; `grads` too, except when the gradient is not finite,
    /// which the step refuses after the gradient was written: the weight gradient
    /// itself overflowed to ±∞, or (with an optimizer other than plain SGD) the hidden
    /// activations or deltas were not: such a step checks them through the whole
    /// gradient they give, which every NaN or ±∞ that reaches a parameter makes
    /// non-finite (`0·∞` is NaN), and returns the error the scans would have (one that
    /// reaches no parameter does not stop the step).
    ///
    /// [`Sgd`]: crate::optim::Sgd
    #[allow(clippy::too_many_arguments)]
    pub fn train_step_with<O: Optimizer + ?Sized>(
        &self,
        params: &mut [f32],
        x: &[f32],
        target: Target<'_>,
        loss: Loss,
        opt: &mut O,
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        // (Unlike a `Trainer`'s, this step wants `grads` even for plain SGD.)
        self.check_param_len(params.len())?;
        self.check_len_of("grads.len() must equal Mlp::param_len", grads.len())?;
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
}

/// The names an [`Mlp`]'s errors use.
static NAMES: Names = Names {
    params: "params.len() must equal Mlp::param_len",
    grads: "grads.len() must equal Mlp::param_len",
    x: "x (N rows of sizes[0] values)",
    y: "y must be N x sizes[L]",
    out: "out must be N x sizes[L]",
    step_ws: STEP_WORKSPACE,
    forward_ws: FORWARD_WORKSPACE,
};

impl Mlp<'_> {
    /// Layer `l` (0-based) as a [`Dense`] layer.
    #[inline(always)]
    const fn dense(&self, l: usize) -> Dense {
        Dense {
            inputs: self.sizes[l],
            outputs: self.sizes[l + 1],
            act: self.acts[l],
            bias: self.bias,
        }
    }

    /// The layout of a training step's workspace (biases and activations do not change it).
    const fn step_layout(sizes: &[usize], n: usize) -> StepLayout {
        let mut layout = StepLayout::new(n, 1);
        let mut l = 1;
        while l < sizes.len() {
            layout = layout.add_dense(&Dense::new(sizes[l - 1], sizes[l]));
            l += 1;
        }
        layout
    }

    /// The layout of an inference workspace.
    const fn forward_layout(sizes: &[usize], n: usize) -> ForwardLayout {
        let mut layout = ForwardLayout::new(n);
        let mut l = 1;
        while l < sizes.len() {
            layout = layout.add_dense(&Dense::new(sizes[l - 1], sizes[l]));
            l += 1;
        }
        layout
    }
}

impl Stack for Mlp<'_> {
    const DENSE_ONLY: bool = true;
    #[inline(always)]
    fn depth(&self) -> usize {
        self.sizes.len() - 1
    }
    #[inline(always)]
    fn input(&self) -> Shape {
        Shape::flat(self.sizes[0])
    }
    #[inline(always)]
    fn layer(&self, l: usize) -> Layer {
        Layer::Dense(self.dense(l))
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
        if input_grad {
            let mut layout = StepLayout::new(n, 0);
            for l in 0..self.depth() {
                layout = layout.add_dense(&self.dense(l));
            }
            return layout;
        }
        Mlp::step_layout(self.sizes, n)
    }
    #[inline(always)]
    fn forward_layout(&self, n: usize) -> ForwardLayout {
        Mlp::forward_layout(self.sizes, n)
    }
}
