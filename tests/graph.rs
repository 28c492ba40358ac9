//! The computational graph: the lecture's hand-derived circuits, every gate's gradient
//! against central finite differences of an f64 reference written here, the 2-layer net
//! against an f64 hand-written backprop, every error, determinism, and zero allocations
//! in `forward`/`backward`, on every instruction set this CPU supports.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::alloc::count_allocs;
use common::*;
use microprop::Error;
use microprop::graph::{Graph, Node, Tensor, matmul_scratch_len, tensor_len};
use microprop::simd::Isa;

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

// ----- the lecture's circuits ------------------------------------------------------------

#[test]
fn lecture_add_multiply_circuit() {
    for_each_isa(|_| {
        let mut nodes = [Node::EMPTY; 5];
        let mut arena = [f32::NAN; 10];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let x = g.scalar(-2.0).unwrap();
        let y = g.scalar(5.0).unwrap();
        let z = g.scalar(-4.0).unwrap();
        let q = g.add(x, y).unwrap();
        let f = g.mul(q, z).unwrap();
        g.forward().unwrap();
        g.backward(f).unwrap();
        assert_eq!(g.value(q).unwrap(), [3.0]);
        assert_eq!(g.value(f).unwrap(), [-12.0]);
        assert_eq!(g.grad(f).unwrap(), [1.0]);
        assert_eq!(g.grad(q).unwrap(), [-4.0]);
        assert_eq!(g.grad(x).unwrap(), [-4.0]);
        assert_eq!(g.grad(y).unwrap(), [-4.0]);
        assert_eq!(g.grad(z).unwrap(), [3.0]);
        assert_eq!(g.arena_needed(), 10);
    });
}

fn assert_close(got: f32, want: f64, tol: f64, what: &str) {
    assert!(
        (f64::from(got) - want).abs() <= tol,
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn lecture_sigmoid_neuron_from_scalar_gates() {
    // f(w, x) = σ(w0·x0 + w1·x1 + w2), w = [2, −3, −3], x = [−1, −2].
    for_each_isa(|_| {
        let mut nodes = [Node::EMPTY; 16];
        let mut arena = [0.0f32; 64];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let w0 = g.scalar(2.0).unwrap();
        let x0 = g.scalar(-1.0).unwrap();
        let w1 = g.scalar(-3.0).unwrap();
        let x1 = g.scalar(-2.0).unwrap();
        let w2 = g.scalar(-3.0).unwrap();
        let a = g.mul(w0, x0).unwrap();
        let b = g.mul(w1, x1).unwrap();
        let s = g.add(a, b).unwrap();
        let z = g.add(s, w2).unwrap();
        let f = g.sigmoid(z).unwrap();
        g.forward().unwrap();
        g.backward(f).unwrap();
        let s1 = 1.0 / (1.0 + (-1.0f64).exp()); // z = 1
        let ds = s1 * (1.0 - s1); // ≈ 0.1966
        assert_close(g.value(z).unwrap()[0], 1.0, 0.0, "z");
        assert_close(g.value(f).unwrap()[0], s1, 1e-6, "f"); // 0.73
        let v = |t| f64::from(g.grad(t).unwrap()[0]);
        for (t, want, name) in [
            (w0, -ds, "dw0"),       // ≈ −0.20
            (w1, -2.0 * ds, "dw1"), // ≈ −0.39
            (w2, ds, "dw2"),        // ≈ 0.20
            (x0, 2.0 * ds, "dx0"),  // ≈ 0.39
            (x1, -3.0 * ds, "dx1"), // ≈ −0.59
        ] {
            assert!((v(t) - want).abs() < 1e-6, "{name}: {} vs {want}", v(t));
        }
        assert!((v(w0) + 0.2).abs() < 0.01 && (v(w1) + 0.39).abs() < 0.01);
        assert!((v(x0) - 0.39).abs() < 0.01 && (v(x1) + 0.59).abs() < 0.01);
    });
}

#[test]
fn lecture_sigmoid_neuron_as_matmul_plus_bias() {
    // The same neuron with tensors: σ(x·w + b), x 1×2, w 2×1, b 1×1.
    for_each_isa(|_| {
        let mut nodes = [Node::EMPTY; 8];
        let mut arena = vec![0.0f32; 4096];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let x = g.input_from(1, 2, &[-1.0, -2.0]).unwrap();
        let w = g.input_from(2, 1, &[2.0, -3.0]).unwrap();
        let b = g.input_from(1, 1, &[-3.0]).unwrap();
        let xw = g.matmul(x, w).unwrap();
        let z = g.add_bias(xw, b).unwrap();
        let f = g.sigmoid(z).unwrap();
        g.forward().unwrap();
        g.backward(f).unwrap();
        let s1 = 1.0 / (1.0 + (-1.0f64).exp());
        let ds = s1 * (1.0 - s1);
        assert_close(g.value(f).unwrap()[0], s1, 1e-6, "f");
        let gw = g.grad(w).unwrap();
        let gx = g.grad(x).unwrap();
        assert_close(gw[0], -ds, 1e-6, "dw0");
        assert_close(gw[1], -2.0 * ds, 1e-6, "dw1");
        assert_close(g.grad(b).unwrap()[0], ds, 1e-6, "db");
        assert_close(gx[0], 2.0 * ds, 1e-6, "dx0");
        assert_close(gx[1], -3.0 * ds, 1e-6, "dx1");
    });
}

#[test]
fn tensor_used_twice_gets_both_contributions() {
    // f = x·x + x·y  ⇒  df/dx = 2x + y, df/dy = x.
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 32];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.scalar(3.0).unwrap();
    let y = g.scalar(-5.0).unwrap();
    let xx = g.mul(x, x).unwrap();
    let xy = g.mul(x, y).unwrap();
    let f = g.add(xx, xy).unwrap();
    g.forward().unwrap();
    g.backward(f).unwrap();
    assert_eq!(g.value(f).unwrap(), [-6.0]);
    assert_eq!(g.grad(x).unwrap(), [1.0]);
    assert_eq!(g.grad(y).unwrap(), [3.0]);
    // add(x, x): both inputs the same tensor.
    let mut nodes = [Node::EMPTY; 3];
    let mut arena = [0.0f32; 6];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.scalar(1.5).unwrap();
    let d = g.add(x, x).unwrap();
    let f = g.max(d, d).unwrap();
    g.forward().unwrap();
    g.backward(f).unwrap();
    assert_eq!(g.value(f).unwrap(), [3.0]);
    assert_eq!(g.grad(x).unwrap(), [2.0]);
}

// ----- gradient checks against an f64 reference ------------------------------------------

type Shape = (usize, usize);

/// f64 references of the gates, row-major.
mod reference {
    pub fn zip(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
    }
    pub fn map(a: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
        a.iter().map(|&a| f(a)).collect()
    }
    pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }
    pub fn add_bias(x: &[f64], b: &[f64]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| v + b[i % b.len()])
            .collect()
    }
    pub fn sigmoid(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }
    pub fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
        (0..c * r).map(|i| a[(i % r) * c + i / r]).collect()
    }
    pub fn squared_error(p: &[f64], y: &[f64]) -> f64 {
        p.iter().zip(y).map(|(p, y)| (p - y) * (p - y)).sum()
    }
}

