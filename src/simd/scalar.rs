//! The one-lane backend: plain `f32` arithmetic, no FMA contraction.

use super::{Isa, Simd};

/// Token of the scalar backend; always available.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar;

// SAFETY: plain f32 arithmetic runs on every target; LANES = 1 = lanes of `f32`.
unsafe impl Simd for Scalar {
    const ISA: Isa = Isa::Scalar;
    const LANES: usize = 1;
    type V = f32;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32 {
        // SAFETY: the caller guarantees `p` is readable and aligned for `f32` (the trait's
        // contract). An aligned read is one `vldr` on a Cortex-M4F, where an unaligned one
        // is an integer load and a move.
        unsafe { p.read() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees `p` is writable and aligned for `f32`.
        unsafe { p.write(v) }
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn sqrt(self, a: f32) -> f32 {
        // Correctly rounded (`sqrtss` where the target has SSE, a bitwise method elsewhere).
        libm::sqrtf(a)
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        // Two roundings: a software `fmaf` would be far slower on FPUs without FMA.
        a * b + c
    }
    #[inline(always)]
    fn lt_select(self, a: f32, b: f32, t: f32, f: f32) -> f32 {
        if a < b { t } else { f }
    }
    #[inline(always)]
    fn abs(self, a: f32) -> f32 {
        f32::from_bits(a.to_bits() & 0x7fff_ffff)
    }
    #[inline(always)]
    fn pow2i(self, n: f32) -> f32 {
        // `as` saturates (NaN -> 0), so out-of-range lanes give garbage, never UB.
        f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23)
    }
    #[inline(always)]
    fn reduce_add(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    unsafe fn load_partial(self, _p: *const f32, _n: usize) -> f32 {
        // n < LANES = 1, so n = 0: nothing to read.
        0.0
    }
    #[inline(always)]
    unsafe fn store_partial(self, _p: *mut f32, _v: f32, _n: usize) {}
}
