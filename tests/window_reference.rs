//! The f64 references of `tests/common/reference.rs` pinned down: `conv2d_f64` against
//! PyTorch's `conv2d` written independently in its own convention (NCHW input,
//! `weight[oc][ci][ky][kx]`, zero-padded first), with PyTorch weights converted to ours
//! by `W[(ky·kw + kx)·cg_in + ci][oc] = weight[oc][ci][ky][kx]`, over 1-D and 2-D
//! geometries with strides, padding, dilation and groups; hand-computed examples of
//! every reference; a 1 × 1 convolution equal to `dense_f64`; `act_f64` against the
//! crate's activations.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::reference::*;
use common::rng;
use microprop::Activation;
use rand::RngExt;
use rand::rngs::StdRng;

/// A convolution in PyTorch's terms (`torch.nn.functional.conv2d`).
#[derive(Clone, Copy, Debug)]
struct Conv {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
    groups: usize,
}

impl Conv {
    /// PyTorch's documented output size, `⌊(H + 2p − d·(k − 1) − 1)/s + 1⌋`, in signed
    /// arithmetic.
    fn out(&self) -> (usize, usize) {
        let f = |len: usize, p: usize, d: usize, k: usize, s: usize| {
            let v = (len as i64 + 2 * p as i64 - d as i64 * (k as i64 - 1) - 1)
                .div_euclid(s as i64)
                + 1;
            v.max(0) as usize
        };
        (
            f(self.h, self.ph, self.dh, self.kh, self.sh),
            f(self.w, self.pw, self.dw, self.kw, self.sw),
        )
    }

    /// `conv2d_f64` on channels-last data and our weight layout.
    fn ours(&self, x: &[f64], weights: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        conv2d_f64(
            x,
            self.n,
            self.h,
            self.w,
            self.c_in,
            weights,
            bias,
            self.c_out,
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph,
            self.pw,
            self.dh,
            self.dw,
            self.groups,
        )
    }

