//! Optimizers with caller-owned state, learning-rate schedules, gradient clipping, and the
//! plain update and bias kernels.
//!
//! # Optimizers
//!
//! An optimizer borrows its state from the caller: a `&mut [f32]` of the length its
//! `const fn state_len(params)` gives, so firmware can place it in a `static` (the `sizeof`
//! pattern of AIfES). Construction validates the hyperparameters and zeroes the state (a
//! fresh start); each [`Optimizer::update`] is one SIMD pass over the parameters, the
//! gradients and the state. The rules are PyTorch's (`torch.optim.SGD` with dampening 0,
//! `torch.optim.Adam`, `torch.optim.AdamW`), for one parameter θ with gradient g at step
//! t = 1, 2, …, with the learning rate `lr` of that step:
//!
//! | optimizer | config | `state_len(n)` | update |
//! |---|---|---|---|
//! | SGD | [`SgdConfig::new`] | [`Sgd::state_len`] = n (may be 0 here) | θ ← θ − lr·g |
//! | SGD, weight decay wd | `weight_decay` | n (may be 0 here) | g ← g + wd·θ, then as above |
//! | SGD, momentum μ | `momentum` | n: the buffer b | b ← μ·b + g (b ← g at t = 1); θ ← θ − lr·b |
//! | SGD, Nesterov | `nesterov: true` | n: b | b as above; θ ← θ − lr·(g + μ·b) |
//! | Adam | [`AdamConfig::adam`] | [`Adam::state_len`] = 2n: m, then v | m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε) |
//! | Adam, L2 penalty wd | `weight_decay`, `decoupled: false` | 2n | g ← g + wd·θ, then Adam |
//! | AdamW | [`AdamConfig::adamw`] | 2n | θ ← θ·(1 − lr·wd), then Adam |
//!
//! Weight decay, momentum and Nesterov combine (g ← g + wd·θ comes first). A stateful
//! optimizer's parameter count is fixed by its state length; SGD without momentum keeps no
//! state, and an empty state then accepts any parameter count.
//!
//! ```
//! use microprop::optim::{Adam, AdamConfig, Optimizer, schedule};
//!
//! const N: usize = 6;
//! let mut params = [0.5f32; N];
//! let mut state = [0.0f32; Adam::state_len(N)];
//! let mut opt = Adam::new(AdamConfig::adamw(1e-2, 1e-2), &mut state)?;
//! for step in 0..100 {
//!     // ∂/∂θ of Σ (θ − 1)²: the parameters move to 1.
//!     let grads = params.map(|p| 2.0 * (p - 1.0));
//!     opt.set_lr(schedule::cosine(1e-2, 1e-4, 10, 100, step));
//!     opt.update(&mut params, &grads)?;
//! }
//! assert_eq!(opt.step_count(), 100);
//! assert!(params.iter().all(|&p| p > 0.5));
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! ## Errors and bad input
//! Every update validates before it writes: the parameter count against the state
//! ([`Error::StateMismatch`], naming the `state_len` to size it with), the gradients'
//! length against the parameters' ([`Error::ShapeMismatch`]), the learning rate (finite and ≥ 0, since
//! [`Optimizer::set_lr`] cannot refuse one), and every gradient ([`Error::NonFinite`] if
//! any is NaN or ±∞). On an error the parameters, the state and the step count are
//! unchanged, bit for bit.
//!
//! ## Rounding
//! Each optimizer documents the exact sequence of `f32` operations it computes; its
//! `update_scalar` computes the same sequence one operation at a time, rounding after each.
//! The SIMD pass contracts each `a·b + c` into one fused multiply-add where the instruction
//! set has FMA ([`Isa::Avx2`], [`Isa::Avx512`], [`Isa::Neon`], and [`Isa::Portable`] where
//! compiled with FMA): those results differ from the scalar reference by rounding (a few
//! ULP of the terms per step). [`Isa::Scalar`], and [`Isa::Portable`] on targets without
//! FMA, round twice and agree with `update_scalar` bit for bit. Division and square root
//! are correctly rounded everywhere.
//!
//! ## Tiny values
//! A parameter whose gradient stays zero (a dead ReLU unit, a saturated output) has
//! moments that decay geometrically, and would soon hold subnormal numbers, whose
//! arithmetic costs a microcode assist on x86 (the digits classifier's epoch slowed about
//! 2.5× over 1,000 epochs). So, as the network's deltas are
//! ([`FLUSH_BELOW`](crate::simd::FLUSH_BELOW)): gradient values below `1e-30` in magnitude
//! count as 0 in the moments, stored moments and momentum below `1e-30` become 0, and
//! Adam adds nothing to `v` for `|g| < √(f32::MIN_POSITIVE / (1 − β₂))` (≈ 3.4·10⁻¹⁸ at
//! β₂ = 0.999, where `(1 − β₂)·g²` would be subnormal). The update such a value would make
//! is below `lr·10⁻²²` (for ε = 10⁻⁸), far under any weight's ULP; with ε below about
//! 10⁻¹⁸ it would not be, so keep ε at its usual scale. Plain SGD is untouched.
//!
//! ## Adding an optimizer
//! 1. A file `src/optim/NAME.rs` with a `Copy` config struct (public fields, `const`
//!    constructors with the reference implementation's defaults) and the optimizer struct
//!    borrowing `&'s mut [f32]` state, with `pub const fn state_len(params: usize)`.
//! 2. `new(cfg, state)` validates every hyperparameter (naming the field in the error) and
//!    the state length, then zeroes the state.
//! 3. One `WithSimd` kernel struct holding the slices and the per-step scalars (computed
//!    once per step, outside the pass), run through `dispatch`; an `update_scalar` beside
//!    it computing the same operations in the same order.
//! 4. `impl Optimizer`: check lengths, the learning rate and `all_finite(grads)` before
//!    anything is written; `plain_sgd_lr` stays `None` unless the update is exactly
//!    θ ← θ − lr·g.
//! 5. A row in the table above, a re-export below, and tests in `tests/optim.rs` against an
//!    `f64` implementation of the published rule on every instruction set.
//!
//! # Schedules and clipping
//! [`schedule`] has pure functions of the step (constant, step decay, cosine with linear
//! warm-up) to feed [`Optimizer::set_lr`] before each update; [`clip`] scales gradients
//! to a maximum global L2 norm before the update ([`clip_grad_norm`]).
//!
//! # Kernels
//! [`sgd_update`] (θ ← θ − lr·g, the update a network fuses into its weight-update GEMM),
//! [`bias_add`] and [`bias_grad`].

