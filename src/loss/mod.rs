//! Losses, each one fused pass that computes the loss value and its gradient together, with
//! a scalar reference beside it.
//!
//! A network's output `a` (or logits `z`) is an `N × d` row-major slice: `N` examples of `d`
//! outputs. The [`Target`] is either `N × d` values or `N` class indices. Reductions follow
//! PyTorch's defaults (`reduction="mean"`), except the lecture's sum of squares; the gradient
//! is always that of the reduced loss, `∂L/∂a`, of `a`'s shape.
//!
//! | [`Loss`] | `L` | reduction | `∂L/∂a` (or `∂L/∂z`) |
//! |---|---|---|---|
//! | [`SumSquared`](Loss::SumSquared) | `Σ (a − y)²` | sum over all `N·d` | `2 (a − y)` |
//! | [`MeanSquared`](Loss::MeanSquared) | `Σ (a − y)² / (N·d)` | mean over all `N·d` | `2 (a − y) / (N·d)` |
//! | [`SoftmaxCrossEntropy`](Loss::SoftmaxCrossEntropy) | `−Σ_rows Σ_j p_j ln softmax(z)_j / N` | mean over the `N` rows | `(softmax(z)·Σ_j p_j − p) / N` |
//! | [`BinaryCrossEntropy`](Loss::BinaryCrossEntropy) | `Σ [max(z, 0) − z·y + ln(1 + e^{−\|z\|})] / (N·d)` | mean over all `N·d` | `(σ(z) − y) / (N·d)` |
//!
//! For softmax cross-entropy `p` is a row of target probabilities ([`Target::Values`]) or
//! the one-hot row of a class label ([`Target::Classes`]); when `p` sums to 1 the gradient
//! is the familiar `(softmax(z) − p)/N`. Both cross-entropies take *logits* (no softmax or
//! sigmoid on the output layer) and are computed stably: softmax by log-sum-exp with the
//! row maximum subtracted (logits of `±10⁴` are fine), binary cross-entropy in the form
//! above, which never overflows.
//!
//! # Special cases
//! * An empty batch (`N = 0`) gives loss `0` and writes nothing: a mean over no elements
//!   is defined as 0 here (PyTorch would give NaN).
//! * NaN or infinite outputs or targets are not errors: the loss and the gradient come out
//!   NaN or infinite, as with [`squared_error`]. A network checks finiteness.
//!
//! # How to add a loss
//! 1. A file `src/loss/NAME.rs` with the fused pass as a `WithSimd` kernel struct (value
//!    and, when asked, `∂L/∂out` in one pass over `out` and the target; see `squared.rs`)
//!    and its scalar reference beside it (f32, index order, `libm`).
//! 2. A variant of [`Loss`] documenting its formula, its reduction and the targets it
//!    takes, added to [`Loss::ALL`], to the `match` of `Loss::pick` (its pass) and that
//!    of `loss_and_grad_scalar` (and to `validate` if it takes class labels), and a row
//!    in the table above.
//!
//! The tests iterate [`Loss::ALL`] (every instruction set against the scalar reference,
//! bad input); the f64 reference that the gradient checks use (`tests/loss.rs`,
//! `tests/trainer.rs`) fails naming the loss until it is given one. The networks need no
//! change: their entry points pick the loss's pass (`Loss::pick`) and their steps call it.
//!
//! # Accuracy
//! The vector kernels and the scalar references agree to a few ULP per element (the
//! exponentials and logarithms differ: `libm` in the references, polynomials in the
//! kernels; sums are accumulated in vector lanes). [`Loss::SumSquared`] is bit-identical to
//! [`squared_error`] (the same kernel).
//!
//! ```
//! use microprop::{Loss, Target};
//! // Two examples, three classes, labels 2 and 0.
//! let logits = [1.0f32, 2.0, 3.0, 1e4, 0.0, -1e4];
//! let mut grad = [0.0f32; 6];
//! let loss = Loss::SoftmaxCrossEntropy.loss_and_grad(&logits, 3, Target::Classes(&[2, 0]), &mut grad)?;
//! // Row 1: ln(e¹ + e² + e³) − 3 = 0.4076; row 2: ≈ 0.
//! assert!((loss - 0.407_606 / 2.0).abs() < 1e-6);
//! assert!(grad.iter().all(|g| g.is_finite()));
//! # Ok::<(), microprop::Error>(())
//! ```

