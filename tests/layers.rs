//! Every layer kind in a [`Net`]: the forward pass against an f64 reference written
//! from the definitions (PyTorch's, in channels-last layout), and every gradient
//! (weights, biases, and through every kind's input gradient) against central finite
//! differences of that reference, over strides, paddings, dilations, groups and odd
//! sizes, on every instruction set.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::{fill, for_each_isa_once_under_miri as for_each_isa, rng};
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::Net;
use microprop::{Activation, Loss, Target};

fn act64(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Identity => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        other => panic!("no f64 reference for {other:?}"),
    }
}

/// A convolution's parameters, whichever its dimension.
struct Conv {
    cin: usize,
    cout: usize,
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    d: (usize, usize),
    groups: usize,
    act: Activation,
    bias: bool,
}

fn conv_of(layer: &Layer) -> Option<Conv> {
    match *layer {
        Layer::Conv1d(c) => Some(Conv {
            cin: c.in_channels,
            cout: c.out_channels,
            k: (1, c.kernel),
            s: (1, c.stride),
            p: (0, c.padding),
            d: (1, c.dilation),
            groups: c.groups,
            act: c.act,
            bias: c.bias,
        }),
        Layer::Conv2d(c) => Some(Conv {
            cin: c.in_channels,
            cout: c.out_channels,
            k: c.kernel,
            s: c.stride,
            p: c.padding,
            d: c.dilation,
            groups: c.groups,
            act: c.act,
            bias: c.bias,
        }),
        _ => None,
    }
}

/// One example through one layer, in f64: `x` is `h × w × c` channels-last; returns
/// the output and its shape.
fn layer64(layer: &Layer, input: Shape, p: &[f64], x: &[f64]) -> (Vec<f64>, Shape) {
    let (h, w, c) = (input.h, input.w, input.c);
    if let Some(cv) = conv_of(layer) {
        let oh = (h + 2 * cv.p.0 - cv.d.0 * (cv.k.0 - 1) - 1) / cv.s.0 + 1;
        let ow = (w + 2 * cv.p.1 - cv.d.1 * (cv.k.1 - 1) - 1) / cv.s.1 + 1;
        let (cg, og) = (cv.cin / cv.groups, cv.cout / cv.groups);
        let wlen = cv.k.0 * cv.k.1 * cg * cv.cout;
        let mut out = vec![0.0; oh * ow * cv.cout];
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..cv.cout {
                    let g = oc / og;
                    let mut z = if cv.bias { p[wlen + oc] } else { 0.0 };
                    for ky in 0..cv.k.0 {
                        for kx in 0..cv.k.1 {
                            let iy = (oy * cv.s.0 + ky * cv.d.0) as isize - cv.p.0 as isize;
                            let ix = (ox * cv.s.1 + kx * cv.d.1) as isize - cv.p.1 as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ci in 0..cg {
                                let xv = x[(iy as usize * w + ix as usize) * c + g * cg + ci];
                                let row = (ky * cv.k.1 + kx) * cg + ci;
                                z += xv * p[row * cv.cout + oc];
                            }
                        }
                    }
                    out[(oy * ow + ox) * cv.cout + oc] = act64(cv.act, z);
                }
            }
        }
        return (out, Shape::image(oh, ow, cv.cout));
    }
    let pool = match *layer {
        Layer::MaxPool1d(q) => Some((true, (1, q.kernel), (1, q.stride))),
        Layer::AvgPool1d(q) => Some((false, (1, q.kernel), (1, q.stride))),
        Layer::MaxPool2d(q) => Some((true, q.kernel, q.stride)),
        Layer::AvgPool2d(q) => Some((false, q.kernel, q.stride)),
        _ => None,
    };
    if let Some((max, k, s)) = pool {
        let (oh, ow) = ((h - k.0) / s.0 + 1, (w - k.1) / s.1 + 1);
        let mut out = vec![0.0; oh * ow * c];
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                    for ky in 0..k.0 {
                        for kx in 0..k.1 {
                            let v = x[((oy * s.0 + ky) * w + ox * s.1 + kx) * c + ch];
                            acc = if max { acc.max(v) } else { acc + v };
                        }
                    }
                    if !max {
                        acc /= (k.0 * k.1) as f64;
                    }
                    out[(oy * ow + ox) * c + ch] = acc;
                }
            }
        }
        return (out, Shape::image(oh, ow, c));
    }
    match *layer {
        Layer::Dense(d) => {
            let mut out = vec![0.0; d.outputs];
            for (j, o) in out.iter_mut().enumerate() {
                let mut z = if d.bias {
                    p[d.inputs * d.outputs + j]
                } else {
                    0.0
                };
                for (i, &xv) in x.iter().enumerate() {
                    z += xv * p[i * d.outputs + j];
                }
                *o = act64(d.act, z);
            }
            (out, Shape::flat(d.outputs))
        }
        Layer::GlobalAvgPool => {
            let mut out = vec![0.0; c];
            for pos in 0..h * w {
                for ch in 0..c {
                    out[ch] += x[pos * c + ch];
                }
            }
            out.iter_mut().for_each(|v| *v /= (h * w) as f64);
            (out, Shape::flat(c))
        }
        Layer::Flatten => (x.to_vec(), Shape::flat(input.len())),
        other => panic!("no f64 reference for {other:?}"),
    }
}

