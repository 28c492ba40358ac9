//! Weight initialisation: Xavier/Glorot and He/Kaiming, drawing from any [`rand_core::Rng`].
//!
//! [`init_weights`] fills a flat weight slice with values whose spread depends on the
//! layer's fans, as PyTorch's `torch.nn.init` defines them:
//!
//! | [`Init`] | distribution | parameter |
//! | --- | --- | --- |
//! | [`XavierUniform`](Init::XavierUniform) | `U(−a, a)` | `a = √(6 / (fan_in + fan_out))` |
//! | [`XavierNormal`](Init::XavierNormal) | `N(0, σ²)` | `σ = √(2 / (fan_in + fan_out))` |
//! | [`HeUniform`](Init::HeUniform) | `U(−a, a)` | `a = √(6 / fan_in)` |
//! | [`HeNormal`](Init::HeNormal) | `N(0, σ²)` | `σ = √(2 / fan_in)` |
//!
//! Xavier is for sigmoid, tanh and linear layers (gain 1); He is PyTorch's
//! `kaiming_*_(mode="fan_in", nonlinearity="relu")` (gain √2) for ReLU layers. For a dense
//! layer `y = x·W` with `W` of `d_in × d_out`, `fan_in = d_in` and `fan_out = d_out`.
//!
//! # Determinism
//! The values are a pure function of the generator's output words: integer arithmetic, IEEE
//! `f32` operations and `libm`'s software `logf`/`sincosf`/`sqrtf` (the last correctly
//! rounded), so a seeded generator gives bit-identical weights on every target.
//!
//! # Which generator
//! Any [`rand_core::Rng`]: on a host `rand`'s `StdRng`, and on a device without one the
//! crate's own [`SplitMix64`](crate::SplitMix64) (`no_std`, a `const fn` constructor, not
//! cryptographic): `init_weights(w, fan_in, fan_out, init, &mut SplitMix64::new(seed))`.
//!
//! # Example
//! ```
//! use microprop::init::{Init, init_weights};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(7);
//! let mut w1 = [0.0f32; 64 * 32]; // a 64 → 32 ReLU layer
//! init_weights(&mut w1, 64, 32, Init::HeUniform, &mut rng)?;
//! let a = Init::HeUniform.scale(64, 32)?; // √(6/64)
//! assert!(w1.iter().all(|w| w.abs() <= a));
//! # Ok::<(), microprop::Error>(())
//! ```

use crate::Error;
use rand_core::Rng;

/// How [`init_weights`] draws a layer's weights (PyTorch's definitions; see the
/// [module docs](self) for the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Init {
    /// Glorot & Bengio (2010), uniform: `U(−a, a)`, `a = √(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Glorot & Bengio (2010), normal: `N(0, σ²)`, `σ = √(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He et al. (2015) for ReLU, fan-in mode, uniform: `U(−a, a)`, `a = √(6 / fan_in)`.
    HeUniform,
    /// He et al. (2015) for ReLU, fan-in mode, normal: `N(0, σ²)`, `σ = √(2 / fan_in)`.
    HeNormal,
}

impl Init {
    /// Every initialiser, for tests and menus.
    pub const ALL: &'static [Init] = &[
        Init::XavierUniform,
        Init::XavierNormal,
        Init::HeUniform,
        Init::HeNormal,
    ];

    /// Whether this initialiser draws from a normal (`true`) or a uniform distribution.
    pub const fn is_normal(self) -> bool {
        matches!(self, Init::XavierNormal | Init::HeNormal)
    }

    /// The spread for these fans: the bound `a` of a uniform initialiser, the standard
    /// deviation `σ` of a normal one. Computed in `f64` and rounded once to `f32`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `fan_in` or `fan_out` is 0.
    pub fn scale(self, fan_in: usize, fan_out: usize) -> Result<f32, Error> {
        check_fans(fan_in, fan_out)?;
        // Exact for fans below 2^53; larger ones lose a relative 1e-16, far below f32's ulp.
        let fan_in = fan_in as f64;
        let fans = fan_in + fan_out as f64;
        let s = match self {
            Init::XavierUniform => libm::sqrt(6.0 / fans),
            Init::XavierNormal => libm::sqrt(2.0 / fans),
            Init::HeUniform => libm::sqrt(6.0 / fan_in),
            Init::HeNormal => libm::sqrt(2.0 / fan_in),
        };
        Ok(s as f32)
    }
}