mod bce;
mod math;
mod softmax;
mod squared;

pub use squared::{squared_error, squared_error_scalar};

use crate::Error;
use crate::error::{check_len, check_rows};
use crate::simd::Isa;

/// What a network's output is compared with.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Target<'a> {
    /// `N × d` values, row-major (the output's shape): regression targets for the squared
    /// losses; class probabilities (rows summing to 1) for softmax cross-entropy; 0/1
    /// labels or probabilities for binary cross-entropy.
    Values(&'a [f32]),
    /// `N` class indices in `0..d`, one per row ([`Loss::SoftmaxCrossEntropy`] only).
    Classes(&'a [u32]),
}

/// A loss function over an `N × d` output; see the [module docs](crate::loss) for the
/// formulas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Loss {
    /// `L = Σ (a − y)²`, **summed** over the batch and the outputs (the lecture's loss,
    /// [`squared_error`]); `∂L/∂a = 2 (a − y)`. Target: [`Target::Values`].
    SumSquared,
    /// `L = Σ (a − y)² / (N·d)`, the **mean** over all `N·d` elements (PyTorch's `MSELoss`);
    /// `∂L/∂a = 2 (a − y) / (N·d)`. Target: [`Target::Values`].
    MeanSquared,
    /// Softmax cross-entropy on logits `z`: `L = −(1/N) Σ_rows Σ_j p_j ln softmax(z)_j`,
    /// the **mean** over the `N` rows (PyTorch's `CrossEntropyLoss`);
    /// `∂L/∂z = (softmax(z)·Σ_j p_j − p) / N`, `(softmax(z) − p)/N` for rows summing to 1.
    /// Target: class labels [`Target::Classes`] (`p` one-hot) or probabilities
    /// [`Target::Values`]. Stable by log-sum-exp: any finite logits give a finite loss.
    SoftmaxCrossEntropy,
    /// Binary cross-entropy on logits `z` (an independent sigmoid per output):
    /// `L = (1/(N·d)) Σ [max(z, 0) − z·y + ln(1 + e^{−|z|})]`, the **mean** over all `N·d`
    /// elements (PyTorch's `BCEWithLogitsLoss`); `∂L/∂z = (σ(z) − y) / (N·d)`.
    /// Target: [`Target::Values`], 0/1 labels or probabilities.
    BinaryCrossEntropy,
}