mod adam;
pub mod clip;
pub mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use clip::{clip_grad_norm, clip_grad_norm_slices};
pub use sgd::{Sgd, SgdConfig};

use crate::activation::{AddFn, Lanewise2, map2};
use crate::error::check_len;
use crate::simd::{Isa, SOFT_FLOAT, Simd, WithSimd, dispatch, keep_rolled, opaque};
use crate::{Error, MatMut, MatRef};

/// An update rule: one step of the parameters from their gradients.
///
/// Implemented by [`Sgd`] and [`Adam`]; a training loop written against it takes either.
pub trait Optimizer {
    /// One update of `params` from `grads` (same length as the state was sized for).
    /// Validates first; nothing written on error.
    ///
    /// # Errors
    /// [`Error::StateMismatch`] if the state was sized for another parameter count (it
    /// names the `state_len` to size it with); [`Error::ShapeMismatch`] if
    /// `grads.len() != params.len()`; [`Error::NonFinite`] if a gradient or the learning
    /// rate is NaN or infinite; [`Error::InvalidArgument`] if the learning rate is
    /// negative. Parameters and state are then unchanged.
    fn update(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error>;
    /// The learning rate the next [`update`](Optimizer::update) uses.
    fn lr(&self) -> f32;
    /// Sets the learning rate for the following updates (e.g. from a [`schedule`]
    /// function, before every step). Not validated here: an update with a NaN, infinite
    /// or negative learning rate returns an error and writes nothing.
    fn set_lr(&mut self, lr: f32);
    /// `Some(lr)` if this update is exactly `θ ← θ − lr·g` (plain SGD, no momentum, no
    /// decay): a network may then fuse it into its weight-update GEMM instead of
    /// materializing gradients. Default `None`.
    fn plain_sgd_lr(&self) -> Option<f32> {
        None
    }
    /// Updates part of the parameters in the next step: `params` and `grads` are the
    /// values `at..at + params.len()` of the parameters this optimizer's state was
    /// sized for. A network that trains only some layers, or updates layer by layer
    /// ([`Net::per_layer`](crate::nn::Net::per_layer)), calls it once per layer, then
    /// [`finish_parts`](Optimizer::finish_parts) once: the parts of one step share its
    /// step count (Adam's bias correction), and, for the crate's optimizers, whose
    /// rules are elementwise, the result is bit for bit that of one
    /// [`update`](Optimizer::update) of the whole. Validates first; nothing is written
    /// on error.
    ///
    /// The default refuses ([`Error::InvalidArgument`]): an optimizer of one's own
    /// implements it to train a network with frozen layers or per-layer updates.
    ///
    /// # Errors
    /// As [`update`](Optimizer::update), and [`Error::StateMismatch`] if the part
    /// reaches past the state.
    fn update_part(&mut self, at: usize, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        let _ = (at, params, grads);
        Err(Error::InvalidArgument {
            what: "this optimizer does not implement Optimizer::update_part (frozen layers \
                   and per-layer updates need it)",
        })
    }
    /// Ends a step made of [`update_part`](Optimizer::update_part)s: counts it (Adam's
    /// step count, SGD's first step of momentum). The default does nothing.
    fn finish_parts(&mut self) {}
    /// What [`update`](Optimizer::update) would refuse that does not depend on the
    /// values: a learning rate that is NaN, infinite or negative, and (for a stateful
    /// optimizer) state sized for another parameter count than `params`. A network calls
    /// it before it computes gradients, so that a refusal writes nothing at all. The
    /// default checks the learning rate.
    ///
    /// # Errors
    /// As [`update`](Optimizer::update), less the gradients' checks.
    fn check(&self, params: usize) -> Result<(), Error> {
        let _ = params;
        check_lr(
            self.lr(),
            "learning rate (see Optimizer::set_lr)",
            "learning rate is negative (see Optimizer::set_lr)",
        )
    }
}

/// Loads the `r` values at `p`: a full vector if `r == LANES`, else zero-padded.
///
/// # Safety
/// `p..p + r` readable, `r <= LANES`.
#[inline(always)]
unsafe fn load_n<S: Simd>(s: S, p: *const f32, r: usize) -> S::V {
    // SAFETY: the caller's contract, for either width.
    unsafe {
        if r == S::LANES {
            s.load(p)
        } else {
            s.load_partial(p, r)
        }
    }
}

/// Stores the first `r` lanes of `v` at `p`.
///
/// # Safety
/// `p..p + r` writable, `r <= LANES`.
#[inline(always)]
unsafe fn store_n<S: Simd>(s: S, p: *mut f32, v: S::V, r: usize) {
    // SAFETY: the caller's contract, for either width.
    unsafe {
        if r == S::LANES {
            s.store(p, v)
        } else {
            s.store_partial(p, v, r)
        }
    }
}

/// Checks a learning rate: finite (else [`Error::NonFinite`] naming `nonfinite`) and ≥ 0
/// (else [`Error::InvalidArgument`] naming `negative`).
pub(crate) fn check_lr(
    lr: f32,
    nonfinite: &'static str,
    negative: &'static str,
) -> Result<(), Error> {
    check_hyper(lr, nonfinite, negative, lr >= 0.0)
}

/// `Err(NonFinite { what: nonfinite })` if `v` is NaN or infinite, else
/// `Err(InvalidArgument { what: invalid })` unless `ok`.
fn check_hyper(
    v: f32,
    nonfinite: &'static str,
    invalid: &'static str,
    ok: bool,
) -> Result<(), Error> {
    if !v.is_finite() {
        Err(Error::NonFinite { what: nonfinite })
    } else if !ok {
        Err(Error::InvalidArgument { what: invalid })
    } else {
        Ok(())
    }
}

/// Plain gradient descent: `params[i] −= lr · grads[i]` (the lecture's `w1 -= 1e-4 * grad_w1`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::NonFinite`] if `lr` is NaN or
/// infinite; nothing is written then. Non-finite gradients are applied as given.
pub fn sgd_update(params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_sgd("sgd_update: grads.len() != params.len()", params, grads, lr)?;
    let p = params.as_mut_ptr();
    // SAFETY: both slices hold `params.len()` elements; `params` is read before written.
    unsafe { sgd_raw(Isa::active(), p, grads.as_ptr(), lr, params.len()) };
    Ok(())
}

/// The checks [`sgd_update`] and its scalar reference share: equal lengths, finite `lr`.
fn check_sgd(what: &'static str, params: &[f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_len(what, params.len(), grads.len())?;
    if !lr.is_finite() {
        return Err(Error::NonFinite {
            what: "learning rate",
        });
    }
    Ok(())
}

/// The scalar reference of [`sgd_update`] (`params[i] −= lr · grads[i]`, one rounding
/// per operation, no fused multiply-add).
///
/// # Errors
/// As [`sgd_update`]: nothing is written on an error.
pub fn sgd_update_scalar(params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_sgd(
        "sgd_update_scalar: grads.len() != params.len()",
        params,
        grads,
        lr,
    )?;
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
    Ok(())
}

/// # Safety
/// `params` readable and writable, `grads` readable, for `n` values.
pub(crate) unsafe fn sgd_raw(isa: Isa, params: *mut f32, grads: *const f32, lr: f32, n: usize) {
    dispatch(
        isa,
        SgdPass {
            params,
            grads,
            lr,
            n,
        },
    )
}

/// The arguments of [`sgd_raw`]; built only there, so they meet its safety contract.
struct SgdPass {
    params: *mut f32,
    grads: *const f32,
    lr: f32,
    n: usize,
}

impl WithSimd for SgdPass {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let p = self.params;
        let f = Axpy { alpha: -self.lr };
        // SAFETY: the fields satisfy `sgd_raw`'s contract (built only there).
        unsafe { map2(s, self.grads, p, p, self.n, f) }
    }
}

