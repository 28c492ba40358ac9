//! Bad input, class by class, against every public entry point: each gets a clear error
//! (checked before anything is written) or the documented value, never a panic. Training
//! steps that fail leave the parameters bit for bit as they were, on every instruction set.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::for_each_isa;
use microprop::Activation::{self, *};
use microprop::graph::{Graph, Node};
use microprop::nn::{Mlp, Neuron};
use microprop::simd::{Isa, with_isa};
use microprop::*;

const SENTINEL: f32 = -7.25;
/// Activation sets per network test: all three natively, the first under Miri.
const ACT_SETS: usize = if cfg!(miri) { 1 } else { 3 };

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ----- views ---------------------------------------------------------------------------

#[test]
fn views_reject_strides_past_the_buffer_or_overflowing() {
    let data = [0.0f32; 12];
    // Past the end: the error names the length needed.
    assert_eq!(
        MatRef::new(&data, 3, 4, 5, 1).unwrap_err(),
        Error::BufferTooSmall {
            what: "MatRef",
            needed: 14,
            len: 12
        }
    );
    // Index arithmetic that overflows usize (and so isize).
    for (rows, cols, rs, cs) in [
        (3, 1, usize::MAX, 1),
        (1, 3, 0, usize::MAX / 2 + 1),
        (usize::MAX, 2, 2, 1),
        (2, 2, usize::MAX / 2, usize::MAX / 2 + 2),
    ] {
        assert!(
            matches!(
                MatRef::new(&data, rows, cols, rs, cs),
                Err(Error::Overflow { .. })
            ),
            "{rows} {cols} {rs} {cs}"
        );
    }
    // Strides that stay in usize but land past isize::MAX elements: just too small a buffer.
    assert!(matches!(
        MatRef::new(&data, 2, 1, isize::MAX as usize, 1),
        Err(Error::BufferTooSmall { .. })
    ));
    let mut out = [SENTINEL; 12];
    assert!(matches!(
        MatMut::new(&mut out, 2, 2, 1, 1),
        Err(Error::OverlappingStrides { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut out, 2, 2, 0, 1),
        Err(Error::OverlappingStrides { .. })
    ));
    // Empty views of any size are fine, over any slice.
    assert!(MatRef::new(&[], usize::MAX, 0, usize::MAX, usize::MAX).is_ok());
    // Out-of-range element access is `None` / `false`, never a panic.
    let a = MatRef::row_major(&data, 3, 4).unwrap();
    assert_eq!(
        (a.get(3, 0), a.get(0, 4), a.get(usize::MAX, 0)),
        (None, None, None)
    );
    let mut c = MatMut::row_major(&mut out, 3, 4).unwrap();
    assert!(!c.set(0, 4, 1.0) && !c.set(usize::MAX, usize::MAX, 1.0));
    assert_eq!(c.get(9, 9), None);
    assert!(out.iter().all(|&x| x == SENTINEL));
}

// ----- GEMM ----------------------------------------------------------------------------

#[test]
fn gemm_on_empty_views_of_huge_dimensions_returns_at_once() {
    let big = usize::MAX;
    for_each_isa(|isa| {
        // Each of A, B and C has a zero dimension, so all three are valid over no data.
        for (m, k, n) in [(big, 0, 0), (0, big, 0), (0, 0, big)] {
            let a = MatRef::new(&[], m, k, 0, 0).unwrap();
            let b = MatRef::new(&[], k, n, 0, 0).unwrap();
            let c = MatMut::new(&mut [], m, n, 0, 0).unwrap();
            let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
            assert_eq!(
                gemm(1.0, a, b, 0.0, c, &mut ws),
                Ok(()),
                "{isa:?} {m} {k} {n}"
            );
            let c = MatMut::new(&mut [], m, n, 0, 0).unwrap();
            assert_eq!(gemm_scalar(1.0, a, b, 1.0, c), Ok(()));
        }
    });
}

#[test]
fn gemm_non_finite_values_follow_blas_conventions() {
    for_each_isa(|isa| {
        let (m, k, n) = (7, 9, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.25 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| 1.0 - i as f32 * 0.125).collect();
        let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
        let run = |alpha: f32, a: &[f32], b: &[f32], beta: f32, c: &mut [f32], ws: &mut [f32]| {
            gemm(
                alpha,
                MatRef::row_major(a, m, k).unwrap(),
                MatRef::row_major(b, k, n).unwrap(),
                beta,
                MatMut::row_major(c, m, n).unwrap(),
                ws,
            )
            .unwrap()
        };
        // β = 0 never reads C: NaN and ±∞ there vanish.
        let mut c = vec![f32::NAN; m * n];
        c[3] = f32::INFINITY;
        run(1.0, &a, &b, 0.0, &mut c, &mut ws);
        assert!(c.iter().all(|x| x.is_finite()), "{isa:?}");
        // α = 0 never reads A or B: C ← β·C exactly.
        let nan_a = vec![f32::NAN; m * k];
        let mut c2 = vec![2.0f32; m * n];
        run(0.0, &nan_a, &b, 0.5, &mut c2, &mut ws);
        assert!(c2.iter().all(|&x| x == 1.0), "{isa:?}");
        // Otherwise NaN propagates to exactly the row/column it touches.
        let mut a_nan = a.clone();
        a_nan[2 * k + 4] = f32::NAN;
        let mut c3 = vec![0.0f32; m * n];
        run(1.0, &a_nan, &b, 0.0, &mut c3, &mut ws);
        for i in 0..m {
            for j in 0..n {
                assert_eq!(c3[i * n + j].is_nan(), i == 2, "{isa:?} ({i},{j})");
            }
        }
        // A NaN α makes every element NaN (β = 0).
        let mut c4 = vec![0.0f32; m * n];
        run(f32::NAN, &a, &b, 0.0, &mut c4, &mut ws);
        assert!(c4.iter().all(|x| x.is_nan()), "{isa:?}");
    });
}

#[test]
fn gemm_errors_write_nothing() {
    let a = [1.0f32; 6];
    let mut c = [SENTINEL; 4];
    let mut ws = vec![SENTINEL; 4096];
    let a23 = MatRef::row_major(&a, 2, 3).unwrap();
    let a32 = MatRef::row_major(&a, 3, 2).unwrap();
    // Inner dimensions differ, then C of the wrong shape, then every short workspace.
    let r = gemm(
        1.0,
        a23,
        a23,
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &mut ws,
    );
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    let r = gemm(
        1.0,
        a23,
        a32,
        0.0,
        MatMut::row_major(&mut c, 1, 2).unwrap(),
        &mut ws,
    );
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    let r = gemm_scalar(1.0, a23, a23, 0.0, MatMut::row_major(&mut c, 2, 2).unwrap());
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    let needed = gemm_workspace_len(2, 3, 2);
    for len in 0..needed {
        let r = gemm(
            1.0,
            a23,
            a32,
            0.0,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &mut ws[..len],
        );
        assert_ws_error(r, needed, len, "gemm_workspace_len");
    }
    assert!(c.iter().chain(&ws).all(|&x| x == SENTINEL));
}

// ----- element-wise kernels ---------------------------------------------------------------

#[test]
fn scalar_references_check_lengths_like_their_kernels() {
    let mut out = [SENTINEL; 3];
    assert!(matches!(
        squared_error_scalar(&[1.0; 3], &[1.0; 2], &mut out),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        squared_error_scalar(&[1.0; 3], &[1.0; 3], &mut out[..2]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        sgd_update_scalar(&mut out, &[1.0; 2], 0.1),
        Err(Error::ShapeMismatch { .. })
    ));
    for lr in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert!(matches!(
            sgd_update_scalar(&mut out, &[1.0; 3], lr),
            Err(Error::NonFinite { .. })
        ));
    }
    assert!(out.iter().all(|&x| x == SENTINEL));
}

#[test]
fn element_wise_kernels_give_the_documented_values_for_non_finite_input() {
    let x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];
    for_each_isa(|isa| {
        let mut h = [SENTINEL; 5];
        sigmoid(&x, &mut h).unwrap();
        assert!(h[0].is_nan(), "{isa:?}");
        assert_eq!(&h[1..], &[1.0, 0.0, 0.5, 0.5], "{isa:?}");
        tanh(&x, &mut h).unwrap();
        assert!(h[0].is_nan(), "{isa:?}");
        assert_eq!(&h[1..3], &[1.0, -1.0], "{isa:?}");
        relu(&x, &mut h).unwrap();
        assert!(h[0].is_nan(), "{isa:?}");
        assert_eq!(&h[1..3], &[f32::INFINITY, 0.0], "{isa:?}");
        let mut g = [0.0f32; 5];
        let loss = squared_error(&x, &[0.0; 5], &mut g).unwrap();
        assert!(loss.is_nan(), "{isa:?}");
        let loss = squared_error(&[f32::INFINITY], &[0.0], &mut g[..1]).unwrap();
        assert_eq!(loss, f32::INFINITY, "{isa:?}");
        assert!(
            dot(&[f32::NAN, 1.0], &[0.0, 1.0]).unwrap().is_nan(),
            "{isa:?}"
        );
    });
}