impl Loss {
    /// Every variant.
    pub const ALL: &'static [Loss] = &[
        Loss::SumSquared,
        Loss::MeanSquared,
        Loss::SoftmaxCrossEntropy,
        Loss::BinaryCrossEntropy,
    ];

    /// The loss of the `N × d` output `out` (row-major, `N = out.len() / d`) against
    /// `target`, and `∂L/∂out` into `grad` (`out`'s length) in the same pass, vectorized.
    ///
    /// # Errors
    /// Checked before anything is written (an `Err` leaves `grad` untouched):
    /// * [`Error::ShapeMismatch`] if `d == 0`, `out.len()` is not a multiple of `d`, the
    ///   target's length is not `N·d` values or `N` labels, or `grad.len() != out.len()`;
    /// * [`Error::InvalidArgument`] for [`Target::Classes`] with a loss other than
    ///   [`Loss::SoftmaxCrossEntropy`];
    /// * [`Error::LabelOutOfRange`] for a label `≥ d`.
    ///
    /// ```
    /// use microprop::{Loss, Target};
    /// let mut grad = [0.0f32; 2];
    /// let loss = Loss::MeanSquared.loss_and_grad(&[1.0, 3.0], 2, Target::Values(&[0.0, 1.0]), &mut grad)?;
    /// assert_eq!((loss, grad), (2.5, [1.0, 2.0]));
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn loss_and_grad(
        self,
        out: &[f32],
        d: usize,
        target: Target<'_>,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.loss_and_grad_isa(Isa::active(), out, d, target, Some(grad))
    }

    /// The scalar reference of [`loss_and_grad`](Loss::loss_and_grad): the same formulas,
    /// one `f32` at a time in index order, exponentials and logarithms from `libm`.
    ///
    /// # Errors
    /// As [`loss_and_grad`](Loss::loss_and_grad) (nothing written on error).
    pub fn loss_and_grad_scalar(
        self,
        out: &[f32],
        d: usize,
        target: Target<'_>,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        self.validate(out, d, target, Some(grad.len()))?;
        if out.is_empty() {
            return Ok(0.0);
        }
        Ok(match (self, target) {
            (Loss::SoftmaxCrossEntropy, t) => softmax::softmax_ce_scalar(out, d, t, grad),
            (_, Target::Classes(_)) => return Err(CLASSES_NEED_SOFTMAX),
            (Loss::SumSquared, Target::Values(y)) => squared::squared_scalar(false, out, y, grad),
            (Loss::MeanSquared, Target::Values(y)) => squared::squared_scalar(true, out, y, grad),
            (Loss::BinaryCrossEntropy, Target::Values(y)) => bce::bce_scalar(out, y, grad),
        })
    }

    /// The loss value alone (evaluation): [`loss_and_grad`](Loss::loss_and_grad) without
    /// the gradient; nothing is written. Same arithmetic, so the same value.
    ///
    /// # Errors
    /// As [`loss_and_grad`](Loss::loss_and_grad), less the gradient's length.
    pub fn loss(self, out: &[f32], d: usize, target: Target<'_>) -> Result<f32, Error> {
        self.loss_and_grad_isa(Isa::active(), out, d, target, None)
    }

    /// [`loss_and_grad`](Loss::loss_and_grad) (or [`loss`](Loss::loss) for `grad = None`)
    /// on a chosen instruction set: the seam a network calls with its own `Isa`.
    pub(crate) fn loss_and_grad_isa(
        self,
        isa: Isa,
        out: &[f32],
        d: usize,
        target: Target<'_>,
        grad: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        self.pick().loss_and_grad_isa(isa, out, d, target, grad)
    }

    /// This loss with its pass picked: inlined where the loss is a constant (a firmware
    /// that trains with one loss), the `match` folds and only that loss's code is linked;
    /// the networks' entry points pick it and hand the [`LossFn`] down.
    #[inline(always)]
    pub(crate) fn pick(self) -> LossFn {
        LossFn {
            loss: self,
            pass: match self {
                Loss::SoftmaxCrossEntropy => softmax::softmax_ce,
                Loss::SumSquared => |isa, out, _, target, grad| match target {
                    Target::Values(y) => squared::squared(isa, false, out, y, grad),
                    Target::Classes(_) => f32::NAN, // refused by `validate`
                },
                Loss::MeanSquared => |isa, out, _, target, grad| match target {
                    Target::Values(y) => squared::squared(isa, true, out, y, grad),
                    Target::Classes(_) => f32::NAN, // refused by `validate`
                },
                Loss::BinaryCrossEntropy => |isa, out, _, target, grad| match target {
                    Target::Values(y) => bce::bce(isa, out, y, grad),
                    Target::Classes(_) => f32::NAN, // refused by `validate`
                },
            },
        }
    }

    /// [`Loss::SumSquared`]'s pass alone, for [`Mlp::train_step`](crate::nn::Mlp::train_step)
    /// and [`Mlp::loss_and_grad`](crate::nn::Mlp::loss_and_grad): a firmware that trains
    /// only with them links no other loss's code (and no validation of a run-time
    /// [`Loss`]: the `match` of [`Loss::pick`] links every loss where the loss is not a
    /// constant).
    pub(crate) fn sum_squared_isa(
        isa: Isa,
        out: &[f32],
        target: &[f32],
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        check_len("y must be N x d", out.len(), target.len())?;
        check_len("loss gradient", out.len(), grad.len())?;
        Ok(squared::squared(isa, false, out, target, Some(grad)))
    }

    /// Every check of the public functions, in the documented order.
    fn validate(
        self,
        out: &[f32],
        d: usize,
        target: Target<'_>,
        grad_len: Option<usize>,
    ) -> Result<(), Error> {
        let n = out.len();
        if d == 0 {
            return Err(Error::ShapeMismatch {
                what: "loss: d (outputs per row) must be at least 1",
                expected: (n, 1),
                found: (n, 0),
            });
        }
        let rows = check_rows("loss: out (N rows of d values)", n, d)?;
        match target {
            Target::Values(y) if y.len() != n => {
                return Err(Error::ShapeMismatch {
                    what: "loss: y must be N x d",
                    expected: (rows, d),
                    found: (1, y.len()),
                });
            }
            Target::Classes(_) if self != Loss::SoftmaxCrossEntropy => {
                return Err(CLASSES_NEED_SOFTMAX);
            }
            Target::Classes(labels) if labels.len() != rows => {
                return Err(Error::ShapeMismatch {
                    what: "loss: labels must be N",
                    expected: (rows, 1),
                    found: (labels.len(), 1),
                });
            }
            _ => {}
        }
        if let Some(g) = grad_len
            && g != n
        {
            return Err(Error::ShapeMismatch {
                what: "loss: grad must be N x d (out's length)",
                expected: (rows, d),
                found: (1, g),
            });
        }
        if let Target::Classes(labels) = target
            && let Some((index, &label)) = labels
                .iter()
                .enumerate()
                .find(|&(_, &l)| usize::try_from(l).map_or(true, |l| l >= d))
        {
            return Err(Error::LabelOutOfRange {
                index,
                label,
                classes: d,
            });
        }
        Ok(())
    }
}

