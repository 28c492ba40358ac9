//! The gates: what each node keeps, and its `forward` and `backward` over flat slices.
//!
//! Every gate here is the lecture's `MultiplyGate` pattern: it keeps *handles* to its
//! inputs (never copies of them) so that `backward` can read the input values again from
//! the arena. `forward` overwrites the output; `backward` *accumulates* (`+=`) into the
//! input gradients, so a tensor used by several gates receives the sum of their
//! contributions. The graph ([`super::Graph`]) fetches the slices from the arena and
//! checks every length before it calls these functions; the functions themselves
//! iterate with `zip`, so they cannot index out of bounds whatever they are given.

use crate::Error;
use crate::activation::Activation;
use crate::{MatMut, MatRef};

/// The first `n` elements of the scratch region (the graph sizes it for every gate).
fn prefix(scratch: &mut [f32], n: usize) -> Result<&mut [f32], Error> {
    let len = scratch.len();
    scratch.get_mut(..n).ok_or(Error::WorkspaceTooSmall {
        needed: n,
        len,
        sized_by: "matmul_scratch_len",
    })
}

/// `d_input[i] += dz[i]`: the add gate's backward, for each of its inputs.
pub(crate) fn accumulate(dz: &[f32], d_input: &mut [f32]) {
    for (d, &g) in d_input.iter_mut().zip(dz) {
        *d += g;
    }
}

/// The add gate, `z = x + y` (same shape). It distributes: `dx += dz`, `dy += dz`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddGate {
    pub(crate) x: u32,
    pub(crate) y: u32,
}

impl AddGate {
    /// `z[i] = x[i] + y[i]`.
    pub(crate) fn forward(x: &[f32], y: &[f32], z: &mut [f32]) {
        for ((z, &x), &y) in z.iter_mut().zip(x).zip(y) {
            *z = x + y;
        }
    }
}

/// The broadcast add gate, `z[i][j] = x[i][j] + b[j]` for an `m × n` `x` and a `1 × n`
/// bias `b`. Backward: `dx += dz`, `db[j] += Σᵢ dz[i][j]` (column sums).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddBiasGate {
    pub(crate) x: u32,
    pub(crate) b: u32,
}

impl AddBiasGate {
    /// `z = x`, then [`crate::bias_add`] adds `b` to every row.
    pub(crate) fn forward(
        x: &[f32],
        b: &[f32],
        z: &mut [f32],
        rows: usize,
        cols: usize,
    ) -> Result<(), Error> {
        for (z, &x) in z.iter_mut().zip(x) {
            *z = x;
        }
        crate::bias_add(MatMut::row_major(z, rows, cols)?, b)
    }

    /// `db += colsum(dz)`: [`crate::bias_grad`] writes the column sums into `scratch`
    /// (`cols` elements), which are then added to `db`.
    pub(crate) fn backward_bias(
        dz: &[f32],
        db: &mut [f32],
        scratch: &mut [f32],
        rows: usize,
        cols: usize,
    ) -> Result<(), Error> {
        let sums = prefix(scratch, cols)?;
        crate::bias_grad(MatRef::row_major(dz, rows, cols)?, sums)?;
        accumulate(sums, db);
        Ok(())
    }
}

/// The lecture's `MultiplyGate`: `z = x ⊙ y` (elementwise, same shape).
///
/// ```text
/// class MultiplyGate:
///     def forward(x, y):  z = x*y; self.x = x; self.y = y   # must keep these around!
///     def backward(dz):   dx = self.y * dz; dy = self.x * dz
/// ```
///
/// The gate keeps handles to `x` and `y` because its backward needs them: the local
/// gradient of `x·y` with respect to `x` is `y`, and with respect to `y` it is `x`.
/// Backward is one function applied twice with the roles swapped, so that `mul(x, x)`
/// (both handles the same tensor) accumulates both contributions, `2·x·dz`, into `dx`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MultiplyGate {
    pub(crate) x: u32,
    pub(crate) y: u32,
}