struct Check<'a> {
    name: &'a str,
    inputs: &'a [Shape],
    /// Keeps inputs away from kinks (ReLU at 0, ties in max).
    fix: fn(&mut [Vec<f32>]),
    build: fn(&mut Graph, &[Tensor]) -> Tensor,
    reference: fn(&[Vec<f64>]) -> Vec<f64>,
}

fn no_fix(_: &mut [Vec<f32>]) {}

/// Builds `L = Σ (gate(inputs) − t)²` with a random target `t`, and checks the gate's value
/// and every input gradient against the f64 reference and its central differences.
fn gradient_check(c: &Check, seed: u64) {
    let mut rng = rng(seed);
    let mut vals: Vec<Vec<f32>> = c
        .inputs
        .iter()
        .map(|&(r, k)| fill(&mut rng, r * k))
        .collect();
    (c.fix)(&mut vals);
    let as64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> {
        v.iter()
            .map(|x| x.iter().map(|&a| f64::from(a)).collect())
            .collect()
    };
    let x64 = as64(&vals);
    let out64 = (c.reference)(&x64);
    let target: Vec<f32> = fill(&mut rng, out64.len());
    let t64: Vec<f64> = target.iter().map(|&a| f64::from(a)).collect();
    let loss64 = |x: &[Vec<f64>]| reference::squared_error(&(c.reference)(x), &t64);

    for_each_isa_once_under_miri(|isa| {
        let mut nodes = [Node::EMPTY; 16];
        let mut arena = vec![f32::NAN; if cfg!(miri) { 1 << 12 } else { 1 << 16 }];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let ts: Vec<Tensor> = c
            .inputs
            .iter()
            .zip(&vals)
            .map(|(&(r, k), v)| g.input_from(r, k, v).unwrap())
            .collect();
        let out = (c.build)(&mut g, &ts);
        let (r, k) = g.shape(out).unwrap();
        assert_eq!(r * k, out64.len(), "{}: output shape", c.name);
        let t = g.input_from(r, k, &target).unwrap();
        let loss = g.squared_error(out, t).unwrap();
        g.forward().unwrap();
        g.backward(loss).unwrap();

        for (i, (&got, &want)) in g.value(out).unwrap().iter().zip(&out64).enumerate() {
            let tol = 1e-5 * (1.0 + want.abs());
            assert!(
                (f64::from(got) - want).abs() <= tol,
                "{} on {isa:?}: value[{i}] {got} vs {want}",
                c.name
            );
        }
        assert_close(
            g.value(loss).unwrap()[0],
            loss64(&x64),
            1e-4 * (1.0 + loss64(&x64)),
            "loss",
        );
        let h = 1e-6;
        for (n, &tn) in ts.iter().enumerate() {
            let grad = g.grad(tn).unwrap();
            // Under Miri a few elements per input: the f64 differences are math, not memory.
            let checked = if cfg!(miri) { 2 } else { usize::MAX };
            for e in (0..x64[n].len()).take(checked) {
                let mut xp = x64.clone();
                xp[n][e] += h;
                let mut xm = x64.clone();
                xm[n][e] -= h;
                let fd = (loss64(&xp) - loss64(&xm)) / (2.0 * h);
                let got = f64::from(grad[e]);
                assert!(
                    (got - fd).abs() <= 2e-4 * (1.0 + fd.abs()),
                    "{} on {isa:?}: d input{n}[{e}] = {got}, finite difference {fd}",
                    c.name
                );
            }
        }
        // The target's gradient is −2(p − t).
        for (e, &d) in g.grad(t).unwrap().iter().enumerate() {
            let want = -2.0 * (out64[e] - t64[e]);
            assert!((f64::from(d) - want).abs() <= 1e-4 * (1.0 + want.abs()));
        }
    });
}

