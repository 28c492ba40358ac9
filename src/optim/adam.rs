//! Adam and AdamW with bias correction: the rules of PyTorch's `torch.optim.Adam` and
//! `torch.optim.AdamW` (without `amsgrad`).

use super::{Names, Optimizer, all_finite, check_hyper, check_lr, load_n, store_n};
use crate::Error;
use crate::error::check_len;
use crate::simd::{Isa, Simd, WithSimd, dispatch, flush_tiny, flush_tiny_scalar};
use core::fmt;

/// The hyperparameters of [`Adam`]. Build with [`AdamConfig::adam`] or
/// [`AdamConfig::adamw`], then struct update syntax for the rest:
/// `AdamConfig { beta2: 0.98, ..AdamConfig::adam(1e-3) }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate: finite, ≥ 0.
    pub lr: f32,
    /// Decay β₁ of the first moment m: in `[0, 1)`.
    pub beta1: f32,
    /// Decay β₂ of the second moment v: in `[0, 1)`.
    pub beta2: f32,
    /// ε added to the bias-corrected `√v`: finite, > 0.
    pub eps: f32,
    /// Weight decay wd: finite, ≥ 0. Added to the gradient as `wd·θ` (an L2 penalty,
    /// Adam's `weight_decay`) or, if `decoupled`, applied as `θ ← θ·(1 − lr·wd)` (AdamW).
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW) instead of an L2 penalty on the gradient.
    pub decoupled: bool,
}

impl AdamConfig {
    /// Adam with PyTorch's defaults: β₁ = 0.9, β₂ = 0.999, ε = 1e-8, no weight decay.
    pub const fn adam(lr: f32) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW: Adam's defaults with decoupled weight decay `weight_decay` (PyTorch's
    /// default is 0.01).
    pub const fn adamw(lr: f32, weight_decay: f32) -> AdamConfig {
        AdamConfig {
            weight_decay,
            decoupled: true,
            ..AdamConfig::adam(lr)
        }
    }
}

/// Adam (or AdamW) with bias correction, its moments in caller-owned state.
///
/// Update t (t = 1, 2, …; [`step_count`](Adam::step_count) after it) first computes, once,
/// in `f64` from the `f32` hyperparameters and rounded to `f32`:
/// `step = lr / (1 − β₁ᵗ)`, `c₂ = √(1 − β₂ᵗ)`, and for AdamW `keep = 1 − lr·wd`. Then, for
/// every parameter θ with gradient g, one pass computes (`f32`, in this order, each
/// operation rounded, `a·b + c` fused where the instruction set has FMA — see
/// [the module docs](super#rounding)):
///
/// 1. Adam with `weight_decay != 0`: `g ← wd·θ + g`; AdamW with `weight_decay != 0`:
///    `θ ← θ·keep`;
/// 2. `m ← β₁·m + (1 − β₁)·g`;
/// 3. `v ← β₂·v + (1 − β₂)·(g·g)`;
/// 4. `θ ← (m / (√v / c₂ + ε))·(−step) + θ`,
///
/// with `1 − β₁` and `1 − β₂` rounded to `f32` (exact for β ≥ 0.5). That is PyTorch's
/// `θ ← θ − (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε)`.
///
/// State: [`Adam::state_len`]`(n) = 2n` values, m then v; its length fixes the parameter
/// count n.
pub struct Adam<'s> {
    cfg: AdamConfig,
    m: &'s mut [f32],
    v: &'s mut [f32],
    t: u64,
}

impl fmt::Debug for Adam<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adam")
            .field("cfg", &self.cfg)
            .field("params", &self.m.len())
            .field("t", &self.t)
            .finish()
    }
}

/// The per-step scalars of one update (computed once, outside the pass).
#[derive(Clone, Copy)]
struct StepScalars {
    /// `wd` if Adam's L2 penalty applies, else 0 (then skipped).
    l2: f32,
    /// `1 − lr·wd` if AdamW's decay applies (`decay`), else 1.
    keep: f32,
    decay: bool,
    b1: f32,
    omb1: f32,
    b2: f32,
    omb2: f32,
    /// `1/√(1 − β2ᵗ)`, the second moment's bias correction as a factor.
    inv_c2: f32,
    /// Gradients below this magnitude add nothing to `v`: `(1 − β2)·g²` would be
    /// subnormal (`√(f32::MIN_POSITIVE / (1 − β2))`).
    sq_min: f32,
    eps: f32,
    neg_step: f32,
}

