//! A counting global allocator proves that the kernels and a whole training step never
//! allocate, on every instruction set, and that saving and loading weights do not either. Counts are per thread, so tests running in
//! parallel do not disturb each other.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::alloc::count_allocs;
use common::*;
use microprop::Activation::{Identity, Relu, Sigmoid};
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Mlp, Net};
use microprop::{
    MatMut, MatRef, gemm, gemm_workspace_len, sigmoid, sigmoid_backward, squared_error,
};

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

#[test]
fn kernels_and_training_step_allocate_nothing() {
    // Detection reads MICROPROP_ISA once (a String); do it before counting.
    let _ = microprop::simd::Isa::detected();
    let mut rng = rng(1);
    let (m, k, n) = if cfg!(miri) { (5, 7, 3) } else { (64, 100, 30) };
    let a = fill(&mut rng, m * k);
    let b = fill(&mut rng, k * n);
    let mut c = vec![0.0; m * n];
    let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
    let x = fill(&mut rng, 1000);
    let mut h = vec![0.0; 1000];
    let mut g = vec![0.0; 1000];

    let sizes = if cfg!(miri) { [4, 5, 2] } else { [100, 50, 10] };
    let batch = 8;
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], false).unwrap();
    let mut params = fill(&mut rng, Mlp::param_len(&sizes, false));
    let xs = fill(&mut rng, batch * sizes[0]);
    let ys = fill(&mut rng, batch * sizes[2]);
    let mut mws = vec![0.0; Mlp::workspace_len(&sizes, batch)];
    let mut grads = vec![0.0; params.len()];
    let mut out = vec![0.0; batch * sizes[2]];
    let mut fws = vec![0.0; Mlp::forward_workspace_len(&sizes, batch)];

    for_each_isa(|isa| {
        let count = count_allocs(|| {
            gemm(
                1.0,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.0,
                MatMut::row_major(&mut c, m, n).unwrap(),
                &mut ws,
            )
            .unwrap();
            sigmoid(&x, &mut h).unwrap();
            sigmoid_backward(&x, &h, &mut g).unwrap();
            squared_error(&x, &h, &mut g).unwrap();
            for _ in 0..3 {
                net.train_step(&mut params, &xs, &ys, 1e-3, &mut mws)
                    .unwrap();
            }
            net.loss_and_grad(&params, &xs, &ys, &mut grads, &mut mws)
                .unwrap();
            net.forward(&params, &xs, &mut out, &mut fws).unwrap();
        });
        assert_eq!(count, 0, "{isa:?}: allocations inside kernels / train_step");
    });
    // The counter works: a Vec allocates.
    assert_eq!(
        count_allocs(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}

#[test]
fn save_and_load_allocate_nothing() {
    let sizes = [100, 50, 10];
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], true).unwrap();
    let params = fill(&mut rng(2), Mlp::param_len(&sizes, true));
    let mut back = vec![0.0; params.len()];
    let mut blob = vec![0u8; Mlp::saved_len(&sizes, true)];
    let count = count_allocs(|| {
        net.save(&params, &mut blob).unwrap();
        net.load(&blob, &mut back).unwrap();
        Mlp::check_saved(&blob).unwrap();
        // Error paths too: a short buffer, a corrupt blob.
        net.save(&params, &mut blob[..10]).unwrap_err();
        blob[30] ^= 1;
        net.load(&blob, &mut back).unwrap_err();
        blob[30] ^= 1;
    });
    assert_eq!(count, 0, "allocations inside save / load");
    assert_eq!(back, params);
}

#[test]
fn net_save_load_and_safetensors_allocate_nothing() {
    const LAYERS: [Layer; 4] = [
        Layer::Conv1d(Conv1d::new(3, 8, 3).padding(1).act(Relu)),
        Layer::MaxPool1d(Pool::new(2)),
        Layer::Flatten,
        Layer::Dense(Dense::new(40, 4)),
    ];
    let net = Net::new(Shape::seq(10, 3), &LAYERS).unwrap();
    let params = fill(&mut rng(3), net.param_len());
    let mut back = vec![0.0; params.len()];
    let mut blob = vec![0u8; net.saved_len()];
    let mut file = vec![0u8; net.safetensors_len()];
    let mut storage = [Layer::Flatten; 4];
    let count = count_allocs(|| {
        net.save(&params, &mut blob).unwrap();
        net.load(&blob, &mut back).unwrap();
        Net::saved_info(&blob).unwrap();
        Net::from_saved(&blob, &mut storage).unwrap();
        net.save_safetensors(&params, &mut file).unwrap();
        net.load_safetensors(&file, &mut back).unwrap();
        // Error paths too: a corrupt blob, a corrupt file.
        blob[30] ^= 1;
        net.load(&blob, &mut back).unwrap_err();
        blob[30] ^= 1;
        file[20] = b'x';
        net.load_safetensors(&file, &mut back).unwrap_err();
    });
    assert_eq!(
        count, 0,
        "allocations inside Net's save / load / safetensors"
    );
    assert_eq!(back, params);
}
