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
//! | AVX-512 (FMA, table-driven `e^{−x}`, `vrcp14ps` + one FMA correction) | 2.310 ULP | 1.509 ULP |
//! | NEON (FMA, exact division; under `qemu-aarch64`) | 2.481 ULP | 1.494 ULP (every 251st `f32`) |
//! | scalar on soft-float targets (integer arithmetic; the same code, tested on x86_64) | 0.535 ULP | 1.500 ULP |
//!
//! The documented bounds are 2.5 ULP for sigmoid and 4 ULP for tanh on every instruction
//! set. The sigmoid's worst case is structural: near `x = −24·ln 2` the rounding of
//! `e^{−x}` to `f32` and of `1 + e^{−x}` (a tie at `2²⁴ + 1`) each cost up to one ULP of
//! the result, the final rounding half of one. The reciprocal estimate adds at most `2⁻²⁸`
//! relative. AVX-512 has its own sigmoid kernel (`Simd::sigmoid`, 17 instead of 20 vector
//! instructions per vector): `e^{−x}` from an eight-entry table and a cubic, and
//! `1 + e^{−x}` in one fused multiply-add. The cubic's value lies at the top of a binade,
//! where its rounding costs the least relative error, which more than pays for the
//! shorter polynomial and the table's rounding.
//!
//! On soft-float targets (Cortex-M0/M3, RISC-V without F: `simd::scalar::SOFT_FLOAT`)
//! every `f32` operation is a library call of 40 to 70 instructions, so the scalar backend
//! computes the sigmoid in integer arithmetic from the bits (`simd::scalar::sigmoid_soft`):
//! `e^{−|x|}` in fixed point (u32 multiplies giving u64, a 16-entry table of `2^{j/16}`
//! and a polynomial), `1/(1 + e)` by one 32-bit division and a Newton step, `e/(1 + e)`
//! for `x < 0`, and one rounding to `f32` at the end; the clamps are integer compares. That
//! is about 100 instructions per value instead of about 1,700 (a Cortex-M3 XOR 2-3-1
//! training step: 58,901 instructions before, 35,381 after; 32,234 with the finiteness
//! scans on integers too, against 43,029 for plain loops), and more accurate, since nothing is
//! rounded on the way. tanh takes the same integer `e^{−x}` (rounded to `f32`: 0.505 ULP)
//! through `Simd::exp_neg`. The special values below are the same.
//!
//! * `sigmoid(+inf) = 1`, `sigmoid(−inf) = 0`, `sigmoid(NaN) = NaN`, `sigmoid(±0) = 0.5`.
//! * Where the exact sigmoid is subnormal (`z < −87.33654`, i.e. `e^z < 2⁻¹²⁶`) the vector
//!   kernel returns `+0.0`. This keeps its speed independent of the input: no lane ever
//!   computes with subnormals. (The scalar reference returns the subnormal value.)
//! * `tanh(±inf) = ±1`, `tanh(NaN) = NaN`, sign of zero kept.
//! * `relu(NaN) = NaN`, `relu(−0.0) = −0.0`.
//!
//! # How to add an activation
//! Each activation is defined once, in this file, by a zero-sized type implementing the
//! crate-private trait `ActivationOp` (as candle's `UnaryOpT`); everything else (the
//! enum, [`Activation::ALL`], names, save codes, the slice kernels, the GEMM epilogue, the
//! graph gate, saving and loading) reaches it through the one `activations!` list.
//! 1. Write its vector math as an `#[inline(always)] fn foo_v<S: Simd>(s: S, z: S::V) -> S::V`
//!    from `Simd` operations only, in `simd/math.rs` (beside `sigmoid_v` and `tanh_v`, with
//!    any constants it needs), and a scalar reference (`libm`).
//! 2. Add `struct FooOp;` with `impl ActivationOp`: `NAME` (lower case), `SAVE_CODE` (the
//!    next unused byte; a code is never changed or reused, and the build fails if two
//!    coincide), `forward_v`, `deriv_mul_v` (`dh · f'` from the *output* `h`), `scalar`
//!    and `derivative_scalar`.
//! 3. Add `/// doc line` and `Foo => FooOp,` to the `activations!` invocation, and a row to
//!    the table above.
//!
//! Every test that iterates [`Activation::ALL`] (forward and backward against the scalar
//! reference on every instruction set and length, gradients against finite differences,
//! networks, saving) then covers it. The few tests that need per-activation knowledge
//! (its f64 reference and ULP tolerance in `tests/kernels.rs`, `tests/nn.rs`) fail
//! naming the activation until it is given one. Blobs saved with the new code are
//! version-1 blobs; builds that predate it reject them as [`Error::Corrupt`] ("unknown
//! activation code").

