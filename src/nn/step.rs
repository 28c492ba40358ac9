//! The one training step and forward pass of every network, over its layers.
//!
//! A network ([`Mlp`](super::Mlp), [`Net`](super::Net)) is a list of [`Layer`]s on an
//! input [`Shape`]; the code here walks that list. A training step is four stages with a
//! seam between each: the forward pass (each layer's bias and activation fused where it
//! is a GEMM), the **loss pass** (one fused kernel writes the loss's gradient
//! `∂L/∂A_L` into the workspace), the backward pass (each layer's input gradient, with
//! the previous layer's activation derivative applied on the way), and the **update**
//! (plain SGD fused into the weight-update GEMMs, or the gradient written to a caller
//! buffer). The loss and the update are arguments of the step, not code inside it.
//!
//! Every check runs before the first parameter changes: shapes and lengths first, then
//! the finiteness of the input, the loss, the hidden activations and every delta
//! (directly, or through the whole gradient they give: [`Scan`]), and only then the
//! update.

use super::net::Train;
use crate::error::check_len;
use crate::error::{check_rows, check_workspace};
use crate::layer::{Cx, Dense, Layer, Needs, Prev, Scratch, Shape, Update};
use crate::loss::LossFn;
use crate::optim::{Optimizer, all_finite};
use crate::par::Executor;
use crate::simd::Isa;
use crate::{Error, Loss, Target};

/// The strings a network's errors name its buffers and size functions with.
#[derive(Debug)]
pub struct Names {
    /// `params` of the wrong length.
    pub params: &'static str,
    /// `grads` of the wrong length.
    pub grads: &'static str,
    /// `x` not a whole number of examples.
    pub x: &'static str,
    /// `y` of the wrong length.
    pub y: &'static str,
    /// `out` of the wrong length.
    pub out: &'static str,
    /// What sizes a training step's workspace.
    pub step_ws: &'static str,
    /// What sizes an inference workspace.
    pub forward_ws: &'static str,
}

/// A list of layers on an input shape: what the step walks. Implemented by the
/// networks; `layer(l)` inlines to a constant kind for [`Mlp`](super::Mlp), so its
/// step keeps only the dense code.
pub trait Stack: Copy {
    /// Whether every layer is dense (an `Mlp`): the step then calls the dense layer's
    /// passes directly, and the other kinds' code is not compiled into it (a firmware
    /// that trains an `Mlp` keeps no convolution in flash).
    const DENSE_ONLY: bool = false;
    /// Number of layers, at least 1.
    fn depth(&self) -> usize;
    /// The shape of one input example.
    fn input(&self) -> Shape;
    /// Layer `l < depth()`.
    fn layer(&self, l: usize) -> Layer;
    /// The executor of the large products.
    fn exec(&self) -> &dyn Executor;
    /// The names its errors use.
    fn names(&self) -> &'static Names;
    /// Its parameter count (checked not to overflow when it was built).
    fn param_len(&self) -> usize;
    /// The layout of a training step's workspace for a batch of `n`; `input_grad` for one
    /// that also computes the network's input gradient.
    fn step_layout(&self, n: usize, input_grad: bool) -> StepLayout;
    /// The layout of an inference workspace for a batch of `n`.
    fn forward_layout(&self, n: usize) -> ForwardLayout;
    /// What layer `l` trains ([`Net::trainable`](super::Net::trainable)).
    #[inline(always)]
    fn train_of(&self, l: usize) -> Train {
        let _ = l;
        Train::All
    }
    /// The parameters that train (the optimizer's count).
    #[inline(always)]
    fn trainable_len(&self) -> usize {
        self.param_len()
    }
    /// Whether each layer's update is applied on its own ([`Net::per_layer`](super::Net::per_layer)).
    #[inline(always)]
    fn per_layer(&self) -> bool {
        false
    }
    /// A training step's gradient buffer: the trainable count, or the largest layer's
    /// with per-layer updates.
    #[inline(always)]
    fn grad_len(&self) -> usize {
        self.param_len()
    }
    /// The read-only prefix of `params` (the layers before the first that trains).
    #[inline(always)]
    fn frozen_len(&self) -> usize {
        0
    }
}

/// A network's parameters as a step reads them: a read-only prefix `head` (the frozen
/// layers, perhaps in flash) and the rest, `tail`. Each layer's parameters lie in one
/// of the two (the split is at a layer's start).
#[derive(Clone, Copy)]
pub(crate) struct Params<'a> {
    pub head: &'a [f32],
    pub tail: &'a [f32],
}

impl<'a> Params<'a> {
    /// All of them in one slice.
    pub(crate) fn whole(params: &'a [f32]) -> Self {
        Params {
            head: &[],
            tail: params,
        }
    }

    /// The `len` parameters from `p` (of the whole network).
    #[inline(always)]
    fn of(&self, p: usize, len: usize) -> &'a [f32] {
        match p.checked_sub(self.head.len()) {
            Some(t) => &self.tail[t..][..len],
            None => &self.head[p..][..len],
        }
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// A one-part workspace of `len` values, `gemm` of them packing space, with packing space
/// for `parts` parts (0 counts as 1): the GEMM region, last in both layouts, grows by
/// one part's packing space for each part after the first. Saturates.
pub(crate) const fn with_parts(len: usize, gemm: usize, parts: usize) -> usize {
    let more = if parts == 0 { 0 } else { parts - 1 };
    len.saturating_add(gemm.saturating_mul(more))
}

/// The workspace of a training step for a batch of `n`, described once: the size
/// functions and the code that splits the workspace ([`StepLayout::split`]) both read
/// it, and both build it layer by layer with [`StepLayout::add`].
///
/// | region | values | holds |
/// |---|---|---|
/// | prefix | `2·n·`the largest output below | two ping-pong buffers for the layers below the one before the first that trains: frozen, they only run forward |
/// | activations | `n·Σ` output lengths | each later layer's output, layer after layer (a [`Layer::Flatten`] has none: its output is its input) |
/// | deltas | `n·Σ` output lengths from the first layer that trains | each such layer's `∂L/∂Z` |
/// | bias | the largest bias gradient | one layer's bias gradient |
/// | keep | `Σ` of what layers keep | e.g. max pooling's argmax, from the forward pass to the backward pass |
/// | scratch | the largest | one layer's scratch within a pass (a 2-D convolution's padded input or delta, a 1-D one's edge strips) |
/// | GEMM | the largest `gemm_workspace_len` of the step's products | packing space |
///
/// For a network of dense layers (an [`Mlp`](super::Mlp)) the keep and scratch regions
/// are empty: `2·n·Σ d_l + max d_l +` packing space, the layout of every earlier version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepLayout {
    n: usize,
    /// Each of the two ping-pong buffers of the forward-only prefix: the largest output
    /// of a layer below the one before the first with a delta.
    pp: usize,
    /// The stored activations (from the input of the first layer with a delta on).
    area: usize,
    /// The deltas (from the first layer with a delta on).
    darea: usize,
    bias: usize,
    keep: usize,
    scratch: usize,
    pub(crate) gemm: usize,
    /// Layers seen so far.
    layers: usize,
    /// The first layer whose input gradient is computed: the one after the first layer
    /// with parameters (nothing before that trains), or 0 when the network's input
    /// gradient is asked for.
    grad_from: usize,
    /// The least length of the whole workspace, whatever the regions add up to (an
    /// inference workspace's, so that a training workspace serves inference).
    floor: usize,
}

