//! The AVX-512F backend: 16 lanes in a `__m512`, fused multiply-add, masked tails.
//!
//! Every method is `#[inline(always)]` and only becomes AVX-512 code once inlined into a
//! function compiled with `#[target_feature(enable = "avx512f")]`, which is what
//! [`dispatch`](super::dispatch) provides.
//!
//! Platform-specific behavior: `mul_add` always fuses (one rounding); `div` is the exact
//! `vdivps` and `sqrt` the exact `vsqrtps`, but `recip_fast` (the binary cross-entropy's
//! division) is `vrcp14ps` refined by one FMA step, within 0.6 ULP; `mul_pow2i` is one
//! `vscalefps`; `sigmoid` is a kernel of its own (a table-driven `e^{−x}`, zero-masking
//! instead of the lower clamp, the same reciprocal), so its results differ in the last bits
//! from the other instruction sets'; partial loads and stores are masked, so they touch
//! only the `n` requested elements.

use super::{Isa, Simd};
use core::arch::x86_64::*;

/// Token of the AVX-512F backend: only [`Avx512::new`] makes one, after checking the CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The token, if this CPU supports AVX-512F.
    #[inline(always)]
    pub(crate) fn new() -> Option<Self> {
        if Isa::Avx512.is_supported() {
            Some(Avx512 { _private: () })
        } else {
            None
        }
    }
}

/// [`SIGMOID_T8`](super::math::SIGMOID_T8) twice, for `vpermps`, which indexes by
/// the low four bits of each lane.
const SIGMOID_T16: [f32; 16] = {
    let mut t = [0.0; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = super::math::SIGMOID_T8[i % 8];
        i += 1;
    }
    t
};

/// Mask of the first `n < 16` lanes.
#[inline(always)]
fn first_lanes(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

impl Avx512 {
    /// [`Simd::sigmoid`] of `N` vectors, computed stage by stage across them. Each
    /// vector's kernel is one dependency chain of about 50 cycles; written one chain
    /// after another (as the compiler keeps them), the scheduler fills with instructions
    /// waiting on their predecessors before it reaches the next chain's independent
    /// ones. Interleaved, four vectors ran 2% faster on a quiet core and 10–12% faster
    /// on a loaded one (the kernel is otherwise at its port limit: ~17 µops on two
    /// ports, `vrcp14ps` alone taking two cycles of port 0). Every lane gets the same
    /// arithmetic whatever `N` is.
    #[inline(always)]
    fn sigmoid_n<const N: usize>(self, x: [__m512; N]) -> [__m512; N] {
        use super::math::{EXP_FLUSH, LN2_HI, LN2_LO, LOG2E, SIGMOID_MAGIC8, SIGMOID_Q};
        // `[expr for i in 0..N]`, by a loop: `array::from_fn`'s closures are compiled
        // without AVX-512 (a closure does not inherit the kernel's target features), and
        // LLVM kept several of them, with the intrinsics they call, out of line.
        macro_rules! each {
            ($init:expr, |$i:ident| $e:expr) => {{
                let mut out = [$init; N];
                for ($i, o) in out.iter_mut().enumerate() {
                    *o = $e;
                }
                out
            }};
        }
        // σ(x) = 1/(1 + e^{−x}) with e^{−x} = 2^⌊k⌋·S_j·Q(r) (see SIGMOID_T8 for k, j, r,
        // S_j and Q): 15 vector instructions (about 17 port slots, `vrcp14ps` taking two),
        // where the generic kernel needs 18.
        // * Lanes with x < EXP_FLUSH (exact result subnormal) are written +0 by the
        //   zero-masked last step; their scale is zero-masked too, so d is 1 (NaN for
        //   x = −∞) and no huge d reaches the reciprocal, whose result would be subnormal.
        //   This replaces the generic kernel's lower clamp at no cost (masking is free).
        // * Above −EXP_FLUSH x is clamped, so ⌊k⌋ ≥ −126 and every scale is normal; there
        //   e^{−x} is below half an ULP of 1 and the result is 1.
        // * NaN lanes are kept (the mask is "not less than, or unordered") and `vminps`
        //   passes a NaN in its second operand through.
        // SAFETY: the token exists only if the CPU supports AVX-512F, which every intrinsic
        // here needs (and no more); the table load reads the 16 values of SIGMOID_T16.
        unsafe {
            let one = _mm512_set1_ps(1.0);
            let zero = _mm512_setzero_ps();
            let flush = _mm512_set1_ps(EXP_FLUSH);
            let neg_flush = _mm512_set1_ps(-EXP_FLUSH);
            let keep: [__mmask16; N] = each!(0, |i| _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(x[i], flush));
            let xc: [__m512; N] = each!(zero, |i| _mm512_min_ps(neg_flush, x[i]));
            let magic = _mm512_set1_ps(SIGMOID_MAGIC8);
            let nlog2e = _mm512_set1_ps(-LOG2E);
            let (ln2_hi, ln2_lo) = (_mm512_set1_ps(LN2_HI), _mm512_set1_ps(LN2_LO));
            // t = k + magic; its low mantissa bits are 8·k mod 16 = j + 8·(⌊k⌋ mod 2).
            let t: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(xc[i], nlog2e, magic));
            let k: [__m512; N] = each!(zero, |i| _mm512_sub_ps(t[i], magic));
            let r: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(k[i], ln2_hi, xc[i]));
            let r: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(k[i], ln2_lo, r[i]));
            let table = _mm512_loadu_ps(SIGMOID_T16.as_ptr());
            let s: [__m512; N] = each!(zero, |i| _mm512_permutexvar_ps(
                _mm512_castps_si512(t[i]),
                table
            ));
            let [q0, q1, q2, q3] = SIGMOID_Q;
            let (q0, q1) = (_mm512_set1_ps(q0), _mm512_set1_ps(q1));
            let (q2, q3) = (_mm512_set1_ps(q2), _mm512_set1_ps(q3));
            let q: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(q3, r[i], q2));
            let q: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(q[i], r[i], q1));
            let q: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(q[i], r[i], q0));
            // S_j·2^⌊k⌋ (`vscalefps` scales by the floor of k), exact and normal.
            let s: [__m512; N] = each!(zero, |i| _mm512_maskz_scalef_ps(keep[i], s[i], k[i]));
            // d = 1 + e^{−x} in [1, 2¹²⁶), rounded once; 1/d by `vrcp14ps` and one Newton
            // step, as `recip_fast`.
            let d: [__m512; N] = each!(zero, |i| _mm512_fmadd_ps(q[i], s[i], one));
            let y: [__m512; N] = each!(zero, |i| _mm512_rcp14_ps(d[i]));
            let e: [__m512; N] = each!(zero, |i| _mm512_fnmadd_ps(d[i], y[i], one));
            each!(zero, |i| _mm512_maskz_fmadd_ps(keep[i], e[i], y[i], y[i]))
        }
    }
}

