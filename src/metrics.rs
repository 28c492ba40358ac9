//! Evaluating a classifier: argmax predictions, accuracy and the confusion matrix.
//!
//! Every function takes the network's output `out` as `N × d` row-major scores (logits or
//! probabilities: argmax is the same for both) and class labels in `0..d`, as the
//! classification losses do. The predicted class of a row is its [`argmax`].
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

use crate::Error;

/// The index of the first largest value of `row`, `None` for an empty row.
///
/// NaN counts as larger than every number, as in NumPy's and PyTorch's `argmax`: a row
/// holding a NaN predicts the index of its first NaN, so a diverged network scores as a
/// wrong (or constant) prediction instead of being skipped. `−0.0` and `0.0` are equal
/// (the first wins).
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

/// `d ≥ 1`, its indices fit a `u32`, and `out` holds `n` rows of `d`.
fn check_out(what: &'static str, out: &[f32], d: usize, n: usize) -> Result<(), Error> {
    if d == 0 {
        return Err(Error::InvalidArgument {
            what: "metrics: d (the number of classes) must be at least 1",
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

/// Every label below `d`, or the first that is not.
fn check_labels(labels: &[u32], d: usize) -> Result<(), Error> {
    for (index, &label) in labels.iter().enumerate() {
        if usize::try_from(label).map_or(true, |l| l >= d) {
            return Err(Error::LabelOutOfRange {
                index,
                label,
                classes: d,
            });
        }
    }
    Ok(())
}

/// The predicted class of each row: `dst[i] = argmax(out[i·d .. (i+1)·d])` for the
/// `dst.len() × d` scores `out` (see [`argmax`] for ties and NaN).
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²` (a class index would not fit a `u32`);
/// * [`Error::ShapeMismatch`]: `out.len() != dst.len() · d`.
pub fn argmax_rows(out: &[f32], d: usize, dst: &mut [u32]) -> Result<(), Error> {
    check_out("argmax_rows: out.len() != dst.len() * d", out, d, dst.len())?;
    for (row, p) in out.chunks_exact(d).zip(dst.iter_mut()) {
        // A row of d ≥ 1 values always has an argmax, below d ≤ 2^32.
        *p = argmax(row).unwrap_or(0) as u32;
    }
    Ok(())
}

/// How many rows of the `labels.len() × d` scores `out` predict their label:
/// `#{i : argmax(out row i) = labels[i]}`. A count, so that sums over batches stay exact;
/// the accuracy is `correct as f32 / labels.len() as f32` (of an empty batch: undefined,
/// the count is 0).
///
/// # Errors
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²`;
/// * [`Error::ShapeMismatch`]: `out.len() != labels.len() · d`;
/// * [`Error::LabelOutOfRange`]: the first label `≥ d`.
pub fn accuracy(out: &[f32], d: usize, labels: &[u32]) -> Result<usize, Error> {
    check_out(
        "accuracy: out.len() != labels.len() * d",
        out,
        d,
        labels.len(),
    )?;
    check_labels(labels, d)?;
    Ok(out
        .chunks_exact(d)
        .zip(labels)
        .filter(|&(row, &label)| argmax(row) == Some(label as usize))
        .count())
}

/// Adds the batch to a `d × d` confusion matrix, row-major with the row the true label and
/// the column the prediction: `matrix[labels[i]·d + argmax(out row i)] += 1` for every `i`.
/// It accumulates, so one matrix can gather a whole test set batch by batch; zero it to
/// start. Counts saturate at `u32::MAX` instead of wrapping.
///
/// The diagonal holds the correct predictions; a row's sum is that class's sample count.
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `d` is 0;
/// * [`Error::Overflow`]: `d > 2³²`;
/// * [`Error::ShapeMismatch`]: `out.len() != labels.len() · d` or `matrix.len() != d · d`;
/// * [`Error::LabelOutOfRange`]: the first label `≥ d`.
pub fn confusion(out: &[f32], d: usize, labels: &[u32], matrix: &mut [u32]) -> Result<(), Error> {
    check_out(
        "confusion: out.len() != labels.len() * d",
        out,
        d,
        labels.len(),
    )?;
    if d.checked_mul(d) != Some(matrix.len()) {
        return Err(Error::ShapeMismatch {
            what: "confusion: matrix.len() != d * d",
            expected: (d, d),
            found: (1, matrix.len()),
        });
    }
    check_labels(labels, d)?;
    for (row, &label) in out.chunks_exact(d).zip(labels) {
        let predicted = argmax(row).unwrap_or(0);
        // label < d and predicted < d, so the index is below d·d = matrix.len().
        let cell = &mut matrix[label as usize * d + predicted];
        *cell = cell.saturating_add(1);
    }
    Ok(())
}
