//! The vector math below the kernels: elementary functions written once over [`Simd`]
//! operations, and the constants they and the backends share.
//!
//! * `e^{−x}`: [`exp_neg`], the generic kernel of [`Simd::exp_neg`]; `e^x` for `x ≤ 0`
//!   ([`exp_nonpos`], clamped and flushed as the sigmoid is).
//! * The sigmoid: [`sigmoid_generic`], the default of [`Simd::sigmoid`], and [`sigmoid_v`],
//!   the backend's kernel. The AVX-512 kernel (`avx512.rs`) takes its table and cubic from
//!   here (`SIGMOID_T8`, `SIGMOID_Q`, `SIGMOID_MAGIC8`); the soft-float one is
//!   `scalar::sigmoid_soft`.
//! * [`tanh_v`] and [`relu_v`].
//! * Logarithms: `ln(1 + t)` for `0 ≤ t ≤ 1` ([`log1p_unit`]) and `ln x` for `x ≥ 1`
//!   ([`ln_ge1`]).
//!
//! The activations (`activation.rs`) and the loss kernels (`loss/`) are built on these;
//! like the rest of `simd/`, this module uses nothing from the layers above it. The
//! sigmoid's and tanh's accuracy on each instruction set is in the module docs of
//! `activation.rs` ("Accuracy and special values"); the logarithms' below.
//!
//! # `log1p_unit`: accuracy
//! `ln(1 + t)` is needed only for `t = e^{−|z|} ∈ [0, 1]` (binary cross-entropy), so the
//! argument reduction of Cephes' `logf` needs no exponent extraction (the `Simd` trait has
//! no integer operations): `1 + t ∈ [1, 2]` is either kept (`t ≤ √2 − 1`, and then `x = t`
//! exactly, with no rounding of `1 + t`) or halved (`x = (t − 1)/2`, `k = 1`), giving
//! `x ∈ (√½ − 1, √2 − 1]`, and `ln(1 + t) = ln(1 + x) + k·ln 2` with Cephes' degree-9
//! polynomial `ln(1 + x) = x − x²/2 + x³·P(x)` and `ln 2` in two parts.
//!
//! The difference `t − 1` is rounded for `t < 1/2`; its error, exact by Fast2Sum, is added
//! back (without it the worst case was 1.33 ULP).
//!
//! Worst error against `f64::ln_1p`, measured over **every** `f32` in `[0, 1]`
//! (1,065,353,222 points; `MICROPROP_SWEEP_STRIDE=1 cargo test --release --lib log1p`):
//!
//! | instruction set | worst error | at `t` |
//! |---|---|---|
//! | scalar, portable (no FMA) | 0.841 ULP | 0.41226095 |
//! | AVX2, AVX-512 (FMA) | 0.827 ULP | 0.41364205 |
//!
//! The unit test holds every instruction set to 1 ULP (`LOG1P_MAX_ULP`), sampling every
//! 997th `f32` by default.
//!
//! # `ln_ge1`: accuracy
//! `ln x` for the softmax sums `x ∈ [1, d]`: `x = 2^k·(1 + t)` by comparisons and exact
//! scalings, then the same polynomial with `k·ln 2` added in two parts. Worst error against
//! `f64::ln` over **every** `f32` in `[1, 2²⁴]` (201,326,593 points;
//! `MICROPROP_SWEEP_STRIDE=1 cargo test --release --lib ln_ge1`): 0.834 ULP at
//! `1.4130306` (scalar, portable), 0.827 ULP at `1.413642` (AVX2, AVX-512); held to 1 ULP
//! (`LN_GE1_MAX_ULP`).

use super::Simd;

/// The documented bound of [`log1p_unit`] in ULP of the result, on every instruction set
/// (held by the unit test below; measured exhaustively: see the module docs).
#[cfg(all(test, feature = "std"))]
const LOG1P_MAX_ULP: f64 = 1.0;

/// The bound of [`ln_ge1`] in ULP of the result, on every instruction set (held by the
/// unit test below).
#[cfg(all(test, feature = "std"))]
const LN_GE1_MAX_ULP: f64 = 1.0;

