//! Criterion benches: microprop against `matrixmultiply` and scalar code, in the same
//! groups and the same run. Every contender's output is checked against the others
//! before it is timed.
//!
//! `cargo bench --manifest-path benches/Cargo.toml` (add `-- gemm` to run one group;
//! `--features rayon` adds the threaded variants, on every core, beside the
//! single-thread ones). This is a package of its own, so that criterion's dependencies
//! are not built for microprop's examples and tests. The `gemm`
//! group first prints this core's FMA peak, measured in the same run, the yardstick of
//! its GFLOP/s ("elem/s"). `MICROPROP_ISA=avx2` (or `portable`, `scalar`) forces an
//! instruction set.
//!
//! `-- conv` runs the groups of the two CNN examples (`examples/common/cnn.rs`): one
//! `conv/<layer>` group per convolution at batch 32 (a forward and backward pass, the
//! weight, bias and input gradients, through a one-layer `Net`, against im2col +
//! `matrixmultiply`; FLOP/s as "elem/s", after this run's FMA peak), and `conv_epoch/<isa>`,
//! both examples' training epochs (records/s as "elem/s").

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use microprop::Activation::{Identity, Sigmoid};
use microprop::nn::Mlp;
#[cfg(feature = "rayon")]
use microprop::par::Executor;
use microprop::simd::Isa;
use microprop::{MatMut, MatRef, gemm, gemm_workspace_len, sigmoid};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;

fn fill(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn mm_sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    // SAFETY: row-major buffers of exactly m·k, k·n and m·n elements.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

fn ours(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], ws: &mut [f32]) {
    gemm(
        1.0,
        MatRef::row_major(a, m, k).expect("shape"),
        MatRef::row_major(b, k, n).expect("shape"),
        0.0,
        MatMut::row_major(c, m, n).expect("shape"),
        ws,
    )
    .expect("gemm");
}

#[path = "../examples/common/cnn.rs"]
mod cnn;
#[path = "../examples/common/flops.rs"]
mod flops;
#[path = "../examples/common/peak.rs"]
mod peak;

/// Threads of the threaded variants: every core this process may use.
#[cfg(feature = "rayon")]
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn bench_gemm(cr: &mut Criterion) {
    let isa = Isa::active();
    let mut group = cr.benchmark_group(format!("gemm/{}", isa.name()));
    // The yardstick, in the same run and the same unit (FLOP/s as "elem/s"): this core's
    // FMA peak, from a register-only loop.
    if let Some(p) = peak::fma_peak_gflops(isa) {
        eprintln!(
            "FMA peak, {} (register-only loop, this run): {p:.1} GFLOP/s",
            isa.name()
        );
    }
    #[cfg(feature = "rayon")]
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .expect("pool");
    #[cfg(feature = "rayon")]
    let exec = microprop::par::Rayon::new(&pool);
    let mut rng = StdRng::seed_from_u64(0);
    // The lecture's five products (x·w1, h·w2, hᵀ·grad_y, grad_y·w2ᵀ, xᵀ·grad_h), 256³
    // and 1024³.
    let shapes = [
        (64, 1000, 1000),
        (64, 1000, 10),
        (1000, 64, 10),
        (64, 10, 1000),
        (1000, 64, 1000),
        (256, 256, 256),
        (1024, 1024, 1024),
    ];
    for (m, k, n) in shapes {
        let a = fill(&mut rng, m * k);
        let b = fill(&mut rng, k * n);
        let mut c1 = vec![0.0; m * n];
        let mut c2 = vec![0.0; m * n];
        let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
        ours(m, k, n, &a, &b, &mut c1, &mut ws);
        mm_sgemm(m, k, n, &a, &b, &mut c2);
        let worst = c1
            .iter()
            .zip(&c2)
            .fold(0.0f32, |w, (x, y)| w.max((x - y).abs()));
        assert!(
            worst <= 1e-5 * k as f32,
            "gemm {m}x{k}x{n} disagrees with matrixmultiply by {worst}"
        );
        let id = format!("{m}x{k}x{n}");
        group.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
        group.bench_function(BenchmarkId::new("microprop", &id), |bch| {
            bch.iter(|| ours(m, k, n, black_box(&a), black_box(&b), &mut c1, &mut ws))
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", &id), |bch| {
            bch.iter(|| mm_sgemm(m, k, n, black_box(&a), black_box(&b), &mut c2))
        });
        #[cfg(feature = "rayon")]
        {
            let t = exec.parts();
            let mut wst = vec![0.0; microprop::gemm_on_workspace_len(m, k, n, t)];
            // Called from the bench thread, outside the pool: each call hands the product
            // to the pool and waits (criterion's state cannot move into the pool), so this
            // includes that handoff; `examples/bench` times from inside the pool.
            let name = format!("microprop {t} threads");
            group.bench_function(BenchmarkId::new(name, &id), |bch| {
                bch.iter(|| {
                    microprop::gemm_on(
                        &exec,
                        1.0,
                        MatRef::row_major(black_box(&a), m, k).expect("shape"),
                        MatRef::row_major(black_box(&b), k, n).expect("shape"),
                        0.0,
                        MatMut::row_major(&mut c1, m, n).expect("shape"),
                        &mut wst,
                    )
                    .expect("gemm")
                })
            });
        }
    }
    group.finish();
}

