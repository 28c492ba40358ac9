//! Evaluating a classifier: predicted classes, accuracy and the confusion matrix.
//!
//! Every function takes the network's output `out` as `N × d` row-major scores and class
//! labels, as the classification losses do. How a row names its class depends on `d`:
//!
//! * **`d ≥ 2` outputs**: `d` classes, and the predicted class is the row's [`argmax`]
//!   (the same for logits and probabilities).
//! * **`d = 1` output**: a binary classifier, **2 classes** (labels 0 and 1). The output
//!   is read as a **logit** `z` (the network's last activation
//!   [`Identity`](crate::Activation::Identity), as
//!   [`Loss::BinaryCrossEntropy`](crate::Loss::BinaryCrossEntropy) takes logits): class 1
//!   if `z > 0`, that is `σ(z) > ½`, else class 0 (`z = 0` included, as scikit-learn's
//!   `predict`). A NaN output predicts class 1, as NaN counts as larger than every number
//!   in [`argmax`] too. An output that is already a probability (last activation
//!   [`Sigmoid`](crate::Activation::Sigmoid)) must be compared with ½ instead: the `_at`
//!   functions take the threshold, [`PROBABILITY_THRESHOLD`] for that case
//!   ([`LOGIT_THRESHOLD`] is what the others use). [`classes`]`(d)` is 2 here, so the
//!   confusion matrix is 2 × 2.
//!
//! Targets given as values (`N × d`, e.g. 0/1 labels as `f32` for the binary
//! cross-entropy) are compared by [`accuracy_values`].
//!
//! ```
//! use microprop::metrics::{accuracy, confusion};
//!
//! // Three samples, two classes: predictions 1, 0, 1.
//! let out = [0.1, 0.9, 0.7, 0.3, -1.0, 2.0];
//! let labels = [1, 1, 1];
//! let correct = accuracy(&out, 2, &labels)?;
//! assert_eq!(correct, 2);
//! let fraction = correct as f32 / labels.len() as f32;
//! assert_eq!(fraction, 2.0 / 3.0);
//!
//! let mut m = [0u32; 2 * 2]; // row = true label, column = predicted
//! confusion(&out, 2, &labels, &mut m)?;
//! assert_eq!(m, [0, 0, 1, 2]);
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! One output, a binary classifier:
//!
//! ```
//! use microprop::metrics::{PROBABILITY_THRESHOLD, accuracy, accuracy_at, confusion};
//!
//! let logits = [2.5, -0.3, 0.0, 0.1]; // classes 1, 0, 0, 1
//! let labels = [1, 0, 1, 1];
//! assert_eq!(accuracy(&logits, 1, &labels)?, 3);
//! let mut m = [0u32; 2 * 2]; // [true 0 → 0, true 0 → 1, true 1 → 0, true 1 → 1]
//! confusion(&logits, 1, &labels, &mut m)?;
//! assert_eq!(m, [1, 0, 1, 2]);
//!
//! let probabilities = [0.92, 0.43, 0.5, 0.52]; // a sigmoid output: the same classes
//! assert_eq!(accuracy_at(&probabilities, 1, &labels, PROBABILITY_THRESHOLD)?, 3);
//! # Ok::<(), microprop::Error>(())
//! ```

use crate::Error;

/// The index of the first largest value of `row`, `None` for an empty row.
///
/// NaN counts as larger than every number, as in NumPy's and PyTorch's `argmax`: a row
/// holding a NaN predicts the index of its first NaN, so a diverged network scores as a
/// wrong (or constant) prediction instead of being skipped. `−0.0` and `0.0` are equal
/// (the first wins).
///
/// A row of one value has argmax 0 whatever it holds: the class of a single output is
/// [`predict_class`]'s.
pub fn argmax(row: &[f32]) -> Option<usize> {
    let (&first, rest) = row.split_first()?;
    if first.is_nan() {
        return Some(0);
    }
    let (mut best, mut max) = (0, first);
    for (i, &x) in rest.iter().enumerate() {
        if x.is_nan() {
            return Some(i + 1);
        }
        if x > max {
            (best, max) = (i + 1, x);
        }
    }
    Some(best)
}

