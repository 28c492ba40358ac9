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

mod gates;

use core::sync::atomic::{AtomicU32, Ordering};

use crate::Error;
use crate::activation::Activation;
use crate::gemm_workspace_len;
use gates::{
    ActivationGate, AddBiasGate, AddGate, ExpGate, MatMulGate, MaxGate, MultiplyGate,
    SquaredErrorGate, accumulate,
};

/// A handle to one tensor (node) of a [`Graph`]: small, `Copy`, valid only for the graph
/// that made it.
///
/// Every graph gets a 32-bit tag when it is created (from a global atomic counter) and its
/// handles carry it, so a handle passed to another graph is refused with
/// [`Error::InvalidArgument`] (after 2³² graphs the tags wrap around; then the index
/// check still keeps every access in bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor {
    index: u32,
    graph: u32,
}

impl Tensor {
    /// The node's position in insertion (topological) order.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// What a node computes. Gates keep handles (indices) to their inputs, as the lecture's
/// `MultiplyGate` keeps `x` and `y`, because their backward reads the input values.
#[derive(Clone, Copy, Debug)]
enum Op {
    Empty,
    Input,
    Add(AddGate),
    AddBias(AddBiasGate),
    Mul(MultiplyGate),
    MatMul(MatMulGate),
    Max(MaxGate),
    Exp(ExpGate),
    Act(ActivationGate),
    SquaredError(SquaredErrorGate),
}

/// One slot of a graph's node storage.
///
/// Its contents are private to the graph; callers only provide storage:
///
/// ```
/// use microprop::graph::Node;
/// static mut NODES: [Node; 32] = [Node::EMPTY; 32];
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Node {
    op: Op,
    rows: usize,
    cols: usize,
    /// Start of the value in the arena; the gradient follows it.
    offset: usize,
}

impl Node {
    /// An unused slot.
    pub const EMPTY: Node = Node {
        op: Op::Empty,
        rows: 0,
        cols: 0,
        offset: 0,
    };