fn scalar_sigmoid(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = 1.0 / (1.0 + libm::expf(-v));
    }
}

fn bench_sigmoid(cr: &mut Criterion) {
    let mut group = cr.benchmark_group(format!("sigmoid/{}", Isa::active().name()));
    let mut rng = StdRng::seed_from_u64(1);
    let n = 64_000;
    let x: Vec<f32> = (0..n).map(|_| rng.random_range(-20.0f32..20.0)).collect();
    let mut o1 = vec![0.0; n];
    let mut o2 = vec![0.0; n];
    sigmoid(&x, &mut o1).expect("sigmoid");
    scalar_sigmoid(&x, &mut o2);
    let worst = o1
        .iter()
        .zip(&o2)
        .fold(0.0f32, |w, (a, b)| w.max((a - b).abs()));
    assert!(
        worst < 1e-6,
        "sigmoid disagrees with the scalar formula by {worst}"
    );
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("microprop", |b| {
        b.iter(|| sigmoid(black_box(&x), &mut o1).expect("sigmoid"))
    });
    group.bench_function("scalar 1/(1+expf(-x))", |b| {
        b.iter(|| scalar_sigmoid(black_box(&x), &mut o2))
    });
    group.finish();
}

fn bench_train_step(cr: &mut Criterion) {
    let mut group = cr.benchmark_group(format!("train_step/{}", Isa::active().name()));
    group.sample_size(20);
    let sizes = [1000, 1000, 10];
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], false).expect("net");
    let mut rng = StdRng::seed_from_u64(2);
    let n = 64;
    let x = fill(&mut rng, n * 1000);
    let y = fill(&mut rng, n * 10);
    // Small weights: the benchmark trains for many steps and must stay finite.
    let mut params: Vec<f32> = fill(&mut rng, Mlp::param_len(&sizes, false))
        .iter()
        .map(|v| v * 0.03)
        .collect();
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, n)];
    let first = net
        .train_step(&mut params, &x, &y, 1e-4, &mut ws)
        .expect("step");
    assert!(first.is_finite());
    group.bench_function("lecture N=64 1000-1000-10", |b| {
        b.iter(|| {
            net.train_step(&mut params, black_box(&x), &y, 1e-4, &mut ws)
                .expect("finite")
        })
    });
    #[cfg(feature = "rayon")]
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads())
            .build()
            .expect("pool");
        let exec = microprop::par::Rayon::new(&pool);
        let net_t = net.on(&exec);
        let t = exec.parts();
        let mut wst = vec![0.0; Mlp::workspace_len_parts(&sizes, n, t)];
        group.bench_function(format!("lecture N=64 1000-1000-10, {t} threads"), |b| {
            b.iter(|| {
                net_t
                    .train_step(&mut params, black_box(&x), &y, 1e-4, &mut wst)
                    .expect("finite")
            })
        });
    }
    group.finish();
}