/// The decision threshold of a single output read as a logit: class 1 if `z > 0`
/// (`σ(z) > ½`). What [`accuracy`], [`argmax_rows`] and [`confusion`] use for `d = 1`.
pub const LOGIT_THRESHOLD: f32 = 0.0;

/// The decision threshold of a single output that is a probability (last activation
/// sigmoid): class 1 if `p > ½`. Give it to [`accuracy_at`], [`predict_classes`] and
/// [`confusion_at`].
pub const PROBABILITY_THRESHOLD: f32 = 0.5;

/// The number of classes a row of `d` outputs stands for: `d`, or 2 for a single output
/// (a binary classifier). Labels must be below it, and a confusion matrix holds
/// `classes(d)²` counts: `[u32; classes(D) * classes(D)]` in a `static`.
pub const fn classes(d: usize) -> usize {
    if d == 1 { 2 } else { d }
}

/// The predicted class of one row of scores: its [`argmax`] if it holds two values or
/// more; for a single value `x`, 1 if `x > threshold` or `x` is NaN, else 0 (see the
/// [module docs](self): [`LOGIT_THRESHOLD`] for a logit, [`PROBABILITY_THRESHOLD`] for a
/// probability). `None` for an empty row. A NaN `threshold` puts every number in class 0.
///
/// ```
/// use microprop::metrics::{LOGIT_THRESHOLD, PROBABILITY_THRESHOLD, predict_class};
///
/// assert_eq!(predict_class(&[0.2, 1.5, -3.0], LOGIT_THRESHOLD), Some(1)); // argmax
/// assert_eq!(predict_class(&[0.2], LOGIT_THRESHOLD), Some(1)); // a logit above 0
/// assert_eq!(predict_class(&[0.2], PROBABILITY_THRESHOLD), Some(0)); // a probability below ½
/// assert_eq!(predict_class(&[f32::NAN], LOGIT_THRESHOLD), Some(1));
/// ```
pub fn predict_class(row: &[f32], threshold: f32) -> Option<usize> {
    match *row {
        [x] => Some(usize::from(x > threshold || x.is_nan())),
        _ => argmax(row),
    }
}

/// A threshold must be finite.
fn check_threshold(threshold: f32) -> Result<(), Error> {
    if !threshold.is_finite() {
        return Err(Error::NonFinite {
            what: "metrics: threshold (LOGIT_THRESHOLD for logits, PROBABILITY_THRESHOLD for \
                   sigmoid outputs)",
        });
    }
    Ok(())
}

/// `d ≥ 1`, its indices fit a `u32`, and `out` holds `n` rows of `d`.
fn check_out(what: &'static str, out: &[f32], d: usize, n: usize) -> Result<(), Error> {
    if d == 0 {
        return Err(Error::InvalidArgument {
            what: "metrics: d (outputs per row) must be at least 1",
        });
    }
    if d as u64 > u64::from(u32::MAX) + 1 {
        return Err(Error::Overflow {
            what: "metrics: d > 2^32 classes (indices must fit a u32)",
        });
    }
    if n.checked_mul(d) != Some(out.len()) {
        return Err(Error::ShapeMismatch {
            what,
            expected: (n, d),
            found: (1, out.len()),
        });
    }
    Ok(())
}

/// Every label below [`classes`]`(d)`, or the first that is not.
fn check_labels(labels: &[u32], d: usize) -> Result<(), Error> {
    let classes = classes(d);
    for (index, &label) in labels.iter().enumerate() {
        if usize::try_from(label).map_or(true, |l| l >= classes) {
            return Err(Error::LabelOutOfRange {
                index,
                label,
                classes,
            });
        }
    }
    Ok(())
}