fn away_from_zero(v: &mut [Vec<f32>]) {
    for x in v.iter_mut().flatten() {
        if x.abs() < 0.05 {
            *x += 0.1f32.copysign(*x);
        }
    }
}

fn apart(v: &mut [Vec<f32>]) {
    let (a, b) = v.split_at_mut(1);
    for (x, y) in a[0].iter_mut().zip(b[0].iter_mut()) {
        if (*x - *y).abs() < 0.05 {
            *y = *x + 0.1;
        }
    }
}

#[test]
fn gradient_check_every_gate() {
    use reference as r;
    let checks = [
        Check {
            name: "add",
            inputs: &[(3, 4), (3, 4)],
            fix: no_fix,
            build: |g, t| g.add(t[0], t[1]).unwrap(),
            reference: |x| r::zip(&x[0], &x[1], |a, b| a + b),
        },
        Check {
            name: "add_bias",
            inputs: &[(5, 3), (1, 3)],
            fix: no_fix,
            build: |g, t| g.add_bias(t[0], t[1]).unwrap(),
            reference: |x| r::add_bias(&x[0], &x[1]),
        },
        Check {
            name: "mul",
            inputs: &[(2, 7), (2, 7)],
            fix: no_fix,
            build: |g, t| g.mul(t[0], t[1]).unwrap(),
            reference: |x| r::zip(&x[0], &x[1], |a, b| a * b),
        },
        Check {
            name: "mul(x, x)",
            inputs: &[(3, 3)],
            fix: no_fix,
            build: |g, t| g.mul(t[0], t[0]).unwrap(),
            reference: |x| r::zip(&x[0], &x[0], |a, b| a * b),
        },
        Check {
            name: "matmul",
            inputs: &[(4, 5), (5, 3)],
            fix: no_fix,
            build: |g, t| g.matmul(t[0], t[1]).unwrap(),
            reference: |x| r::matmul(&x[0], &x[1], 4, 5, 3),
        },
        Check {
            name: "matmul(a, a)",
            inputs: &[(4, 4)],
            fix: no_fix,
            build: |g, t| g.matmul(t[0], t[0]).unwrap(),
            reference: |x| r::matmul(&x[0], &x[0], 4, 4, 4),
        },
        Check {
            name: "matmul (skinny, lecture-like 1-wide output)",
            inputs: &[(7, 9), (9, 1)],
            fix: no_fix,
            build: |g, t| g.matmul(t[0], t[1]).unwrap(),
            reference: |x| r::matmul(&x[0], &x[1], 7, 9, 1),
        },
        Check {
            name: "max",
            inputs: &[(3, 5), (3, 5)],
            fix: apart,
            build: |g, t| g.max(t[0], t[1]).unwrap(),
            reference: |x| r::zip(&x[0], &x[1], f64::max),
        },
        Check {
            name: "exp",
            inputs: &[(2, 9)],
            fix: no_fix,
            build: |g, t| g.exp(t[0]).unwrap(),
            reference: |x| r::map(&x[0], f64::exp),
        },
        Check {
            name: "sigmoid",
            inputs: &[(3, 11)],
            fix: no_fix,
            build: |g, t| g.sigmoid(t[0]).unwrap(),
            reference: |x| r::map(&x[0], r::sigmoid),
        },
        Check {
            name: "relu",
            inputs: &[(4, 9)],
            fix: away_from_zero,
            build: |g, t| g.relu(t[0]).unwrap(),
            reference: |x| r::map(&x[0], |a| a.max(0.0)),
        },
        Check {
            name: "tanh",
            inputs: &[(5, 7)],
            fix: no_fix,
            build: |g, t| g.tanh(t[0]).unwrap(),
            reference: |x| r::map(&x[0], f64::tanh),
        },
        Check {
            name: "squared_error (as a gate inside the loss)",
            inputs: &[(2, 3), (2, 3)],
            fix: no_fix,
            build: |g, t| g.squared_error(t[0], t[1]).unwrap(),
            reference: |x| vec![r::squared_error(&x[0], &x[1])],
        },
        Check {
            name: "composite: tanh(x·w + b) ⊙ exp(v)",
            inputs: &[(3, 4), (4, 2), (1, 2), (3, 2)],
            fix: no_fix,
            build: |g, t| {
                let xw = g.matmul(t[0], t[1]).unwrap();
                let z = g.add_bias(xw, t[2]).unwrap();
                let h = g.tanh(z).unwrap();
                let e = g.exp(t[3]).unwrap();
                g.mul(h, e).unwrap()
            },
            reference: |x| {
                let z = r::add_bias(&r::matmul(&x[0], &x[1], 3, 4, 2), &x[2]);
                r::zip(&r::map(&z, f64::tanh), &r::map(&x[3], f64::exp), |a, b| {
                    a * b
                })
            },
        },
    ];
    for (i, c) in checks.iter().enumerate() {
        for seed in 0..3 {
            gradient_check(c, 100 * i as u64 + seed);
        }
    }
}

