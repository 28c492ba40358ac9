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
//! Measured against an f64 reference over a dense sweep of `[−100, 100]` (see
//! `tests/kernels.rs`):
//!
//! | function | max error (normal outputs) |
//! |---|---|
//! | sigmoid | ≤ 2.5 ULP on every instruction set (see the README for today's measurement) |
//! | tanh | ≤ 4 ULP |
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

// Cephes-style expf: n = round(y·log2 e), r = y − n·ln 2 (in two parts), e^r by a degree-6
// polynomial on |r| ≤ ln2/2 (relative error below 1 ULP), scaled by 2ⁿ.
const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0x3f31_8000: few mantissa bits, so n·LN2_HI is exact
const LN2_LO: f32 = -2.121_944_4e-4;
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5·2²³: x + M − M rounds x to an integer
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1, // Cephes' 5.0000001e-1 rounds to exactly 0.5 in f32
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

/// `e^y` for `EXP_FLUSH ≤ y ≤ 0`; NaN in gives NaN, other lanes are unspecified.
#[inline(always)]
fn exp_nonpos<S: Simd>(s: S, y: S::V) -> S::V {
    let magic = s.splat(ROUND_MAGIC);
    let n = s.sub(s.add(s.mul(y, s.splat(LOG2E)), magic), magic);
    let r = s.mul_add(n, s.splat(-LN2_HI), y);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let mut p = s.splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = s.mul_add(p, r, s.splat(c));
    }
    let r2 = s.mul(r, r);
    let p = s.add(s.mul_add(p, r2, r), s.splat(1.0));
    s.mul(p, s.pow2i(n))
}

/// `e^{−|x|}`, flushed to `+0` where it would be subnormal; NaN stays NaN.
#[inline(always)]
fn exp_neg_abs<S: Simd>(s: S, x: S::V) -> S::V {
    let zero = s.splat(0.0);
    let flush = s.splat(EXP_FLUSH);
    let y = s.sub(zero, s.abs(x));
    // Clamp first, so no lane ever computes a subnormal (an x86 microcode assist, ~100
    // cycles) only to be discarded; the select keeps NaN (NaN < t is false).
    let e = exp_nonpos(s, s.lt_select(y, flush, flush, y));
    s.lt_select(y, flush, zero, e)
}

#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
    // σ(x) = 1/(1+e^{−x}) for x ≥ 0 and e^{x}/(1+e^{x}) for x < 0: e^{−|x|} never
    // overflows, and one division serves both signs.
    let one = s.splat(1.0);
    let z = exp_neg_abs(s, x);
    let num = s.lt_select(x, s.splat(0.0), z, one);
    s.div(num, s.add(one, z))
}

#[inline(always)]
pub(crate) fn tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    let a = s.abs(x);
    // |x| ≥ 0.625: (1 − e)/(1 + e) with e = e^{−2|x|}, sign restored.
    let e = exp_neg_abs(s, s.add(a, a));
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