/// The network's output for the batch `x`, in f64.
fn forward64(net: &Net, p: &[f64], x: &[f64]) -> Vec<f64> {
    let d0 = net.input().len();
    let mut out = Vec::new();
    for ex in x.chunks_exact(d0) {
        let (mut a, mut shape) = (ex.to_vec(), net.input());
        let mut off = 0;
        for layer in net.layers() {
            let len = layer.param_len();
            let (next, s) = layer64(layer, shape, &p[off..off + len], &a);
            off += len;
            a = next;
            shape = s;
        }
        out.extend(a);
    }
    out
}

/// The mean squared error over every output value.
fn mse64(out: &[f64], y: &[f64]) -> f64 {
    out.iter()
        .zip(y)
        .map(|(o, t)| (o - t) * (o - t))
        .sum::<f64>()
        / out.len() as f64
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

use Activation::{Identity, Relu, Sigmoid, Tanh};

/// Networks covering every kind, with shapes chosen to exercise strides, paddings,
/// dilations, groups, windows that do not divide the length and a kernel as wide as
/// its input. Each starts with a layer with parameters, so the input gradient of every
/// later kind shows in that layer's gradient. Smooth activations only (finite
/// differences across a ReLU's kink or a max's switch are not derivatives).
fn nets() -> Vec<(&'static str, Shape, Vec<Layer>)> {
    let all = vec![
        (
            "conv1d k3 pad1 → maxpool(2) → flatten → dense",
            Shape::seq(9, 3),
            vec![
                Layer::Conv1d(Conv1d::new(3, 4, 3).padding(1).act(Tanh)),
                Layer::MaxPool1d(Pool::new(2)),
                Layer::Flatten,
                Layer::Dense(Dense::new(16, 3)),
            ],
        ),
        (
            "conv1d stride 2 dilation 2 → conv1d groups 2 → avgpool(3, stride 2) → flatten → dense",
            Shape::seq(13, 4),
            vec![
                Layer::Conv1d(
                    Conv1d::new(4, 6, 3)
                        .stride(2)
                        .dilation(2)
                        .padding(2)
                        .act(Sigmoid),
                ),
                Layer::Conv1d(Conv1d::new(6, 4, 2).groups(2).act(Tanh)),
                Layer::AvgPool1d(Pool::new(3).stride(2)),
                Layer::Flatten,
                Layer::Dense(Dense::new(8, 2).act(Sigmoid)),
            ],
        ),
        (
            "depthwise k3 → pointwise → global average → dense",
            Shape::seq(7, 5),
            vec![
                Layer::Conv1d(Conv1d::new(5, 5, 3).padding(1).groups(5).act(Tanh)),
                Layer::Conv1d(Conv1d::new(5, 6, 1).act(Tanh)),
                Layer::GlobalAvgPool,
                Layer::Dense(Dense::new(6, 3)),
            ],
        ),
        (
            "kernel as wide as the input, no bias",
            Shape::seq(5, 2),
            vec![
                Layer::Conv1d(Conv1d::new(2, 3, 5).bias(false).act(Tanh)),
                Layer::Flatten,
                Layer::Dense(Dense::new(3, 2).bias(false)),
            ],
        ),
        (
            "conv2d 3x3 pad 1 → maxpool 2x2 → conv2d stride (2,1) → avgpool → flatten → dense",
            Shape::image(7, 6, 2),
            vec![
                Layer::Conv2d(Conv2d::new(2, 4, (3, 3)).padding((1, 1)).act(Tanh)),
                Layer::MaxPool2d(Pool2d::new((2, 2))),
                Layer::Conv2d(
                    Conv2d::new(4, 4, (2, 2))
                        .stride((2, 1))
                        .groups(2)
                        .act(Sigmoid),
                ),
                Layer::AvgPool2d(Pool2d::new((1, 2))),
                Layer::Flatten,
                Layer::Dense(Dense::new(4, 3)),
            ],
        ),
        (
            "conv2d dilation (2, 1), depthwise 2-D, pointwise, global average",
            Shape::image(6, 5, 3),
            vec![
                Layer::Conv2d(
                    Conv2d::new(3, 3, (2, 3))
                        .dilation((2, 1))
                        .padding((1, 0))
                        .act(Tanh),
                ),
                Layer::Conv2d(
                    Conv2d::new(3, 3, (3, 3))
                        .groups(3)
                        .padding((1, 1))
                        .act(Sigmoid),
                ),
                Layer::Conv2d(Conv2d::new(3, 5, (1, 1))),
                Layer::GlobalAvgPool,
                Layer::Dense(Dense::new(5, 2).act(Tanh)),
            ],
        ),
        (
            "the input gradients of dilated, padded, grouped stride-1 convolutions (direct)",
            Shape::image(6, 7, 4),
            vec![
                Layer::Conv2d(Conv2d::new(4, 4, (1, 1)).act(Tanh)),
                Layer::Conv2d(
                    Conv2d::new(4, 6, (3, 2))
                        .dilation((2, 2))
                        .padding((1, 2))
                        .groups(2)
                        .act(Sigmoid),
                ),
                Layer::Conv2d(Conv2d::new(6, 3, (2, 3)).padding((1, 1)).act(Tanh)),
                Layer::GlobalAvgPool,
                Layer::Dense(Dense::new(3, 2)),
            ],
        ),
        (
            "1-D: dilation 2 with padding after a pointwise layer, 40 channels (column blocks)",
            Shape::seq(9, 3),
            vec![
                Layer::Conv1d(Conv1d::new(3, 40, 1).act(Tanh)),
                Layer::Conv1d(Conv1d::new(40, 5, 3).dilation(2).padding(2).act(Tanh)),
                Layer::Flatten,
                Layer::Dense(Dense::new(45, 2)),
            ],
        ),
        (
            "pooling first, then a flatten and a dense layer",
            Shape::image(4, 6, 2),
            vec![
                Layer::AvgPool2d(Pool2d::new((2, 3)).stride((1, 2))),
                Layer::MaxPool2d(Pool2d::new((2, 2)).stride((1, 1))),
                Layer::Flatten,
                Layer::Dense(Dense::new(4, 3).act(Tanh)), // 2 x 1 x 2
            ],
        ),
        (
            "a network that ends in global average pooling (no dense layer)",
            Shape::seq(6, 2),
            vec![
                Layer::Conv1d(Conv1d::new(2, 3, 2).stride(2).act(Tanh)),
                Layer::GlobalAvgPool,
            ],
        ),
        (
            "max pooling with overlapping windows (kernel 3, stride 1) after a flatten-free dense stack",
            Shape::image(5, 5, 2),
            vec![
                Layer::Conv2d(Conv2d::new(2, 3, (1, 1)).act(Tanh)),
                Layer::MaxPool2d(Pool2d::new((3, 3)).stride((1, 2))),
                Layer::Flatten,
                Layer::Dense(Dense::new(3 * 2 * 3, 4).act(Tanh)),
                Layer::Dense(Dense::new(4, 2)),
            ],
        ),
        (
            "conv2d with stride and dilation both → overlapping avgpool 2-D → conv2d → global average, no dense after",
            Shape::image(9, 8, 2),
            vec![
                Layer::Conv2d(
                    Conv2d::new(2, 4, (3, 2))
                        .stride((2, 1))
                        .dilation((1, 2))
                        .padding((1, 1))
                        .act(Tanh),
                ),
                Layer::AvgPool2d(Pool2d::new((3, 2)).stride((1, 1))),
                Layer::Conv2d(Conv2d::new(4, 3, (2, 2)).dilation((2, 2)).act(Sigmoid)),
                Layer::GlobalAvgPool,
            ],
        ),
        (
            "max pooling first → depthwise with a channel multiplier (im2col) → flatten last",
            Shape::seq(12, 3),
            vec![
                Layer::MaxPool1d(Pool::new(2).stride(1)),
                Layer::Conv1d(Conv1d::new(3, 6, 3).groups(3).padding(1).act(Tanh)),
                Layer::AvgPool1d(Pool::new(3).stride(2)),
                Layer::Conv1d(Conv1d::new(6, 2, 2).stride(3).dilation(2).act(Sigmoid)),
                Layer::Flatten,
            ],
        ),
        (
            "average pooling 2-D first → conv2d stride and dilation → max pooling → dense",
            Shape::image(8, 9, 2),
            vec![
                Layer::AvgPool2d(Pool2d::new((2, 2)).stride((1, 2))),
                Layer::Conv2d(
                    Conv2d::new(2, 3, (2, 2))
                        .stride((2, 2))
                        .dilation((2, 1))
                        .act(Tanh),
                ),
                Layer::MaxPool2d(Pool2d::new((2, 2)).stride((1, 1))),
                Layer::Flatten,
                Layer::Dense(Dense::new(6, 2)), // 2 × 1 × 3
            ],
        ),
        (
            "flatten first → dense → dense",
            Shape::image(3, 2, 2),
            vec![
                Layer::Flatten,
                Layer::Dense(Dense::new(12, 5).act(Tanh)),
                Layer::Dense(Dense::new(5, 2).act(Sigmoid)),
            ],
        ),
        (
            "a depthwise 2-D conv whose top and bottom taps read only padding → global average → dense",
            Shape::image(1, 3, 3),
            vec![
                Layer::Conv2d(
                    Conv2d::new(3, 3, (3, 3))
                        .groups(3)
                        .dilation((2, 2))
                        .padding((2, 2))
                        .act(Tanh),
                ),
                Layer::GlobalAvgPool,
                Layer::Dense(Dense::new(3, 2)),
            ],
        ),
    ];
    // Under Miri (interpreted, minutes for all) six that hold every kind and path
    // between them: conv1d, max pooling, flatten, dense; depthwise, pointwise, global
    // average; conv2d, grouped, 2-D pooling; stride with dilation, overlapping average
    // pooling, global average last; pooling first, a channel multiplier, flatten last;
    // taps of padding alone.
    if cfg!(miri) {
        let keep = [0, 2, 4, 7, 8, 11];
        all.into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, n)| n)
            .collect()
    } else {
        all
    }
}