/// `g·alpha + p`, lanewise.
#[derive(Clone, Copy)]
struct Axpy {
    alpha: f32,
}

impl Lanewise2 for Axpy {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, g: S::V, p: S::V) -> S::V {
        s.mul_add(g, s.splat(self.alpha), p)
    }
}

/// Adds `bias[j]` to every element of column `j`: `x[i][j] += bias[j]`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `bias.len() != x.cols()` (nothing is written).
pub fn bias_add(mut x: MatMut<'_>, bias: &[f32]) -> Result<(), Error> {
    check_len("bias_add: bias.len() != x.cols()", x.cols(), bias.len())?;
    let (rows, cols, rs, cs) = (x.rows(), x.cols(), x.row_stride(), x.col_stride());
    let p = x.ptr_mut();
    // SAFETY: the view guarantees every (i, j) in range is writable; bias has `cols` values.
    unsafe { bias_add_raw(Isa::active(), p, rows, cols, rs, cs, bias.as_ptr()) };
    Ok(())
}

/// # Safety
/// Every `x + i·rs + j·cs` for `i < rows`, `j < cols` writable and distinct; `bias` readable
/// for `cols` values.
pub(crate) unsafe fn bias_add_raw(
    isa: Isa,
    x: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    bias: *const f32,
) {
    // An empty view may have any number of rows (`usize::MAX × 0` is valid: looping
    // over them would never end) and any row stride (offsetting `x` by it would be UB).
    if rows == 0 || cols == 0 {
        return;
    }
    if cs == 1 {
        dispatch(
            isa,
            BiasAddRows {
                x,
                rows,
                cols,
                rs,
                bias,
            },
        );
    } else {
        for i in 0..rows {
            for j in 0..cols {
                // SAFETY: (i, j) is inside the view and j < cols (caller).
                unsafe { *x.add(i * rs + j * cs) += *bias.add(j) };
            }
        }
    }
}

