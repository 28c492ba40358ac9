//! A training step on a rayon pool allocates nothing after the first, on any thread
//! (the `rayon` feature). One test in this binary: the count covers every thread.
#![cfg(feature = "rayon")]

mod common;

use common::alloc::{Counting, count_allocs_all_threads};
use common::{fill, rng};
use microprop::nn::Mlp;
use microprop::optim::{Adam, AdamConfig};
use microprop::par::{Executor, Rayon};
use microprop::{Activation::*, Loss, MatMut, MatRef, Target, gemm_on, gemm_on_workspace_len};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn steps_and_products_on_a_pool_allocate_nothing_after_the_first() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let exec = Rayon::new(&pool);
    // Large enough that every big product is split (64 × 256 × 512 = 8 M ≥ PAR_MIN_WORK).
    let sizes = [256usize, 512, 10];
    let n = 64;
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], true)
        .unwrap()
        .on(&exec);
    let p = Mlp::param_len(&sizes, true);
    let mut r = rng(1);
    let mut params: Vec<f32> = fill(&mut r, p).iter().map(|v| v * 0.05).collect();
    let x = fill(&mut r, n * sizes[0]);
    let y = fill(&mut r, n * sizes[2]);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    let mut ws = vec![0.0; Mlp::workspace_len_parts(&sizes, n, exec.parts())];
    let mut grads = vec![0.0; p];
    let mut state = vec![0.0; Adam::state_len(p)];
    let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut state).unwrap();
    let (m, k, nn) = (300, 200, 400);
    let (a, b) = (fill(&mut r, m * k), fill(&mut r, k * nn));
    let mut c = vec![0.0; m * nn];
    let mut gws = vec![0.0; gemm_on_workspace_len(m, k, nn, exec.parts())];
    let mut work = |steps: usize| {
        for _ in 0..steps {
            net.train_step(&mut params, &x, &y, 1e-3, &mut ws).unwrap();
            let t = Target::Classes(&labels);
            let l = Loss::SoftmaxCrossEntropy;
            net.train_step_with(&mut params, &x, t, l, &mut adam, &mut grads, &mut ws)
                .unwrap();
            let cm = MatMut::row_major(&mut c, m, nn).unwrap();
            let (av, bv) = (
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, nn).unwrap(),
            );
            gemm_on(&exec, 1.0, av, bv, 0.0, cm, &mut gws).unwrap();
        }
    };
    // Inside the pool (see `par::Rayon`): the first steps start the workers and grow
    // their queues; after that, nothing. On a loaded machine the pool's own queues
    // (rayon's, not microprop's) have been seen to grow once more later (2 allocations
    // in a CI run beside other builds), so a round that allocates is followed by up to
    // two more: a step that allocated would allocate in every round.
    let rounds = pool.install(|| {
        work(3);
        let mut rounds = [usize::MAX; 3];
        for r in &mut rounds {
            *r = count_allocs_all_threads(|| work(300));
            if *r == 0 {
                break;
            }
        }
        rounds
    });
    assert!(
        rounds.contains(&0),
        "allocations in each round of 300 × 3 split steps and products: {rounds:?}"
    );
}
