//! The lane abstraction every kernel is written against, and the one place where the
//! instruction set is chosen.
//!
//! A kernel body is written once, generic over the crate-private `Simd` trait, marked
//! `#[inline(always)]`, and instantiated per instruction set by `dispatch`: the kernel is a
//! small struct holding its arguments that implements `WithSimd`, and `dispatch` hands it the token of the chosen
//! backend inside a `#[target_feature]` wrapper, so every inlined `Simd` method becomes
//! that instruction set's code (the pattern of `pulp`). The backends:
//!
//! | [`Isa`] | vector | where |
//! |---|---|---|
//! | [`Isa::Scalar`] | one `f32` | everywhere; the default on targets without SIMD (Cortex-M, RISC-V) |
//! | [`Isa::Portable`] | `wide::f32x8` | everywhere; SSE2 on x86_64, NEON on aarch64, simd128 on wasm |
//! | [`Isa::Neon`] | `float32x4_t` | aarch64 (every target with a floating-point unit) |
//! | [`Isa::Avx2`] | `__m256` | x86_64 with AVX2 and FMA (Haswell, Zen 1 and later) |
//! | [`Isa::Avx512`] | `__m512` | x86_64 with AVX-512F (Skylake-SP, Ice Lake, Zen 4 and later) |
//!
//! With the `std` feature the CPU is inspected once and the choice cached; without it the
//! choice is made from compile-time target features. Tests force each variant with
//! `with_isa` (with `std`) (or the `MICROPROP_ISA` environment variable) so every variant the
//! machine supports is held to the same scalar references.
//!
//! The elementwise math written once over the trait (`e^{−x}`, the sigmoid, tanh, ReLU,
//! `e^x` for `x ≤ 0`, the logarithms of the losses) and the constants the backends share
//! with it are in `math.rs`, below the kernels that use them.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod math;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon;
mod portable;
mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::Avx512;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
pub(crate) use neon::Neon;
pub(crate) use portable::Portable;
pub(crate) use scalar::{SOFT_FLOAT, Scalar, sqrtf};

/// Largest lane count of any backend (bounds the stack buffers of partial loads).
pub(crate) const MAX_LANES: usize = 16;

/// A set of SIMD operations on vectors of `LANES` `f32`s.
///
/// Values of an implementing type are tokens: holding one proves the CPU supports its
/// instruction set, so the operations are safe to call.
///
/// # Safety
/// An implementor must only be constructible where its instruction set is available, and
/// `LANES` must equal the number of `f32` in `V` (at most [`MAX_LANES`]).
pub(crate) unsafe trait Simd: Copy {
    /// The instruction set this token stands for.
    const ISA: Isa;
    /// Number of `f32` lanes in [`Simd::V`].
    const LANES: usize;
    /// One vector.
    type V: Copy;

