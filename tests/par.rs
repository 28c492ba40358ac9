//! The split into parts ([`microprop::par`]): for any number of parts the results are
//! bit-identical to one part's, on every instruction set and every GEMM path (dot
//! product, unpacked, wide unpacked, packed split by rows and by columns, edge tiles,
//! transposed operands, several K blocks), for `gemm_on` and for a network's steps; with
//! the `rayon` feature the same on thread pools of 2 and 3 threads.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;

use common::{fill, for_each_isa, rng};
use microprop::nn::Mlp;
use microprop::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use microprop::par::{Executor, Serial};
use microprop::{
    Activation::*, Loss, MatMut, MatRef, Target, gemm, gemm_on, gemm_on_workspace_len,
    gemm_workspace_len,
};
use std::sync::atomic::{AtomicUsize, Ordering};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// An executor that counts the parts it was asked to run (so a test knows the split
/// happened), running them through `inner`.
struct Counted<'e> {
    inner: &'e dyn Executor,
    parts_run: AtomicUsize,
}

impl<'e> Counted<'e> {
    fn new(inner: &'e dyn Executor) -> Self {
        Counted {
            inner,
            parts_run: AtomicUsize::new(0),
        }
    }
    fn split_parts(&self) -> usize {
        self.parts_run.load(Ordering::Relaxed)
    }
}

// SAFETY: forwards `run` to `inner`, an executor that keeps the contract.
unsafe impl Executor for Counted<'_> {
    fn parts(&self) -> usize {
        self.inner.parts()
    }
    fn min_work(&self) -> usize {
        self.inner.min_work()
    }
    fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        self.parts_run.fetch_add(parts, Ordering::Relaxed);
        self.inner.run(parts, part)
    }
}

/// `(m, k, n, A transposed, B transposed)`: each path of each instruction set's tiles.
fn shapes() -> &'static [(usize, usize, usize, bool, bool)] {
    if cfg!(miri) {
        // Portable and scalar only: unpacked (rows), packed by rows and by columns with
        // edge tiles and two K blocks.
        &[
            (13, 5, 3, false, false),
            (14, 130, 9, true, false),
            (5, 20, 40, false, true),
        ]
    } else {
        &[
            (37, 300, 10, false, false),  // dot product (AVX2, AVX-512)
            (29, 300, 16, true, false),   // Aᵀ: unpacked
            (77, 50, 10, true, false),    // Aᵀ narrow (AVX-512), a partial last tile
            (45, 20, 3, true, true),      // Aᵀ narrow, Bᵀ
            (50, 12, 7, false, true),     // Bᵀ copied row-major: unpacked
            (40, 10, 30, false, true),    // Bᵀ copied row-major: wide unpacked (AVX-512)
            (50, 40, 13, false, false),   // unpacked
            (45, 50, 29, false, false),   // wide unpacked (AVX-512)
            (70, 90, 130, false, false),  // packed, more row tiles: rows
            (20, 270, 300, false, false), // packed, more column tiles: columns, 3 K blocks
            (9, 200, 1000, false, true),  // Bᵀ, columns
            (131, 64, 97, true, false),   // the update form: Aᵀ, rows
            (3, 7, 2000, false, false),   // wide and shallow
            (1, 300, 300, false, false),  // one row
        ]
    }
}

fn view<'a>(v: &'a [f32], rows: usize, cols: usize, t: bool) -> MatRef<'a> {
    if t {
        MatRef::row_major(v, cols, rows).unwrap().t()
    } else {
        MatRef::row_major(v, rows, cols).unwrap()
    }
}

#[test]
fn gemm_on_any_number_of_parts_gives_the_same_bits() {
    let mut r = rng(11);
    for &(m, k, n, ta, tb) in shapes() {
        let a = fill(&mut r, m * k);
        let b = fill(&mut r, k * n);
        let c0 = fill(&mut r, m * n);
        for (alpha, beta) in [(1.0, 0.0), (-0.75, 1.0), (1.5, 0.5)] {
            for_each_isa(|isa| {
                let one = |c: &mut [f32]| {
                    let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
                    let cm = MatMut::row_major(c, m, n).unwrap();
                    gemm(
                        alpha,
                        view(&a, m, k, ta),
                        view(&b, k, n, tb),
                        beta,
                        cm,
                        &mut ws,
                    )
                    .unwrap();
                };
                let mut want = c0.clone();
                if beta == 0.0 {
                    want.fill(f32::NAN); // β = 0 must not read C
                }
                one(&mut want);
                let max_parts = if cfg!(miri) { 3 } else { 5 };
                for parts in 2..=max_parts {
                    let serial = Serial::new(parts).with_min_work(0);
                    let exec = Counted::new(&serial);
                    let mut c = c0.clone();
                    if beta == 0.0 {
                        c.fill(f32::NAN);
                    }
                    let mut ws = vec![f32::NAN; gemm_on_workspace_len(m, k, n, parts)];
                    let cm = MatMut::row_major(&mut c, m, n).unwrap();
                    let (av, bv) = (view(&a, m, k, ta), view(&b, k, n, tb));
                    gemm_on(&exec, alpha, av, bv, beta, cm, &mut ws).unwrap();
                    assert_eq!(exec.split_parts(), parts, "{isa:?} ({m},{k},{n}) not split");
                    assert_eq!(
                        bits(&c),
                        bits(&want),
                        "{isa:?} ({m},{k},{n}) ta={ta} tb={tb} α={alpha} β={beta}: {parts} parts"
                    );
                }
            });
        }
    }
}

