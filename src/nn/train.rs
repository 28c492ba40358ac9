//! What a trainer needs around [`Mlp`]'s step: initialisation of the flat parameter
//! buffer, and evaluation (loss without gradients, prediction, accuracy).

use super::Mlp;
use crate::Error;
use crate::init::{Init, init_weights};
use rand_core::Rng;

impl Mlp<'_> {
    /// Initialises `params` for training: each layer's `W_l` drawn by `init` with
    /// `fan_in = d_{l−1}` and `fan_out = d_l` (PyTorch's fans for `nn.Linear`), every bias
    /// zero. The generator is called a fixed number of times per layer, so a seeded
    /// generator gives the same parameters on every target.
    ///
    /// Pick [`Init::HeUniform`] or [`Init::HeNormal`] for ReLU layers and the Xavier
    /// variants for sigmoid, tanh and identity layers; one `init` serves every layer.
    ///
    /// ```
    /// use microprop::{Activation::*, init::Init, nn::Mlp};
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let sizes = [64, 32, 10];
    /// let net = Mlp::new(&sizes, &[Relu, Identity], true)?;
    /// let mut params = vec![0.0f32; Mlp::param_len(&sizes, true)];
    /// net.init(&mut params, Init::HeUniform, &mut StdRng::seed_from_u64(1))?;
    /// let (w1, b1) = net.layer(&params, 0)?;
    /// assert_eq!((w1.rows(), w1.cols()), (64, 32));
    /// assert!(b1.unwrap().iter().all(|&b| b == 0.0));
    /// # Ok::<(), microprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != Mlp::param_len` (nothing is written).
    pub fn init(&self, params: &mut [f32], init: Init, rng: &mut impl Rng) -> Result<(), Error> {
        self.check_param_len(params.len())?;
        for l in 0..self.layers() {
            let (w, b) = self.layer_slices_mut(params, l);
            init_weights(w, self.sizes[l], self.sizes[l + 1], init, rng)?;
            if let Some(b) = b {
                b.fill(0.0);
            }
        }
        Ok(())
    }
}