/// The predicted class of each row, read with [`LOGIT_THRESHOLD`] for `d = 1`:
/// [`predict_classes`]`(out, d, LOGIT_THRESHOLD, dst)`. For `d ≥ 2`,
/// `dst[i] = argmax(out[i·d .. (i+1)·d])` (see [`argmax`] for ties and NaN); for `d = 1`,
/// `dst[i] = 1` if the logit `out[i] > 0` (or is NaN), else 0.
///
/// # Errors
/// As [`predict_classes`].
pub fn argmax_rows(out: &[f32], d: usize, dst: &mut [u32]) -> Result<(), Error> {
    predict_classes(out, d, LOGIT_THRESHOLD, dst)
}

/// The predicted class of each of the `dst.len()` rows of `d` scores:
/// `dst[i] = `[`predict_class`]`(out row i, threshold)`: the argmax for `d ≥ 2` (the
/// threshold unused), `out[i] > threshold` (or NaN) for `d = 1`.
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²` (a class index would not fit a `u32`);
/// * [`Error::NonFinite`]: `threshold` is NaN or infinite;
/// * [`Error::ShapeMismatch`]: `out.len() != dst.len() · d`.
pub fn predict_classes(
    out: &[f32],
    d: usize,
    threshold: f32,
    dst: &mut [u32],
) -> Result<(), Error> {
    check_out(
        "predict_classes: out.len() != dst.len() * d",
        out,
        d,
        dst.len(),
    )?;
    check_threshold(threshold)?;
    for (row, p) in out.chunks_exact(d).zip(dst.iter_mut()) {
        // A row of d ≥ 1 values always has a class, below d ≤ 2^32 (or 2).
        *p = predict_class(row, threshold).unwrap_or(0) as u32;
    }
    Ok(())
}

/// How many rows of the `labels.len() × d` scores `out` predict their label, the
/// outputs read as logits: [`accuracy_at`]`(out, d, labels, LOGIT_THRESHOLD)`. A count,
/// so that sums over batches stay exact; the accuracy is `correct as f32 / labels.len()
/// as f32` (of an empty batch: undefined, the count is 0).
///
/// # Errors
/// As [`accuracy_at`].
pub fn accuracy(out: &[f32], d: usize, labels: &[u32]) -> Result<usize, Error> {
    accuracy_at(out, d, labels, LOGIT_THRESHOLD)
}