impl StepLayout {
    /// An empty layout for a batch of `n`, for a network whose layers from `grad_from`
    /// on compute their input gradients.
    pub(crate) const fn new(n: usize, grad_from: usize) -> Self {
        StepLayout {
            n,
            pp: 0,
            area: 0,
            darea: 0,
            bias: 0,
            keep: 0,
            scratch: 0,
            gemm: 0,
            layers: 0,
            grad_from,
            floor: 0,
        }
    }

    /// The layout, at least `floor` values long in all (the GEMM region, last, takes
    /// what the regions leave).
    pub(crate) const fn at_least(self, floor: usize) -> Self {
        StepLayout { floor, ..self }
    }

    /// The first layer with a delta: the one before the first whose input gradient
    /// is computed (the first that trains), 0 for the network's input gradient.
    const fn first_delta(&self) -> usize {
        self.grad_from.saturating_sub(1)
    }

    /// The layout with the next layer, `layer` on `input`, added.
    pub(crate) const fn add(self, layer: &Layer, input: Shape) -> Self {
        let (l, d) = (self.layers, self.first_delta());
        let needs = if l < d {
            layer.forward_needs(input, self.n)
        } else {
            layer.step_needs(input, self.n, l >= self.grad_from)
        };
        self.place(aliases(layer, l, d), layer.out_of(input).len(), needs)
    }

    /// [`add`](Self::add) of a dense layer, from its own sizes: an `Mlp`'s layout links
    /// no other kind's.
    pub(crate) const fn add_dense(self, dense: &Dense) -> Self {
        let (l, d) = (self.layers, self.first_delta());
        let needs = if l < d {
            dense.forward_needs(self.n)
        } else {
            dense.step_needs(self.n, l >= self.grad_from)
        };
        self.place(false, dense.outputs, needs)
    }

    /// The layout with the next layer added: it aliases its input (`alias`), or its
    /// output of `out` values a row is stored; `needs` its needs.
    const fn place(self, alias: bool, out: usize, needs: Needs) -> Self {
        let l = self.layers;
        let d = self.first_delta();
        let out = if alias { 0 } else { self.n.saturating_mul(out) };
        // Below the first layer with a delta a layer only runs forward (inference).
        let keep = if l < d { 0 } else { needs.keep };
        let prefix = l + 1 < d;
        StepLayout {
            pp: if prefix { max(self.pp, out) } else { self.pp },
            area: if prefix {
                self.area
            } else {
                self.area.saturating_add(out)
            },
            darea: if l >= d {
                self.darea.saturating_add(out)
            } else {
                self.darea
            },
            bias: max(self.bias, needs.bias),
            keep: self.keep.saturating_add(keep),
            scratch: max(self.scratch, needs.scratch),
            gemm: max(self.gemm, needs.gemm),
            layers: l + 1,
            ..self
        }
    }

    /// The whole workspace (saturating).
    pub(crate) const fn len(&self) -> usize {
        let regions = self
            .pp
            .saturating_mul(2)
            .saturating_add(self.area)
            .saturating_add(self.darea)
            .saturating_add(self.bias)
            .saturating_add(self.keep)
            .saturating_add(self.scratch)
            .saturating_add(self.gemm);
        max(regions, self.floor)
    }

    /// Splits a workspace of at least [`len`](Self::len) values into its regions.
    fn split<'w>(&self, ws: &'w mut [f32]) -> StepParts<'w> {
        let (acts, rest) = ws.split_at_mut(2 * self.pp + self.area);
        let (deltas, rest) = rest.split_at_mut(self.darea);
        let (bias, rest) = rest.split_at_mut(self.bias);
        let (keep, rest) = rest.split_at_mut(self.keep);
        let (scratch, gemm) = rest.split_at_mut(self.scratch);
        StepParts {
            acts,
            deltas,
            sc: Scratches {
                bias,
                keep,
                scratch,
                gemm,
            },
        }
    }
}

/// Whether layer `l`'s output is its input (a flatten after the first layer) in a step
/// whose first layer with a delta is `d`: not for layer `d` and the one before it,
/// which have storage of their own (the input of the first layer with a delta is in
/// the stored region, and the first delta has its own).
const fn aliases(layer: &Layer, l: usize, d: usize) -> bool {
    layer.aliases_input() && l > 0 && l + 1 != d && l != d
}

/// The regions of a training step's workspace; see [`StepLayout`].
struct StepParts<'w> {
    acts: &'w mut [f32],
    deltas: &'w mut [f32],
    sc: Scratches<'w>,
}

/// The regions of a training step's workspace that the layers' passes borrow in turn.
struct Scratches<'w> {
    bias: &'w mut [f32],
    keep: &'w mut [f32],
    scratch: &'w mut [f32],
    gemm: &'w mut [f32],
}

impl Scratches<'_> {
    /// The scratch of the pass of the layer in `sl` (its own kept values).
    fn of(&mut self, sl: &Slot) -> Scratch<'_> {
        Scratch {
            keep: &mut self.keep[sl.k..][..sl.k_len],
            bias: &mut *self.bias,
            scratch: &mut *self.scratch,
            gemm: &mut *self.gemm,
        }
    }
}