// expf in the style of Cephes: n = round(y·log2 e), r = y − n·ln 2 (in two parts), e^r by
// 1 + r + r²·P(r) with P of degree 4 on |r| ≤ ln2/2, scaled by 2ⁿ. P is a minimax fit of
// (e^r − 1 − r)/r² for relative error (3·10⁻⁹ before rounding the coefficients, 1/40 of an
// ULP): one degree below Cephes' expf, which the accuracy budget does not need.
pub(crate) const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` in two parts (Cephes): 0x3f31_8000, few mantissa bits, so `n·LN2_HI` is exact.
pub(crate) const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 − LN2_HI` (0xb95e_8083).
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5·2²³: x + M − M rounds x to an integer
/// Coefficients of P, highest power first (r⁶ … r² of e^r).
const EXP_P: [f32; 5] = [
    1.381_461_3e-3,
    8.368_71e-3,
    4.166_839e-2,
    1.666_652_1e-1,
    4.999_999_4e-1,
];
/// Below this `e^y` is subnormal (`−126·ln 2`); the vector kernels flush it to zero.
pub(crate) const EXP_FLUSH: f32 = -87.336_54;

// The AVX-512 sigmoid's exponential (`Simd::sigmoid` in avx512.rs), table-driven:
// k = −x·log2 e rounded to a multiple of 1/8 (by the magic constant 1.5·2²⁰, whose ULP
// is 1/8, so the low three bits of k + magic are j = 8·(k − ⌊k⌋)), r = x + k·ln 2 in two
// parts (|r| ≤ ln2/16), and e^{−x} = 2^⌊k⌋ · S_j · Q(r) with S_j = γ·2^{j/8} and a cubic
// Q(r) ≈ e^{−r}/γ. The scale γ = 1.0716921 is an f32 chosen (by search) so that all eight
// S_j round to f32 within 0.15·2⁻²⁴ relative, and so that Q stays in [0.89, 0.98), the top
// of its binade, where its rounding costs least relative error. Q is the minimax fit of
// e^{−r}/γ for relative error (1.8·10⁻⁸ = 0.31·2⁻²⁴; 0.35·2⁻²⁴ with the coefficients
// rounded to f32). Three multiply-adds replace the six of `exp_neg`, for one permute.
// Of the scales that meet the table criterion, this one gave the smallest worst case of
// the whole sigmoid: 2.310 ULP over every f32 in [−100, 100].
/// `1.5·2²⁰`: `y + M − M` rounds `y` to a multiple of 1/8 for `|y| < 2¹⁹`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const SIGMOID_MAGIC8: f32 = 1_572_864.0;
/// `S_j = γ·2^{j/8}` rounded to f32, `j = 0..8`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const SIGMOID_T8: [f32; 8] = [
    1.071_692_1,
    1.168_688_5,
    1.274_463_9,
    1.389_812_7,
    1.515_601_5,
    1.652_775_2,
    1.802_364_1,
    1.965_492,
];
/// `Q(r) ≈ e^{−r}/γ` on `|r| ≤ ln2/16`, coefficients of `r⁰ … r³`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const SIGMOID_Q: [f32; 4] = [0.933_103_8, -0.933_103_86, 0.466_624_9, -0.155_502_7];
const TANH_SMALL: f32 = 0.625;
const TANH_P: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_909e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328e-1,
];

/// `e^{−x}` for `EXP_FLUSH ≤ x ≤ −EXP_FLUSH` (so the result is normal and finite); NaN in
/// gives NaN, other lanes are unspecified.
#[inline(always)]
pub(crate) fn exp_neg<S: Simd>(s: S, x: S::V) -> S::V {
    // n = round(−x·log2 e), r' = x + n·ln 2 = −r, e^{−x} = 2ⁿ·e^{r} with |r| ≤ ln2/2.
    let magic = s.splat(ROUND_MAGIC);
    let n = s.sub(s.mul_add(x, s.splat(-LOG2E), magic), magic);
    let rn = s.mul_add(n, s.splat(LN2_HI), x);
    let rn = s.mul_add(n, s.splat(LN2_LO), rn);
    // e^r = e^{−r'} by Horner in r' (odd coefficients negated): 1 − r' + r'²·P(−r').
    // (Written out: at opt-level "s" LLVM keeps a loop over the coefficients rolled.)
    let p = s.splat(EXP_P[0]);
    let p = s.mul_add(p, rn, s.splat(-EXP_P[1]));
    let p = s.mul_add(p, rn, s.splat(EXP_P[2]));
    let p = s.mul_add(p, rn, s.splat(-EXP_P[3]));
    let p = s.mul_add(p, rn, s.splat(EXP_P[4]));
    let p = s.mul_add(p, rn, s.splat(-1.0));
    let p = s.mul_add(p, rn, s.splat(1.0));
    s.mul_pow2i(p, n)
}

