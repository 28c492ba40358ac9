//! Networks built from the kernels: the lecture's single [`Neuron`] and the multi-layer
//! perceptron [`Mlp`], trained in place with no allocation.

mod mlp;
mod neuron;

pub use mlp::Mlp;
pub use neuron::Neuron;