/// The workspace of a forward pass (inference) for a batch of `n`, described once: two
/// ping-pong buffers of the largest hidden output, the largest scratch, then GEMM
/// packing space. For dense layers: `2·n·max d_l` (hidden layers) plus packing space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardLayout {
    n: usize,
    /// `n ·` the largest output of a layer that is not the last.
    buf: usize,
    scratch: usize,
    pub(crate) gemm: usize,
    /// The previous layer's output length (its buffer is counted once the next layer is
    /// seen: the last layer writes to the caller's `out`).
    pending: usize,
}

impl ForwardLayout {
    /// An empty layout for a batch of `n`.
    pub(crate) const fn new(n: usize) -> Self {
        ForwardLayout {
            n,
            buf: 0,
            scratch: 0,
            gemm: 0,
            pending: 0,
        }
    }

    /// The layout with the next layer, `layer` on `input`, added.
    pub(crate) const fn add(self, layer: &Layer, input: Shape) -> Self {
        self.place(
            layer.forward_needs(input, self.n),
            layer.out_of(input).len(),
        )
    }

    /// [`add`](Self::add) of a dense layer, from its own sizes (as
    /// [`StepLayout::add_dense`]).
    pub(crate) const fn add_dense(self, dense: &Dense) -> Self {
        self.place(dense.forward_needs(self.n), dense.outputs)
    }

    /// The layout with the next layer added: `needs` its needs, `out` values a row its
    /// output.
    const fn place(self, needs: Needs, out: usize) -> Self {
        ForwardLayout {
            buf: max(self.buf, self.pending),
            scratch: max(self.scratch, needs.scratch),
            gemm: max(self.gemm, needs.gemm),
            pending: self.n.saturating_mul(out),
            ..self
        }
    }

    /// The whole workspace (saturating).
    pub(crate) const fn len(&self) -> usize {
        self.buf
            .saturating_mul(2)
            .saturating_add(self.scratch)
            .saturating_add(self.gemm)
    }

    /// Splits a workspace of at least [`len`](Self::len) values into (ping, pong,
    /// scratch, GEMM).
    fn split<'w>(&self, ws: &'w mut [f32]) -> [&'w mut [f32]; 4] {
        let (bufs, rest) = ws.split_at_mut(2 * self.buf);
        let (buf0, buf1) = bufs.split_at_mut(self.buf);
        let (scratch, gemm) = rest.split_at_mut(self.scratch);
        [buf0, buf1, scratch, gemm]
    }
}

/// Where one layer sits in a step: its shapes, its parameters and its storage.
#[derive(Clone, Copy, Debug)]
struct Slot {
    layer: Layer,
    input: Shape,
    out: Shape,
    /// Its parameters: `params[p..p + p_len]`.
    p: usize,
    p_len: usize,
    /// What it trains, and where: its gradient and optimizer state are values
    /// `g..g + g_len` of the trainable ones (`g_len = 0`: it trains nothing).
    train: Train,
    g: usize,
    g_len: usize,
    /// Its input: `None` for the network's `x`, else an offset in the activation region.
    at_in: Option<usize>,
    /// Its output's offset in the activation region.
    at: usize,
    /// Its delta's offset in the delta region (layers from the first with a delta).
    dat: usize,
    /// Its kept values: `keep[k..k + k_len]`.
    k: usize,
    k_len: usize,
}

impl Slot {
    /// Where the parameters it trains start in a buffer of the network's parameters
    /// that leaves out the first `head` (its bias's start for [`Train::BiasOnly`]).
    fn trained_at(&self, head: usize) -> usize {
        self.p + self.p_len - self.g_len - head
    }
}

/// One step's optimizer update made in parts, a layer at a time
/// ([`Optimizer::update_part`]); [`Parts::finish`] counts the step.
struct Parts<'a, O: Optimizer + ?Sized> {
    opt: &'a mut O,
    /// The parameters after the first `head`.
    tail: &'a mut [f32],
    head: usize,
    /// Whether a part changed something.
    any: bool,
}

impl<O: Optimizer + ?Sized> Parts<'_, O> {
    /// The update of the layer in `sl` from its gradient `g`.
    fn apply(&mut self, sl: &Slot, g: &[f32]) -> Result<(), Error> {
        let at = sl.trained_at(self.head);
        self.opt
            .update_part(sl.g, &mut self.tail[at..][..sl.g_len], g)?;
        self.any = true;
        Ok(())
    }

    /// Ends the step with the parts' outcome `done`: the step counts when it is done
    /// (even with nothing to train, as an update of no parameters would), or when a
    /// part of it changed something.
    fn finish(self, done: Result<(), Error>) -> Result<(), Error> {
        if done.is_ok() || self.any {
            self.opt.finish_parts();
        }
        done
    }
}

/// Walks the layers of `s` in a step's workspace (its [`StepLayout`]), front to back.
struct Walk<'s, S> {
    s: &'s S,
    n: usize,
    /// The first layer with a delta.
    d: usize,
    /// Each ping-pong buffer's length.
    pp: usize,
    l: usize,
    input: Shape,
    p: usize,
    g: usize,
    at_in: Option<usize>,
    dat_in: usize,
    next_at: usize,
    next_dat: usize,
    k: usize,
}

impl<'s, S: Stack> Walk<'s, S> {
    fn new(s: &'s S, layout: &StepLayout) -> Self {
        Walk {
            s,
            n: layout.n,
            d: layout.first_delta(),
            pp: layout.pp,
            l: 0,
            input: s.input(),
            p: 0,
            g: 0,
            at_in: None,
            dat_in: 0,
            next_at: 2 * layout.pp,
            next_dat: 0,
            k: 0,
        }
    }

    /// A walk for the parameters' offsets alone (`p`, `g`; no workspace).
    fn params(s: &'s S) -> Self {
        Walk::new(s, &StepLayout::new(0, 0))
    }
}

