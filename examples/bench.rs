//! One table of microprop's speed beside `matrixmultiply` and plain scalar code, all
//! measured in this run: GEMM GFLOP/s on the lecture's shapes and on cubes, sigmoid
//! throughput and accuracy, and the lecture's training step against an unfused baseline
//! written the way a user would write it today (`matrixmultiply` plus scalar loops), and
//! one epoch of the digits classifier (`examples/digits.rs`: 45 steps of batch 32 through
//! 64-32-10 with softmax cross-entropy and Adam). Then the convolutions of the two CNN
//! examples (`vowels`, `digits_cnn`) at batch 32, each a forward and backward pass (the
//! weight, bias and input gradients) through a one-layer `Net` against im2col +
//! `matrixmultiply`, with GFLOP/s and % of the FMA peak; and both examples' training
//! epochs beside their arithmetic floor at that peak (`examples/common/cnn.rs`).
//!
//! Run: `cargo run --release --features rayon --example bench` (`-- --threads N` for N
//! threads, default every core; without the `rayon` feature, one thread only;
//! `MICROPROP_ISA=avx2` etc. to force one instruction set). Each figure is the median of
//! several timed repetitions.

use microprop::Activation::{Identity, Relu, Sigmoid};
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::nn::Mlp;
use microprop::simd::Isa;
use microprop::{
    Adam, AdamConfig, Loss, MatMut, MatRef, gemm, gemm_on, gemm_on_workspace_len,
    gemm_workspace_len, sigmoid,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

fn fill(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Median seconds per call of `f`, over `reps` timed batches sized to take ~`target` s.
fn median_secs(mut f: impl FnMut(), target: f64, reps: usize) -> f64 {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let inner = ((target / reps as f64) / once).ceil().max(1.0) as usize;
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[reps / 2]
}

/// Median seconds per call of `f` and of `g`, timed in alternating batches so that a
/// load spike on this shared machine hits both contenders alike.
fn paired_secs(mut f: impl FnMut(), mut g: impl FnMut(), target: f64, reps: usize) -> (f64, f64) {
    fn calibrate(f: &mut impl FnMut(), budget: f64) -> usize {
        f();
        let t = Instant::now();
        f();
        (budget / t.elapsed().as_secs_f64().max(1e-7))
            .ceil()
            .max(1.0) as usize
    }
    fn batch(f: &mut impl FnMut(), inner: usize) -> f64 {
        let t = Instant::now();
        for _ in 0..inner {
            f();
        }
        t.elapsed().as_secs_f64() / inner as f64
    }
    let budget = target / (2 * reps) as f64;
    let (nf, ng) = (calibrate(&mut f, budget), calibrate(&mut g, budget));
    let (mut tf, mut tg): (Vec<f64>, Vec<f64>) = (0..reps)
        .map(|_| (batch(&mut f, nf), batch(&mut g, ng)))
        .unzip();
    tf.sort_by(f64::total_cmp);
    tg.sort_by(f64::total_cmp);
    (tf[reps / 2], tg[reps / 2])
}

/// `c = a·b` with matrixmultiply, row-major operands given by (rows, cols, row stride, col stride).
#[allow(clippy::too_many_arguments)]
fn mm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    beta: f32,
    c: &mut [f32],
) {
    // SAFETY: callers pass buffers that hold every index of the given shapes and strides.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.0.as_ptr(),
            a.1,
            a.2,
            b.0.as_ptr(),
            b.1,
            b.2,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// The `rows × cols` view of `d`: row-major, or if `t` the transpose of a row-major
/// `cols × rows` matrix.
fn view(d: &[f32], rows: usize, cols: usize, t: bool) -> MatRef<'_> {
    if t {
        MatRef::row_major(d, cols, rows).expect("shape").t()
    } else {
        MatRef::row_major(d, rows, cols).expect("shape")
    }
}

/// Fractions (summing to 1) as whole percentages that sum to exactly 100: each rounded
/// down, then the largest remainders rounded up.
fn shares_to_100(fractions: &[f64]) -> Vec<u32> {
    let mut pct: Vec<u32> = fractions
        .iter()
        .map(|f| (f * 100.0).floor() as u32)
        .collect();
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| {
        let r = |i: usize| fractions[i] * 100.0 - f64::from(pct[i]);
        r(b).total_cmp(&r(a))
    });
    let short = 100u32.saturating_sub(pct.iter().sum());
    for &i in order.iter().take(short as usize) {
        pct[i] += 1;
    }
    pct
}

