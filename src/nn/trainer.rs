//! A training session that holds the buffers: [`Trainer`].

use super::step::{self, Params, Stack};
use super::train::{self, Evaluation};
use crate::data::{Batch, Dataset};
use crate::error::check_workspace;
use crate::loss::LossFn;
use crate::metrics::predict_class;
use crate::optim::Optimizer;
use crate::{Error, Loss, Target};

/// A network that a [`Trainer`] trains: [`Mlp`](super::Mlp) or [`Net`](super::Net).
///
/// Sealed: its methods are the crate's own (the layers a step walks).
pub trait Network: Stack {}

impl<S: Stack> Network for S {}

/// A training session: the network, its parameters, the gradient buffer, the optimizer
/// (which holds its own state) and the workspace, all borrowed from the caller once, so
/// that a step is `trainer.step(x, target)?` and an epoch
/// `trainer.epoch(&data, &order, &mut batch)?`. Nothing is allocated; the buffers stay
/// the caller's (firmware keeps them in `static`s, sized by the `const fn`s).
///
/// ```
/// use microprop::{Activation::*, Loss, Target, nn::{Mlp, Trainer}};
/// use microprop::optim::{Adam, AdamConfig};
///
/// const SIZES: [usize; 3] = [2, 8, 2];
/// let net = Mlp::new(&SIZES, &[Tanh, Identity], true)?;
/// let mut params = [0.0f32; Mlp::param_len(&SIZES, true)];
/// let mut grads = [0.0f32; Mlp::param_len(&SIZES, true)];
/// let mut state = [0.0f32; Adam::state_len(Mlp::param_len(&SIZES, true))];
/// let mut work = [0.0f32; Mlp::workspace_len(&SIZES, 4)];
/// use rand::{SeedableRng, rngs::StdRng};
/// net.init(&mut params, microprop::init::Init::XavierUniform, &mut StdRng::seed_from_u64(1))?;
///
/// let adam = Adam::new(AdamConfig::adam(0.05), &mut state)?;
/// let mut trainer = Trainer::new(net, &mut params, &mut grads, adam, &mut work,
///                                Loss::SoftmaxCrossEntropy)?;
/// // XOR as two classes.
/// let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
/// let labels = [0, 1, 1, 0];
/// let mut loss = 0.0;
/// for _ in 0..300 {
///     loss = trainer.step(&x, Target::Classes(&labels))?;
/// }
/// assert!(loss < 0.05, "loss {loss}");
/// let mut out = [0.0f32; 2];
/// assert_eq!(trainer.predict(&x[2..4], &mut out)?, 1);
/// # Ok::<(), microprop::Error>(())
/// ```
pub struct Trainer<'b, N: Network, O: Optimizer> {
    net: N,
    /// The frozen layers' parameters apart ([`Trainer::new_frozen`]), or nothing.
    frozen: &'b [f32],
    params: &'b mut [f32],
    grads: &'b mut [f32],
    opt: O,
    workspace: &'b mut [f32],
    loss: LossFn,
}

impl<N: Network, O: Optimizer> core::fmt::Debug for Trainer<'_, N, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Trainer")
            .field("params", &self.params.len())
            .field("grads", &self.grads.len())
            .field("workspace", &self.workspace.len())
            .field("loss", &self.loss.loss)
            .finish_non_exhaustive()
    }
}

impl<'b, N: Network, O: Optimizer> Trainer<'b, N, O> {
    /// A session training `net`'s `params` with `opt` on `loss`, its gradients in
    /// `grads` and its passes in `workspace`.
    ///
    /// `grads` holds the network's `grad_len` (its parameter count, or with a plan what
    /// trains: [`Net::grad_len`](super::Net::grad_len)), or nothing when `opt` is plain SGD
    /// ([`Optimizer::plain_sgd_lr`]: fused into the weight updates, it needs no gradient
    /// buffer). `workspace` needs the network's `workspace_len` for the largest batch
    /// [`step`](Self::step) or [`epoch`](Self::epoch) will be given (checked at each
    /// step, with the batch at hand); a training workspace also serves
    /// [`evaluate`](Self::evaluate) and [`predict`](Self::predict).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for `params` or `grads` of the wrong length, and what
    /// [`Optimizer::check`] refuses (a learning rate, or state sized for another
    /// parameter count).
    pub fn new(
        net: N,
        params: &'b mut [f32],
        grads: &'b mut [f32],
        opt: O,
        workspace: &'b mut [f32],
        loss: Loss,
    ) -> Result<Self, Error> {
        step::check_param_count(&net, net.names().params, params.len())?;
        // Picked here, where the caller's loss may be a constant (see `Loss::pick`).
        Trainer::with(net, &[], params, grads, opt, workspace, loss.pick())
    }

    /// A session whose network's frozen layers' parameters are apart: `frozen` (the
    /// first [`Net::frozen_len`](super::Net::frozen_len) values of the network's
    /// parameters) is only read, so it can be a `static` in flash, and `params` holds
    /// the rest, which the session trains ([`Net::train_step_frozen`](super::Net::train_step_frozen)).
    /// [`params`](Self::params) is then that rest.
    ///
    /// # Errors
    /// As [`Trainer::new`], and [`Error::ShapeMismatch`] if `frozen` is not the frozen
    /// layers' parameters or `params` not the rest.
    pub fn new_frozen(
        net: N,
        frozen: &'b [f32],
        params: &'b mut [f32],
        grads: &'b mut [f32],
        opt: O,
        workspace: &'b mut [f32],
        loss: Loss,
    ) -> Result<Self, Error> {
        step::check_split(&net, frozen.len(), params.len())?;
        Trainer::with(net, frozen, params, grads, opt, workspace, loss.pick())
    }

