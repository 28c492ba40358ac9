//! Networks built from the kernels: the lecture's single [`Neuron`] and the multi-layer
//! perceptron [`Mlp`], trained in place with no allocation (any loss, any optimizer,
//! minibatch epochs, evaluation: [`Evaluation`]), and its parameters saved to and loaded
//! from bytes ([`save`]).

mod mlp;
mod net;
mod neuron;
pub mod safetensors;
pub mod save;
mod step;
mod tiny;
mod train;
mod trainer;

pub use mlp::Mlp;
pub use net::{Net, Train};
pub use neuron::Neuron;
pub use safetensors::SAFETENSORS_MAX_LAYERS;
pub use save::SavedInfo;
pub use train::Evaluation;
pub use trainer::{Network, Trainer};