// ----- instruction sets -----------------------------------------------------------------

#[test]
fn forcing_an_unsupported_instruction_set_is_an_error() {
    for &isa in Isa::ALL {
        let r = with_isa(isa, || 1);
        assert_eq!(r.is_ok(), isa.is_supported(), "{isa:?}");
        if let Err(e) = r {
            assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        }
    }
    assert_eq!(Isa::from_name("avx1024"), None);
}

// ----- the neuron ----------------------------------------------------------------------

#[test]
fn neuron_checks_lengths_and_writes_nothing() {
    let n = Neuron {
        weights: &[1.0, 2.0],
        bias: 0.5,
    };
    assert!(matches!(n.tick(&[1.0]), Err(Error::ShapeMismatch { .. })));
    let mut dw = [SENTINEL; 3];
    assert!(matches!(
        n.backward(&[1.0, 2.0], 1.0, &mut dw),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        n.backward(&[1.0], 1.0, &mut dw[..2]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(dw.iter().all(|&x| x == SENTINEL));
    assert!(n.tick(&[f32::NAN, 0.0]).unwrap().is_nan());
    assert_eq!(n.tick(&[f32::INFINITY, 0.0]), Ok(1.0));
}

// ----- Mlp -----------------------------------------------------------------------------

/// A 3-layer net with biases: [3, 4, 5, 2], so there are two hidden layers, a first
/// layer, and a layer `l ≥ 2` to poison.
struct Net {
    sizes: [usize; 4],
    acts: [Activation; 3],
    n: usize,
}

impl Net {
    const fn new(acts: [Activation; 3]) -> Self {
        Net {
            sizes: [3, 4, 5, 2],
            acts,
            n: 6,
        }
    }
    fn mlp(&self) -> Mlp<'_> {
        Mlp::new(&self.sizes, &self.acts, true).unwrap()
    }
    fn params(&self) -> Vec<f32> {
        (0..Mlp::param_len(&self.sizes, true))
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.05)
            .collect()
    }
    fn data(&self) -> (Vec<f32>, Vec<f32>) {
        let x = (0..self.n * 3)
            .map(|i| (i % 7) as f32 * 0.3 - 0.9)
            .collect();
        let y = (0..self.n * 2).map(|i| (i % 3) as f32 * 0.5).collect();
        (x, y)
    }
    /// Offsets of (W1, b1, W2, b2, W3, b3) in the parameter vector.
    fn offsets(&self) -> [usize; 6] {
        let s = self.sizes;
        let w1 = 0;
        let b1 = w1 + s[0] * s[1];
        let w2 = b1 + s[1];
        let b2 = w2 + s[1] * s[2];
        let w3 = b2 + s[2];
        let b3 = w3 + s[2] * s[3];
        [w1, b1, w2, b2, w3, b3]
    }
}

/// Runs `train_step` and `loss_and_grad`, expecting `NonFinite`, and checks that neither
/// the parameters nor the gradient buffer changed by a single bit.
fn expect_non_finite(net: &Mlp<'_>, params: &mut [f32], x: &[f32], y: &[f32], lr: f32, why: &str) {
    let n = x.len() / net.sizes()[0];
    let mut ws = vec![SENTINEL; Mlp::workspace_len(net.sizes(), n)];
    let before = bits(params);
    let r = net.train_step(params, x, y, lr, &mut ws);
    assert!(matches!(r, Err(Error::NonFinite { .. })), "{why}: {r:?}");
    assert_eq!(bits(params), before, "{why}: params changed");
    if lr.is_finite() {
        let mut grads = vec![SENTINEL; params.len()];
        let r = net.loss_and_grad(params, x, y, &mut grads, &mut ws);
        assert!(matches!(r, Err(Error::NonFinite { .. })), "{why}: {r:?}");
        assert!(grads.iter().all(|&g| g == SENTINEL), "{why}: grads written");
    }
}

#[test]
fn non_finite_data_is_rejected_and_changes_nothing() {
    for_each_isa(|isa| {
        for acts in [
            [Sigmoid, Sigmoid, Identity],
            [Relu, Tanh, Sigmoid],
            [Tanh, Relu, Identity],
        ]
        .into_iter()
        .take(ACT_SETS)
        {
            let setup = Net::new(acts);
            let net = setup.mlp();
            let mut p = setup.params();
            let (x, y) = setup.data();
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, 4, x.len() - 1] {
                    let mut xb = x.clone();
                    xb[at] = bad;
                    let why = format!("{isa:?} {acts:?} x[{at}] = {bad}");
                    expect_non_finite(&net, &mut p, &xb, &y, 0.1, &why);
                }
                for at in [0, y.len() - 1] {
                    let mut yb = y.clone();
                    yb[at] = bad;
                    let why = format!("{isa:?} {acts:?} y[{at}] = {bad}");
                    expect_non_finite(&net, &mut p, &x, &yb, 0.1, &why);
                }
                let why = format!("{isa:?} lr = {bad}");
                expect_non_finite(&net, &mut p, &x, &y, bad, &why);
            }
        }
    });
}

