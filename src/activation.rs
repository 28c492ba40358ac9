//! Activations, forward and backward, vectorized, each with its scalar reference.
//!
//! | activation | forward `h = f(z)` | backward `dz = dh · f'(z)`, from the output `h` |
//! |---|---|---|
//! | [`Activation::Identity`] | `z` | `dh` |
//! | [`Activation::Sigmoid`] | `1 / (1 + e^{−z})` | `dh · h · (1 − h)` |
//! | [`Activation::Relu`] | `max(z, 0)` | `dh` where `h > 0`, else `0` |
//! | [`Activation::Tanh`] | `tanh z` | `dh · (1 − h²)` |
//!
//! Backward passes take the forward *output* `h` (what the lecture's gates keep), so no
//! pre-activation buffer is needed.
//!
//! # Accuracy and special values
//! Worst error over normal outputs against an f64 reference, measured over **every** `f32`
//! in `[−100, 100]` (`MICROPROP_SWEEP_STRIDE=1` in `tests/kernels.rs`; outside that range
//! the results are exactly 0, 1 or ±1):
//!
//! | instruction set | sigmoid | tanh |
//! |---|---|---|
//! | scalar, portable (exact division) | 2.481 ULP | 1.567 ULP |
//! | AVX2 (FMA, exact division) | 2.481 ULP | 1.509 ULP |
//! | AVX-512 (FMA, `vrcp14ps` + one FMA correction) | 2.486 ULP | 1.509 ULP |
//! | NEON (FMA, exact division; under `qemu-aarch64`) | 2.481 ULP | 1.494 ULP (every 251st `f32`) |
//!
//! The documented bounds are 2.5 ULP for sigmoid and 4 ULP for tanh on every instruction
//! set. The sigmoid's worst case is structural: near `x = −24·ln 2` the rounding of
//! `e^{−x}` to `f32` and of `1 + e^{−x}` (a tie at `2²⁴ + 1`) each cost up to one ULP of
//! the result, the final rounding half of one. The reciprocal estimate adds at most `2⁻²⁸`
//! relative.
//!
//! * `sigmoid(+inf) = 1`, `sigmoid(−inf) = 0`, `sigmoid(NaN) = NaN`, `sigmoid(±0) = 0.5`.
//! * Where the exact sigmoid is subnormal (`z < −87.33654`, i.e. `e^z < 2⁻¹²⁶`) the vector
//!   kernel returns `+0.0`. This keeps its speed independent of the input: no lane ever
//!   computes with subnormals. (The scalar reference returns the subnormal value.)
//! * `tanh(±inf) = ±1`, `tanh(NaN) = NaN`, sign of zero kept.
//! * `relu(NaN) = NaN`, `relu(−0.0) = −0.0`.

use crate::Error;
use crate::simd::{Isa, Simd, WithSimd, dispatch};

/// An elementwise activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `f(z) = z`.
    Identity,
    /// `f(z) = 1 / (1 + e^{−z})`.
    Sigmoid,
    /// `f(z) = max(z, 0)`.
    Relu,
    /// `f(z) = tanh z`.
    Tanh,
}

// expf in the style of Cephes: n = round(y·log2 e), r = y − n·ln 2 (in two parts), e^r by
// 1 + r + r²·P(r) with P of degree 4 on |r| ≤ ln2/2, scaled by 2ⁿ. P is a minimax fit of
// (e^r − 1 − r)/r² for relative error (3·10⁻⁹ before rounding the coefficients, 1/40 of an
// ULP): one degree below Cephes' expf, which the accuracy budget does not need.
const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0x3f31_8000: few mantissa bits, so n·LN2_HI is exact
const LN2_LO: f32 = -2.121_944_4e-4;
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
    let mut p = s.splat(EXP_P[0]);
    for (i, &c) in EXP_P[1..].iter().enumerate() {
        p = s.mul_add(p, rn, s.splat(if i % 2 == 0 { -c } else { c }));
    }
    let p = s.mul_add(p, rn, s.splat(-1.0));
    let p = s.mul_add(p, rn, s.splat(1.0));
    s.mul_pow2i(p, n)
}

#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
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

#[inline(always)]
pub(crate) fn tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    let a = s.abs(x);
    // |x| ≥ 0.625: (1 − e)/(1 + e) with e = e^{−2|x|}, sign restored. Where e would be
    // subnormal the clamped one is below half an ULP of 1, and the quotient is 1.
    let e = exp_neg(s, s.min_keep_nan(s.add(a, a), s.splat(-EXP_FLUSH)));
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