/// σ(x) for one vector: [`Simd::sigmoid`], the backend's kernel (the generic one below
/// unless the backend has its own).
#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
    s.sigmoid(x)
}

/// The generic sigmoid kernel: the default of [`Simd::sigmoid`].
#[inline(always)]
pub(crate) fn sigmoid_generic<S: Simd>(s: S, x: S::V) -> S::V {
    // σ(x) = 1/(1 + e^{−x}), with x clamped to [EXP_FLUSH, −EXP_FLUSH] so that e^{−x} is
    // normal and finite: no lane ever computes a subnormal (an x86 microcode assist, ~100
    // cycles) only to be discarded, and the clamps keep NaN. Above −EXP_FLUSH e^{−x} is
    // below half an ULP of 1 and the result is 1; below EXP_FLUSH the exact result is
    // subnormal and the lane is flushed to +0.
    let flush = s.splat(EXP_FLUSH);
    let xc = s.min_keep_nan(s.max_keep_nan(x, flush), s.splat(-EXP_FLUSH));
    let q = s.recip_fast(s.add(s.splat(1.0), exp_neg(s, xc)));
    s.zero_where_lt(x, flush, q)
}

/// `tanh x` for one vector, within 4 ULP: `(1 − e)/(1 + e)` with `e = e^{−2|x|}` from
/// [`Simd::exp_neg`], an odd polynomial for `|x| < 0.625`; `±inf → ±1`, NaN gives NaN,
/// the sign of zero is kept.
#[inline(always)]
pub(crate) fn tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    let a = s.abs(x);
    // |x| ≥ 0.625: (1 − e)/(1 + e) with e = e^{−2|x|}, sign restored. Where e would be
    // subnormal the clamped one is below half an ULP of 1, and the quotient is 1.
    let e = s.exp_neg(s.min_keep_nan(s.add(a, a), s.splat(-EXP_FLUSH)));
    let large = s.div(s.sub(one, e), s.add(one, e));
    let large = s.lt_select(x, s.splat(0.0), s.sub(s.splat(0.0), large), large);
    // |x| < 0.625: odd polynomial (Cephes tanhf), no cancellation near 0.
    let x2 = s.mul(x, x);
    let mut p = s.splat(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = s.mul_add(p, x2, s.splat(c));
    }
    let small = s.mul_add(s.mul(p, x2), x, x);
    // ±0 and subnormals: tanh x = x. The sum above would turn −0 into +0 (−0 + +0 = +0).
    let small = s.lt_select(a, s.splat(f32::MIN_POSITIVE), x, small);
    s.lt_select(a, s.splat(TANH_SMALL), small, large)
}

/// `max(x, 0)` for one vector; NaN stays NaN and `−0.0` stays `−0.0`.
#[inline(always)]
pub(crate) fn relu_v<S: Simd>(s: S, x: S::V) -> S::V {
    let zero = s.splat(0.0);
    s.lt_select(x, zero, zero, x)
}

/// `e^x` for `x ≤ 0` (NaN gives NaN): `exp_neg(−x)` with `−x` clamped to `−EXP_FLUSH`, as
/// the sigmoid does; where the exact result is subnormal (`x < EXP_FLUSH`, `−inf`
/// included) it is flushed to `+0`, so no lane computes with subnormals.
#[inline(always)]
pub(crate) fn exp_nonpos<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.min_keep_nan(s.sub(s.splat(0.0), x), s.splat(-EXP_FLUSH));
    s.zero_where_lt(x, s.splat(EXP_FLUSH), exp_neg(s, t))
}