#[test]
fn max_ties_go_to_the_first_operand_and_nan_propagates() {
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 512];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.input_from(1, 4, &[1.0, 2.0, 3.0, f32::NAN]).unwrap();
    let y = g.input_from(1, 4, &[1.0, 5.0, -3.0, 0.0]).unwrap();
    let m = g.max(x, y).unwrap();
    let w = g.input_from(4, 1, &[1.0, 10.0, 100.0, 1000.0]).unwrap();
    let f = g.matmul(m, w).unwrap();
    g.forward().unwrap();
    g.backward(f).unwrap();
    let v = g.value(m).unwrap();
    assert_eq!(&v[..3], [1.0, 5.0, 3.0]);
    assert!(v[3].is_nan());
    let (dx, dy) = (g.grad(x).unwrap(), g.grad(y).unwrap());
    assert_eq!(&dx[..3], [1.0, 0.0, 100.0]); // the tie (1 vs 1) goes to x
    assert_eq!(&dy[..3], [0.0, 10.0, 0.0]);
    assert!(dx[3].is_nan() && dy[3].is_nan());
    assert!(g.value(f).unwrap()[0].is_nan());
}

#[test]
fn nan_propagates_through_forward_and_backward() {
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 64];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.input_from(1, 2, &[f32::NAN, 1.0]).unwrap();
    let y = g.input_from(1, 2, &[2.0, 3.0]).unwrap();
    let p = g.mul(x, y).unwrap();
    let s = g.sigmoid(p).unwrap();
    let t = g.input(1, 2).unwrap();
    let l = g.squared_error(s, t).unwrap();
    g.forward().unwrap();
    g.backward(l).unwrap();
    assert!(g.value(l).unwrap()[0].is_nan());
    assert!(g.value(s).unwrap()[0].is_nan());
    assert!(g.value(s).unwrap()[1].is_finite());
    // Element 1 of the loss gradient is finite, but the loss (a sum) is NaN.
    assert!(g.grad(x).unwrap()[0].is_nan() && g.grad(y).unwrap()[0].is_nan());
    assert!(g.grad(y).unwrap()[1].is_finite());
}

// ----- the lecture's 2-layer network -----------------------------------------------------

struct TwoLayer<'a> {
    g: Graph<'a>,
    x: Tensor,
    y: Tensor,
    w1: Tensor,
    w2: Tensor,
    h: Tensor,
    y_pred: Tensor,
    loss: Tensor,
}

const N: usize = 4;
const D_IN: usize = 5;
const H: usize = 6;
const D_OUT: usize = 3;

/// Arena length of the 2-layer net, from the public sizing helpers.
const fn two_layer_arena_len() -> usize {
    let tensors = tensor_len(N, D_IN)
        + tensor_len(N, D_OUT)
        + tensor_len(D_IN, H)
        + tensor_len(H, D_OUT)
        + tensor_len(N, H) // x·w1
        + tensor_len(N, H) // sigmoid
        + tensor_len(N, D_OUT) // ·w2
        + tensor_len(1, 1); // loss
    let a = matmul_scratch_len(N, D_IN, H);
    let b = matmul_scratch_len(N, H, D_OUT);
    let mut s = if a > b { a } else { b };
    if s < N * H {
        s = N * H; // the sigmoid's scratch
    }
    tensors + s
}

fn two_layer<'a>(nodes: &'a mut [Node], arena: &'a mut [f32], seed: u64) -> TwoLayer<'a> {
    let mut rng = rng(seed);
    let mut g = Graph::new(nodes, arena);
    let x = g.input_from(N, D_IN, &fill(&mut rng, N * D_IN)).unwrap();
    let y = g.input_from(N, D_OUT, &fill(&mut rng, N * D_OUT)).unwrap();
    let w1 = g.input_from(D_IN, H, &fill(&mut rng, D_IN * H)).unwrap();
    let w2 = g.input_from(H, D_OUT, &fill(&mut rng, H * D_OUT)).unwrap();
    let xw1 = g.matmul(x, w1).unwrap();
    let h = g.sigmoid(xw1).unwrap();
    let y_pred = g.matmul(h, w2).unwrap();
    let loss = g.squared_error(y_pred, y).unwrap();
    TwoLayer {
        g,
        x,
        y,
        w1,
        w2,
        h,
        y_pred,
        loss,
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| f64::from(a)).collect()
}