#[test]
fn nan_parameters_anywhere_are_rejected_and_change_nothing() {
    for_each_isa(|isa| {
        for acts in [
            [Sigmoid, Sigmoid, Identity],
            [Relu, Relu, Sigmoid],
            [Tanh, Relu, Tanh],
        ]
        .into_iter()
        .take(ACT_SETS)
        {
            let setup = Net::new(acts);
            let net = setup.mlp();
            let (x, y) = setup.data();
            let len = Mlp::param_len(&setup.sizes, true);
            // Every single parameter, one at a time (under Miri every third, which still
            // reaches every layer's weights and biases).
            for at in (0..len).step_by(if cfg!(miri) { 3 } else { 1 }) {
                let mut p = setup.params();
                p[at] = f32::NAN;
                let why = format!("{isa:?} {acts:?} params[{at}] = NaN");
                expect_non_finite(&net, &mut p, &x, &y, 0.1, &why);
                assert!(net.check_params(&p).is_err());
            }
        }
    });
}

#[test]
fn infinite_weights_past_the_first_layer_are_rejected_and_change_nothing() {
    for_each_isa(|isa| {
        for acts in [
            [Sigmoid, Sigmoid, Sigmoid],
            [Relu, Relu, Sigmoid],
            [Tanh, Tanh, Tanh],
        ]
        .into_iter()
        .take(ACT_SETS)
        {
            let setup = Net::new(acts);
            let net = setup.mlp();
            let (x, y) = setup.data();
            let o = setup.offsets();
            for (w, b) in [(o[2], o[3]), (o[4], o[5])] {
                // Under Miri the first, a middle and the last weight of the layer.
                let ats: Vec<usize> = if cfg!(miri) {
                    vec![w, (w + b) / 2, b - 1]
                } else {
                    (w..b).collect()
                };
                for at in ats {
                    for inf in [f32::INFINITY, f32::NEG_INFINITY] {
                        let mut p = setup.params();
                        p[at] = inf;
                        let why = format!("{isa:?} {acts:?} params[{at}] = {inf}");
                        expect_non_finite(&net, &mut p, &x, &y, 0.1, &why);
                    }
                }
            }
        }
    });
}

