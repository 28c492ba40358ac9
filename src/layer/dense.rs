//! The fully connected layer: `A = act(X·W + b)`, one GEMM with the bias and the
//! activation fused into its epilogue.
//!
//! Parameters: `W` as a row-major `in × out` matrix (so a layer is `x·W`, as the
//! lecture's `x.dot(w1)`), then `b` (`out` values) when the layer has a bias. PyTorch's
//! `nn.Linear` stores `weight` as `out × in`, the transpose; safetensors files carry it
//! that way (see [`nn::safetensors`](crate::nn::safetensors)):
//!
//! ```text
//! microprop W[i][o] = torch weight[o][i]
//! ```
//!
//! After a [`Layer::Flatten`](super::Layer::Flatten) of an `h × w × c` shape the inputs
//! come in channels-last order, feature `(y·w + x)·c + ch`, where PyTorch's `nn.Flatten`
//! of `N × C × H × W` gives feature `ch·h·w + y·w + x`; the tensor's columns are in
//! PyTorch's order:
//!
//! ```text
//! microprop W[(y·w + x)·c + ch][o] = torch weight[o][ch·h·w + y·w + x]
//! ```

use super::{Cx, Needs, Prev, SaveFields, Scratch, Shape, ShapeError, Update, slot};
use crate::gemm::{Epi, gemm_fused_on, gemm_workspace_len};
use crate::{Activation, Error, MatMut, MatRef};