/// One epoch of the digits classifier (examples/digits.rs): 45 steps of batch 32 through
/// 64-32-10 ReLU, softmax cross-entropy and Adam, the data gathered from bytes.
fn bench_digits_epoch(cr: &mut Criterion) {
    use microprop::Activation::Relu;
    use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
    use microprop::{Adam, AdamConfig, Loss, init::Init};
    static DIGITS: &[u8] = include_bytes!("../examples/data/digits/digits.u8");
    let mut group = cr.benchmark_group(format!("digits_epoch/{}", Isa::active().name()));
    let sizes = [64, 32, 10];
    let net = Mlp::new(&sizes, &[Relu, Identity], true).expect("net");
    let p = Mlp::param_len(&sizes, true);
    let train = Dataset {
        x: Features::U8 {
            data: &DIGITS[..1437 * 65],
            stride: 65,
            scale: 1.0 / 16.0,
        },
        y: Labels::ClassesU8 {
            data: &DIGITS[64..1437 * 65],
            stride: 65,
        },
        len: 1437,
    };
    let mut rng = StdRng::seed_from_u64(3);
    let mut params = vec![0.0f32; p];
    net.init(&mut params, Init::HeUniform, &mut rng)
        .expect("init");
    let mut state = vec![0.0f32; Adam::state_len(p)];
    let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut state).expect("adam");
    let mut grads = vec![0.0f32; p];
    let mut ws = vec![0.0f32; Mlp::workspace_len(&sizes, 32)];
    let (mut xb, mut labels) = (vec![0.0f32; 32 * 64], vec![0u32; 32]);
    let mut order = vec![0u32; 1437];
    identity_permutation(&mut order).expect("perm");
    group.throughput(Throughput::Elements(1437)); // samples
    group.bench_function("64-32-10 batch 32 Adam", |b| {
        b.iter(|| {
            shuffle(&mut order, &mut rng);
            let mut batch = Batch {
                x: &mut xb,
                y: &mut [],
                labels: &mut labels,
            };
            net.train_epoch(
                &mut params,
                &train,
                &order,
                Loss::SoftmaxCrossEntropy,
                &mut adam,
                &mut batch,
                &mut grads,
                &mut ws,
            )
            .expect("finite")
        })
    });
    group.finish();
}

/// The four convolutions of the CNN examples at batch 32, each a group of microprop (a
/// one-layer `Net`, `loss_and_grads`: forward, loss, weight, bias and input gradients)
/// against the im2col + `matrixmultiply` baseline, checked to agree first. Throughput in
/// FLOPs, `3 · 2mkn` (forward, weight gradient, input gradient), after this run's FMA peak.
fn bench_conv(cr: &mut Criterion) {
    let isa = Isa::active();
    if let Some(p) = peak::fma_peak_gflops(isa) {
        eprintln!(
            "FMA peak, {} (register-only loop, this run): {p:.1} GFLOP/s",
            isa.name()
        );
    }
    let n = cnn::BATCH;
    for (i, case) in cnn::CASES.iter().enumerate() {
        let data = cnn::Data::new(case, n, 100 + i as u64);
        let mut ours = cnn::Ours::new(case, n);
        let mut base = cnn::Im2col::new(case, n);
        cnn::check(case, &data, &mut ours, &mut base);
        let (m, k, c) = case.mkn(n);
        eprintln!(
            "{}: {}, batch {n}: products {m}x{k}x{c}, {:.2} MFLOP a pass",
            case.name,
            case.what,
            case.flops(n) / 1e6
        );
        let mut group = cr.benchmark_group(format!("conv/{}", case.name.replace(' ', "_")));
        group.throughput(Throughput::Elements(case.flops(n) as u64)); // FLOPs
        let (x, y, p) = (&data.x, &data.y, &data.params);
        group.bench_function(BenchmarkId::new("microprop", isa.name()), |b| {
            b.iter(|| ours.step(p, black_box(x), y))
        });
        group.bench_function("matrixmultiply im2col", |b| {
            b.iter(|| base.step(p, black_box(x), y))
        });
        group.finish();
    }
}

/// One training epoch of each CNN example (examples/vowels.rs: 9 steps over 270 records;
/// examples/digits_cnn.rs: 45 steps over 1,437), batch 32, Adam, through a `Trainer`;
/// throughput in records. The arithmetic floor at this run's FMA peak is printed first.
fn bench_cnn_epochs(cr: &mut Criterion) {
    let isa = Isa::active();
    let peak = peak::fma_peak_gflops(isa);
    let mut group = cr.benchmark_group(format!("conv_epoch/{}", isa.name()));
    group.sample_size(20);
    for which in cnn::Cnn::ALL {
        let epoch_flops = flops::step_flops_per_example(&which.net()) * which.records() as f64;
        if let Some(p) = peak {
            eprintln!(
                "{}: {} steps, {:.1} MFLOP an epoch; floor {:.3} ms at the FMA peak ({p:.1} GFLOP/s, {})",
                which.name(),
                which.steps(),
                epoch_flops / 1e6,
                epoch_flops / (p * 1e6),
                isa.name()
            );
        }
        group.throughput(Throughput::Elements(which.records() as u64)); // records
        let id = match which {
            cnn::Cnn::Vowels => "vowels",
            cnn::Cnn::Digits => "digits_cnn",
        };
        which.with_epoch(0, |epoch| {
            group.bench_function(id, |b| b.iter(&mut *epoch));
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_gemm,
    bench_sigmoid,
    bench_train_step,
    bench_digits_epoch,
    bench_conv,
    bench_cnn_epochs
);
criterion_main!(benches);