#[test]
fn forward_of_every_kind_matches_the_f64_reference() {
    let mut r = rng(11);
    for (name, input, layers) in nets() {
        let net = Net::new(input, &layers).unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = if cfg!(miri) { 1 } else { 3 };
        let params = fill(&mut r, net.param_len());
        let x = fill(&mut r, n * input.len());
        let want = forward64(&net, &to64(&params), &to64(&x));
        for_each_isa(|isa| {
            let mut out = vec![f32::NAN; n * net.output().len()];
            let mut ws = vec![f32::NAN; net.forward_workspace_len(n)];
            net.forward(&params, &x, &mut out, &mut ws).unwrap();
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(o) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{name} {isa:?}: out[{i}] = {o}, want {w}"
                );
            }
        });
    }
}

#[test]
fn gradients_of_every_kind_match_finite_differences_of_the_f64_reference() {
    let mut r = rng(12);
    for (name, input, layers) in nets() {
        let net = Net::new(input, &layers).unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = if cfg!(miri) { 1 } else { 2 };
        let params = fill(&mut r, net.param_len());
        let x = fill(&mut r, n * input.len());
        let y = fill(&mut r, n * net.output().len());
        let (p64, x64, y64) = (to64(&params), to64(&x), to64(&y));
        let loss64 = |p: &[f64]| mse64(&forward64(&net, p, &x64), &y64);
        let h = 1e-6;
        // Every parameter natively; under Miri (where each difference is two
        // interpreted f64 forward passes) about 8 of each network, the last (a bias)
        // among them.
        let every = if cfg!(miri) {
            (p64.len() / 8).max(1)
        } else {
            1
        };
        let numeric: Vec<(usize, f64)> = (0..p64.len())
            .filter(|&i| i % every == 0 || i + 1 == p64.len())
            .map(|i| {
                let (mut up, mut down) = (p64.clone(), p64.clone());
                up[i] += h;
                down[i] -= h;
                (i, (loss64(&up) - loss64(&down)) / (2.0 * h))
            })
            .collect();
        let scale = numeric.iter().fold(1e-3f64, |m, g| m.max(g.1.abs()));
        // ∂L/∂x, by finite differences of the input (sampled under Miri as above).
        let every_x = if cfg!(miri) {
            (x64.len() / 8).max(1)
        } else {
            1
        };
        let numeric_dx: Vec<(usize, f64)> = (0..x64.len())
            .filter(|&i| i % every_x == 0)
            .map(|i| {
                let (mut up, mut down) = (x64.clone(), x64.clone());
                up[i] += h;
                down[i] -= h;
                let f = |x: &[f64]| mse64(&forward64(&net, &p64, x), &y64);
                (i, (f(&up) - f(&down)) / (2.0 * h))
            })
            .collect();
        let dx_scale = numeric_dx.iter().fold(1e-3f64, |m, g| m.max(g.1.abs()));
        let want_loss = loss64(&p64);
        for_each_isa(|isa| {
            let mut grads = vec![f32::NAN; net.param_len()];
            let mut ws = vec![f32::NAN; net.workspace_len(n)];
            let loss = net
                .loss_and_grad(
                    &params,
                    &x,
                    Target::Values(&y),
                    Loss::MeanSquared,
                    &mut grads,
                    &mut ws,
                )
                .unwrap_or_else(|e| panic!("{name} {isa:?}: {e}"));
            assert!(
                (f64::from(loss) - want_loss).abs() <= 1e-5 * (1.0 + want_loss),
                "{name} {isa:?}: loss {loss} vs {want_loss}"
            );
            for &(i, num) in &numeric {
                let g = grads[i];
                assert!(
                    (f64::from(g) - num).abs() <= 1e-3 * num.abs() + 1e-4 * scale,
                    "{name} {isa:?}: grad[{i}] = {g}, finite differences {num}"
                );
            }
            // The same weight gradients with the input's, every kind's first-layer
            // input gradient included.
            let mut grads2 = vec![f32::NAN; net.param_len()];
            let mut dx = vec![f32::NAN; x.len()];
            let mut ws = vec![f32::NAN; net.input_grad_workspace_len(n)];
            net.loss_and_grads(
                &params,
                &x,
                Target::Values(&y),
                Loss::MeanSquared,
                &mut grads2,
                &mut dx,
                &mut ws,
            )
            .unwrap_or_else(|e| panic!("{name} {isa:?}: {e}"));
            assert_eq!(grads, grads2, "{name} {isa:?}");
            for &(i, num) in &numeric_dx {
                let g = dx[i];
                assert!(
                    (f64::from(g) - num).abs() <= 1e-3 * num.abs() + 1e-4 * dx_scale,
                    "{name} {isa:?}: dx[{i}] = {g}, finite differences {num}"
                );
            }
        });
    }
}

