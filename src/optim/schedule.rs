//! Learning-rate schedules: pure functions of the step number, to pass to
//! [`Optimizer::set_lr`](super::Optimizer::set_lr) before each update.
//!
//! Steps count from 0 (the first update). Every function is total: it never panics, for
//! any step (also past the schedule's end, documented with each) and any arguments; it is
//! computed in `f64` and rounded once to `f32`. NaN or infinite rates in give NaN or
//! infinite rates out, which [`Optimizer::update`](super::Optimizer::update) then refuses.
//!
//! ```
//! use microprop::optim::schedule::{cosine, step_decay};
//!
//! // Warm up over 5 steps, then cosine from 0.1 down to 0.001 at step 100.
//! assert_eq!(cosine(0.1, 0.001, 5, 100, 4), 0.1);
//! assert_eq!(cosine(0.1, 0.001, 5, 100, 100), 0.001);
//! // Halve every 10 steps.
//! assert_eq!(step_decay(0.1, 0.5, 10, 25), 0.025);
//! ```

/// `lr` at every step (PyTorch's constant learning rate); `step` is ignored.
pub fn constant(lr: f32, step: u64) -> f32 {
    let _ = step;
    lr
}

/// Step decay: `lr·γ^⌊step / step_size⌋` (PyTorch's `StepLR`): `lr` for steps
/// `0..step_size`, `lr·γ` for the next `step_size` steps, and so on, forever (no end).
///
/// `step_size == 0` means no decay: `lr` at every step.
pub fn step_decay(lr: f32, gamma: f32, step_size: u64, step: u64) -> f32 {
    if step_size == 0 {
        return lr;
    }
    let k = (step / step_size) as f64;
    (f64::from(lr) * libm::pow(f64::from(gamma), k)) as f32
}

/// Linear warm-up to `lr`, then a cosine decay to `min_lr` (PyTorch's
/// `CosineAnnealingLR` after a linear warm-up):
///
/// * steps `0..warmup`: `lr·(step + 1)/warmup`, rising linearly and reaching `lr` at
///   step `warmup − 1` (never 0, so no update is wasted);
/// * steps `warmup..=total`: `min_lr + (lr − min_lr)·(1 + cos(π·p))/2` with
///   `p = (step − warmup)/(total − warmup)`: `lr` at step `warmup`, `min_lr` at `total`;
/// * steps past `total`: `min_lr` (the decay stays at its end).
///
/// `warmup == 0` starts the cosine at step 0; if `total <= warmup` there is no decay phase
/// and every step from `warmup` on gives `min_lr`.
pub fn cosine(lr: f32, min_lr: f32, warmup: u64, total: u64, step: u64) -> f32 {
    let (lr64, min64) = (f64::from(lr), f64::from(min_lr));
    if step < warmup {
        return (lr64 * ((step + 1) as f64 / warmup as f64)) as f32;
    }
    if step >= total {
        return min_lr;
    }
    // Here warmup <= step < total, so the span is at least 1.
    let p = (step - warmup) as f64 / (total - warmup) as f64;
    let c = 0.5 * (1.0 + libm::cos(core::f64::consts::PI * p));
    (min64 + (lr64 - min64) * c) as f32
}