impl<'s> Adam<'s> {
    /// The state length for `params` parameters: `2·params` (m, then v). Saturates
    /// instead of overflowing (no slice of `f32` is that long).
    pub const fn state_len(params: usize) -> usize {
        params.saturating_mul(2)
    }

    /// Adam with `cfg`, its moments in `state` (zeroed here: a fresh start, t = 0). The
    /// parameter count is `state.len() / 2`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if a hyperparameter is NaN or infinite; [`Error::InvalidArgument`]
    /// if `lr` or `weight_decay` is negative, `beta1` or `beta2` is outside `[0, 1)`, `eps`
    /// is not a normal number > 0 (below `f32::MIN_POSITIVE`, about 1.2e-38), or
    /// `state.len()` is odd. Each names the field; `state` is untouched then.
    pub fn new(cfg: AdamConfig, state: &'s mut [f32]) -> Result<Adam<'s>, Error> {
        check_lr(cfg.lr, "AdamConfig::lr", "AdamConfig::lr is negative")?;
        check_hyper(
            cfg.beta1,
            "AdamConfig::beta1",
            "AdamConfig::beta1 is outside [0, 1)",
            (0.0..1.0).contains(&cfg.beta1),
        )?;
        check_hyper(
            cfg.beta2,
            "AdamConfig::beta2",
            "AdamConfig::beta2 is outside [0, 1)",
            (0.0..1.0).contains(&cfg.beta2),
        )?;
        check_hyper(
            cfg.eps,
            "AdamConfig::eps",
            "AdamConfig::eps is not a normal number > 0 (at least f32::MIN_POSITIVE)",
            cfg.eps >= f32::MIN_POSITIVE,
        )?;
        check_hyper(
            cfg.weight_decay,
            "AdamConfig::weight_decay",
            "AdamConfig::weight_decay is negative",
            cfg.weight_decay >= 0.0,
        )?;
        if !state.len().is_multiple_of(2) {
            return Err(Error::InvalidArgument {
                what: "Adam::new: state.len() is odd; size it with Adam::state_len(params) \
                       = 2·params (m, then v)",
            });
        }
        state.fill(0.0);
        let (m, v) = state.split_at_mut(state.len() / 2);
        Ok(Adam { cfg, m, v, t: 0 })
    }

    /// The configuration, with the current learning rate.
    pub fn config(&self) -> AdamConfig {
        self.cfg
    }

    /// The number of updates made so far (t of the last one; 0 before the first).
    pub fn step_count(&self) -> u64 {
        self.t
    }

    /// The moments (m, v), each as long as the parameters.
    pub fn moments(&self) -> (&[f32], &[f32]) {
        (self.m, self.v)
    }

    /// Back to a fresh start: moments zeroed, t = 0.
    pub fn reset(&mut self) {
        self.m.fill(0.0);
        self.v.fill(0.0);
        self.t = 0;
    }

    /// The checks every update makes before writing, except the gradients' finiteness.
    fn validate(&self, what: Names, params: &[f32], grads: &[f32]) -> Result<(), Error> {
        self.check_count(what, params.len())?;
        check_len(what.grads, params.len(), grads.len())
    }

    /// The checks that do not look at the values: parameter count and learning rate.
    fn check_count(&self, what: Names, params: usize) -> Result<(), Error> {
        if self.m.len() != params {
            return Err(Error::StateMismatch {
                what: what.entry,
                params,
                needed: Adam::state_len(params),
                len: self.m.len() + self.v.len(),
                sized_by: "Adam::state_len",
            });
        }
        check_lr(self.cfg.lr, what.lr, what.negative_lr)
    }

    /// The scalars of update `t` (≥ 1).
    fn scalars(&self, t: u64) -> StepScalars {
        let c = self.cfg;
        let bc1 = 1.0 - pow_u64(f64::from(c.beta1), t);
        let bc2 = 1.0 - pow_u64(f64::from(c.beta2), t);
        let decay = c.decoupled && c.weight_decay != 0.0;
        StepScalars {
            l2: if c.decoupled { 0.0 } else { c.weight_decay },
            keep: if decay {
                (1.0 - f64::from(c.lr) * f64::from(c.weight_decay)) as f32
            } else {
                1.0
            },
            decay,
            b1: c.beta1,
            omb1: 1.0 - c.beta1,
            b2: c.beta2,
            omb2: 1.0 - c.beta2,
            inv_c2: (1.0 / libm::sqrt(bc2)) as f32,
            sq_min: libm::sqrt(f64::from(f32::MIN_POSITIVE) / f64::from(1.0 - c.beta2)) as f32,
            eps: c.eps,
            neg_step: (-f64::from(c.lr) / bc1) as f32,
        }
    }

    /// The scalar reference of [`update`](Optimizer::update): the same operations in the
    /// same order, each rounded on its own (no fused multiply-add; the crate's `sqrtf`, correctly
    /// rounded like every backend's square root; `1/denom` exact, where the vector
    /// backends' reciprocal estimate is within 0.6 ULP). It agrees bit for bit with the SIMD pass
    /// on [`Isa::Scalar`], and to rounding on the others.
    ///
    /// # Errors
    /// As [`update`](Optimizer::update); nothing is written then.
    pub fn update_scalar(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        self.validate(SCALAR_NAMES, params, grads)?;
        if !grads.iter().all(|g| g.is_finite()) {
            return Err(Error::NonFinite {
                what: SCALAR_NAMES.nonfinite,
            });
        }
        let t = self.t.saturating_add(1);
        let k = self.scalars(t);
        let state = self.m.iter_mut().zip(self.v.iter_mut());
        for ((p, &g), (m, v)) in params.iter_mut().zip(grads).zip(state) {
            let g = flush_tiny_scalar(if k.l2 != 0.0 { k.l2 * *p + g } else { g });
            let gq = if g.abs() < k.sq_min { 0.0 } else { g };
            if k.decay {
                *p *= k.keep;
            }
            *m = flush_tiny_scalar(k.b1 * *m + k.omb1 * g);
            *v = flush_tiny_scalar(k.b2 * *v + k.omb2 * (gq * gq));
            let denom = crate::simd::sqrtf(*v) * k.inv_c2 + k.eps;
            *p += (*m * recip_or_zero(denom)) * k.neg_step;
        }
        self.t = t;
        Ok(())
    }
}

/// `b^t` by repeated squaring (a few f64 multiplications; `libm::pow` took a tenth of a
/// microsecond a step, a noticeable share of a small network's step).
fn pow_u64(b: f64, mut t: u64) -> f64 {
    let (mut r, mut x) = (1.0, b);
    while t > 0 {
        if t & 1 == 1 {
            r *= x;
        }
        x *= x;
        t >>= 1;
    }
    r
}

/// `1/d` for a denominator `d = √v/c2 + ε ≥ ε` (normal), and 0 for `d = +∞` (a `v`
/// that overflowed, as `m/∞ = 0`): the scalar form of the vector pass's reciprocal.
fn recip_or_zero(d: f32) -> f32 {
    if d < f32::MAX { 1.0 / d } else { 0.0 }
}

const NAMES: Names = Names {
    entry: "Adam::update",
    grads: "Adam::update: grads.len() != params.len()",
    lr: "Adam::update: lr (see set_lr)",
    negative_lr: "Adam::update: lr is negative (see set_lr)",
    nonfinite: "Adam::update: grads (a gradient is NaN or infinite)",
};

const SCALAR_NAMES: Names = Names {
    entry: "Adam::update_scalar",
    grads: "Adam::update_scalar: grads.len() != params.len()",
    lr: "Adam::update_scalar: lr (see set_lr)",
    negative_lr: "Adam::update_scalar: lr is negative (see set_lr)",
    nonfinite: "Adam::update_scalar: grads (a gradient is NaN or infinite)",
};

impl Optimizer for Adam<'_> {
    fn check(&self, params: usize) -> Result<(), Error> {
        self.check_count(NAMES, params)
    }