use core::marker::PhantomData;

use crate::Error;
use crate::error::check_len;
use crate::simd::math::{relu_v, sigmoid_v, tanh_v};
use crate::simd::{Isa, Simd, WithSimd, dispatch, keep_rolled, opaque};

/// Everything about one activation, on a zero-sized type (in the style of candle's
/// `UnaryOpT`): its name, its save code, its vector forms and its scalar references.
/// [`Activation::dispatch`] maps the public enum to these types; the kernels are generic
/// over this trait, so the enum is matched once per call, outside the loops.
pub(crate) trait ActivationOp: Copy {
    /// [`Activation::name`].
    const NAME: &'static str;
    /// [`Activation::save_code`]: the byte in the saved-weights format. Never change or
    /// reuse one; the build fails if two activations share a code.
    const SAVE_CODE: u8;

    /// `f(z)`, one vector.
    fn forward_v<S: Simd>(s: S, z: S::V) -> S::V;

    /// `f(z)` of four vectors, the step of [`map1`]; by default one at a time.
    #[inline(always)]
    fn forward_v4<S: Simd>(s: S, z: [S::V; 4]) -> [S::V; 4] {
        let [a, b, c, d] = z;
        // Not `z.map`: `array::map` is not inlined into the kernel (it lacks the kernel's
        // target features), and neither is anything called from it.
        [
            Self::forward_v(s, a),
            Self::forward_v(s, b),
            Self::forward_v(s, c),
            Self::forward_v(s, d),
        ]
    }

    /// `dh · f'(z)`, one vector, with `f'` computed from the forward output `h = f(z)`.
    fn deriv_mul_v<S: Simd>(s: S, dh: S::V, h: S::V) -> S::V;

    /// `f(z)` in scalar code: the reference the vector form is tested against.
    fn scalar(z: f32) -> f32;

    /// `f'(z)` from the output `h = f(z)`, in scalar code.
    fn derivative_scalar(h: f32) -> f32;

    /// `out[i] = f(x[i])` for `i < n`, by [`map1`] over [`ActivationOp::forward_v`].
    ///
    /// # Safety
    /// As [`map1`].
    #[inline(always)]
    unsafe fn forward_slice<S: Simd>(s: S, x: *const f32, out: *mut f32, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { map1(s, x, out, n, ForwardOf::<Self>(PhantomData)) }
    }

    /// `dz[i] = dh[i] · f'(h[i])` for `i < n`, by [`map2`] over
    /// [`ActivationOp::deriv_mul_v`].
    ///
    /// # Safety
    /// As [`map2`].
    #[inline(always)]
    unsafe fn backward_slice<S: Simd>(s: S, dh: *const f32, h: *const f32, dz: *mut f32, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { map2(s, dh, h, dz, n, BackwardOf::<Self>(PhantomData)) }
    }
}

/// Work to do with an activation's [`ActivationOp`] type: [`Activation::dispatch`] calls
/// `call::<A>()` with the type of the activation at hand.
pub(crate) trait ActivationVisitor {
    /// What the work returns.
    type Output;
    /// Does the work for the activation `A`.
    fn call<A: ActivationOp>(self) -> Self::Output;
}