impl<S: Stack> Iterator for Walk<'_, S> {
    type Item = Slot;

    #[inline]
    fn next(&mut self) -> Option<Slot> {
        if self.l >= self.s.depth() {
            return None;
        }
        let (l, n) = (self.l, self.n);
        let layer = self.s.layer(l);
        let out = out_of::<S>(&layer, self.input);
        let p_len = param_len_of::<S>(&layer);
        let alias = !S::DENSE_ONLY && aliases(&layer, l, self.d);
        let at = if alias {
            // (A layer that aliases its input comes after the first, whose output is
            // stored.)
            self.at_in.unwrap_or(0)
        } else if l + 1 < self.d {
            // The forward-only prefix: the ping-pong buffer its input is not in.
            if self.at_in == Some(0) { self.pp } else { 0 }
        } else {
            let at = self.next_at;
            self.next_at += n * out.len();
            at
        };
        let dat = if l < self.d {
            0 // (no delta)
        } else if alias {
            self.dat_in
        } else {
            let dat = self.next_dat;
            self.next_dat += n * out.len();
            dat
        };
        // (No dense layer keeps anything of its forward pass.)
        let k_len = if l < self.d || S::DENSE_ONLY {
            0
        } else {
            layer.keep_len(self.input, n)
        };
        let train = self.s.train_of(l);
        let g_len = match train {
            Train::All => p_len,
            Train::BiasOnly => p_len - weight_len_of::<S>(&layer),
            Train::Frozen => 0,
        };
        let slot = Slot {
            layer,
            input: self.input,
            out,
            p: self.p,
            p_len,
            train,
            g: self.g,
            g_len,
            at_in: self.at_in,
            at,
            dat,
            k: self.k,
            k_len,
        };
        self.l += 1;
        self.input = out;
        self.p += p_len;
        self.g += g_len;
        self.at_in = Some(at);
        self.dat_in = dat;
        self.k += k_len;
        Some(slot)
    }
}

/// `layer.out_of(input)`, for a dense-only stack (an `Mlp`, whose layers are all
/// [`Layer::Dense`]) without the other kinds' code, as [`forward_of`].
#[inline(always)]
pub(crate) fn out_of<S: Stack>(layer: &Layer, input: Shape) -> Shape {
    match layer {
        Layer::Dense(d) if S::DENSE_ONLY => Shape::flat(d.outputs),
        _ if S::DENSE_ONLY => {
            debug_assert!(false, "a dense-only stack holds a dense layer");
            Shape::flat(0)
        }
        _ => layer.out_of(input),
    }
}

/// `layer.param_len()`, as [`out_of`].
#[inline(always)]
pub(crate) fn param_len_of<S: Stack>(layer: &Layer) -> usize {
    match layer {
        Layer::Dense(d) if S::DENSE_ONLY => d.param_len(),
        _ if S::DENSE_ONLY => {
            debug_assert!(false, "a dense-only stack holds a dense layer");
            0
        }
        _ => layer.param_len(),
    }
}

/// `layer.weight_len()`, as [`out_of`].
#[inline(always)]
pub(crate) fn weight_len_of<S: Stack>(layer: &Layer) -> usize {
    match layer {
        Layer::Dense(d) if S::DENSE_ONLY => d.weight_len(),
        _ if S::DENSE_ONLY => {
            debug_assert!(false, "a dense-only stack holds a dense layer");
            0
        }
        _ => layer.weight_len(),
    }
}

/// `layer.fans()`, as [`out_of`].
#[inline(always)]
pub(crate) fn fans_of<S: Stack>(layer: &Layer) -> Option<(usize, usize)> {
    match layer {
        Layer::Dense(d) if S::DENSE_ONLY => Some((d.inputs, d.outputs)),
        _ if S::DENSE_ONLY => {
            debug_assert!(false, "a dense-only stack holds a dense layer");
            None
        }
        _ => layer.fans(),
    }
}

/// `layer.forward(..)`, for a dense-only stack without the other kinds' code.
#[inline(always)]
fn forward_of<S: Stack>(
    layer: &Layer,
    cx: Cx<'_>,
    input: Shape,
    params: &[f32],
    x: &[f32],
    out: &mut [f32],
    sc: Scratch<'_>,
) -> Result<(), Error> {
    if S::DENSE_ONLY {
        return match layer {
            Layer::Dense(d) => d.forward(cx, params, x, out, sc),
            _ => Ok(()),
        };
    }
    layer.forward(cx, input, params, x, out, sc)
}

/// `layer.backward_input(..)`, as [`forward_of`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_input_of<S: Stack>(
    layer: &Layer,
    cx: Cx<'_>,
    input: Shape,
    params: &[f32],
    dout: &[f32],
    prev: Prev<'_>,
    dx: &mut [f32],
    sc: Scratch<'_>,
) -> Result<(), Error> {
    if S::DENSE_ONLY {
        return match layer {
            Layer::Dense(d) => d.backward_input(cx, params, dout, prev, dx, sc),
            _ => Ok(()),
        };
    }
    layer.backward_input(cx, input, params, dout, prev, dx, sc)
}

/// `layer.update(..)`, as [`forward_of`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn update_of<S: Stack>(
    layer: &Layer,
    cx: Cx<'_>,
    input: Shape,
    x: &[f32],
    delta: &[f32],
    dest: &mut [f32],
    how: Update,
    sc: Scratch<'_>,
) -> Result<(), Error> {
    if S::DENSE_ONLY {
        return match layer {
            Layer::Dense(d) => d.update(cx, x, delta, dest, how, sc),
            _ => Ok(()),
        };
    }
    layer.update(cx, input, x, delta, dest, how, sc)
}

/// Layer `l`'s slot (walking from the front: a network has few layers).
fn slot<S: Stack>(s: &S, layout: &StepLayout, l: usize) -> Slot {
    let mut walk = Walk::new(s, layout);
    let mut last = walk.next();
    for _ in 0..l {
        last = walk.next();
    }
    // (`l < depth()` at every call.)
    last.unwrap_or(Slot {
        layer: Layer::Flatten,
        input: Shape::flat(0),
        out: Shape::flat(0),
        p: 0,
        p_len: 0,
        train: Train::Frozen,
        g: 0,
        g_len: 0,
        at_in: None,
        at: 0,
        dat: 0,
        k: 0,
        k_len: 0,
    })
}

