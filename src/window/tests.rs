//! The window kernels against plain nested-loop references over many geometries (1-D
//! and 2-D, strides 1–3, paddings 0–2, dilations 1–3, kernels from 1 to the whole input,
//! 1, 3, 16, 17 and 67 channels, channel groups, batches of 1 and 3), bit for bit: each
//! reference does the same rounded operations in the same order as its kernel. Outputs a
//! kernel overwrites are poisoned with a NaN first (so every output is shown written);
//! the backward kernels are also checked as exact adjoints of their forwards (⟨f(x), y⟩
//! = ⟨x, fᵀ(y)⟩ in f64, on dyadic data where every f32 sum is exact) and max pooling by
//! finite differences; every bad argument is an error that writes nothing. Under Miri the
//! geometries are fewer and smaller.

use super::*;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// A quiet NaN with a payload no kernel computes: an output left with it was not written.
const POISON: f32 = f32::from_bits(0x7fc0_dead);

/// A small seeded generator (64-bit LCG, top bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    /// Uniform in [−1, 1), 24 random bits: sums of them round.
    fn vals(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| (self.next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            .collect()
    }
    /// Multiples of 1/4 in [−2, 2]: products and sums of a few thousand are exact in f32.
    fn dyadic(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| (self.below(17) as f32 - 8.0) / 4.0)
            .collect()
    }
}

/// Runs `f` once per instruction set this CPU supports, with it forced (the SIMD kernels
/// of `simd.rs` against the references on each); under Miri only on the portable one.
fn each_isa(mut f: impl FnMut()) {
    use crate::simd::{Isa, with_isa};
    for &isa in Isa::ALL {
        if isa.is_supported() && (!cfg!(miri) || isa == Isa::Portable) {
            with_isa(isa, &mut f).unwrap();
        }
    }
}

#[track_caller]
fn same_bits(got: &[f32], want: &[f32], ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{ctx}: [{i}] got {g:e} ({:#x}), want {w:e} ({:#x})",
            g.to_bits(),
            w.to_bits()
        );
    }
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

fn abs_dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
        .sum()
}

/// Bound on `|⟨avg(x), dout⟩ − ⟨x, avgᵀ(dout)⟩|` for a mean of `taps` values: each side
/// is within `(taps + 1)` roundings (2⁻²⁴ each) of `a = ⟨avg(|x|), |dout|⟩`; twice that.
fn rounding_bound(taps: usize, a: f64) -> f64 {
    4.0 * (taps + 1) as f64 * f64::from(f32::EPSILON / 2.0) * a
}

fn ctx(g: &Geom, n: usize) -> String {
    format!("{g:?} n={n}")
}

// ---------------------------------------------------------------------------------------
// Geometries.

const CHANNELS: [usize; 4] = [1, 3, 16, 17];

/// Fixed cases: kernels as wide as the input, windows that do not divide the length, a
/// dilated kernel exactly as long as the padded input, a single position.
fn edge_geoms(pool: bool) -> Vec<Geom> {
    let full2d = Geom {
        h: 5,
        w: 7,
        c: 3,
        kh: 5,
        kw: 7,
        sh: 1,
        sw: 1,
        ph: 0,
        pw: 0,
        dh: 1,
        dw: 1,
    };
    let mut v = vec![
        Geom::d1(7, 3, 7, 1, 0, 1),  // kernel = input
        Geom::d1(7, 3, 2, 2, 0, 1),  // the last position is in no window
        Geom::d1(10, 1, 3, 3, 0, 1), // the last position is in no window
        Geom::d1(1, 17, 1, 1, 0, 1), // one position
        Geom::d1(8, 16, 3, 3, 0, 1),
        full2d,
        Geom {
            kh: 2,
            kw: 3,
            sh: 3,
            sw: 2,
            ..full2d
        },
    ];
    if !pool {
        v.extend([
            Geom::d1(5, 2, 3, 1, 0, 2), // dilated kernel = input
            Geom::d1(3, 3, 3, 2, 2, 2), // dilated kernel = padded input
            Geom::d1(1, 1, 3, 1, 2, 1), // one position, padding on both sides
            Geom::d1(1, 3, 2, 1, 2, 3), // every (dilated) window reads only padding
            Geom {
                h: 4,
                w: 4,
                c: 17,
                kh: 2,
                kw: 2,
                sh: 2,
                sw: 1,
                ph: 2,
                pw: 2,
                dh: 3,
                dw: 3,
            },
            Geom {
                kh: 3,
                kw: 3,
                ph: 1,
                pw: 2,
                dh: 2,
                dw: 1,
                ..full2d
            },
        ]);
    }
    for g in &v {
        g.check().expect("edge geometry");
    }
    v
}

/// Geometries with every stride 1–3 × padding 0–2 × dilation 1–3 along the width (only
/// stride for pooling), each with the four channel counts over the cycle, random sizes
/// and kernels up to the whole (padded) input, a third of them 1-D; then the edge cases.
/// Each with its batch size, 1 or 3.
fn geoms(pool: bool, seed: u64) -> Vec<(Geom, usize)> {
    let mut rng = Lcg(seed);
    // Under Miri (safe code: it finds no more than native runs) a sample, to keep it short.
    let (count, hmax, wmax) = if cfg!(miri) { (4, 3, 4) } else { (216, 6, 9) };
    let mut v = Vec::new();
    for i in 0..count {
        let (s, p, d) = if pool {
            (1 + i % 3, 0, 1)
        } else {
            (1 + i % 3, (i / 3) % 3, 1 + (i / 9) % 3)
        };
        let c = CHANNELS[i % 4];
        let one_d = i % 3 == 1;
        let n = if i % 2 == 0 { 1 } else { 3 };
        let g = loop {
            let h = if one_d { 1 } else { 1 + rng.below(hmax) };
            let w = 1 + rng.below(wmax);
            let mut g = Geom {
                h,
                w,
                c,
                kh: 1,
                kw: 1 + rng.below(w + 2 * p),
                sh: 1,
                sw: s,
                ph: 0,
                pw: p,
                dh: 1,
                dw: d,
            };
            if !one_d {
                g.kh = 1 + rng.below(h + 2);
                g.sh = 1 + rng.below(3);
                if !pool {
                    g.ph = rng.below(3);
                    g.dh = 1 + rng.below(3);
                }
            }
            if g.check().is_ok() {
                break g;
            }
        };
        v.push((g, n));
    }
    let edge = edge_geoms(pool);
    let step = if cfg!(miri) { 4 } else { 1 };
    for (i, g) in edge.into_iter().enumerate().step_by(step) {
        v.push((g, [1, 3][i % 2]));
    }
    v
}