#[test]
fn gemm_on_runs_as_many_parts_as_the_workspace_holds() {
    let (m, k, n) = if cfg!(miri) {
        (8, 6, 20)
    } else {
        (40, 60, 200)
    };
    let mut r = rng(3);
    let (a, b) = (fill(&mut r, m * k), fill(&mut r, k * n));
    let mut want = vec![0.0; m * n];
    let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
    let av = MatRef::row_major(&a, m, k).unwrap();
    let bv = MatRef::row_major(&b, k, n).unwrap();
    gemm(
        1.0,
        av,
        bv,
        0.0,
        MatMut::row_major(&mut want, m, n).unwrap(),
        &mut ws,
    )
    .unwrap();
    let serial = Serial::new(4).with_min_work(0);
    for (room, parts) in [(1, 0), (2, 2), (3, 3), (4, 4), (9, 4)] {
        let exec = Counted::new(&serial);
        let mut ws = vec![0.0; gemm_on_workspace_len(m, k, n, room)];
        let mut c = vec![0.0; m * n];
        let cm = MatMut::row_major(&mut c, m, n).unwrap();
        gemm_on(&exec, 1.0, av, bv, 0.0, cm, &mut ws).unwrap();
        assert_eq!(exec.split_parts(), parts, "room for {room}");
        assert_eq!(bits(&c), bits(&want));
    }
    // Less than one part's packing space is an error, and C is not written.
    let mut ws = vec![0.0; gemm_workspace_len(m, k, n) - 1];
    let mut c = vec![7.0; m * n];
    let cm = MatMut::row_major(&mut c, m, n).unwrap();
    let e = gemm_on(&serial, 1.0, av, bv, 0.0, cm, &mut ws).unwrap_err();
    assert!(
        matches!(e, microprop::Error::WorkspaceTooSmall { .. }),
        "{e}"
    );
    assert!(c.iter().all(|&v| v == 7.0));
}

#[test]
fn small_products_are_not_split_by_default() {
    let (m, k, n) = (16, 100, 16); // under PAR_MIN_WORK
    assert!(m * k * n < microprop::par::PAR_MIN_WORK);
    let serial = Serial::new(2);
    let exec = Counted::new(&serial);
    let (a, b) = (vec![1.0; m * k], vec![1.0; k * n]);
    let mut c = vec![0.0; m * n];
    let mut ws = vec![0.0; gemm_on_workspace_len(m, k, n, 2)];
    let av = MatRef::row_major(&a, m, k).unwrap();
    let bv = MatRef::row_major(&b, k, n).unwrap();
    gemm_on(
        &exec,
        1.0,
        av,
        bv,
        0.0,
        MatMut::row_major(&mut c, m, n).unwrap(),
        &mut ws,
    )
    .unwrap();
    assert_eq!(exec.split_parts(), 0);
    assert!(c.iter().all(|&v| v == 100.0));
}

/// Parameters after a few steps of each kind of training on `exec` (workspace with room
/// for `room` parts), and the forward pass's output.
fn train_on(exec: &dyn Executor, room: usize) -> Vec<u32> {
    let (n, sizes) = if cfg!(miri) {
        (5, [7usize, 9, 6, 3])
    } else {
        (19, [40usize, 64, 33, 10])
    };
    let net = Mlp::new(&sizes, &[Sigmoid, Tanh, Identity], true)
        .unwrap()
        .on(exec);
    let mut r = rng(5);
    let p = Mlp::param_len(&sizes, true);
    let mut params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.3).collect();
    let x = fill(&mut r, n * sizes[0]);
    let y = fill(&mut r, n * sizes[3]);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % sizes[3] as u32).collect();
    let mut ws = vec![f32::NAN; Mlp::workspace_len_parts(&sizes, n, room)];
    let mut grads = vec![0.0; p];
    let mut out = Vec::new();
    for _ in 0..2 {
        out.push(net.train_step(&mut params, &x, &y, 1e-2, &mut ws).unwrap());
    }
    let mut sgd_state = vec![0.0; Sgd::state_len(p)];
    let cfg = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(1e-2)
    };
    let mut sgd = Sgd::new(cfg, &mut sgd_state).unwrap();
    let mut adam_state = vec![0.0; Adam::state_len(p)];
    let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut adam_state).unwrap();
    for _ in 0..2 {
        let t = Target::Classes(&labels);
        let l = net.train_step_with(
            &mut params,
            &x,
            t,
            Loss::SoftmaxCrossEntropy,
            &mut adam,
            &mut grads,
            &mut ws,
        );
        out.push(l.unwrap());
        let t = Target::Values(&y);
        let l = net.train_step_with(
            &mut params,
            &x,
            t,
            Loss::MeanSquared,
            &mut sgd,
            &mut grads,
            &mut ws,
        );
        out.push(l.unwrap());
    }
    let mut fwd = vec![0.0; n * sizes[3]];
    let mut fws = vec![0.0; Mlp::forward_workspace_len_parts(&sizes, n, room)];
    net.forward(&params, &x, &mut fwd, &mut fws).unwrap();
    let mut all = bits(&out);
    all.extend(bits(&params));
    all.extend(bits(&grads));
    all.extend(bits(&fwd));
    all
}