    /// Elements of the tensor; `rows · cols` was checked not to overflow at creation.
    const fn numel(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    const fn value(&self) -> Span {
        Span {
            start: self.offset,
            len: self.numel(),
        }
    }

    const fn grad(&self) -> Span {
        Span {
            start: self.offset.saturating_add(self.numel()),
            len: self.numel(),
        }
    }
}

impl Default for Node {
    fn default() -> Self {
        Node::EMPTY
    }
}

/// Arena elements one `rows × cols` tensor takes: its value and its gradient,
/// `2 · rows · cols` (saturating).
///
/// The arena of a graph must hold the sum of `tensor_len` over all its nodes plus the
/// largest scratch any one gate needs (see [`Graph`]).
pub const fn tensor_len(rows: usize, cols: usize) -> usize {
    rows.saturating_mul(cols).saturating_mul(2)
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Scratch (GEMM packing space) a [`Graph::matmul`] of an `m × k` by a `k × n` tensor
/// needs: the largest [`gemm_workspace_len`] of its forward `A·B` and its two backward
/// products `dC·Bᵀ` and `Aᵀ·dC`.
pub const fn matmul_scratch_len(m: usize, k: usize, n: usize) -> usize {
    max(
        gemm_workspace_len(m, k, n),
        max(gemm_workspace_len(m, n, k), gemm_workspace_len(k, m, n)),
    )
}

/// Tags of graphs: distinguishes handles of different graphs. Where the target has no
/// atomic read-modify-write (`thumbv6m`) a plain load and store is used: two graphs created
/// at the same instant in two threads may then share a tag, which only weakens the
/// foreign-handle check (every access stays bounds-checked).
static NEXT_TAG: AtomicU32 = AtomicU32::new(0);

/// A contiguous range of the arena.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    const fn end(self) -> usize {
        self.start.saturating_add(self.len)
    }
}

/// Reported if the graph's own bookkeeping were ever inconsistent; it never should be.
const INTERNAL: Error = Error::InvalidArgument {
    what: "graph: internal arena layout inconsistent (please report)",
};

const BAD_HANDLE: Error = Error::InvalidArgument {
    what: "graph: tensor handle from another graph (or out of range)",
};

/// Borrows `out` mutably and each of `ins` immutably from `tensors`. Every range of
/// `ins` must lie entirely before or after `out`; otherwise (a broken invariant) the
/// error is returned, never a panic.
fn split<const N: usize>(
    tensors: &mut [f32],
    out: Span,
    ins: [Span; N],
) -> Result<(&mut [f32], [&[f32]; N]), Error> {
    let (lo, rest) = tensors.split_at_mut_checked(out.start).ok_or(INTERNAL)?;
    let (mid, hi) = rest.split_at_mut_checked(out.len).ok_or(INTERNAL)?;
    let (lo, hi): (&[f32], &[f32]) = (lo, hi);
    let mut res: [&[f32]; N] = [&[]; N];
    for (r, s) in res.iter_mut().zip(ins) {
        *r = if s.len == 0 {
            &[]
        } else if s.end() <= out.start {
            lo.get(s.start..s.end()).ok_or(INTERNAL)?
        } else if s.start >= out.end() {
            hi.get(s.start - out.end()..s.end() - out.end())
                .ok_or(INTERNAL)?
        } else {
            return Err(INTERNAL);
        };
    }
    Ok((mid, res))
}

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

/// A computational graph over caller storage: nodes in `&mut [Node]`, tensors in an
/// `&mut [f32]` arena. See the [module docs](self) for the gates and an example.
///
/// # Arena layout and size
/// Tensors are laid out in creation order from the start of the arena, each as its value
/// (`rows · cols` floats, row-major) followed by its gradient: [`tensor_len`] each. Behind
/// them lies one scratch region shared by all gates, as long as the largest need of any
/// gate: [`matmul_scratch_len`] for a matmul, the number of elements of the input for
/// sigmoid/relu/tanh and the squared error, the number of columns for `add_bias`, nothing
/// for the others. [`Graph::arena_needed`] reports the total so far; when a new node does
/// not fit, [`Error::ArenaFull`] reports what the graph *with* that node needs.
///
/// # Determinism
/// Each pass does the same arithmetic in the same order every time, so the same graph
/// with the same inputs gives bit-identical values and gradients on the same instruction
/// set ([`crate::simd::Isa`]); different instruction sets may differ by rounding.
#[derive(Debug)]
pub struct Graph<'a> {
    nodes: &'a mut [Node],
    len: usize,
    arena: &'a mut [f32],
    /// Arena elements taken by tensors (values and gradients).
    used: usize,
    /// Scratch elements the gates need, placed at `arena[used..used + scratch]`.
    scratch: usize,
    tag: u32,
}

impl<'a> Graph<'a> {
    /// An empty graph over the caller's node storage and tensor arena. Their previous
    /// contents do not matter; every tensor is zeroed when it is created.
    ///
    /// At most `u32::MAX` nodes are used, whatever the length of `nodes`.
    pub fn new(nodes: &'a mut [Node], arena: &'a mut [f32]) -> Self {
        #[cfg(target_has_atomic = "32")]
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        #[cfg(not(target_has_atomic = "32"))]
        let tag = {
            let tag = NEXT_TAG.load(Ordering::Relaxed);
            NEXT_TAG.store(tag.wrapping_add(1), Ordering::Relaxed);
            tag
        };
        Graph {
            nodes,
            len: 0,
            arena,
            used: 0,
            scratch: 0,
            tag,
        }
    }

    /// Number of nodes created so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no node has been created yet.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many nodes the node storage holds.
    pub fn capacity(&self) -> usize {
        self.nodes.len().min(u32::MAX as usize)
    }

    /// Arena elements the graph built so far needs: its tensors plus the largest scratch.
    pub const fn arena_needed(&self) -> usize {
        self.used + self.scratch
    }

    /// The node a handle refers to, if the handle is this graph's.
    fn node(&self, t: Tensor) -> Result<Node, Error> {
        if t.graph != self.tag {
            return Err(BAD_HANDLE);
        }
        self.node_at(t.index as usize).ok_or(BAD_HANDLE)
    }

    fn node_at(&self, i: usize) -> Option<Node> {
        if i < self.len {
            self.nodes.get(i).copied()
        } else {
            None
        }
    }

    fn input_node(&self, i: u32) -> Result<Node, Error> {
        self.node_at(i as usize).ok_or(INTERNAL)
    }