#[test]
fn an_infinite_first_layer_weight_into_a_saturated_sigmoid_stays_as_documented() {
    // The documented exception: train_step does not scan params; an ∞ that only feeds a
    // saturated sigmoid gives a finite step and stays ∞. check_params reports it.
    let setup = Net::new([Sigmoid, Sigmoid, Identity]);
    let net = setup.mlp();
    let (x, y) = setup.data();
    let x: Vec<f32> = x.iter().map(|v| if *v == 0.0 { 0.5 } else { *v }).collect();
    let mut p = setup.params();
    p[0] = f32::INFINITY;
    let mut ws = vec![0.0; Mlp::workspace_len(&setup.sizes, setup.n)];
    let loss = net.train_step(&mut p, &x, &y, 0.1, &mut ws).unwrap();
    assert!(loss.is_finite());
    assert_eq!(p[0], f32::INFINITY);
    assert!(p[1..].iter().all(|v| v.is_finite()));
    assert_eq!(
        net.check_params(&p),
        Err(Error::NonFinite { what: "params" })
    );
}

#[test]
fn overflowing_hidden_activations_are_rejected_and_change_nothing() {
    // Identity hidden layers with huge (finite) weights overflow to ±∞; the sigmoid
    // output layer saturates, so the loss is finite, but a weight gradient would not be.
    for_each_isa(|isa| {
        let setup = Net::new([Identity, Identity, Sigmoid]);
        let net = setup.mlp();
        let (x, y) = setup.data();
        let o = setup.offsets();
        let mut p = setup.params();
        for v in &mut p[o[0]..o[4]] {
            *v = 3e30;
        }
        assert_eq!(net.check_params(&p), Ok(()));
        let why = format!("{isa:?} overflowing hidden layer");
        expect_non_finite(&net, &mut p, &x, &y, 0.1, &why);
    });
}

