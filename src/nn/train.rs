//! What a trainer needs around [`Mlp`]'s step: initialisation of the flat parameter
//! buffer, the epoch helper, and evaluation (loss without gradients, prediction,
//! accuracy, confusion matrix).

use super::Mlp;
use super::step::{self, Params, Stack};
use crate::data::{Batch, Dataset, Labels, batches};
use crate::error::check_workspace;
use crate::init::{Init, init_weights};
use crate::loss::LossFn;
use crate::metrics::{
    LOGIT_THRESHOLD, PROBABILITY_THRESHOLD, accuracy_at, accuracy_values, classes, confusion_at,
    predict_class,
};
use crate::optim::Optimizer;
use crate::{Error, Loss, Target};
use rand_core::Rng;

impl Mlp<'_> {
    /// Initialises `params` for training: each layer's `W_l` drawn by `init` with
    /// `fan_in = d_{l−1}` and `fan_out = d_l` (PyTorch's fans for `nn.Linear`), every bias
    /// zero. The generator is called a fixed number of times per layer, so a seeded
    /// generator gives the same parameters on every target.
    ///
    /// Pick [`Init::HeUniform`] or [`Init::HeNormal`] for ReLU layers and the Xavier
    /// variants for sigmoid, tanh and identity layers; one `init` serves every layer. For
    /// one per layer, call [`init_weights`] on each [`Mlp::layer_mut`]'s weights (fans
    /// `d_l`, `d_{l+1}` for the 0-based layer `l`) and zero its bias.
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
        init_params(self, params, init, rng)
    }
}

/// What [`Mlp::evaluate`] measured over the rows it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Evaluation {
    /// The loss over all the rows, whatever the batch size: for the mean losses the mean
    /// per-row loss (each batch's loss weighted by its row count), for
    /// [`Loss::SumSquared`] the mean per-row sum (the batch sums added, over the rows).
    pub loss: f32,
    /// Rows whose predicted class is the label (for class labels) or the target row's
    /// class (for target values). The predicted class is the argmax of the output; a
    /// single output is a binary classifier, class 1 above its threshold (½ after a
    /// sigmoid, 0 for a logit, as [`Loss::BinaryCrossEntropy`] takes) and 0 otherwise
    /// (see [`metrics`](crate::metrics)).
    pub correct: usize,
    /// Rows evaluated.
    pub count: usize,
}

impl Evaluation {
    /// `correct / count` (0 for no rows).
    pub fn accuracy(&self) -> f32 {
        if self.count == 0 {
            0.0
        } else {
            self.correct as f32 / self.count as f32
        }
    }
}

