//! GEMM throughput per instruction set against `matrixmultiply::sgemm`, single thread.
//!
//! `cargo run --release --example gemm_speed [samples] [isa] [m,k,n]`; prints the median
//! GFLOP/s of `samples` (default 21) timed runs of ≥ 20 ms each, row-major A, B, C, β = 0.
//! An `isa` name or a shape limits the table to it (for profiling).

use microprop::simd::{Isa, with_isa};
use microprop::{MatMut, MatRef, gemm, gemm_workspace_len};
use std::hint::black_box;
use std::time::Instant;

fn median_gflops(flops: f64, samples: usize, mut f: impl FnMut()) -> f64 {
    // Calibrate repetitions to about 20 ms per sample.
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / once).ceil() as usize).max(1);
    let mut rates: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[rates.len() / 2]
}

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let only_isa = std::env::args().nth(2).and_then(|s| Isa::from_name(&s));
    let only_shape: Option<Vec<usize>> = std::env::args()
        .nth(3)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect());
    let mut shapes = vec![
        (64, 1000, 1000),
        (1000, 64, 1000),
        (64, 1000, 10),
        (256, 256, 256),
    ];
    if let Some(&[m, k, n]) = only_shape.as_deref() {
        shapes = vec![(m, k, n)];
    }
    let isas: Vec<Isa> = Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_supported() && only_isa.is_none_or(|o| o == *i))
        .collect();
    println!("median GFLOP/s (2·m·k·n floating-point operations per second / 10⁹), one thread");
    print!("{:>16}", "m,k,n");
    for isa in &isas {
        print!("{:>10}", isa.name());
    }
    println!("{:>16}", "matrixmultiply");
    for &(m, k, n) in &shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let mut ws = vec![0.0f32; gemm_workspace_len(m, k, n)];
        let flops = 2.0 * (m * k * n) as f64;
        print!("{:>16}", format!("{m},{k},{n}"));
        for &isa in &isas {
            let r = with_isa(isa, || {
                median_gflops(flops, samples, || {
                    gemm(
                        1.0,
                        MatRef::row_major(black_box(&a), m, k).unwrap(),
                        MatRef::row_major(black_box(&b), k, n).unwrap(),
                        0.0,
                        MatMut::row_major(&mut c, m, n).unwrap(),
                        &mut ws,
                    )
                    .unwrap();
                    black_box(&mut c);
                })
            })
            .unwrap();
            print!("{r:>10.1}");
        }
        let r = median_gflops(flops, samples, || {
            // SAFETY: a, b, c are row-major m×k, k×n, m×n buffers of exactly that size.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    black_box(a.as_ptr()),
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
            };
            black_box(&mut c);
        });
        println!("{r:>16.1}");
    }
}