/// [`bias_add_raw`] with contiguous rows; built only there, so it meets its contract.
struct BiasAddRows {
    x: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    bias: *const f32,
}

impl WithSimd for BiasAddRows {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        for i in 0..self.rows {
            // SAFETY: row `i` holds `cols` contiguous writable values, `bias` `cols`
            // readable ones (the contract of `bias_add_raw` with `cs == 1`).
            unsafe {
                let row = self.x.add(i * self.rs);
                map2(s, row, self.bias, row, self.cols, AddFn);
            }
        }
    }
}

/// The bias gradient: column sums `db[j] = Σᵢ g[i][j]` (overwrites `db`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `db.len() != g.cols()` (nothing is written).
pub fn bias_grad(g: MatRef<'_>, db: &mut [f32]) -> Result<(), Error> {
    check_len("bias_grad: db.len() != g.cols()", g.cols(), db.len())?;
    // SAFETY: the view guarantees every (i, j) in range is readable; db has `cols` values.
    unsafe {
        colsum_raw(
            Isa::active(),
            g.ptr(),
            g.rows(),
            g.cols(),
            g.row_stride(),
            g.col_stride(),
            db.as_mut_ptr(),
        )
    };
    Ok(())
}

/// `out[j] = Σᵢ g[i][j]` (`out` is overwritten, never read).
///
/// # Safety
/// Every `g + i·rs + j·cs` readable; `out` writable for `cols` values, disjoint from `g`.
pub(crate) unsafe fn colsum_raw(
    isa: Isa,
    g: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    out: *mut f32,
) {
    if cols == 0 {
        // Nothing to sum, and offsetting `g` to rows of an empty view could be UB.
        return;
    }
    // SAFETY: every index stays inside the caller's ranges: `j < cols` for `out`, and
    // `(i, j)` with `i < rows`, `j < cols` for `g` (contiguous rows read `cols` values).
    unsafe {
        core::ptr::write_bytes(out, 0, cols);
        // As in `bias_add_raw`: no endless loop over the rows of an empty view.
        if rows == 0 {
            return;
        }
        if cs != 1 {
            for i in 0..rows {
                let row = g.add(i * rs);
                for j in 0..cols {
                    *out.add(j) += *row.add(j * cs);
                }
            }
            return;
        }
    }
    dispatch(
        isa,
        ColsumRows {
            g,
            rows,
            cols,
            rs,
            out,
        },
    )
}

