//! # microprop
//!
//! Train small neural networks, dense and convolutional, with SIMD kernels that never
//! allocate: the ideas of a lecture on backpropagation (Stanford CS231n, Lecture 4,
//! "Backpropagation and Neural Networks": gates with `forward`/`backward`, a 2-layer
//! network trained by gradient descent, a sigmoid neuron, a 3-layer forward pass) as
//! fast, tested, `no_std` kernels over flat `&[f32]` buffers and a caller-provided
//! workspace, and networks of dense, convolutional and pooling layers trained on them
//! with no allocation, on a desktop or in firmware.
//!
//! # Quick start
//! XOR with a 2-3-1 sigmoid network: every buffer is the caller's, sized by `const fn`s,
//! and a training step allocates nothing.
//!
//! ```
//! use microprop::{Activation::Sigmoid, nn::Mlp};
//!
//! const SIZES: [usize; 3] = [2, 3, 1];
//! let net = Mlp::new(&SIZES, &[Sigmoid, Sigmoid], true)?;
//! let mut params = [0.0f32; Mlp::param_len(&SIZES, true)];
//! let mut work = [0.0f32; Mlp::workspace_len(&SIZES, 4)];
//! // Small fixed weights; `Mlp::init` draws Xavier or He weights from any rand_core Rng.
//! for (i, p) in params.iter_mut().enumerate() {
//!     *p = [0.9, -0.7, 0.4, -0.8, 0.6, 0.5][i % 6];
//! }
//! let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]; // 4 rows of 2 inputs
//! let y = [0.0, 1.0, 1.0, 0.0];
//! let mut loss = f32::INFINITY;
//! for _ in 0..5000 {
//!     loss = net.train_step(&mut params, &x, &y, 0.5, &mut work)?; // Σ(a − y)², then SGD
//! }
//! assert!(loss < 0.05, "loss {loss}");
//! let mut out = [0.0f32; 4];
//! let mut fwork = [0.0f32; Mlp::forward_workspace_len(&SIZES, 4)];
//! net.forward(&params, &x, &mut out, &mut fwork)?;
//! assert!(out[1] > 0.5 && out[2] > 0.5 && out[0] < 0.5 && out[3] < 0.5);
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! * [`gemm`]: `C ← α·A·B + β·C` over strided [`MatRef`]/[`MatMut`] views, blocked and
//!   packed into the caller's workspace ([`gemm_workspace_len`]).
//! * [`activation`]: [`sigmoid`], ReLU, tanh, identity, and their fused backward passes
//!   ([`sigmoid_backward`]).
//! * [`loss`]: each [`Loss`] (sum and mean of squares, softmax and binary cross-entropy on
//!   logits) fused with its gradient; [`squared_error`], the lecture's.
//! * [`optim`]: the [`Optimizer`] trait, [`Sgd`] (momentum, Nesterov, weight decay) and
//!   [`Adam`] (and AdamW) over caller-owned state sized by `const fn`s, learning-rate
//!   [schedules](optim::schedule) and [gradient clipping](optim::clip_grad_norm); the
//!   lecture's [`sgd_update`], and [`bias_add`], [`bias_grad`].
//! * [`layer`]: the layer kinds (dense, 1-D and 2-D convolutions, max and average
//!   pooling, global average pooling, flatten) over channels-last [`Shape`](layer::Shape)s.
//! * [`nn`]: [`Net`](nn::Net), a `const` list of layers checked when it is built; the
//!   lecture's [`Neuron`](nn::Neuron) and [`Mlp`](nn::Mlp), the dense special case; a
//!   training step runs forward, loss, backward and the update with no allocation, and a
//!   [`Trainer`](nn::Trainer) holds a session's buffers. Weights are saved to a
//!   checksummed blob ([`nn::save`]) or to safetensors files ([`nn::safetensors`]).
//! * [`graph`]: the lecture's computational graph of gates, in caller storage.
//! * [`init`]: Xavier/Glorot and He/Kaiming weight initialisation from any
//!   [`rand_core::Rng`]; [`rng`]: [`SplitMix64`], a small seeded `no_std` generator that
//!   is one (not cryptographic).
//! * [`par`]: large products and training steps split into parts that any
//!   [`Executor`](par::Executor) runs on several cores, bit-identical for any number of
//!   parts ([`gemm_on`], [`Mlp::on`](nn::Mlp::on)); a rayon pool with the `rayon` feature.
//! * [`data`]: shuffled minibatches gathered into caller batch buffers (from `f32`,
//!   byte or little-endian `f32` byte sources), standardised with the training rows'
//!   statistics ([`data::Standardize`]); [`metrics`]: predicted classes (argmax, or a
//!   single output read as a logit), accuracy and the confusion matrix.
//!
//! Every kernel is written once over a small SIMD trait and instantiated per instruction
//! set ([`simd::Isa`]); the choice is made once, at runtime with `std`.
//!
//! # Where things go
//! The layers, bottom up (each calls only the ones below it):
//!
//! | layer | files | a new … goes |
//! |---|---|---|
//! | views, errors | `mat.rs`, `error.rs` | error: a variant of [`Error`] with a `Display` that says what to fix |
//! | SIMD | `simd/` (`math.rs` the vector math: `e^{−x}`, sigmoid, tanh, logarithms) | instruction set: a backend file implementing the `Simd` trait, a variant of [`simd::Isa`], its arm in `dispatch`, its tiles in `gemm/tiles.rs`; elementwise math (an activation's vector form, a loss's elementary function): a function over `Simd` in `simd/math.rs` |
//! | kernels | `gemm/`, `activation.rs`, `loss/`, `optim/`, `window/` (im2col, col2im, pooling, depthwise convolution over channels-last images) | activation: one type in `activation.rs` (see its docs); loss: a file in `loss/` (see [`loss`]); optimizer: a file in `optim/` (see [`optim`]) |
//! | parts | `par.rs` (the split: `gemm/loops.rs`) | executor: a type implementing [`par::Executor`] (in the crate only if it needs no dependency beyond a feature) |
//! | trainer | `init.rs`, `rng.rs`, `data.rs`, `metrics.rs` | initialiser: a variant of [`init::Init`] |
//! | layers | `layer/` (`mod.rs` the dispatch, `dense.rs`, `conv.rs`, `pool.rs`, `flatten.rs`) | layer kind: a file in `layer/` and a variant of [`layer::Layer`] (see [`layer`], "How to add a layer kind") |
//! | networks | `nn/` (`step.rs` the step and the forward pass over the layers, `net.rs` and `mlp.rs` the networks, `trainer.rs` the session, `train.rs` epochs and evaluation, `save.rs` the blob, `safetensors.rs`) | nothing, for a new activation, loss or optimizer: the step takes them as arguments; nothing for a new layer kind beyond `layer/` |
//! | graph | `graph/` (`store.rs`, `build.rs`, `pass.rs`, `gates.rs`) | gate: a gate type in `gates.rs`, an `Op` variant in `store.rs`, its builder method in `build.rs`, its forward and backward arms in `pass.rs` |
//!
//! `unsafe` stays in the kernel layers (`simd/`, `gemm/`, `window/simd.rs` and the
//! elementwise kernels), behind safe crate-internal functions that validate once;
//! `layer/`, `nn/` and `graph/` have none.
//!
//! # Features
//! * `std` (default): runtime CPU detection (cached), the `MICROPROP_ISA` override and
//!   `simd::with_isa`. Without it the crate is `#![no_std]`, needs no allocator, and
//!   chooses the instruction set from compile-time target features.
//! * `rayon`: [`par`]'s `Rayon` executor, the parts of large products and training steps
//!   on a rayon thread pool. The split itself ([`par::Executor`], [`gemm_on`],
//!   [`Mlp::on`](nn::Mlp::on)) is in every build.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The unit tests use `std` (their harness links it) with or without the feature.
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod activation;
pub mod data;
mod dot;
mod error;
mod gemm;
pub mod graph;
pub mod init;
pub mod layer;
pub mod loss;
pub mod mat;
pub mod metrics;
pub mod optim;
pub mod par;
pub mod rng;
pub mod simd;
mod window;

pub use activation::{
    Activation, relu, sigmoid, sigmoid_backward, sigmoid_inplace, sigmoid_scalar, tanh,
};
pub use dot::dot;
pub use error::Error;
pub use gemm::{gemm, gemm_on, gemm_on_workspace_len, gemm_scalar, gemm_workspace_len};
pub use loss::{Loss, Target, squared_error, squared_error_scalar};
pub use mat::{MatMut, MatRef};
pub use optim::{
    Adam, AdamConfig, Optimizer, Sgd, SgdConfig, bias_add, bias_grad, sgd_update, sgd_update_scalar,
};
pub use rng::SplitMix64;
pub mod nn;

/// The README's code blocks, compiled and run as doctests (not under Miri: the tour trains
/// the lecture's 1000×1000 network, hours in the interpreter).
#[cfg(all(doctest, not(miri)))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
