//! Same inputs, same instruction set: bit-identical results, whatever the workspace held
//! before, wherever the buffers sit in memory, and on whichever thread.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::{fill, for_each_isa, rng};
use microprop::Activation::*;
use microprop::graph::{Graph, Node, matmul_scratch_len, tensor_len};
use microprop::nn::Mlp;
use microprop::simd::{Isa, with_isa};
use microprop::{MatMut, MatRef, gemm, gemm_workspace_len, sigmoid};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Workspace contents on entry: must never matter.
fn garbage(kind: usize, len: usize) -> Vec<f32> {
    match kind {
        0 => vec![0.0; len],
        1 => vec![f32::NAN; len],
        _ => (0..len).map(|i| (i as f32).sin() * 1e30).collect(),
    }
}

/// GEMM over every path (skinny, packed, dot-product) with C and the workspace at
/// different alignments and the workspace holding different garbage.
fn gemm_runs(isa: Isa) -> Vec<u32> {
    let mut all = Vec::new();
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(5, 7, 3), (9, 33, 10)]
    } else {
        &[(5, 7, 3), (64, 300, 10), (70, 130, 100), (33, 257, 50)]
    };
    for &(m, k, n) in shapes {
        let mut r = rng((m * k * n) as u64);
        let a = fill(&mut r, m * k);
        let b = fill(&mut r, k * n);
        let mut first: Option<Vec<u32>> = None;
        for (shift, kind) in [(0, 0), (1, 1), (3, 2), (7, 1), (15, 0)] {
            let mut cbuf = garbage(kind, m * n + shift);
            let mut ws = garbage(kind, gemm_workspace_len(m, k, n) + shift);
            let c = &mut cbuf[shift..];
            gemm(
                1.0,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.0,
                MatMut::row_major(c, m, n).unwrap(),
                &mut ws[shift..],
            )
            .unwrap();
            let got = bits(c);
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(f, &got, "{isa:?} gemm {m}x{k}x{n} shift {shift}"),
            }
        }
        all.extend(first.unwrap());
    }
    all
}

/// Ten training steps (two under Miri) of a small network with biases, from the same start.
fn train_runs(isa: Isa) -> Vec<u32> {
    const SIZES: [usize; 4] = if cfg!(miri) {
        [4, 6, 5, 2]
    } else {
        [20, 40, 30, 3]
    };
    let net = Mlp::new(&SIZES, &[Sigmoid, Tanh, Identity], true).unwrap();
    let n = if cfg!(miri) { 5 } else { 17 };
    let mut r = rng(9);
    let start = fill(&mut r, Mlp::param_len(&SIZES, true));
    let x = fill(&mut r, n * SIZES[0]);
    let y = fill(&mut r, n * SIZES[3]);
    let mut first: Option<Vec<u32>> = None;
    for (shift, kind) in [(0, 0), (5, 1), (11, 2)] {
        let mut p = start.clone();
        let mut ws = garbage(kind, Mlp::workspace_len(&SIZES, n) + shift);
        let mut losses = Vec::new();
        for _ in 0..if cfg!(miri) { 2 } else { 10 } {
            losses.push(
                net.train_step(&mut p, &x, &y, 1e-2, &mut ws[shift..])
                    .unwrap(),
            );
        }
        let mut got = bits(&p);
        got.extend(bits(&losses));
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(f, &got, "{isa:?} train shift {shift}"),
        }
    }
    first.unwrap()
}

/// The lecture's scalar circuit and a small matmul network through the graph, twice.
fn graph_runs(isa: Isa) -> Vec<u32> {
    let mut first: Option<Vec<u32>> = None;
    for kind in 0..3 {
        let mut nodes = [Node::EMPTY; 16];
        let need = 4 * tensor_len(8, 12) + 6 * tensor_len(8, 5) + matmul_scratch_len(8, 12, 5);
        let mut arena = garbage(kind, need + 64);
        let mut g = Graph::new(&mut nodes, &mut arena);
        let mut r = rng(4);
        let x = g.input_from(8, 12, &fill(&mut r, 96)).unwrap();
        let w = g.input_from(12, 5, &fill(&mut r, 60)).unwrap();
        let y = g.input_from(8, 5, &fill(&mut r, 40)).unwrap();
        let h = g.matmul(x, w).unwrap();
        let s = g.sigmoid(h).unwrap();
        let loss = g.squared_error(s, y).unwrap();
        g.forward().unwrap();
        g.backward(loss).unwrap();
        let mut got = bits(g.value(loss).unwrap());
        got.extend(bits(g.grad(w).unwrap()));
        got.extend(bits(g.grad(x).unwrap()));
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(f, &got, "{isa:?} graph, garbage kind {kind}"),
        }
    }
    first.unwrap()
}

fn sigmoid_runs() -> Vec<u32> {
    let len = if cfg!(miri) { 37 } else { 1000 };
    let x: Vec<f32> = (0..len)
        .map(|i| (i as f32 - len as f32 / 2.0) * 0.173)
        .collect();
    let mut out = vec![0.0; len];
    sigmoid(&x, &mut out).unwrap();
    bits(&out)
}

fn everything(isa: Isa) -> Vec<u32> {
    let mut v = gemm_runs(isa);
    v.extend(train_runs(isa));
    v.extend(graph_runs(isa));
    v.extend(sigmoid_runs());
    v
}

#[test]
fn same_inputs_give_the_same_bits_on_each_instruction_set() {
    for_each_isa(|isa| {
        // Twice in a row, and once more on another thread (fresh thread-locals, another
        // stack), all bit-identical.
        let a = everything(isa);
        let b = everything(isa);
        assert_eq!(a, b, "{isa:?}");
        let c = std::thread::spawn(move || with_isa(isa, || everything(isa)).unwrap())
            .join()
            .unwrap();
        assert_eq!(a, c, "{isa:?} on another thread");
    });
}

/// The README's bound between instruction sets: every GEMM element is within
/// `k·u·Σ|a||b|` (u = 2⁻²⁴) of the exact product, on every instruction set.
#[test]
fn every_instruction_set_is_within_the_documented_gemm_bound() {
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(9, 300, 3), (7, 20, 17)]
    } else {
        &[(64, 1000, 10), (37, 300, 53), (8, 2000, 3), (100, 64, 100)]
    };
    for &(m, k, n) in shapes {
        let mut r = rng(k as u64);
        let a = fill(&mut r, m * k);
        let b = fill(&mut r, k * n);
        let u = f64::from(f32::EPSILON) / 2.0;
        for_each_isa(|isa| {
            let mut c = vec![f32::NAN; m * n];
            let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
            gemm(
                1.0,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.0,
                MatMut::row_major(&mut c, m, n).unwrap(),
                &mut ws,
            )
            .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (mut exact, mut mag) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        let prod = f64::from(a[i * k + p]) * f64::from(b[p * n + j]);
                        exact += prod;
                        mag += prod.abs();
                    }
                    let err = (f64::from(c[i * n + j]) - exact).abs();
                    assert!(
                        err <= k as f64 * u * mag,
                        "{isa:?} {m}x{k}x{n} ({i},{j}): error {err:e} > bound {:e}",
                        k as f64 * u * mag
                    );
                }
            }
        });
    }
}