/// With Adam (an update of the whole network from its gradient), the hidden activations
/// are checked through the gradient they give: the same error as with plain SGD, and
/// nothing changed but `grads`.
#[test]
fn overflowing_hidden_activations_are_rejected_through_the_gradient_with_adam() {
    use microprop::optim::{Adam, AdamConfig};
    for_each_isa(|isa| {
        let setup = Net::new([Identity, Identity, Sigmoid]);
        let net = setup.mlp();
        let (x, y) = setup.data();
        // Positive inputs and weights: the hidden layers overflow to +∞ (no NaN), the
        // sigmoid output saturates at 1, and the loss is finite.
        let x: Vec<f32> = x.iter().map(|v| v.abs() + 0.5).collect();
        let o = setup.offsets();
        let mut p = setup.params();
        for v in &mut p[o[0]..o[4]] {
            *v = 3e30;
        }
        for v in &mut p[o[4]..] {
            *v = v.abs() + 0.1;
        }
        let before = bits(&p);
        let mut state = vec![0.25; Adam::state_len(p.len())];
        let mut adam = Adam::new(AdamConfig::adam(0.01), &mut state).unwrap();
        let mut grads = vec![SENTINEL; p.len()];
        let mut ws = vec![SENTINEL; Mlp::workspace_len(&setup.sizes, setup.n)];
        let r = net.train_step_with(
            &mut p,
            &x,
            Target::Values(&y),
            Loss::MeanSquared,
            &mut adam,
            &mut grads,
            &mut ws,
        );
        assert_eq!(
            r,
            Err(Error::NonFinite {
                what: "a hidden layer's activations"
            }),
            "{isa:?}"
        );
        assert_eq!(bits(&p), before, "{isa:?}: params changed");
        // (A new Adam starts from zero moments and step 0.)
        assert!(
            state.iter().all(|&v| v == 0.0),
            "{isa:?}: Adam's state changed"
        );
    });
}