/// `|got − exact|` in units of the f32 spacing at `exact`: the metric of the README's
/// accuracy table and of the tests' sweeps (tests/kernels.rs `frac_ulp`).
fn frac_ulp(got: f32, exact: f64) -> f64 {
    let e = ((exact.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023; // floor(log2 |exact|)
    let ulp = 2f64.powi(e.max(-126) - 23);
    (f64::from(got) - exact).abs() / ulp
}

/// The lecture's loop body, unfused, as a user would write it with matrixmultiply.
struct Baseline {
    h: Vec<f32>,
    yp: Vec<f32>,
    gy: Vec<f32>,
    gw2: Vec<f32>,
    gh: Vec<f32>,
    gw1: Vec<f32>,
}

impl Baseline {
    fn new() -> Self {
        Baseline {
            h: vec![0.0; 64 * 1000],
            yp: vec![0.0; 64 * 10],
            gy: vec![0.0; 64 * 10],
            gw2: vec![0.0; 1000 * 10],
            gh: vec![0.0; 64 * 1000],
            gw1: vec![0.0; 1000 * 1000],
        }
    }
    fn step(&mut self, x: &[f32], y: &[f32], w1: &mut [f32], w2: &mut [f32], lr: f32) -> f32 {
        let (n, d, hd, o) = (64, 1000, 1000, 10);
        mm(
            n,
            d,
            hd,
            1.0,
            (x, d as isize, 1),
            (w1, hd as isize, 1),
            0.0,
            &mut self.h,
        );
        for v in &mut self.h {
            *v = 1.0 / (1.0 + libm::expf(-*v));
        }
        mm(
            n,
            hd,
            o,
            1.0,
            (&self.h, hd as isize, 1),
            (w2, o as isize, 1),
            0.0,
            &mut self.yp,
        );
        let mut loss = 0.0;
        for ((g, p), t) in self.gy.iter_mut().zip(&self.yp).zip(y) {
            loss += (p - t) * (p - t);
            *g = 2.0 * (p - t);
        }
        mm(
            hd,
            n,
            o,
            1.0,
            (&self.h, 1, hd as isize),
            (&self.gy, o as isize, 1),
            0.0,
            &mut self.gw2,
        );
        mm(
            n,
            o,
            hd,
            1.0,
            (&self.gy, o as isize, 1),
            (w2, 1, o as isize),
            0.0,
            &mut self.gh,
        );
        for (g, h) in self.gh.iter_mut().zip(&self.h) {
            *g *= h * (1.0 - h);
        }
        mm(
            d,
            n,
            hd,
            1.0,
            (x, 1, d as isize),
            (&self.gh, hd as isize, 1),
            0.0,
            &mut self.gw1,
        );
        for (w, g) in w1.iter_mut().zip(&self.gw1) {
            *w -= lr * g;
        }
        for (w, g) in w2.iter_mut().zip(&self.gw2) {
            *w -= lr * g;
        }
        loss
    }
}

#[path = "common/peak.rs"]
mod peak;
use peak::fma_peak_gflops;
#[path = "common/cnn.rs"]
mod cnn;
#[path = "common/flops.rs"]
mod flops;

/// The threaded rows' pool (`rayon` feature, more than one thread), and their timing:
/// one thread against `threads` threads in alternating batches, both run from inside
/// the pool (where a split step allocates nothing).
struct Threads {
    threads: usize,
    #[cfg(feature = "rayon")]
    pool: Option<rayon::ThreadPool>,
}

impl Threads {
    fn new(threads: usize) -> Self {
        Threads {
            threads,
            #[cfg(feature = "rayon")]
            pool: (threads > 1).then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool")
            }),
        }
    }

    /// `(one thread, N threads)` seconds of `one(&Serial::ONE)` against `one(pool)`;
    /// `None` without a pool.
    fn paired(
        &self,
        mut run: impl FnMut(&dyn microprop::par::Executor, bool) + Send,
        target: f64,
    ) -> Option<(f64, f64)> {
        #[cfg(feature = "rayon")]
        if let Some(pool) = &self.pool {
            let exec = microprop::par::Rayon::new(pool);
            return Some(pool.install(|| {
                // One closure for both contenders (they share the caller's buffers): the
                // flag says which one runs.
                let run = std::cell::RefCell::new(&mut run);
                paired_secs(
                    || (run.borrow_mut())(&microprop::par::Serial::ONE, false),
                    || (run.borrow_mut())(&exec, true),
                    target,
                    15,
                )
            }));
        }
        let _ = (&mut run, target, self.threads);
        None
    }
}