    /// Every lane `x`.
    fn splat(self, x: f32) -> Self::V;
    /// Loads `LANES` values.
    ///
    /// # Safety
    /// `p..p + LANES` must be readable, and `p` aligned for `f32` (every pointer the
    /// kernels pass comes from an `f32` slice or array; no vector alignment is needed).
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Stores `LANES` values.
    ///
    /// # Safety
    /// `p..p + LANES` must be writable, and `p` aligned for `f32`.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`, correctly rounded.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `√a`, correctly rounded (IEEE 754 `squareRoot`): `√−0 = −0`, `√+∞ = +∞`, NaN for
    /// NaN and for negative lanes.
    fn sqrt(self, a: Self::V) -> Self::V;
    /// `a · b + c`; one rounding where the instruction set has FMA, two otherwise.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Lanewise `if a < b { t } else { f }` (false for NaN lanes).
    fn lt_select(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit).
    fn abs(self, a: Self::V) -> Self::V;
    /// `2ⁿ` for lanes holding an integer-valued `n` in `[-126, 127]`; other lanes give an
    /// unspecified value (never UB).
    fn pow2i(self, n: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn reduce_add(self, v: Self::V) -> f32;

    /// `1 / b` to within 0.6 ULP (not always correctly rounded), for normal `b` with a
    /// normal reciprocal; a NaN lane gives NaN, other lanes (`b` zero, subnormal, infinite
    /// or near `f32::MAX`) an unspecified value. Backends where an exact division is slow
    /// use a reciprocal estimate refined with fused multiply-adds; the default is
    /// [`div`](Simd::div).
    #[inline(always)]
    fn recip_fast(self, b: Self::V) -> Self::V {
        self.div(self.splat(1.0), b)
    }
    /// Lanewise `if a < b { +0.0 } else { v }` (`v` for NaN lanes).
    #[inline(always)]
    fn zero_where_lt(self, a: Self::V, b: Self::V, v: Self::V) -> Self::V {
        self.lt_select(a, b, self.splat(0.0), v)
    }
    /// `max(a, lo)`, except that a NaN lane of `a` stays NaN (`lo` is never NaN).
    #[inline(always)]
    fn max_keep_nan(self, a: Self::V, lo: Self::V) -> Self::V {
        self.lt_select(a, lo, lo, a)
    }
    /// `min(a, hi)`, except that a NaN lane of `a` stays NaN (`hi` is never NaN).
    #[inline(always)]
    fn min_keep_nan(self, a: Self::V, hi: Self::V) -> Self::V {
        self.lt_select(hi, a, hi, a)
    }
    /// `p · 2ⁿ` for lanes holding an integer-valued `n` in `[-126, 127]` (rounded as
    /// `p · pow2i(n)` is); other lanes give an unspecified value (never UB).
    #[inline(always)]
    fn mul_pow2i(self, p: Self::V, n: Self::V) -> Self::V {
        self.mul(p, self.pow2i(n))
    }
    /// The sigmoid `1 / (1 + e^{−x})` of each lane, to the contract of
    /// [`crate::sigmoid`]: within 2.5 ULP of the exact value for every normal result,
    /// NaN for NaN, `+∞ → 1`, `−∞ → +0`, `+0.0` where the exact result is subnormal
    /// (`x < −87.33654`), and no subnormal intermediate in any lane. The default is the
    /// generic kernel built from the operations above (`math::sigmoid_generic`);
    /// AVX-512 overrides it with a table-driven kernel that needs three fewer vector
    /// instructions per vector, and [`Scalar`] on soft-float targets with one computed in
    /// integer arithmetic (`scalar::sigmoid_soft`).
    #[inline(always)]
    fn sigmoid(self, x: Self::V) -> Self::V {
        math::sigmoid_generic(self, x)
    }
    /// `e^{−x}` for lanes with `0 ≤ x ≤ −EXP_FLUSH = 87.33654` (so the result is normal);
    /// NaN gives NaN, other lanes an unspecified value. The default is the generic
    /// polynomial kernel (`math::exp_neg`); [`Scalar`] on soft-float targets
    /// ([`SOFT_FLOAT`](scalar::SOFT_FLOAT)) computes it in integer arithmetic.
    #[inline(always)]
    fn exp_neg(self, x: Self::V) -> Self::V {
        math::exp_neg(self, x)
    }
    /// [`Simd::sigmoid`] of four vectors (the slice kernel's step). The default takes
    /// them one at a time; AVX-512 interleaves the four computations.
    #[inline(always)]
    fn sigmoid4(self, x: [Self::V; 4]) -> [Self::V; 4] {
        // Not `x.map`: `array::map` is not inlined into the kernel (it lacks the kernel's
        // target features), and neither is anything called from it.
        let [a, b, c, d] = x;
        [
            self.sigmoid(a),
            self.sigmoid(b),
            self.sigmoid(c),
            self.sigmoid(d),
        ]
    }

    /// Copies `R` rows of `LANES` values (row `r` at `src + r·rs`) transposed, as the
    /// packed A of the GEMM wants them: `dst[p·R + r] = src[r·rs + p]` for `p < LANES`,
    /// `r < R`. The default copies value by value; a backend overrides it with a vector
    /// transpose for its packed tile's `R`.
    ///
    /// # Safety
    /// `src + r·rs + p` readable and `dst..dst + R·LANES` writable for those `r`, `p`;
    /// the two disjoint.
    #[inline(always)]
    unsafe fn transpose_rows<const R: usize>(self, src: *const f32, rs: usize, dst: *mut f32) {
        // SAFETY: the caller vouches for exactly these reads and writes.
        unsafe { transpose_rows_scalar::<R>(Self::LANES, src, rs, dst) }
    }

    /// Loads `n < LANES` values and zero-fills the rest.
    ///
    /// # Safety
    /// `p..p + n` must be readable.
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> Self::V {
        let mut buf = [0.0f32; MAX_LANES];
        // SAFETY: the caller guarantees `n` readable values at `p`; `n < LANES <= MAX_LANES`.
        unsafe {
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            self.load(buf.as_ptr())
        }
    }
    /// Stores the first `n < LANES` lanes.
    ///
    /// # Safety
    /// `p..p + n` must be writable.
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: Self::V, n: usize) {
        let mut buf = [0.0f32; MAX_LANES];
        // SAFETY: `buf` holds MAX_LANES >= LANES values; the caller guarantees `n` writable
        // values at `p`.
        unsafe {
            self.store(buf.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
}

/// [`Simd::transpose_rows`] value by value, for `lanes` values per row.
///
/// # Safety
/// As for [`Simd::transpose_rows`] with `LANES = lanes`.
#[inline(always)]
pub(crate) unsafe fn transpose_rows_scalar<const R: usize>(
    lanes: usize,
    src: *const f32,
    rs: usize,
    dst: *mut f32,
) {
    // SAFETY: reads at r·rs + p, writes at p·R + r, for r < R, p < lanes (caller).
    unsafe {
        for p in 0..lanes {
            for r in 0..R {
                *dst.add(p * R + r) = *src.add(r * rs + p);
            }
        }
    }
}

/// An instruction set a kernel can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// One lane at a time, plain `f32` arithmetic (no FMA contraction).
    Scalar,
    /// `wide::f32x8`: whatever SIMD the compile-time target features give.
    Portable,
    /// aarch64 NEON (Advanced SIMD): 4 lanes (`float32x4_t`), fused multiply-add, 32
    /// vector registers.
    Neon,
    /// x86_64 AVX2 with FMA: 8 lanes (`__m256`), fused multiply-add.
    Avx2,
    /// x86_64 AVX-512F: 16 lanes (`__m512`), fused multiply-add, masked tails.
    Avx512,
}

impl Isa {
    /// Every variant, in order of preference (best last). Variants of other architectures
    /// are listed everywhere; [`Isa::is_supported`] tells which run here.
    pub const ALL: &'static [Isa] = &[
        Isa::Scalar,
        Isa::Portable,
        Isa::Neon,
        Isa::Avx2,
        Isa::Avx512,
    ];

    /// Short lower-case name (`"scalar"`, `"portable"`, `"neon"`, `"avx2"`, `"avx512"`), as
    /// accepted by `MICROPROP_ISA`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Portable => "portable",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The variant with this [`name`](Isa::name).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.iter().copied().find(|i| i.name() == name)
    }