/// The accumulation of [`colsum_raw`] with contiguous rows; built only there, so it meets
/// its contract.
struct ColsumRows {
    g: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    out: *mut f32,
}

impl WithSimd for ColsumRows {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // Blocks of up to NV vectors of columns, each summed over every row in registers
        // and stored once (a sum through `out` in memory waited on a store and a reload
        // per row). Each column is still summed from +0 in row order, so the bits are
        // those of `out[j] += g[i][j]` row after row.
        const NV: usize = 4;
        let block = NV * S::LANES;
        let mut j = 0;
        while j < self.cols {
            let cols = (self.cols - j).min(block);
            // The NV accumulators written out: at opt-level "s" LLVM keeps a loop over an
            // array of them rolled, and the array in memory.
            let z = s.splat(0.0);
            let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
            for i in 0..self.rows {
                // SAFETY: row `i` of `g` holds `cols` contiguous readable values from column
                // `j` on (the contract of `colsum_raw` with `cs == 1`); each load reads
                // `min(cols − off, LANES)` of them (`cols ≥ 1`, so vector 0 always has some).
                unsafe {
                    let row = self.g.add(i * self.rs + j);
                    let add = |a: S::V, v: usize| {
                        let off = v * S::LANES;
                        if off < cols {
                            s.add(a, load_n(s, row.add(off), (cols - off).min(S::LANES)))
                        } else {
                            a
                        }
                    };
                    a0 = add(a0, 0);
                    a1 = add(a1, 1);
                    a2 = add(a2, 2);
                    a3 = add(a3, 3);
                }
            }
            let acc: [S::V; NV] = [a0, a1, a2, a3];
            for (v, &a) in acc.iter().enumerate() {
                let off = v * S::LANES;
                if off < cols {
                    // SAFETY: `out` holds `self.cols ≥ j + cols` writable values.
                    unsafe { store_n(s, self.out.add(j + off), a, (cols - off).min(S::LANES)) };
                }
            }
            j += block;
        }
    }
}

/// Whether every value of `v` is finite (no NaN, no ±∞): the check [`crate::nn::Mlp`]
/// runs on its inputs, activations and deltas before it updates any parameter.
pub(crate) fn all_finite(isa: Isa, v: &[f32]) -> bool {
    if SOFT_FLOAT {
        return all_finite_bits(v);
    }
    dispatch(
        isa,
        AllFinite {
            p: v.as_ptr(),
            n: v.len(),
        },
    )
}

/// [`all_finite`] on the exponent bits (all ones: NaN or ±∞), for soft-float targets
/// ([`SOFT_FLOAT`]): there each subtraction and addition of the float scan is a library
/// call of 40 or more instructions, and this is a few instructions a value.
#[inline(always)]
fn all_finite_bits(v: &[f32]) -> bool {
    let mut bad = false;
    for x in v {
        keep_rolled();
        bad |= x.to_bits() & 0x7f80_0000 == 0x7f80_0000;
    }
    !bad
}

