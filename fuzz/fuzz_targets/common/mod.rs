//! Helpers shared by the fuzz targets: decoding hostile sizes, strides and floats from
//! the fuzzer's bytes, and cheap deterministic data.
#![allow(dead_code)]

use arbitrary::Unstructured;
use microprop::simd::Isa;

/// Sizes that break naive index arithmetic.
pub const HUGE: [usize; 8] = [
    usize::MAX,
    usize::MAX - 1,
    isize::MAX as usize,
    (isize::MAX as usize) + 1,
    1 << 32,
    (1 << 32) + 1,
    u32::MAX as usize,
    1 << 62,
];

/// A dimension: mostly `0..=small`, sometimes up to `big`, rarely a huge value.
pub fn dim(u: &mut Unstructured, small: usize, big: usize) -> usize {
    let sel: u8 = u.arbitrary().unwrap_or(0);
    match sel {
        0..=219 => sel as usize % (small + 1),
        220..=243 => u.int_in_range(0..=big).unwrap_or(0),
        _ => HUGE[sel as usize % HUGE.len()],
    }
}

/// A float operand: mostly ordinary values, often the IEEE special ones.
pub fn scalar(u: &mut Unstructured) -> f32 {
    let sel: u8 = u.arbitrary().unwrap_or(0);
    match sel % 16 {
        0 => 0.0,
        1 => -0.0,
        2 => 1.0,
        3 => -1.0,
        4 => f32::NAN,
        5 => f32::INFINITY,
        6 => f32::NEG_INFINITY,
        7 => f32::MAX,
        8 => f32::MIN_POSITIVE / 4.0, // subnormal
        9 => 1e20,
        10 => f32::from_bits(u.arbitrary().unwrap_or(0)),
        _ => (u.arbitrary::<i8>().unwrap_or(0) as f32) / 16.0,
    }
}

/// A special value to inject into data.
pub fn special(u: &mut Unstructured) -> f32 {
    let sel: u8 = u.arbitrary().unwrap_or(0);
    match sel % 10 {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::MAX,
        4 => -1e30,
        5 => f32::MIN_POSITIVE / 8.0,
        6 => 0.0,
        7 => -0.0,
        8 => 1e10,
        _ => f32::from_bits(u.arbitrary().unwrap_or(0)),
    }
}

/// xorshift64*: data from one fuzzed seed, so inputs stay small.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in [-2, 2) on a 1/64 grid, or in [-scale, scale) when asked.
    pub fn value(&mut self, scale: f32) -> f32 {
        let v = (self.next() >> 40) as u32 % 256;
        (v as f32 - 128.0) / 128.0 * scale
    }
}

/// Fills `buf` from a fuzzed seed and scale, then injects a few special values.
/// Returns whether any special value was injected.
pub fn fill(u: &mut Unstructured, buf: &mut [f32]) -> bool {
    let mut rng = Rng(u.arbitrary().unwrap_or(0));
    let scale = match u.arbitrary::<u8>().unwrap_or(0) % 8 {
        0 => 1e-3,
        1 => 100.0,
        _ => 2.0,
    };
    for v in buf.iter_mut() {
        *v = rng.value(scale);
    }
    let mut injected = false;
    let count = u.arbitrary::<u8>().unwrap_or(0) % 8;
    if count >= 5 && !buf.is_empty() {
        for _ in 0..(count - 4) {
            let i = u.choose_index(buf.len()).unwrap_or(0);
            buf[i] = special(u);
            injected = true;
        }
    }
    injected
}

/// One of the instruction sets this CPU supports.
pub fn isa(u: &mut Unstructured) -> Isa {
    let supported: Vec<Isa> = Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_supported())
        .collect();
    supported[u.choose_index(supported.len()).unwrap_or(0)]
}

/// A buffer length around `needed` (`None`: the layout does not fit anything we would
/// allocate): exact, a little more, or (often) shorter.
pub fn len_around(u: &mut Unstructured, needed: Option<usize>, cap: usize) -> usize {
    let sel: u8 = u.arbitrary().unwrap_or(0);
    match needed {
        Some(n) if n <= cap => match sel % 8 {
            0..=3 => n,
            4 | 5 => n + (sel as usize >> 3) % 5,
            _ => u.int_in_range(0..=n).unwrap_or(0),
        },
        _ => (sel as usize) % 65,
    }
}

/// Whether every element of an `r × c` view with strides `rs`, `cs` has an offset of its
/// own (no two alias). An empty view may have billions of rows: no loop over them.
pub fn distinct_offsets(r: usize, c: usize, rs: usize, cs: usize) -> bool {
    if r == 0 || c == 0 {
        return true;
    }
    let mut idx: Vec<usize> = (0..r)
        .flat_map(|i| (0..c).map(move |j| i * rs + j * cs))
        .collect();
    let n = idx.len();
    idx.sort_unstable();
    idx.dedup();
    idx.len() == n
}