/// How many rows of the `labels.len() × d` scores `out` predict their label:
/// `#{i : predict_class(out row i, threshold) = labels[i]}` (the argmax for `d ≥ 2`, the
/// single output against `threshold` for `d = 1`; see the [module docs](self)).
///
/// # Errors
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²`;
/// * [`Error::NonFinite`]: `threshold` is NaN or infinite;
/// * [`Error::ShapeMismatch`]: `out.len() != labels.len() · d`;
/// * [`Error::LabelOutOfRange`]: the first label not below [`classes`]`(d)` (`d`, or 2
///   for a single output).
pub fn accuracy_at(out: &[f32], d: usize, labels: &[u32], threshold: f32) -> Result<usize, Error> {
    check_out(
        "accuracy: out.len() != labels.len() * d",
        out,
        d,
        labels.len(),
    )?;
    check_threshold(threshold)?;
    check_labels(labels, d)?;
    Ok(out
        .chunks_exact(d)
        .zip(labels)
        .filter(|&(row, &label)| predict_class(row, threshold) == Some(label as usize))
        .count())
}

/// How many rows of the `N × d` scores `out` predict the class of their `N × d` target
/// values `y` (targets of a loss that takes values, e.g. 0/1 labels as `f32` for the
/// binary cross-entropy): for `d ≥ 2`, `argmax(out row) = argmax(y row)`; for `d = 1`,
/// `out[i] > threshold` (or NaN) agrees with `y[i] > ½`. The target is read as a
/// probability or a label whatever the output is: 0/1 and −1/+1 targets both fall on
/// the right side of ½ (a NaN target counts as class 1, as in [`argmax`]).
///
/// ```
/// use microprop::metrics::{LOGIT_THRESHOLD, accuracy_values};
///
/// let logits = [2.5, -0.3, 0.0, 0.1];
/// let y = [1.0, 0.0, 1.0, 1.0];
/// assert_eq!(accuracy_values(&logits, 1, &y, LOGIT_THRESHOLD)?, 3);
/// # Ok::<(), microprop::Error>(())
/// ```
///
/// # Errors
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²`;
/// * [`Error::NonFinite`]: `threshold` is NaN or infinite;
/// * [`Error::ShapeMismatch`]: `out.len()` is not a whole number of rows of `d`, or
///   `y.len() != out.len()`.
pub fn accuracy_values(out: &[f32], d: usize, y: &[f32], threshold: f32) -> Result<usize, Error> {
    let n = out.len() / d.max(1);
    check_out(
        "accuracy_values: out.len() is not a whole number of rows of d",
        out,
        d,
        n,
    )?;
    if y.len() != out.len() {
        return Err(Error::ShapeMismatch {
            what: "accuracy_values: y.len() != out.len()",
            expected: (n, d),
            found: (1, y.len()),
        });
    }
    check_threshold(threshold)?;
    Ok(out
        .chunks_exact(d)
        .zip(y.chunks_exact(d))
        .filter(|&(row, t)| {
            predict_class(row, threshold) == predict_class(t, PROBABILITY_THRESHOLD)
        })
        .count())
}

/// Adds the batch to a confusion matrix, the outputs read as logits:
/// [`confusion_at`]`(out, d, labels, LOGIT_THRESHOLD, matrix)`; `matrix` holds
/// [`classes`]`(d)²` counts (`d × d`, or 2 × 2 for a single output).
///
/// # Errors
/// As [`confusion_at`].
pub fn confusion(out: &[f32], d: usize, labels: &[u32], matrix: &mut [u32]) -> Result<(), Error> {
    confusion_at(out, d, labels, LOGIT_THRESHOLD, matrix)
}

/// Adds the batch to a `k × k` confusion matrix (`k = `[`classes`]`(d)`: `d`, or 2 for a
/// single output), row-major with the row the true label and the column the prediction:
/// `matrix[labels[i]·k + predict_class(out row i, threshold)] += 1` for every `i`. For
/// `d = 1` it is `[true 0 → 0, true 0 → 1, true 1 → 0, true 1 → 1]`: true negatives,
/// false positives, false negatives, true positives. It accumulates, so one matrix can
/// gather a whole test set batch by batch; zero it to start. Counts saturate at
/// `u32::MAX` instead of wrapping.
///
/// The diagonal holds the correct predictions; a row's sum is that class's sample count.
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²`;
/// * [`Error::NonFinite`]: `threshold` is NaN or infinite;
/// * [`Error::ShapeMismatch`]: `out.len() != labels.len() · d` or `matrix.len() != k · k`;
/// * [`Error::LabelOutOfRange`]: the first label not below `k`.
pub fn confusion_at(
    out: &[f32],
    d: usize,
    labels: &[u32],
    threshold: f32,
    matrix: &mut [u32],
) -> Result<(), Error> {
    check_out(
        "confusion: out.len() != labels.len() * d",
        out,
        d,
        labels.len(),
    )?;
    let k = classes(d);
    if k.checked_mul(k) != Some(matrix.len()) {
        return Err(Error::ShapeMismatch {
            what: "confusion: matrix.len() != k * k (k = classes(d): d, or 2 for one output)",
            expected: (k, k),
            found: (1, matrix.len()),
        });
    }
    check_threshold(threshold)?;
    check_labels(labels, d)?;
    for (row, &label) in out.chunks_exact(d).zip(labels) {
        let predicted = predict_class(row, threshold).unwrap_or(0);
        // label < k and predicted < k, so the index is below k·k = matrix.len().
        let cell = &mut matrix[label as usize * k + predicted];
        *cell = cell.saturating_add(1);
    }
    Ok(())
}