/// The scalar reference of [`all_finite`].
#[cfg(test)]
fn all_finite_scalar(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// The arguments of [`all_finite`]: `p` readable for `n` values (built only there, from a
/// slice).
struct AllFinite {
    p: *const f32,
    n: usize,
}

impl WithSimd for AllFinite {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> bool {
        // `x − x` is 0 for a finite `x` and NaN for NaN or ±∞, and a NaN survives every
        // later addition: the sum is NaN exactly when some value is not finite. Four
        // accumulators hide the addition latency; no branch per value.
        let AllFinite { p, n } = self;
        let n = opaque(n);
        // (Written out: at opt-level "s" LLVM keeps a loop over an array of accumulators
        // rolled, and the array in memory.)
        let z = s.splat(0.0);
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        let mut i = 0;
        // SAFETY: every load reads below `n` (the loop bounds), and `p` holds `n` values.
        unsafe {
            let add_self_diff = |a: S::V, v: S::V| s.add(a, s.sub(v, v));
            while i + 4 * S::LANES <= n {
                keep_rolled();
                a0 = add_self_diff(a0, s.load(p.add(i)));
                a1 = add_self_diff(a1, s.load(p.add(i + S::LANES)));
                a2 = add_self_diff(a2, s.load(p.add(i + 2 * S::LANES)));
                a3 = add_self_diff(a3, s.load(p.add(i + 3 * S::LANES)));
                i += 4 * S::LANES;
            }
            while i + S::LANES <= n {
                keep_rolled();
                a0 = add_self_diff(a0, s.load(p.add(i)));
                i += S::LANES;
            }
            if i < n {
                a0 = add_self_diff(a0, s.load_partial(p.add(i), n - i));
            }
        }
        let sum = s.add(s.add(a0, a1), s.add(a2, a3));
        !s.reduce_add(sum).is_nan()
    }
}

/// `db[j] = Σᵢ d[i][j]` on a chosen instruction set: the safe crate-internal form of
/// [`bias_grad`] a network calls with its own `Isa`.
pub(crate) fn colsum_isa(isa: Isa, d: MatRef<'_>, db: &mut [f32]) -> Result<(), Error> {
    check_len("bias gradient: db.len() != d.cols()", d.cols(), db.len())?;
    // SAFETY: the view guarantees every (i, j) in range is readable; `db` holds cols
    // values and is exclusively borrowed (so disjoint from `d`).
    unsafe {
        colsum_raw(
            isa,
            d.ptr(),
            d.rows(),
            d.cols(),
            d.row_stride(),
            d.col_stride(),
            db.as_mut_ptr(),
        )
    };
    Ok(())
}

/// `params[i] −= lr · grads[i]` on a chosen instruction set (lengths checked, `lr` as
/// given): the safe crate-internal form of [`sgd_update`].
pub(crate) fn sgd_isa(isa: Isa, params: &mut [f32], grads: &[f32], lr: f32) -> Result<(), Error> {
    check_len(
        "sgd: grads.len() != params.len()",
        params.len(),
        grads.len(),
    )?;
    let p = params.as_mut_ptr();
    // SAFETY: both hold params.len() values; `params` is exclusively borrowed and each
    // value is read before it is written.
    unsafe { sgd_raw(isa, p, grads.as_ptr(), lr, params.len()) };
    Ok(())
}

/// The names an optimizer's entry point (`update` or `update_scalar`) gives its errors.
#[derive(Clone, Copy)]
struct Names {
    /// The entry point itself, e.g. `"Adam::update"` (for [`Error::StateMismatch`]).
    entry: &'static str,
    grads: &'static str,
    lr: &'static str,
    negative_lr: &'static str,
    nonfinite: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_finite_matches_scalar_on_every_isa() {
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN];
        // Under Miri: empty, partial, one, four (the unrolled loop) and more vectors.
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 7, 8, 9, 32, 33, 41]
        } else {
            &[
                0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 69, 70,
            ]
        };
        for isa in crate::simd::test_isas() {
            for &n in lens {
                let clean: [f32; 70] = core::array::from_fn(|i| (i as f32 - 35.0) * 9e36);
                let v = &clean[..n];
                assert!(all_finite(isa, v), "{isa:?} n={n}");
                assert!(all_finite_bits(v), "bits: n={n}");
                for bad in 0..n {
                    for sp in specials {
                        let mut w = clean;
                        w[bad] = sp;
                        let got = all_finite(isa, &w[..n]);
                        assert_eq!(got, all_finite_scalar(&w[..n]), "{isa:?} n={n} at {bad}");
                        assert!(!got);
                        assert!(!all_finite_bits(&w[..n]), "bits: n={n} at {bad}");
                    }
                }
            }
        }
    }
}
