//! Shared test helpers: seeded randomness, ULP distance, running a test once per
//! instruction set this CPU supports, and f64 references of the layers (`reference`).
#![allow(dead_code)]

pub mod alloc;
pub mod nets;
pub mod reference;

use microprop::simd::{Isa, with_isa};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_core::{Infallible, TryRng};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform values in [-1, 1).
pub fn fill(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Runs `f` once per supported instruction set, with that set forced.
pub fn for_each_isa(mut f: impl FnMut(Isa)) {
    let mut ran = 0;
    for &isa in Isa::ALL {
        if isa.is_supported() {
            with_isa(isa, || f(isa)).expect("supported");
            ran += 1;
        }
    }
    assert!(ran >= 2, "scalar and portable always run");
}

/// [`for_each_isa`], but under Miri only the portable backend (the `wide` vectors): for a
/// suite whose own code is safe and calls the kernels with shapes the kernel suites cover
/// on every backend, once is enough to check its calls, and each backend doubles the time.
#[allow(dead_code)]
pub fn for_each_isa_once_under_miri(mut f: impl FnMut(Isa)) {
    if cfg!(miri) {
        with_isa(Isa::Portable, || f(Isa::Portable)).expect("supported");
    } else {
        for_each_isa(f);
    }
}

/// Distance in units in the last place between two finite f32 of the same sign class.
pub fn ulp_diff(a: f32, b: f32) -> u64 {
    fn key(x: f32) -> i64 {
        let i = x.to_bits() as i32 as i64;
        if i < 0 { i64::from(i32::MIN) - i } else { i }
    }
    (key(a) - key(b)).unsigned_abs()
}

/// Strictly lanes+1 style length sweep used by elementwise tests. Under Miri (portable:
/// 8 lanes, unrolled by 4) every length up to 2·8 + 1 and around the 32-value unrolled
/// block.
pub fn lengths() -> Box<dyn Iterator<Item = usize>> {
    if cfg!(miri) {
        Box::new((0..=17).chain([31, 32, 33, 41]))
    } else {
        Box::new((0..=33).chain([63, 64, 65, 127, 128, 129, 1000]))
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny fixed generator for golden values.
pub struct SplitMix64(pub u64);

impl TryRng for SplitMix64 {
    type Error = Infallible;
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let w = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// [`lengths`] natively; under Miri a sparser set that still covers an empty slice, a
/// partial vector, exactly one (portable: 8 lanes), one and a bit, two and a bit and past
/// the 32-value unrolled block: for the tests that repeat each length many times.
pub fn lengths_light() -> Box<dyn Iterator<Item = usize>> {
    if cfg!(miri) {
        Box::new([0, 1, 7, 8, 9, 17, 33].into_iter())
    } else {
        lengths()
    }
}