/// `√2 − 1`: below it `1 + t` is kept, above it halved.
const SQRT2_M1: f32 = 0.414_213_57; // 0x3ed4_13cd
/// Cephes `logf`'s `P`, highest power first: `ln(1 + x) ≈ x − x²/2 + x³·P(x)` on
/// `√½ − 1 ≤ x ≤ √2 − 1`.
const LOG_P: [f32; 9] = [
    7.037_683_6e-2,  // 0x3d90_21bb
    -1.151_461e-1,   // 0xbdeb_d1b8
    1.167_699_84e-1, // 0x3def_251a
    -1.242_014_1e-1, // 0xbdfe_5d4f
    1.424_932_3e-1,  // 0x3e11_e9bf
    -1.666_805_8e-1, // 0xbe2a_ae50
    2.000_071_4e-1,  // 0x3e4c_ceac
    -2.499_999_4e-1, // 0xbe7f_fffc
    3.333_333e-1,    // 0x3eaa_aaaa
];

/// `ln(1 + t)` for `0 ≤ t ≤ 1` (NaN gives NaN; other lanes unspecified), within
/// `LOG1P_MAX_ULP` (see the module docs).
#[inline(always)]
pub(crate) fn log1p_unit<S: Simd>(s: S, t: S::V) -> S::V {
    log1p_plus_k_ln2(s, t, None)
}

/// `ln(1 + t) + k·ln 2` for `0 ≤ t ≤ 1` and integer-valued `0 ≤ k ≤ 127` (`None`: 0), the
/// common part of [`log1p_unit`] and [`ln_ge1`].
#[inline(always)]
fn log1p_plus_k_ln2<S: Simd>(s: S, t: S::V, k: Option<S::V>) -> S::V {
    let zero = s.splat(0.0);
    let one = s.splat(1.0);
    let half = s.splat(0.5);
    // 1 + t > √2: ln(1 + t) = ln((1 + t)/2) + ln 2, with (1 + t)/2 − 1 = (t − 1)/2. The
    // difference t − 1 is rounded for t < 1/2; its error, exact by Fast2Sum (|−1| ≥ |t|),
    // is added back as lo/(1 + x) ≈ lo·(1 − x + x²) (about 0.7 ULP of the result otherwise).
    let c = s.splat(SQRT2_M1);
    let big = s.lt_select(c, t, one, zero);
    // The multiple of ln 2 to add: exact (small integers).
    let big = match k {
        Some(k) => s.add(big, k),
        None => big,
    };
    let d = s.sub(t, one);
    let lo = s.mul(s.sub(t, s.add(d, one)), half);
    let x = s.lt_select(c, t, s.mul(d, half), t);
    let lo = s.lt_select(c, t, lo, zero);
    let z = s.mul(x, x);
    let mut p = s.splat(LOG_P[0]);
    for &c in &LOG_P[1..] {
        p = s.mul_add(p, x, s.splat(c));
    }
    let y = s.mul(s.mul(x, z), p);
    let y = s.mul_add(lo, s.add(s.sub(one, x), z), y);
    let y = s.mul_add(big, s.splat(LN2_LO), y);
    let y = s.mul_add(s.splat(-0.5), z, y);
    let r = s.add(x, y);
    s.mul_add(big, s.splat(LN2_HI), r)
}

/// Binary exponents `b = 2^j` (`j = 6 … 0`) of the argument reduction of [`ln_ge1`], with
/// `2^b` and `2^−b`.
const LN_STEPS: [(f32, f32, f32); 7] = [
    (64.0, 18_446_744_073_709_551_616.0, 5.421_011e-20),
    (32.0, 4_294_967_296.0, 2.328_306_4e-10),
    (16.0, 65_536.0, 1.525_878_9e-5),
    (8.0, 256.0, 3.906_25e-3),
    (4.0, 16.0, 0.0625),
    (2.0, 4.0, 0.25),
    (1.0, 2.0, 0.5),
];