impl Mlp<'_> {
    /// One epoch of minibatch training: for each batch of `order` (indices into `data`,
    /// e.g. a permutation [`shuffle`](crate::data::shuffle)d before each epoch) in turn,
    /// the batch is gathered into `batch` and trained on with
    /// [`Mlp::train_step_with`]. Returns the epoch's mean loss per row, as
    /// [`Evaluation::loss`] defines it: for the mean losses each batch's loss weighted by
    /// its row count, for [`Loss::SumSquared`] the batch sums added, then divided by
    /// `order.len()`.
    ///
    /// The batch size `B` is `batch.x.len() / d₀`; every batch has `B` rows except a
    /// shorter last one when `B` does not divide `order.len()` (it is trained on like the
    /// others; to drop it, pass `order` cut to a multiple of `B`). Buffers: `batch.x` holds
    /// `B × d₀` values (a length that is not a multiple of `d₀` is rounded down to one),
    /// `batch.labels` at least `B` (class labels) or `batch.y` at least `B × d_L` (target
    /// values); `workspace` [`Mlp::workspace_len`]`(sizes, B)` values
    /// ([`Mlp::workspace_len_parts`] for a network [on](Mlp::on) several threads), `grads`
    /// [`Mlp::param_len`].
    ///
    /// # Errors
    /// Checked before the first update, so nothing is changed then: the lengths of
    /// `params`, `grads`, `batch` and `workspace`, every index of `order` (below
    /// `data.len`, [`Error::RowOutOfRange`]) and the data's sources
    /// ([`Dataset::check`]). A later error (a non-finite loss or gradient, a label out of
    /// range; a bad label or input value is [`Error::Data`], naming the batch and the data
    /// set's row and column) stops the epoch at that batch: it changed nothing, and `params` hold the
    /// result of the batches before it.
    #[allow(clippy::too_many_arguments)]
    pub fn train_epoch<O: Optimizer + ?Sized>(
        &self,
        params: &mut [f32],
        data: &Dataset<'_>,
        order: &[u32],
        loss: Loss,
        opt: &mut O,
        batch: &mut Batch<'_>,
        grads: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<f32, Error> {
        self.check_param_len(params.len())?;
        self.check_len_of("grads.len() must equal Mlp::param_len", grads.len())?;
        train_epoch(
            self,
            params,
            data,
            order,
            loss.pick(),
            opt,
            batch,
            grads,
            workspace,
        )
    }

    /// The loss and accuracy of the network over the samples `rows` of `data` (e.g.
    /// `0..len` from [`identity_permutation`](crate::data::identity_permutation)), a
    /// batch at a time, with no gradient: forward passes only. `out` receives each
    /// batch's outputs (`B × d_L` values, `B = batch.x.len() / d₀`); `workspace` needs
    /// [`Mlp::forward_workspace_len`]`(sizes, B)` values (a training workspace for `B`
    /// is large enough; [`Mlp::forward_workspace_len_parts`] on several threads). With
    /// `confusion` (`k × k` counts for `k` classes: `d_L`, or 2 for a single output; row
    /// = true class, column = predicted; class labels only) each row's outcome is added
    /// to it. Accuracy is counted as [`Evaluation::correct`] says: with one output, by
    /// its threshold, not by an argmax of one value.
    ///
    /// # Errors
    /// Checked before anything is written: lengths of `params`, `batch`, `out`,
    /// `workspace` and `confusion`, every index of `rows` and the data's sources. A label
    /// out of range returns [`Error::Data`] naming its batch and data set row (then `confusion` holds the
    /// batches before it). Non-finite outputs are not an error here: the loss is then
    /// NaN or ±∞.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &self,
        params: &[f32],
        data: &Dataset<'_>,
        rows: &[u32],
        loss: Loss,
        batch: &mut Batch<'_>,
        out: &mut [f32],
        confusion: Option<&mut [u32]>,
        workspace: &mut [f32],
    ) -> Result<Evaluation, Error> {
        evaluate(
            self,
            params,
            data,
            rows,
            loss.pick(),
            batch,
            out,
            confusion,
            workspace,
        )
    }

    /// Single-sample prediction: the output `out` (`d_L` values) for one input row `x`
    /// (`d₀` values), and its class, the argmax of `out` (the first maximum; a NaN
    /// output counts as the maximum, as in NumPy); for a single output, 1 above its
    /// threshold (½ after a sigmoid, 0 otherwise) and 0 below. `workspace` needs
    /// [`Mlp::forward_workspace_len`]`(sizes, 1)` values.
    ///
    /// # Errors
    /// As [`Mlp::forward`] with `N = 1`: [`Error::ShapeMismatch`] unless `x` holds `d₀`
    /// values and `out` `d_L`.
    pub fn predict(
        &self,
        params: &[f32],
        x: &[f32],
        out: &mut [f32],
        workspace: &mut [f32],
    ) -> Result<usize, Error> {
        if x.len() != self.sizes[0] {
            return Err(Error::ShapeMismatch {
                what: "predict: x must be one row of sizes[0] values",
                expected: (1, self.sizes[0]),
                found: (1, x.len()),
            });
        }
        self.forward(params, x, out, workspace)?;
        Ok(predict_class(out, threshold(self)).unwrap_or(0))
    }
}

/// Each layer's weights drawn by `init` with its fans (see [`Layer::fans`]), every bias
/// zero, layer after layer.
pub(crate) fn init_params<S: Stack>(
    s: &S,
    params: &mut [f32],
    init: Init,
    rng: &mut impl Rng,
) -> Result<(), Error> {
    step::check_param_count(s, s.names().params, params.len())?;
    let mut input = s.input();
    let mut rest = params;
    for l in 0..s.depth() {
        let layer = s.layer(l);
        let (mine, after) = rest.split_at_mut(step::param_len_of::<S>(&layer));
        let (w, b) = mine.split_at_mut(step::weight_len_of::<S>(&layer));
        if let Some((fan_in, fan_out)) = step::fans_of::<S>(&layer) {
            init_weights(w, fan_in, fan_out, init, rng)?;
        }
        b.fill(0.0);
        input = step::out_of::<S>(&layer, input);
        rest = after;
    }
    let _ = input;
    Ok(())
}

