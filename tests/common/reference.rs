//! f64 references of the layers, for gradient checks: convolution (1-D and 2-D, strides,
//! padding, dilation, groups), max, average and global average pooling, a dense layer
//! and the activations. Plain nested loops over the crate's layouts:
//!
//! * images channels-last, a batch of `n` as `n × h × w × c` row-major
//!   (`[img][y][x][ch]`); a 1-D sequence is an image with `h = 1` (`n × len × c`);
//! * convolution weights a row-major `(kh·kw·cg_in) × c_out` matrix, row
//!   `(ky·kw + kx)·cg_in + ci`, column `oc`, with `cg_in = c_in / groups`: output channel
//!   `oc` is in group `g = oc / (c_out / groups)` and reads input channels
//!   `g·cg_in .. (g + 1)·cg_in`. PyTorch's `Conv2d.weight[oc][ci][ky][kx]` is our
//!   `W[(ky·kw + kx)·cg_in + ci][oc]` (pinned by `tests/window_reference.rs`);
//! * dense weights `d_in × d_out` row-major (a 1 × 1 convolution's layout).
//!
//! Every function panics on inconsistent sizes, naming them.

use microprop::Activation;

/// Output length along one axis: `(len + 2·pad − dil·(k − 1) − 1) / stride + 1`, or 0 when
/// the dilated kernel is longer than the padded input (PyTorch's formula).
pub fn out_size(len: usize, k: usize, stride: usize, pad: usize, dil: usize) -> usize {
    assert!(
        k >= 1 && stride >= 1 && dil >= 1,
        "out_size: k, stride, dil ≥ 1"
    );
    let span = dil * (k - 1) + 1;
    if span > len + 2 * pad {
        0
    } else {
        (len + 2 * pad - span) / stride + 1
    }
}

/// Input index of tap `k` of output position `o` along one axis, `None` in the padding.
fn tap(o: usize, k: usize, stride: usize, pad: usize, dil: usize, len: usize) -> Option<usize> {
    let i = (o * stride + k * dil) as isize - pad as isize;
    (0..len as isize).contains(&i).then_some(i as usize)
}

/// Convolution (cross-correlation, PyTorch's `conv2d`) of `n` channels-last images
/// `h × w × c_in` with weights `(kh·kw·cg_in) × c_out` (see the module docs), zero padding
/// `ph`, `pw`, strides `sh`, `sw`, dilations `dh`, `dw` and `groups` groups; plus `bias`
/// (`c_out` values). Returns `n × oh × ow × c_out` ([`out_size`]). 1-D: `h = 1`, `kh = 1`,
/// `sh = 1`, `ph = 0`, `dh = 1`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_f64(
    x: &[f64],
    n: usize,
    h: usize,
    w: usize,
    c_in: usize,
    weights: &[f64],
    bias: Option<&[f64]>,
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
) -> Vec<f64> {
    assert!(
        groups >= 1 && c_in.is_multiple_of(groups) && c_out.is_multiple_of(groups),
        "conv2d_f64: groups ({groups}) must divide c_in ({c_in}) and c_out ({c_out})"
    );
    let (cg_in, cg_out) = (c_in / groups, c_out / groups);
    assert_eq!(x.len(), n * h * w * c_in, "conv2d_f64: x is n·h·w·c_in");
    assert_eq!(
        weights.len(),
        kh * kw * cg_in * c_out,
        "conv2d_f64: weights are (kh·kw·cg_in) × c_out"
    );
    if let Some(b) = bias {
        assert_eq!(b.len(), c_out, "conv2d_f64: bias has c_out values");
    }
    let (oh, ow) = (out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw));
    let mut out = vec![0.0; n * oh * ow * c_out];
    for img in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..c_out {
                    let g = oc / cg_out;
                    let mut s = bias.map_or(0.0, |b| b[oc]);
                    for ky in 0..kh {
                        let Some(iy) = tap(oy, ky, sh, ph, dh, h) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = tap(ox, kx, sw, pw, dw, w) else {
                                continue;
                            };
                            for ci in 0..cg_in {
                                let xv = x[((img * h + iy) * w + ix) * c_in + g * cg_in + ci];
                                let wv = weights[((ky * kw + kx) * cg_in + ci) * c_out + oc];
                                s += xv * wv;
                            }
                        }
                    }
                    out[((img * oh + oy) * ow + ox) * c_out + oc] = s;
                }
            }
        }
    }
    out
}