/// `(one thread, threads threads)` seconds per lecture step; `None` without a pool.
fn threaded_step(
    threads: &Threads,
    net: &Mlp<'_>,
    params: &mut [f32],
    xs: &[f32],
    ys: &[f32],
) -> Option<(f64, f64)> {
    let sizes = net.sizes();
    let mut ws1 = vec![0.0; Mlp::workspace_len(sizes, 64)];
    let mut wsn = vec![0.0; Mlp::workspace_len_parts(sizes, 64, threads.threads)];
    let mut p2 = params.to_vec();
    threads.paired(
        |exec, split| {
            let (p, ws) = if split {
                (&mut p2[..], &mut wsn[..])
            } else {
                (&mut params[..], &mut ws1[..])
            };
            net.on(exec)
                .train_step(p, black_box(xs), ys, 1e-4, ws)
                .expect("finite");
        },
        2.0,
    )
}

/// The CPU's model name (Linux: `/proc/cpuinfo`), or "unknown".
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Threads for the threaded rows: `--threads N`, else every core this process may use.
fn threads_arg() -> usize {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            if let Some(n) = args.next().and_then(|n| n.parse().ok()) {
                return n;
            }
            eprintln!("--threads needs a count");
            std::process::exit(2);
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() {
    let isa = Isa::active();
    let threads = threads_arg();
    let with_threads = if cfg!(feature = "rayon") {
        format!("1 and {threads} threads")
    } else {
        "one thread (build with --features rayon for more)".to_string()
    };
    println!(
        "microprop bench: isa = {}, {with_threads}, medians",
        isa.name()
    );
    println!(
        "cpu: {} ({} cores available to this process)",
        cpu_name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    let peaks: Vec<(Isa, f64)> = [Isa::Avx512, Isa::Avx2]
        .into_iter()
        .filter_map(|i| Some((i, fma_peak_gflops(i)?)))
        .collect();
    for (i, p) in &peaks {
        println!(
            "FMA peak, {} (register-only loop, this run): {p:.1} GFLOP/s",
            i.name()
        );
    }
    let peak = peaks.iter().find(|(i, _)| *i == isa).map(|&(_, p)| p);
    println!();
    let pool = Threads::new(threads);
    println!(
        "| GEMM m×k×n | microprop GFLOP/s | % of peak | matrixmultiply GFLOP/s | ratio | \
         {threads} threads GFLOP/s | × one thread |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rng = StdRng::seed_from_u64(0);
    // Each row in the form the lecture's step runs it: `ta` / `tb` make A / B a transposed
    // view of a row-major matrix (the updates read xᵀ and hᵀ, the backward pass w2ᵀ), and
    // the updates accumulate into the weights (α = −lr, β = 1).
    struct Shape {
        m: usize,
        k: usize,
        n: usize,
        ta: bool,
        tb: bool,
        update: bool,
        name: &'static str,
    }
    let sh = |m, k, n, ta, tb, update, name| Shape {
        m,
        k,
        n,
        ta,
        tb,
        update,
        name,
    };
    let shapes = [
        sh(64, 1000, 1000, false, false, false, "x·w1"),
        sh(1000, 64, 1000, true, false, true, "w1 −= lr·xᵀ·Δ_h"),
        sh(64, 1000, 10, false, false, false, "h·w2"),
        sh(1000, 64, 10, true, false, true, "w2 −= lr·hᵀ·Δ"),
        sh(64, 10, 1000, false, true, false, "Δ·w2ᵀ"),
        sh(256, 256, 256, false, false, false, ""),
        sh(512, 512, 512, false, false, false, ""),
        sh(1024, 1024, 1024, false, false, false, ""),
    ];
    for Shape {
        m,
        k,
        n,
        ta,
        tb,
        update,
        name,
    } in shapes
    {
        let a = fill(&mut rng, m * k, 1.0);
        let b = fill(&mut rng, k * n, 1.0);
        let (alpha, beta) = if update { (-1e-4, 1.0) } else { (1.0, 0.0) };
        let c0 = fill(&mut rng, m * n, 1.0);
        let mut c = c0.clone();
        let mut c2 = c0.clone();
        let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
        // A transposed A is stored k × m row-major (element (i, p) at p·m + i); B alike.
        let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
        let mut ours = |c: &mut [f32]| {
            gemm(
                alpha,
                view(black_box(&a), m, k, ta),
                view(black_box(&b), k, n, tb),
                beta,
                MatMut::row_major(c, m, n).expect("shape"),
                &mut ws,
            )
            .expect("gemm")
        };
        let theirs = |c: &mut [f32]| {
            mm(
                m,
                k,
                n,
                alpha,
                (black_box(&a), a_rs, a_cs),
                (black_box(&b), b_rs, b_cs),
                beta,
                c,
            )
        };
        let (t_ours, t_mm) = paired_secs(|| ours(&mut c), || theirs(&mut c2), 0.8, 15);
        // One call each from the same C (β = 1 accumulated over a different number of
        // calls above).
        c.copy_from_slice(&c0);
        c2.copy_from_slice(&c0);
        ours(&mut c);
        theirs(&mut c2);
        let worst = c
            .iter()
            .zip(&c2)
            .fold(0.0f32, |w, (x, y)| w.max((x - y).abs()));
        assert!(worst <= 1e-5 * k as f32, "results disagree by {worst}");
        let fl = 2.0 * (m * k * n) as f64;
        let form = format!(
            "{}{}{}",
            if ta { ", Aᵀ" } else { "" },
            if tb { ", Bᵀ" } else { "" },
            if update { ", β = 1" } else { "" }
        );
        let label = if name.is_empty() {
            format!("{m}×{k}×{n}")
        } else {
            format!("{m}×{k}×{n} ({name}{form})")
        };
        let pct = peak.map_or("–".to_string(), |p| {
            format!("{:.0}%", 100.0 * fl / t_ours / 1e9 / p)
        });
        // The same product split over the pool's threads (`gemm_on`), against one thread.
        let mut wsn = vec![0.0; gemm_on_workspace_len(m, k, n, threads)];
        let mut cn = c0.clone();
        let split = pool.paired(
            |exec, split| {
                let ws = if split { &mut wsn[..] } else { &mut ws[..] };
                gemm_on(
                    exec,
                    alpha,
                    view(black_box(&a), m, k, ta),
                    view(black_box(&b), k, n, tb),
                    beta,
                    MatMut::row_major(&mut cn, m, n).expect("shape"),
                    ws,
                )
                .expect("gemm")
            },
            0.8,
        );
        let (par, speedup) = split.map_or(("–".into(), "–".into()), |(t1, tn)| {
            (format!("{:.1}", fl / tn / 1e9), format!("{:.2}×", t1 / tn))
        });
        println!(
            "| {label} | {:.1} | {pct} | {:.1} | {:.2}× | {par} | {speedup} |",
            fl / t_ours / 1e9,
            fl / t_mm / 1e9,
            t_mm / t_ours
        );
    }

    println!();
    let n = 64_000;
    let x: Vec<f32> = (0..n).map(|_| rng.random_range(-20.0f32..20.0)).collect();
    let mut o = vec![0.0; n];
    let mut o2 = vec![0.0; n];
    let (t_vec, t_sc) = paired_secs(
        || sigmoid(black_box(&x), &mut o).expect("sigmoid"),
        || {
            for (o, &v) in o2.iter_mut().zip(black_box(&x)) {
                *o = 1.0 / (1.0 + libm::expf(-v));
            }
        },
        0.6,
        15,
    );
    // Accuracy over a dense sweep of [−100, 100] against the exact (f64) sigmoid.
    let sweep: Vec<f32> = (0..2_000_001).map(|i| -100.0 + i as f32 * 1e-4).collect();
    let mut s = vec![0.0; sweep.len()];
    sigmoid(&sweep, &mut s).expect("sigmoid");
    let max_ulp = sweep
        .iter()
        .zip(&s)
        .filter_map(|(&x, &y)| {
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            (exact >= f64::from(f32::MIN_POSITIVE)).then(|| frac_ulp(y, exact))
        })
        .fold(0.0, f64::max);
    println!(
        "| sigmoid, 64,000 elements | elements/ns | vs scalar `1/(1+expf(-x))` | max ULP, 2,000,001 points of [−100, 100] |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| microprop | {:.2} | {:.1}× | {max_ulp:.3} |",
        n as f64 / t_vec / 1e9,
        t_sc / t_vec
    );
    println!("| scalar | {:.2} | 1.0× | |", n as f64 / t_sc / 1e9);

    println!();
    let sizes = [1000, 1000, 10];
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], false).expect("net");
    let xs = fill(&mut rng, 64 * 1000, 1.0);
    let ys = fill(&mut rng, 64 * 10, 1.0);
    let mut params = fill(&mut rng, Mlp::param_len(&sizes, false), 0.03);
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, 64)];
    let (w1, w2) = params.split_at(1000 * 1000);
    let (mut w1, mut w2) = (w1.to_vec(), w2.to_vec());
    let mut base = Baseline::new();
    let (t_step, t_base) = paired_secs(
        || {
            net.train_step(&mut params, black_box(&xs), &ys, 1e-4, &mut ws)
                .expect("finite");
        },
        || {
            black_box(base.step(black_box(&xs), &ys, &mut w1, &mut w2, 1e-4));
        },
        2.0,
        15,
    );
    // The same step on `threads` threads (the `rayon` feature), timed against one thread
    // in alternating batches, both from inside the pool (where a step allocates nothing).
    let t_step_n = threaded_step(&pool, &net, &mut params, &xs, &ys);
    // The GEMM floor: the step's 2·Σ m·k·n flops at this core's FMA peak.
    let step_flops = 2.0 * (2 * 64 * 1000 * 1000 + 3 * 64 * 1000 * 10) as f64;
    let floor = peak.map(|p| step_flops / (p * 1e9));
    let vs_floor = |t: f64, cores: usize| {
        floor.map_or("–".to_string(), |f| {
            format!("{:.2}×", t / (f / cores as f64))
        })
    };
    println!("| lecture train_step (N=64, 1000→1000→10) | ms/step | vs GEMM floor | speed-up |");
    println!("|---|---:|---:|---:|");
    println!(
        "| microprop (fused), 1 thread | {:.3} | {} | {:.2}× |",
        t_step * 1e3,
        vs_floor(t_step, 1),
        t_base / t_step
    );
    if let Some((t1, tn)) = t_step_n {
        println!(
            "| microprop (fused), {threads} threads | {:.3} | {} | {:.2}× ({:.2}× one thread, \
             {:.3} ms in the same batches) |",
            tn * 1e3,
            vs_floor(tn, threads),
            t_base / tn,
            t1 / tn,
            t1 * 1e3
        );
    }
    println!(
        "| matrixmultiply + scalar loops (unfused) | {:.3} | | 1.00× |",
        t_base * 1e3
    );
    if let Some(f) = floor {
        println!(
            "| GEMM floor: 2·Σmkn = {:.0} MFLOP at the FMA peak | {:.3} | 1.00× | |",
            step_flops / 1e6,
            f * 1e3
        );
    }

    // Where the step's time goes: its five GEMMs, timed alone in the exact form the step
    // runs them (transposed views, α = −lr and β = 1 for the updates) but without their
    // fused epilogues; the rest is the epilogues (sigmoid, σ'), the loss, the finiteness
    // check and call overhead.
    let h = fill(&mut rng, 64 * 1000, 0.5);
    let g = fill(&mut rng, 64 * 10, 1.0);
    let mut out_h = vec![0.0; 64 * 1000];
    let mut out_y = vec![0.0; 64 * 10];
    let mut gws = vec![0.0; gemm_workspace_len(1000, 1000, 1000)];
    let mut w1 = fill(&mut rng, 1000 * 1000, 0.03);
    let mut w2 = fill(&mut rng, 1000 * 10, 0.03);
    fn row(d: &[f32], r: usize, c: usize) -> MatRef<'_> {
        MatRef::row_major(d, r, c).expect("shape")
    }
    let parts: [(&str, f64); 5] = [
        (
            "x·w1 (64×1000×1000)",
            median_secs(
                || {
                    gemm(
                        1.0,
                        row(&xs, 64, 1000),
                        row(&w1, 1000, 1000),
                        0.0,
                        MatMut::row_major(&mut out_h, 64, 1000).expect("shape"),
                        &mut gws,
                    )
                    .expect("gemm")
                },
                0.5,
                9,
            ),
        ),
        (
            "h·w2 (64×1000×10)",
            median_secs(
                || {
                    gemm(
                        1.0,
                        row(&h, 64, 1000),
                        row(&w2, 1000, 10),
                        0.0,
                        MatMut::row_major(&mut out_y, 64, 10).expect("shape"),
                        &mut gws,
                    )
                    .expect("gemm")
                },
                0.2,
                9,
            ),
        ),
        (
            "Δ·w2ᵀ (64×10×1000)",
            median_secs(
                || {
                    gemm(
                        1.0,
                        row(&g, 64, 10),
                        row(&w2, 1000, 10).t(),
                        0.0,
                        MatMut::row_major(&mut out_h, 64, 1000).expect("shape"),
                        &mut gws,
                    )
                    .expect("gemm")
                },
                0.2,
                9,
            ),
        ),
        (
            "w2 −= lr·hᵀ·Δ (1000×64×10)",
            median_secs(
                || {
                    gemm(
                        -1e-4,
                        row(&h, 64, 1000).t(),
                        row(&g, 64, 10),
                        1.0,
                        MatMut::row_major(&mut w2, 1000, 10).expect("shape"),
                        &mut gws,
                    )
                    .expect("gemm")
                },
                0.2,
                9,
            ),
        ),
        (
            "w1 −= lr·xᵀ·Δ_h (1000×64×1000)",
            median_secs(
                || {
                    gemm(
                        -1e-4,
                        row(&xs, 64, 1000).t(),
                        row(&h, 64, 1000),
                        1.0,
                        MatMut::row_major(&mut w1, 1000, 1000).expect("shape"),
                        &mut gws,
                    )
                    .expect("gemm")
                },
                0.5,
                9,
            ),
        ),
    ];
    println!();
    // The products are timed one by one, so on a noisy machine they can sum to more
    // than the step timed whole: the shares are of the larger of the two, rounded so
    // that they add up to 100%.
    let sum: f64 = parts.iter().map(|(_, t)| t).sum();
    let rest = (t_step - sum).max(0.0);
    let mut rows: Vec<(&str, f64)> = parts.to_vec();
    rows.push((
        "everything else (the step timed whole, minus the products)",
        rest,
    ));
    let total = sum + rest;
    let shares = shares_to_100(&rows.iter().map(|r| r.1 / total).collect::<Vec<_>>());
    println!("| where a microprop step goes | ms | share |");
    println!("|---|---:|---:|");
    for ((name, t), share) in rows.iter().zip(shares) {
        println!("| {name} | {:.3} | {share}% |", t * 1e3);
    }
    println!("| the step, timed whole | {:.3} | |", t_step * 1e3);

    // One epoch of the digits classifier, as examples/digits.rs trains it.
    static DIGITS: &[u8] = include_bytes!("data/digits/digits.u8");
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
    let t_epoch = median_secs(
        || {
            shuffle(&mut order, &mut rng);
            let mut batch = Batch {
                x: &mut xb,
                y: &mut [],
                labels: &mut labels,
            };
            black_box(
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
                .expect("finite"),
            );
        },
        1.0,
        15,
    );
    println!();
    println!(
        "| digits epoch (1,437 samples, 45 steps of batch 32, 64-32-10, Adam) | ms/epoch | µs/step |"
    );
    println!("|---|---:|---:|");
    println!(
        "| microprop train_epoch | {:.3} | {:.2} |",
        t_epoch * 1e3,
        t_epoch * 1e6 / 45.0
    );

    conv_tables(peak);
}