/// The first layer whose input gradient a step computes: 0 for the network's input
/// gradient (`input_grad`), else the one after the first layer with parameters (nothing
/// before that trains).
pub(crate) fn grad_from<S: Stack>(s: &S, input_grad: bool) -> usize {
    if input_grad { 0 } else { first_trained(s) + 1 }
}

/// The first layer that trains (the last if none does: its delta, the loss's
/// gradient, is still computed).
fn first_trained<S: Stack>(s: &S) -> usize {
    if S::DENSE_ONLY {
        return 0; // every dense layer of an `Mlp` has weights, and trains
    }
    Walk::params(s)
        .position(|sl| sl.g_len > 0)
        .unwrap_or(s.depth() - 1)
}

/// The output shape of the network.
pub(crate) fn output<S: Stack>(s: &S) -> Shape {
    let mut input = s.input();
    for l in 0..s.depth() {
        input = out_of::<S>(&s.layer(l), input);
    }
    input
}

/// What a step's error names for a NaN or ±∞ in `x` (an epoch tells the row).
pub(crate) const X_NON_FINITE: &str = "x (input data)";

/// The loss pass of a step: `(isa, A_L, G)` returns the loss and writes `G = ∂L/∂A_L`.
pub(crate) trait LossPass: FnOnce(Isa, &[f32], &mut [f32]) -> Result<f32, Error> {}
impl<F: FnOnce(Isa, &[f32], &mut [f32]) -> Result<f32, Error>> LossPass for F {}

/// `len` must be the parameter count; `what` names the buffer.
pub(crate) fn check_param_count<S: Stack>(
    s: &S,
    what: &'static str,
    len: usize,
) -> Result<(), Error> {
    let need = s.param_len();
    if len != need {
        return Err(Error::ShapeMismatch {
            what,
            expected: (1, need),
            found: (1, len),
        });
    }
    Ok(())
}

/// Batch size of `x`, checked against the input's length.
pub(crate) fn batch<S: Stack>(s: &S, x: &[f32]) -> Result<usize, Error> {
    check_rows(s.names().x, x.len(), s.input().len())
}

/// `len` must be `n ×` the output's length; `what` names the buffer.
pub(crate) fn check_out<S: Stack>(
    s: &S,
    what: &'static str,
    n: usize,
    len: usize,
) -> Result<(), Error> {
    let d = output(s).len();
    if Some(len) != n.checked_mul(d) {
        return Err(Error::ShapeMismatch {
            what,
            expected: (n, d),
            found: (1, len),
        });
    }
    Ok(())
}

/// The lecture's loss pass, `Σ (A_L − y)²` and `2(A_L − y)`, once `y`'s length is
/// checked: [`Loss::SumSquared`] without the dispatch over every loss.
pub(crate) fn sum_squared<'y, S: Stack>(
    s: &S,
    x: &[f32],
    y: &'y [f32],
) -> Result<impl LossPass + 'y, Error> {
    let n = batch(s, x)?;
    check_out(s, s.names().y, n, y.len())?;
    Ok(move |isa: Isa, out: &[f32], g: &mut [f32]| Loss::sum_squared_isa(isa, out, y, g))
}

/// The loss pass of a built-in [`Loss`], once the target's length is checked.
pub(crate) fn builtin_loss<'t, S: Stack>(
    s: &S,
    x: &[f32],
    target: Target<'t>,
    loss: LossFn,
) -> Result<impl LossPass + 't, Error> {
    let n = batch(s, x)?;
    let d = output(s).len();
    match target {
        Target::Values(y) => check_out(s, s.names().y, n, y.len())?,
        Target::Classes(c) => check_len("class labels must be N (one per row of x)", n, c.len())?,
    }
    Ok(move |isa: Isa, out: &[f32], g: &mut [f32]| {
        loss.loss_and_grad_isa(isa, out, d, target, Some(g))
    })
}

/// Where a step checks its hidden activations and deltas for NaN and ±∞.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scan {
    /// In [`forward_backward`], before the update: for plain SGD fused into the
    /// weights, per-layer updates and the gradients handed to a caller.
    Here,
    /// Through the gradient they give, checked whole before the optimizer runs: every
    /// non-finite activation or delta that reaches a parameter's gradient makes it
    /// non-finite (`0·∞` is NaN), and [`scans_error`] then names it as the scans
    /// would. Two passes over the workspace fewer a step (about 5–7% of a convolutional
    /// step); an activation or delta that reaches no gradient (a max pool's unselected
    /// −∞, an overflow that a ReLU's zero derivative or a saturated sigmoid cuts off) no
    /// longer stops the step.
    ByGrads,
}

/// The hidden activations' check of a step.
fn check_acts(isa: Isa, acts: &[f32]) -> Result<(), Error> {
    if !all_finite(isa, acts) {
        return Err(Error::NonFinite {
            what: "a hidden layer's activations",
        });
    }
    Ok(())
}

/// The deltas' check of a step.
fn check_deltas(isa: Isa, deltas: &[f32]) -> Result<(), Error> {
    if !all_finite(isa, deltas) {
        return Err(Error::NonFinite {
            what: "gradient (a layer's delta)",
        });
    }
    Ok(())
}

/// For a step of batch `n` whose gradients are not finite after a [`forward_backward`]
/// with [`Scan::ByGrads`] (no input gradient): the error of the scans it left out when
/// they find the cause in the workspace (else the gradient itself overflowed, which the
/// optimizer refuses as before).
fn scans_error<S: Stack>(s: &S, n: usize, workspace: &mut [f32]) -> Option<Error> {
    let isa = Isa::active();
    let layout = s.step_layout(n, false);
    let StepParts { acts, deltas, .. } = layout.split(workspace);
    let depth = s.depth();
    let last = slot(s, &layout, depth - 1);
    // The lowest delta written: as `forward_backward`'s walk down leaves it.
    let low = grad_from(s, false).max(1);
    let from = if depth > low {
        slot(s, &layout, low - 1).dat
    } else {
        last.dat
    };
    check_acts(isa, &acts[2 * layout.pp..last.at])
        .and_then(|()| check_deltas(isa, &deltas[from..]))
        .err()
}