#[test]
fn relu_and_identity_layers_match_the_reference_forward() {
    // ReLU and identity (left out of the gradient checks for their kink) in the forward
    // pass and in a training step's loss.
    let mut r = rng(13);
    let layers = [
        Layer::Conv1d(Conv1d::new(3, 8, 3).padding(1).act(Relu)),
        Layer::Conv1d(Conv1d::new(8, 8, 3).padding(1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
        Layer::Dense(Dense::new(8 * 5, 4).act(Identity)),
    ];
    let net = Net::new(Shape::seq(11, 3), &layers).unwrap();
    let n = if cfg!(miri) { 1 } else { 4 };
    let params = fill(&mut r, net.param_len());
    let x = fill(&mut r, n * 33);
    let want = forward64(&net, &to64(&params), &to64(&x));
    for_each_isa(|isa| {
        let mut out = vec![0.0; n * 4];
        let mut ws = vec![0.0; net.forward_workspace_len(n)];
        net.forward(&params, &x, &mut out, &mut ws).unwrap();
        for (&o, &w) in out.iter().zip(&want) {
            assert!(
                (f64::from(o) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{isa:?}"
            );
        }
    });
}

#[test]
fn layers_that_do_not_fit_are_refused_naming_the_layer() {
    use microprop::Error;
    let bad: Vec<(Shape, Vec<Layer>, usize, &str)> = vec![
        (
            Shape::seq(10, 3),
            vec![Layer::Conv1d(Conv1d::new(4, 8, 3))],
            0,
            "in_channels",
        ),
        (
            Shape::seq(10, 3),
            vec![
                Layer::Conv1d(Conv1d::new(3, 8, 3)),
                Layer::Dense(Dense::new(64, 2)),
            ],
            1,
            "flat",
        ),
        (
            Shape::seq(4, 3),
            vec![Layer::Conv1d(Conv1d::new(3, 8, 5))],
            0,
            "",
        ),
        (
            Shape::seq(10, 4),
            vec![Layer::Conv1d(Conv1d::new(4, 6, 3).groups(4))],
            0,
            "groups",
        ),
        (
            Shape::image(4, 4, 2),
            vec![Layer::Conv1d(Conv1d::new(2, 2, 3))],
            0,
            "sequence",
        ),
        (
            Shape::seq(10, 2),
            vec![
                Layer::Conv1d(Conv1d::new(2, 2, 3)),
                Layer::MaxPool1d(Pool::new(2)),
                Layer::Flatten,
                Layer::Dense(Dense::new(10, 2)),
            ],
            3,
            "inputs",
        ),
        (
            Shape::seq(3, 2),
            vec![Layer::MaxPool1d(Pool::new(4))],
            0,
            "",
        ),
        (
            Shape::seq(3, 2),
            vec![Layer::MaxPool1d(Pool::new(2).stride(0))],
            0,
            "",
        ),
    ];
    for (input, layers, at, word) in bad {
        match Net::new(input, &layers) {
            Err(Error::Layer { index, what, .. }) => {
                assert_eq!(index, at, "{layers:?}: {what}");
                assert!(what.contains(word), "{layers:?}: {what}");
            }
            other => panic!("{layers:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Net::new(Shape::seq(3, 2), &[]),
        Err(Error::InvalidArgument { .. })
    ));
}

/// A network built in a `const` is checked at compile time, and its sizes are `const`.
#[test]
fn const_networks_size_static_buffers() {
    const LAYERS: [Layer; 5] = [
        Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
        Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
        Layer::Dense(Dense::new(448, 9)),
    ];
    const NET: Net = match Net::new(Shape::seq(29, 12), &LAYERS) {
        Ok(net) => net,
        Err(_) => panic!("does not fit"),
    };
    const P: usize = NET.param_len();
    const W: usize = NET.workspace_len(32);
    static PARAMS: [f32; P] = [0.0; P];
    assert_eq!(PARAMS.len(), 8_329);
    const { assert!(W > 2 * 32 * (29 * 32 * 2 + 14 * 32 + 9)) };
    assert_eq!(NET.output(), Shape::flat(9));
}