/// One epoch of minibatch training (see [`Mlp::train_epoch`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn train_epoch<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    params: &mut [f32],
    data: &Dataset<'_>,
    order: &[u32],
    loss: LossFn,
    opt: &mut O,
    batch: &mut Batch<'_>,
    grads: &mut [f32],
    workspace: &mut [f32],
) -> Result<f32, Error> {
    train_epoch_split(
        s,
        &[],
        params,
        data,
        order,
        loss,
        opt,
        batch,
        grads,
        workspace,
    )
}

/// [`train_epoch`] with the frozen layers' parameters apart (`head`, read-only; empty
/// for none), as [`step::train_step_split`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_epoch_split<S: Stack, O: Optimizer + ?Sized>(
    s: &S,
    head: &[f32],
    params: &mut [f32],
    data: &Dataset<'_>,
    order: &[u32],
    loss: LossFn,
    opt: &mut O,
    batch: &mut Batch<'_>,
    grads: &mut [f32],
    workspace: &mut [f32],
) -> Result<f32, Error> {
    if head.is_empty() {
        step::check_param_count(s, s.names().params, params.len())?;
    } else {
        step::check_split(s, head.len(), params.len())?;
    }
    opt.check(s.trainable_len())?;
    step::check_step_grads(s, opt, grads.len())?;
    let b = batch_size(s, batch)?;
    check_workspace(
        s.step_layout(b, false).len(),
        workspace.len(),
        s.names().step_ws,
    )?;
    let (d0, d_out) = (s.input().len(), step::output(s).len());
    data.check(d0, d_out)?;
    check_order(order, data.len)?;
    // A batch of bytes times a finite scale cannot hold NaN or ±∞: no scan of it.
    let x_finite = data.x.always_finite();
    let mut total = 0.0f64;
    for (k, rows) in batches(order.len(), b)?.enumerate() {
        let rows = &order[rows];
        let (x, target) = data.gather(rows, d0, d_out, batch)?;
        let l = step::train_step_split(
            s, head, params, x, x_finite, target, loss, opt, grads, workspace,
        )
        .map_err(|e| at_row(e, "training epoch", k, rows, x, d0))?;
        total += per_row_sum(loss, l, rows.len());
    }
    Ok(if order.is_empty() {
        0.0
    } else {
        (total / order.len() as f64) as f32
    })
}

/// The loss and accuracy over the samples `rows` of `data` (see [`Mlp::evaluate`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn evaluate<S: Stack>(
    s: &S,
    params: &[f32],
    data: &Dataset<'_>,
    rows: &[u32],
    loss: LossFn,
    batch: &mut Batch<'_>,
    out: &mut [f32],
    confusion: Option<&mut [u32]>,
    workspace: &mut [f32],
) -> Result<Evaluation, Error> {
    step::check_param_count(s, s.names().params, params.len())?;
    evaluate_split(
        s,
        Params::whole(params),
        data,
        rows,
        loss,
        batch,
        out,
        confusion,
        workspace,
    )
}

/// [`evaluate`] with the parameters in two parts (checked by the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_split<S: Stack>(
    s: &S,
    params: Params<'_>,
    data: &Dataset<'_>,
    rows: &[u32],
    loss: LossFn,
    batch: &mut Batch<'_>,
    out: &mut [f32],
    mut confusion: Option<&mut [u32]>,
    workspace: &mut [f32],
) -> Result<Evaluation, Error> {
    let b = batch_size(s, batch)?;
    let (d0, d_out) = (s.input().len(), step::output(s).len());
    // (Saturating: a huge output layer times the batch may not fit `usize`.)
    let need_out = b.saturating_mul(d_out);
    if out.len() < need_out {
        return Err(Error::BufferTooSmall {
            what: "out (batch size × d_L)",
            needed: need_out,
            len: out.len(),
        });
    }
    check_workspace(
        s.forward_layout(b).len(),
        workspace.len(),
        s.names().forward_ws,
    )?;
    if let Some(c) = confusion.as_deref() {
        if !matches!(data.y, Labels::Classes(_) | Labels::ClassesU8 { .. }) {
            return Err(Error::InvalidArgument {
                what: "a confusion matrix needs class labels",
            });
        }
        let k = classes(d_out);
        if Some(c.len()) != k.checked_mul(k) {
            return Err(Error::ShapeMismatch {
                what: "confusion must be classes x classes (d_L x d_L; 2 x 2 for one output)",
                expected: (k, k),
                found: (1, c.len()),
            });
        }
    }
    data.check(d0, d_out)?;
    check_order(rows, data.len)?;
    let t = threshold(s);
    let mut total = 0.0f64;
    let mut correct = 0;
    for (k, r) in batches(rows.len(), b)?.enumerate() {
        let idx = &rows[r];
        let n = idx.len();
        let (x, target) = data.gather(idx, d0, d_out, batch)?;
        let o = &mut out[..n * d_out];
        step::forward_split(s, params, x, o, workspace)?;
        let l = loss
            .loss(o, d_out, target)
            .map_err(|e| at_row(e, "evaluation", k, idx, x, d0))?;
        total += per_row_sum(loss, l, n);
        correct += match target {
            Target::Classes(labels) => {
                if let Some(c) = confusion.as_deref_mut() {
                    confusion_at(o, d_out, labels, t, c)
                        .map_err(|e| at_row(e, "evaluation", k, idx, x, d0))?;
                }
                accuracy_at(o, d_out, labels, t)
                    .map_err(|e| at_row(e, "evaluation", k, idx, x, d0))?
            }
            Target::Values(y) => accuracy_values(o, d_out, y, t)?,
        };
    }
    let count = rows.len();
    Ok(Evaluation {
        loss: if count == 0 {
            0.0
        } else {
            (total / count as f64) as f32
        },
        correct,
        count,
    })
}

