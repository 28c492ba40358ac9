//! The builder: the methods that add inputs and gates to a [`Graph`], each checking its
//! operands' shapes before it creates the node.

use super::gates::{
    ActivationGate, AddBiasGate, AddGate, ExpGate, MatMulGate, MaxGate, MultiplyGate,
    SquaredErrorGate,
};
use super::store::{Graph, Node, Op, Tensor, matmul_scratch_len};
use crate::Error;
use crate::activation::Activation;

fn same_shape(what: &'static str, a: &Node, b: &Node) -> Result<(), Error> {
    if (a.rows, a.cols) == (b.rows, b.cols) {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected: (a.rows, a.cols),
            found: (b.rows, b.cols),
        })
    }
}

impl Graph<'_> {
    // ----- inputs and parameters -------------------------------------------------------

    /// A new `rows × cols` input (or parameter) tensor, zero-filled.
    ///
    /// # Errors
    /// [`Error::GraphFull`] if the node storage is full, [`Error::ArenaFull`] with the
    /// length this graph needs if the arena is, [`Error::Overflow`] for absurd sizes.
    pub fn input(&mut self, rows: usize, cols: usize) -> Result<Tensor, Error> {
        self.push(Op::Input, rows, cols, 0)
    }

    /// A new `rows × cols` input tensor holding `values` (row-major).
    ///
    /// # Errors
    /// As [`Graph::input`], and [`Error::ShapeMismatch`] if `values.len() != rows · cols`
    /// (checked first; no node is created then).
    pub fn input_from(
        &mut self,
        rows: usize,
        cols: usize,
        values: &[f32],
    ) -> Result<Tensor, Error> {
        if Some(values.len()) != rows.checked_mul(cols) {
            return Err(Error::ShapeMismatch {
                what: "graph input_from: values.len() must be rows * cols",
                expected: (rows, cols),
                found: (1, values.len()),
            });
        }
        let t = self.input(rows, cols)?;
        self.set_value(t, values)?;
        Ok(t)
    }

    /// A new `1 × 1` input tensor holding `value`.
    ///
    /// # Errors
    /// As [`Graph::input`].
    pub fn scalar(&mut self, value: f32) -> Result<Tensor, Error> {
        self.input_from(1, 1, &[value])
    }

    // ----- gates -------------------------------------------------------------------------

    /// The add gate: `z = x + y` (same shape). Backward: `dx += dz`, `dy += dz`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a foreign handle, [`Error::ShapeMismatch`] if the
    /// shapes differ, [`Error::GraphFull`] / [`Error::ArenaFull`] as for [`Graph::input`].
    pub fn add(&mut self, x: Tensor, y: Tensor) -> Result<Tensor, Error> {
        let (nx, ny) = (self.node(x)?, self.node(y)?);
        same_shape("graph add: y must have x's shape", &nx, &ny)?;
        let gate = AddGate {
            x: x.index,
            y: y.index,
        };
        self.push(Op::Add(gate), nx.rows, nx.cols, 0)
    }

    /// The broadcast add gate, for biases: `z[i][j] = x[i][j] + b[j]` with `x` `m × n`
    /// and `b` `1 × n` (forward on [`crate::bias_add`]). Backward: `dx += dz`,
    /// `db[j] += Σᵢ dz[i][j]` (column sums with [`crate::bias_grad`]; needs `n` scratch).
    ///
    /// # Errors
    /// As [`Graph::add`]; [`Error::ShapeMismatch`] if `b` is not `1 × x.cols`.
    pub fn add_bias(&mut self, x: Tensor, b: Tensor) -> Result<Tensor, Error> {
        let (nx, nb) = (self.node(x)?, self.node(b)?);
        if (nb.rows, nb.cols) != (1, nx.cols) {
            return Err(Error::ShapeMismatch {
                what: "graph add_bias: b must be 1 x x.cols",
                expected: (1, nx.cols),
                found: (nb.rows, nb.cols),
            });
        }
        let gate = AddBiasGate {
            x: x.index,
            b: b.index,
        };
        self.push(Op::AddBias(gate), nx.rows, nx.cols, nx.cols)
    }

    /// The lecture's `MultiplyGate`: `z = x ⊙ y` elementwise (same shape). The gate keeps
    /// handles to `x` and `y` because its backward needs them: `dx += y ⊙ dz`,
    /// `dy += x ⊙ dz`. `mul(x, x)` gives `dx += 2·x ⊙ dz`.
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn mul(&mut self, x: Tensor, y: Tensor) -> Result<Tensor, Error> {
        let (nx, ny) = (self.node(x)?, self.node(y)?);
        same_shape("graph mul: y must have x's shape", &nx, &ny)?;
        let gate = MultiplyGate {
            x: x.index,
            y: y.index,
        };
        self.push(Op::Mul(gate), nx.rows, nx.cols, 0)
    }

    /// The matrix product gate: `C = A·B` for `A` `m × k` and `B` `k × n`, on
    /// [`crate::gemm()`]. Backward: `dA += dC·Bᵀ`, `dB += Aᵀ·dC` (GEMMs with `β = 1` over
    /// transposed views). GEMM packing space comes from the arena's scratch region
    /// ([`matmul_scratch_len`]`(m, k, n)` elements).
    ///
    /// # Errors
    /// As [`Graph::add`]; [`Error::ShapeMismatch`] if `b.rows != a.cols`.
    pub fn matmul(&mut self, a: Tensor, b: Tensor) -> Result<Tensor, Error> {
        let (na, nb) = (self.node(a)?, self.node(b)?);
        if nb.rows != na.cols {
            return Err(Error::ShapeMismatch {
                what: "graph matmul: b must have a.cols rows",
                expected: (na.cols, nb.cols),
                found: (nb.rows, nb.cols),
            });
        }
        let gate = MatMulGate {
            a: a.index,
            b: b.index,
            k: na.cols,
        };
        let scratch = matmul_scratch_len(na.rows, na.cols, nb.cols);
        self.push(Op::MatMul(gate), na.rows, nb.cols, scratch)
    }

    /// The max gate: `z = max(x, y)` elementwise (same shape). Backward routes `dz` to the
    /// larger input: `dx += dz` where `x ≥ y` (a tie goes to `x`, the first operand),
    /// `dy += dz` where `x < y`. NaN propagates: where either input is NaN, `z` is NaN and
    /// both gradients become NaN.
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn max(&mut self, x: Tensor, y: Tensor) -> Result<Tensor, Error> {
        let (nx, ny) = (self.node(x)?, self.node(y)?);
        same_shape("graph max: y must have x's shape", &nx, &ny)?;
        let gate = MaxGate {
            x: x.index,
            y: y.index,
        };
        self.push(Op::Max(gate), nx.rows, nx.cols, 0)
    }

    /// The exponential gate: `z = eˣ` (`libm::expf`). Backward: `dx += z ⊙ dz`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a foreign handle, [`Error::GraphFull`] /
    /// [`Error::ArenaFull`] as for [`Graph::input`].
    pub fn exp(&mut self, x: Tensor) -> Result<Tensor, Error> {
        let nx = self.node(x)?;
        self.push(Op::Exp(ExpGate { x: x.index }), nx.rows, nx.cols, 0)
    }

    /// An activation gate `h = f(x)` on the crate's vectorized kernels
    /// ([`Activation::forward`], [`Activation::backward`] from the output `h`):
    /// `dx += dh ⊙ f'`, needing `rows · cols` scratch. See [`Graph::sigmoid`],
    /// [`Graph::relu`], [`Graph::tanh`]; [`Activation::Identity`] copies.
    ///
    /// # Errors
    /// As [`Graph::exp`].
    pub fn activation(&mut self, act: Activation, x: Tensor) -> Result<Tensor, Error> {
        let nx = self.node(x)?;
        let gate = ActivationGate { act, x: x.index };
        self.push(Op::Act(gate), nx.rows, nx.cols, nx.numel())
    }

    /// The sigmoid gate: `h = 1/(1 + e⁻ˣ)`. Backward: `dx += dh ⊙ h ⊙ (1 − h)`.
    ///
    /// # Errors
    /// As [`Graph::exp`].
    pub fn sigmoid(&mut self, x: Tensor) -> Result<Tensor, Error> {
        self.activation(Activation::Sigmoid, x)
    }

    /// The ReLU gate: `h = max(x, 0)`. Backward: `dx += dh` where `h > 0` (so not at
    /// `x = 0`, and not where `x` is NaN).
    ///
    /// # Errors
    /// As [`Graph::exp`].
    pub fn relu(&mut self, x: Tensor) -> Result<Tensor, Error> {
        self.activation(Activation::Relu, x)
    }

    /// The tanh gate: `h = tanh x`. Backward: `dx += dh ⊙ (1 − h²)`.
    ///
    /// # Errors
    /// As [`Graph::exp`].
    pub fn tanh(&mut self, x: Tensor) -> Result<Tensor, Error> {
        self.activation(Activation::Tanh, x)
    }

    /// The squared-error loss gate: `L = Σᵢ (pᵢ − yᵢ)²`, a `1 × 1` tensor, on
    /// [`crate::squared_error`]. Backward with `dL` the upstream scalar gradient:
    /// `dp += dL · 2(p − y)` and `dy −= dL · 2(p − y)` (needs `rows · cols` scratch).
    ///
    /// # Errors
    /// As [`Graph::add`] (`target` must have `pred`'s shape).
    pub fn squared_error(&mut self, pred: Tensor, target: Tensor) -> Result<Tensor, Error> {
        let (np, ny) = (self.node(pred)?, self.node(target)?);
        same_shape(
            "graph squared_error: target must have pred's shape",
            &np,
            &ny,
        )?;
        let gate = SquaredErrorGate {
            pred: pred.index,
            target: target.index,
        };
        self.push(Op::SquaredError(gate), 1, 1, np.numel())
    }
}