/// The convolutions of the two CNN examples against im2col + matrixmultiply, then both
/// examples' epochs beside their arithmetic floor at `peak` (GFLOP/s, this run's).
fn conv_tables(peak: Option<f64>) {
    let pct = |fl: f64, t: f64| {
        peak.map_or("–".to_string(), |p| {
            format!("{:.0}%", 100.0 * fl / t / 1e9 / p)
        })
    };
    let n = cnn::BATCH;
    println!();
    println!(
        "| convolution, batch {n}, one thread: forward + weight, bias and input gradients | \
         m×k×n | MFLOP | microprop µs | GFLOP/s | % of peak | im2col + matrixmultiply µs | \
         GFLOP/s | % of peak | speed-up |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, case) in cnn::CASES.iter().enumerate() {
        let data = cnn::Data::new(case, n, 100 + i as u64);
        let mut ours = cnn::Ours::new(case, n);
        let mut base = cnn::Im2col::new(case, n);
        // Both contenders once, checked to agree: the race is on the same work.
        cnn::check(case, &data, &mut ours, &mut base);
        let fl = case.flops(n);
        // The count of examples/common/flops.rs, with the input gradient added (it
        // leaves it out for a network's first layer, as a training step does).
        let counted = flops::step_flops_per_example(&case.net()) * 1.5 * n as f64;
        assert_eq!(fl, counted, "{}: FLOP counts", case.name);
        let (x, y, p) = (&data.x, &data.y, &data.params);
        let (t_ours, t_base) = paired_secs(
            || {
                black_box(ours.step(p, black_box(x), y));
            },
            || {
                black_box(base.step(p, black_box(x), y));
            },
            1.2,
            15,
        );
        let (m, k, c) = case.mkn(n);
        println!(
            "| {}: {} | {m}×{k}×{c} | {:.2} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} | {:.2}× |",
            case.name,
            case.what,
            fl / 1e6,
            t_ours * 1e6,
            fl / t_ours / 1e9,
            pct(fl, t_ours),
            t_base * 1e6,
            fl / t_base / 1e9,
            pct(fl, t_base),
            t_base / t_ours
        );
    }
    println!();
    println!(
        "| CNN epoch, batch {n}, Adam (Trainer::epoch, one thread) | records | steps | \
         MFLOP | ms/epoch | µs/step | floor at the FMA peak, ms | × floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for which in cnn::Cnn::ALL {
        let epoch_flops = flops::step_flops_per_example(&which.net()) * which.records() as f64;
        let t = which.with_epoch(0, |epoch| {
            median_secs(
                || {
                    black_box(epoch());
                },
                1.5,
                15,
            )
        });
        let (floor, ratio) = peak.map_or(("–".into(), "–".into()), |p| {
            let f = epoch_flops / (p * 1e9);
            (format!("{:.3}", f * 1e3), format!("{:.2}×", t / f))
        });
        println!(
            "| {} | {} | {} | {:.1} | {:.3} | {:.1} | {floor} | {ratio} |",
            which.name(),
            which.records(),
            which.steps(),
            epoch_flops / 1e6,
            t * 1e3,
            t * 1e6 / which.steps() as f64
        );
    }
}
