//! Vector helpers of the loss kernels: slice loads and stores that handle the tail, lane
//! masks, `e^x` for `x ≤ 0`, and `ln(1 + t)` for `0 ≤ t ≤ 1`.
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

use crate::activation::{EXP_FLUSH, exp_neg};
use crate::simd::{MAX_LANES, Simd};

/// The documented bound of [`log1p_unit`] in ULP of the result, on every instruction set
/// (held by the unit test below; measured exhaustively: see the module docs).
#[cfg(test)]
const LOG1P_MAX_ULP: f64 = 1.0;

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

/// The largest lane (NaN as in [`max_v`]).
#[inline(always)]
pub(super) fn reduce_max<S: Simd>(s: S, v: S::V) -> f32 {
    let mut buf = [0.0f32; MAX_LANES];
    // SAFETY: `buf` holds MAX_LANES ≥ LANES values.
    unsafe { s.store(buf.as_mut_ptr(), v) };
    let mut m = buf[0];
    for &x in &buf[1..S::LANES] {
        if x > m {
            m = x;
        }
    }
    m
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
    let zero = s.splat(0.0);
    let one = s.splat(1.0);
    let half = s.splat(0.5);
    // 1 + t > √2: ln(1 + t) = ln((1 + t)/2) + ln 2, with (1 + t)/2 − 1 = (t − 1)/2. The
    // difference t − 1 is rounded for t < 1/2; its error, exact by Fast2Sum (|−1| ≥ |t|),
    // is added back as lo/(1 + x) ≈ lo·(1 − x + x²) (about 0.7 ULP of the result otherwise).
    let c = s.splat(SQRT2_M1);
    let big = s.lt_select(c, t, one, zero);
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

    /// Error in ULP of the f32 result (the spacing at the exact value).
    fn ulps(got: f32, exact: f64) -> f64 {
        let e = exact as f32;
        let ulp = (f32::from_bits(e.to_bits() + 1) - e) as f64;
        (got as f64 - exact).abs() / ulp
    }

    /// Every `stride`-th f32 in [0, 1] (`MICROPROP_SWEEP_STRIDE`, 1 = all of them).
    #[test]
    fn log1p_unit_within_bound_against_f64() {
        let stride: u32 = if cfg!(miri) {
            1 << 22
        } else {
            std::env::var("MICROPROP_SWEEP_STRIDE")
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&s| s > 0)
                .unwrap_or(997)
        };
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