/// Validates, runs the forward pass, the loss pass and every delta, and checks them
/// for finiteness (`x` itself unless `x_finite` says it is; the hidden activations and
/// the deltas only with `scan`: see [`Scan`]). Returns the loss and the batch size;
/// afterwards the workspace holds every output and delta (see [`StepLayout`]) for the
/// update stage.
///
/// `loss_pass(isa, A_L, G)` returns the loss and writes `G = ∂L/∂A_L`; it runs only
/// for a non-empty batch. With `dx` (`N ×` the input's length, checked by the caller),
/// the network's input gradient `∂L/∂x` is written there too (the workspace laid out
/// for it). The caller checked `params`'s length.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_backward<S: Stack>(
    s: &S,
    params: Params<'_>,
    x: &[f32],
    x_finite: bool,
    scan: Scan,
    workspace: &mut [f32],
    loss_pass: impl LossPass,
    dx: Option<&mut [f32]>,
) -> Result<(f32, usize), Error> {
    let scan = scan == Scan::Here;
    debug_assert_eq!(params.head.len() + params.tail.len(), s.param_len());
    let n = batch(s, x)?;
    let gf = grad_from(s, dx.is_some());
    let layout = s.step_layout(n, dx.is_some());
    check_workspace(layout.len(), workspace.len(), s.names().step_ws)?;
    if n == 0 {
        return Ok((0.0, 0));
    }
    let isa = Isa::active();
    if !x_finite && !all_finite(isa, x) {
        return Err(Error::NonFinite { what: X_NON_FINITE });
    }
    let StepParts {
        acts,
        deltas,
        mut sc,
    } = layout.split(workspace);
    let cx = Cx {
        isa,
        exec: s.exec(),
        n,
    };
    // Forward: A_l = layer_l(A_{l−1}), each layer's bias and activation fused.
    let mut last = slot(s, &layout, 0);
    for sl in Walk::new(s, &layout) {
        last = sl;
        if sl.at_in == Some(sl.at) {
            continue; // the output is the input (a flatten)
        }
        let (len_in, len_out) = (n * sl.input.len(), n * sl.out.len());
        // (In the prefix's ping-pong buffers the input may lie after the output.)
        let (input, out): (&[f32], &mut [f32]) = match sl.at_in {
            None => (x, &mut acts[sl.at..][..len_out]),
            Some(a) if a < sl.at => {
                let (lo, hi) = acts.split_at_mut(sl.at);
                (&lo[a..][..len_in], &mut hi[..len_out])
            }
            Some(a) => {
                let (lo, hi) = acts.split_at_mut(a);
                (&hi[..len_in], &mut lo[sl.at..][..len_out])
            }
        };
        let s = sc.of(&sl);
        let p = params.of(sl.p, sl.p_len);
        forward_of::<S>(&sl.layer, cx, sl.input, p, input, out, s)?;
    }
    // The loss pass: the loss and G = ∂L/∂A_L, then Δ_L = G ⊙ act_L'(A_L).
    let len = n * last.out.len();
    let out = &acts[last.at..][..len];
    let g = &mut deltas[last.dat..][..len];
    let loss = loss_pass(isa, out, g)?;
    if !loss.is_finite() {
        return Err(Error::NonFinite {
            what: "loss (look for NaN or ±∞ in y, or in the parameters: Mlp::check_params)",
        });
    }
    // Hidden activations can overflow to ±∞ (identity, ReLU) and still give a finite
    // loss through a saturated sigmoid; their weight gradient would not be finite.
    // (The forward-only prefix's, in the ping-pong buffers, have no weight gradient:
    // the input of the first layer with a delta is the first stored.)
    if scan {
        check_acts(isa, &acts[2 * layout.pp..last.at])?;
    }
    let last_act = Prev {
        act: last.layer.activation(),
        out,
    };
    last_act.apply(cx, g)?;
    // Deltas: Δ_{l−1} = (∂L/∂A_{l−1}) ⊙ act'(A_{l−1}), from each layer's input gradient,
    // down to the first layer with parameters (or to the input).
    // Each layer's slot is the one below the layer before it: one walk a layer.
    let mut below = last;
    for l in (gf.max(1)..s.depth()).rev() {
        let sl = below;
        below = slot(s, &layout, l - 1);
        let prev_len = n * sl.input.len();
        let prev_act = below.layer.activation();
        if sl.at_in == Some(sl.at) {
            // The output is the input (a flatten): its delta becomes the input's in place.
            let d = &mut deltas[sl.dat..][..prev_len];
            let prev = Prev {
                act: prev_act,
                out: &acts[below.at..][..prev_len],
            };
            prev.apply(cx, d)?;
            continue;
        }
        let (lower, upper) = deltas.split_at_mut(sl.dat);
        let dout = &upper[..n * sl.out.len()];
        let dx = &mut lower[below.dat..][..prev_len];
        let prev = Prev {
            act: prev_act,
            out: &acts[below.at..][..prev_len],
        };
        let s = sc.of(&sl);
        let p = params.of(sl.p, sl.p_len);
        backward_input_of::<S>(&sl.layer, cx, sl.input, p, dout, prev, dx, s)?;
    }
    // The lowest delta written: the one `below` the last layer the loop ran (the last
    // layer's own when it ran none).
    if scan {
        check_deltas(isa, &deltas[below.dat..])?;
    }
    if let Some(dx) = dx {
        // The first layer's input gradient, into the caller's buffer: its input is `x`,
        // which has no activation.
        let sl = slot(s, &layout, 0);
        let prev = Prev {
            act: crate::Activation::Identity,
            out: x,
        };
        let s = sc.of(&sl);
        let dout = &deltas[sl.dat..][..n * sl.out.len()];
        let p = params.of(sl.p, sl.p_len);
        backward_input_of::<S>(&sl.layer, cx, sl.input, p, dout, prev, dx, s)?;
        if !all_finite(isa, dx) {
            return Err(Error::NonFinite {
                what: "gradient (the input's)",
            });
        }
    }
    Ok((loss, n))
}

