//! The multi-layer perceptron: forward, loss, backward and SGD in place, no allocation.

use crate::activation::{backward_raw, check_len};
use crate::gemm::{Epi, gemm_fused, gemm_workspace_len};
use crate::loss::squared_error_raw;
use crate::optim::{all_finite, colsum_raw, sgd_raw};
use crate::simd::Isa;
use crate::{Activation, Error, MatMut, MatRef};

/// A fully connected network: `A₀ = x`, `A_l = act_l(A_{l−1}·W_l + b_l)` for `l = 1..L`,
/// trained on the summed squared error `Σ (A_L − y)²` by plain gradient descent.
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
#[derive(Clone, Copy, Debug)]
pub struct Mlp<'a> {
    sizes: &'a [usize],
    acts: &'a [Activation],
    bias: bool,
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
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
        if Self::param_len(sizes, bias) == usize::MAX {
            return Err(Error::Overflow {
                what: "Mlp parameter count",
            });
        }
        Ok(Mlp { sizes, acts, bias })
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
        let mut units: usize = 0;
        let mut widest = 0;
        let mut gemm = 0;
        let mut l = 1;
        while l < sizes.len() {
            let (di, dout) = (sizes[l - 1], sizes[l]);
            units = units.saturating_add(dout);
            widest = max(widest, dout);
            gemm = max(gemm, gemm_workspace_len(n, di, dout)); // forward
            gemm = max(gemm, gemm_workspace_len(di, n, dout)); // weight update
            if l > 1 {
                gemm = max(gemm, gemm_workspace_len(n, dout, di)); // delta
            }
            l += 1;
        }
        units
            .saturating_mul(n)
            .saturating_mul(2)
            .saturating_add(gemm)
            .saturating_add(widest)
    }

    /// Workspace [`Mlp::forward`] needs for a batch of `n` examples: two ping-pong
    /// activation buffers of `N·max d_l` (hidden layers only) and GEMM packing space.
    pub const fn forward_workspace_len(sizes: &[usize], n: usize) -> usize {
        let mut widest = 0;
        let mut gemm = 0;
        let mut l = 1;
        while l < sizes.len() {
            if l + 1 < sizes.len() {
                widest = max(widest, sizes[l]);
            }
            gemm = max(gemm, gemm_workspace_len(n, sizes[l - 1], sizes[l]));
            l += 1;
        }
        widest
            .saturating_mul(n)
            .saturating_mul(2)
            .saturating_add(gemm)
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

    pub(super) fn check_param_len(&self, len: usize) -> Result<(), Error> {
        let need = Self::param_len(self.sizes, self.bias);
        if len != need {
            return Err(Error::ShapeMismatch {
                what: "params.len() must equal Mlp::param_len",
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

    /// Batch size of `x`, checked against `d₀`.
    fn batch(&self, x: &[f32]) -> Result<usize, Error> {
        let d0 = self.sizes[0];
        if !x.len().is_multiple_of(d0) {
            return Err(Error::ShapeMismatch {
                what: "x must be N rows of sizes[0] values",
                expected: (x.len() / d0, d0),
                found: (1, x.len()),
            });
        }
        Ok(x.len() / d0)
    }

    fn check_out(&self, what: &'static str, n: usize, len: usize) -> Result<(), Error> {
        let d = self.sizes[self.layers()];
        if len != n * d {
            return Err(Error::ShapeMismatch {
                what,
                expected: (n, d),
                found: (1, len),
            });
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
        let n = self.batch(x)?;
        self.check_out("out must be N x sizes[L]", n, out.len())?;
        let needed = Self::forward_workspace_len(self.sizes, n);
        if workspace.len() < needed {
            return Err(Error::WorkspaceTooSmall {
                needed,
                len: workspace.len(),
            });
        }
        if n == 0 {
            return Ok(());
        }
        let isa = Isa::active();
        let widest = (1..self.layers()).map(|l| self.sizes[l]).max().unwrap_or(0);
        let (bufs, gemm_ws) = workspace.split_at_mut(2 * n * widest);
        let (buf0, buf1) = bufs.split_at_mut(n * widest);
        for l in 0..self.layers() {
            let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
            // Ping-pong: layer l reads the buffer layer l − 1 wrote and writes the other;
            // the last layer writes straight into `out`.
            let (src, dst) = if l % 2 == 1 {
                (&*buf0, &mut *buf1)
            } else {
                (&*buf1, &mut *buf0)
            };
            let input = if l == 0 { x } else { &src[..n * di] };
            let output = if l + 1 == self.layers() {
                &mut *out
            } else {
                &mut dst[..n * dout]
            };
            self.layer_forward(isa, params, l, n, input, output, gemm_ws)?;
        }
        Ok(())
    }

    /// `output = act_l(input·W_l + b_l)` in one fused GEMM.
    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        isa: Isa,
        params: &[f32],
        l: usize,
        n: usize,
        input: &[f32],
        output: &mut [f32],
        gemm_ws: &mut [f32],
    ) -> Result<(), Error> {
        let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
        let off = self.layer_offset(l);
        let w = MatRef::row_major(&params[off..off + di * dout], di, dout)?;
        let a = MatRef::row_major(input, n, di)?;
        let bias = if self.bias {
            Some(&params[off + di * dout..][..dout])
        } else {
            None
        };
        check_len("layer output", n * dout, output.len())?;
        if gemm_ws.len() < gemm_workspace_len(n, di, dout) {
            return Err(Error::WorkspaceTooSmall {
                needed: gemm_workspace_len(n, di, dout),
                len: gemm_ws.len(),
            });
        }
        gemm_fused(
            isa,
            1.0,
            a,
            w,
            0.0,
            MatMut::row_major(output, n, dout)?,
            gemm_ws,
            Epi::BiasAct {
                act: self.acts[l],
                bias,
            },
        )?;
        Ok(())
    }

    /// One step of plain gradient descent on `Σ (A_L − y)²`, in place: forward, loss,
    /// backward and the update `θ ← θ − lr·∂loss/∂θ`, with no allocation. Returns the
    /// loss before the update (the lecture's `loss`).
    ///
    /// The weight update is one GEMM per layer, `W_l ← W_l − lr·A_{l−1}ᵀ·Δ_l`, straight
    /// into `params` (no weight gradient is materialized); each delta
    /// `Δ_{l−1} = (Δ_l·W_lᵀ) ⊙ act'(A_{l−1})` is one GEMM with the derivative fused.
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
        if !lr.is_finite() {
            return Err(Error::NonFinite {
                what: "learning rate",
            });
        }
        self.step(params, x, y, workspace, lr)
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
        self.check_param_len(grads.len())?;
        self.step_grad(params, x, y, workspace, grads)
    }

    fn step(
        &self,
        params: &mut [f32],
        x: &[f32],
        y: &[f32],
        workspace: &mut [f32],
        lr: f32,
    ) -> Result<f32, Error> {
        let (loss, ctx) = self.forward_backward(params, x, y, workspace)?;
        if let Some(ctx) = ctx {
            self.parameter_pass(ctx, x, workspace, params, GradTarget::Params { lr })?;
        }
        Ok(loss)
    }

    fn step_grad(
        &self,
        params: &[f32],
        x: &[f32],
        y: &[f32],
        workspace: &mut [f32],
        grads: &mut [f32],
    ) -> Result<f32, Error> {
        let (loss, ctx) = self.forward_backward(params, x, y, workspace)?;
        match ctx {
            Some(ctx) => self.parameter_pass(ctx, x, workspace, grads, GradTarget::Gradient)?,
            None => grads.fill(0.0),
        }
        Ok(loss)
    }

    /// The last part of a step, once every delta Δ_l is in the workspace: per layer, the
    /// weight gradient `A_{l−1}ᵀ·Δ_l` and bias gradient `colsum(Δ_l)`, either written to
    /// `dest` (a gradient buffer) or subtracted, times `lr`, from it (the parameters:
    /// one GEMM with α = −lr, β = 1, so no weight gradient is materialized).
    fn parameter_pass(
        &self,
        ctx: Ctx,
        x: &[f32],
        workspace: &mut [f32],
        dest: &mut [f32],
        into: GradTarget,
    ) -> Result<(), Error> {
        let (isa, n) = (ctx.isa, ctx.n);
        let (alpha, beta) = match into {
            GradTarget::Params { lr } => (-lr, 1.0),
            GradTarget::Gradient => (1.0, 0.0),
        };
        let (acts, deltas, gemm_ws, scratch) = ctx.split(workspace, self);
        for l in 0..self.layers() {
            let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
            let off = self.layer_offset(l);
            let prev: &[f32] = if l == 0 {
                x
            } else {
                &acts[self.act_offset(l - 1, n)..][..n * di]
            };
            let delta = &deltas[self.act_offset(l, n)..][..n * dout];
            let a_t = MatRef::row_major(prev, n, di)?.t();
            let d = MatRef::row_major(delta, n, dout)?;
            let (w, rest) = dest[off..].split_at_mut(di * dout);
            gemm_fused(
                isa,
                alpha,
                a_t,
                d,
                beta,
                MatMut::row_major(w, di, dout)?,
                gemm_ws,
                Epi::None,
            )?;
            if self.bias {
                let db = &mut scratch[..dout];
                // SAFETY: delta is n×dout row-major; `db` holds dout values; `rest` starts
                // with layer l's dout bias values.
                unsafe {
                    colsum_raw(isa, delta.as_ptr(), n, dout, dout, 1, db.as_mut_ptr());
                    match into {
                        GradTarget::Params { lr } => {
                            sgd_raw(isa, rest.as_mut_ptr(), db.as_ptr(), lr, dout)
                        }
                        GradTarget::Gradient => rest[..dout].copy_from_slice(db),
                    }
                }
            }
        }
        Ok(())
    }

    /// Offset of layer `l`'s activations (0-based, output of layer l) within the
    /// activation (or delta) area.
    fn act_offset(&self, l: usize, n: usize) -> usize {
        n * self.sizes[1..=l].iter().sum::<usize>()
    }

    /// Validates, runs the forward pass, the loss and every delta, and checks them for
    /// finiteness. Returns the loss and, when there is a batch, the layout context.
    fn forward_backward(
        &self,
        params: &[f32],
        x: &[f32],
        y: &[f32],
        workspace: &mut [f32],
    ) -> Result<(f32, Option<Ctx>), Error> {
        self.check_param_len(params.len())?;
        let n = self.batch(x)?;
        self.check_out("y must be N x sizes[L]", n, y.len())?;
        let needed = Self::workspace_len(self.sizes, n);
        if workspace.len() < needed {
            return Err(Error::WorkspaceTooSmall {
                needed,
                len: workspace.len(),
            });
        }
        if n == 0 {
            return Ok((0.0, None));
        }
        let ctx = Ctx {
            isa: Isa::active(),
            n,
        };
        if !all_finite(ctx.isa, x) {
            return Err(Error::NonFinite {
                what: "x (input data)",
            });
        }
        let (acts, deltas, gemm_ws, _) = ctx.split(workspace, self);
        let lay = self.layers();
        // Forward: A_l = act(A_{l−1}·W_l + b_l), fused.
        for l in 0..lay {
            let (done, rest) = acts.split_at_mut(self.act_offset(l, n));
            let input: &[f32] = if l == 0 {
                x
            } else {
                &done[self.act_offset(l - 1, n)..]
            };
            self.layer_forward(
                ctx.isa,
                params,
                l,
                n,
                input,
                &mut rest[..n * self.sizes[l + 1]],
                gemm_ws,
            )?;
        }
        // Loss and Δ_L = 2(A_L − y) ⊙ act_L'(A_L).
        let dl = self.sizes[lay];
        let out = &acts[self.act_offset(lay - 1, n)..][..n * dl];
        let g = &mut deltas[self.act_offset(lay - 1, n)..][..n * dl];
        // SAFETY: `out`, `y`, `g` hold n·dl values; `g` is disjoint from the inputs.
        let loss =
            unsafe { squared_error_raw(ctx.isa, out.as_ptr(), y.as_ptr(), g.as_mut_ptr(), n * dl) };
        if !loss.is_finite() {
            return Err(Error::NonFinite { what: "loss" });
        }
        // Hidden activations can overflow to ±∞ (identity, ReLU) and still give a finite
        // loss through a saturated sigmoid; their weight gradient would not be finite.
        if !all_finite(ctx.isa, &acts[..self.act_offset(lay - 1, n)]) {
            return Err(Error::NonFinite {
                what: "a hidden layer's activations",
            });
        }
        // One pointer for both the input and the output: a `g.as_ptr()` taken before
        // `g.as_mut_ptr()` would be invalidated by it (an aliasing violation).
        let gp = g.as_mut_ptr();
        // SAFETY: `g` and `out` hold n·dl values; in place on `g`.
        unsafe { backward_raw(ctx.isa, self.acts[lay - 1], gp, out.as_ptr(), gp, n * dl) };
        // Deltas: Δ_{l−1} = (Δ_l·W_lᵀ) ⊙ act'(A_{l−1}), the derivative fused.
        for l in (1..lay).rev() {
            let (di, dout) = (self.sizes[l], self.sizes[l + 1]);
            let off = self.layer_offset(l);
            let w_t = MatRef::row_major(&params[off..off + di * dout], di, dout)?.t();
            let (lower, upper) = deltas.split_at_mut(self.act_offset(l, n));
            let d = MatRef::row_major(&upper[..n * dout], n, dout)?;
            let h = &acts[self.act_offset(l - 1, n)..][..n * di];
            let dprev = &mut lower[self.act_offset(l - 1, n)..][..n * di];
            gemm_fused(
                ctx.isa,
                1.0,
                d,
                w_t,
                0.0,
                MatMut::row_major(dprev, n, di)?,
                gemm_ws,
                Epi::MulDeriv {
                    act: self.acts[l - 1],
                    h: MatRef::row_major(h, n, di)?,
                },
            )?;
        }
        if !all_finite(ctx.isa, deltas) {
            return Err(Error::NonFinite {
                what: "gradient (a layer's delta)",
            });
        }
        Ok((loss, Some(ctx)))
    }
}

/// Where [`Mlp::parameter_pass`] puts the gradient.
#[derive(Clone, Copy)]
enum GradTarget {
    /// Subtract `lr ·` it from the parameters (plain SGD).
    Params { lr: f32 },
    /// Write it to a gradient buffer.
    Gradient,
}

#[derive(Clone, Copy)]
struct Ctx {
    isa: Isa,
    n: usize,
}

impl Ctx {
    /// Splits the workspace into (activations, deltas, gemm packing, scratch).
    fn split<'w>(
        &self,
        ws: &'w mut [f32],
        net: &Mlp<'_>,
    ) -> (&'w mut [f32], &'w mut [f32], &'w mut [f32], &'w mut [f32]) {
        let units: usize = net.sizes[1..].iter().sum();
        let widest = net.sizes[1..].iter().copied().max().unwrap_or(0);
        let (acts, rest) = ws.split_at_mut(units * self.n);
        let (deltas, rest) = rest.split_at_mut(units * self.n);
        let (scratch, gemm) = rest.split_at_mut(widest);
        (acts, deltas, gemm, scratch)
    }
}