    /// Appends a node with a fresh, zeroed `rows × cols` tensor.
    fn push(&mut self, op: Op, rows: usize, cols: usize, scratch: usize) -> Result<Tensor, Error> {
        let capacity = self.capacity();
        if self.len >= capacity {
            return Err(Error::GraphFull { capacity });
        }
        let overflow = Error::Overflow {
            what: "graph: tensor size",
        };
        let n = rows.checked_mul(cols).ok_or(overflow)?;
        let two_n = n.checked_mul(2).ok_or(overflow)?;
        let used = self.used.checked_add(two_n).ok_or(overflow)?;
        let scratch = max(self.scratch, scratch);
        let needed = used.checked_add(scratch).ok_or(overflow)?;
        if needed > self.arena.len() {
            return Err(Error::ArenaFull {
                needed,
                len: self.arena.len(),
            });
        }
        let index = u32::try_from(self.len).map_err(|_| Error::GraphFull { capacity })?;
        let slot = self.nodes.get_mut(self.len).ok_or(INTERNAL)?;
        *slot = Node {
            op,
            rows,
            cols,
            offset: self.used,
        };
        self.arena
            .get_mut(self.used..used)
            .ok_or(INTERNAL)?
            .fill(0.0);
        self.len += 1;
        self.used = used;
        self.scratch = scratch;
        Ok(Tensor {
            index,
            graph: self.tag,
        })
    }

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

    /// Overwrites a tensor's value with `values` (row-major). Meant for inputs and
    /// parameters; a gate's output is overwritten again by the next [`Graph::forward`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph; [`Error::ShapeMismatch`]
    /// if `values.len()` is not the tensor's `rows · cols`.
    pub fn set_value(&mut self, t: Tensor, values: &[f32]) -> Result<(), Error> {
        let dst = self.value_mut(t)?;
        if dst.len() != values.len() {
            let node = self.node(t)?;
            return Err(Error::ShapeMismatch {
                what: "graph set_value: values.len() must be rows * cols",
                expected: (node.rows, node.cols),
                found: (1, values.len()),
            });
        }
        dst.copy_from_slice(values);
        Ok(())
    }

    /// A tensor's value (row-major), as the last [`Graph::forward`] left it for a gate's
    /// output (zeros before the first forward).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph.
    pub fn value(&self, t: Tensor) -> Result<&[f32], Error> {
        let s = self.node(t)?.value();
        self.arena.get(s.start..s.end()).ok_or(INTERNAL)
    }

    /// A tensor's value, writable (for parameter updates by your own optimizer).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph.
    pub fn value_mut(&mut self, t: Tensor) -> Result<&mut [f32], Error> {
        let s = self.node(t)?.value();
        self.arena.get_mut(s.start..s.end()).ok_or(INTERNAL)
    }

    /// The gradient of the last [`Graph::backward`]'s output with respect to this
    /// tensor (row-major, the tensor's shape). Zeros before the first backward, and for
    /// nodes the output does not depend on.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph.
    pub fn grad(&self, t: Tensor) -> Result<&[f32], Error> {
        let s = self.node(t)?.grad();
        self.arena.get(s.start..s.end()).ok_or(INTERNAL)
    }

    /// The tensor's shape `(rows, cols)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph.
    pub fn shape(&self, t: Tensor) -> Result<(usize, usize), Error> {
        let n = self.node(t)?;
        Ok((n.rows, n.cols))
    }

    /// One step of gradient descent on a parameter: `value −= lr · grad`, with
    /// [`crate::sgd_update`] (the lecture's `w1 -= 1e-4 * grad_w1`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph, [`Error::NonFinite`] if
    /// `lr` is not finite (nothing is written then).
    pub fn sgd_update(&mut self, t: Tensor, lr: f32) -> Result<(), Error> {
        let node = self.node(t)?;
        let tensors = self.arena.get_mut(..self.used).ok_or(INTERNAL)?;
        let (value, [grad]) = split(tensors, node.value(), [node.grad()])?;
        crate::sgd_update(value, grad, lr)
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

    /// The arena split into the tensor region and the scratch region.
    fn regions(&mut self) -> Result<(&mut [f32], &mut [f32]), Error> {
        let (tensors, rest) = self.arena.split_at_mut_checked(self.used).ok_or(INTERNAL)?;
        let scratch = rest.get_mut(..self.scratch).ok_or(INTERNAL)?;
        Ok((tensors, scratch))
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