/// The update stage, once every delta is in the workspace: per layer that trains, its
/// weight and bias gradients (or its bias's alone, [`Train::BiasOnly`]) either written
/// to `dest` (a gradient buffer of the trainable parameters, packed) or subtracted,
/// times `lr`, from it (the parameters, of which the caller's `dest` leaves out the
/// first `head`: no weight gradient is materialized). A batch of `n = 0` writes zero
/// gradients and leaves parameters alone. `input_grad` as the step's
/// [`forward_backward`] (the workspace's layout).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn update<S: Stack>(
    s: &S,
    dest: &mut [f32],
    head: usize,
    x: &[f32],
    n: usize,
    workspace: &mut [f32],
    how: Update,
    input_grad: bool,
) -> Result<(), Error> {
    if n == 0 {
        if let Update::Gradient = how {
            dest.fill(0.0);
        }
        return Ok(());
    }
    each_update(
        s,
        x,
        n,
        workspace,
        input_grad,
        |sl, cx, input, delta, sc| {
            let at = match how {
                Update::FusedSgd { .. } => sl.trained_at(head),
                Update::Gradient => sl.g,
            };
            update_layer::<S>(sl, cx, input, delta, &mut dest[at..][..sl.g_len], how, sc)
        },
    )
}

/// Calls `f(slot, cx, input, delta, scratch)` for each layer that trains, front to
/// back, once every delta is in the workspace (`n > 0`).
#[inline(always)]
fn each_update<S: Stack>(
    s: &S,
    x: &[f32],
    n: usize,
    workspace: &mut [f32],
    input_grad: bool,
    mut f: impl FnMut(&Slot, Cx<'_>, &[f32], &[f32], Scratch<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let cx = Cx {
        isa: Isa::active(),
        exec: s.exec(),
        n,
    };
    let layout = s.step_layout(n, input_grad);
    let StepParts {
        acts,
        deltas,
        mut sc,
    } = layout.split(workspace);
    for sl in Walk::new(s, &layout) {
        if sl.g_len == 0 {
            continue;
        }
        let input: &[f32] = match sl.at_in {
            None => x,
            Some(at) => &acts[at..][..n * sl.input.len()],
        };
        let delta = &deltas[sl.dat..][..n * sl.out.len()];
        f(&sl, cx, input, delta, sc.of(&sl))?;
    }
    Ok(())
}

/// One layer's update into `dest`: its trainable parameters' (or their gradients')
/// `g_len` values.
#[inline(always)]
fn update_layer<S: Stack>(
    sl: &Slot,
    cx: Cx<'_>,
    input: &[f32],
    delta: &[f32],
    dest: &mut [f32],
    how: Update,
    sc: Scratch<'_>,
) -> Result<(), Error> {
    match sl.train {
        Train::All => update_of::<S>(&sl.layer, cx, sl.input, input, delta, dest, how, sc),
        // (A convolution's delta is rows of `c_out`, a dense layer's of its outputs:
        // rows of the bias's length either way.)
        Train::BiasOnly => how.bias(cx, delta, dest, sc.bias),
        Train::Frozen => Ok(()),
    }
}

/// The update stage of a network with per-layer updates and an optimizer that is not
/// fused: per layer that trains, its gradient into `grads` (one layer's worth), then
/// the optimizer's update of that layer's parameters at once; then the optimizer
/// counts the step.
#[allow(clippy::too_many_arguments)]
fn update_per_layer<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    tail: &mut [f32],
    head: usize,
    grads: &mut [f32],
    opt: &mut O,
    x: &[f32],
    n: usize,
    workspace: &mut [f32],
) -> Result<(), Error> {
    let mut parts = Parts {
        opt,
        tail,
        head,
        any: false,
    };
    let done = if n == 0 {
        // An empty batch: zero gradients, as the whole-network update gives the
        // optimizer (its moments still decay).
        Walk::params(s)
            .filter(|sl| sl.g_len > 0)
            .try_for_each(|sl| {
                let g = &mut grads[..sl.g_len];
                g.fill(0.0);
                parts.apply(&sl, g)
            })
    } else {
        each_update(s, x, n, workspace, false, |sl, cx, input, delta, sc| {
            let g = &mut grads[..sl.g_len];
            update_layer::<S>(sl, cx, input, delta, g, Update::Gradient, sc)?;
            parts.apply(sl, g)
        })
    };
    parts.finish(done)
}

/// Batched inference: `out` = the network's output for the batch `x`. The caller
/// checked `params`'s length.
#[inline(always)]
pub(crate) fn forward<S: Stack>(
    s: &S,
    params: &[f32],
    x: &[f32],
    out: &mut [f32],
    workspace: &mut [f32],
) -> Result<(), Error> {
    forward_split(s, Params::whole(params), x, out, workspace)
}

/// [`forward`] with the parameters in two parts (the caller checked them).
pub(crate) fn forward_split<S: Stack>(
    s: &S,
    params: Params<'_>,
    x: &[f32],
    out: &mut [f32],
    workspace: &mut [f32],
) -> Result<(), Error> {
    let n = batch(s, x)?;
    check_out(s, s.names().out, n, out.len())?;
    let layout = s.forward_layout(n);
    check_workspace(layout.len(), workspace.len(), s.names().forward_ws)?;
    if n == 0 {
        return Ok(());
    }
    let cx = Cx {
        isa: Isa::active(),
        exec: s.exec(),
        n,
    };
    let [buf0, buf1, scratch, gemm] = layout.split(workspace);
    let mut bufs = [buf0, buf1];
    // Which buffer holds the current input (`None`: `x`), and which is written next.
    let mut cur: Option<usize> = None;
    let depth = s.depth();
    let mut input = s.input();
    let mut p = 0;
    for l in 0..depth {
        let layer = s.layer(l);
        let shape = out_of::<S>(&layer, input);
        let p_len = param_len_of::<S>(&layer);
        let params = params.of(p, p_len);
        p += p_len;
        if l + 1 < depth && !S::DENSE_ONLY && layer.aliases_input() && l > 0 {
            input = shape;
            continue;
        }
        let next = cur.map_or(0, |c| 1 - c);
        let [b0, b1] = &mut bufs;
        let (src, dst): (&[f32], &mut [f32]) = if next == 0 { (b1, b0) } else { (b0, b1) };
        let x_l = match cur {
            None => x,
            Some(_) => &src[..n * input.len()],
        };
        let s = Scratch {
            keep: &mut [],
            bias: &mut [],
            scratch: &mut *scratch,
            gemm: &mut *gemm,
        };
        if l + 1 == depth {
            forward_of::<S>(&layer, cx, input, params, x_l, out, s)?;
        } else {
            let o = &mut dst[..n * shape.len()];
            forward_of::<S>(&layer, cx, input, params, x_l, o, s)?;
            cur = Some(next);
        }
        input = shape;
    }
    Ok(())
}

