//! Weight initialisation: the spreads match PyTorch's formulas, uniform values stay in
//! their bounds, samples have the right mean, variance and kurtosis, and a seed gives the
//! same weights every time (golden values from a generator defined here, so they pin the
//! arithmetic on every target independently of `rand`'s algorithms).
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::{SplitMix64, rng};
use microprop::Error;
use microprop::init::{Init, init_weights};
use rand_core::{Infallible, TryRng};

/// Wraps a generator and counts the 32-bit words drawn.
struct Counted<R>(R, usize);

impl<R: TryRng<Error = Infallible>> TryRng for Counted<R> {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.1 += 1;
        self.0.try_next_u32()
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.1 += 2;
        self.0.try_next_u64()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.1 += dst.len().div_ceil(4);
        self.0.try_fill_bytes(dst)
    }
}

fn big_n() -> usize {
    if cfg!(miri) { 2_000 } else { 200_000 }
}

#[test]
fn scale_is_pytorchs_formula() {
    for (fan_in, fan_out) in [(1, 1), (2, 3), (64, 32), (784, 128), (1000, 10)] {
        let (i, o) = (fan_in as f64, fan_out as f64);
        let want = [
            (Init::XavierUniform, (6.0 / (i + o)).sqrt()),
            (Init::XavierNormal, (2.0 / (i + o)).sqrt()),
            (Init::HeUniform, (6.0 / i).sqrt()),
            (Init::HeNormal, (2.0 / i).sqrt()),
        ];
        for (init, s) in want {
            assert_eq!(init.scale(fan_in, fan_out), Ok(s as f32), "{init:?}");
        }
    }
    assert_eq!(Init::ALL.len(), 4);
    assert!(Init::XavierNormal.is_normal() && Init::HeNormal.is_normal());
    assert!(!Init::XavierUniform.is_normal() && !Init::HeUniform.is_normal());
}

#[test]
fn zero_fans_are_rejected_before_anything_is_drawn_or_written() {
    for &init in Init::ALL {
        for (fan_in, fan_out) in [(0, 3), (3, 0), (0, 0)] {
            let mut w = [7.0f32; 5];
            let mut r = Counted(SplitMix64(1), 0);
            let e = init_weights(&mut w, fan_in, fan_out, init, &mut r);
            assert!(matches!(e, Err(Error::InvalidArgument { .. })), "{e:?}");
            assert_eq!(w, [7.0; 5]);
            assert_eq!(r.1, 0, "no words drawn");
            assert!(init.scale(fan_in, fan_out).is_err());
        }
    }
}

#[test]
fn words_drawn_are_fixed_one_per_uniform_weight_two_per_normal_pair() {
    for n in [0, 1, 2, 3, 10, 11] {
        for &init in Init::ALL {
            let mut w = vec![0.0f32; n];
            let mut r = Counted(SplitMix64(3), 0);
            init_weights(&mut w, 4, 5, init, &mut r).unwrap();
            let want = if init.is_normal() {
                2 * n.div_ceil(2)
            } else {
                n
            };
            assert_eq!(r.1, want, "{init:?} n={n}");
        }
    }
}

#[test]
fn an_odd_normal_length_is_the_prefix_of_the_next_even_one() {
    let (mut a, mut b) = ([0.0f32; 7], [0.0f32; 8]);
    init_weights(&mut a, 3, 3, Init::XavierNormal, &mut SplitMix64(9)).unwrap();
    init_weights(&mut b, 3, 3, Init::XavierNormal, &mut SplitMix64(9)).unwrap();
    assert_eq!(a, b[..7]);
}

/// Mean, variance (about 0) and kurtosis (m₄/m₂²) in f64.
fn moments(w: &[f32]) -> (f64, f64, f64) {
    let n = w.len() as f64;
    let mean = w.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let m2 = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / n;
    let m4 = w.iter().map(|&x| f64::from(x).powi(4)).sum::<f64>() / n;
    (mean, m2, m4 / (m2 * m2))
}

#[test]
fn uniform_values_stay_in_bounds_with_uniform_moments() {
    let n = big_n();
    let mut r = rng(11);
    for init in [Init::XavierUniform, Init::HeUniform] {
        for (fan_in, fan_out) in [(1, 1), (64, 32), (784, 10)] {
            let a = init.scale(fan_in, fan_out).unwrap();
            let mut w = vec![f32::NAN; n];
            init_weights(&mut w, fan_in, fan_out, init, &mut r).unwrap();
            assert!(w.iter().all(|x| x.abs() <= a), "{init:?} bound {a}");
            let (mean, var, kurt) = moments(&w);
            let a = f64::from(a);
            let sd = a / 3f64.sqrt();
            let rn = (n as f64).sqrt();
            // Five standard errors: of the mean σ/√n, of E[x²] (√(4/45)·a²)/√n.
            assert!(mean.abs() < 5.0 * sd / rn, "{init:?} mean {mean}");
            assert!((var - a * a / 3.0).abs() < 5.0 * (4.0f64 / 45.0).sqrt() * a * a / rn);
            assert!(
                (kurt - 1.8).abs() < 5.0 * (24.0 / n as f64).sqrt(),
                "kurtosis {kurt}"
            );
            // Both ends are reached (within 0.1% of the range for large n).
            let (lo, hi) = w
                .iter()
                .fold((0.0f32, 0.0f32), |(l, h), &x| (l.min(x), h.max(x)));
            let slack = if cfg!(miri) { 0.01 } else { 0.001 };
            assert!(f64::from(lo) < -a * (1.0 - slack) && f64::from(hi) > a * (1.0 - slack));
        }
    }
}

