//! The portable backend: `wide::f32x8`, which compiles to whatever vector instructions the
//! compile-time target features allow (SSE2 on a default x86_64 build, NEON on aarch64).
//!
//! Platform-specific behavior: `mul_add` fuses only where the target has FMA at compile
//! time (aarch64 NEON, x86 with `-C target-feature=+fma`); elsewhere it rounds twice.

use super::{Isa, Simd};
use wide::{f32x8, u32x8};

/// Token of the portable backend; always available.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

// SAFETY: `wide` picks its instructions from compile-time features only, so its code runs
// wherever this crate was compiled for; f32x8 holds 8 lanes.
unsafe impl Simd for Portable {
    const ISA: Isa = Isa::Portable;
    const LANES: usize = 8;
    type V = f32x8;

    #[inline(always)]
    fn splat(self, x: f32) -> f32x8 {
        f32x8::splat(x)
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32x8 {
        // SAFETY: the caller guarantees 8 readable values; f32x8 is 8 f32 (alignment 32,
        // hence the unaligned read).
        unsafe { p.cast::<f32x8>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32x8) {
        // SAFETY: the caller guarantees 8 writable values.
        unsafe { p.cast::<f32x8>().write_unaligned(v) }
    }
    #[inline(always)]
    fn add(self, a: f32x8, b: f32x8) -> f32x8 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32x8, b: f32x8) -> f32x8 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32x8, b: f32x8) -> f32x8 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32x8, b: f32x8) -> f32x8 {
        a / b
    }
    #[inline(always)]
    fn sqrt(self, a: f32x8) -> f32x8 {
        // `wide` has a hardware square root here (`sqrtps`, `vsqrtq_f32`, `f32x4.sqrt`), all
        // correctly rounded.
        #[cfg(any(
            target_feature = "sse",
            target_feature = "simd128",
            all(target_arch = "aarch64", target_feature = "neon")
        ))]
        {
            a.sqrt()
        }
        // Elsewhere `wide` would go through an f64 software square root; libm's `sqrtf` is
        // as exact (correctly rounded) and cheaper on a soft-float core.
        #[cfg(not(any(
            target_feature = "sse",
            target_feature = "simd128",
            all(target_arch = "aarch64", target_feature = "neon")
        )))]
        {
            f32x8::new(a.to_array().map(libm::sqrtf))
        }
    }
    #[inline(always)]
    fn mul_add(self, a: f32x8, b: f32x8, c: f32x8) -> f32x8 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn lt_select(self, a: f32x8, b: f32x8, t: f32x8, f: f32x8) -> f32x8 {
        a.simd_lt(b).select(t, f)
    }
    #[inline(always)]
    fn abs(self, a: f32x8) -> f32x8 {
        f32x8::from_bits(a.to_bits() & u32x8::splat(0x7fff_ffff))
    }
    #[inline(always)]
    fn pow2i(self, n: f32x8) -> f32x8 {
        // Adding 1.5·2²³ puts the integer n in the low mantissa bits: bits(n + M) − bits(M) = n.
        const MAGIC: f32 = 12_582_912.0;
        let shifted = (n + f32x8::splat(MAGIC)).to_bits() - u32x8::splat(MAGIC.to_bits());
        f32x8::from_bits((shifted + u32x8::splat(127)) << 23)
    }
    #[inline(always)]
    fn reduce_add(self, v: f32x8) -> f32 {
        v.reduce_add()
    }
}