/// The one list of activations: each variant of [`Activation`] with its doc line and the
/// [`ActivationOp`] type defining it. Generates the enum, [`Activation::ALL`], the
/// name and save-code lookups, [`Activation::dispatch`], and a compile-time check that
/// the save codes are distinct.
macro_rules! activations {
    ($($(#[$doc:meta])* $variant:ident => $op:ty,)*) => {
        /// An elementwise activation function.
        ///
        /// New activations may be added (see [how](crate::activation#how-to-add-an-activation)),
        /// so matches outside this crate need a wildcard arm; iterate [`Activation::ALL`]
        /// to cover every one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Activation {
            $($(#[$doc])* $variant,)*
        }

        impl Activation {
            /// Every activation, in declaration order.
            pub const ALL: &'static [Activation] = &[$(Activation::$variant),*];

            /// The activation's name in lower case, e.g. `"sigmoid"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Activation::$variant => <$op as ActivationOp>::NAME,)*
                }
            }

            /// The byte that stands for this activation in the
            /// [saved-weights format](crate::nn::save#format-version-1): Identity 0,
            /// Sigmoid 1, Relu 2, Tanh 3. A code, once given, never changes.
            pub const fn save_code(self) -> u8 {
                match self {
                    $(Activation::$variant => <$op as ActivationOp>::SAVE_CODE,)*
                }
            }

            /// Calls `v.call::<A>()` with the [`ActivationOp`] type `A` of `self`: the one
            /// place the enum is mapped to its definition.
            #[inline(always)]
            pub(crate) fn dispatch<V: ActivationVisitor>(self, v: V) -> V::Output {
                match self {
                    $(Activation::$variant => v.call::<$op>(),)*
                }
            }
        }

        const _: () = assert_distinct(&[$(<$op as ActivationOp>::SAVE_CODE),*]);
    };
}

/// Fails the build (in a `const`) if two save codes are equal.
const fn assert_distinct(codes: &[u8]) {
    let mut i = 0;
    while i < codes.len() {
        let mut j = i + 1;
        while j < codes.len() {
            assert!(codes[i] != codes[j], "two activations share a save code");
            j += 1;
        }
        i += 1;
    }
}

activations! {
    /// `f(z) = z`.
    Identity => IdentityOp,
    /// `f(z) = 1 / (1 + e^{−z})`.
    Sigmoid => SigmoidOp,
    /// `f(z) = max(z, 0)`.
    Relu => ReluOp,
    /// `f(z) = tanh z`.
    Tanh => TanhOp,
}

/// [`Activation::Identity`].
#[derive(Clone, Copy)]
pub(crate) struct IdentityOp;

impl ActivationOp for IdentityOp {
    const NAME: &'static str = "identity";
    const SAVE_CODE: u8 = 0;
    #[inline(always)]
    fn forward_v<S: Simd>(_: S, z: S::V) -> S::V {
        z
    }
    #[inline(always)]
    fn deriv_mul_v<S: Simd>(_: S, dh: S::V, _: S::V) -> S::V {
        dh
    }
    fn scalar(z: f32) -> f32 {
        z
    }
    fn derivative_scalar(_: f32) -> f32 {
        1.0
    }
    // Both passes are copies: no arithmetic, and nothing at all in place.
    #[inline(always)]
    unsafe fn forward_slice<S: Simd>(_: S, x: *const f32, out: *mut f32, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { copy_unless_same(x, out, n) }
    }
    #[inline(always)]
    unsafe fn backward_slice<S: Simd>(_: S, dh: *const f32, _: *const f32, dz: *mut f32, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { copy_unless_same(dh, dz, n) }
    }
}

/// [`Activation::Sigmoid`].
#[derive(Clone, Copy)]
pub(crate) struct SigmoidOp;

impl ActivationOp for SigmoidOp {
    const NAME: &'static str = "sigmoid";
    const SAVE_CODE: u8 = 1;
    #[inline(always)]
    fn forward_v<S: Simd>(s: S, z: S::V) -> S::V {
        sigmoid_v(s, z)
    }
    #[inline(always)]
    fn forward_v4<S: Simd>(s: S, z: [S::V; 4]) -> [S::V; 4] {
        s.sigmoid4(z)
    }
    /// `dh · h · (1 − h)`.
    #[inline(always)]
    fn deriv_mul_v<S: Simd>(s: S, dh: S::V, h: S::V) -> S::V {
        s.mul(s.mul(dh, h), s.sub(s.splat(1.0), h))
    }
    fn scalar(z: f32) -> f32 {
        sigmoid_scalar(z)
    }
    fn derivative_scalar(h: f32) -> f32 {
        h * (1.0 - h)
    }
}

/// [`Activation::Relu`].
#[derive(Clone, Copy)]
pub(crate) struct ReluOp;

impl ActivationOp for ReluOp {
    const NAME: &'static str = "relu";
    const SAVE_CODE: u8 = 2;
    #[inline(always)]
    fn forward_v<S: Simd>(s: S, z: S::V) -> S::V {
        relu_v(s, z)
    }
    /// `dh` where `h > 0`, else 0.
    #[inline(always)]
    fn deriv_mul_v<S: Simd>(s: S, dh: S::V, h: S::V) -> S::V {
        s.lt_select(s.splat(0.0), h, dh, s.splat(0.0))
    }
    fn scalar(z: f32) -> f32 {
        if z < 0.0 { 0.0 } else { z }
    }
    fn derivative_scalar(h: f32) -> f32 {
        if h > 0.0 { 1.0 } else { 0.0 }
    }
}

/// [`Activation::Tanh`].
#[derive(Clone, Copy)]
pub(crate) struct TanhOp;

impl ActivationOp for TanhOp {
    const NAME: &'static str = "tanh";
    const SAVE_CODE: u8 = 3;
    #[inline(always)]
    fn forward_v<S: Simd>(s: S, z: S::V) -> S::V {
        tanh_v(s, z)
    }
    /// `dh · (1 − h²)`.
    #[inline(always)]
    fn deriv_mul_v<S: Simd>(s: S, dh: S::V, h: S::V) -> S::V {
        s.mul(dh, s.sub(s.splat(1.0), s.mul(h, h)))
    }
    fn scalar(z: f32) -> f32 {
        libm::tanhf(z)
    }
    fn derivative_scalar(h: f32) -> f32 {
        1.0 - h * h
    }
}

/// Copies `n` values from `x` to `out` unless they are the same range.
///
/// # Safety
/// `x..x+n` readable, `out..out+n` writable; the same range or disjoint.
#[inline(always)]
unsafe fn copy_unless_same(x: *const f32, out: *mut f32, n: usize) {
    if !core::ptr::eq(x, out) {
        // SAFETY: valid and disjoint (the caller's contract, and not the same range).
        unsafe { core::ptr::copy_nonoverlapping(x, out, n) }
    }
}

impl Activation {
    /// Parses a [save code](Activation::save_code); `None` for a byte no activation has.
    ///
    /// ```
    /// use microprop::Activation;
    /// for &a in Activation::ALL {
    ///     assert_eq!(Activation::from_save_code(a.save_code()), Some(a));
    /// }
    /// assert_eq!(Activation::from_save_code(0xFF), None);
    /// ```
    pub const fn from_save_code(code: u8) -> Option<Activation> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i].save_code() == code {
                return Some(Self::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// The activation of one value, computed in scalar code with `libm` (the reference the
    /// vector kernels are tested against; accurate to about 1 ULP, subnormals included).
    pub fn scalar(self, z: f32) -> f32 {
        struct Scalar(f32);
        impl ActivationVisitor for Scalar {
            type Output = f32;
            fn call<A: ActivationOp>(self) -> f32 {
                A::scalar(self.0)
            }
        }
        self.dispatch(Scalar(z))
    }

    /// `f'(z)` expressed through the output `h = f(z)`, in scalar code.
    pub fn derivative_scalar(self, h: f32) -> f32 {
        struct Derivative(f32);
        impl ActivationVisitor for Derivative {
            type Output = f32;
            fn call<A: ActivationOp>(self) -> f32 {
                A::derivative_scalar(self.0)
            }
        }
        self.dispatch(Derivative(h))
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
    /// `apply` of four vectors; by default one at a time.
    #[inline(always)]
    fn apply4<S: Simd>(self, s: S, v: [S::V; 4]) -> [S::V; 4] {
        // Not `v.map`: `array::map` is not inlined into the kernel (it lacks the kernel's
        // target features), and neither is anything called from it.
        let [a, b, c, d] = v;
        [
            self.apply(s, a),
            self.apply(s, b),
            self.apply(s, c),
            self.apply(s, d),
        ]
    }
}

/// A lanewise function of two vectors; see [`Lanewise1`].
pub(crate) trait Lanewise2: Copy {
    fn apply<S: Simd>(self, s: S, a: S::V, b: S::V) -> S::V;
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

/// [`ActivationOp::forward_v`] of `A` as a [`Lanewise1`].
pub(crate) struct ForwardOf<A>(PhantomData<A>);

impl<A> Clone for ForwardOf<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for ForwardOf<A> {}

impl<A: ActivationOp> Lanewise1 for ForwardOf<A> {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
        A::forward_v(s, v)
    }
    #[inline(always)]
    fn apply4<S: Simd>(self, s: S, v: [S::V; 4]) -> [S::V; 4] {
        A::forward_v4(s, v)
    }
}

/// [`ActivationOp::deriv_mul_v`] of `A` as a [`Lanewise2`]: `(dh, h) ↦ dh · f'`.
pub(crate) struct BackwardOf<A>(PhantomData<A>);

impl<A> Clone for BackwardOf<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for BackwardOf<A> {}

impl<A: ActivationOp> Lanewise2 for BackwardOf<A> {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, dh: S::V, h: S::V) -> S::V {
        A::deriv_mul_v(s, dh, h)
    }
}

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
    // (A length LLVM can see, as in a firmware's fixed network, would otherwise have the
    // loops written out in full.)
    let n = opaque(n);
    let mut i = 0;
    // SAFETY: every access is below `n` (full vectors while `i + LANES <= n`, then a
    // partial one of `n − i` elements), inside the caller's ranges.
    unsafe {
        // Four independent vectors per step: the kernels are long dependency chains, and
        // interleaving them keeps both vector pipes busy.
        while i + 4 * S::LANES <= n {
            keep_rolled();
            let v0 = s.load(x.add(i));
            let v1 = s.load(x.add(i + S::LANES));
            let v2 = s.load(x.add(i + 2 * S::LANES));
            let v3 = s.load(x.add(i + 3 * S::LANES));
            let [v0, v1, v2, v3] = f.apply4(s, [v0, v1, v2, v3]);
            s.store(out.add(i), v0);
            s.store(out.add(i + S::LANES), v1);
            s.store(out.add(i + 2 * S::LANES), v2);
            s.store(out.add(i + 3 * S::LANES), v3);
            i += 4 * S::LANES;
        }
        while i + S::LANES <= n {
            keep_rolled();
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
    let n = opaque(n);
    let mut i = 0;
    // SAFETY: as in `map1`.
    unsafe {
        while i + S::LANES <= n {
            keep_rolled();
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

/// `f(v)` for one vector (the GEMM epilogue's activation).
#[inline(always)]
pub(crate) fn act_v<S: Simd>(s: S, act: Activation, v: S::V) -> S::V {
    struct ActV<S: Simd>(S, S::V);
    impl<S: Simd> ActivationVisitor for ActV<S> {
        type Output = S::V;
        #[inline(always)]
        fn call<A: ActivationOp>(self) -> S::V {
            A::forward_v(self.0, self.1)
        }
    }
    act.dispatch(ActV(s, v))
}

/// `dh · f'` from the output `h`, one vector.
#[inline(always)]
pub(crate) fn deriv_mul_v<S: Simd>(s: S, act: Activation, dh: S::V, h: S::V) -> S::V {
    struct DerivMulV<S: Simd>(S, S::V, S::V);
    impl<S: Simd> ActivationVisitor for DerivMulV<S> {
        type Output = S::V;
        #[inline(always)]
        fn call<A: ActivationOp>(self) -> S::V {
            A::deriv_mul_v(self.0, self.1, self.2)
        }
    }
    act.dispatch(DerivMulV(s, dh, h))
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
        struct Body<S> {
            s: S,
            f: Forward,
        }
        impl<S: Simd> ActivationVisitor for Body<S> {
            type Output = ();
            #[inline(always)]
            fn call<A: ActivationOp>(self) {
                let Forward { x, out, n, .. } = self.f;
                // SAFETY: the fields satisfy `forward_raw`'s contract (built only there).
                unsafe { A::forward_slice(self.s, x, out, n) }
            }
        }
        // One match, outside the loop: one loop per activation.
        self.act.dispatch(Body { s, f: self })
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
        struct Body<S> {
            s: S,
            b: Backward,
        }
        impl<S: Simd> ActivationVisitor for Body<S> {
            type Output = ();
            #[inline(always)]
            fn call<A: ActivationOp>(self) {
                let Backward { dh, h, dz, n, .. } = self.b;
                // SAFETY: the fields satisfy `backward_raw`'s contract (built only there).
                unsafe { A::backward_slice(self.s, dh, h, dz, n) }
            }
        }
        self.act.dispatch(Body { s, b: self })
    }
}

/// `g[i] = 0` where `|g[i]| < FLUSH_BELOW` (1e-30), in place on a chosen instruction set:
/// the output layer's delta gets the flush the hidden deltas get in their GEMM epilogue
/// (see [`crate::simd::FLUSH_BELOW`]).
pub(crate) fn flush_tiny_inplace_isa(isa: Isa, g: &mut [f32]) {
    let p = g.as_mut_ptr();
    // `Map1` is built only here, from a slice: `p` is readable and writable for `n`
    // values, in place.
    dispatch(
        isa,
        Map1 {
            x: p,
            out: p,
            n: g.len(),
            f: FlushFn,
        },
    )
}

/// `0` where `|v| < FLUSH_BELOW`, else `v`.
#[derive(Clone, Copy)]
struct FlushFn;

impl Lanewise1 for FlushFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
        crate::simd::flush_tiny(s, v)
    }
}

/// [`map1`] as a kernel: `x` readable and `out` writable for `n` values, equal or
/// disjoint (built only where that holds).
struct Map1<F> {
    x: *const f32,
    out: *mut f32,
    n: usize,
    f: F,
}

impl<F: Lanewise1> WithSimd for Map1<F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        // SAFETY: the fields satisfy map1's contract (built only where they do).
        unsafe { map1(s, self.x, self.out, self.n, self.f) }
    }
}

/// `z[i] = f(z[i])` in place on a chosen instruction set: the safe crate-internal form
/// of [`Activation::forward_inplace`].
pub(crate) fn forward_inplace_isa(isa: Isa, act: Activation, z: &mut [f32]) {
    let p = z.as_mut_ptr();
    // SAFETY: reads and writes `z.len()` elements of `z`; each vector is read before it
    // is overwritten.
    unsafe { forward_raw(isa, act, p, p, z.len()) };
}

/// `g[i] ·= f'(h[i])` in place on a chosen instruction set, `f'` from the forward output
/// `h`: the safe crate-internal form of [`Activation::backward_inplace`].
pub(crate) fn backward_inplace_isa(
    isa: Isa,
    act: Activation,
    g: &mut [f32],
    h: &[f32],
) -> Result<(), Error> {
    check_len(
        "activation backward: h.len() != grad.len()",
        g.len(),
        h.len(),
    )?;
    // One pointer for both the input and the output: a `g.as_ptr()` taken before
    // `g.as_mut_ptr()` would be invalidated by it (an aliasing violation).
    let gp = g.as_mut_ptr();
    // SAFETY: `g` and `h` hold the same number of values; in place on `g`.
    unsafe { backward_raw(isa, act, gp, h.as_ptr(), gp, h.len()) };
    Ok(())
}
