//! The one-lane backend: plain `f32` arithmetic, no FMA contraction; on soft-float targets
//! ([`SOFT_FLOAT`]) the sigmoid and `e^{−x}` in integer arithmetic.

use super::{Isa, Simd};

/// Token of the scalar backend; always available.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar;

// SAFETY: plain f32 arithmetic runs on every target; LANES = 1 = lanes of `f32`.
unsafe impl Simd for Scalar {
    const ISA: Isa = Isa::Scalar;
    const LANES: usize = 1;
    type V = f32;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32 {
        // SAFETY: the caller guarantees `p` is readable and aligned for `f32` (the trait's
        // contract). An aligned read is one `vldr` on a Cortex-M4F, where an unaligned one
        // is an integer load and a move.
        unsafe { p.read() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees `p` is writable and aligned for `f32`.
        unsafe { p.write(v) }
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn sqrt(self, a: f32) -> f32 {
        sqrtf(a)
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        // Two roundings: a software `fmaf` would be far slower on FPUs without FMA.
        a * b + c
    }
    #[inline(always)]
    fn lt_select(self, a: f32, b: f32, t: f32, f: f32) -> f32 {
        if a < b { t } else { f }
    }
    #[inline(always)]
    fn abs(self, a: f32) -> f32 {
        f32::from_bits(a.to_bits() & 0x7fff_ffff)
    }
    #[inline(always)]
    fn pow2i(self, n: f32) -> f32 {
        // `as` saturates (NaN -> 0), so out-of-range lanes give garbage, never UB.
        f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23)
    }
    #[inline(always)]
    fn reduce_add(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    unsafe fn load_partial(self, _p: *const f32, _n: usize) -> f32 {
        // n < LANES = 1, so n = 0: nothing to read.
        0.0
    }
    #[inline(always)]
    unsafe fn store_partial(self, _p: *mut f32, _v: f32, _n: usize) {}
    #[inline(always)]
    fn sigmoid(self, x: f32) -> f32 {
        // A constant condition: the other branch is not compiled in.
        if SOFT_FLOAT {
            sigmoid_soft(x)
        } else {
            super::math::sigmoid_generic(self, x)
        }
    }
    #[inline(always)]
    fn exp_neg(self, x: f32) -> f32 {
        if SOFT_FLOAT {
            exp_neg_soft(x)
        } else {
            super::math::exp_neg(self, x)
        }
    }
}

/// `√x`, correctly rounded: the crate's one scalar square root. 32-bit Arm with a hardware
/// FPU (the `eabihf` ABI: Cortex-M4F, M7F, M33F, M55, Cortex-A and R) has the instruction,
/// `vsqrt.f32`, which libm does not use there (its software `sqrtf` cost Adam about 80
/// instructions a parameter on the Cortex-M4F, this about 7); elsewhere `libm::sqrtf` (`sqrtss`
/// on x86 with SSE, `fsqrt` on AArch64, a bitwise method otherwise). Both are IEEE 754's
/// exactly rounded square root in round-to-nearest, so the results are the same bit for
/// bit (`vsqrt.f32` follows the FPSCR: rounding to nearest and no flush-to-zero are its
/// reset state, which nothing in the crate changes), NaN payloads aside (the square root
/// of a negative number is a NaN either way).
///
/// Stable Rust 1.95 reports no Arm FPU feature in `cfg(target_feature)`; the ABI stands in
/// for it, as in [`SOFT_FLOAT`]: an `eabihf` target has at least a single-precision VFP,
/// and every VFP has `vsqrt.f32`.
#[inline(always)]
pub(crate) fn sqrtf(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        // Stable Rust lets `asm!` name a floating-point register only where `vfp2` (double
        // precision) is enabled, which a Cortex-M4F's single-precision FPU is not: the
        // value comes in and goes out through core registers, and `s15` is borrowed
        // (saved to a core register and restored). Seven instructions with the moves.
        let r: u32;
        // SAFETY: register-only instructions: `s15` is restored before the block ends,
        // so no register the compiler sees changes but the declared outputs; no memory,
        // no stack, no flags (`vsqrt.f32` sets FPSCR's cumulative exception bits, as any
        // floating-point operation the compiler emits does). Every `eabihf` target has a
        // VFP, and every VFP has `vmov` and `vsqrt.f32` on single-precision registers.
        unsafe {
            core::arch::asm!(
                "vmov {t}, s15",
                "vmov s15, {x}",
                "vsqrt.f32 s15, s15",
                "vmov {r}, s15",
                "vmov s15, {t}",
                x = in(reg) x.to_bits(),
                r = lateout(reg) r,
                t = out(reg) _,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        f32::from_bits(r)
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        libm::sqrtf(x)
    }
}

/// Whether `f32` arithmetic is done in software on this target: bare-metal 32-bit Arm with
/// the soft-float ABI `eabi` (`thumbv6m`, `thumbv7m`, `thumbv7em`, `thumbv8m.*-none-eabi`,
/// which have no FPU by default; an `eabi` target with an OS, such as Android's, is left
/// out) and RISC-V without the F extension
/// (`riscv32imac-unknown-none-elf`). There every `f32` operation is a `compiler_builtins`
/// call of about 40 to 70 instructions, while integer multiplies are one instruction
/// (`umull` on a Cortex-M3), so [`Scalar`] computes the sigmoid ([`sigmoid_soft`]) and
/// `e^{−x}` ([`exp_neg_soft`], for tanh) in integer arithmetic. Everywhere else it is
/// false and the generic kernels run unchanged (the same code, bit for bit).
///
/// Stable Rust 1.95 reports neither Arm's FPU features nor RISC-V's `f` in
/// `cfg(target_feature)`; the ABI stands in on Arm (an `eabihf` target has an FPU), and on
/// RISC-V the absence of `zicsr`, which F implies (so `riscv32imafc` is not soft-float,
/// and a soft-float target built with `+zicsr` merely keeps the generic kernels).
/// An `eabi` build that enables an FPU by `-C target-feature` still gets the integer
/// kernels: within the same accuracy bounds, just not the fastest choice there.
pub(crate) const SOFT_FLOAT: bool = cfg!(any(
    all(target_arch = "arm", target_abi = "eabi", target_os = "none"),
    all(
        any(target_arch = "riscv32", target_arch = "riscv64"),
        not(target_feature = "f"),
        not(target_feature = "zicsr")
    ),
));

/// Bits of `−EXP_FLUSH = 87.33654` (just below `126·ln 2 = 87.3365447`, so `e^{−x}` is
/// normal for every `x` up to it).
const FLUSH_BITS: u32 = 0x42ae_ac4f;
const _: () = assert!(FLUSH_BITS == (-super::math::EXP_FLUSH).to_bits());
/// `log2 e · 2⁶³`, rounded: the high and low words.
const LOG2E_HI: u32 = 0xb8aa_3b29;
const LOG2E_LO: u32 = 0x5c17_f0bc;
/// `2^{j/16} · 2³¹`, rounded, `j = 0..16`.
const EXP2_T16: [u32; 16] = [
    0x8000_0000,
    0x85aa_c368,
    0x8b95_c1e4,
    0x91c3_d374,
    0x9837_f052,
    0x9ef5_3261,
    0xa5fe_d6aa,
    0xad58_3eea,
    0xb504_f334,
    0xbd08_a39f,
    0xc567_2a11,
    0xce24_8c15,
    0xd744_fccb,
    0xe0cc_deec,
    0xeac0_c6e8,
    0xf525_7d15,
];
/// `(ln 2)ⁿ/n! · 2³²`, rounded, `n = 1..=5`: the Taylor series of `2^r − 1`.
const EXP2_P: [u32; 5] = [
    0xb172_17f8,
    0x3d7f_7bff,
    0x0e35_846c,
    0x0276_556e,
    0x0057_6200,
];

/// The high word of `a·b` (one `umull` on a Cortex-M3).
#[inline(always)]
fn mulhi(a: u32, b: u32) -> u32 {
    ((u64::from(a) * u64::from(b)) >> 32) as u32
}

/// `e^{−x} = 2^{−k}·M/2³¹` for the bits `a` of `x` in `[2⁻³¹, 87.33654]`, with `k ≥ 1` and
/// `M` in `[2³¹, 2³²)`, a Q31 mantissa good to a few units (not yet rounded), in integer
/// arithmetic only: u32 multiplies giving u64, u64 shifts, no division.
///
/// `y = x·log2 e` in fixed point with 32 fractional bits (the 24-bit mantissa times a
/// 64-bit `log2 e`, shifted by the exponent: at most `2⁻³¹` off); `k = ⌈y⌉` and
/// `g = k − y ∈ [0, 1)`, so `e^{−x} = 2^{−k}·2^g` with `2^g ∈ [1, 2)`, the mantissa. With
/// `j` the top four bits of `g` and `r < 1/16` the rest, `2^g = 2^{j/16}·(1 + P(r))`:
/// a 16-entry table and the degree-5 Taylor polynomial of `2^r − 1` (truncation below
/// `2⁻³⁶` relative), in Q31/Q32.
#[inline(always)]
fn exp_neg_parts(a: u32) -> (u32, u32) {
    let e = a >> 23;
    let m = (a & 0x007f_ffff) | 0x0080_0000;
    // q = m·log2 e·2³¹ (floor, < 2⁵⁶); y·2³² = q·2^{e−149}, 96 ≤ e ≤ 133 here, so the
    // shift is 16 to 53, and y·2³² ≥ 2: k ≥ 1.
    let q = u64::from(m) * u64::from(LOG2E_HI) + ((u64::from(m) * u64::from(LOG2E_LO)) >> 32);
    let y = q >> (149 - e);
    let g = (y as u32).wrapping_neg();
    let k = (y >> 32) as u32 + u32::from(g != 0);
    let r = g & 0x0fff_ffff;
    let p = mulhi(r, EXP2_P[4]);
    let p = mulhi(r, EXP2_P[3] + p);
    let p = mulhi(r, EXP2_P[2] + p);
    let p = mulhi(r, EXP2_P[1] + p);
    let p = mulhi(r, EXP2_P[0] + p);
    let t = EXP2_T16[(g >> 28) as usize];
    // The table entry and a product below it; no overflow: 2^g < 2 − 2⁻²⁷, far more than
    // the truncations' few units.
    (k, t + mulhi(t, p))
}

/// The f32 `2^{b−126}·m/2³¹` for `m` in `[2³¹, 2³²)` (the biased exponent is `b + 1`),
/// rounded to nearest (ties away: `m` is an approximation anyway). A carry of the rounding
/// into bit 24 moves into the exponent, as it should.
#[inline(always)]
fn pack(b: u32, m: u32) -> f32 {
    f32::from_bits((b << 23) + (((m >> 7) + 1) >> 1))
}

/// `e^{−x}` for the bits `a` of `x` in `[0, 87.33654]` (`a ≤ FLUSH_BITS`): within
/// 0.505 ULP over every `f32` there (see the tests).
#[inline(always)]
fn exp_neg_bits(a: u32) -> f32 {
    // x < 2⁻³¹: e^{−x} rounds to 1 (as it does up to 2⁻²⁵).
    if a < 96 << 23 {
        return 1.0;
    }
    let (k, m) = exp_neg_parts(a);
    // k ≤ 126 (y < 126 for x ≤ 87.33654 < 126·ln 2), so the exponent is at least 1: normal.
    pack(126 - k, m)
}

/// `e^{−x}` for `0 ≤ x ≤ 87.33654` by [`exp_neg_bits`] (within 0.505 ULP); NaN gives NaN.
/// Total: the sign is ignored and larger `x` is clamped, so no input panics.
#[inline(always)]
pub(crate) fn exp_neg_soft(x: f32) -> f32 {
    let a = x.to_bits() & 0x7fff_ffff;
    if a > 0x7f80_0000 {
        return x;
    }
    exp_neg_bits(a.min(FLUSH_BITS))
}

/// `σ(x)` to the contract of [`crate::sigmoid`], for soft-float targets, in integer
/// arithmetic only: `R = 1/(1 + e)` with `e = e^{−|x|}` from [`exp_neg_parts`], then
/// `σ = R` for `x ≥ 0` and `σ = e·R` below, each rounded to `f32` once (within 0.535 ULP
/// over every `f32`: see the tests). The clamps are integer compares on the bits, and
/// no soft-float operation is left (the generic kernel has about 25 of 40 to 70
/// instructions each). NaN gives NaN; `x ≥ 17.375` gives 1 (there `e^{−x} < 2⁻²⁵`, so
/// 1 is the correctly rounded value; `+∞` included); `x < −87.33654` gives `+0.0`
/// (`−∞` included); `|x| < 2⁻³¹` gives 0.5.
///
/// `1 + e` is taken in Q31 (`e` to `2⁻³¹`), its reciprocal from one 32-bit `udiv` (17
/// bits, from below) and one Newton step `r·(2 − d·r)` in u64 (error below `2⁻²⁹`, still
/// from below, so `R ≤ 1` fits Q31).
#[inline(always)]
pub(crate) fn sigmoid_soft(x: f32) -> f32 {
    let b = x.to_bits();
    let a = b & 0x7fff_ffff;
    if a > 0x7f80_0000 {
        return x;
    }
    let neg = b != a;
    if neg {
        if a > FLUSH_BITS {
            return 0.0;
        }
    } else if a >= 0x418b_0000 {
        return 1.0;
    }
    if a < 96 << 23 {
        return 0.5;
    }
    let (k, m) = exp_neg_parts(a);
    // d = 1 + e in Q31: e = m·2^{−k} (Q31) with k ≥ 1, so d < 2.
    let d = 0x8000_0000 + if k < 32 { m >> k } else { 0 };
    // r0 ≤ 1/d in Q31, good to 2⁻¹⁵ (d's top 16 bits, rounded up).
    let r0 = (u32::MAX / ((d >> 16) + 1)) << 14;
    // Newton: ε = 1 − d·r0 ≥ 0 (Q62, below 2⁴⁷), r = r0 + r0·ε.
    let eps = (1u64 << 62) - u64::from(d) * u64::from(r0);
    let r = r0 + mulhi(r0, (eps >> 30) as u32);
    if neg {
        // e·R = m·r·2^{−62−k} = p·2^{−30−k}, p in (2²⁹, 2³¹].
        let p = mulhi(m, r);
        let z = p.leading_zeros();
        // σ ≥ 2⁻¹²⁶ for x ≥ −87.33654 (e^{x} exceeds 2⁻¹²⁶ by 4.5·10⁻⁶ relative there),
        // so k + z ≤ 127: a normal result.
        pack(127 - k - z, p << z)
    } else {
        // R = r·2⁻³¹ in (0.5, 1].
        let z = r.leading_zeros();
        pack(126 - z, r << z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::math::{EXP_FLUSH, tanh_v};

    /// `|got − exact|` in units of the f32 ULP at `exact` (subnormal spacing below
    /// `f32::MIN_POSITIVE`): `frac_ulp` of `tests/kernels.rs`, which a unit test cannot
    /// reach.
    fn frac_ulp(got: f32, exact: f64) -> f64 {
        let e = ((exact.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let ulp = 2f64.powi(e.max(-126) - 23);
        (f64::from(got) - exact).abs() / ulp
    }

    /// Calls `f` on every `stride`-th f32 bit pattern from 0 to `hi`, of both signs if
    /// `signed`, then on each of `extra` and its two neighbours (with both signs too).
    fn for_points(hi: f32, stride: u32, signed: bool, extra: &[f32], mut f: impl FnMut(f32)) {
        let mut g = |x: f32| {
            f(x);
            if signed {
                f(-x);
            }
        };
        for i in 0..=hi.to_bits() / stride {
            g(f32::from_bits(i * stride));
        }
        for &x in extra {
            let b = x.to_bits();
            for b in [b.saturating_sub(1), b, b + 1] {
                g(f32::from_bits(b));
            }
        }
    }

    /// Edge values: zeros, subnormals, the thresholds of both kernels, 0.5 and 1 and the
    /// powers of two where the result's binade or the shift changes.
    const EDGES: [f32; 18] = [
        0.0,
        1e-45,
        f32::MIN_POSITIVE,
        4.656_613e-10,  // 2⁻³¹
        2.980_232_2e-8, // 2⁻²⁵
        5.960_464_5e-8, // 2⁻²⁴
        0.5,
        core::f32::consts::LN_2, // e^{−x} = 0.5
        1.0,
        16.635_532, // 24·ln 2
        17.0,
        17.328_68, // 25·ln 2
        17.375,
        64.0,
        -EXP_FLUSH,
        87.336_55, // above 126·ln 2: clamped by the exp, flushed by the sigmoid
        100.0,
        f32::MAX,
    ];

    /// The sweep's stride: `normal`, tiny under Miri, or `MICROPROP_SWEEP_STRIDE` (1 = every
    /// f32; run that in release, as for `tests/kernels.rs`).
    fn stride(normal: u32) -> u32 {
        if cfg!(miri) {
            return 1 << 20;
        }
        std::env::var("MICROPROP_SWEEP_STRIDE")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&s| s > 0)
            .unwrap_or(normal)
    }

    /// A `Scalar` whose `sigmoid` and `exp_neg` are the soft-float kernels, whatever the
    /// target: to test them (and the tanh built on them) on x86_64.
    #[derive(Clone, Copy)]
    struct Soft;

    // SAFETY: every operation is `Scalar`'s, which runs everywhere; LANES = 1.
    unsafe impl Simd for Soft {
        const ISA: Isa = Isa::Scalar;
        const LANES: usize = 1;
        type V = f32;
        fn splat(self, x: f32) -> f32 {
            x
        }
        unsafe fn load(self, p: *const f32) -> f32 {
            // SAFETY: the caller's contract, as `Scalar::load`.
            unsafe { Scalar.load(p) }
        }
        unsafe fn store(self, p: *mut f32, v: f32) {
            // SAFETY: the caller's contract, as `Scalar::store`.
            unsafe { Scalar.store(p, v) }
        }
        fn add(self, a: f32, b: f32) -> f32 {
            Scalar.add(a, b)
        }
        fn sub(self, a: f32, b: f32) -> f32 {
            Scalar.sub(a, b)
        }
        fn mul(self, a: f32, b: f32) -> f32 {
            Scalar.mul(a, b)
        }
        fn div(self, a: f32, b: f32) -> f32 {
            Scalar.div(a, b)
        }
        fn sqrt(self, a: f32) -> f32 {
            Scalar.sqrt(a)
        }
        fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
            Scalar.mul_add(a, b, c)
        }
        fn lt_select(self, a: f32, b: f32, t: f32, f: f32) -> f32 {
            Scalar.lt_select(a, b, t, f)
        }
        fn abs(self, a: f32) -> f32 {
            Scalar.abs(a)
        }
        fn pow2i(self, n: f32) -> f32 {
            Scalar.pow2i(n)
        }
        fn reduce_add(self, v: f32) -> f32 {
            v
        }
        unsafe fn load_partial(self, _p: *const f32, _n: usize) -> f32 {
            0.0
        }
        unsafe fn store_partial(self, _p: *mut f32, _v: f32, _n: usize) {}
        fn sigmoid(self, x: f32) -> f32 {
            sigmoid_soft(x)
        }
        fn exp_neg(self, x: f32) -> f32 {
            exp_neg_soft(x)
        }
    }

    #[test]
    fn soft_float_is_set_for_the_targets_without_fpu_only() {
        let arm =
            cfg!(target_arch = "arm") && cfg!(target_abi = "eabi") && cfg!(target_os = "none");
        let riscv = cfg!(any(target_arch = "riscv32", target_arch = "riscv64"))
            && !cfg!(target_feature = "f")
            && !cfg!(target_feature = "zicsr");
        assert_eq!(SOFT_FLOAT, arm || riscv);
    }

    #[test]
    fn integer_exp_within_0_6_ulp_of_f64() {
        let mut worst = (0.0, 0.0f32);
        for_points(-EXP_FLUSH, stride(61), false, &EDGES, |x| {
            if !(0.0..=-EXP_FLUSH).contains(&x) {
                return;
            }
            let got = exp_neg_soft(x);
            let want = (-f64::from(x)).exp();
            assert!(got.is_normal(), "e^-{x:e} = {got:e}");
            let u = frac_ulp(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
        });
        std::eprintln!(
            "integer e^-x: worst {:.4} ULP at x = {:e}",
            worst.0,
            worst.1
        );
        assert!(
            worst.0 <= 0.6,
            "worst {:.4} ULP at x = {:e}",
            worst.0,
            worst.1
        );
        // Outside the domain: NaN stays NaN, larger x clamps, the sign is ignored.
        assert!(exp_neg_soft(f32::NAN).is_nan());
        assert_eq!(exp_neg_soft(0.0), 1.0);
        assert_eq!(exp_neg_soft(-0.0), 1.0);
        let at_flush = exp_neg_soft(-EXP_FLUSH);
        assert!(at_flush.is_normal() && at_flush >= f32::MIN_POSITIVE);
        assert_eq!(exp_neg_soft(f32::INFINITY), at_flush);
        assert_eq!(exp_neg_soft(1e30), at_flush);
    }

    #[test]
    fn soft_sigmoid_within_0_6_ulp_and_special_values() {
        let mut worst = (0.0, 0.0f32);
        for_points(100.0, stride(251), true, &EDGES, |x| {
            let got = sigmoid_soft(x);
            let x64 = f64::from(x);
            let want = 1.0 / (1.0 + (-x64).exp());
            if x < EXP_FLUSH {
                assert_eq!(got.to_bits(), 0, "sigmoid({x:e}) = {got:e}, flushed to +0");
                return;
            }
            let u = frac_ulp(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
            // The contract is 2.5 ULP; this kernel rounds once, and measures 0.535 ULP
            // over every f32 in [−100, 100] (MICROPROP_SWEEP_STRIDE=1, release).
            assert!(
                u <= 0.6,
                "sigmoid({x:e}) = {got:e}, want {want:e}: {u:.3} ULP"
            );
        });
        std::eprintln!(
            "soft sigmoid: worst {:.4} ULP at x = {:e}",
            worst.0,
            worst.1
        );
        assert_eq!(sigmoid_soft(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_soft(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(sigmoid_soft(f32::MAX), 1.0);
        assert_eq!(sigmoid_soft(f32::MIN).to_bits(), 0);
        assert!(sigmoid_soft(f32::NAN).is_nan());
        assert!(sigmoid_soft(-f32::NAN).is_nan());
        assert_eq!(sigmoid_soft(0.0), 0.5);
        assert_eq!(sigmoid_soft(-0.0), 0.5);
        // The 1 boundary: 1 − 2⁻²⁴ below 25·ln 2 = 17.33, 1 from there (the nearest f32).
        assert_eq!(sigmoid_soft(17.0), 1.0 - f32::EPSILON / 2.0);
        assert_eq!(sigmoid_soft(17.375), 1.0);
        assert_eq!(sigmoid_soft(f32::from_bits(17.375f32.to_bits() - 1)), 1.0);
        // The flush boundary: normal at EXP_FLUSH, +0 just below it.
        assert!(sigmoid_soft(EXP_FLUSH).is_normal());
        assert_eq!(
            sigmoid_soft(f32::from_bits(EXP_FLUSH.to_bits() + 1)).to_bits(),
            0
        );
        // The kernel `Scalar` uses on soft-float targets is this one.
        assert_eq!(Soft.sigmoid(-3.0), sigmoid_soft(-3.0));
    }

    #[test]
    fn tanh_on_integer_exp_within_4_ulp() {
        let mut worst = (0.0, 0.0f32);
        for_points(100.0, stride(251), true, &EDGES, |x| {
            let got = tanh_v(Soft, x);
            let want = f64::from(x).tanh();
            let u = frac_ulp(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
            assert!(u <= 4.0, "tanh({x:e}) = {got:e}, want {want:e}: {u:.3} ULP");
            assert_eq!(got.is_sign_negative(), x.is_sign_negative(), "tanh({x:e})");
        });
        std::eprintln!(
            "tanh on integer exp: worst {:.4} ULP at x = {:e}",
            worst.0,
            worst.1
        );
        assert_eq!(tanh_v(Soft, f32::INFINITY), 1.0);
        assert_eq!(tanh_v(Soft, f32::NEG_INFINITY), -1.0);
        assert!(tanh_v(Soft, f32::NAN).is_nan());
        assert_eq!(tanh_v(Soft, -0.0).to_bits(), (-0.0f32).to_bits());
    }
}