    fn with(
        net: N,
        frozen: &'b [f32],
        params: &'b mut [f32],
        grads: &'b mut [f32],
        opt: O,
        workspace: &'b mut [f32],
        loss: LossFn,
    ) -> Result<Self, Error> {
        step::check_step_grads(&net, &opt, grads.len())?;
        opt.check(net.trainable_len())?;
        Ok(Trainer {
            net,
            frozen,
            params,
            grads,
            opt,
            workspace,
            loss,
        })
    }

    /// One training step on the batch `x` against `target`: the loss's gradient, then
    /// the optimizer's update. Returns the loss before the update.
    ///
    /// # Errors
    /// As the network's `train_step_with`: nothing is changed on any error (the
    /// parameters and the optimizer's state bit for bit as they were), but for a weight
    /// gradient that overflows with per-layer updates, which leaves the layers updated
    /// before it changed ([`Net::per_layer`](super::Net::per_layer)), and the gradient
    /// buffer, written when the step is refused for a non-finite gradient, activation or
    /// delta ([`Net::train_step`](super::Net::train_step) says when). With plain SGD a
    /// weight gradient that overflows `f32` from finite activations and deltas is not
    /// detected (see [`Net::train_step`](super::Net::train_step)).
    pub fn step(&mut self, x: &[f32], target: Target<'_>) -> Result<f32, Error> {
        step::train_step_split(
            &self.net,
            self.frozen,
            self.params,
            x,
            false,
            target,
            self.loss,
            &mut self.opt,
            self.grads,
            self.workspace,
        )
    }

    /// One epoch of minibatch training over the samples `order` of `data`, in that
    /// order (shuffle it between epochs with [`shuffle`](crate::data::shuffle)), a
    /// batch of `batch`'s size at a time. Returns the epoch's mean loss per row.
    ///
    /// # Errors
    /// As [`Mlp::train_epoch`](super::Mlp::train_epoch): what can be checked up front
    /// is, before anything changes; an error at a batch stops the epoch there, the
    /// batches before it kept.
    pub fn epoch(
        &mut self,
        data: &Dataset<'_>,
        order: &[u32],
        batch: &mut Batch<'_>,
    ) -> Result<f32, Error> {
        train::train_epoch_split(
            &self.net,
            self.frozen,
            self.params,
            data,
            order,
            self.loss,
            &mut self.opt,
            batch,
            self.grads,
            self.workspace,
        )
    }

    /// The loss and accuracy over the samples `rows` of `data`, forward passes only,
    /// a batch of `batch`'s size at a time; `out` receives each batch's outputs, and
    /// with `confusion` each row's outcome is counted in it (see
    /// [`Mlp::evaluate`](super::Mlp::evaluate)).
    ///
    /// # Errors
    /// As [`Mlp::evaluate`](super::Mlp::evaluate).
    pub fn evaluate(
        &mut self,
        data: &Dataset<'_>,
        rows: &[u32],
        batch: &mut Batch<'_>,
        out: &mut [f32],
        confusion: Option<&mut [u32]>,
    ) -> Result<Evaluation, Error> {
        let params = Params {
            head: self.frozen,
            tail: self.params,
        };
        train::evaluate_split(
            &self.net,
            params,
            data,
            rows,
            self.loss,
            batch,
            out,
            confusion,
            self.workspace,
        )
    }

    /// Batched inference: `out` receives the network's output for the batch `x`.
    ///
    /// # Errors
    /// As the network's `forward`.
    pub fn forward(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let params = Params {
            head: self.frozen,
            tail: self.params,
        };
        step::forward_split(&self.net, params, x, out, self.workspace)
    }

    /// One example's output `out` and its class: the argmax of `out` (the first
    /// maximum; a NaN counts as the maximum), or for a single output 1 above the
    /// threshold (½ after a sigmoid, 0 for a logit) and 0 otherwise.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `x` holds one input example and `out` one
    /// output; as [`forward`](Self::forward) otherwise.
    pub fn predict(&mut self, x: &[f32], out: &mut [f32]) -> Result<usize, Error> {
        let d0 = self.net.input().len();
        if x.len() != d0 {
            return Err(Error::ShapeMismatch {
                what: "predict: x must be one input example",
                expected: (1, d0),
                found: (1, x.len()),
            });
        }
        check_workspace(
            self.net.forward_layout(1).len(),
            self.workspace.len(),
            self.net.names().forward_ws,
        )?;
        self.forward(x, out)?;
        Ok(predict_class(out, train::threshold(&self.net)).unwrap_or(0))
    }

    /// The parameters (those after the frozen layers' for [`Trainer::new_frozen`]).
    pub fn params(&self) -> &[f32] {
        self.params
    }

    /// The parameters, writable (e.g. to load saved weights between epochs).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.params
    }
    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.opt
    }
    /// The optimizer, writable (e.g. [`Optimizer::set_lr`] for a schedule).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.opt
    }
    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }
    /// The loss trained on.
    pub fn loss(&self) -> Loss {
        self.loss.loss
    }
    /// Trains on `loss` from the next step on.
    pub fn set_loss(&mut self, loss: Loss) {
        self.loss = loss.pick();
    }
    /// Ends the session, giving the optimizer back (its state stays in the caller's
    /// buffer it borrows).
    pub fn into_optimizer(self) -> O {
        self.opt
    }
}
