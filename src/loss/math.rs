//! Vector helpers of the loss kernels: slice loads and stores that handle the tail, lane
//! masks and lane maxima. The elementary functions the losses are computed with (`e^x` for
//! `x ≤ 0`, `ln(1 + t)` for `0 ≤ t ≤ 1`, `ln x` for `x ≥ 1`) are in `simd/math.rs`, with
//! their accuracy.

use crate::simd::{MAX_LANES, Simd};

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