#[test]
fn training_on_any_number_of_parts_gives_the_same_bits() {
    for_each_isa(|isa| {
        let want = train_on(&Serial::ONE, 1);
        for parts in 2..=if cfg!(miri) { 2 } else { 4 } {
            let serial = Serial::new(parts).with_min_work(0);
            let exec = Counted::new(&serial);
            assert_eq!(train_on(&exec, parts), want, "{isa:?}: {parts} parts");
            assert!(exec.split_parts() > 0, "{isa:?}: nothing was split");
            // A workspace sized for one part splits only the products whose packing
            // space fits in it more than once: the same bits.
            assert_eq!(
                train_on(&exec, 1),
                want,
                "{isa:?}: {parts} parts, room for 1"
            );
        }
    });
}

#[test]
fn workspace_lengths_for_parts_are_const() {
    const SIZES: [usize; 3] = [64, 100, 10];
    const ONE: usize = Mlp::workspace_len(&SIZES, 32);
    const TWO: usize = Mlp::workspace_len_parts(&SIZES, 32, 2);
    const G: usize = gemm_on_workspace_len(64, 100, 10, 3);
    const { assert!(TWO > ONE) };
    assert_eq!(Mlp::workspace_len_parts(&SIZES, 32, 1), ONE);
    assert_eq!(Mlp::workspace_len_parts(&SIZES, 32, 0), ONE);
    assert_eq!(G, 3 * gemm_workspace_len(64, 100, 10));
    assert_eq!(
        Mlp::forward_workspace_len_parts(&SIZES, 32, 1),
        Mlp::forward_workspace_len(&SIZES, 32)
    );
}

#[cfg(feature = "rayon")]
mod on_rayon {
    use super::*;
    use microprop::par::Rayon;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn gemm_on_a_pool_gives_the_same_bits() {
        let mut r = rng(17);
        for threads in [2, 3] {
            let pool = pool(threads);
            let exec = Rayon::new(&pool).with_min_work(0);
            assert_eq!(exec.parts(), threads);
            for &(m, k, n, ta, tb) in shapes() {
                let a = fill(&mut r, m * k);
                let b = fill(&mut r, k * n);
                for_each_isa(|isa| {
                    let mut want = vec![0.0; m * n];
                    let mut ws = vec![0.0; gemm_on_workspace_len(m, k, n, threads)];
                    let cm = MatMut::row_major(&mut want, m, n).unwrap();
                    gemm(
                        1.0,
                        view(&a, m, k, ta),
                        view(&b, k, n, tb),
                        0.0,
                        cm,
                        &mut ws,
                    )
                    .unwrap();
                    let mut c = vec![f32::NAN; m * n];
                    let cm = MatMut::row_major(&mut c, m, n).unwrap();
                    let (av, bv) = (view(&a, m, k, ta), view(&b, k, n, tb));
                    gemm_on(&exec, 1.0, av, bv, 0.0, cm, &mut ws).unwrap();
                    assert_eq!(
                        bits(&c),
                        bits(&want),
                        "{isa:?} ({m},{k},{n}) {threads} threads"
                    );
                });
            }
        }
    }

    #[test]
    fn training_on_a_pool_gives_the_same_bits() {
        for_each_isa(|isa| {
            let want = train_on(&Serial::ONE, 1);
            for threads in [2, 3] {
                let pool = pool(threads);
                let exec = Rayon::new(&pool).with_min_work(0);
                // From outside the pool and from inside it.
                assert_eq!(train_on(&exec, threads), want, "{isa:?}: {threads} threads");
                let inside = pool.install(|| {
                    microprop::simd::with_isa(isa, || train_on(&exec, threads)).unwrap()
                });
                assert_eq!(inside, want, "{isa:?}: {threads} threads, inside the pool");
            }
        });
    }
}