    /// Whether this CPU can run the variant: with `std`, asked of the CPU (cached by the
    /// standard library); without it, from compile-time target features.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar | Isa::Portable => true,
            // Miri cannot interpret the AVX2/AVX-512 intrinsics: under it only the portable
            // and scalar paths exist (and `detected()` is Portable).
            Isa::Avx2 | Isa::Avx512 if cfg!(miri) => false,
            // NEON is baseline on aarch64 (absent only from soft-float targets).
            Isa::Neon => cfg!(all(target_arch = "aarch64", target_feature = "neon")),
            Isa::Avx2 => x86::has_avx2_fma(),
            Isa::Avx512 => x86::has_avx512f(),
        }
    }

    /// The best variant for this target, chosen from compile-time features only.
    pub const fn compile_time_best() -> Isa {
        if cfg!(all(target_arch = "x86_64", target_feature = "avx512f")) {
            Isa::Avx512
        } else if cfg!(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        )) {
            Isa::Avx2
        } else if cfg!(all(target_arch = "aarch64", target_feature = "neon")) {
            Isa::Neon
        } else if cfg!(any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            all(target_arch = "arm", target_feature = "neon"),
            all(target_arch = "wasm32", target_feature = "simd128"),
            target_arch = "powerpc64",
            target_arch = "loongarch64",
        )) {
            Isa::Portable
        } else {
            // No vector unit: eight emulated lanes only cost code size.
            Isa::Scalar
        }
    }

    /// The best variant this CPU supports. With `std`, runtime detection (done once; the
    /// `MICROPROP_ISA` environment variable, if set to a supported name, overrides it);
    /// without `std`, [`Isa::compile_time_best`].
    pub fn detected() -> Isa {
        #[cfg(feature = "std")]
        {
            detect::cached()
        }
        #[cfg(not(feature = "std"))]
        {
            Isa::compile_time_best()
        }
    }

    /// The variant the kernels use on this thread now: the one forced by `with_isa` (with `std`) if
    /// any, else [`Isa::detected`].
    pub fn active() -> Isa {
        #[cfg(feature = "std")]
        {
            if let Some(isa) = detect::OVERRIDE.with(|o| o.get()) {
                return isa;
            }
        }
        Isa::detected()
    }
}