/// Channel groups `(c0, cg)` of `c` channels: all of them, and one group of each split
/// into 2, 3 or 4 groups that divides `c`, and an odd sub-range.
fn groups(c: usize, rng: &mut Lcg) -> Vec<(usize, usize)> {
    let mut v = vec![(0, c)];
    for k in [2, 3, 4] {
        if c.is_multiple_of(k) {
            let cg = c / k;
            v.push((cg * rng.below(k), cg));
        }
    }
    if c >= 3 {
        v.push((1, c - 2));
    }
    v
}

// ---------------------------------------------------------------------------------------
// References: nested loops straight from the definitions.

/// Input coordinate of tap `k` of output position `o`, or `None` in the padding.
fn src(o: usize, k: usize, s: usize, p: usize, d: usize, len: usize) -> Option<usize> {
    let i = (o * s + k * d) as i64 - p as i64;
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Offset of `[img][y][x][ch]` in a batch of `h × w × c` images.
fn at(h: usize, w: usize, c: usize, img: usize, y: usize, x: usize, ch: usize) -> usize {
    ((img * h + y) * w + x) * c + ch
}

/// Calls `f(img, oy, ox, ky, kx, input position)` for every tap of every output pixel in
/// order, the input position `None` in the padding.
fn each_tap(
    g: &Geom,
    n: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize, Option<(usize, usize)>),
) {
    for img in 0..n {
        for oy in 0..g.oh() {
            for ox in 0..g.ow() {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let y = src(oy, ky, g.sh, g.ph, g.dh, g.h);
                        let x = src(ox, kx, g.sw, g.pw, g.dw, g.w);
                        f(img, oy, ox, ky, kx, y.zip(x));
                    }
                }
            }
        }
    }
}

fn im2col_ref(g: &Geom, n: usize, c0: usize, cg: usize, x: &[f32]) -> Vec<f32> {
    let (oh, ow, k) = (g.oh(), g.ow(), g.kh * g.kw * cg);
    let mut col = vec![0.0; n * oh * ow * k];
    each_tap(g, n, |img, oy, ox, ky, kx, pos| {
        for ci in 0..cg {
            let r = (img * oh + oy) * ow + ox;
            let j = (ky * g.kw + kx) * cg + ci;
            if let Some((y, xx)) = pos {
                col[r * k + j] = x[at(g.h, g.w, g.c, img, y, xx, c0 + ci)];
            }
        }
    });
    col
}

fn col2im_ref(g: &Geom, n: usize, c0: usize, cg: usize, col: &[f32], dx: &mut [f32]) {
    let (oh, ow, k) = (g.oh(), g.ow(), g.kh * g.kw * cg);
    each_tap(g, n, |img, oy, ox, ky, kx, pos| {
        for ci in 0..cg {
            let r = (img * oh + oy) * ow + ox;
            let j = (ky * g.kw + kx) * cg + ci;
            if let Some((y, xx)) = pos {
                dx[at(g.h, g.w, g.c, img, y, xx, c0 + ci)] += col[r * k + j];
            }
        }
    });
}

/// Max pooling: the first largest value in window order, or the first NaN.
fn max_pool_ref(g: &Geom, n: usize, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut out = vec![0.0; n * oh * ow * c];
    let mut arg = vec![0.0; n * oh * ow * c];
    for ch in 0..c {
        let mut best: Vec<Option<(f32, usize)>> = vec![None; n * oh * ow];
        each_tap(g, n, |img, oy, ox, ky, kx, pos| {
            let (y, xx) = pos.unwrap();
            let v = x[at(g.h, g.w, c, img, y, xx, ch)];
            let b = &mut best[(img * oh + oy) * ow + ox];
            let t = ky * g.kw + kx;
            match *b {
                None => *b = Some((v, t)),
                Some((m, _)) if v > m || (v.is_nan() && !m.is_nan()) => *b = Some((v, t)),
                Some(_) => {}
            }
        });
        for (p, b) in best.into_iter().enumerate() {
            let (m, t) = b.unwrap();
            out[p * c + ch] = m;
            arg[p * c + ch] = t as f32;
        }
    }
    (out, arg)
}

fn max_pool_backward_ref(g: &Geom, n: usize, dout: &[f32], argmax: &[f32]) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut dx = vec![0.0; n * g.h * g.w * c];
    for img in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let o = at(oh, ow, c, img, oy, ox, ch);
                    let t = argmax[o] as usize;
                    let (y, x) = (oy * g.sh + t / g.kw, ox * g.sw + t % g.kw);
                    dx[at(g.h, g.w, c, img, y, x, ch)] += dout[o];
                }
            }
        }
    }
    dx
}

/// Average pooling: the sum from the first tap in window order, over the tap count.
fn avg_pool_ref(g: &Geom, n: usize, x: &[f32]) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut sum: Vec<Option<f32>> = vec![None; n * oh * ow * c];
    each_tap(g, n, |img, oy, ox, _, _, pos| {
        let (y, xx) = pos.unwrap();
        for ch in 0..c {
            let v = x[at(g.h, g.w, c, img, y, xx, ch)];
            let s = &mut sum[at(oh, ow, c, img, oy, ox, ch)];
            *s = Some(s.map_or(v, |s| s + v));
        }
    });
    let count = (g.kh * g.kw) as f32;
    sum.into_iter().map(|s| s.unwrap() / count).collect()
}

fn avg_pool_backward_ref(g: &Geom, n: usize, dout: &[f32]) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut dx = vec![0.0; n * g.h * g.w * c];
    let count = (g.kh * g.kw) as f32;
    each_tap(g, n, |img, oy, ox, _, _, pos| {
        let (y, xx) = pos.unwrap();
        for ch in 0..c {
            dx[at(g.h, g.w, c, img, y, xx, ch)] += dout[at(oh, ow, c, img, oy, ox, ch)] / count;
        }
    });
    dx
}

fn global_avg_pool_ref(hw: usize, c: usize, n: usize, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; n * c];
    for img in 0..n {
        for ch in 0..c {
            let mut s = x[img * hw * c + ch];
            for p in 1..hw {
                s += x[(img * hw + p) * c + ch];
            }
            out[img * c + ch] = s / hw as f32;
        }
    }
    out
}

fn global_avg_pool_backward_ref(hw: usize, c: usize, n: usize, dout: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; n * hw * c];
    for img in 0..n {
        for p in 0..hw {
            for ch in 0..c {
                dx[(img * hw + p) * c + ch] = dout[img * c + ch] / hw as f32;
            }
        }
    }
    dx
}

