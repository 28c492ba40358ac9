//! `microprop::SplitMix64` gives the words of Vigna's reference `splitmix64.c` (published
//! outputs hard-coded, and an independent transcription of the C code below), its `u32`
//! and bytes follow `rand_core`'s conventions, and it goes wherever the crate takes a
//! `rand_core::Rng`.

use microprop::SplitMix64;
use microprop::data::{identity_permutation, shuffle};
use microprop::init::{Init, init_weights};
use rand_core::{Rng, SeedableRng, TryRng};

/// `splitmix64.c` (Vigna, 2015) line by line: `static uint64_t x;` and
/// `uint64_t next() { uint64_t z = (x += 0x9e3779b97f4a7c15); z = (z ^ (z >> 30)) *
/// 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb; return z ^ (z >> 31); }`.
struct Reference {
    x: u64,
}

impl Reference {
    fn next(&mut self) -> u64 {
        self.x = self.x.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

/// The first outputs of the reference code from `x = 0` and from `x = 1234567` (the latter
/// the values Rosetta Code's SplitMix64 task publishes; both also recomputed here with
/// Python's big integers, masked to 64 bits).
const SEED_0: [u64; 5] = [
    0xe220a8397b1dcdaf,
    0x6e789e6aa1b965f4,
    0x06c45d188009454f,
    0xf88bb8a8724c81ec,
    0x1b39896a51a8749b,
];
const SEED_1234567: [u64; 5] = [
    6457827717110365317,
    3203168211198807973,
    9817491932198370423,
    4593380528125082431,
    16408922859458223821,
];

#[test]
fn first_words_are_the_published_ones() {
    for (seed, want) in [(0, SEED_0), (1234567, SEED_1234567)] {
        let mut rng = SplitMix64::new(seed);
        let mut reference = Reference { x: seed };
        for (i, &w) in want.iter().enumerate() {
            assert_eq!(reference.next(), w, "reference, seed {seed}, word {i}");
            assert_eq!(rng.next_u64(), w, "seed {seed}, word {i}");
        }
    }
}

#[test]
fn a_long_stream_agrees_with_the_reference_for_many_seeds() {
    let n = if cfg!(miri) { 100 } else { 10_000 };
    for seed in [0, 1, 2, 42, 1234567, u64::MAX, 1 << 63, 0x9e3779b97f4a7c15] {
        let mut rng = SplitMix64::new(seed);
        let mut reference = Reference { x: seed };
        for i in 0..n {
            assert_eq!(rng.next_u64(), reference.next(), "seed {seed}, word {i}");
        }
    }
}

#[test]
fn it_is_a_const_fn_generator() {
    const FIRST: u64 = SplitMix64::new(0).next_u64();
    static FIRMWARE: SplitMix64 = SplitMix64::new(1234567);
    assert_eq!(FIRST, SEED_0[0]);
    assert_eq!(FIRMWARE.clone().next_u64(), SEED_1234567[0]);
}

#[test]
fn next_u32_is_the_high_half_of_one_word() {
    let mut rng = SplitMix64::new(1234567);
    for &w in &SEED_1234567 {
        assert_eq!(rng.next_u32(), (w >> 32) as u32);
    }
    // Through the traits: the same words.
    let mut rng = SplitMix64::new(1234567);
    assert_eq!(Rng::next_u32(&mut rng), (SEED_1234567[0] >> 32) as u32);
    assert_eq!(Rng::next_u64(&mut rng), SEED_1234567[1]);
    assert_eq!(rng.try_next_u64(), Ok(SEED_1234567[2]));
    assert_eq!(rng.try_next_u32(), Ok((SEED_1234567[3] >> 32) as u32));
}

#[test]
fn fill_bytes_is_little_endian_words_the_last_one_cut() {
    for len in 0..=33usize {
        let mut reference = Reference { x: 7 };
        let want: Vec<u8> = (0..len.div_ceil(8))
            .flat_map(|_| reference.next().to_le_bytes())
            .take(len)
            .collect();
        let mut rng = SplitMix64::new(7);
        let mut got = vec![0xAA; len];
        rng.fill_bytes(&mut got);
        assert_eq!(got, want, "len {len}");
        // It used ⌈len/8⌉ words: the next one is the reference's next.
        assert_eq!(rng.next_u64(), reference.next(), "len {len}");
        // The trait's fill is the same.
        let mut rng = SplitMix64::new(7);
        let mut got = vec![0x55; len];
        Rng::fill_bytes(&mut rng, &mut got);
        assert_eq!(got, want, "Rng::fill_bytes, len {len}");
        let mut rng = SplitMix64::new(7);
        let mut got = vec![0x55; len];
        rng.try_fill_bytes(&mut got).unwrap();
        assert_eq!(got, want, "try_fill_bytes, len {len}");
    }
}

#[test]
fn seedable_rng_seeds_the_state_itself() {
    for seed in [0, 1, 1234567, u64::MAX] {
        let mut a = SplitMix64::seed_from_u64(seed);
        let mut b = SplitMix64::from_seed(seed.to_le_bytes());
        let mut c = SplitMix64::new(seed);
        for _ in 0..8 {
            let w = c.next_u64();
            assert_eq!((a.next_u64(), b.next_u64()), (w, w), "seed {seed}");
        }
    }
    assert_eq!(
        SplitMix64::seed_from_u64(1234567).next_u64(),
        SEED_1234567[0]
    );
}

#[test]
fn a_clone_continues_the_same_stream() {
    let mut a = SplitMix64::new(99);
    a.next_u64();
    let mut b = a.clone();
    assert_eq!(a, b);
    for _ in 0..16 {
        assert_eq!(a.next_u64(), b.next_u64());
    }
}

/// The crate's entry points take `&mut impl Rng`; a generic caller may also hand over
/// `&mut SplitMix64` itself as the `Rng` (through `rand_core`'s `DerefMut` impl).
fn draw(mut rng: impl Rng) -> u64 {
    rng.next_u64()
}

#[test]
fn it_goes_wherever_the_crate_takes_an_rng() {
    let mut rng = SplitMix64::new(1234567);
    assert_eq!(draw(&mut rng), SEED_1234567[0]);
    assert_eq!(draw(&mut rng), SEED_1234567[1]);

    // Shuffle: the golden order of tests/data.rs (drawn there from the test suite's own
    // SplitMix64, seed 42).
    let mut perm = [0u32; 10];
    identity_permutation(&mut perm).unwrap();
    shuffle(&mut perm, &mut SplitMix64::new(42));
    assert_eq!(perm, [8, 3, 6, 5, 4, 0, 9, 2, 1, 7]);

    // Initialisation: uniform weights are the top 24 bits of each word's high half,
    // centred and scaled (see init_weights).
    let mut w = [0.0f32; 6];
    init_weights(&mut w, 3, 2, Init::XavierUniform, &mut SplitMix64::new(42)).unwrap();
    let a = Init::XavierUniform.scale(3, 2).unwrap();
    let mut reference = Reference { x: 42 };
    for (i, &v) in w.iter().enumerate() {
        let k = ((reference.next() >> 40) as i32) - (1 << 23);
        assert_eq!(v, a * (k as f32 / 8_388_608.0), "weight {i}");
    }
}