    /// PyTorch's conv2d on NCHW data: the input zero-padded into a larger tensor, then
    /// `out[b][oc][oy][ox] = bias[oc] + Σ_{ci, ky, kx} xpad[b][g·cg_in + ci][oy·sh + ky·dh][ox·sw + kx·dw]·weight[oc][ci][ky][kx]`
    /// with `g = oc / (c_out / groups)`. Returns NCHW.
    fn pytorch(&self, x_nchw: &[f64], weight: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        let c = *self;
        let (hp, wp) = (c.h + 2 * c.ph, c.w + 2 * c.pw);
        let mut xpad = vec![0.0; c.n * c.c_in * hp * wp];
        for b in 0..c.n {
            for ch in 0..c.c_in {
                for y in 0..c.h {
                    for x in 0..c.w {
                        xpad[((b * c.c_in + ch) * hp + y + c.ph) * wp + x + c.pw] =
                            x_nchw[((b * c.c_in + ch) * c.h + y) * c.w + x];
                    }
                }
            }
        }
        let (cg_in, cg_out) = (c.c_in / c.groups, c.c_out / c.groups);
        let (oh, ow) = c.out();
        let mut out = vec![0.0; c.n * c.c_out * oh * ow];
        for b in 0..c.n {
            for oc in 0..c.c_out {
                let g = oc / cg_out;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = bias.map_or(0.0, |bias| bias[oc]);
                        for ci in 0..cg_in {
                            for ky in 0..c.kh {
                                for kx in 0..c.kw {
                                    let (y, x) = (oy * c.sh + ky * c.dh, ox * c.sw + kx * c.dw);
                                    let xv =
                                        xpad[((b * c.c_in + g * cg_in + ci) * hp + y) * wp + x];
                                    let wv = weight[((oc * cg_in + ci) * c.kh + ky) * c.kw + kx];
                                    s += xv * wv;
                                }
                            }
                        }
                        out[((b * c.c_out + oc) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        out
    }
}

fn vals(rng: &mut StdRng, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// `[b][y][x][ch]` to `[b][ch][y][x]`.
fn nhwc_to_nchw(x: &[f64], n: usize, h: usize, w: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for b in 0..n {
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
                }
            }
        }
    }
    out
}

/// A random convolution: a third 1-D, strides 1–3, padding 0–3 (PyTorch takes any),
/// dilation 1–3, groups dividing both channel counts (depthwise among them).
fn random_conv(rng: &mut StdRng) -> Conv {
    loop {
        let one_d = rng.random_range(0..3) == 0;
        let groups = [1, 1, 2, 3][rng.random_range(0..4)];
        let c_in = groups * rng.random_range(1..4);
        let c_out = groups * rng.random_range(1..4);
        let mut c = Conv {
            n: rng.random_range(1..4),
            c_in,
            h: 1,
            w: rng.random_range(1..9),
            c_out,
            kh: 1,
            kw: rng.random_range(1..5),
            sh: 1,
            sw: rng.random_range(1..4),
            ph: 0,
            pw: rng.random_range(0..4),
            dh: 1,
            dw: rng.random_range(1..4),
            groups,
        };
        if !one_d {
            c.h = rng.random_range(1..7);
            c.kh = rng.random_range(1..4);
            c.sh = rng.random_range(1..4);
            c.ph = rng.random_range(0..3);
            c.dh = rng.random_range(1..3);
        }
        let (oh, ow) = c.out();
        if oh > 0 && ow > 0 {
            return c;
        }
    }
}

#[test]
fn conv2d_f64_matches_pytorch_nchw_convention() {
    let mut rng = rng(17);
    let cases = if cfg!(miri) { 10 } else { 400 };
    for _ in 0..cases {
        let c = random_conv(&mut rng);
        let cg_in = c.c_in / c.groups;
        let x = vals(&mut rng, c.n * c.h * c.w * c.c_in);
        // PyTorch's weight[oc][ci][ky][kx], converted to our (kh·kw·cg_in) × c_out.
        let weight = vals(&mut rng, c.c_out * cg_in * c.kh * c.kw);
        let mut ours_w = vec![f64::NAN; weight.len()];
        for oc in 0..c.c_out {
            for ci in 0..cg_in {
                for ky in 0..c.kh {
                    for kx in 0..c.kw {
                        ours_w[((ky * c.kw + kx) * cg_in + ci) * c.c_out + oc] =
                            weight[((oc * cg_in + ci) * c.kh + ky) * c.kw + kx];
                    }
                }
            }
        }
        assert!(
            ours_w.iter().all(|v| !v.is_nan()),
            "the conversion is a bijection"
        );
        let bias = vals(&mut rng, c.c_out);
        let (oh, ow) = c.out();
        for b in [None, Some(&bias[..])] {
            let got = c.ours(&x, &ours_w, b);
            let want = nchw_to_nhwc(
                &c.pytorch(&nhwc_to_nchw(&x, c.n, c.h, c.w, c.c_in), &weight, b),
                c.n,
                oh,
                ow,
                c.c_out,
            );
            assert_eq!(got.len(), want.len(), "{c:?}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                    "{c:?} [{i}]: {g} vs {w}"
                );
            }
        }
    }
}

/// `[b][ch][y][x]` to `[b][y][x][ch]`.
fn nchw_to_nhwc(x: &[f64], n: usize, h: usize, w: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
                }
            }
        }
    }
    out
}

/// 1-D convolution of one channel, in our argument order.
fn conv1d(x: &[f64], k: &[f64], stride: usize, pad: usize, dil: usize) -> Vec<f64> {
    conv2d_f64(
        x,
        1,
        1,
        x.len(),
        1,
        k,
        None,
        1,
        1,
        k.len(),
        1,
        stride,
        0,
        pad,
        1,
        dil,
        1,
    )
}