// SAFETY: a token is made only by `Avx512::new`, which checks that the CPU supports
// AVX-512F; `__m512` holds 16 f32 = LANES.
unsafe impl Simd for Avx512 {
    const ISA: Isa = Isa::Avx512;
    const LANES: usize = 16;
    type V = __m512;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: AVX-512F is supported (token); the caller guarantees 16 readable values,
        // and `loadu` needs no alignment.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: AVX-512F is supported (token); the caller guarantees 16 writable values.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. `vsqrtps` is correctly
        // rounded (in the default rounding mode).
        unsafe { _mm512_sqrt_ps(a) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F (which includes FMA).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn lt_select(self, a: __m512, b: __m512, t: __m512, f: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. Ordered, quiet
        // compare: NaN lanes are false, as the trait requires.
        unsafe {
            let m = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b);
            _mm512_mask_blend_ps(m, f, t)
        }
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    fn pow2i(self, n: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. `vscalefps` computes
        // 1·2^⌊n⌋ exactly for integer n in [-126, 127]; others saturate to 0 or inf, or NaN.
        unsafe { _mm512_scalef_ps(_mm512_set1_ps(1.0), n) }
    }
    #[inline(always)]
    fn recip_fast(self, b: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. r ≈ 1/b within
        // 2⁻¹⁴; r + r·(1 − b·r) has relative error below 2⁻²⁸ plus the final rounding.
        unsafe {
            let r = _mm512_rcp14_ps(b);
            let e = _mm512_fnmadd_ps(b, r, _mm512_set1_ps(1.0));
            _mm512_fmadd_ps(e, r, r)
        }
    }
    #[inline(always)]
    fn zero_where_lt(self, a: __m512, b: __m512, v: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. The mask is
        // "not less than, or unordered", so NaN lanes keep `v`; a zero-masked move folds
        // into the instruction that computes `v`.
        unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLT_UQ>(a, b), v) }
    }
    #[inline(always)]
    fn max_keep_nan(self, a: __m512, lo: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. `vmaxps` returns its
        // second operand when either is NaN, so a NaN lane of `a` passes through.
        unsafe { _mm512_max_ps(lo, a) }
    }
    #[inline(always)]
    fn min_keep_nan(self, a: __m512, hi: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. `vminps` returns its
        // second operand when either is NaN, so a NaN lane of `a` passes through.
        unsafe { _mm512_min_ps(hi, a) }
    }
    #[inline(always)]
    fn mul_pow2i(self, p: __m512, n: __m512) -> __m512 {
        // SAFETY: the token exists only if the CPU supports AVX-512F. `vscalefps` computes
        // p·2^⌊n⌋ with one rounding, which for integer n in [-126, 127] is p·2ⁿ rounded
        // like `p · pow2i(n)`.
        unsafe { _mm512_scalef_ps(p, n) }
    }
    #[inline(always)]
    fn sigmoid(self, x: __m512) -> __m512 {
        let [y] = self.sigmoid_n([x]);
        y
    }
    #[inline(always)]
    fn sigmoid4(self, x: [__m512; 4]) -> [__m512; 4] {
        self.sigmoid_n(x)
    }
    #[inline(always)]
    fn reduce_add(self, v: __m512) -> f32 {
        // SAFETY: the token exists only if the CPU supports AVX-512F.
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    unsafe fn transpose_rows<const R: usize>(self, src: *const f32, rs: usize, dst: *mut f32) {
        if R != 8 {
            // SAFETY: the caller's contract is that of the scalar copy.
            return unsafe { super::transpose_rows_scalar::<R>(16, src, rs, dst) };
        }
        // SAFETY: AVX-512F is supported (token); 8 rows of 16 values are read and 128
        // values written, as the caller vouches for.
        unsafe {
            let r: [__m512; 8] = core::array::from_fn(|i| _mm512_loadu_ps(src.add(i * rs)));
            // In each 128-bit lane L (values 4L..4L + 3 of a row): pairs of rows
            // interleaved, then quads of rows: b[j] holds rows 0–3 at p = 4L + j, b[j + 4]
            // rows 4–7.
            let mut a = [_mm512_setzero_ps(); 8];
            for h in 0..4 {
                a[2 * h] = _mm512_unpacklo_ps(r[2 * h], r[2 * h + 1]);
                a[2 * h + 1] = _mm512_unpackhi_ps(r[2 * h], r[2 * h + 1]);
            }
            let mut b = [_mm512_setzero_ps(); 8];
            for g in 0..2 {
                let (lo, hi) = (4 * g, 4 * g + 2);
                b[4 * g] = _mm512_shuffle_ps::<0x44>(a[lo], a[hi]);
                b[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(a[lo], a[hi]);
                b[4 * g + 2] = _mm512_shuffle_ps::<0x44>(a[lo + 1], a[hi + 1]);
                b[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(a[lo + 1], a[hi + 1]);
            }
            // d[j][0] = lanes [b[j].0, b[j + 4].0, b[j].1, b[j + 4].1], d[j][1] the same for
            // lanes 2 and 3.
            let lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
            let hi =
                _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
            let d: [[__m512; 2]; 4] = core::array::from_fn(|j| {
                [
                    _mm512_permutex2var_ps(b[j], lo, b[j + 4]),
                    _mm512_permutex2var_ps(b[j], hi, b[j + 4]),
                ]
            });
            // Output q holds p = 2q and 2q + 1: lanes [b[j0].L, b[j0 + 4].L, b[j0 + 1].L,
            // b[j0 + 5].L] with L = q / 2, j0 = 2·(q % 2).
            for q in 0..8 {
                let (l, j0) = (q / 2, 2 * (q % 2));
                let (x, y) = (d[j0][l / 2], d[j0 + 1][l / 2]);
                let o = if l % 2 == 0 {
                    _mm512_shuffle_f32x4::<0x44>(x, y)
                } else {
                    _mm512_shuffle_f32x4::<0xEE>(x, y)
                };
                _mm512_storeu_ps(dst.add(16 * q), o);
            }
        }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> __m512 {
        // SAFETY: AVX-512F is supported (token); masked-off lanes are neither read nor
        // fault, so only the `n < 16` values the caller vouches for are accessed.
        unsafe { _mm512_maskz_loadu_ps(first_lanes(n), p) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: __m512, n: usize) {
        // SAFETY: AVX-512F is supported (token); only the first `n < 16` lanes are written.
        unsafe { _mm512_mask_storeu_ps(p, first_lanes(n), v) }
    }
}