fn assert_all_close(got: &[f32], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(a) - b).abs() <= rel * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn lecture_two_layer_net_matches_f64_backprop() {
    use reference as r;
    for_each_isa(|isa| {
        let mut nodes = [Node::EMPTY; 8];
        let mut arena = [f32::NAN; two_layer_arena_len()];
        let mut net = two_layer(&mut nodes, &mut arena, 7);
        assert_eq!(net.g.arena_needed(), two_layer_arena_len());
        net.g.forward().unwrap();
        net.g.backward(net.loss).unwrap();
        let g = &net.g;
        let (x, y) = (f64s(g.value(net.x).unwrap()), f64s(g.value(net.y).unwrap()));
        let (w1, w2) = (
            f64s(g.value(net.w1).unwrap()),
            f64s(g.value(net.w2).unwrap()),
        );

        // The lecture, in f64:
        let h = r::map(&r::matmul(&x, &w1, N, D_IN, H), r::sigmoid);
        let y_pred = r::matmul(&h, &w2, N, H, D_OUT);
        let loss = r::squared_error(&y_pred, &y);
        let grad_y_pred = r::zip(&y_pred, &y, |p, t| 2.0 * (p - t));
        let grad_w2 = r::matmul(&r::transpose(&h, N, H), &grad_y_pred, H, N, D_OUT);
        let grad_h = r::matmul(&grad_y_pred, &r::transpose(&w2, H, D_OUT), N, D_OUT, H);
        let grad_z = r::zip(&grad_h, &h, |gh, h| gh * h * (1.0 - h));
        let grad_w1 = r::matmul(&r::transpose(&x, N, D_IN), &grad_z, D_IN, N, H);
        let grad_x = r::matmul(&grad_z, &r::transpose(&w1, D_IN, H), N, H, D_IN);

        let tag = format!("{isa:?}");
        assert_all_close(g.value(net.h).unwrap(), &h, 1e-5, &format!("h {tag}"));
        assert_all_close(g.value(net.y_pred).unwrap(), &y_pred, 1e-5, "y_pred");
        assert_all_close(g.value(net.loss).unwrap(), &[loss], 1e-5, "loss");
        assert_all_close(
            g.grad(net.y_pred).unwrap(),
            &grad_y_pred,
            1e-5,
            "grad_y_pred",
        );
        assert_all_close(g.grad(net.h).unwrap(), &grad_h, 1e-5, "grad_h");
        assert_all_close(g.grad(net.w2).unwrap(), &grad_w2, 1e-5, "grad_w2");
        assert_all_close(g.grad(net.w1).unwrap(), &grad_w1, 1e-5, "grad_w1");
        assert_all_close(g.grad(net.x).unwrap(), &grad_x, 1e-5, "grad_x");
    });
}

#[test]
fn two_layer_net_trains_with_sgd_and_never_allocates() {
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; two_layer_arena_len()];
    let mut net = two_layer(&mut nodes, &mut arena, 3);
    // Under Miri 20 steps (each is interpreted), with a weaker bound on the decrease.
    let (steps, factor) = if cfg!(miri) { (20, 1.0) } else { (200, 0.25) };
    let mut losses = Vec::with_capacity(steps);
    let n = count_allocs(|| {
        for _ in 0..steps {
            net.g.forward().unwrap();
            net.g.backward(net.loss).unwrap();
            losses.push(net.g.value(net.loss).unwrap()[0]);
            net.g.sgd_update(net.w1, 0.02).unwrap();
            net.g.sgd_update(net.w2, 0.02).unwrap();
        }
    });
    assert_eq!(n, 0, "forward/backward/sgd_update allocated");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[steps - 1] < factor * losses[0],
        "loss {} -> {}",
        losses[0],
        losses[steps - 1]
    );
    assert_eq!(
        net.g.sgd_update(net.w1, f32::NAN),
        Err(Error::NonFinite {
            what: "learning rate"
        })
    );
}

// ----- determinism -----------------------------------------------------------------------

