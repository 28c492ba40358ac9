//! Vector helpers of the loss kernels: slice loads and stores that handle the tail, lane
//! masks, `e^x` for `x ≤ 0`, `ln(1 + t)` for `0 ≤ t ≤ 1`, and `ln x` for `x ≥ 1`.
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

use crate::activation::{EXP_FLUSH, exp_neg};
use crate::simd::{MAX_LANES, Simd};

/// The documented bound of [`log1p_unit`] in ULP of the result, on every instruction set
/// (held by the unit test below; measured exhaustively: see the module docs).
#[cfg(test)]
const LOG1P_MAX_ULP: f64 = 1.0;

/// The bound of [`ln_ge1`] in ULP of the result, on every instruction set (held by the
/// unit test below).
#[cfg(test)]
const LN_GE1_MAX_ULP: f64 = 1.0;

/// Lane indices `0, 1, …` (a lane mask by comparison: `Simd` has no integer lanes).
static IOTA: [f32; MAX_LANES] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
];

/// The vector of `x[i..]`: `LANES` values, or the fewer left (none if `i ≥ x.len()`),
/// zero-filled.
#[inline(always)]
pub(super) fn load_from<S: Simd>(s: S, x: &[f32], i: usize) -> S::V {
    let t = x.get(i..).unwrap_or(&[]);
    // SAFETY: `t` holds `t.len()` readable values; a full load reads `LANES ≤ t.len()` of
    // them, a partial one `t.len() < LANES`.
    unsafe {
        if t.len() >= S::LANES {
            s.load(t.as_ptr())
        } else {
            s.load_partial(t.as_ptr(), t.len())
        }
    }
}

/// Stores the lanes of `v` that fall inside `x[i..]` (none if `i ≥ x.len()`).
#[inline(always)]
pub(super) fn store_to<S: Simd>(s: S, x: &mut [f32], i: usize, v: S::V) {
    let t = x.get_mut(i..).unwrap_or(&mut []);
    // SAFETY: `t` holds `t.len()` writable values; a full store writes `LANES ≤ t.len()` of
    // them, a partial one `t.len() < LANES`.
    unsafe {
        if t.len() >= S::LANES {
            s.store(t.as_mut_ptr(), v)
        } else {
            s.store_partial(t.as_mut_ptr(), v, t.len())
        }
    }
}

/// `v` in lanes `0..r`, `fill` in the others (`r ≤ LANES`).
#[inline(always)]
pub(super) fn keep_first<S: Simd>(s: S, v: S::V, r: usize, fill: S::V) -> S::V {
    // SAFETY: IOTA holds MAX_LANES ≥ LANES values.
    let iota = unsafe { s.load(IOTA.as_ptr()) };
    // r ≤ 16 and the lane indices are exact in f32.
    s.lt_select(iota, s.splat(r as f32), v, fill)
}

/// `max` of lanes (a NaN lane may or may not win: callers feed the inputs through `e^x`
/// too, which makes NaN visible).
#[inline(always)]
pub(super) fn max_v<S: Simd>(s: S, a: S::V, b: S::V) -> S::V {
    s.lt_select(a, b, b, a)
}

/// The larger of `a` and `b` (`a` if either is NaN): one `maxss` on x86.
#[inline(always)]
fn max_f(a: f32, b: f32) -> f32 {
    if a < b { b } else { a }
}

/// The largest lane (NaN as in [`max_v`]), by a tree of pairwise maxima of halves
/// (`LANES` is a power of two): a chain of `log₂ LANES` comparisons, no branches.
#[inline(always)]
pub(super) fn reduce_max<S: Simd>(s: S, v: S::V) -> f32 {
    let mut b = [0.0f32; MAX_LANES];
    // SAFETY: `b` holds MAX_LANES ≥ LANES values.
    unsafe { s.store(b.as_mut_ptr(), v) };
    // Halves, not closures (`array::from_fn`'s would not inherit the target features).
    let mut n = S::LANES;
    while n > 1 {
        n /= 2;
        let mut h = [0.0f32; MAX_LANES / 2];
        for (i, hi) in h.iter_mut().enumerate().take(n) {
            *hi = max_f(b[i], b[i + n]);
        }
        b[..MAX_LANES / 2].copy_from_slice(&h);
    }
    b[0]
}

/// `e^x` for `x ≤ 0` (NaN gives NaN): `exp_neg(−x)` with `−x` clamped to `−EXP_FLUSH`, as
/// the sigmoid does; where the exact result is subnormal (`x < EXP_FLUSH`, `−inf`
/// included) it is flushed to `+0`, so no lane computes with subnormals.
#[inline(always)]
pub(super) fn exp_nonpos<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.min_keep_nan(s.sub(s.splat(0.0), x), s.splat(-EXP_FLUSH));
    s.zero_where_lt(x, s.splat(EXP_FLUSH), exp_neg(s, t))
}

/// `√2 − 1`: below it `1 + t` is kept, above it halved.
const SQRT2_M1: f32 = 0.414_213_57; // 0x3ed4_13cd
/// `ln 2` in two parts (Cephes): `LN2_HI` has few mantissa bits, so `k·LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4; // 0x3f31_8000
const LN2_LO: f32 = -2.121_944_4e-4; // 0xb95e_8083
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
pub(super) fn log1p_unit<S: Simd>(s: S, t: S::V) -> S::V {
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
pub(super) fn ln_ge1<S: Simd>(s: S, x: S::V, max: f32) -> S::V {
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
    use crate::simd::{Isa, WithSimd, dispatch};

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
