//! Regressions found by the fuzz targets (`fuzz/`) and the test suites, one test per bug.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

use microprop::{Error, MatMut, MatRef};

/// `fuzz/gemm`: a layout whose last index is exactly `usize::MAX` overflowed computing
/// the `BufferTooSmall { needed: last + 1 }` (a panic with overflow checks, `needed: 0`
/// without). It is an `Overflow` error now.
#[test]
fn view_whose_last_index_is_usize_max_is_an_overflow_error() {
    let data = [0.0f32; 4];
    let r = MatRef::new(&data, 2, 1, usize::MAX, 0);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatRef" }));
    let r = MatRef::new(&data, 2, 2, usize::MAX - 1, 1);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatRef" }));
    let mut buf = [0.0f32; 4];
    let r = MatMut::new(&mut buf, 1, 2, 0, usize::MAX);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatMut" }));
    // One below still reports the length it needs.
    let r = MatRef::new(&data, 2, 1, usize::MAX - 1, 0);
    assert_eq!(
        r.err(),
        Some(Error::BufferTooSmall {
            what: "MatRef",
            needed: usize::MAX,
            len: 4
        })
    );
}

/// `fuzz/gemm`: with k = 0, A (m × 0) and B (0 × n) are empty views whose strides are
/// not checked, yet the blocked loops computed `i · row_stride` from them to address
/// blocks (an overflow panic with overflow checks; an out-of-bounds `ptr::add` without).
/// Now the strides of an empty depth are ignored; C ← β·C as documented.
#[test]
fn gemm_with_empty_depth_ignores_huge_strides_of_empty_operands() {
    use microprop::{MatMut, gemm, gemm_scalar, gemm_workspace_len, simd::Isa, simd::with_isa};
    for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
        // (Under Miri 4 rows, not 100, of the product wider than a B panel.)
        let wide_m = if cfg!(miri) { 4 } else { 100 };
        for (m, n) in [(7, 42), (200, 3), (1, 1), (wide_m, 1100)] {
            let huge = 1usize << 62;
            let a = MatRef::new(&[], 0, m, 0, huge).unwrap().t(); // m × 0, row stride 2^62
            let b = MatRef::new(&[], 0, n, huge, usize::MAX).unwrap(); // 0 × n
            let mut c = vec![2.0f32; m * n];
            let mut ws = vec![0.0f32; gemm_workspace_len(m, 0, n)];
            with_isa(isa, || {
                gemm(
                    1.0,
                    a,
                    b,
                    0.5,
                    MatMut::row_major(&mut c, m, n).unwrap(),
                    &mut ws,
                )
            })
            .unwrap()
            .unwrap();
            assert!(c.iter().all(|&v| v == 1.0), "{isa:?} {m}x0x{n}");
            gemm_scalar(1.0, a, b, 0.0, MatMut::row_major(&mut c, m, n).unwrap()).unwrap();
            assert!(c.iter().all(|&v| v == 0.0));
        }
    }
}