/// Runs `f` with every kernel called from this thread forced onto `isa`.
///
/// Used by the tests to hold each variant to the scalar references, and by benchmarks to
/// compare variants. Nests; the previous choice is restored afterwards (also on unwind).
///
/// # Errors
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if this CPU does not support
/// `isa` (then `f` is not run).
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> Result<R, crate::Error> {
    if !isa.is_supported() {
        return Err(crate::Error::InvalidArgument {
            what: "instruction set not supported by this CPU",
        });
    }
    struct Restore(Option<Isa>);
    impl Drop for Restore {
        fn drop(&mut self) {
            detect::OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(detect::OVERRIDE.with(|o| o.replace(Some(isa))));
    Ok(f())
}

#[cfg(feature = "std")]
mod detect {
    use super::Isa;
    use core::cell::Cell;
    use core::sync::atomic::{AtomicU8, Ordering};

    std::thread_local! {
        pub(super) static OVERRIDE: Cell<Option<Isa>> = const { Cell::new(None) };
    }

    /// 0 = not yet detected, otherwise 1 + index into `Isa::ALL`.
    static CACHE: AtomicU8 = AtomicU8::new(0);

    pub(super) fn cached() -> Isa {
        let c = CACHE.load(Ordering::Relaxed);
        if c != 0 {
            return Isa::ALL[usize::from(c - 1)];
        }
        let isa = detect();
        let idx = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
        // Racing threads compute the same answer; a plain store is enough.
        CACHE.store(idx as u8 + 1, Ordering::Relaxed);
        isa
    }

    fn detect() -> Isa {
        if let Ok(name) = std::env::var("MICROPROP_ISA")
            && let Some(isa) = Isa::from_name(name.trim())
            && isa.is_supported()
        {
            return isa;
        }
        Isa::ALL
            .iter()
            .rev()
            .copied()
            .find(|i| i.is_supported())
            .unwrap_or(Isa::Scalar)
    }
}

/// Feature probes behind [`Isa::is_supported`].
mod x86 {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub(super) fn has_avx2_fma() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub(super) fn has_avx512f() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    pub(super) fn has_avx2_fma() -> bool {
        cfg!(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    pub(super) fn has_avx512f() -> bool {
        cfg!(all(target_arch = "x86_64", target_feature = "avx512f"))
    }
}

/// Magnitude below which the training kernels write zero: values that decay toward zero
/// in training and would otherwise become operands of products.
///
/// Flushed: the deltas of the backward pass (the hidden layers' in the GEMM epilogue, the
/// output layer's after the loss), the operands of the weight-update GEMM; and the
/// optimizers' gradients and state (Adam's moments, SGD's momentum: a parameter whose
/// gradient stays zero has a moment that decays geometrically). A value this small moves
/// no weight by more than `lr·1e-30·Σ|a|` (or `lr·1e-30/ε` for Adam), far below any
/// weight's ULP, but products of such values are subnormal, and subnormal results cost a
/// microcode assist on many x86 cores. Measured on the lecture's network (AVX-512):
/// 2.4 ms per step with this threshold, 3.2 ms when flushing only below
/// `f32::MIN_POSITIVE`; on SSE2, not flushing at all made late steps 3.7× slower. Pinned
/// by the tests in tests/nn.rs: deltas from 1e-20 up keep their gradients, and the flush
/// falls exactly at 1e-30.
pub const FLUSH_BELOW: f32 = 1e-30;

/// `0` where `|v| <` [`FLUSH_BELOW`], else `v` (NaN stays NaN).
#[inline(always)]
pub(crate) fn flush_tiny<S: Simd>(s: S, v: S::V) -> S::V {
    // `zero_where_lt`, not `lt_select` with a zero: the same lanes, but on AVX-512 the
    // compare gives the keep mask directly (no `knotw`) and the zero-masked move can fold
    // into the instruction that uses it (3 instructions or fewer instead of 4).
    s.zero_where_lt(s.abs(v), s.splat(FLUSH_BELOW), v)
}

/// The scalar form of [`flush_tiny`].
#[inline(always)]
pub(crate) fn flush_tiny_scalar(x: f32) -> f32 {
    if x.abs() < FLUSH_BELOW { 0.0 } else { x }
}

/// Keeps the loop whose body calls it rolled on 32-bit Arm; does nothing elsewhere.
///
/// At opt-level 3, LLVM unrolls every small loop of a Cortex-M build four times with
/// runtime trip counts (and unrolls the remainder too), which doubled microprop's training
/// step in flash (31.5 KB against 15.7 KB at `"s"`) for about 5% fewer instructions. LLVM's
/// Arm cost model leaves a loop rolled when its body contains a call, and an inline
/// assembly block counts as one: this one is empty, so it emits no instruction and touches
/// no register, flag or memory (the compiler may still move loads and stores across it).
/// The scalar GEMM tiles' K loops call it too: unrolled they were 5 KB of the step for
/// about 4% fewer instructions (16-32-16-1 at opt-level 3), so firmware built at either
/// opt-level runs the same loops. Rust has no stable per-loop or per-function way to say
/// this (`#[optimize(size)]` is unstable).
#[inline(always)]
pub(crate) fn keep_rolled() {
    #[cfg(all(target_arch = "arm", not(miri)))]
    // SAFETY: an empty template with `nomem, nostack, preserves_flags`: it executes
    // nothing and reads or writes no register, flag or memory.
    unsafe {
        core::arch::asm!("", options(nomem, nostack, preserves_flags))
    }
}

/// `x`, with its value hidden from the optimizer on 32-bit Arm; `x` elsewhere.
///
/// For a loop bound that LLVM could otherwise prove small (a tile's `rows` and `cols`,
/// at most 4 at every call site): it unrolls such loops completely whatever
/// [`keep_rolled`] says, sixteen copies of the loop body. The empty template leaves `x` in
/// its register: no instruction.
#[inline(always)]
pub(crate) fn opaque(x: usize) -> usize {
    #[cfg(all(target_arch = "arm", not(miri)))]
    {
        let mut x = x;
        // SAFETY: an empty template that claims to change `x` in its register; it executes
        // nothing and reads or writes no other register, flag or memory.
        unsafe {
            core::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }
    #[cfg(not(all(target_arch = "arm", not(miri))))]
    {
        x
    }
}

/// A kernel body generic over the backend: a small struct holding the kernel's arguments.
///
/// [`dispatch`] calls [`with_simd`](WithSimd::with_simd) from inside a
/// `#[target_feature]` function of the chosen instruction set; since the implementation is
/// `#[inline(always)]` (and so is everything it calls on `S`), the whole body is compiled
/// for that instruction set. A closure at the call site would not be: closures do not
/// inherit target features.
pub(crate) trait WithSimd {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel with the token `s`. Implementations must be `#[inline(always)]`.
    fn with_simd<S: Simd>(self, s: S) -> Self::Output;
}

/// Runs `kernel` on `isa`. The one place that maps an [`Isa`] to a backend token and its
/// `#[target_feature]` wrapper.
///
/// An `isa` this CPU does not support (never the case for [`Isa::active`]) runs on
/// [`Isa::Portable`] instead: a token is only ever made for a supported instruction set.
///
/// Without `std` every caller passes [`Isa::active`], which is then the constant
/// [`Isa::compile_time_best`]; using that constant here (instead of the value carried
/// through non-inlined functions) lets the compiler keep only that backend's code. On a
/// Cortex-M4 this cut `gemm` from ~160 KiB of flash (the scalar and the emulated
/// eight-lane `Portable` instantiations) to the scalar one alone.
#[inline(always)]
pub(crate) fn dispatch<K: WithSimd>(isa: Isa, kernel: K) -> K::Output {
    #[cfg(not(feature = "std"))]
    let isa = {
        debug_assert!(isa == Isa::compile_time_best());
        Isa::compile_time_best()
    };
    // One arm a backend, and one `Portable` call for every fallback: each `with_simd`
    // call site is a whole copy of the kernel (inlined), and unoptimized test builds
    // give every copy its own stack slots.
    match isa {
        Isa::Scalar => return kernel.with_simd(Scalar),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            if let Some(s) = Avx512::new() {
                // SAFETY: the token exists only if the CPU supports AVX-512F.
                return unsafe { x86_wrappers::avx512(s, kernel) };
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            if let Some(s) = Avx2::new() {
                // SAFETY: the token exists only if the CPU supports AVX2 and FMA.
                return unsafe { x86_wrappers::avx2(s, kernel) };
            }
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Isa::Neon => {
            if let Some(s) = Neon::new() {
                // SAFETY: the token exists only if the target has NEON.
                return unsafe { arm_wrappers::neon(s, kernel) };
            }
        }
        _ => {}
    }
    kernel.with_simd(Portable)
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod arm_wrappers {
    use super::{Neon, WithSimd};

    /// `kernel` compiled with NEON enabled.
    ///
    /// # Safety
    /// The target must have NEON (it does wherever a [`Neon`] token exists).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn neon<K: WithSimd>(s: Neon, kernel: K) -> K::Output {
        kernel.with_simd(s)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_wrappers {
    use super::{Avx2, Avx512, WithSimd};

    /// `kernel` compiled with AVX-512F enabled.
    ///
    /// # Safety
    /// The CPU must support AVX-512F (it does wherever an [`Avx512`] token exists).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512<K: WithSimd>(s: Avx512, kernel: K) -> K::Output {
        kernel.with_simd(s)
    }

    /// `kernel` compiled with AVX2 and FMA enabled.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA (it does wherever an [`Avx2`] token exists).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2<K: WithSimd>(s: Avx2, kernel: K) -> K::Output {
        kernel.with_simd(s)
    }
}

/// The instruction sets the unit tests hold to the references: with `std`, every one this
/// CPU supports; without it only [`Isa::compile_time_best`], the one the kernels then
/// dispatch on.
#[cfg(test)]
pub(crate) fn test_isas() -> impl Iterator<Item = Isa> {
    Isa::ALL
        .iter()
        .copied()
        .filter(|&i| i.is_supported() && (cfg!(feature = "std") || i == Isa::compile_time_best()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out[i] = √x[i]` through [`Simd::sqrt`], full vectors then a partial one.
    struct SqrtAll<'a> {
        x: &'a [f32],
        out: &'a mut [f32],
    }

    impl WithSimd for SqrtAll<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let n = self.x.len().min(self.out.len());
            let (x, out) = (self.x.as_ptr(), self.out.as_mut_ptr());
            let mut i = 0;
            // SAFETY: every access is below `n`, the length of both slices.
            unsafe {
                while i + S::LANES <= n {
                    s.store(out.add(i), s.sqrt(s.load(x.add(i))));
                    i += S::LANES;
                }
                if i < n {
                    let v = s.sqrt(s.load_partial(x.add(i), n - i));
                    s.store_partial(out.add(i), v, n - i);
                }
            }
        }
    }

    /// [`Simd::transpose_rows`] for 8 and 6 rows into `out8` and `out6`, from rows of
    /// `src` that are 37 values apart.
    struct Transposes<'a> {
        src: &'a [f32],
        out8: &'a mut [f32],
        out6: &'a mut [f32],
    }

    impl WithSimd for Transposes<'_> {
        /// The lanes of the backend.
        type Output = usize;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> usize {
            assert!(self.src.len() >= 7 * 37 + S::LANES);
            assert!(self.out8.len() >= 8 * S::LANES && self.out6.len() >= 6 * S::LANES);
            // SAFETY: rows r < 8 of LANES values 37 apart lie in `src` (asserted), and the
            // outputs hold R·LANES values.
            unsafe {
                s.transpose_rows::<8>(self.src.as_ptr(), 37, self.out8.as_mut_ptr());
                s.transpose_rows::<6>(self.src.as_ptr(), 37, self.out6.as_mut_ptr());
            }
            S::LANES
        }
    }

    #[test]
    fn transpose_rows_is_an_exact_transpose_on_every_isa() {
        let src: [f32; 8 * 37 + MAX_LANES] = core::array::from_fn(|i| i as f32 + 0.5);
        for isa in test_isas() {
            let (mut out8, mut out6) = ([f32::NAN; 8 * MAX_LANES], [f32::NAN; 6 * MAX_LANES]);
            let lanes = dispatch(
                isa,
                Transposes {
                    src: &src,
                    out8: &mut out8,
                    out6: &mut out6,
                },
            );
            for p in 0..lanes {
                for r in 0..8 {
                    assert_eq!(
                        out8[p * 8 + r],
                        src[r * 37 + p],
                        "{isa:?} 8 rows, ({r}, {p})"
                    );
                }
                for r in 0..6 {
                    assert_eq!(
                        out6[p * 6 + r],
                        src[r * 37 + p],
                        "{isa:?} 6 rows, ({r}, {p})"
                    );
                }
            }
        }
    }

    #[test]
    fn sqrt_is_correctly_rounded_on_every_isa() {
        const SPECIAL: [f32; 12] = [
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            1e-45,
            1.0,
            2.0,
            4.0,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1.0,
            f32::NAN,
        ];
        const N: usize = if cfg!(miri) { 52 } else { 4012 };
        // The special values, then seeded pseudo-random positive finite ones (xorshift).
        let mut r = 0x9e37_79b9_u32;
        let x: [f32; N] = core::array::from_fn(|i| {
            if i < SPECIAL.len() {
                return SPECIAL[i];
            }
            r ^= r << 13;
            r ^= r >> 17;
            r ^= r << 5;
            f32::from_bits(r % 0x7f80_0000)
        });
        for isa in test_isas() {
            let mut out = [0.0; N];
            dispatch(
                isa,
                SqrtAll {
                    x: &x,
                    out: &mut out,
                },
            );
            for (&v, &got) in x.iter().zip(&out) {
                // The exact square root rounded once: f64 holds it to 53 bits, and a
                // correctly rounded f64 square root rounds correctly again to f32.
                let want = (f64::from(v)).sqrt() as f32;
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{isa:?}: sqrt({v:e}) = {got:e}, want {want:e}"
                );
            }
        }
    }
}