/// Calls `f(out index, window values)` for every output of a pooling with no padding.
#[allow(clippy::too_many_arguments)]
fn pool(
    x: &[f64],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    mut f: impl FnMut(usize, &[f64]),
) -> usize {
    assert_eq!(x.len(), n * h * w * c, "pooling: x is n·h·w·c");
    let (oh, ow) = (out_size(h, kh, sh, 0, 1), out_size(w, kw, sw, 0, 1));
    let mut window = Vec::with_capacity(kh * kw);
    for img in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    window.clear();
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let (y, xx) = (oy * sh + ky, ox * sw + kx);
                            window.push(x[((img * h + y) * w + xx) * c + ch]);
                        }
                    }
                    f(((img * oh + oy) * ow + ox) * c + ch, &window);
                }
            }
        }
    }
    n * oh * ow * c
}

/// Max pooling (no padding, no dilation) of `n` channels-last images: `n × oh × ow × c`.
/// A window holding a NaN gives NaN.
#[allow(clippy::too_many_arguments)]
pub fn max_pool_f64(
    x: &[f64],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
) -> Vec<f64> {
    let len = n * out_size(h, kh, sh, 0, 1) * out_size(w, kw, sw, 0, 1) * c;
    let mut out = vec![0.0; len];
    pool(x, n, h, w, c, kh, kw, sh, sw, |o, win| {
        out[o] = if win.iter().any(|v| v.is_nan()) {
            f64::NAN
        } else {
            win.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        };
    });
    out
}

/// Average pooling (no padding, no dilation; every window has `kh·kw` values) of `n`
/// channels-last images: `n × oh × ow × c`.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool_f64(
    x: &[f64],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
) -> Vec<f64> {
    let len = n * out_size(h, kh, sh, 0, 1) * out_size(w, kw, sw, 0, 1) * c;
    let mut out = vec![0.0; len];
    pool(x, n, h, w, c, kh, kw, sh, sw, |o, win| {
        out[o] = win.iter().sum::<f64>() / win.len() as f64;
    });
    out
}

/// Global average pooling: `n × c`, the mean of each image's `hw` positions
/// (`x` is `n × hw × c`).
pub fn global_avg_pool_f64(x: &[f64], n: usize, hw: usize, c: usize) -> Vec<f64> {
    assert_eq!(x.len(), n * hw * c, "global_avg_pool_f64: x is n·hw·c");
    let mut out = vec![0.0; n * c];
    for img in 0..n {
        for ch in 0..c {
            let s: f64 = (0..hw).map(|p| x[(img * hw + p) * c + ch]).sum();
            out[img * c + ch] = s / hw as f64;
        }
    }
    out
}

/// A dense layer: `n × d_out`, `out[r][j] = bias[j] + Σᵢ x[r][i]·w[i][j]` with `x`
/// `n × d_in` and `w` `d_in × d_out`, both row-major.
pub fn dense_f64(
    x: &[f64],
    n: usize,
    d_in: usize,
    w: &[f64],
    bias: Option<&[f64]>,
    d_out: usize,
) -> Vec<f64> {
    assert_eq!(x.len(), n * d_in, "dense_f64: x is n × d_in");
    assert_eq!(w.len(), d_in * d_out, "dense_f64: w is d_in × d_out");
    if let Some(b) = bias {
        assert_eq!(b.len(), d_out, "dense_f64: bias has d_out values");
    }
    let mut out = vec![0.0; n * d_out];
    for r in 0..n {
        for j in 0..d_out {
            let s: f64 = (0..d_in).map(|i| x[r * d_in + i] * w[i * d_out + j]).sum();
            out[r * d_out + j] = bias.map_or(0.0, |b| b[j]) + s;
        }
    }
    out
}

/// The activation `a` in f64.
pub fn act_f64(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Identity => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        _ => panic!(
            "tests/common/reference.rs has no f64 reference for {}: add its arm",
            a.name()
        ),
    }
}