/// `fuzz/gemm`: a 1 × k A may have any row stride (it never moves to another element);
/// the narrow-B kernel still computed row addresses `4·g·row_stride` for absent rows,
/// overflowing (a panic with overflow checks). Strides of length-1 dimensions are ignored.
#[test]
fn gemm_ignores_huge_strides_of_length_one_dimensions() {
    use microprop::{MatMut, gemm, gemm_workspace_len, simd::Isa, simd::with_isa};
    let huge = 1usize << 62;
    let data: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let bdat = vec![1.0f32; 16 * 5];
    for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
        let a = MatRef::new(&data, 1, 16, huge, 1).unwrap(); // 1 × 16
        let b = MatRef::row_major(&bdat, 16, 5).unwrap();
        let mut c = [0.0f32; 5];
        let mut ws = vec![0.0f32; gemm_workspace_len(1, 16, 5)];
        with_isa(isa, || {
            gemm(
                1.0,
                a,
                b,
                0.0,
                MatMut::row_major(&mut c, 1, 5).unwrap(),
                &mut ws,
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(c, [120.0; 5], "{isa:?}");
        // B's column stride with n = 1, A's column stride with k = 1.
        let b1 = MatRef::new(&bdat, 16, 1, 1, usize::MAX).unwrap();
        let mut c1 = [0.0f32; 1];
        with_isa(isa, || {
            gemm(
                1.0,
                a,
                b1,
                0.0,
                MatMut::row_major(&mut c1, 1, 1).unwrap(),
                &mut ws,
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(c1, [120.0], "{isa:?}");
        let a1 = MatRef::new(&data, 3, 1, 1, huge).unwrap(); // 3 × 1
        let b2 = MatRef::new(&bdat, 1, 5, huge, 1).unwrap(); // 1 × 5
        let mut c2 = [0.0f32; 15];
        let mut ws2 = vec![0.0f32; gemm_workspace_len(3, 1, 5)];
        with_isa(isa, || {
            gemm(
                1.0,
                a1,
                b2,
                0.0,
                MatMut::row_major(&mut c2, 3, 5).unwrap(),
                &mut ws2,
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(c2[5..10], [1.0; 5], "{isa:?}");
    }
}

/// `fuzz/gemm`: `gemm_scalar` with k = 0 and a non-finite α computed `α · 0 = NaN`
/// instead of the documented `C ← β·C` (which `gemm` does).
#[test]
fn gemm_scalar_with_empty_depth_and_infinite_alpha_is_beta_c() {
    use microprop::{MatMut, gemm, gemm_scalar};
    for alpha in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
        let a = MatRef::new(&[], 2, 0, 0, 1).unwrap();
        let b = MatRef::new(&[], 0, 3, 3, 1).unwrap();
        let mut c = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        gemm_scalar(alpha, a, b, 2.0, MatMut::row_major(&mut c, 2, 3).unwrap()).unwrap();
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0], "alpha {alpha}");
        let mut c2 = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        gemm(
            alpha,
            a,
            b,
            2.0,
            MatMut::row_major(&mut c2, 2, 3).unwrap(),
            &mut [0.0; 64],
        )
        .unwrap();
        assert_eq!(c2, c, "alpha {alpha}");
    }
}

/// `fuzz/graph`: an `add_bias` gate over a `usize::MAX × 0` input looped over all
/// `usize::MAX` (empty) rows in `bias_add` — a hang. `bias_add`, `bias_grad` and
/// `gemm_scalar` now return at once for an empty view of any row count.
#[test]
fn empty_views_with_huge_row_counts_return_at_once() {
    use microprop::graph::{Graph, Node};
    use microprop::{bias_add, bias_grad, gemm_scalar};
    let mut buf = [0.0f32; 4];
    bias_add(MatMut::new(&mut buf, usize::MAX, 0, 0, 1).unwrap(), &[]).unwrap();
    bias_add(MatMut::new(&mut buf, usize::MAX, 0, 1, 0).unwrap(), &[]).unwrap();
    bias_grad(
        MatRef::new(&buf, usize::MAX, 0, 1 << 62, 1).unwrap(),
        &mut [],
    )
    .unwrap();
    let mut db = [5.0f32; 2];
    bias_grad(MatRef::new(&buf, 0, 2, 1, 1).unwrap(), &mut db).unwrap();
    assert_eq!(db, [0.0, 0.0]);
    let a = MatRef::new(&buf, usize::MAX, 0, 0, 0).unwrap();
    let b = MatRef::new(&buf, 0, 0, 0, 0).unwrap();
    gemm_scalar(
        1.0,
        a,
        b,
        1.0,
        MatMut::new(&mut [], usize::MAX, 0, 1, 1).unwrap(),
    )
    .unwrap();

    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 16];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.input(usize::MAX, 0).unwrap();
    let bias = g.input(1, 0).unwrap();
    let z = g.add_bias(x, bias).unwrap();
    let l = g.squared_error(z, x).unwrap();
    g.forward().unwrap();
    g.backward(l).unwrap();
    assert_eq!(g.value(l).unwrap(), &[0.0]);
}

/// `tests/trainer.rs`: `Mlp::evaluate` weighted every batch's loss by its row count, also
/// for `Loss::SumSquared`, whose batch loss is already a sum over the rows: its
/// `Evaluation::loss` came out `B` times the documented mean per-row sum (and depended on
/// the batch size). Now it is the mean per-row sum for every batch size.
#[test]
fn evaluate_sum_squared_is_the_mean_per_row_sum_for_any_batch_size() {
    use microprop::Activation::Identity;
    use microprop::Loss;
    use microprop::data::{Batch, Dataset, Features, Labels};
    use microprop::nn::Mlp;
    let sizes = [1, 1];
    let net = Mlp::new(&sizes, &[Identity], false).unwrap();
    let params = [1.0f32]; // out = x
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let y = [0.0f32; 4];
    let data = Dataset {
        x: Features::F32 {
            data: &x,
            stride: 1,
        },
        y: Labels::Values {
            data: &y,
            stride: 1,
        },
        len: 4,
    };
    // Per-row sums 1, 4, 9, 16: mean 7.5.
    for b in 1..=4 {
        let (mut xb, mut yb) = (vec![0.0; b], vec![0.0; b]);
        let mut batch = Batch {
            x: &mut xb,
            y: &mut yb,
            labels: &mut [],
        };
        let mut out = vec![0.0; b];
        let mut ws = vec![0.0; Mlp::forward_workspace_len(&sizes, b)];
        let ev = net
            .evaluate(
                &params,
                &data,
                &[0, 1, 2, 3],
                Loss::SumSquared,
                &mut batch,
                &mut out,
                None,
                &mut ws,
            )
            .unwrap();
        assert_eq!(ev.loss, 7.5, "batch size {b}");
    }
}

/// `tests/trainer.rs`: `Mlp::train_step_with` checked only a fused plain SGD's learning
/// rate for finiteness. A plain `Sgd` given a negative rate by `set_lr` (which `update`
/// refuses) took a gradient-ascent step on the fused path; an `Adam` with a NaN rate
/// wrote `grads` before its `update` refused. Both are refused first now, nothing written.
#[test]
fn train_step_with_refuses_a_bad_optimizer_lr_before_writing() {
    use microprop::Activation::{Identity, Tanh};
    use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
    use microprop::{Loss, Target, nn::Mlp};
    let sizes = [2, 3, 1];
    let net = Mlp::new(&sizes, &[Tanh, Identity], true).unwrap();
    let p = Mlp::param_len(&sizes, true);
    let (x, y) = ([0.5f32, -0.25], [1.0f32]);
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, 1)];
    let mut state = vec![0.0; Adam::state_len(p)];
    let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    sgd.set_lr(-0.1);
    let mut adam = Adam::new(AdamConfig::adam(0.1), &mut state).unwrap();
    adam.set_lr(f32::NAN);
    let opts: [(&mut dyn Optimizer, Error); 2] = [
        (
            &mut sgd,
            Error::InvalidArgument {
                what: "learning rate is negative",
            },
        ),
        (
            &mut adam,
            Error::NonFinite {
                what: "learning rate",
            },
        ),
    ];
    for (opt, want) in opts {
        let mut params = vec![0.5f32; p];
        let mut grads = vec![7.0f32; p];
        let r = net.train_step_with(
            &mut params,
            &x,
            Target::Values(&y),
            Loss::MeanSquared,
            opt,
            &mut grads,
            &mut ws,
        );
        // The optimizer's own error (it names the optimizer), before anything is written.
        assert_eq!(
            core::mem::discriminant(&r.unwrap_err()),
            core::mem::discriminant(&want)
        );
        assert!(params.iter().all(|&v| v == 0.5) && grads.iter().all(|&g| g == 7.0));
    }
}

/// `train_step_with` asks the optimizer (`Optimizer::check`) before it computes anything:
/// an Adam sized for another parameter count used to be refused only by its update,
/// after `grads` had been written.
#[test]
fn train_step_with_refuses_a_mis_sized_optimizer_before_writing_grads() {
    use microprop::Activation::{Identity, Tanh};
    use microprop::nn::Mlp;
    use microprop::{Adam, AdamConfig, Loss, Target};
    let sizes = [2, 3, 1];
    let net = Mlp::new(&sizes, &[Tanh, Identity], true).unwrap();
    let p = Mlp::param_len(&sizes, true);
    let mut state = vec![0.0f32; Adam::state_len(p + 1)];
    let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut state).unwrap();
    let (x, y) = ([0.5f32, -1.0, 2.0, 0.25], [0.1f32, -0.3]);
    let mut ws = vec![0.0f32; Mlp::workspace_len(&sizes, 2)];
    let mut params = vec![0.5f32; p];
    let mut grads = vec![7.0f32; p];
    let r = net.train_step_with(
        &mut params,
        &x,
        Target::Values(&y),
        Loss::MeanSquared,
        &mut adam,
        &mut grads,
        &mut ws,
    );
    assert_eq!(
        r,
        Err(Error::StateMismatch {
            what: "Adam::update",
            params: p,
            needed: 2 * p,
            len: 2 * (p + 1),
            sized_by: "Adam::state_len",
        })
    );
    assert!(params.iter().all(|&v| v == 0.5) && grads.iter().all(|&g| g == 7.0));
    assert_eq!(adam.step_count(), 0);
}

/// `tests/net_hardening.rs`: `Net::new` checked a convolution's window against its input
/// (`oh·ow·c_in`) but not the size of its output, `oh·ow·c_out`: a sequence of 2^20 steps
/// into 2^50 channels built a network whose `output().len()` had saturated at
/// `usize::MAX`. Now a layer whose output size overflows is an `Error::Layer`.
#[test]
fn net_new_refuses_a_layer_whose_output_size_overflows() {
    use microprop::layer::{Conv1d, Layer, Shape};
    use microprop::nn::Net;
    let input = Shape::seq(1 << 20, 1);
    for layers in [
        vec![Layer::Conv1d(Conv1d::new(1, 1 << 50, 1))],
        vec![Layer::Conv1d(Conv1d::new(1, 1 << 50, 1)), Layer::Flatten],
    ] {
        match Net::new(input, &layers) {
            Err(Error::Layer {
                index: 0,
                kind: "conv1d",
                input: (1, 1_048_576, 1),
                what,
            }) => assert!(what.contains("output size"), "{what}"),
            other => panic!("{other:?}"),
        }
    }
    // One channel fewer of magnitude fits: 2^20 · 2^43 values.
    let ok = [Layer::Conv1d(Conv1d::new(1, 1 << 43, 1))];
    assert_eq!(Net::new(input, &ok).unwrap().output().len(), 1 << 63);
}

/// `tests/net_hardening.rs`: `evaluate` (`Trainer::evaluate`, `Mlp::evaluate`) checked
/// `out` against `B · d_L` computed without overflow check. A dilated, padded
/// convolution makes a long output of few parameters: one input value into 2^46 + 1
/// positions of 2^16 channels (2^62 + 2^16 outputs, 196,608 parameters), and a batch of
/// 4 overflowed (a panic with overflow checks). Now the product saturates and `out` is
/// too small, as it is.
#[test]
fn evaluate_with_a_batch_times_outputs_past_usize_is_buffer_too_small() {
    use microprop::Loss;
    use microprop::data::{Batch, Dataset, Features, Labels};
    use microprop::layer::{Conv1d, Layer, Shape};
    use microprop::nn::{Net, Trainer};
    use microprop::optim::{Sgd, SgdConfig};
    let big = 1usize << 46;
    let layers = [Layer::Conv1d(
        Conv1d::new(1, 1 << 16, 2).dilation(big).padding(big),
    )];
    let net = Net::new(Shape::seq(1, 1), &layers).unwrap();
    assert_eq!(net.output().len(), (big + 1) << 16);
    let mut params = vec![0.0f32; net.param_len()];
    let sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    let mut t = Trainer::new(net, &mut params, &mut [], sgd, &mut [], Loss::MeanSquared).unwrap();
    let x = [0.5f32; 4];
    let data = Dataset {
        x: Features::F32 {
            data: &x,
            stride: 1,
        },
        y: Labels::Classes(&[0; 4]),
        len: 4,
    };
    let (mut xb, mut labels, mut out) = ([0.0f32; 4], [0u32; 4], [7.0f32; 8]);
    let mut batch = Batch {
        x: &mut xb,
        y: &mut [],
        labels: &mut labels,
    };
    let r = t.evaluate(&data, &[0, 1, 2, 3], &mut batch, &mut out, None);
    assert_eq!(
        r,
        Err(Error::BufferTooSmall {
            what: "out (batch size × d_L)",
            needed: usize::MAX,
            len: 8,
        })
    );
    assert!(out.iter().all(|&v| v == 7.0));
}

/// `tests/net_hardening.rs`: a depthwise convolution skips the taps that fall in the
/// padding. With dilation a tap can read only padding at every output pixel (kernel 3,
/// dilation 2, padding 2 on a sequence of 1: only the middle tap reads it); a NaN weight
/// there never reached an output, so a training step succeeded and kept it, against the
/// documented "a NaN anywhere in params always surfaces as `Error::NonFinite`" (the same
/// convolution with one group, through im2col and the GEMM, multiplied it by the
/// padding's 0 and reported it). Now such a tap's NaN or ±∞ weight makes its channel's
/// outputs NaN, as in the general convolution.
#[test]
fn a_nan_weight_of_a_depthwise_tap_that_reads_only_padding_is_reported() {
    use microprop::layer::{Conv1d, Dense, Layer, Shape};
    use microprop::nn::Net;
    use microprop::optim::{Sgd, SgdConfig};
    use microprop::{Loss, Target};
    let x = [0.5f32, 0.25, 1.0, -1.0];
    let y = [0.0f32, 1.0];
    for groups in [2, 1] {
        let layers = [
            Layer::Conv1d(Conv1d::new(2, 2, 3).groups(groups).dilation(2).padding(2)),
            Layer::Dense(Dense::new(2, 1)),
        ];
        let net = Net::new(Shape::seq(1, 2), &layers).unwrap();
        let mut ws = vec![0.0; net.workspace_len(2)];
        let cg = 2 / groups;
        // Weight row (tap, input channel of the group) × output channel: taps 0 and 2
        // read only padding.
        for (tap, bad) in [(0, f32::NAN), (2, f32::INFINITY), (2, f32::NEG_INFINITY)] {
            let mut p = vec![0.3f32; net.param_len()];
            let at = tap * cg * 2 + 1; // the tap's row, output channel 1
            p[at] = bad;
            let mut g = vec![7.0; p.len()];
            let t = Target::Values(&y);
            let r = net.loss_and_grad(&p, &x, t, Loss::MeanSquared, &mut g, &mut ws);
            assert!(
                matches!(r, Err(Error::NonFinite { .. })),
                "groups {groups}: {r:?}"
            );
            assert!(g.iter().all(|&v| v == 7.0));
            let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
            let before: Vec<u32> = p.iter().map(|v| v.to_bits()).collect();
            let r = net.train_step(&mut p, &x, t, Loss::MeanSquared, &mut sgd, &mut [], &mut ws);
            assert!(
                matches!(r, Err(Error::NonFinite { .. })),
                "groups {groups}: {r:?}"
            );
            assert!(p.iter().map(|v| v.to_bits()).eq(before));
            // Inference: that channel's outputs are NaN, the other's finite.
            let conv = Net::new(Shape::seq(1, 2), &layers[..1]).unwrap();
            let mut out = [0.0f32; 4]; // 2 examples × 1 position × 2 channels
            let mut fws = vec![0.0; conv.forward_workspace_len(2)];
            conv.forward(&p[..conv.param_len()], &x, &mut out, &mut fws)
                .unwrap();
            assert!(
                out[1].is_nan() && out[3].is_nan(),
                "groups {groups}: {out:?}"
            );
            assert!(
                out[0].is_finite() && out[2].is_finite(),
                "groups {groups}: {out:?}"
            );
        }
    }
}

/// `fuzz/net`: with a kernel 1 wide any dilation is a valid geometry (the dilated kernel
/// is 1), and im2col and col2im computed their step between taps, `dilation · c`, before
/// knowing no run had a second tap: a dilation of `usize::MAX` on 2 channels overflowed
/// (a panic with overflow checks). The step saturates now, and is never used then.
#[test]
fn a_one_wide_kernel_takes_any_dilation() {
    use microprop::layer::{Conv1d, Conv2d, Layer, Shape};
    use microprop::nn::Net;
    use microprop::optim::{Sgd, SgdConfig};
    use microprop::{Loss, Target};
    let max = usize::MAX;
    let cases = [
        (
            Shape::seq(5, 2),
            // Stride 2: not a pointwise product, so through im2col (and, second, col2im).
            [
                Layer::Conv1d(Conv1d::new(2, 2, 1).stride(2).dilation(max)),
                Layer::Conv1d(Conv1d::new(2, 3, 1).stride(2).dilation(max)),
            ],
        ),
        (
            Shape::image(3, 3, 2),
            [
                Layer::Conv2d(
                    Conv2d::new(2, 2, (1, 1))
                        .stride((2, 2))
                        .dilation((max, max)),
                ),
                Layer::Conv2d(Conv2d::new(2, 2, (2, 1)).dilation((1, max / 3))),
            ],
        ),
    ];
    for (input, convs) in cases {
        let layers = [convs[0], convs[1], Layer::Flatten];
        let net = Net::new(input, &layers).unwrap();
        // The same network with the dilations at 1: the same numbers.
        let plain: Vec<Layer> = layers
            .iter()
            .map(|l| match *l {
                Layer::Conv1d(c) => Layer::Conv1d(c.dilation(1)),
                Layer::Conv2d(c) => Layer::Conv2d(c.dilation((1, 1))),
                other => other,
            })
            .collect();
        let reference = Net::new(input, &plain).unwrap();
        let d = net.output().len();
        let p: Vec<f32> = (0..net.param_len())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let x: Vec<f32> = (0..2 * input.len())
            .map(|i| (i as f32 * 0.21).cos())
            .collect();
        let y = vec![0.5f32; 2 * d];
        let (mut ga, mut gb) = (vec![0.0; p.len()], vec![0.0; p.len()]);
        let mut ws = vec![0.0; net.workspace_len(2).max(reference.workspace_len(2))];
        let t = Target::Values(&y);
        let la = net.loss_and_grad(&p, &x, t, Loss::MeanSquared, &mut ga, &mut ws);
        let lb = reference.loss_and_grad(&p, &x, t, Loss::MeanSquared, &mut gb, &mut ws);
        assert_eq!(la, lb);
        assert_eq!(ga, gb);
        let mut q = p.clone();
        let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        net.train_step(&mut q, &x, t, Loss::MeanSquared, &mut sgd, &mut [], &mut ws)
            .unwrap();
    }
}

/// `fuzz/net`: a 2-D convolution whose kernel rows take the sliding tiles (stride 1 and
/// three taps along a row, 16 lanes: AVX-512) computed the step to the next output row,
/// `stride_h · w · c`, before knowing there is one: a vertical stride past the image
/// (one output row) overflowed, a panic in a build with overflow checks. Now the step
/// wraps unused, as the plain tiles' did; the output equals the same network's with
/// stride 1 vertically, where the image has one output row as well.
#[test]
fn a_vertical_stride_past_the_image_is_one_output_row() {
    use microprop::layer::{Conv2d, Layer, Shape};
    use microprop::nn::Net;
    use microprop::simd::{Isa, with_isa};
    let input = Shape::image(2, 40, 3);
    let conv = Conv2d::new(3, 8, (2, 3));
    let huge = [Layer::Conv2d(conv.stride((usize::MAX / 3, 1)))];
    let unit = [Layer::Conv2d(conv)];
    let (a, b) = (
        Net::new(input, &huge).unwrap(),
        Net::new(input, &unit).unwrap(),
    );
    assert_eq!(a.output(), b.output());
    let p: Vec<f32> = (0..a.param_len())
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let x: Vec<f32> = (0..2 * input.len())
        .map(|i| (i as f32 * 0.21).cos())
        .collect();
    for &isa in Isa::ALL {
        let _ = with_isa(isa, || {
            let mut ws = vec![0.0; a.forward_workspace_len(2).max(b.forward_workspace_len(2))];
            let (mut oa, mut ob) = (
                vec![0.0; 2 * a.output().len()],
                vec![1.0; 2 * b.output().len()],
            );
            a.forward(&p, &x, &mut oa, &mut ws).unwrap();
            b.forward(&p, &x, &mut ob, &mut ws).unwrap();
            assert_eq!(oa, ob, "{isa:?}");
        });
    }
}

/// A one-output classifier whose last layer has no activation of its own (a global
/// average of sigmoid outputs) is a probability: `predict` and `evaluate` decide it at ½,
/// not at 0 as they did by reading the pooling layer's (identity) activation. Found by an
/// outside review.
#[test]
fn a_pooled_sigmoid_output_is_decided_at_one_half() {
    use microprop::Activation::Sigmoid;
    use microprop::layer::{Conv1d, Layer, Shape};
    use microprop::nn::{Net, Trainer};
    use microprop::optim::{Sgd, SgdConfig};
    use microprop::{Loss, Target};
    let layers = [
        Layer::Conv1d(Conv1d::new(1, 1, 1).act(Sigmoid)),
        Layer::GlobalAvgPool,
    ];
    let net = Net::new(Shape::seq(4, 1), &layers).unwrap();
    // w = −10, b = 0: every output is σ(−10·0.5) ≈ 0.0067, class 0 at ½ (class 1 at 0).
    let mut params = [-10.0f32, 0.0];
    let sgd = Sgd::new(SgdConfig::new(0.0), &mut []).unwrap();
    let mut ws = vec![0.0f32; net.workspace_len(1)];
    let mut t = Trainer::new(
        net,
        &mut params,
        &mut [],
        sgd,
        &mut ws,
        Loss::BinaryCrossEntropy,
    )
    .unwrap();
    let mut out = [0.0f32; 1];
    assert_eq!(t.predict(&[0.5; 4], &mut out).unwrap(), 0, "{out:?}");
    assert!(out[0] > 0.0 && out[0] < 0.5);
    let loss = t.step(&[0.5; 4], Target::Values(&[0.0])).unwrap();
    assert!(loss.is_finite());
}