#[test]
fn conv2d_f64_by_hand() {
    // Cross-correlation: the kernel is not flipped.
    let x = [1.0, 2.0, 3.0, 4.0];
    let k = [1.0, 0.0, -1.0];
    assert_eq!(conv1d(&x, &k, 1, 0, 1), [-2.0, -2.0]);
    assert_eq!(conv1d(&x, &k, 1, 1, 1), [-2.0, -2.0, -2.0, 3.0]);
    assert_eq!(conv1d(&x, &k, 2, 1, 1), [-2.0, -2.0]);
    assert_eq!(conv1d(&x, &[1.0, -1.0], 1, 0, 2), [-2.0, -2.0]);
    assert_eq!(conv1d(&x, &[1.0], 3, 0, 1), [1.0, 4.0]);
    // 2-D, 3 × 3 image 1..9, kernel [[1, 0], [0, −1]]: x[y][x] − x[y + 1][x + 1].
    let img: Vec<f64> = (1..=9).map(f64::from).collect();
    let w = [1.0, 0.0, 0.0, -1.0]; // rows (ky·kw + kx)
    let out = conv2d_f64(&img, 1, 3, 3, 1, &w, None, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1);
    assert_eq!(out, [-4.0; 4]);
    // Channels-last, two groups of one channel with bias: out ch0 = 2·x ch0 + 0.5,
    // out ch1 = 3·x ch1 − 1 (weights: one row, cg_in = 1, of c_out = 2 columns).
    let x = [1.0, 10.0, 2.0, 20.0]; // 2 positions of 2 channels
    let out = conv2d_f64(
        &x,
        1,
        1,
        2,
        2,
        &[2.0, 3.0],
        Some(&[0.5, -1.0]),
        2,
        1,
        1,
        1,
        1,
        0,
        0,
        1,
        1,
        2,
    );
    assert_eq!(out, [2.5, 29.0, 4.5, 59.0]);
    // One group: out oc = Σ_ci x ci · W[ci][oc].
    let w = [1.0, 2.0, 3.0, 4.0]; // W[0] = [1, 2], W[1] = [3, 4]
    let out = conv2d_f64(&x, 1, 1, 2, 2, &w, None, 2, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    assert_eq!(out, [31.0, 42.0, 62.0, 84.0]);
}

/// A 1 × 1 convolution is a dense layer over the pixels, in the same weight layout.
#[test]
fn one_by_one_conv_is_dense() {
    let mut rng = rng(18);
    let (n, h, w, c_in, c_out) = (2, 3, 4, 5, 3);
    let x = vals(&mut rng, n * h * w * c_in);
    let wt = vals(&mut rng, c_in * c_out);
    let b = vals(&mut rng, c_out);
    let conv = conv2d_f64(
        &x,
        n,
        h,
        w,
        c_in,
        &wt,
        Some(&b),
        c_out,
        1,
        1,
        1,
        1,
        0,
        0,
        1,
        1,
        1,
    );
    let dense = dense_f64(&x, n * h * w, c_in, &wt, Some(&b), c_out);
    for (a, d) in conv.iter().zip(&dense) {
        assert!((a - d).abs() <= 1e-14, "{a} vs {d}");
    }
    assert_eq!(
        dense_f64(&[1.0, 2.0], 1, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], None, 3),
        [9.0, 12.0, 15.0]
    );
}

#[test]
fn pooling_references_by_hand() {
    // 4 × 4 image 1..16, two channels: ch1 = −ch0.
    let x: Vec<f64> = (1..=16)
        .flat_map(|v| [f64::from(v), -f64::from(v)])
        .collect();
    let max = max_pool_f64(&x, 1, 4, 4, 2, 2, 2, 2, 2);
    assert_eq!(max, [6.0, -1.0, 8.0, -3.0, 14.0, -9.0, 16.0, -11.0]);
    let avg = avg_pool_f64(&x, 1, 4, 4, 2, 2, 2, 2, 2);
    assert_eq!(avg, [3.5, -3.5, 5.5, -5.5, 11.5, -11.5, 13.5, -13.5]);
    // A window that does not divide the width: 3 wide, stride 2 over 4 columns.
    let row = [1.0, 5.0, 2.0, 7.0];
    assert_eq!(max_pool_f64(&row, 1, 1, 4, 1, 1, 3, 1, 2), [5.0]);
    assert_eq!(avg_pool_f64(&row, 1, 1, 4, 1, 1, 2, 1, 2), [3.0, 4.5]);
    assert!(max_pool_f64(&[1.0, f64::NAN, 3.0], 1, 1, 3, 1, 1, 3, 1, 1)[0].is_nan());
    // Global: the mean of the 16 positions, per image and channel.
    let mut two = x.clone();
    two.extend(x.iter().map(|v| v * 2.0));
    assert_eq!(
        global_avg_pool_f64(&two, 2, 16, 2),
        [8.5, -8.5, 17.0, -17.0]
    );
    // Over the whole image, average pooling is the global average.
    assert_eq!(
        avg_pool_f64(&x, 1, 4, 4, 2, 4, 4, 1, 1),
        global_avg_pool_f64(&x, 1, 16, 2)
    );
    assert_eq!(out_size(7, 2, 2, 0, 1), 3);
    assert_eq!(out_size(3, 3, 1, 0, 2), 0);
}

#[test]
fn act_f64_matches_the_crate() {
    for &a in Activation::ALL {
        for z in [-6.0f32, -1.5, -0.25, 0.0, 0.3, 2.0, 7.5] {
            let want = act_f64(a, f64::from(z));
            let got = f64::from(a.scalar(z));
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{}: {z}: {got} vs {want}",
                a.name()
            );
        }
    }
}