impl MultiplyGate {
    /// `z[i] = x[i] · y[i]`.
    pub(crate) fn forward(x: &[f32], y: &[f32], z: &mut [f32]) {
        for ((z, &x), &y) in z.iter_mut().zip(x).zip(y) {
            *z = x * y;
        }
    }

    /// `d_self[i] += other[i] · dz[i]`: with `other = y` this is `dx = self.y * dz`,
    /// with `other = x` it is `dy = self.x * dz`.
    pub(crate) fn backward(other: &[f32], dz: &[f32], d_self: &mut [f32]) {
        for ((d, &o), &g) in d_self.iter_mut().zip(other).zip(dz) {
            *d += o * g;
        }
    }
}

/// The matrix multiply gate, `C = A·B` for `m × k` `A` and `k × n` `B`, on [`crate::gemm()`].
///
/// Backward (`dC` is `m × n`): `dA += dC·Bᵀ` (an `m × n` by `n × k` product) and
/// `dB += Aᵀ·dC` (`k × m` by `m × n`), both as GEMMs with `β = 1` straight into the
/// gradients, the transposes being free [`MatRef::t`] views.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatMulGate {
    pub(crate) a: u32,
    pub(crate) b: u32,
    /// The shared dimension `k`.
    pub(crate) k: usize,
}

impl MatMulGate {
    /// `C = A·B` (β = 0: `C`'s previous contents are not read).
    pub(crate) fn forward(
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        (m, k, n): (usize, usize, usize),
        workspace: &mut [f32],
    ) -> Result<(), Error> {
        crate::gemm(
            1.0,
            MatRef::row_major(a, m, k)?,
            MatRef::row_major(b, k, n)?,
            0.0,
            MatMut::row_major(c, m, n)?,
            workspace,
        )
    }

    /// `dA += dC·Bᵀ`.
    pub(crate) fn backward_a(
        dc: &[f32],
        b: &[f32],
        da: &mut [f32],
        (m, k, n): (usize, usize, usize),
        workspace: &mut [f32],
    ) -> Result<(), Error> {
        crate::gemm(
            1.0,
            MatRef::row_major(dc, m, n)?,
            MatRef::row_major(b, k, n)?.t(),
            1.0,
            MatMut::row_major(da, m, k)?,
            workspace,
        )
    }

    /// `dB += Aᵀ·dC`.
    pub(crate) fn backward_b(
        dc: &[f32],
        a: &[f32],
        db: &mut [f32],
        (m, k, n): (usize, usize, usize),
        workspace: &mut [f32],
    ) -> Result<(), Error> {
        crate::gemm(
            1.0,
            MatRef::row_major(a, m, k)?.t(),
            MatRef::row_major(dc, m, n)?,
            1.0,
            MatMut::row_major(db, k, n)?,
            workspace,
        )
    }
}

/// The max gate, `z = max(x, y)` elementwise (same shape): the gradient router.
///
/// * Forward: `z = x` where `x ≥ y` (ties go to `x`), `z = y` where `x < y`, and
///   `z = NaN` where either is NaN (unlike [`f32::max`], NaN propagates).
/// * Backward: the whole `dz` goes to the input that was chosen: `dx += dz` where
///   `x ≥ y`, `dy += dz` where `x < y`. On a tie only `x` (the first operand) gets
///   the gradient, a valid subgradient. Where either input is NaN both gradients get NaN.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaxGate {
    pub(crate) x: u32,
    pub(crate) y: u32,
}

impl MaxGate {
    /// `z[i] = max(x[i], y[i])`, see the type's docs for ties and NaN.
    pub(crate) fn forward(x: &[f32], y: &[f32], z: &mut [f32]) {
        for ((z, &x), &y) in z.iter_mut().zip(x).zip(y) {
            *z = if x >= y {
                x
            } else if x < y {
                y
            } else {
                f32::NAN
            };
        }
    }