#[test]
fn a_diverging_run_stops_at_the_first_bad_step_with_parameters_intact() {
    for_each_isa(|isa| {
        let setup = Net::new([Relu, Relu, Identity]);
        let net = setup.mlp();
        let (x, y) = setup.data();
        let mut p = setup.params();
        let mut ws = vec![0.0; Mlp::workspace_len(&setup.sizes, setup.n)];
        let mut steps = 0;
        loop {
            let before = p.clone();
            match net.train_step(&mut p, &x, &y, 1e3, &mut ws) {
                Ok(loss) => assert!(loss.is_finite()),
                Err(e) => {
                    assert!(matches!(e, Error::NonFinite { .. }), "{isa:?} {e}");
                    assert_eq!(bits(&p), bits(&before), "{isa:?}");
                    break;
                }
            }
            steps += 1;
            assert!(steps < 100, "{isa:?}: lr 1e3 should diverge");
        }
    });
}

#[test]
fn every_short_workspace_is_rejected_with_the_length_needed() {
    let setup = Net::new([Sigmoid, Relu, Identity]);
    let net = setup.mlp();
    let (x, y) = setup.data();
    let mut p = setup.params();
    let before = bits(&p);
    let needed = Mlp::workspace_len(&setup.sizes, setup.n);
    let fneeded = Mlp::forward_workspace_len(&setup.sizes, setup.n);
    assert!(fneeded <= needed);
    let mut ws = vec![SENTINEL; needed];
    let mut out = vec![SENTINEL; setup.n * 2];
    let mut grads = vec![SENTINEL; p.len()];
    // Under Miri the lengths at the edges only (each call is checked and refused the same
    // way; every length is a few thousand interpreted calls).
    let lens: Vec<usize> = if cfg!(miri) {
        vec![0, 1, fneeded / 2, fneeded - 1, fneeded, needed - 1]
    } else {
        (0..needed).collect()
    };
    for len in lens {
        let step = "Mlp::workspace_len";
        let r = net.train_step(&mut p, &x, &y, 0.1, &mut ws[..len]);
        assert_ws_error(r, needed, len, step);
        let r = net.loss_and_grad(&p, &x, &y, &mut grads, &mut ws[..len]);
        assert_ws_error(r, needed, len, step);
        if len < fneeded {
            let r = net.forward(&p, &x, &mut out, &mut ws[..len]);
            assert_ws_error(r, fneeded, len, "Mlp::forward_workspace_len");
        }
    }
    assert_eq!(bits(&p), before);
    assert!(ws.iter().chain(&out).chain(&grads).all(|&v| v == SENTINEL));
}

