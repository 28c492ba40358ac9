//! The AVX2 + FMA backend: 8 lanes in a `__m256`, fused multiply-add, masked tails.
//!
//! Every method is `#[inline(always)]` and only becomes AVX2 code once inlined into a
//! function compiled with `#[target_feature(enable = "avx2,fma")]`, which is what
//! [`dispatch`](super::dispatch) provides.
//!
//! Platform-specific behavior: `mul_add` always fuses (one rounding); `div` is the exact
//! `vdivps`, not a reciprocal estimate, and `sqrt` the exact `vsqrtps`; partial loads and
//! stores use `vmaskmovps`, which touches only the `n` requested elements.

use super::{Isa, Simd};
use core::arch::x86_64::*;

/// Token of the AVX2 + FMA backend: only [`Avx2::new`] makes one, after checking the CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The token, if this CPU supports AVX2 and FMA.
    #[inline(always)]
    pub(crate) fn new() -> Option<Self> {
        if Isa::Avx2.is_supported() {
            Some(Avx2 { _private: () })
        } else {
            None
        }
    }

    /// All-ones in the first `n < 8` lanes, the mask `vmaskmovps` reads.
    #[inline(always)]
    fn first_lanes(self, n: usize) -> __m256i {
        // SAFETY: the token exists only if the CPU supports AVX2.
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
}

// SAFETY: a token is made only by `Avx2::new`, which checks that the CPU supports AVX2 and
// FMA; `__m256` holds 8 f32 = LANES.
unsafe impl Simd for Avx2 {
    const ISA: Isa = Isa::Avx2;
    const LANES: usize = 8;
    type V = __m256;

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: AVX is supported (token); the caller guarantees 8 readable values, and
        // `loadu` needs no alignment.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: AVX is supported (token); the caller guarantees 8 writable values.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX).
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX).
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX).
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX). `vsqrtps` is
        // correctly rounded.
        unsafe { _mm256_sqrt_ps(a) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn lt_select(self, a: __m256, b: __m256, t: __m256, f: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX). Ordered,
        // quiet compare: NaN lanes are false, as the trait requires.
        unsafe { _mm256_blendv_ps(f, t, _mm256_cmp_ps::<_CMP_LT_OQ>(a, b)) }
    }
    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX).
        unsafe { _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff))) }
    }
    #[inline(always)]
    fn pow2i(self, n: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2. n (integer-valued)
        // converts exactly; (n + 127) << 23 is the bit pattern of 2ⁿ for n in [-126, 127].
        // Other lanes (NaN converts to i32::MIN) give garbage bits, never UB.
        unsafe {
            let i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(i))
        }
    }
    #[inline(always)]
    fn max_keep_nan(self, a: __m256, lo: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX). `vmaxps`
        // returns its second operand when either is NaN, so a NaN lane of `a` passes.
        unsafe { _mm256_max_ps(lo, a) }
    }
    #[inline(always)]
    fn min_keep_nan(self, a: __m256, hi: __m256) -> __m256 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX). `vminps` returns its
        // second operand when either is NaN, so a NaN lane of `a` passes through.
        unsafe { _mm256_min_ps(hi, a) }
    }
    #[inline(always)]
    fn reduce_add(self, v: __m256) -> f32 {
        // SAFETY: the token exists only if the CPU supports AVX2 (and so AVX and SSE3).
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> __m256 {
        // SAFETY: AVX is supported (token); `vmaskmovps` neither reads nor faults on
        // masked-off lanes, so only the `n < 8` values the caller vouches for are accessed.
        unsafe { _mm256_maskload_ps(p, self.first_lanes(n)) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: __m256, n: usize) {
        // SAFETY: AVX is supported (token); only the first `n < 8` lanes are written.
        unsafe { _mm256_maskstore_ps(p, self.first_lanes(n), v) }
    }
}
