//! The arithmetic of a training step: the floating-point operations of its products
//! (forward, weight gradient, input gradient), the yardstick the `vowels`, `digits_cnn`
//! and `bench` examples give an epoch's time against at the FMA peak measured in the
//! same run. (Included with `#[path]`; not an example of its own.)

use microprop::layer::{Layer, Shape};
use microprop::nn::Net;

/// Multiply-adds of one example through `layer` on `input`: the product a dense layer
/// or a convolution computes (pooling and the rest are not counted).
fn macs(layer: &Layer, input: Shape) -> f64 {
    match *layer {
        Layer::Dense(d) => (d.inputs * d.outputs) as f64,
        Layer::Conv1d(c) => {
            let out = out_len(input.w, c.kernel, c.stride, c.padding, c.dilation);
            (out * c.kernel * (c.in_channels / c.groups) * c.out_channels) as f64
        }
        Layer::Conv2d(c) => {
            let oh = out_len(input.h, c.kernel.0, c.stride.0, c.padding.0, c.dilation.0);
            let ow = out_len(input.w, c.kernel.1, c.stride.1, c.padding.1, c.dilation.1);
            (oh * ow * c.kernel.0 * c.kernel.1 * (c.in_channels / c.groups) * c.out_channels) as f64
        }
        _ => 0.0,
    }
}

fn out_len(len: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (len + 2 * p - d * (k - 1) - 1) / s + 1
}

/// Floating-point operations of one training step per example: each product's forward
/// pass and weight gradient, and its input gradient for every layer after the first
/// that trains (2 operations a multiply-add).
pub fn step_flops_per_example(net: &Net) -> f64 {
    let mut shape = net.input();
    let mut total = 0.0;
    let mut first = true;
    for (l, layer) in net.layers().iter().enumerate() {
        let m = macs(layer, shape);
        if m > 0.0 {
            total += 2.0 * m * if first { 2.0 } else { 3.0 };
            first = false;
        }
        shape = net.layer_input(l + 1).unwrap_or(net.output());
    }
    total
}
