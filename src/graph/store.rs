//! Storage: tensor handles and their tags, the node slots, and the arena where every
//! tensor's value and gradient live (plus one scratch region shared by the gates).

use core::sync::atomic::{AtomicU32, Ordering};

use super::gates::{
    ActivationGate, AddBiasGate, AddGate, ExpGate, MatMulGate, MaxGate, MultiplyGate,
    SquaredErrorGate,
};
use crate::Error;
use crate::gemm_workspace_len;
use crate::optim::Optimizer;

/// A handle to one tensor (node) of a [`Graph`]: small, `Copy`, valid only for the graph
/// that made it.
///
/// Every graph gets a 32-bit tag when it is created (from a global atomic counter) and its
/// handles carry it, so a handle passed to another graph is refused with
/// [`Error::InvalidArgument`] (after 2³² graphs the tags wrap around; then the index
/// check still keeps every access in bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor {
    pub(super) index: u32,
    pub(super) graph: u32,
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
pub(super) enum Op {
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
    pub(super) op: Op,
    pub(super) rows: usize,
    pub(super) cols: usize,
    /// Start of the value in the arena; the gradient follows it.
    pub(super) offset: usize,
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
    pub(super) const fn numel(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    pub(super) const fn value(&self) -> Span {
        Span {
            start: self.offset,
            len: self.numel(),
        }
    }

    pub(super) const fn grad(&self) -> Span {
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
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) len: usize,
}

impl Span {
    pub(super) const fn end(self) -> usize {
        self.start.saturating_add(self.len)
    }
}

/// Reported if the graph's own bookkeeping were ever inconsistent; it never should be.
pub(super) const INTERNAL: Error = Error::InvalidArgument {
    what: "graph: internal arena layout inconsistent (please report)",
};

const BAD_HANDLE: Error = Error::InvalidArgument {
    what: "graph: tensor handle from another graph (or out of range)",
};

/// Borrows `out` mutably and each of `ins` immutably from `tensors`. Every range of
/// `ins` must lie entirely before or after `out`; otherwise (a broken invariant) the
/// error is returned, never a panic.
pub(super) fn split<const N: usize>(
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

/// A computational graph over caller storage: nodes in `&mut [Node]`, tensors in an
/// `&mut [f32]` arena. See the [module docs](super) for the gates and an example.
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
    pub(super) len: usize,
    pub(super) arena: &'a mut [f32],
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
    pub(super) fn node(&self, t: Tensor) -> Result<Node, Error> {
        if t.graph != self.tag {
            return Err(BAD_HANDLE);
        }
        self.node_at(t.index as usize).ok_or(BAD_HANDLE)
    }

    pub(super) fn node_at(&self, i: usize) -> Option<Node> {
        if i < self.len {
            self.nodes.get(i).copied()
        } else {
            None
        }
    }

    pub(super) fn input_node(&self, i: u32) -> Result<Node, Error> {
        self.node_at(i as usize).ok_or(INTERNAL)
    }

    /// Appends a node with a fresh, zeroed `rows × cols` tensor.
    pub(super) fn push(
        &mut self,
        op: Op,
        rows: usize,
        cols: usize,
        scratch: usize,
    ) -> Result<Tensor, Error> {
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

    /// One update of a parameter tensor by any [`Optimizer`]: `opt.update(value, grad)`
    /// after [`Graph::backward`] (e.g. [`Adam`](crate::optim::Adam) with state of
    /// [`Adam::state_len`](crate::optim::Adam::state_len)`(rows · cols)` values). A
    /// stateful optimizer's state belongs to one tensor: give each parameter tensor its
    /// own optimizer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle of another graph; the optimizer's errors
    /// (state sized for another tensor, non-finite gradient). Nothing is written then.
    pub fn update<O: Optimizer + ?Sized>(&mut self, t: Tensor, opt: &mut O) -> Result<(), Error> {
        let node = self.node(t)?;
        let tensors = self.arena.get_mut(..self.used).ok_or(INTERNAL)?;
        let (value, [grad]) = split(tensors, node.value(), [node.grad()])?;
        opt.update(value, grad)
    }

    /// The arena split into the tensor region and the scratch region.
    pub(super) fn regions(&mut self) -> Result<(&mut [f32], &mut [f32]), Error> {
        let (tensors, rest) = self.arena.split_at_mut_checked(self.used).ok_or(INTERNAL)?;
        let scratch = rest.get_mut(..self.scratch).ok_or(INTERNAL)?;
        Ok((tensors, scratch))
    }
}
