//! This core's f32 FMA peak, measured by a register-only loop: the yardstick the `bench`
//! example and the criterion benches give every GEMM against, measured in the same run.
//! (Included with `#[path]` by both; not an example of its own.)

use microprop::simd::Isa;
use std::hint::black_box;
use std::time::Instant;

/// This core's f32 FMA peak on `isa`, measured now: GFLOP/s of a register-only loop of
/// independent fused multiply-adds (`None` where the instruction set has no such loop
/// here or is not supported).
pub fn fma_peak_gflops(isa: Isa) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let run: fn(usize) -> f32 = match isa {
            Isa::Avx512 if std::is_x86_feature_detected!("avx512f") => loops::avx512,
            Isa::Avx2
                if std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma") =>
            {
                loops::avx2
            }
            _ => return None,
        };
        let lanes = if isa == Isa::Avx512 { 16 } else { 8 };
        // The best of 15 timings of about 10 ms each: a peak is what the core does when
        // nothing interrupts it (a shared machine only ever slows a timing down), and a
        // short loop would also time the clock's ramp up.
        let iters = 1 << 22;
        let best = (0..16)
            .map(|_| {
                let t = Instant::now();
                black_box(run(black_box(iters)));
                t.elapsed().as_secs_f64()
            })
            .skip(1)
            .fold(f64::INFINITY, f64::min);
        Some((2 * loops::ACC * lanes * iters) as f64 / best / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = isa;
        None
    }
}

/// Register-only FMA loops: [`ACC`](loops::ACC) independent accumulators (more than the
/// FMA units' latency × throughput, so the loop runs at the issue rate), nothing loaded or
/// stored inside the loop.
#[cfg(target_arch = "x86_64")]
mod loops {
    use std::arch::x86_64::*;
    pub const ACC: usize = 12;

    macro_rules! fma_loop {
        ($name:ident, $feat:literal, $set1:ident, $fma:ident, $add:ident, $store:ident, $ty:ty, $lanes:expr) => {
            pub fn $name(iters: usize) -> f32 {
                #[target_feature(enable = $feat)]
                unsafe fn body(iters: usize) -> f32 {
                    let (a, b) = ($set1(0.999_999), $set1(1e-7));
                    let mut acc: [$ty; ACC] = [$set1(0.0); ACC];
                    for _ in 0..iters {
                        for x in acc.iter_mut() {
                            *x = $fma(*x, a, b);
                        }
                    }
                    let mut sum = acc[0];
                    for x in &acc[1..] {
                        sum = $add(sum, *x);
                    }
                    let mut out = [0.0f32; $lanes];
                    // SAFETY: `out` holds one vector of f32 lanes (unaligned store).
                    unsafe { $store(out.as_mut_ptr(), sum) };
                    out.iter().sum()
                }
                // SAFETY: called only after the feature was detected (fma_peak_gflops).
                unsafe { body(iters) }
            }
        };
    }
    fma_loop!(
        avx512,
        "avx512f",
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        __m512,
        16
    );
    fma_loop!(
        avx2,
        "avx2,fma",
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_storeu_ps,
        __m256,
        8
    );
}