    /// `d_self[i] += dz[i]` where `self` won (`first`: `x ≥ y`; else `x < y`), NaN where
    /// the comparison is unordered.
    pub(crate) fn backward(x: &[f32], y: &[f32], dz: &[f32], d_self: &mut [f32], first: bool) {
        for (((d, &x), &y), &g) in d_self.iter_mut().zip(x).zip(y).zip(dz) {
            let won = if first { x >= y } else { x < y };
            if won {
                *d += g;
            } else if x.is_nan() || y.is_nan() {
                *d = f32::NAN;
            }
        }
    }
}

/// The exponential gate, `z = eˣ` (with `libm::expf`, about 1 ULP). Backward reuses the
/// output, as the lecture's gates keep what they need: `dx += z · dz`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpGate {
    pub(crate) x: u32,
}

impl ExpGate {
    /// `z[i] = e^{x[i]}`: `+inf` above about 88.72, `0` below about −103.97, NaN stays NaN.
    pub(crate) fn forward(x: &[f32], z: &mut [f32]) {
        for (z, &x) in z.iter_mut().zip(x) {
            *z = libm::expf(x);
        }
    }

    /// `dx[i] += z[i] · dz[i]`.
    pub(crate) fn backward(z: &[f32], dz: &[f32], dx: &mut [f32]) {
        MultiplyGate::backward(z, dz, dx);
    }
}

/// An activation gate (sigmoid, ReLU, tanh), `h = f(x)`, on the crate's vectorized
/// [`Activation`] kernels. Backward computes `f'` from the kept *output* `h`:
/// `dx += dh · f'(x)`, with `f' = h(1 − h)` (sigmoid), `[h > 0]` (ReLU), `1 − h²` (tanh).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActivationGate {
    pub(crate) act: Activation,
    pub(crate) x: u32,
}

impl ActivationGate {
    /// `h = f(x)`.
    pub(crate) fn forward(act: Activation, x: &[f32], h: &mut [f32]) -> Result<(), Error> {
        act.forward(x, h)
    }

    /// `dx += dh · f'`: [`Activation::backward`] writes `dh · f'` into `scratch`, which is
    /// then added to `dx`.
    pub(crate) fn backward(
        act: Activation,
        h: &[f32],
        dh: &[f32],
        dx: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let local = prefix(scratch, h.len())?;
        act.backward(dh, h, local)?;
        accumulate(local, dx);
        Ok(())
    }
}

/// The squared-error loss gate, `L = Σᵢ (pᵢ − yᵢ)²` (a `1 × 1` output), on
/// [`crate::squared_error`].
///
/// Backward with upstream scalar gradient `g = dL`: `dp += g · 2(p − y)` and
/// `dy −= g · 2(p − y)` (the target gets a gradient too; it is a tensor like any other).
/// The local gradient `2(p − y)` is recomputed into scratch space rather than kept
/// between the passes, so the node needs no storage beyond its `1 × 1` output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SquaredErrorGate {
    pub(crate) pred: u32,
    pub(crate) target: u32,
}

impl SquaredErrorGate {
    /// `L = Σ (p − y)²`; `scratch` (`p.len()` elements) receives `2(p − y)`.
    pub(crate) fn forward(p: &[f32], y: &[f32], scratch: &mut [f32]) -> Result<f32, Error> {
        let local = prefix(scratch, p.len())?;
        crate::squared_error(p, y, local)
    }

    /// `d_self[i] += sign · g · local[i]`, where `local = 2(p − y)` and `sign` is `+1` for
    /// the prediction and `−1` for the target.
    pub(crate) fn backward(local: &[f32], g: f32, sign: f32, d_self: &mut [f32]) {
        let s = sign * g;
        for (d, &l) in d_self.iter_mut().zip(local) {
            *d += s * l;
        }
    }
}