const CLASSES_NEED_SOFTMAX: Error = Error::InvalidArgument {
    what: "loss: Target::Classes (class labels) needs Loss::SoftmaxCrossEntropy; \
           give the other losses Target::Values",
};

/// A loss's pass once its arguments are validated: `(isa, out, d, target, grad)`.
type Pass = fn(Isa, &[f32], usize, Target<'_>, Option<&mut [f32]>) -> f32;

/// A [`Loss`] and its pass, picked by [`Loss::pick`] where the loss is known (a network's
/// entry point) and handed down instead of the `Loss`, so that a firmware training with
/// one loss links that loss's code alone (the `match` over every loss is gone from the
/// step).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LossFn {
    /// The loss (its reduction and the targets it takes).
    pub(crate) loss: Loss,
    /// Its pass.
    pass: Pass,
}

impl LossFn {
    /// [`Loss::loss_and_grad_isa`] through the picked pass.
    pub(crate) fn loss_and_grad_isa(
        self,
        isa: Isa,
        out: &[f32],
        d: usize,
        target: Target<'_>,
        grad: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        self.loss
            .validate(out, d, target, grad.as_deref().map(<[f32]>::len))?;
        if out.is_empty() {
            return Ok(0.0);
        }
        Ok((self.pass)(isa, out, d, target, grad))
    }

    /// [`Loss::loss`] through the picked pass.
    pub(crate) fn loss(self, out: &[f32], d: usize, target: Target<'_>) -> Result<f32, Error> {
        self.loss_and_grad_isa(Isa::active(), out, d, target, None)
    }
}