    fn update(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        self.validate(NAMES, params, grads)?;
        let isa = Isa::active();
        if !all_finite(isa, grads) {
            return Err(Error::NonFinite {
                what: NAMES.nonfinite,
            });
        }
        let t = self.t.saturating_add(1);
        let k = self.scalars(t);
        dispatch(
            isa,
            AdamStep {
                params,
                grads,
                m: self.m,
                v: self.v,
                k,
            },
        );
        self.t = t;
        Ok(())
    }

    fn update_part(&mut self, at: usize, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        check_lr(self.cfg.lr, NAMES.lr, NAMES.negative_lr)?;
        check_len(NAMES.grads, params.len(), grads.len())?;
        let Some(end) = at.checked_add(params.len()).filter(|&e| e <= self.m.len()) else {
            return Err(Error::StateMismatch {
                what: "Adam::update_part: the part reaches past the state",
                params: at.saturating_add(params.len()),
                needed: Adam::state_len(at.saturating_add(params.len())),
                len: self.m.len() + self.v.len(),
                sized_by: "Adam::state_len",
            });
        };
        let isa = Isa::active();
        if !all_finite(isa, grads) {
            return Err(Error::NonFinite {
                what: NAMES.nonfinite,
            });
        }
        let k = self.scalars(self.t.saturating_add(1));
        dispatch(
            isa,
            AdamStep {
                params,
                grads,
                m: &mut self.m[at..end],
                v: &mut self.v[at..end],
                k,
            },
        );
        Ok(())
    }