fn check_fans(fan_in: usize, fan_out: usize) -> Result<(), Error> {
    if fan_in == 0 {
        return Err(Error::InvalidArgument {
            what: "init: fan_in must be at least 1",
        });
    }
    if fan_out == 0 {
        return Err(Error::InvalidArgument {
            what: "init: fan_out must be at least 1",
        });
    }
    Ok(())
}

/// 2⁻²⁴: maps a 24-bit integer onto `[0, 1)` exactly.
const TWO_POW_NEG_24: f32 = 1.0 / 16_777_216.0;
/// 2⁻²³: maps a signed 24-bit integer onto `[−1, 1)` exactly.
const TWO_POW_NEG_23: f32 = 1.0 / 8_388_608.0;

/// Uniform on `[−1, 1)`: the top 24 bits of one word, centred, as an exact `f32`
/// (a multiple of 2⁻²³).
#[inline]
fn symmetric_unit(rng: &mut impl Rng) -> f32 {
    let k = (rng.next_u32() >> 8) as i32 - (1 << 23);
    k as f32 * TWO_POW_NEG_23
}

/// Two independent standard normal values by the Box–Muller transform from two words:
/// `u₁ ∈ (0, 1]`, `u₂ ∈ [0, 1)` (24 bits each, exact), `r = √(−2 ln u₁)`,
/// `(r cos 2πu₂, r sin 2πu₂)`. No rejection: always exactly two words.
#[inline]
fn box_muller(rng: &mut impl Rng) -> (f32, f32) {
    let u1 = ((rng.next_u32() >> 8) + 1) as f32 * TWO_POW_NEG_24;
    let u2 = (rng.next_u32() >> 8) as f32 * TWO_POW_NEG_24;
    let r = libm::sqrtf(-2.0 * libm::logf(u1));
    let (s, c) = libm::sincosf(core::f32::consts::TAU * u2);
    (r * c, r * s)
}

/// Fills `w` with random weights for a layer with `fan_in` inputs and `fan_out` outputs
/// (see [`Init`] for the distributions; [`Init::scale`] gives `a` or `σ`).
///
/// * Uniform: `w[i] = a · k/2²³` with `k` the top 24 bits of the `i`-th `next_u32`,
///   centred on `−2²³..2²³` (`U[−a, a)` on a grid of 2²⁴ points); one word per weight.
///   After rounding every value lies in `[−a, a]`.
/// * Normal: the Box–Muller transform ([module docs](self)), two words per pair of
///   weights `w[2j], w[2j+1]` (an odd last weight uses one pair and drops its second value).
///   With 24-bit `u₁ ∈ (0, 1]` every `|w[i]| ≤ σ·√(48 ln 2) ≈ 5.77σ` (a true normal passes
///   that with probability 8·10⁻⁹).
///
/// The fans are only the distribution's parameters: `w` may have any length (a dense
/// layer's is `fan_in · fan_out`). The generator is called a fixed number of times, with no
/// rejection loop, so the result is reproducible from a seed and a broken generator cannot
/// hang it.
///
/// # Errors
/// [`Error::InvalidArgument`] if `fan_in` or `fan_out` is 0; nothing is written and the
/// generator is not called.
pub fn init_weights(
    w: &mut [f32],
    fan_in: usize,
    fan_out: usize,
    init: Init,
    rng: &mut impl Rng,
) -> Result<(), Error> {
    let s = init.scale(fan_in, fan_out)?;
    if init.is_normal() {
        let mut pairs = w.chunks_exact_mut(2);
        for pair in &mut pairs {
            let (z0, z1) = box_muller(rng);
            pair[0] = s * z0;
            pair[1] = s * z1;
        }
        if let [last] = pairs.into_remainder() {
            *last = s * box_muller(rng).0;
        }
    } else {
        for x in w.iter_mut() {
            *x = s * symmetric_unit(rng);
        }
    }
    Ok(())
}
