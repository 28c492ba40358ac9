//! A small deterministic generator for targets without one: [`SplitMix64`].
//!
//! [`init`](crate::init) and [`data::shuffle`](crate::data::shuffle) draw from any
//! [`rand_core::Rng`]. On a host, `rand`'s `StdRng` or `SmallRng` serve; in firmware, where a
//! crate that pulls in `rand` is unwelcome, [`SplitMix64`] is one `u64` of state, a `const fn`
//! constructor (it can live in a `static`) and a few integer operations per word, and
//! `&mut SplitMix64` goes wherever the crate takes `&mut impl Rng`.
//!
//! ```
//! use microprop::{SplitMix64, data::{identity_permutation, shuffle}, init::{Init, init_weights}};
//!
//! let mut rng = SplitMix64::new(2);
//! let mut w = [0.0f32; 4 * 3];
//! init_weights(&mut w, 4, 3, Init::XavierUniform, &mut rng)?;
//! let mut perm = [0u32; 10];
//! identity_permutation(&mut perm)?;
//! shuffle(&mut perm, &mut rng); // the same seed: the same weights and order on every target
//! # Ok::<(), microprop::Error>(())
//! ```

use core::convert::Infallible;
use rand_core::{SeedableRng, TryRng};

/// The SplitMix64 generator (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014), with the constants of Vigna's reference `splitmix64.c`:
/// every word adds the golden-ratio increment `γ = 0x9e3779b97f4a7c15` to the 64-bit state
/// `x` and returns a mix of it,
///
/// ```text
/// x ← x + γ (mod 2⁶⁴)
/// z ← (x ⊕ (x ≫ 30)) · 0xbf58476d1ce4e5b9
/// z ← (z ⊕ (z ≫ 27)) · 0x94d049bb133111eb
/// return z ⊕ (z ≫ 31)
/// ```
///
/// Its period is 2⁶⁴, every seed (0 included) is fine, and it passes TestU01's BigCrush. Outputs are
/// the same on every target: [`SplitMix64::new`]`(s)` gives exactly the words of the
/// reference C code started with `x = s` (seed 1234567: 6457827717110365317,
/// 3203168211198807973, 9817491932198370423, …).
///
/// **Not cryptographic**: anyone who sees one output can compute the state and every
/// output after it. It is for weights, shuffles and tests, never for keys, nonces or
/// anything an adversary must not predict.
///
/// It implements [`rand_core::TryRng`] with `Error = Infallible`, hence
/// [`rand_core::Rng`], and [`rand_core::SeedableRng`] (`seed_from_u64(s)` is `new(s)`;
/// `from_seed` reads the state as 8 little-endian bytes). Its own `next_u64`, `next_u32`
/// and `fill_bytes` need no trait in scope.
///
/// ```
/// use microprop::SplitMix64;
///
/// let mut rng = SplitMix64::new(1234567);
/// assert_eq!(rng.next_u64(), 6457827717110365317);
/// assert_eq!(rng.next_u32(), (3203168211198807973u64 >> 32) as u32); // the high half
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SplitMix64 {
    x: u64,
}

impl SplitMix64 {
    /// The increment added to the state for every word: `⌊2⁶⁴/φ⌋` (φ the golden ratio; odd,
    /// so the state runs through all 2⁶⁴ values).
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A generator whose state is `seed` (any value; nearby seeds give unrelated streams,
    /// as the output mix scrambles the state). A `const fn`, so firmware can keep it in a
    /// `static`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { x: seed }
    }

    /// The next 64-bit word (the reference's `next()`).
    pub const fn next_u64(&mut self) -> u64 {
        self.x = self.x.wrapping_add(Self::GAMMA);
        let mut z = self.x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The high 32 bits of the next 64-bit word (the better-mixed half; one word per call,
    /// the low half is dropped).
    pub const fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Fills `dst` with the little-endian bytes of successive 64-bit words; a last partial
    /// chunk takes the first bytes of one more word (`rand_core`'s convention, so the bytes
    /// are the same on every target).
    pub fn fill_bytes(&mut self, dst: &mut [u8]) {
        let mut chunks = dst.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let word = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&word[..rest.len()]);
        }
    }
}

impl TryRng for SplitMix64 {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(SplitMix64::next_u32(self))
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(SplitMix64::next_u64(self))
    }

    #[inline]
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        SplitMix64::fill_bytes(self, dst);
        Ok(())
    }
}

impl SeedableRng for SplitMix64 {
    /// The state, as 8 little-endian bytes.
    type Seed = [u8; 8];

    fn from_seed(seed: [u8; 8]) -> SplitMix64 {
        SplitMix64::new(u64::from_le_bytes(seed))
    }

    /// [`SplitMix64::new`]`(state)`: the seed is the state itself, as in the reference
    /// code (the output mix already makes small seeds such as 0 and 1 good ones).
    fn seed_from_u64(state: u64) -> SplitMix64 {
        SplitMix64::new(state)
    }
}