fn snapshot(net: &TwoLayer) -> Vec<u32> {
    let g = &net.g;
    let ts = [net.x, net.w1, net.w2, net.h, net.y_pred, net.loss];
    ts.iter()
        .flat_map(|&t| {
            let v = g.value(t).unwrap().iter();
            v.chain(g.grad(t).unwrap())
                .map(|a| a.to_bits())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn same_graph_twice_is_bit_identical() {
    for_each_isa(|_| {
        let (mut n1, mut a1) = ([Node::EMPTY; 8], vec![1.0f32; two_layer_arena_len()]);
        let (mut n2, mut a2) = ([Node::EMPTY; 8], vec![f32::NAN; two_layer_arena_len() + 9]);
        let mut one = two_layer(&mut n1, &mut a1, 11);
        let mut two = two_layer(&mut n2, &mut a2, 11);
        one.g.forward().unwrap();
        one.g.backward(one.loss).unwrap();
        two.g.forward().unwrap();
        two.g.backward(two.loss).unwrap();
        let first = snapshot(&one);
        assert_eq!(first, snapshot(&two));
        // Running the passes again on the same graph: gradients are re-zeroed, not summed.
        one.g.forward().unwrap();
        one.g.backward(one.loss).unwrap();
        assert_eq!(first, snapshot(&one));
    });
}

#[test]
fn instruction_sets_agree_closely() {
    let mut snaps = Vec::new();
    for_each_isa(|isa| {
        let (mut n, mut a) = ([Node::EMPTY; 8], vec![0.0f32; two_layer_arena_len()]);
        let mut net = two_layer(&mut n, &mut a, 5);
        net.g.forward().unwrap();
        net.g.backward(net.loss).unwrap();
        snaps.push((isa, snapshot(&net)));
    });
    let (_, base) = &snaps[0];
    for (isa, s) in &snaps[1..] {
        for (a, b) in base.iter().zip(s) {
            let (a, b) = (f32::from_bits(*a), f32::from_bits(*b));
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "{isa:?}: {a} vs {b}"
            );
        }
    }
    assert!(snaps.iter().any(|(i, _)| *i == Isa::Scalar));
}

// ----- errors ----------------------------------------------------------------------------

#[test]
fn graph_full_is_an_error_and_changes_nothing() {
    let mut nodes = [Node::EMPTY; 3];
    let mut arena = [0.0f32; 64];
    let mut g = Graph::new(&mut nodes, &mut arena);
    assert_eq!(g.capacity(), 3);
    let x = g.scalar(1.0).unwrap();
    let y = g.scalar(2.0).unwrap();
    let s = g.add(x, y).unwrap();
    assert_eq!(g.scalar(3.0), Err(Error::GraphFull { capacity: 3 }));
    assert_eq!(g.mul(x, s), Err(Error::GraphFull { capacity: 3 }));
    assert_eq!(g.len(), 3);
    assert_eq!(g.arena_needed(), 6);
    g.forward().unwrap();
    g.backward(s).unwrap();
    assert_eq!(g.value(s).unwrap(), [3.0]);

    let mut none: [Node; 0] = [];
    let mut arena = [0.0f32; 4];
    let mut g = Graph::new(&mut none, &mut arena);
    assert!(g.is_empty());
    assert_eq!(g.input(1, 1), Err(Error::GraphFull { capacity: 0 }));
}

#[test]
fn arena_full_reports_what_the_graph_needs() {
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 5];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let s = g.scalar(1.0).unwrap(); // 2
    assert_eq!(g.input(1, 2), Err(Error::ArenaFull { needed: 6, len: 5 }));
    assert_eq!(g.len(), 1);
    let t = g.sigmoid(s).unwrap(); // 2 + 2, plus 1 scratch = 5
    assert_eq!(g.arena_needed(), 5);
    assert_eq!(g.exp(t), Err(Error::ArenaFull { needed: 7, len: 5 }));
    assert_eq!(
        g.input(usize::MAX, 2),
        Err(Error::Overflow {
            what: "graph: tensor size"
        })
    );

    // Matmul scratch: an arena of exactly `needed` works, one less fails with `needed`.
    let (m, k, n) = (3, 70, 2);
    let needed =
        tensor_len(m, k) + tensor_len(k, n) + tensor_len(m, n) + matmul_scratch_len(m, k, n);
    assert!(matmul_scratch_len(m, k, n) > tensor_len(m, n));
    for len in [needed - 1, needed] {
        let mut nodes = [Node::EMPTY; 3];
        let mut arena = vec![0.0f32; len];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let a = g.input_from(m, k, &vec![1.0; m * k]).unwrap();
        let b = g.input_from(k, n, &vec![0.5; k * n]).unwrap();
        match g.matmul(a, b) {
            Ok(c) => {
                assert_eq!(len, needed);
                assert_eq!(g.arena_needed(), needed);
                g.forward().unwrap();
                assert_eq!(g.value(c).unwrap(), vec![35.0; m * n]);
            }
            Err(e) => {
                assert_eq!(len, needed - 1);
                assert_eq!(e, Error::ArenaFull { needed, len });
            }
        }
    }
}

#[test]
fn shape_mismatches_are_errors() {
    let mut nodes = [Node::EMPTY; 16];
    let mut arena = [0.0f32; 4096];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let a = g.input(2, 3).unwrap();
    let b = g.input(3, 2).unwrap();
    let row = g.input(1, 3).unwrap();
    let col = g.input(2, 1).unwrap();
    let shape = |e: Result<Tensor, Error>| match e {
        Err(Error::ShapeMismatch {
            expected, found, ..
        }) => (expected, found),
        other => panic!("expected ShapeMismatch, got {other:?}"),
    };
    assert_eq!(shape(g.add(a, b)), ((2, 3), (3, 2)));
    assert_eq!(shape(g.mul(a, b)), ((2, 3), (3, 2)));
    assert_eq!(shape(g.max(a, row)), ((2, 3), (1, 3)));
    assert_eq!(shape(g.matmul(a, a)), ((3, 3), (2, 3)));
    assert_eq!(shape(g.add_bias(a, col)), ((1, 3), (2, 1)));
    assert_eq!(shape(g.add_bias(a, b)), ((1, 3), (3, 2)));
    assert_eq!(shape(g.squared_error(a, b)), ((2, 3), (3, 2)));
    assert_eq!(shape(g.input_from(2, 2, &[1.0; 3])), ((2, 2), (1, 3)));
    let before = g.len();
    assert!(matches!(
        g.set_value(a, &[0.0; 5]),
        Err(Error::ShapeMismatch {
            expected: (2, 3),
            found: (1, 5),
            ..
        })
    ));
    assert_eq!(g.len(), before, "failed gates create no node");
    // Valid: matmul 2×3 · 3×2, bias 1×3 onto 2×3.
    let c = g.matmul(a, b).unwrap();
    assert_eq!(g.shape(c).unwrap(), (2, 2));
    let d = g.add_bias(a, row).unwrap();
    assert_eq!(g.shape(d).unwrap(), (2, 3));
}

#[test]
fn backward_needs_a_1x1_output() {
    let mut nodes = [Node::EMPTY; 4];
    let mut arena = [0.0f32; 64];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.input_from(1, 2, &[1.0, 2.0]).unwrap();
    let y = g.exp(x).unwrap();
    g.forward().unwrap();
    let err = g.backward(y).unwrap_err();
    assert_eq!(
        err,
        Error::ShapeMismatch {
            what: "graph backward: the output must be a 1 x 1 scalar (e.g. a loss)",
            expected: (1, 1),
            found: (1, 2),
        }
    );
    assert!(err.to_string().contains("1 x 1"));
    assert_eq!(g.grad(x).unwrap(), [0.0, 0.0], "nothing changed");
}

#[test]
fn handles_of_another_graph_are_refused() {
    let (mut n1, mut a1) = ([Node::EMPTY; 8], [0.0f32; 64]);
    let (mut n2, mut a2) = ([Node::EMPTY; 8], [0.0f32; 64]);
    let mut g1 = Graph::new(&mut n1, &mut a1);
    let mut g2 = Graph::new(&mut n2, &mut a2);
    let x1 = g1.scalar(1.0).unwrap();
    let x7 = {
        let mut last = x1;
        for _ in 0..6 {
            last = g1.scalar(2.0).unwrap();
        }
        last
    };
    let x2 = g2.scalar(1.0).unwrap();
    let bad = |r: Result<Tensor, Error>| {
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
    };
    bad(g2.add(x1, x2));
    bad(g2.add(x2, x7)); // index 6: out of range in g2 as well
    bad(g2.mul(x2, x1));
    bad(g2.matmul(x1, x2));
    bad(g2.max(x2, x1));
    bad(g2.exp(x7));
    bad(g2.sigmoid(x1));
    bad(g2.squared_error(x2, x1));
    bad(g2.add_bias(x1, x2));
    assert!(matches!(g2.value(x7), Err(Error::InvalidArgument { .. })));
    assert!(matches!(g2.grad(x1), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        g2.value_mut(x1),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(g2.shape(x1), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        g2.set_value(x1, &[1.0]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        g2.backward(x1),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        g2.sgd_update(x1, 0.1),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(g2.len(), 1);
    // A later graph over the same storage does not accept the old handles either.
    let mut g3 = Graph::new(&mut n2, &mut a2);
    let _ = g3.scalar(5.0).unwrap();
    assert!(matches!(g3.value(x2), Err(Error::InvalidArgument { .. })));
    assert_eq!(x1.index(), 0);
    assert_eq!(x7.index(), 6);
}

#[test]
fn gradients_are_zero_for_nodes_after_the_output_and_before_backward() {
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [f32::NAN; 64];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.scalar(2.0).unwrap();
    let y = g.exp(x).unwrap();
    let z = g.mul(y, y).unwrap(); // after the output: skipped
    assert_eq!(g.grad(x).unwrap(), [0.0]);
    assert_eq!(g.value(y).unwrap(), [0.0]);
    g.forward().unwrap();
    g.backward(y).unwrap();
    assert_eq!(g.grad(x).unwrap(), g.value(y).unwrap());
    assert_eq!(g.grad(z).unwrap(), [0.0]);
    // `y * y`, not `powi(2)`: Miri gives `powi` a few ULP of (allowed) imprecision.
    let yv = g.value(y).unwrap()[0];
    assert_eq!(g.value(z).unwrap()[0], yv * yv);
}

#[test]
fn forward_and_backward_allocate_nothing_on_every_isa() {
    for_each_isa(|_| {
        let mut nodes = [Node::EMPTY; 16];
        let mut arena = vec![0.0f32; 1 << 14];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let mut rng = rng(9);
        let x = g.input_from(6, 8, &fill(&mut rng, 48)).unwrap();
        let w = g.input_from(8, 5, &fill(&mut rng, 40)).unwrap();
        let b = g.input_from(1, 5, &fill(&mut rng, 5)).unwrap();
        let xw = g.matmul(x, w).unwrap();
        let z = g.add_bias(xw, b).unwrap();
        let r = g.relu(z).unwrap();
        let t = g.tanh(z).unwrap();
        let m = g.max(r, t).unwrap();
        let e = g.exp(m).unwrap();
        let p = g.mul(e, t).unwrap();
        let s = g.sigmoid(p).unwrap();
        let q = g.add(s, r).unwrap();
        let y = g.input(6, 5).unwrap();
        let l = g.squared_error(q, y).unwrap();
        let n = count_allocs(|| {
            g.forward().unwrap();
            g.backward(l).unwrap();
        });
        assert_eq!(n, 0);
        assert!(g.value(l).unwrap()[0].is_finite());
        assert!(g.grad(w).unwrap().iter().any(|&d| d != 0.0));
    });
    // The counter does see allocations.
    assert!(count_allocs(|| drop(std::hint::black_box(vec![1u8; 3]))) > 0);
}

#[test]
fn static_node_storage() {
    // What firmware writes: storage with a `const` initializer.
    static NODES: std::sync::Mutex<[Node; 32]> = std::sync::Mutex::new([Node::EMPTY; 32]);
    let mut nodes = NODES.lock().unwrap();
    let mut arena = [0.0f32; 16];
    let mut g = Graph::new(&mut nodes[..], &mut arena);
    assert_eq!(g.capacity(), 32);
    let a = g.scalar(0.5).unwrap();
    let b = g.relu(a).unwrap();
    g.forward().unwrap();
    g.backward(b).unwrap();
    assert_eq!(g.grad(a).unwrap(), [1.0]);
}

#[test]
fn two_layer_net_as_a_graph_has_the_same_gradients_as_mlp() {
    use microprop::Activation::{Identity, Sigmoid};
    use microprop::graph::{Graph, Node};
    use microprop::nn::Mlp;
    let (n, d_in, hid, d_out) = (4, 5, 6, 3);
    let sizes = [d_in, hid, d_out];
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], false).unwrap();
    let mut rng = rng(99);
    let params = fill(&mut rng, Mlp::param_len(&sizes, false));
    let x = fill(&mut rng, n * d_in);
    let y = fill(&mut rng, n * d_out);
    for_each_isa(|isa| {
        let mut grads = vec![0.0; params.len()];
        let mut ws = vec![0.0; Mlp::workspace_len(&sizes, n)];
        let loss = net
            .loss_and_grad(&params, &x, &y, &mut grads, &mut ws)
            .unwrap();

        let mut nodes = [Node::EMPTY; 16];
        let mut arena = vec![0.0f32; 4096];
        let mut g = Graph::new(&mut nodes, &mut arena);
        let xt = g.input_from(n, d_in, &x).unwrap();
        let w1 = g.input_from(d_in, hid, &params[..d_in * hid]).unwrap();
        let w2 = g.input_from(hid, d_out, &params[d_in * hid..]).unwrap();
        let yt = g.input_from(n, d_out, &y).unwrap();
        let z = g.matmul(xt, w1).unwrap();
        let h = g.sigmoid(z).unwrap();
        let p = g.matmul(h, w2).unwrap();
        let l = g.squared_error(p, yt).unwrap();
        g.forward().unwrap();
        g.backward(l).unwrap();
        let gl = g.value(l).unwrap()[0];
        assert!(
            (gl - loss).abs() <= 1e-5 * loss.abs().max(1.0),
            "{isa:?}: loss {gl} vs {loss}"
        );
        let graph_grads: Vec<f32> = g
            .grad(w1)
            .unwrap()
            .iter()
            .chain(g.grad(w2).unwrap())
            .copied()
            .collect();
        for (i, (a, b)) in graph_grads.iter().zip(&grads).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{isa:?} dθ[{i}]: graph {a} vs Mlp {b}"
            );
        }
    });
}

/// The graph's parameters take any optimizer: `Graph::update` is `opt.update(value, grad)`,
/// and Adam trains a small graph (x·w → tanh → ·v → squared error) down.
#[test]
fn graph_parameters_train_with_adam_and_sgd_momentum() {
    use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
    let mut rng = rng(77);
    let (n, d, h) = (6, 3, 4);
    let x0 = fill(&mut rng, n * d);
    let y0 = fill(&mut rng, n);
    let w0 = fill(&mut rng, d * h);
    let v0 = fill(&mut rng, h);
    let mut nodes = [Node::EMPTY; 16];
    let mut arena = vec![0.0f32; 4096];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.input_from(n, d, &x0).unwrap();
    let y = g.input_from(n, 1, &y0).unwrap();
    let w = g.input_from(d, h, &w0).unwrap();
    let v = g.input_from(h, 1, &v0).unwrap();
    let z = g.matmul(x, w).unwrap();
    let a = g.tanh(z).unwrap();
    let p = g.matmul(a, v).unwrap();
    let loss = g.squared_error(p, y).unwrap();

    let (mut sw, mut sv) = (
        vec![0.0f32; Adam::state_len(d * h)],
        vec![0.0f32; Adam::state_len(h)],
    );
    let mut ow = Adam::new(AdamConfig::adam(0.05), &mut sw).unwrap();
    let mut ov = Adam::new(AdamConfig::adam(0.05), &mut sv).unwrap();
    // A copy of w's Adam, updated by hand from the graph's gradient: the same bits.
    let mut s_ref = vec![0.0f32; Adam::state_len(d * h)];
    let mut o_ref = Adam::new(AdamConfig::adam(0.05), &mut s_ref).unwrap();
    let mut w_ref = w0.clone();
    g.forward().unwrap();
    let first = g.value(loss).unwrap()[0];
    // Under Miri a few steps, which must still bring the loss down.
    let (steps, factor) = if cfg!(miri) { (10, 1.0) } else { (200, 0.1) };
    for _ in 0..steps {
        g.forward().unwrap();
        g.backward(loss).unwrap();
        o_ref.update(&mut w_ref, g.grad(w).unwrap()).unwrap();
        g.update(w, &mut ow).unwrap();
        g.update(v, &mut ov).unwrap();
        assert_eq!(g.value(w).unwrap(), &w_ref[..]);
    }
    g.forward().unwrap();
    let last = g.value(loss).unwrap()[0];
    assert!(last < factor * first, "Adam on a graph: {first} -> {last}");

    // State sized for another tensor is refused and changes nothing.
    let before = g.value(v).unwrap().to_vec();
    let mut s_bad = vec![0.0f32; 3];
    let mut bad = Sgd::new(
        SgdConfig {
            momentum: 0.9,
            ..SgdConfig::new(0.1)
        },
        &mut s_bad,
    )
    .unwrap();
    assert!(matches!(
        g.update(v, &mut bad),
        Err(Error::StateMismatch {
            len: 3,
            sized_by: "Sgd::state_len",
            ..
        })
    ));
    assert_eq!(g.value(v).unwrap(), &before[..]);
}