#[inline(always)]
pub(crate) fn relu_v<S: Simd>(s: S, x: S::V) -> S::V {
    let zero = s.splat(0.0);
    s.lt_select(x, zero, zero, x)
}

impl Activation {
    /// The activation of one value, computed in scalar code with `libm` (the reference the
    /// vector kernels are tested against; accurate to about 1 ULP, subnormals included).
    pub fn scalar(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Sigmoid => sigmoid_scalar(z),
            Activation::Relu => {
                if z < 0.0 {
                    0.0
                } else {
                    z
                }
            }
            Activation::Tanh => libm::tanhf(z),
        }
    }

    /// `f'(z)` expressed through the output `h = f(z)`, in scalar code.
    pub fn derivative_scalar(self, h: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Sigmoid => h * (1.0 - h),
            Activation::Relu => {
                if h > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - h * h,
        }
    }

    /// `out[i] = f(z[i])`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths differ (nothing is written).
    pub fn forward(self, z: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len(
            "activation forward: out.len() != z.len()",
            z.len(),
            out.len(),
        )?;
        // SAFETY: both slices hold `z.len()` elements.
        unsafe { forward_raw(Isa::active(), self, z.as_ptr(), out.as_mut_ptr(), z.len()) };
        Ok(())
    }

    /// `z[i] = f(z[i])` in place.
    pub fn forward_inplace(self, z: &mut [f32]) {
        let p = z.as_mut_ptr();
        // SAFETY: reads and writes `z.len()` elements of `z`; each vector is read before
        // it is overwritten.
        unsafe { forward_raw(Isa::active(), self, p, p, z.len()) };
    }

    /// `dz[i] = dh[i] · f'(z[i])`, with `f'` computed from the forward output `h`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths differ (nothing is written).
    pub fn backward(self, dh: &[f32], h: &[f32], dz: &mut [f32]) -> Result<(), Error> {
        check_len(
            "activation backward: h.len() != dh.len()",
            dh.len(),
            h.len(),
        )?;
        check_len(
            "activation backward: dz.len() != dh.len()",
            dh.len(),
            dz.len(),
        )?;
        // SAFETY: all three slices hold `dh.len()` elements.
        unsafe {
            backward_raw(
                Isa::active(),
                self,
                dh.as_ptr(),
                h.as_ptr(),
                dz.as_mut_ptr(),
                dh.len(),
            )
        };
        Ok(())
    }

    /// `grad[i] ·= f'(z[i])` in place, with `f'` computed from the forward output `h`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths differ (nothing is written).
    pub fn backward_inplace(self, grad: &mut [f32], h: &[f32]) -> Result<(), Error> {
        check_len(
            "activation backward: h.len() != grad.len()",
            grad.len(),
            h.len(),
        )?;
        let g = grad.as_mut_ptr();
        // SAFETY: both hold `grad.len()` elements; `grad` is read before being overwritten.
        unsafe { backward_raw(Isa::active(), self, g, h.as_ptr(), g, grad.len()) };
        Ok(())
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected: (1, expected),
            found: (1, found),
        })
    }
}