/// A fully connected layer of `inputs → outputs` (PyTorch's `nn.Linear`), its
/// activation applied last.
///
/// ```
/// use microprop::{Activation::Relu, layer::{Dense, Layer}};
/// const HIDDEN: Layer = Layer::Dense(Dense::new(64, 32).act(Relu));
/// const OUT: Layer = Layer::Dense(Dense::new(32, 10)); // identity, with a bias
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Input features (the previous layer's output must be flat and this long).
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Applied last.
    pub act: Activation,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

impl Dense {
    /// `inputs → outputs` with a bias and no activation ([`Activation::Identity`]), as
    /// `nn.Linear(inputs, outputs)`.
    pub const fn new(inputs: usize, outputs: usize) -> Dense {
        Dense {
            inputs,
            outputs,
            act: Activation::Identity,
            bias: true,
        }
    }
    /// The same layer with activation `act`.
    #[must_use]
    pub const fn act(self, act: Activation) -> Dense {
        Dense { act, ..self }
    }
    /// The same layer with the bias on or off.
    #[must_use]
    pub const fn bias(self, bias: bool) -> Dense {
        Dense { bias, ..self }
    }

    /// Its record's fields in the saved format: inputs and outputs.
    pub(super) const fn save_fields(&self) -> SaveFields {
        let mut f = [0; slot::COUNT];
        f[slot::IN] = self.inputs;
        f[slot::OUT] = self.outputs;
        f
    }

    /// The layer of a saved record's fields (the inverse of [`Dense::save_fields`]).
    pub(super) const fn from_save_fields(f: &SaveFields, act: Activation, bias: bool) -> Dense {
        Dense {
            inputs: f[slot::IN],
            outputs: f[slot::OUT],
            act,
            bias,
        }
    }

    /// Calls `f` with the index in `W` of each element of PyTorch's `weight`
    /// (`outputs × inputs`), in its row-major order; `flat_from` is the `h × w × c` shape
    /// a [`Layer::Flatten`](super::Layer::Flatten) before this layer flattened, whose
    /// features PyTorch orders `[ch][y][x]` (ignored unless it has `inputs` values).
    pub(super) fn torch_order(&self, flat_from: Option<Shape>, mut f: impl FnMut(usize)) {
        let (di, dout) = (self.inputs, self.outputs);
        let flat_from = flat_from.filter(|s| s.len() == di);
        for o in 0..dout {
            match flat_from {
                Some(s) => {
                    for ch in 0..s.c {
                        for p in 0..s.h * s.w {
                            f((p * s.c + ch) * dout + o);
                        }
                    }
                }
                None => {
                    for i in 0..di {
                        f(i * dout + o);
                    }
                }
            }
        }
    }

    /// Weights, `inputs · outputs` (`usize::MAX` on overflow).
    pub(crate) const fn weight_len(&self) -> usize {
        match self.inputs.checked_mul(self.outputs) {
            Some(w) => w,
            None => usize::MAX,
        }
    }

    /// Weights and bias (`usize::MAX` on overflow).
    pub(crate) const fn param_len(&self) -> usize {
        let w = self.weight_len();
        if !self.bias {
            return w;
        }
        match w.checked_add(self.outputs) {
            Some(p) => p,
            None => usize::MAX,
        }
    }

    pub(super) const fn out_shape(&self, input: Shape) -> Result<Shape, ShapeError> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err("dense: inputs and outputs must be at least 1");
        }
        if !input.is_flat() {
            return Err(
                "dense: the input must be flat (1 x 1 x n): put a Layer::Flatten \
                        (or a global pooling) before it",
            );
        }
        if input.c != self.inputs {
            return Err("dense: `inputs` must equal the features the layer before gives");
        }
        if self.param_len() == usize::MAX {
            return Err("dense: the parameter count overflows usize");
        }
        Ok(Shape::flat(self.outputs))
    }

    /// The forward GEMM (`n × in` by `in × out`), the weight update (`in × n` by
    /// `n × out`) and, with `input_grad`, the delta (`n × out` by `out × in`).
    pub(crate) const fn step_needs(&self, n: usize, input_grad: bool) -> Needs {
        let (di, dout) = (self.inputs, self.outputs);
        let mut gemm = max(
            gemm_workspace_len(n, di, dout),
            gemm_workspace_len(di, n, dout),
        );
        if input_grad {
            gemm = max(gemm, gemm_workspace_len(n, dout, di));
        }
        Needs {
            keep: 0,
            bias: dout,
            scratch: 0,
            gemm,
        }
    }

    /// The forward GEMM.
    pub(crate) const fn forward_needs(&self, n: usize) -> Needs {
        Needs {
            gemm: gemm_workspace_len(n, self.inputs, self.outputs),
            ..Needs::NONE
        }
    }

    /// `W` (`in × out`) and `b` of this layer's parameters (`param_len` values).
    #[inline]
    fn split<'p>(&self, params: &'p [f32]) -> (MatRef<'p>, Option<&'p [f32]>) {
        let (w, rest) = params.split_at(self.inputs * self.outputs);
        let bias = if self.bias {
            Some(&rest[..self.outputs])
        } else {
            None
        };
        (MatRef::rows_of(w, self.outputs), bias)
    }

    /// `out = act(x·W + b)`, one GEMM with the bias and activation fused.
    #[inline]
    pub(crate) fn forward(
        &self,
        cx: Cx<'_>,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (w, bias) = self.split(params);
        let a = MatRef::rows_of(x, self.inputs);
        // (`out` is cut to `n · outputs` values, as `gemm_fused_on` checks.)
        let c = MatMut::rows_of(out, self.outputs);
        let epi = Epi::BiasAct {
            act: self.act,
            bias,
        };
        gemm_fused_on(cx.isa, cx.exec, 1.0, a, w, 0.0, c, s.gemm, epi)
    }

    /// `dx = (dout·Wᵀ) ⊙ prev.act'(prev.out)`, one GEMM with the derivative fused.
    #[inline]
    pub(crate) fn backward_input(
        &self,
        cx: Cx<'_>,
        params: &[f32],
        dout: &[f32],
        prev: Prev<'_>,
        dx: &mut [f32],
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (w, _) = self.split(params);
        let d = MatRef::rows_of(dout, self.outputs);
        let h = MatRef::rows_of(prev.out, self.inputs);
        let c = MatMut::rows_of(dx, self.inputs);
        let epi = Epi::MulDeriv { act: prev.act, h };
        gemm_fused_on(cx.isa, cx.exec, 1.0, d, w.t(), 0.0, c, s.gemm, epi)
    }

    /// `W ← α·Xᵀ·Δ + β·W` and `b ← colsum(Δ)` (a gradient, α = 1, β = 0) or
    /// `b ← b − lr·colsum(Δ)` (fused SGD, α = −lr, β = 1) into `dest`, this layer's
    /// parameters or gradient.
    #[inline]
    pub(crate) fn update(
        &self,
        cx: Cx<'_>,
        x: &[f32],
        delta: &[f32],
        dest: &mut [f32],
        how: Update,
        s: Scratch<'_>,
    ) -> Result<(), Error> {
        let (alpha, beta) = how.alpha_beta();
        let (di, dout) = (self.inputs, self.outputs);
        let a_t = MatRef::rows_of(x, di).t();
        let d = MatRef::rows_of(delta, dout);
        let (w, rest) = dest.split_at_mut(di * dout);
        let c = MatMut::rows_of(w, dout);
        gemm_fused_on(cx.isa, cx.exec, alpha, a_t, d, beta, c, s.gemm, Epi::None)?;
        if self.bias {
            how.bias(cx, delta, &mut rest[..dout], s.bias)?;
        }
        Ok(())
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
