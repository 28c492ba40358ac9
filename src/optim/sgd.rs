//! Stochastic gradient descent with momentum, Nesterov momentum and weight decay: the rule
//! of PyTorch's `torch.optim.SGD` with dampening 0.

use super::{Names, Optimizer, all_finite, check_hyper, check_lr, load_n, sgd_isa, store_n};
use crate::Error;
use crate::error::check_len;
use crate::simd::{Isa, Simd, WithSimd, dispatch, flush_tiny, flush_tiny_scalar};
use core::fmt;

/// The hyperparameters of [`Sgd`]. Build with [`SgdConfig::new`] and struct update syntax:
/// `SgdConfig { momentum: 0.9, nesterov: true, ..SgdConfig::new(0.1) }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate: finite, ≥ 0.
    pub lr: f32,
    /// Momentum μ: finite, ≥ 0 (0: no momentum, no state).
    pub momentum: f32,
    /// Nesterov momentum: step along `g + μ·b` instead of `b` (needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 weight decay wd, added to the gradient as `wd·θ`: finite, ≥ 0.
    pub weight_decay: f32,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`: no momentum, no Nesterov, no weight decay
    /// (PyTorch's defaults).
    pub const fn new(lr: f32) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// SGD with optional momentum, Nesterov momentum and weight decay, its momentum buffer in
/// caller-owned state.
///
/// Each [`update`](Optimizer::update) computes, for every parameter θ with gradient g (one
/// pass; `f32`, in this order, each operation rounded, `a·b + c` fused where the
/// instruction set has FMA — see [the module docs](super#rounding)):
///
/// 1. if `weight_decay != 0`: `g ← wd·θ + g`;
/// 2. if `momentum != 0`: `b ← μ·b + g`, except `b ← g` on the first update;
///    then `d ← μ·b + g` if `nesterov`, else `d ← b`; without momentum `d ← g`;
/// 3. `θ ← d·(−lr) + θ`.
///
/// Without momentum and weight decay this is [`sgd_update`](crate::sgd_update) (the same
/// kernel, bit for bit), and [`plain_sgd_lr`](Optimizer::plain_sgd_lr) says so.
///
/// State: [`Sgd::state_len`]`(n) = n` values (the buffer b), needed only with momentum;
/// its length fixes the parameter count. Without momentum an empty state accepts any
/// parameter count (and a non-empty one fixes it, unused).
pub struct Sgd<'s> {
    cfg: SgdConfig,
    buf: &'s mut [f32],
    /// Whether `buf` holds a momentum (not before the first update, which sets `b ← g`).
    started: bool,
}

impl fmt::Debug for Sgd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sgd")
            .field("cfg", &self.cfg)
            .field("state_len", &self.buf.len())
            .field("started", &self.started)
            .finish()
    }
}

impl<'s> Sgd<'s> {
    /// The state length for `params` parameters: `params` (the momentum buffer). Only
    /// needed with momentum; without it 0 is enough.
    pub const fn state_len(params: usize) -> usize {
        params
    }

    /// SGD with `cfg`, its momentum buffer in `state` (zeroed here: a fresh start).
    ///
    /// # Errors
    /// [`Error::NonFinite`] if `lr`, `momentum` or `weight_decay` is NaN or infinite;
    /// [`Error::InvalidArgument`] if one of them is negative, or `nesterov` is set with
    /// `momentum == 0`. Each names the field; `state` is untouched then.
    pub fn new(cfg: SgdConfig, state: &'s mut [f32]) -> Result<Sgd<'s>, Error> {
        check_lr(cfg.lr, "SgdConfig::lr", "SgdConfig::lr is negative")?;
        check_hyper(
            cfg.momentum,
            "SgdConfig::momentum",
            "SgdConfig::momentum is negative",
            cfg.momentum >= 0.0,
        )?;
        check_hyper(
            cfg.weight_decay,
            "SgdConfig::weight_decay",
            "SgdConfig::weight_decay is negative",
            cfg.weight_decay >= 0.0,
        )?;
        if cfg.nesterov && cfg.momentum == 0.0 {
            return Err(Error::InvalidArgument {
                what: "SgdConfig::nesterov needs momentum > 0",
            });
        }
        state.fill(0.0);
        Ok(Sgd {
            cfg,
            buf: state,
            started: false,
        })
    }

    /// The configuration, with the current learning rate.
    pub fn config(&self) -> SgdConfig {
        self.cfg
    }

    /// The momentum buffer b (all zero before the first update, and without momentum).
    pub fn momentum_buffer(&self) -> &[f32] {
        self.buf
    }

    /// Back to a fresh start: the buffer zeroed, the next update again sets `b ← g`.
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
        self.started = false;
    }

    /// Whether the state length fixes the parameter count.
    fn sized(&self) -> bool {
        self.cfg.momentum != 0.0 || !self.buf.is_empty()
    }

    /// The checks every update makes before writing, except the gradients' finiteness.
    fn validate(&self, what: Names, params: &[f32], grads: &[f32]) -> Result<(), Error> {
        self.check_count(what, params.len())?;
        check_len(what.grads, params.len(), grads.len())
    }

    /// The checks that do not look at the values: parameter count and learning rate.
    fn check_count(&self, what: Names, params: usize) -> Result<(), Error> {
        if self.sized() && self.buf.len() != params {
            return Err(Error::StateMismatch {
                what: what.entry,
                params,
                needed: Sgd::state_len(params),
                len: self.buf.len(),
                sized_by: "Sgd::state_len",
            });
        }
        check_lr(self.cfg.lr, what.lr, what.negative_lr)
    }

    /// The scalar reference of [`update`](Optimizer::update): the same operations in the
    /// same order, each rounded on its own (no fused multiply-add). It agrees bit for bit
    /// with the SIMD pass on [`Isa::Scalar`], and to rounding on the others.
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
        let SgdConfig {
            lr,
            momentum: mu,
            nesterov,
            weight_decay: wd,
        } = self.cfg;
        let first = !self.started;
        for (i, (p, &g)) in params.iter_mut().zip(grads).enumerate() {
            let g = if wd != 0.0 { wd * *p + g } else { g };
            let d = if mu != 0.0 {
                let g = flush_tiny_scalar(g);
                let b = &mut self.buf[i];
                *b = flush_tiny_scalar(if first { g } else { mu * *b + g });
                if nesterov { mu * *b + g } else { *b }
            } else {
                g
            };
            *p += d * -lr;
        }
        self.started = true;
        Ok(())
    }
}

const NAMES: Names = Names {
    entry: "Sgd::update",
    grads: "Sgd::update: grads.len() != params.len()",
    lr: "Sgd::update: lr (see set_lr)",
    negative_lr: "Sgd::update: lr is negative (see set_lr)",
    nonfinite: "Sgd::update: grads (a gradient is NaN or infinite)",
};

const SCALAR_NAMES: Names = Names {
    entry: "Sgd::update_scalar",
    grads: "Sgd::update_scalar: grads.len() != params.len()",
    lr: "Sgd::update_scalar: lr (see set_lr)",
    negative_lr: "Sgd::update_scalar: lr is negative (see set_lr)",
    nonfinite: "Sgd::update_scalar: grads (a gradient is NaN or infinite)",
};

impl Optimizer for Sgd<'_> {
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
        sgd_pass(isa, self.cfg, !self.started, params, grads, self.buf);
        self.started = true;
        Ok(())
    }

    fn update_part(&mut self, at: usize, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        check_lr(self.cfg.lr, NAMES.lr, NAMES.negative_lr)?;
        check_len(NAMES.grads, params.len(), grads.len())?;
        let end = at.checked_add(params.len());
        let fits = end.is_some_and(|e| e <= self.buf.len());
        if self.sized() && !fits {
            return Err(Error::StateMismatch {
                what: "Sgd::update_part: the part reaches past the state",
                params: at.saturating_add(params.len()),
                needed: Sgd::state_len(at.saturating_add(params.len())),
                len: self.buf.len(),
                sized_by: "Sgd::state_len",
            });
        }
        let isa = Isa::active();
        if !all_finite(isa, grads) {
            return Err(Error::NonFinite {
                what: NAMES.nonfinite,
            });
        }
        let buf: &mut [f32] = match end {
            Some(end) if fits => &mut self.buf[at..end],
            _ => &mut [],
        };
        sgd_pass(isa, self.cfg, !self.started, params, grads, buf);
        Ok(())
    }

    fn finish_parts(&mut self) {
        self.started = true;
    }

    fn lr(&self) -> f32 {
        self.cfg.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.cfg.lr = lr;
    }

    fn plain_sgd_lr(&self) -> Option<f32> {
        (self.cfg.momentum == 0.0 && self.cfg.weight_decay == 0.0).then_some(self.cfg.lr)
    }
}

/// One update of `params` by `cfg`'s rule (the checks done; `buf` the momentum buffer
/// of these parameters, used only with momentum).
fn sgd_pass(
    isa: Isa,
    cfg: SgdConfig,
    first: bool,
    params: &mut [f32],
    grads: &[f32],
    buf: &mut [f32],
) {
    let SgdConfig {
        lr,
        momentum,
        nesterov,
        weight_decay,
    } = cfg;
    if momentum == 0.0 && weight_decay == 0.0 {
        // (Lengths checked by the caller: this cannot fail.)
        let _ = sgd_isa(isa, params, grads, lr);
    } else {
        let with_momentum = momentum != 0.0;
        let buf: &mut [f32] = if with_momentum { buf } else { &mut [] };
        dispatch(
            isa,
            SgdStep {
                params,
                grads,
                buf,
                neg_lr: -lr,
                mu: momentum,
                wd: weight_decay,
                momentum: with_momentum,
                nesterov,
                first,
            },
        );
    }
}

/// One pass of [`Sgd`] with momentum or weight decay (plain SGD runs `sgd_isa`, the kernel of `sgd_update`).
struct SgdStep<'a> {
    params: &'a mut [f32],
    grads: &'a [f32],
    /// The momentum buffer, as long as `params` if `momentum`, else unused (may be empty).
    buf: &'a mut [f32],
    neg_lr: f32,
    mu: f32,
    wd: f32,
    momentum: bool,
    nesterov: bool,
    first: bool,
}

impl WithSimd for SgdStep<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // The flags are the same for every element: the branches below are always
        // predicted, and cost nothing next to the memory traffic.
        let mut n = self.params.len().min(self.grads.len());
        if self.momentum {
            n = n.min(self.buf.len());
        }
        let (p, g, b) = (
            self.params.as_mut_ptr(),
            self.grads.as_ptr(),
            self.buf.as_mut_ptr(),
        );
        let (neg_lr, mu, wd) = (s.splat(self.neg_lr), s.splat(self.mu), s.splat(self.wd));
        let decay = self.wd != 0.0;
        let mut i = 0;
        while i < n {
            let r = (n - i).min(S::LANES);
            // SAFETY: `i + r <= n`, and `params`, `grads` (and `buf` if `momentum`) hold
            // at least `n` values; `buf` is read and written only if `momentum`.
            unsafe {
                let mut th = load_n(s, p.add(i), r);
                let mut gv = load_n(s, g.add(i), r);
                if decay {
                    gv = s.mul_add(wd, th, gv);
                }
                let d = if self.momentum {
                    gv = flush_tiny(s, gv);
                    let bv = if self.first {
                        gv
                    } else {
                        s.mul_add(mu, load_n(s, b.add(i), r), gv)
                    };
                    let bv = flush_tiny(s, bv);
                    store_n(s, b.add(i), bv, r);
                    if self.nesterov {
                        s.mul_add(mu, bv, gv)
                    } else {
                        bv
                    }
                } else {
                    gv
                };
                th = s.mul_add(d, neg_lr, th);
                store_n(s, p.add(i), th, r);
            }
            i += r;
        }
    }
}