/// `ln x` for `1 ≤ x ≤ max` (`max < 2¹²⁸`; NaN gives NaN, other lanes unspecified), within
/// `LN_GE1_MAX_ULP` (see the unit test): `x = 2^k·(1 + t)` with `t ∈ [0, 1)` found by
/// comparisons and exact scalings by powers of two (the `Simd` trait has no exponent
/// extraction; `⌈log₂ log₂ max⌉` steps, two for `max < 16`), then
/// `ln(1 + t) + k·ln 2` as in [`log1p_unit`].
#[inline(always)]
pub(crate) fn ln_ge1<S: Simd>(s: S, x: S::V, max: f32) -> S::V {
    let (zero, one) = (s.splat(0.0), s.splat(1.0));
    // Step b maps [1, 2^{2b}) into [1, 2^b), so the steps from b down reduce [1, 2^{2b})
    // to [1, 2): start at the smallest b with max < 2^{2b} (2^128 = ∞ holds any finite max).
    let first = LN_STEPS
        .iter()
        .rposition(|&(_, p, _)| max < p * p)
        .unwrap_or(0);
    let (mut f, mut k) = (x, zero);
    for &(b, p, inv) in &LN_STEPS[first..] {
        let pv = s.splat(p);
        // NaN lanes take the scaled branch and stay NaN.
        k = s.lt_select(f, pv, k, s.add(k, s.splat(b)));
        f = s.lt_select(f, pv, f, s.mul(f, s.splat(inv)));
    }
    // f ∈ [1, 2): f − 1 is exact (Sterbenz).
    log1p_plus_k_ln2(s, s.sub(f, one), Some(k))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::simd::{Isa, MAX_LANES, WithSimd, dispatch};

    /// The vector of `x[i..]`: `LANES` values, or the fewer left, zero-filled (the loss
    /// kernels' `load_from`, for the tests' loops).
    #[inline(always)]
    fn load_from<S: Simd>(s: S, x: &[f32], i: usize) -> S::V {
        let end = x.len().min(i + S::LANES);
        let mut b = [0.0f32; MAX_LANES];
        b[..end - i].copy_from_slice(&x[i..end]);
        // SAFETY: `b` holds MAX_LANES ≥ LANES values.
        unsafe { s.load(b.as_ptr()) }
    }

    /// Stores the lanes of `v` that fall inside `x[i..]` (the loss kernels' `store_to`).
    #[inline(always)]
    fn store_to<S: Simd>(s: S, x: &mut [f32], i: usize, v: S::V) {
        let mut b = [0.0f32; MAX_LANES];
        // SAFETY: `b` holds MAX_LANES ≥ LANES values.
        unsafe { s.store(b.as_mut_ptr(), v) };
        let end = x.len().min(i + S::LANES);
        x[i..end].copy_from_slice(&b[..end - i]);
    }

    /// `log1p_unit` over a slice, on one instruction set.
    struct Log1p<'a>(&'a [f32], &'a mut [f32]);
    impl WithSimd for Log1p<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let mut i = 0;
            while i < self.0.len() {
                let v = log1p_unit(s, load_from(s, self.0, i));
                store_to(s, self.1, i, v);
                i += S::LANES;
            }
        }
    }

    /// `ln_ge1` over a slice, on one instruction set, with the bound `max`.
    struct Ln<'a>(&'a [f32], &'a mut [f32], f32);
    impl WithSimd for Ln<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let mut i = 0;
            while i < self.0.len() {
                let v = ln_ge1(s, load_from(s, self.0, i), self.2);
                store_to(s, self.1, i, v);
                i += S::LANES;
            }
        }
    }

    /// Every `stride`-th f32 in [1, 2²⁴] (`MICROPROP_SWEEP_STRIDE`, 1 = all of them), each
    /// with the smallest reduction that holds it and with the full one, and the largest
    /// finite f32.
    #[test]
    fn ln_ge1_within_bound_against_f64() {
        let stride = sweep_stride(1 << 20);
        let (lo, hi) = (1.0f32.to_bits(), 16_777_216.0f32.to_bits());
        let mut xs: std::vec::Vec<f32> = (lo..=hi)
            .step_by(stride as usize)
            .map(f32::from_bits)
            .collect();
        xs.extend([
            1.0, 2.0, 3.0, 15.0, 16.0, 17.0, 255.0, 256.0, 65_535.0, 65_536.0,
        ]);
        let mut out = std::vec![0.0f32; xs.len()];
        for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
            let mut worst = (0.0f64, 0.0f32);
            for (chunk, o) in xs.chunks(1 << 12).zip(out.chunks_mut(1 << 12)) {
                let max = chunk.iter().fold(1.0f32, |m, &x| m.max(x));
                for bound in [max, f32::MAX] {
                    dispatch(isa, Ln(chunk, o, bound));
                    for (&x, &y) in chunk.iter().zip(o.iter()) {
                        let u = ulps(y, (x as f64).ln());
                        if u > worst.0 {
                            worst = (u, x);
                        }
                    }
                }
            }
            let mut o = [0.0f32; 1];
            dispatch(isa, Ln(&[f32::MAX], &mut o, f32::MAX));
            let u = ulps(o[0], (f32::MAX as f64).ln());
            if u > worst.0 {
                worst = (u, f32::MAX);
            }
            std::println!(
                "ln_ge1 [{}]: {} points, worst {:.3} ULP at x = {:e}",
                isa.name(),
                xs.len() + 1,
                worst.0,
                worst.1
            );
            assert!(
                worst.0 <= LN_GE1_MAX_ULP,
                "[{}] {} ULP at {:e}",
                isa.name(),
                worst.0,
                worst.1
            );
            // The reduction's constants are exact powers of two.
            // (2^b from its bits: Miri gives `powi` a few ULP of allowed imprecision.)
            for &(b, p, inv) in &LN_STEPS {
                let exact = f32::from_bits((b as u32 + 127) << 23);
                assert!(p == exact && inv * p == 1.0, "step {b}");
            }
            // ln 1 = 0 exactly; NaN in, NaN out.
            let mut o = [1.0f32; 2];
            dispatch(isa, Ln(&[1.0, f32::NAN], &mut o, 16.0));
            assert!(o[0] == 0.0 && o[1].is_nan(), "[{}] {o:?}", isa.name());
        }
    }

    /// The sweeps' stride: `MICROPROP_SWEEP_STRIDE` (1 = every f32), else 997; `miri`
    /// under Miri.
    fn sweep_stride(miri: u32) -> u32 {
        if cfg!(miri) {
            return miri;
        }
        std::env::var("MICROPROP_SWEEP_STRIDE")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&s| s > 0)
            .unwrap_or(997)
    }

    /// Error in ULP of the f32 result (the spacing at the exact value).
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        let ulp = (f32::from_bits(e.to_bits() + 1) - e) as f64;
        (got as f64 - exact).abs() / ulp
    }

    /// Every `stride`-th f32 in [0, 1] (`MICROPROP_SWEEP_STRIDE`, 1 = all of them).
    #[test]
    fn log1p_unit_within_bound_against_f64() {
        let stride = sweep_stride(1 << 22);
        // Streamed a chunk at a time (the exhaustive sweep is 10⁹ points).
        let top = 1.0f32.to_bits();
        let special = [
            0.0,
            SQRT2_M1,
            f32::from_bits(SQRT2_M1.to_bits() + 1),
            0.5,
            1.0,
        ];
        let mut xs = std::vec::Vec::with_capacity(1 << 16);
        let mut out = std::vec![0.0f32; 1 << 16];
        for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
            let (mut worst, mut points) = ((0.0f64, 0.0f32), 0usize);
            let mut b = 0u32;
            let mut extra = special.iter();
            loop {
                xs.clear();
                while xs.len() < 1 << 16 && b <= top {
                    xs.push(f32::from_bits(b));
                    b = b.saturating_add(stride);
                }
                if xs.is_empty() {
                    match extra.next() {
                        Some(&x) => xs.push(x),
                        None => break,
                    }
                }
                let o = &mut out[..xs.len()];
                dispatch(isa, Log1p(&xs, o));
                for (&x, &y) in xs.iter().zip(o.iter()) {
                    let u = ulps(y, (x as f64).ln_1p());
                    if u > worst.0 {
                        worst = (u, x);
                    }
                }
                points += xs.len();
            }
            std::println!(
                "log1p_unit [{}]: {points} points, worst {:.3} ULP at t = {:e}",
                isa.name(),
                worst.0,
                worst.1
            );
            assert!(
                worst.0 <= LOG1P_MAX_ULP,
                "[{}] {} ULP at {:e}",
                isa.name(),
                worst.0,
                worst.1
            );
        }
        // NaN in, NaN out; 0 exactly 0.
        let mut o = [1.0f32; 2];
        dispatch(Isa::Scalar, Log1p(&[f32::NAN, 0.0], &mut o));
        assert!(o[0].is_nan() && o[1] == 0.0);
    }
}
