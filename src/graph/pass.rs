//! The interpreter: [`Graph::forward`] runs every gate's forward in insertion
//! (topological) order, [`Graph::backward`] their backward in reverse.

use super::gates::{
    ActivationGate, AddBiasGate, AddGate, ExpGate, MatMulGate, MaxGate, MultiplyGate,
    SquaredErrorGate, accumulate,
};
use super::store::{Graph, INTERNAL, Op, Tensor, split};
use crate::Error;

impl Graph<'_> {
    // ----- the passes --------------------------------------------------------------------

    /// Runs every gate's forward in insertion (topological) order, overwriting each gate's
    /// output value. Inputs keep their values. Allocation-free.
    ///
    /// # Errors
    /// None in practice: every shape was checked when the node was created. Errors from
    /// the kernels are passed on rather than panicking.
    pub fn forward(&mut self) -> Result<(), Error> {
        for i in 0..self.len {
            self.forward_node(i)?;
        }
        Ok(())
    }

    /// Backpropagation from `output` (a `1 × 1` tensor, typically a loss): zeroes every
    /// gradient, seeds `d output = 1`, then runs the backward of `output` and of every
    /// earlier gate in reverse insertion order, each adding its contributions to its inputs'
    /// gradients. Read them with [`Graph::grad`].
    ///
    /// It uses the values of the last [`Graph::forward`]: call that first (after any
    /// [`Graph::set_value`]). Gates created after `output` cannot affect it and are
    /// skipped; their gradients are zero.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a foreign handle; [`Error::ShapeMismatch`] if
    /// `output` is not `1 × 1` (nothing is changed then).
    pub fn backward(&mut self, output: Tensor) -> Result<(), Error> {
        let out = self.node(output)?;
        if (out.rows, out.cols) != (1, 1) {
            return Err(Error::ShapeMismatch {
                what: "graph backward: the output must be a 1 x 1 scalar (e.g. a loss)",
                expected: (1, 1),
                found: (out.rows, out.cols),
            });
        }
        for i in 0..self.len {
            let s = self.node_at(i).ok_or(INTERNAL)?.grad();
            self.arena
                .get_mut(s.start..s.end())
                .ok_or(INTERNAL)?
                .fill(0.0);
        }
        let seed = out.grad().start;
        *self.arena.get_mut(seed).ok_or(INTERNAL)? = 1.0;
        for i in (0..=output.index()).rev() {
            self.backward_node(i)?;
        }
        Ok(())
    }

    fn forward_node(&mut self, i: usize) -> Result<(), Error> {
        let node = self.node_at(i).ok_or(INTERNAL)?;
        let out = node.value();
        match node.op {
            Op::Empty | Op::Input => Ok(()),
            Op::Add(g) => {
                let (x, y) = (self.input_node(g.x)?, self.input_node(g.y)?);
                let (tensors, _) = self.regions()?;
                let (z, [x, y]) = split(tensors, out, [x.value(), y.value()])?;
                AddGate::forward(x, y, z);
                Ok(())
            }
            Op::AddBias(g) => {
                let (x, b) = (self.input_node(g.x)?, self.input_node(g.b)?);
                let (tensors, _) = self.regions()?;
                let (z, [x, b]) = split(tensors, out, [x.value(), b.value()])?;
                AddBiasGate::forward(x, b, z, node.rows, node.cols)
            }
            Op::Mul(g) => {
                let (x, y) = (self.input_node(g.x)?, self.input_node(g.y)?);
                let (tensors, _) = self.regions()?;
                let (z, [x, y]) = split(tensors, out, [x.value(), y.value()])?;
                MultiplyGate::forward(x, y, z);
                Ok(())
            }
            Op::MatMul(g) => {
                let (a, b) = (self.input_node(g.a)?, self.input_node(g.b)?);
                let (tensors, scratch) = self.regions()?;
                let (c, [a, b]) = split(tensors, out, [a.value(), b.value()])?;
                MatMulGate::forward(a, b, c, (node.rows, g.k, node.cols), scratch)
            }
            Op::Max(g) => {
                let (x, y) = (self.input_node(g.x)?, self.input_node(g.y)?);
                let (tensors, _) = self.regions()?;
                let (z, [x, y]) = split(tensors, out, [x.value(), y.value()])?;
                MaxGate::forward(x, y, z);
                Ok(())
            }
            Op::Exp(g) => {
                let x = self.input_node(g.x)?;
                let (tensors, _) = self.regions()?;
                let (z, [x]) = split(tensors, out, [x.value()])?;
                ExpGate::forward(x, z);
                Ok(())
            }
            Op::Act(g) => {
                let x = self.input_node(g.x)?;
                let (tensors, _) = self.regions()?;
                let (h, [x]) = split(tensors, out, [x.value()])?;
                ActivationGate::forward(g.act, x, h)
            }
            Op::SquaredError(g) => {
                let (p, y) = (self.input_node(g.pred)?, self.input_node(g.target)?);
                let (tensors, scratch) = self.regions()?;
                let (l, [p, y]) = split(tensors, out, [p.value(), y.value()])?;
                let loss = SquaredErrorGate::forward(p, y, scratch)?;
                *l.first_mut().ok_or(INTERNAL)? = loss;
                Ok(())
            }
        }
    }

    fn backward_node(&mut self, i: usize) -> Result<(), Error> {
        let node = self.node_at(i).ok_or(INTERNAL)?;
        let dz = node.grad();
        match node.op {
            Op::Empty | Op::Input => Ok(()),
            Op::Add(g) => {
                for input in [g.x, g.y] {
                    let x = self.input_node(input)?;
                    let (tensors, _) = self.regions()?;
                    let (dx, [dz]) = split(tensors, x.grad(), [dz])?;
                    accumulate(dz, dx);
                }
                Ok(())
            }
            Op::AddBias(g) => {
                let (x, b) = (self.input_node(g.x)?, self.input_node(g.b)?);
                let (tensors, scratch) = self.regions()?;
                let (dx, [dz_x]) = split(tensors, x.grad(), [dz])?;
                accumulate(dz_x, dx);
                let (db, [dz]) = split(tensors, b.grad(), [dz])?;
                AddBiasGate::backward_bias(dz, db, scratch, node.rows, node.cols)
            }
            Op::Mul(g) => {
                // dx = self.y * dz, then dy = self.x * dz: the same function, roles swapped.
                let (x, y) = (self.input_node(g.x)?, self.input_node(g.y)?);
                let (tensors, _) = self.regions()?;
                let (dx, [y_val, dz_]) = split(tensors, x.grad(), [y.value(), dz])?;
                MultiplyGate::backward(y_val, dz_, dx);
                let (dy, [x_val, dz_]) = split(tensors, y.grad(), [x.value(), dz])?;
                MultiplyGate::backward(x_val, dz_, dy);
                Ok(())
            }
            Op::MatMul(g) => {
                let (a, b) = (self.input_node(g.a)?, self.input_node(g.b)?);
                let dims = (node.rows, g.k, node.cols);
                let (tensors, scratch) = self.regions()?;
                let (da, [b_val, dc]) = split(tensors, a.grad(), [b.value(), dz])?;
                MatMulGate::backward_a(dc, b_val, da, dims, scratch)?;
                let (db, [a_val, dc]) = split(tensors, b.grad(), [a.value(), dz])?;
                MatMulGate::backward_b(dc, a_val, db, dims, scratch)
            }
            Op::Max(g) => {
                let (x, y) = (self.input_node(g.x)?, self.input_node(g.y)?);
                let (tensors, _) = self.regions()?;
                let (dx, [xv, yv, dz_]) = split(tensors, x.grad(), [x.value(), y.value(), dz])?;
                MaxGate::backward(xv, yv, dz_, dx, true);
                let (dy, [xv, yv, dz_]) = split(tensors, y.grad(), [x.value(), y.value(), dz])?;
                MaxGate::backward(xv, yv, dz_, dy, false);
                Ok(())
            }
            Op::Exp(g) => {
                let x = self.input_node(g.x)?;
                let (tensors, _) = self.regions()?;
                let (dx, [z, dz]) = split(tensors, x.grad(), [node.value(), dz])?;
                ExpGate::backward(z, dz, dx);
                Ok(())
            }
            Op::Act(g) => {
                let x = self.input_node(g.x)?;
                let (tensors, scratch) = self.regions()?;
                let (dx, [h, dh]) = split(tensors, x.grad(), [node.value(), dz])?;
                ActivationGate::backward(g.act, h, dh, dx, scratch)
            }
            Op::SquaredError(g) => {
                let (p, y) = (self.input_node(g.pred)?, self.input_node(g.target)?);
                let (tensors, scratch) = self.regions()?;
                let (p_val, y_val) = (
                    tensors.get(p.value().start..p.value().end()),
                    tensors.get(y.value().start..y.value().end()),
                );
                let (p_val, y_val) = (p_val.ok_or(INTERNAL)?, y_val.ok_or(INTERNAL)?);
                // The local gradient 2(p − y), recomputed rather than kept.
                SquaredErrorGate::forward(p_val, y_val, scratch)?;
                let local = scratch.get(..p.numel()).ok_or(INTERNAL)?;
                let dl = *tensors.get(dz.start).ok_or(INTERNAL)?;
                let dp = tensors.get_mut(p.grad().start..p.grad().end());
                SquaredErrorGate::backward(local, dl, 1.0, dp.ok_or(INTERNAL)?);
                let dy = tensors.get_mut(y.grad().start..y.grad().end());
                SquaredErrorGate::backward(local, dl, -1.0, dy.ok_or(INTERNAL)?);
                Ok(())
            }
        }
    }
}
