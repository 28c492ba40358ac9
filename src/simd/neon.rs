//! The aarch64 NEON (Advanced SIMD) backend: 4 lanes in a `float32x4_t`, fused
//! multiply-add, and 32 vector registers (which the GEMM's 8 × 12 tile uses).
//!
//! Every method is `#[inline(always)]`; [`dispatch`](super::dispatch) calls kernels from a
//! `#[target_feature(enable = "neon")]` function. NEON is part of the baseline of every
//! aarch64 target that has a floating-point unit, which is the only place this module is
//! compiled.
//!
//! Platform-specific behavior: `mul_add` always fuses (`fmla`, one rounding); `div` is the
//! exact `fdiv` and `sqrt` the exact `fsqrt`; `max_keep_nan`/`min_keep_nan` are
//! `fmax`/`fmin`, which return NaN when either operand is NaN; partial loads and stores go
//! through a zero-padded stack buffer.

use super::{Isa, Simd};
use core::arch::aarch64::*;

/// Token of the NEON backend: only [`Neon::new`] makes one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Neon {
    _private: (),
}

impl Neon {
    /// The token, if this target has NEON (always, where this module is compiled).
    #[inline(always)]
    pub(crate) fn new() -> Option<Self> {
        if Isa::Neon.is_supported() {
            Some(Neon { _private: () })
        } else {
            None
        }
    }
}

// SAFETY: a token is made only by `Neon::new`, which checks that the target has NEON (a
// compile-time feature of every target this module is compiled for); `float32x4_t` holds
// 4 f32 = LANES.
unsafe impl Simd for Neon {
    const ISA: Isa = Isa::Neon;
    const LANES: usize = 4;
    type V = float32x4_t;

    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> float32x4_t {
        // SAFETY: NEON is available (token); the caller guarantees 4 readable values at
        // `p`, and `ld1` needs no more than the alignment of `f32`.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: float32x4_t) {
        // SAFETY: NEON is available (token); the caller guarantees 4 writable values at
        // `p`, and `st1` needs no more than the alignment of `f32`.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn div(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON. `fsqrt` is correctly rounded.
        unsafe { vsqrtq_f32(a) }
    }
    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn lt_select(
        self,
        a: float32x4_t,
        b: float32x4_t,
        t: float32x4_t,
        f: float32x4_t,
    ) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON. `fcmgt` is false for NaN
        // lanes, as the trait requires.
        unsafe { vbslq_f32(vcltq_f32(a, b), t, f) }
    }
    #[inline(always)]
    fn abs(self, a: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vabsq_f32(a) }
    }
    #[inline(always)]
    fn pow2i(self, n: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON. n (integer-valued)
        // converts exactly; (n + 127) << 23 is the bit pattern of 2ⁿ for n in [-126, 127].
        // Other lanes (NaN converts to 0, out of range saturates) give some bit pattern,
        // never UB.
        unsafe {
            let i = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
            vreinterpretq_f32_s32(vshlq_n_s32::<23>(i))
        }
    }
    #[inline(always)]
    fn max_keep_nan(self, a: float32x4_t, lo: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON. `fmax` returns NaN if
        // either operand is NaN.
        unsafe { vmaxq_f32(a, lo) }
    }
    #[inline(always)]
    fn min_keep_nan(self, a: float32x4_t, hi: float32x4_t) -> float32x4_t {
        // SAFETY: the token exists only if the target has NEON. `fmin` returns NaN if
        // either operand is NaN.
        unsafe { vminq_f32(a, hi) }
    }
    #[inline(always)]
    fn reduce_add(self, v: float32x4_t) -> f32 {
        // SAFETY: the token exists only if the target has NEON.
        unsafe { vaddvq_f32(v) }
    }
}
