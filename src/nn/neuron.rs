//! The lecture's single sigmoid neuron (`neuron_tick`).

use crate::activation::sigmoid_scalar;
use crate::error::check_len;
use crate::{Error, dot};

/// One neuron: `firing_rate = σ(Σ inputs·weights + bias)`.
///
/// ```
/// use microprop::nn::Neuron;
/// let n = Neuron { weights: &[2.0, -3.0], bias: -3.0 };
/// let rate = n.tick(&[-1.0, -2.0])?; // the lecture's circuit: σ(1) ≈ 0.731
/// assert!((rate - 0.731_058_6).abs() < 1e-6);
/// # Ok::<(), microprop::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Neuron<'a> {
    /// One weight per input.
    pub weights: &'a [f32],
    /// Added to the weighted sum.
    pub bias: f32,
}

impl Neuron<'_> {
    /// The lecture's `neuron_tick`: `σ(inputs · weights + bias)`, the dot product
    /// vectorized, the sigmoid the accurate scalar one (see [`sigmoid_scalar`]).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `inputs.len() != weights.len()`.
    pub fn tick(&self, inputs: &[f32]) -> Result<f32, Error> {
        Ok(sigmoid_scalar(self.cell_body_sum(inputs)?))
    }

    /// The pre-activation `inputs · weights + bias`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `inputs.len() != weights.len()`.
    pub fn cell_body_sum(&self, inputs: &[f32]) -> Result<f32, Error> {
        Ok(dot(inputs, self.weights)? + self.bias)
    }

    /// Backward pass of [`tick`](Neuron::tick): given `d_rate = ∂L/∂rate`, writes
    /// `d_weights[i] = ∂L/∂weights[i] = d_rate·σ'·inputs[i]` and returns `∂L/∂bias`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths of `inputs`, `weights`, `d_weights` differ
    /// (nothing is written).
    pub fn backward(
        &self,
        inputs: &[f32],
        d_rate: f32,
        d_weights: &mut [f32],
    ) -> Result<f32, Error> {
        check_len(
            "Neuron::backward: d_weights.len() != weights.len()",
            self.weights.len(),
            d_weights.len(),
        )?;
        let rate = self.tick(inputs)?;
        let dz = d_rate * rate * (1.0 - rate);
        for (dw, x) in d_weights.iter_mut().zip(inputs) {
            *dw = dz * x;
        }
        Ok(dz)
    }
}