/// An error of batch `k` (whose data set rows are `rows`, gathered into `x`, `d0` values
/// a row) told in the data set's terms: a label out of range, or a NaN or ±∞ input,
/// becomes [`Error::Data`] naming the batch, the data set's row and the column; other
/// errors pass unchanged.
fn at_row(e: Error, during: &'static str, k: usize, rows: &[u32], x: &[f32], d0: usize) -> Error {
    match e {
        Error::LabelOutOfRange {
            index,
            label,
            classes,
        } if index < rows.len() => Error::Data {
            during,
            batch: k,
            row: rows[index],
            col: None,
            what: "a class label out of range",
            label: Some((label, classes)),
        },
        Error::NonFinite { what } if what == step::X_NON_FINITE => {
            match x.iter().position(|v| !v.is_finite()) {
                Some(i) if d0 > 0 && i / d0 < rows.len() => Error::Data {
                    during,
                    batch: k,
                    row: rows[i / d0],
                    col: Some(i % d0),
                    what: "a NaN or infinite input value",
                    label: None,
                },
                _ => e,
            }
        }
        e => e,
    }
}

/// The decision threshold of a single output ([`metrics`](crate::metrics)): ½ after a
/// sigmoid (a probability), 0 otherwise (a logit, as [`Loss::BinaryCrossEntropy`]
/// takes). Unused for two outputs or more (the argmax decides).
pub(crate) fn threshold<S: Stack>(s: &S) -> f32 {
    // The last layer with an activation of its own: pooling and flatten after it keep
    // what its outputs are (a mean or a maximum of probabilities is a probability).
    let act = (0..s.depth())
        .rev()
        .map(|l| s.layer(l))
        .find(|l| step::param_len_of::<S>(l) > 0)
        .map_or(crate::Activation::Identity, |l| l.activation());
    match act {
        crate::Activation::Sigmoid => PROBABILITY_THRESHOLD,
        _ => LOGIT_THRESHOLD,
    }
}

/// The batch size a [`Batch`] holds: `batch.x.len() /` the input's length, at least 1.
pub(crate) fn batch_size<S: Stack>(s: &S, batch: &Batch<'_>) -> Result<usize, Error> {
    let d0 = s.input().len();
    let b = batch.x.len() / d0;
    if b == 0 {
        return Err(Error::BufferTooSmall {
            what: "Batch::x must hold at least one row of sizes[0] values",
            needed: d0,
            len: batch.x.len(),
        });
    }
    Ok(b)
}

/// A batch's loss `l` over `rows` rows as a sum of per-row losses, so that the sum over
/// the batches divided by the row count is the per-row mean: a mean loss times its rows;
/// [`Loss::SumSquared`] is a sum already.
fn per_row_sum(loss: LossFn, l: f32, rows: usize) -> f64 {
    match loss.loss {
        Loss::SumSquared => f64::from(l),
        _ => f64::from(l) * rows as f64,
    }
}

/// Every index of `order` below `len`.
fn check_order(order: &[u32], len: usize) -> Result<(), Error> {
    if let Some(index) = order.iter().position(|&r| r as usize >= len) {
        return Err(Error::RowOutOfRange {
            index,
            row: order[index],
            rows: len,
        });
    }
    Ok(())
}