#[test]
fn wrong_shapes_are_rejected_before_anything_is_written() {
    let setup = Net::new([Sigmoid, Relu, Identity]);
    let net = setup.mlp();
    let (x, y) = setup.data();
    let mut p = setup.params();
    let before = bits(&p);
    let mut ws = vec![SENTINEL; Mlp::workspace_len(&setup.sizes, setup.n)];
    let mut out = vec![SENTINEL; setup.n * 2];
    let mut grads = vec![SENTINEL; p.len()];
    let plen = p.len();
    let shape =
        |r: Result<f32, Error>| assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
    // An x that is not whole rows: its length and the row length, no guessed shape.
    let rows = |r: Result<f32, Error>, len| {
        let want = Error::PartialRow {
            what: "x (N rows of sizes[0] values)",
            len,
            row: setup.sizes[0],
        };
        assert_eq!(r, Err(want));
    };
    shape(net.train_step(&mut p[..plen - 1], &x, &y, 0.1, &mut ws));
    rows(
        net.train_step(&mut p, &x[..x.len() - 1], &y, 0.1, &mut ws),
        x.len() - 1,
    );
    shape(net.train_step(&mut p, &x, &y[..y.len() - 2], 0.1, &mut ws));
    shape(net.train_step(&mut p, &x[..setup.sizes[0]], &y, 0.1, &mut ws));
    shape(net.loss_and_grad(&p, &x, &y, &mut grads[..plen - 1], &mut ws));
    shape(net.loss_and_grad(&p[..1], &x, &y, &mut grads, &mut ws));
    shape(net.forward(&p, &x, &mut out[..3], &mut ws).map(|_| 0.0));
    shape(
        net.forward(&p, &x[..setup.sizes[0]], &mut out, &mut ws)
            .map(|_| 0.0),
    );
    shape(net.check_params(&p[1..]).map(|_| 0.0));
    assert_eq!(bits(&p), before);
    assert!(ws.iter().chain(&out).chain(&grads).all(|&v| v == SENTINEL));
    // Absurd layer sizes: a clear error from `new`, saturated lengths from the const fns.
    let huge = [usize::MAX / 2, 3, 1];
    assert!(matches!(
        Mlp::new(&huge, &[Relu, Relu], false),
        Err(Error::Overflow { .. })
    ));
    assert_eq!(Mlp::param_len(&huge, true), usize::MAX);
    assert_eq!(Mlp::workspace_len(&[1, usize::MAX / 2, 1], 4), usize::MAX);
}

#[test]
fn forward_propagates_non_finite_inputs_as_documented() {
    let setup = Net::new([Sigmoid, Tanh, Identity]);
    let net = setup.mlp();
    let (mut x, _) = setup.data();
    let p = setup.params();
    x[0] = f32::NAN; // example 0 only
    let mut ws = vec![0.0; Mlp::forward_workspace_len(&setup.sizes, setup.n)];
    let mut out = vec![0.0; setup.n * 2];
    net.forward(&p, &x, &mut out, &mut ws).unwrap();
    assert!(out[..2].iter().all(|v| v.is_nan()));
    assert!(out[2..].iter().all(|v| v.is_finite()));
}

// ----- graph ---------------------------------------------------------------------------

#[test]
fn graph_store_and_arena_limits_are_errors() {
    let mut nodes = [Node::EMPTY; 2];
    let mut arena = [SENTINEL; 8];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.scalar(2.0).unwrap();
    let y = g.scalar(3.0).unwrap();
    assert_eq!(g.mul(x, y), Err(Error::GraphFull { capacity: 2 }));
    assert!(matches!(
        g.input(usize::MAX, 2),
        Err(Error::GraphFull { .. } | Error::Overflow { .. })
    ));
    assert!(matches!(
        g.sgd_update(x, f32::NAN),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(g.value(x), Ok(&[2.0][..]));
    // Absurd shapes on a graph with room: overflow or arena full, never a panic.
    let mut nodes = [Node::EMPTY; 4];
    let mut arena = [0.0f32; 8];
    let mut g = Graph::new(&mut nodes, &mut arena);
    assert!(matches!(
        g.input(usize::MAX, 2),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        g.input(1 << 40, 1 << 10),
        Err(Error::ArenaFull { .. } | Error::Overflow { .. })
    ));
    assert!(matches!(
        g.input_from(2, 2, &[1.0; 3]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(g.is_empty());
}

/// `r` is `WorkspaceTooSmall` with `needed` and `len`, naming the `const fn` `sizer` (at
/// the start of its `sized_by`, which its Display carries).
#[track_caller]
fn assert_ws_error<T: std::fmt::Debug>(
    r: Result<T, Error>,
    needed: usize,
    len: usize,
    sizer: &str,
) {
    match r {
        Err(
            e @ Error::WorkspaceTooSmall {
                needed: n,
                len: l,
                sized_by,
            },
        ) => {
            assert_eq!((n, l), (needed, len));
            assert!(sized_by.starts_with(sizer), "{sized_by}");
            assert!(e.to_string().contains(sizer), "{e}");
        }
        r => panic!("expected WorkspaceTooSmall from {sizer}, got {r:?}"),
    }
}