/// Depthwise convolution: the bias (or 0), plus the products of the in-image taps in
/// window order.
fn depthwise_ref(g: &Geom, n: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut out = vec![0.0; n * oh * ow * c];
    for img in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    out[at(oh, ow, c, img, oy, ox, ch)] = bias.map_or(0.0, |b| b[ch]);
                }
            }
        }
    }
    each_tap(g, n, |img, oy, ox, ky, kx, pos| {
        if let Some((y, xx)) = pos {
            for ch in 0..c {
                out[at(oh, ow, c, img, oy, ox, ch)] +=
                    x[at(g.h, g.w, c, img, y, xx, ch)] * w[(ky * g.kw + kx) * c + ch];
            }
        }
    });
    out
}

fn depthwise_backward_input_ref(g: &Geom, n: usize, dout: &[f32], w: &[f32]) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut dx = vec![0.0; n * g.h * g.w * c];
    each_tap(g, n, |img, oy, ox, ky, kx, pos| {
        if let Some((y, xx)) = pos {
            for ch in 0..c {
                dx[at(g.h, g.w, c, img, y, xx, ch)] +=
                    dout[at(oh, ow, c, img, oy, ox, ch)] * w[(ky * g.kw + kx) * c + ch];
            }
        }
    });
    dx
}