#[test]
fn normal_values_have_normal_moments() {
    let n = big_n();
    let mut r = rng(12);
    for init in [Init::XavierNormal, Init::HeNormal] {
        for (fan_in, fan_out) in [(1, 1), (64, 32), (784, 10)] {
            let s = init.scale(fan_in, fan_out).unwrap();
            let mut w = vec![f32::NAN; n];
            init_weights(&mut w, fan_in, fan_out, init, &mut r).unwrap();
            // Box–Muller with 24-bit u₁ ∈ (0, 1] never passes √(48 ln 2)·σ.
            let cap = (48.0f32 * 2f32.ln()).sqrt() * s * 1.000_001;
            assert!(w.iter().all(|x| x.abs() <= cap), "{init:?}");
            let (mean, var, kurt) = moments(&w);
            let s = f64::from(s);
            let rn = (n as f64).sqrt();
            assert!(mean.abs() < 5.0 * s / rn, "{init:?} mean {mean}");
            assert!(
                (var / (s * s) - 1.0).abs() < 5.0 * 2f64.sqrt() / rn,
                "var {var}"
            );
            assert!(
                (kurt - 3.0).abs() < 5.0 * (24.0 / n as f64).sqrt(),
                "kurtosis {kurt}"
            );
            // About 68.3% within one σ.
            let within = w.iter().filter(|&&x| f64::from(x).abs() < s).count() as f64 / n as f64;
            assert!(
                (within - 0.6827).abs() < 5.0 * 0.4654 / rn,
                "within 1σ {within}"
            );
        }
    }
}

#[test]
fn a_seed_gives_the_same_weights_another_seed_others() {
    let n = if cfg!(miri) { 100 } else { 10_000 };
    for &init in Init::ALL {
        let mut a = vec![0.0f32; n];
        let mut b = vec![0.0f32; n];
        let mut c = vec![0.0f32; n];
        init_weights(&mut a, 30, 20, init, &mut rng(5)).unwrap();
        init_weights(&mut b, 30, 20, init, &mut rng(5)).unwrap();
        init_weights(&mut c, 30, 20, init, &mut rng(6)).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{init:?}");
        assert_ne!(bits(&a), bits(&c), "{init:?}");
    }
}

#[test]
fn golden_first_values() {
    // SplitMix64 seeded with 42, a 3 → 2 layer. The uniform values equal an independent
    // f64 computation of a·(k − 2²³)/2²³ rounded to f32; the normal ones agree with an f64
    // Box–Muller to 1e-6 (they are libm's f32 logf/sincosf/sqrtf, pinned here).
    let golden: [(Init, [u32; 6]); 4] = [
        // [0.52924216, -0.74509907, -0.4850607, -0.34136117, -1.0121253, 0.8067472]
        (
            Init::XavierUniform,
            [
                0x3f077c6a, 0xbf3ebed0, 0xbef859e0, 0xbeaec6e4, 0xbf818d52, 0x3f4e86fc,
            ],
        ),
        // [0.26229182, 0.4127918, -0.564078, 0.8391634, 1.0938905, -1.1911772]
        (
            Init::XavierNormal,
            [
                0x3e864b1d, 0x3ed35972, 0xbf10676a, 0x3f56d36a, 0x3f8c049b, 0xbf98787f,
            ],
        ),
        // [0.68324864, -0.9619187, -0.62621063, -0.44069538, -1.306648, 1.041506]
        (
            Init::HeUniform,
            [
                0x3f2ee962, 0xbf76404e, 0xbf204f57, 0xbee1a2d3, 0xbfa7403e, 0x3f855012,
            ],
        ),
        // [0.33861727, 0.5329119, -0.72822154, 1.0833553, 1.4122066, -1.5378033]
        (
            Init::HeNormal,
            [
                0x3ead5f3e, 0x3f086cea, 0xbf3a6cba, 0x3f8aab63, 0x3fb4c330, 0xbfc4d6bd,
            ],
        ),
    ];
    for (init, want) in golden {
        let mut w = [0.0f32; 6];
        init_weights(&mut w, 3, 2, init, &mut SplitMix64(42)).unwrap();
        let got = w.map(f32::to_bits);
        assert_eq!(got, want, "{init:?}: {w:?}");
    }
}