/// The scalar sigmoid reference: `1/(1+e^{−x})` for `x ≥ 0`, `e^x/(1+e^x)` below, with
/// `libm::expf`. Correct for every input, subnormal results included.
pub fn sigmoid_scalar(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// `out[i] = 1 / (1 + e^{−x[i]})`, vectorized.
///
/// Accuracy: within 2.5 ULP of the exact value for every normal output. Special values:
/// `±inf → 1 / 0`, `NaN → NaN`; inputs below −87.33654, whose exact result is subnormal,
/// give `+0.0` (see the [module docs](crate::activation)).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out.len() != x.len()` (nothing is written).
///
/// ```
/// let mut h = [0.0f32; 3];
/// microprop::sigmoid(&[0.0, 100.0, f32::NEG_INFINITY], &mut h)?;
/// assert_eq!(h, [0.5, 1.0, 0.0]);
/// # Ok::<(), microprop::Error>(())
/// ```
pub fn sigmoid(x: &[f32], out: &mut [f32]) -> Result<(), Error> {
    Activation::Sigmoid.forward(x, out)
}

/// `x[i] = 1 / (1 + e^{−x[i]})` in place; see [`sigmoid`].
pub fn sigmoid_inplace(x: &mut [f32]) {
    Activation::Sigmoid.forward_inplace(x)
}

/// The fused sigmoid backward pass: `dz[i] = dh[i] · h[i] · (1 − h[i])`, where `h` is the
/// sigmoid's output (the lecture's `grad_h * h * (1 - h)`), in one pass.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the three lengths differ (nothing is written).
pub fn sigmoid_backward(dh: &[f32], h: &[f32], dz: &mut [f32]) -> Result<(), Error> {
    Activation::Sigmoid.backward(dh, h, dz)
}

/// `out[i] = max(x[i], 0)` (NaN stays NaN); see [`Activation::forward`].
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ.
pub fn relu(x: &[f32], out: &mut [f32]) -> Result<(), Error> {
    Activation::Relu.forward(x, out)
}

/// `out[i] = tanh x[i]`, within 4 ULP; see [`Activation::forward`].
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ.
pub fn tanh(x: &[f32], out: &mut [f32]) -> Result<(), Error> {
    Activation::Tanh.forward(x, out)
}

/// A lanewise function of one vector, as a type rather than a closure: a closure's body
/// does not inherit the `#[target_feature]`s of the function it is inlined into, so its
/// intrinsics would stay out-of-line calls. Implementations are `#[inline(always)]`.
pub(crate) trait Lanewise1: Copy {
    fn apply<S: Simd>(self, s: S, v: S::V) -> S::V;
}

/// A lanewise function of two vectors; see [`Lanewise1`].
pub(crate) trait Lanewise2: Copy {
    fn apply<S: Simd>(self, s: S, a: S::V, b: S::V) -> S::V;
}

macro_rules! lanewise1 {
    ($(#[$doc:meta])* $name:ident, |$s:ident, $v:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub(crate) struct $name;
        impl Lanewise1 for $name {
            #[inline(always)]
            fn apply<S: Simd>(self, $s: S, $v: S::V) -> S::V {
                $body
            }
        }
    };
}

macro_rules! lanewise2 {
    ($(#[$doc:meta])* $name:ident, |$s:ident, $a:ident, $b:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub(crate) struct $name;
        impl Lanewise2 for $name {
            #[inline(always)]
            fn apply<S: Simd>(self, $s: S, $a: S::V, $b: S::V) -> S::V {
                $body
            }
        }
    };
}

lanewise1!(
    /// `σ(v)`.
    SigmoidFn, |s, v| sigmoid_v(s, v)
);
lanewise1!(
    /// `max(v, 0)`.
    ReluFn, |s, v| relu_v(s, v)
);
lanewise1!(
    /// `tanh v`.
    TanhFn, |s, v| tanh_v(s, v)
);
lanewise2!(
    /// `dh · h · (1 − h)`.
    SigmoidBackFn, |s, g, h| deriv_mul_v(s, Activation::Sigmoid, g, h)
);
lanewise2!(
    /// `dh` where `h > 0`, else 0.
    ReluBackFn, |s, g, h| deriv_mul_v(s, Activation::Relu, g, h)
);
lanewise2!(
    /// `dh · (1 − h²)`.
    TanhBackFn, |s, g, h| deriv_mul_v(s, Activation::Tanh, g, h)
);
lanewise2!(
    /// `a + b`.
    AddFn, |s, a, b| s.add(a, b)
);

/// Applies `f` to `n` values from `x` into `out`, a vector at a time, the tail through a
/// zero-padded partial vector (so every element gets the same arithmetic).
///
/// # Safety
/// `x..x+n` readable, `out..out+n` writable; they are either the same range or disjoint.
#[inline(always)]
pub(crate) unsafe fn map1<S: Simd, F: Lanewise1>(
    s: S,
    x: *const f32,
    out: *mut f32,
    n: usize,
    f: F,
) {
    let mut i = 0;
    // SAFETY: every access is below `n` (full vectors while `i + LANES <= n`, then a
    // partial one of `n − i` elements), inside the caller's ranges.
    unsafe {
        // Four independent vectors per step: the kernels are long dependency chains, and
        // interleaving them keeps both vector pipes busy.
        while i + 4 * S::LANES <= n {
            let v0 = s.load(x.add(i));
            let v1 = s.load(x.add(i + S::LANES));
            let v2 = s.load(x.add(i + 2 * S::LANES));
            let v3 = s.load(x.add(i + 3 * S::LANES));
            let (v0, v1, v2, v3) = (
                f.apply(s, v0),
                f.apply(s, v1),
                f.apply(s, v2),
                f.apply(s, v3),
            );
            s.store(out.add(i), v0);
            s.store(out.add(i + S::LANES), v1);
            s.store(out.add(i + 2 * S::LANES), v2);
            s.store(out.add(i + 3 * S::LANES), v3);
            i += 4 * S::LANES;
        }
        while i + S::LANES <= n {
            s.store(out.add(i), f.apply(s, s.load(x.add(i))));
            i += S::LANES;
        }
        if i < n {
            let v = f.apply(s, s.load_partial(x.add(i), n - i));
            s.store_partial(out.add(i), v, n - i);
        }
    }
}

/// Two-input version of [`map1`].
///
/// # Safety
/// `a`, `b` readable and `out` writable for `n` values; `out` equals or is disjoint from each input.
#[inline(always)]
pub(crate) unsafe fn map2<S: Simd, F: Lanewise2>(
    s: S,
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    n: usize,
    f: F,
) {
    let mut i = 0;
    // SAFETY: as in `map1`.
    unsafe {
        while i + S::LANES <= n {
            let v = f.apply(s, s.load(a.add(i)), s.load(b.add(i)));
            s.store(out.add(i), v);
            i += S::LANES;
        }
        if i < n {
            let r = n - i;
            let v = f.apply(s, s.load_partial(a.add(i), r), s.load_partial(b.add(i), r));
            s.store_partial(out.add(i), v, r);
        }
    }
}

#[inline(always)]
pub(crate) unsafe fn forward_body<S: Simd>(
    s: S,
    act: Activation,
    x: *const f32,
    out: *mut f32,
    n: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match act {
            Activation::Identity => {
                if !core::ptr::eq(x, out) {
                    core::ptr::copy_nonoverlapping(x, out, n)
                }
            }
            Activation::Sigmoid => map1(s, x, out, n, SigmoidFn),
            Activation::Relu => map1(s, x, out, n, ReluFn),
            Activation::Tanh => map1(s, x, out, n, TanhFn),
        }
    }
}

/// `dh · f'` from the output `h`, one vector.
#[inline(always)]
pub(crate) fn deriv_mul_v<S: Simd>(s: S, act: Activation, dh: S::V, h: S::V) -> S::V {
    match act {
        Activation::Identity => dh,
        Activation::Sigmoid => s.mul(s.mul(dh, h), s.sub(s.splat(1.0), h)),
        Activation::Relu => s.lt_select(s.splat(0.0), h, dh, s.splat(0.0)),
        Activation::Tanh => s.mul(dh, s.sub(s.splat(1.0), s.mul(h, h))),
    }
}

#[inline(always)]
unsafe fn backward_body<S: Simd>(
    s: S,
    act: Activation,
    dh: *const f32,
    h: *const f32,
    dz: *mut f32,
    n: usize,
) {
    // SAFETY: forwarded from the caller. `match` outside the loop: one loop per activation.
    unsafe {
        match act {
            Activation::Identity => {
                if !core::ptr::eq(dh, dz) {
                    core::ptr::copy_nonoverlapping(dh, dz, n)
                }
            }
            Activation::Sigmoid => map2(s, dh, h, dz, n, SigmoidBackFn),
            Activation::Relu => map2(s, dh, h, dz, n, ReluBackFn),
            Activation::Tanh => map2(s, dh, h, dz, n, TanhBackFn),
        }
    }
}

/// Forward activation over raw memory.
///
/// # Safety
/// `x` readable and `out` writable for `n` values; `out == x` or disjoint.
pub(crate) unsafe fn forward_raw(
    isa: Isa,
    act: Activation,
    x: *const f32,
    out: *mut f32,
    n: usize,
) {
    dispatch(isa, Forward { act, x, out, n })
}

/// Backward activation over raw memory.
///
/// # Safety
/// `dh`, `h` readable and `dz` writable for `n` values; `dz` equals or is disjoint from each.
pub(crate) unsafe fn backward_raw(
    isa: Isa,
    act: Activation,
    dh: *const f32,
    h: *const f32,
    dz: *mut f32,
    n: usize,
) {
    dispatch(isa, Backward { act, dh, h, dz, n })
}

/// The arguments of [`forward_raw`]; built only there, so they meet its safety contract.
struct Forward {
    act: Activation,
    x: *const f32,
    out: *mut f32,
    n: usize,
}

impl WithSimd for Forward {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // SAFETY: the fields satisfy `forward_raw`'s contract (built only there).
        unsafe { forward_body(s, self.act, self.x, self.out, self.n) }
    }
}

/// The arguments of [`backward_raw`]; built only there, so they meet its safety contract.
struct Backward {
    act: Activation,
    dh: *const f32,
    h: *const f32,
    dz: *mut f32,
    n: usize,
}

impl WithSimd for Backward {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // SAFETY: the fields satisfy `backward_raw`'s contract (built only there).
        unsafe { backward_body(s, self.act, self.dh, self.h, self.dz, self.n) }
    }
}