/// `α·S + β·dw` (`α·S` with β = 0), each S summed from 0 in output-pixel order.
fn depthwise_backward_weight_ref(
    g: &Geom,
    n: usize,
    x: &[f32],
    dout: &[f32],
    alpha: f32,
    beta: f32,
    dw: &[f32],
) -> Vec<f32> {
    let (oh, ow, c) = (g.oh(), g.ow(), g.c);
    let mut s = vec![0.0f32; g.kh * g.kw * c];
    each_tap(g, n, |img, oy, ox, ky, kx, pos| {
        if let Some((y, xx)) = pos {
            for ch in 0..c {
                s[(ky * g.kw + kx) * c + ch] +=
                    x[at(g.h, g.w, c, img, y, xx, ch)] * dout[at(oh, ow, c, img, oy, ox, ch)];
            }
        }
    });
    s.iter()
        .zip(dw)
        .map(|(&s, &d)| {
            if beta == 0.0 {
                alpha * s
            } else {
                alpha * s + beta * d
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Geometry.

/// Output positions counted one by one: `o` is one when its dilated window fits the
/// padded input.
fn brute_out(len: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (0..)
        .take_while(|&o| o * s + d * (k - 1) < len + 2 * p)
        .count()
}

#[test]
fn geom_output_sizes_match_a_count_and_never_panic() {
    let lim = if cfg!(miri) { 4 } else { 9 };
    for len in 1..=lim {
        for k in 1..=lim {
            for s in 1..=3 {
                for p in 0..=2 {
                    for d in 1..=3 {
                        let g = Geom::d1(len, 2, k, s, p, d);
                        assert_eq!(g.ow(), brute_out(len, k, s, p, d), "{g:?}");
                        assert_eq!(g.oh(), 1);
                        let t = Geom {
                            h: len,
                            kh: k,
                            sh: s,
                            ph: p,
                            dh: d,
                            ..Geom::d1(1, 1, 1, 1, 0, 1)
                        };
                        assert_eq!(t.oh(), brute_out(len, k, s, p, d), "{t:?}");
                        let ek = d * (k - 1) + 1;
                        assert_eq!(g.check().is_ok(), p < ek && ek <= len + 2 * p, "{g:?}");
                    }
                }
            }
        }
    }
    // Huge values: no panic, the overflow reported.
    let m = usize::MAX;
    let huge = Geom {
        h: m,
        w: m,
        c: m,
        kh: m,
        kw: m,
        sh: m,
        sw: m,
        ph: m,
        pw: m,
        dh: m,
        dw: m,
    };
    let _ = (huge.oh(), huge.ow());
    assert!(matches!(huge.check(), Err(Error::Overflow { .. })));
    for g in [
        Geom { sh: 0, ..huge },
        Geom { kw: 0, ..huge },
        Geom { dh: 0, ..huge },
    ] {
        let _ = (
            g.oh(),
            g.ow(),
            g.input_len(m),
            g.output_len(m, m),
            g.col_len(m, m),
        );
        assert!(matches!(g.check(), Err(Error::InvalidArgument { .. })));
    }
    // The padded input, the image, the output image and the kernel overflow.
    let ok = Geom::d1(4, 1, 1, 1, 0, 1);
    for g in [
        Geom {
            w: m,
            kw: 3,
            pw: 1,
            ..ok
        },
        // h·w·c
        Geom {
            w: m / 2,
            c: 3,
            ..ok
        },
        // oh·ow·c, not h·w·c: ow = w + 10
        Geom {
            w: m / 3,
            c: 3,
            kw: 11,
            pw: 10,
            ..ok
        },
        // kh·kw·c, nothing else
        Geom {
            h: 2,
            kh: 3,
            ph: 1,
            w: m / 5,
            kw: m / 5,
            c: 2,
            ..ok
        },
        // the dilated kernel
        Geom {
            kw: 4,
            dw: m / 2,
            ..ok
        },
    ] {
        assert!(matches!(g.check(), Err(Error::Overflow { .. })), "{g:?}");
    }
    assert_eq!(
        Geom {
            w: m - 2,
            pw: 1,
            kw: 3,
            ..ok
        }
        .ow(),
        m - 2
    );
    // Zero sizes, padding as large as the kernel, an empty output.
    for g in [
        Geom { h: 0, ..ok },
        Geom { w: 0, ..ok },
        Geom { c: 0, ..ok },
        Geom { kh: 0, ..ok },
        Geom { sw: 0, ..ok },
        Geom { dw: 0, ..ok },
        Geom { pw: 1, ..ok },
        Geom { ph: 1, kh: 1, ..ok },
        Geom { kw: 5, ..ok },
        Geom { kw: 3, dw: 2, ..ok },
    ] {
        assert!(
            matches!(g.check(), Err(Error::InvalidArgument { .. })),
            "{g:?}"
        );
    }
    // Lengths.
    let g = Geom {
        h: 5,
        w: 6,
        c: 3,
        kh: 2,
        kw: 3,
        sh: 1,
        sw: 2,
        ph: 1,
        pw: 1,
        dh: 1,
        dw: 1,
    };
    assert_eq!((g.oh(), g.ow()), (6, 3));
    assert_eq!(g.input_len(2), Ok(180));
    assert_eq!(g.output_len(2, 7), Ok(252));
    assert_eq!(g.col_len(2, 3), Ok(36 * 18));
    assert!(matches!(g.input_len(m), Err(Error::Overflow { .. })));
    assert!(matches!(g.col_len(m / 4, 1), Err(Error::Overflow { .. })));
}

// ---------------------------------------------------------------------------------------
// im2col and col2im.

#[test]
fn im2col_matches_reference_and_writes_every_value() {
    each_isa(|| {
        let mut rng = Lcg(1);
        for (g, n) in geoms(false, 11) {
            let x = rng.vals(g.input_len(n).unwrap());
            for (c0, cg) in groups(g.c, &mut rng) {
                let mut col = vec![POISON; g.col_len(n, cg).unwrap()];
                im2col(&g, n, c0, cg, &x, &mut col).unwrap();
                let c = format!("{} c0={c0} cg={cg}", ctx(&g, n));
                same_bits(&col, &im2col_ref(&g, n, c0, cg, &x), &c);
            }
        }
    });
}

#[test]
fn col2im_add_matches_reference_and_adds() {
    each_isa(|| {
        let mut rng = Lcg(2);
        for (g, n) in geoms(false, 12) {
            for (c0, cg) in groups(g.c, &mut rng) {
                let col = rng.vals(g.col_len(n, cg).unwrap());
                let dx0 = rng.vals(g.input_len(n).unwrap());
                let mut dx = dx0.clone();
                col2im_add(&g, n, c0, cg, &col, &mut dx).unwrap();
                let mut want = dx0.clone();
                col2im_ref(&g, n, c0, cg, &col, &mut want);
                let c = format!("{} c0={c0} cg={cg}", ctx(&g, n));
                same_bits(&dx, &want, &c);
            }
        }
    });
}

/// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩, exactly (dyadic data: every f32 sum is exact); and
/// the groups' col2im calls together fill the whole input gradient.
#[test]
fn col2im_is_the_exact_adjoint_of_im2col() {
    each_isa(|| {
        let mut rng = Lcg(3);
        for (g, n) in geoms(false, 13) {
            let x = rng.dyadic(g.input_len(n).unwrap());
            for (c0, cg) in groups(g.c, &mut rng) {
                let len = g.col_len(n, cg).unwrap();
                let y = rng.dyadic(len);
                let mut col = vec![0.0; len];
                im2col(&g, n, c0, cg, &x, &mut col).unwrap();
                let mut dx = vec![0.0; x.len()];
                col2im_add(&g, n, c0, cg, &y, &mut dx).unwrap();
                assert_eq!(
                    dot64(&col, &y),
                    dot64(&x, &dx),
                    "{} c0={c0} cg={cg}",
                    ctx(&g, n)
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Pooling.

/// Values with ties (a few levels), ±0 and, with `nan`, some NaNs of distinct payloads.
fn pool_data(rng: &mut Lcg, len: usize, nan: bool) -> Vec<f32> {
    (0..len)
        .map(|i| match rng.below(16) {
            0 if nan => f32::from_bits(0x7fc0_0000 | i as u32),
            1 => -0.0,
            2 => 0.0,
            3..=8 => rng.below(3) as f32 - 1.0,
            _ => rng.vals(1)[0],
        })
        .collect()
}

#[test]
fn max_pool_matches_reference_with_ties_and_nan() {
    each_isa(|| {
        let mut rng = Lcg(4);
        for (g, n) in geoms(true, 14) {
            for nan in [false, true] {
                let x = pool_data(&mut rng, g.input_len(n).unwrap(), nan);
                let (want, want_arg) = max_pool_ref(&g, n, &x);
                let len = g.output_len(n, g.c).unwrap();
                let mut out = vec![POISON; len];
                let mut arg = vec![POISON; len];
                max_pool(&g, n, &x, &mut out, Some(&mut arg)).unwrap();
                let c = ctx(&g, n);
                same_bits(&out, &want, &c);
                same_bits(&arg, &want_arg, &c);
                let mut out = vec![POISON; len];
                max_pool(&g, n, &x, &mut out, None).unwrap();
                same_bits(&out, &want, &c);
            }
        }
    });
}

#[test]
fn max_pool_ties_zeros_and_nan_by_hand() {
    each_isa(|| {
        let g = Geom::d1(4, 1, 4, 1, 0, 1);
        let nan1 = f32::from_bits(0x7fc0_0001);
        let nan2 = f32::from_bits(0xffc0_0002);
        for (x, m, t) in [
            ([1.0, 3.0, 3.0, 2.0], 3.0f32, 1.0f32),
            ([-0.0, 0.0, -1.0, -2.0], -0.0, 0.0),
            ([0.0, -0.0, -1.0, -2.0], 0.0, 0.0),
            ([1.0, nan1, 5.0, nan2], nan1, 1.0),
            ([nan2, nan1, 5.0, 1.0], nan2, 0.0),
            ([1.0, 2.0, 3.0, nan2], nan2, 3.0),
            ([f32::NEG_INFINITY; 4], f32::NEG_INFINITY, 0.0),
        ] {
            let (mut out, mut arg) = ([0.0], [0.0]);
            max_pool(&g, 1, &x, &mut out, Some(&mut arg)).unwrap();
            assert_eq!(out[0].to_bits(), m.to_bits(), "{x:?}");
            assert_eq!(arg[0], t, "{x:?}");
        }
    });
}

#[test]
fn max_pool_backward_matches_reference_and_is_the_adjoint() {
    each_isa(|| {
        let mut rng = Lcg(5);
        for (g, n) in geoms(true, 15) {
            let c = ctx(&g, n);
            let x = rng.dyadic(g.input_len(n).unwrap());
            let len = g.output_len(n, g.c).unwrap();
            let (mut out, mut arg) = (vec![0.0; len], vec![0.0; len]);
            max_pool(&g, n, &x, &mut out, Some(&mut arg)).unwrap();
            let dout = rng.dyadic(len);
            let mut dx = vec![POISON; x.len()];
            max_pool_backward(&g, n, &dout, &arg, &mut dx).unwrap();
            same_bits(&dx, &max_pool_backward_ref(&g, n, &dout, &arg), &c);
            // out = x at the argmax positions: ⟨out, dout⟩ = ⟨x, dx⟩ exactly.
            assert_eq!(dot64(&out, &dout), dot64(&x, &dx), "{c}");
            // Non-dyadic gradients (rounded sums), against the reference.
            let dout = rng.vals(len);
            max_pool_backward(&g, n, &dout, &arg, &mut dx).unwrap();
            same_bits(&dx, &max_pool_backward_ref(&g, n, &dout, &arg), &c);
        }
    });
}

/// Zero padding against a nested-loop reference: every value written (poisoned first),
/// channels past a vector and partial ones, paddings 0 to 2, rows of one value.
#[test]
fn pad_matches_reference() {
    each_isa(|| {
        let mut rng = Lcg(29);
        for &(n, h, w, c) in &[
            (2, 8, 8, 1),
            (3, 4, 4, 16),
            (2, 1, 29, 12),
            (1, 3, 5, 17),
            (2, 2, 1, 67),
            (1, 1, 1, 1),
        ] {
            for (ph, pw) in [(0, 0), (1, 1), (0, 1), (2, 0), (2, 1)] {
                let x = rng.vals(n * h * w * c);
                let (hp, wp) = (h + 2 * ph, w + 2 * pw);
                let mut want = vec![0.0; n * hp * wp * c];
                for img in 0..n {
                    for y in 0..h {
                        for xx in 0..w {
                            for ch in 0..c {
                                want[at(hp, wp, c, img, y + ph, xx + pw, ch)] =
                                    x[at(h, w, c, img, y, xx, ch)];
                            }
                        }
                    }
                }
                let mut got = vec![POISON; want.len() + 3];
                pad(n, (h, w, c), (ph, pw), &x, &mut got[..want.len()]);
                same_bits(
                    &got[..want.len()],
                    &want,
                    &format!("pad {n}x{h}x{w}x{c} by {ph},{pw}"),
                );
                assert!(
                    got[want.len()..]
                        .iter()
                        .all(|v| v.to_bits() == POISON.to_bits())
                );
            }
        }
    });
}

/// The fused backward (derivative and flush in the pooling pass, windows that do not
/// overlap) against the plain backward followed by the derivative and the flush, on
/// every activation: the same bits (an input no window reaches may be +0 for −0).
#[test]
fn max_pool_backward_deriv_matches_backward_then_derivative() {
    use crate::Activation;
    use crate::activation::{backward_inplace_isa, flush_tiny_inplace_isa};
    use crate::simd::Isa;
    each_isa(|| {
        let mut rng = Lcg(23);
        let mut fused_seen = false;
        let mut extra = geoms(true, 16);
        // Tiled windows (no zeroing) and windows leaving a remainder, lengths past a vector.
        // (7, 10, 5, 3): a row and a column past the last whole windows.
        for (h, w, c, k) in [
            (8, 8, 16, 2),
            (4, 4, 32, 2),
            (1, 29, 32, 2),
            (6, 9, 17, 3),
            (7, 10, 5, 3),
        ] {
            let mut g = Geom::d1(w, c, k, k, 0, 1);
            if h > 1 {
                (g.h, g.kh, g.sh) = (h, k, k);
            }
            // (One image under Miri: the same code paths at a third of the time.)
            extra.push((g, if cfg!(miri) { 1 } else { 3 }));
        }
        for (g, n) in extra {
            let c = ctx(&g, n);
            let x = rng.vals(g.input_len(n).unwrap());
            let len = g.output_len(n, g.c).unwrap();
            let (mut out, mut arg) = (vec![0.0; len], vec![0.0; len]);
            max_pool(&g, n, &x, &mut out, Some(&mut arg)).unwrap();
            // Tiny values too, for the flush.
            let dout: Vec<f32> = rng
                .vals(len)
                .iter()
                .enumerate()
                .map(|(i, &v)| if i % 7 == 3 { v * 1e-31 } else { v })
                .collect();
            for &act in Activation::ALL {
                let hv: Vec<f32> = rng.vals(x.len()).iter().map(|&v| act.scalar(v)).collect();
                let mut want = vec![POISON; x.len()];
                max_pool_backward(&g, n, &dout, &arg, &mut want).unwrap();
                backward_inplace_isa(Isa::active(), act, &mut want, &hv).unwrap();
                flush_tiny_inplace_isa(Isa::active(), &mut want);
                let mut got = vec![POISON; x.len()];
                let fused =
                    max_pool_backward_deriv(&g, n, &dout, &arg, act, &hv, &mut got).unwrap();
                assert_eq!(fused, g.sh >= g.kh && g.sw >= g.kw, "{c}");
                if !fused {
                    backward_inplace_isa(Isa::active(), act, &mut got, &hv).unwrap();
                    flush_tiny_inplace_isa(Isa::active(), &mut got);
                }
                fused_seen |= fused;
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0),
                        "{c} {act:?} [{i}]: got {a:e}, want {b:e}"
                    );
                }
            }
            // A wrong `h` is refused before anything is written.
            let mut dx = vec![POISON; x.len()];
            if g.sh >= g.kh && g.sw >= g.kw {
                let short = &x[..x.len() - 1];
                let r =
                    max_pool_backward_deriv(&g, n, &dout, &arg, Activation::Relu, short, &mut dx);
                assert!(r.is_err(), "{c}");
                assert!(dx.iter().all(|v| v.to_bits() == POISON.to_bits()), "{c}");
            }
        }
        assert!(fused_seen);
    });
}

/// `f(x) = ⟨max_pool(x), dout⟩` on distinct whole numbers: raising one input by ½ keeps
/// every argmax, so `f(x + ½eᵢ) − f(x) = ½·dxᵢ` exactly.
#[test]
fn max_pool_backward_matches_finite_differences() {
    each_isa(|| {
        let mut rng = Lcg(6);
        let cases = geoms(true, 16);
        let step = if cfg!(miri) { 4 } else { 1 };
        for (g, n) in cases.into_iter().step_by(step) {
            let c = ctx(&g, n);
            let len = g.input_len(n).unwrap();
            // A shuffled 0..len: distinct, exact.
            let mut x: Vec<f32> = (0..len).map(|i| i as f32).collect();
            for i in (1..len).rev() {
                x.swap(i, rng.below(i + 1));
            }
            let olen = g.output_len(n, g.c).unwrap();
            let dout = rng.dyadic(olen);
            let f = |x: &[f32]| {
                let mut out = vec![0.0; olen];
                max_pool(&g, n, x, &mut out, None).unwrap();
                dot64(&out, &dout)
            };
            let mut arg = vec![0.0; olen];
            max_pool(&g, n, &x, &mut vec![0.0; olen], Some(&mut arg)).unwrap();
            let mut dx = vec![0.0; len];
            max_pool_backward(&g, n, &dout, &arg, &mut dx).unwrap();
            let f0 = f(&x);
            for i in 0..len {
                let mut xp = x.clone();
                xp[i] += 0.5;
                assert_eq!(f(&xp) - f0, 0.5 * f64::from(dx[i]), "{c} [{i}]");
            }
        }
    });
}

#[test]
fn max_pool_backward_routes_a_bad_argmax_nowhere() {
    let g = Geom::d1(6, 2, 3, 2, 0, 1); // 2 outputs of 2 channels, 3 taps
    let dout = [1.0, 2.0, 3.0, 4.0];
    each_isa(|| {
        // An argmax is only compared with the tap indices (never an index): a value
        // within ½ of none of them sends its delta nowhere, and nothing panics.
        for bad in [
            3.0,
            -1.0,
            0.5,
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            1e30,
            3.0e9,
        ] {
            let arg = [0.0, 2.0, bad, 1.0];
            let mut dx = [7.0f32; 12];
            max_pool_backward(&g, 1, &dout, &arg, &mut dx).unwrap();
            assert_eq!(
                dx,
                [1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0],
                "{bad}"
            );
        }
        // −0 is tap 0.
        let mut dx = [7.0f32; 12];
        max_pool_backward(&g, 1, &dout, &[-0.0, 2.0, 1.0, 0.0], &mut dx).unwrap();
        assert_eq!(
            dx,
            [1.0, 0.0, 0.0, 0.0, 0.0, 6.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    });
}

#[test]
fn avg_pool_matches_reference_and_backward_is_the_adjoint() {
    each_isa(|| {
        let mut rng = Lcg(7);
        let mut cases = geoms(true, 17);
        // More than one stack chunk of channels (64).
        cases.push((
            Geom {
                c: 67,
                ..Geom::d1(5, 1, 2, 1, 0, 1)
            },
            3,
        ));
        cases.push((
            Geom {
                h: 3,
                w: 3,
                c: 130,
                kh: 2,
                kw: 2,
                sh: 1,
                sw: 1,
                ph: 0,
                pw: 0,
                dh: 1,
                dw: 1,
            },
            1,
        ));
        for (g, n) in cases {
            let c = ctx(&g, n);
            let x = rng.vals(g.input_len(n).unwrap());
            let len = g.output_len(n, g.c).unwrap();
            let mut out = vec![POISON; len];
            avg_pool(&g, n, &x, &mut out).unwrap();
            same_bits(&out, &avg_pool_ref(&g, n, &x), &c);
            let dout = rng.vals(len);
            let mut dx = vec![POISON; x.len()];
            avg_pool_backward(&g, n, &dout, &mut dx).unwrap();
            same_bits(&dx, &avg_pool_backward_ref(&g, n, &dout), &c);
            // ⟨avg(x), dout⟩ = ⟨x, avgᵀ(dout)⟩ up to the f32 roundings of both sides.
            let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            avg_pool(&g, n, &ax, &mut out).unwrap();
            let tol = rounding_bound(g.kh * g.kw, abs_dot64(&out, &dout));
            avg_pool(&g, n, &x, &mut out).unwrap();
            let (l, r) = (dot64(&out, &dout), dot64(&x, &dx));
            assert!((l - r).abs() <= tol, "{c}: {l} vs {r}");
        }
    });
}

#[test]
fn global_avg_pool_matches_reference_and_avg_pool_over_the_whole_image() {
    let mut rng = Lcg(8);
    let shapes: Vec<(usize, usize, usize, usize)> = if cfg!(miri) {
        vec![(1, 1, 1, 1), (2, 3, 17, 3), (3, 4, 3, 1), (1, 7, 16, 3)]
    } else {
        let mut v = Vec::new();
        for h in [1, 2, 3, 5, 7] {
            for w in [1, 4, 7] {
                for c in [1, 3, 16, 17, 67] {
                    for n in [1, 3] {
                        v.push((h, w, c, n));
                    }
                }
            }
        }
        v
    };
    for (h, w, c, n) in shapes {
        let hw = h * w;
        let ctx = format!("h={h} w={w} c={c} n={n}");
        let x = rng.vals(n * hw * c);
        let mut out = vec![POISON; n * c];
        global_avg_pool(hw, c, n, &x, &mut out).unwrap();
        same_bits(&out, &global_avg_pool_ref(hw, c, n, &x), &ctx);
        // The same sums in the same order as a window of the whole image.
        let g = Geom {
            h,
            w,
            c,
            kh: h,
            kw: w,
            ..Geom::d1(1, 1, 1, 1, 0, 1)
        };
        let mut avg = vec![POISON; n * c];
        avg_pool(&g, n, &x, &mut avg).unwrap();
        same_bits(&avg, &out, &ctx);
        let dout = rng.vals(n * c);
        let mut dx = vec![POISON; x.len()];
        global_avg_pool_backward(hw, c, n, &dout, &mut dx).unwrap();
        same_bits(&dx, &global_avg_pool_backward_ref(hw, c, n, &dout), &ctx);
        let mut adx = vec![POISON; x.len()];
        avg_pool_backward(&g, n, &dout, &mut adx).unwrap();
        same_bits(&adx, &dx, &ctx);
        let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let mut aout = vec![0.0; n * c];
        global_avg_pool(hw, c, n, &ax, &mut aout).unwrap();
        let tol = rounding_bound(hw, abs_dot64(&aout, &dout));
        let (l, r) = (dot64(&out, &dout), dot64(&x, &dx));
        assert!((l - r).abs() <= tol, "{ctx}: {l} vs {r}");
    }
}

// ---------------------------------------------------------------------------------------
// Depthwise convolution.

fn depthwise_cases() -> Vec<(Geom, usize)> {
    let mut v = geoms(false, 18);
    v.push((
        Geom {
            c: 67,
            ..Geom::d1(6, 1, 3, 2, 1, 1)
        },
        2,
    ));
    v
}

#[test]
fn depthwise_matches_reference_and_im2col_per_channel() {
    let mut rng = Lcg(9);
    for (g, n) in depthwise_cases() {
        let c = ctx(&g, n);
        let x = rng.vals(g.input_len(n).unwrap());
        let w = rng.vals(g.kh * g.kw * g.c);
        let bias = rng.vals(g.c);
        let len = g.output_len(n, g.c).unwrap();
        for b in [None, Some(&bias[..])] {
            let mut out = vec![POISON; len];
            depthwise(&g, n, &x, &w, b, &mut out).unwrap();
            same_bits(&out, &depthwise_ref(&g, n, &x, &w, b), &c);
        }
        // Groups of one channel: each output channel is its im2col column matrix times
        // its column of taps (the padding's zeros add ±0: compared by value).
        let mut out = vec![0.0; len];
        depthwise(&g, n, &x, &w, Some(&bias), &mut out).unwrap();
        let taps = g.kh * g.kw;
        let mut col = vec![0.0; g.col_len(n, 1).unwrap()];
        for ch in 0..g.c {
            im2col(&g, n, ch, 1, &x, &mut col).unwrap();
            for (p, row) in col.chunks_exact(taps).enumerate() {
                let mut s = bias[ch];
                for (t, &v) in row.iter().enumerate() {
                    s += v * w[t * g.c + ch];
                }
                assert!(s == out[p * g.c + ch], "{c} ch={ch} p={p}");
            }
        }
    }
}

#[test]
fn depthwise_backward_input_matches_reference_and_is_the_adjoint() {
    let mut rng = Lcg(10);
    for (g, n) in depthwise_cases() {
        let c = ctx(&g, n);
        let len = g.output_len(n, g.c).unwrap();
        let dout = rng.vals(len);
        let w = rng.vals(g.kh * g.kw * g.c);
        let mut dx = vec![POISON; g.input_len(n).unwrap()];
        depthwise_backward_input(&g, n, &dout, &w, &mut dx).unwrap();
        same_bits(&dx, &depthwise_backward_input_ref(&g, n, &dout, &w), &c);
        // Exact on dyadic data: ⟨depthwise(x, w), dout⟩ = ⟨x, dx⟩.
        let (x, w, dout) = (rng.dyadic(dx.len()), rng.dyadic(w.len()), rng.dyadic(len));
        let mut out = vec![0.0; len];
        depthwise(&g, n, &x, &w, None, &mut out).unwrap();
        depthwise_backward_input(&g, n, &dout, &w, &mut dx).unwrap();
        assert_eq!(dot64(&out, &dout), dot64(&x, &dx), "{c}");
    }
}

#[test]
fn depthwise_backward_weight_matches_reference_blas_style_and_is_the_adjoint() {
    let mut rng = Lcg(11);
    for (g, n) in depthwise_cases() {
        let c = ctx(&g, n);
        let len = g.output_len(n, g.c).unwrap();
        let x = rng.vals(g.input_len(n).unwrap());
        let dout = rng.vals(len);
        let wlen = g.kh * g.kw * g.c;
        // β = 0 never reads dw (poisoned); then SGD in place, and a general α, β.
        let mut dw = vec![POISON; wlen];
        depthwise_backward_weight(&g, n, &x, &dout, 1.0, 0.0, &mut dw).unwrap();
        same_bits(
            &dw,
            &depthwise_backward_weight_ref(&g, n, &x, &dout, 1.0, 0.0, &dw),
            &c,
        );
        for (alpha, beta) in [(-0.1, 1.0), (0.75, -0.5), (-2.0, 0.0)] {
            let before = rng.vals(wlen);
            let mut dw = before.clone();
            depthwise_backward_weight(&g, n, &x, &dout, alpha, beta, &mut dw).unwrap();
            let want = depthwise_backward_weight_ref(&g, n, &x, &dout, alpha, beta, &before);
            same_bits(&dw, &want, &format!("{c} α={alpha} β={beta}"));
        }
        // Exact on dyadic data: ⟨depthwise(x, w), dout⟩ = ⟨w, dw⟩.
        let (x, w, dout) = (rng.dyadic(x.len()), rng.dyadic(wlen), rng.dyadic(len));
        let mut out = vec![0.0; len];
        depthwise(&g, n, &x, &w, None, &mut out).unwrap();
        depthwise_backward_weight(&g, n, &x, &dout, 1.0, 0.0, &mut dw).unwrap();
        assert_eq!(dot64(&out, &dout), dot64(&w, &dw), "{c}");
    }
}

// ---------------------------------------------------------------------------------------
// Errors and empty batches.

/// Buffers of the lengths a call needs, with one of them (or none) a value too long or
/// too short.
fn lens_off(lens: &[usize]) -> Vec<Vec<usize>> {
    let mut v = Vec::new();
    for i in 0..lens.len() {
        for delta in [-1i64, 1] {
            let mut l = lens.to_vec();
            let Some(m) = l[i].checked_add_signed(delta as isize) else {
                continue;
            };
            l[i] = m;
            v.push(l);
        }
    }
    v
}

#[test]
fn bad_lengths_are_shape_errors_that_write_nothing() {
    let g = Geom {
        h: 3,
        w: 4,
        c: 3,
        kh: 2,
        kw: 2,
        sh: 1,
        sw: 2,
        ph: 0,
        pw: 0,
        dh: 1,
        dw: 1,
    };
    let n = 2;
    let (il, ol) = (g.input_len(n).unwrap(), g.output_len(n, g.c).unwrap());
    let (cl, wl) = (g.col_len(n, 2).unwrap(), g.kh * g.kw * g.c);
    let mut rng = Lcg(12);
    let shape = |r: Result<(), Error>, what: &str| {
        assert!(
            matches!(r, Err(Error::ShapeMismatch { .. })),
            "{what}: {r:?}"
        );
    };
    let unchanged = |got: &[f32], before: &[f32], what: &str| same_bits(got, before, what);
    // Each kernel with each of its buffers a value off; the written one is unchanged.
    for l in lens_off(&[il, cl]) {
        let (x, mut col) = (rng.vals(l[0]), rng.vals(l[1]));
        let before = col.clone();
        shape(im2col(&g, n, 1, 2, &x, &mut col), "im2col");
        unchanged(&col, &before, "im2col");
        let mut dx = x.clone();
        shape(col2im_add(&g, n, 1, 2, &col, &mut dx), "col2im_add");
        unchanged(&dx, &x, "col2im_add");
    }
    for l in lens_off(&[il, ol, ol]) {
        let (x, mut out, mut arg) = (rng.vals(l[0]), rng.vals(l[1]), rng.vals(l[2]));
        let (o0, a0) = (out.clone(), arg.clone());
        shape(max_pool(&g, n, &x, &mut out, Some(&mut arg)), "max_pool");
        unchanged(&out, &o0, "max_pool out");
        unchanged(&arg, &a0, "max_pool argmax");
        let arg = vec![0.0; l[2]];
        let mut dx = x.clone();
        shape(
            max_pool_backward(&g, n, &out, &arg, &mut dx),
            "max_pool_backward",
        );
        unchanged(&dx, &x, "max_pool_backward");
        if l[2] == ol {
            shape(avg_pool(&g, n, &x, &mut out), "avg_pool");
            unchanged(&out, &o0, "avg_pool");
            shape(avg_pool_backward(&g, n, &out, &mut dx), "avg_pool_backward");
            unchanged(&dx, &x, "avg_pool_backward");
        }
    }
    for l in lens_off(&[il, wl, g.c, ol]) {
        let (x, w, b, mut out) = (
            rng.vals(l[0]),
            rng.vals(l[1]),
            rng.vals(l[2]),
            rng.vals(l[3]),
        );
        let o0 = out.clone();
        shape(depthwise(&g, n, &x, &w, Some(&b), &mut out), "depthwise");
        unchanged(&out, &o0, "depthwise");
        let mut dx = x.clone();
        if l[2] == g.c {
            shape(
                depthwise_backward_input(&g, n, &out, &w, &mut dx),
                "dw input",
            );
            unchanged(&dx, &x, "depthwise_backward_input");
            let mut dw = w.clone();
            shape(
                depthwise_backward_weight(&g, n, &x, &out, 1.0, 0.0, &mut dw),
                "dw weight",
            );
            unchanged(&dw, &w, "depthwise_backward_weight");
        }
    }
    for l in lens_off(&[n * 12 * 3, n * 3]) {
        let (x, mut out) = (rng.vals(l[0]), rng.vals(l[1]));
        let o0 = out.clone();
        shape(global_avg_pool(12, 3, n, &x, &mut out), "global_avg_pool");
        unchanged(&out, &o0, "global_avg_pool");
        let mut dx = x.clone();
        shape(
            global_avg_pool_backward(12, 3, n, &out, &mut dx),
            "global backward",
        );
        unchanged(&dx, &x, "global_avg_pool_backward");
    }
    // Argmax of the wrong length with a right-length output, and a wrong bias alone.
    let (x, mut out, mut arg) = (rng.vals(il), vec![0.0; ol], vec![0.0; ol + 3]);
    shape(max_pool(&g, n, &x, &mut out, Some(&mut arg)), "argmax");
    assert!(out.iter().chain(&arg).all(|&v| v == 0.0));
    let w = rng.vals(wl);
    shape(depthwise(&g, n, &x, &w, Some(&[1.0; 4]), &mut out), "bias");
    assert!(out.iter().all(|&v| v == 0.0));
}

#[test]
fn bad_arguments_are_errors_that_write_nothing() {
    let ok = Geom {
        h: 3,
        w: 4,
        c: 3,
        kh: 2,
        kw: 2,
        sh: 1,
        sw: 1,
        ph: 0,
        pw: 0,
        dh: 1,
        dw: 1,
    };
    let x = [1.0f32; 36];
    let mut buf = [5.0f32; 256];
    let invalid = |r: Result<(), Error>, what: &str| {
        assert!(
            matches!(r, Err(Error::InvalidArgument { .. })),
            "{what}: {r:?}"
        );
    };
    // Channel groups outside 0..c, or empty.
    for (c0, cg) in [
        (0, 0),
        (0, 4),
        (1, 3),
        (3, 1),
        (usize::MAX, 2),
        (2, usize::MAX),
    ] {
        let len = ok.col_len(1, cg.min(8)).unwrap();
        invalid(im2col(&ok, 1, c0, cg, &x, &mut buf[..len]), "im2col group");
        let mut dx = x;
        invalid(
            col2im_add(&ok, 1, c0, cg, &buf[..len], &mut dx),
            "col2im group",
        );
        assert_eq!(dx, x);
    }
    // Pooling with padding or dilation.
    for g in [
        Geom { pw: 1, ..ok },
        Geom { ph: 1, ..ok },
        Geom { dw: 2, kw: 2, ..ok },
        Geom { dh: 2, ..ok },
    ] {
        let ol = g.output_len(1, 3).unwrap();
        let (o, a) = buf.split_at_mut(128);
        invalid(
            max_pool(&g, 1, &x, &mut o[..ol], Some(&mut a[..ol])),
            "max_pool geom",
        );
        invalid(avg_pool(&g, 1, &x, &mut o[..ol]), "avg_pool geom");
        let mut dx = x;
        invalid(
            max_pool_backward(&g, 1, &o[..ol], &a[..ol], &mut dx),
            "backward geom",
        );
        invalid(
            avg_pool_backward(&g, 1, &o[..ol], &mut dx),
            "avg backward geom",
        );
        assert_eq!(dx, x);
    }
    // An invalid geometry reaches every kernel as its check's error.
    let bad = Geom { sw: 0, ..ok };
    invalid(im2col(&bad, 1, 0, 3, &x, &mut buf), "im2col");
    invalid(
        depthwise(&bad, 1, &x, &x[..12], None, &mut buf),
        "depthwise",
    );
    // Global pooling of nothing.
    invalid(global_avg_pool(0, 3, 1, &[], &mut buf[..3]), "hw = 0");
    invalid(global_avg_pool_backward(4, 0, 1, &[], &mut []), "c = 0");
    assert!(buf.iter().all(|&v| v == 5.0));
    // A batch size whose lengths overflow.
    let r = max_pool(&ok, usize::MAX, &x, &mut buf, None);
    assert!(matches!(r, Err(Error::Overflow { .. })), "{r:?}");
    let r = global_avg_pool(usize::MAX, 2, 3, &x, &mut buf);
    assert!(matches!(r, Err(Error::Overflow { .. })), "{r:?}");
    let r = im2col(&ok, usize::MAX / 2, 0, 3, &x, &mut buf);
    assert!(matches!(r, Err(Error::Overflow { .. })), "{r:?}");
    assert!(buf.iter().all(|&v| v == 5.0));
}

#[test]
fn empty_batches_are_fine() {
    let g = Geom::d1(5, 3, 3, 1, 1, 1);
    let mut none: [f32; 0] = [];
    im2col(&g, 0, 0, 3, &[], &mut none).unwrap();
    col2im_add(&g, 0, 0, 3, &[], &mut none).unwrap();
    depthwise(&g, 0, &[], &[0.0; 9], None, &mut none).unwrap();
    depthwise_backward_input(&g, 0, &[], &[0.0; 9], &mut none).unwrap();
    let mut dw = [POISON; 9];
    depthwise_backward_weight(&g, 0, &[], &[], 1.0, 0.0, &mut dw).unwrap();
    assert_eq!(dw, [0.0; 9]); // α·(an empty sum)
    let p = Geom::d1(5, 3, 2, 2, 0, 1);
    max_pool(&p, 0, &[], &mut [], Some(&mut [])).unwrap();
    max_pool_backward(&p, 0, &[], &[], &mut []).unwrap();
    avg_pool(&p, 0, &[], &mut []).unwrap();
    avg_pool_backward(&p, 0, &[], &mut []).unwrap();
    global_avg_pool(4, 3, 0, &[], &mut []).unwrap();
    global_avg_pool_backward(4, 3, 0, &[], &mut []).unwrap();
}
