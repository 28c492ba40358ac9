//! The lecture's computational graph, in caller storage.
//!
//! ```text
//! class ComputationalGraph:
//!     def forward(inputs):
//!         for gate in self.graph.nodes_topologically_sorted(): gate.forward()
//!     def backward():
//!         for gate in reversed(self.graph.nodes_topologically_sorted()): gate.backward()
//! ```
//!
//! A [`Graph`] borrows two caller buffers: node storage (`&mut [Node]`, a `static` works:
//! `[Node::EMPTY; 32]`) and an `f32` arena that holds every tensor's value *and*
//! gradient plus the scratch space the gates need (GEMM packing, local gradients). Nothing
//! is allocated. Each node is a tensor: an input you fill, or the output of a gate over
//! earlier tensors. Creating a node returns a [`Tensor`] handle. A gate can only refer to
//! nodes that already exist, so insertion order is a topological order: [`Graph::forward`]
//! runs the gates in that order and [`Graph::backward`] runs them reversed.
//!
//! # Gates
//! Shapes are `(rows, cols)`, row-major; scalars are `1 × 1`. `dz` is the gradient
//! arriving at the gate's output; backward *adds* to the input gradients, so a tensor
//! used twice (e.g. `mul(x, x)`) receives both contributions.
//!
//! | gate | forward | backward |
//! |---|---|---|
//! | [`add`](Graph::add) | `z = x + y` | `dx += dz`, `dy += dz` |
//! | [`add_bias`](Graph::add_bias) | `z[i][j] = x[i][j] + b[j]` (`b` is `1 × n`) | `dx += dz`, `db[j] += Σᵢ dz[i][j]` |
//! | [`mul`](Graph::mul) | `z = x ⊙ y` | `dx += y ⊙ dz`, `dy += x ⊙ dz` |
//! | [`matmul`](Graph::matmul) | `C = A·B` | `dA += dC·Bᵀ`, `dB += Aᵀ·dC` |
//! | [`max`](Graph::max) | `z = max(x, y)` | `dz` to `x` where `x ≥ y` (ties to `x`), else to `y` |
//! | [`exp`](Graph::exp) | `z = eˣ` | `dx += z ⊙ dz` |
//! | [`sigmoid`](Graph::sigmoid) | `h = 1/(1 + e⁻ˣ)` | `dx += dh ⊙ h ⊙ (1 − h)` |
//! | [`relu`](Graph::relu) | `h = max(x, 0)` | `dx += dh` where `h > 0` |
//! | [`tanh`](Graph::tanh) | `h = tanh x` | `dx += dh ⊙ (1 − h²)` |
//! | [`squared_error`](Graph::squared_error) | `L = Σ (p − y)²`, `1 × 1` | `dp += dL·2(p − y)`, `dy −= dL·2(p − y)` |
//!
//! # Why convolutions and pooling are not gates
//! The graph stays the lecture's engine, of 2-D tensors and elementwise or matrix gates.
//! A [`layer`](crate::layer) is not one of its gates, for three reasons that a gate over
//! the same kernels would not remove cheaply: a layer's tensors have a shape of three
//! axes (`h × w × c`, channels last) where a gate's are `(rows, cols)`; its backward pass
//! *writes* its input gradient (and keeps max pooling's argmax and a 2-D convolution's padded
//! input in a workspace laid out for the whole network) where a gate *adds* into
//! gradients that persist in the arena, so each layer gate would need its own scratch and
//! an extra pass to accumulate; and a layer's parameters live in one flat buffer beside
//! its description, where the graph's are arena tensors. Networks of layers train with
//! [`Net`](crate::nn::Net) and a [`Trainer`](crate::nn::Trainer); the graph shows how the
//! gradients flow, gate by gate.
//!
//! # Non-finite values
//! NaN and infinities are not errors: they propagate through forward and backward as IEEE
//! arithmetic says (`0 · inf = NaN` in a backward product, for instance). The exceptions
//! follow the kernels: ReLU's backward passes `0` where its output is NaN (`NaN > 0` is
//! false), the vectorized sigmoid flushes outputs below the normal range to `+0`
//! (see [`crate::activation`]), and `max` makes NaN win (forward and backward). Check the
//! loss with [`f32::is_finite`] before you use its gradients.
//!
//! # Example: the lecture's `f = (x + y)·z`
//! ```
//! use microprop::graph::{Graph, Node};
//! let mut nodes = [Node::EMPTY; 8];
//! let mut arena = [0.0f32; 32];
//! let mut g = Graph::new(&mut nodes, &mut arena);
//! let x = g.scalar(-2.0)?;
//! let y = g.scalar(5.0)?;
//! let z = g.scalar(-4.0)?;
//! let q = g.add(x, y)?;
//! let f = g.mul(q, z)?;
//! g.forward()?;
//! g.backward(f)?;
//! assert_eq!(g.value(f)?, &[-12.0]);
//! assert_eq!((g.grad(x)?, g.grad(y)?, g.grad(z)?), (&[-4.0][..], &[-4.0][..], &[3.0][..]));
//! # Ok::<(), microprop::Error>(())
//! ```

mod build;
mod gates;
mod pass;
mod store;

pub use store::{Graph, Node, Tensor, matmul_scratch_len, tensor_len};