    fn finish_parts(&mut self) {
        self.t = self.t.saturating_add(1);
    }

    fn lr(&self) -> f32 {
        self.cfg.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.cfg.lr = lr;
    }
}

/// One pass of [`Adam`] over the parameters, gradients and both moments.
struct AdamStep<'a> {
    params: &'a mut [f32],
    grads: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    k: StepScalars,
}

impl WithSimd for AdamStep<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let k = self.k;
        let n = self
            .params
            .len()
            .min(self.grads.len())
            .min(self.m.len())
            .min(self.v.len());
        let (p, g) = (self.params.as_mut_ptr(), self.grads.as_ptr());
        let (m, v) = (self.m.as_mut_ptr(), self.v.as_mut_ptr());
        let (l2, keep) = (s.splat(k.l2), s.splat(k.keep));
        let (b1, omb1, b2, omb2) = (
            s.splat(k.b1),
            s.splat(k.omb1),
            s.splat(k.b2),
            s.splat(k.omb2),
        );
        let (inv_c2, eps, neg_step) = (s.splat(k.inv_c2), s.splat(k.eps), s.splat(k.neg_step));
        let sq_min = s.splat(k.sq_min);
        let (penalty, decay) = (k.l2 != 0.0, k.decay);
        let mut i = 0;
        while i < n {
            let r = (n - i).min(S::LANES);
            // SAFETY: `i + r <= n`, and all four slices hold at least `n` values.
            unsafe {
                let mut th = load_n(s, p.add(i), r);
                let mut gv = load_n(s, g.add(i), r);
                if penalty {
                    gv = s.mul_add(l2, th, gv);
                }
                gv = flush_tiny(s, gv);
                let gq = s.zero_where_lt(s.abs(gv), sq_min, gv);
                if decay {
                    th = s.mul(th, keep);
                }
                let mv = s.mul_add(b1, load_n(s, m.add(i), r), s.mul(omb1, gv));
                let mv = flush_tiny(s, mv);
                let vv = s.mul_add(b2, load_n(s, v.add(i), r), s.mul(omb2, s.mul(gq, gq)));
                let vv = flush_tiny(s, vv);
                // √v·(1/c2) + ε and m·(1/denom): one square root and a reciprocal
                // estimate instead of two divisions, which bounded this loop.
                let denom = s.add(s.mul(s.sqrt(vv), inv_c2), eps);
                let inv = s.recip_fast(denom);
                let inv = s.lt_select(denom, s.splat(f32::MAX), inv, s.splat(0.0));
                th = s.mul_add(s.mul(mv, inv), neg_step, th);
                store_n(s, m.add(i), mv, r);
                store_n(s, v.add(i), vv, r);
                store_n(s, p.add(i), th, r);
            }
            i += r;
        }
    }
}