/// One training step with any loss and any [`Optimizer`]; `x_finite` says that every
/// value of `x` is known to be finite (its scan is skipped).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn train_step_with<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    params: &mut [f32],
    x: &[f32],
    x_finite: bool,
    target: Target<'_>,
    loss: LossFn,
    opt: &mut O,
    grads: &mut [f32],
    workspace: &mut [f32],
) -> Result<f32, Error> {
    train_step_split(
        s,
        &[],
        params,
        x,
        x_finite,
        target,
        loss,
        opt,
        grads,
        workspace,
    )
}

/// `grads` must fit a training step with `opt`: empty for plain SGD (fused, it writes
/// no gradient) or the network's [`Stack::grad_len`].
pub(crate) fn check_step_grads<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    opt: &O,
    grads: usize,
) -> Result<(), Error> {
    if opt.plain_sgd_lr().is_none() || grads != 0 {
        check_count(s.names().grads, s.grad_len(), grads)?;
    }
    Ok(())
}

/// `found` must be `need`; `what` names the buffer.
fn check_count(what: &'static str, need: usize, found: usize) -> Result<(), Error> {
    if found != need {
        return Err(Error::ShapeMismatch {
            what,
            expected: (1, need),
            found: (1, found),
        });
    }
    Ok(())
}

/// [`train_step_with`] on parameters split into a read-only `head` (empty, or the
/// network's [`Stack::frozen_len`] values: the frozen layers, perhaps in flash) and the
/// rest, `tail`, which the step updates.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_step_split<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    head: &[f32],
    tail: &mut [f32],
    x: &[f32],
    x_finite: bool,
    target: Target<'_>,
    loss: LossFn,
    opt: &mut O,
    grads: &mut [f32],
    workspace: &mut [f32],
) -> Result<f32, Error> {
    if head.is_empty() {
        check_param_count(s, s.names().params, tail.len())?;
    } else {
        check_split(s, head.len(), tail.len())?;
    }
    check_step_grads(s, opt, grads.len())?;
    let fused = opt.plain_sgd_lr();
    // What the update would refuse whatever the gradients (the learning rate, state
    // sized for another parameter count), refused before anything is written; the
    // fused path never calls `update`.
    opt.check(s.trainable_len())?;
    let pass = builtin_loss(s, x, target, loss)?;
    let params = Params { head, tail: &*tail };
    // The whole gradient is checked before the optimizer runs: it checks the hidden
    // activations and deltas too (see `Scan::ByGrads`).
    let whole = fused.is_none() && !s.per_layer();
    let scan = if whole { Scan::ByGrads } else { Scan::Here };
    let (loss, n) = forward_backward(s, params, x, x_finite, scan, workspace, pass, None)?;
    let h = head.len();
    match fused {
        Some(lr) => update(s, tail, h, x, n, workspace, Update::FusedSgd { lr }, false)?,
        None if s.per_layer() => update_per_layer(s, tail, h, grads, opt, x, n, workspace)?,
        None => {
            update(s, grads, 0, x, n, workspace, Update::Gradient, false)?;
            if !all_finite(Isa::active(), grads)
                && let Some(e) = scans_error(s, n, workspace)
            {
                return Err(e);
            }
            if S::DENSE_ONLY || s.trainable_len() == s.param_len() {
                opt.update(tail, grads)?;
            } else {
                update_trainable(s, tail, h, grads, opt)?;
            }
        }
    }
    Ok(loss)
}

/// A head of `head` values and a tail of `tail` must split the parameters at
/// [`Stack::frozen_len`].
pub(crate) fn check_split<S: Stack>(s: &S, head: usize, tail: usize) -> Result<(), Error> {
    check_count(
        "frozen.len() must equal Net::frozen_len",
        s.frozen_len(),
        head,
    )?;
    check_count(
        "params.len() must equal Net::param_len - Net::frozen_len (the layers after the frozen ones)",
        s.param_len() - s.frozen_len(),
        tail,
    )
}

/// The optimizer's update of the parameters that train when some do not: each layer's
/// run of them, the gradients of the whole network's trainable parameters in `grads`
/// (checked finite first, so that a refusal writes nothing), then the step counted.
fn update_trainable<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    tail: &mut [f32],
    head: usize,
    grads: &[f32],
    opt: &mut O,
) -> Result<(), Error> {
    if !all_finite(Isa::active(), grads) {
        return Err(Error::NonFinite {
            what: "grads (a gradient is NaN or infinite)",
        });
    }
    let mut parts = Parts {
        opt,
        tail,
        head,
        any: false,
    };
    let done = Walk::params(s)
        .filter(|sl| sl.g_len > 0)
        .try_for_each(|sl| parts.apply(&sl, &grads[sl.g..][..sl.g_len]));
    parts.finish(done)
}

/// `∂L/∂θ` of any loss into `grads` (and `∂L/∂x` into `dx`, when given); returns the
/// loss.
#[allow(clippy::too_many_arguments)]
pub(crate) fn loss_and_grad_with<S: Stack>(
    s: &S,
    params: &[f32],
    x: &[f32],
    target: Target<'_>,
    loss: LossFn,
    grads: &mut [f32],
    dx: Option<&mut [f32]>,
    workspace: &mut [f32],
) -> Result<f32, Error> {
    let input_grad = dx.is_some();
    if let Some(dx) = dx.as_deref() {
        check_len(
            "dx must hold x's length (N examples of the input)",
            x.len(),
            dx.len(),
        )?;
    }
    check_param_count(s, s.names().params, params.len())?;
    check_count(s.names().grads, s.trainable_len(), grads.len())?;
    let pass = builtin_loss(s, x, target, loss)?;
    let params = Params::whole(params);
    let (loss, n) = forward_backward(s, params, x, false, Scan::Here, workspace, pass, dx)?;
    update(s, grads, 0, x, n, workspace, Update::Gradient, input_grad)?;
    Ok(loss)
}
