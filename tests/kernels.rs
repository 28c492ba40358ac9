//! Every elementwise kernel on every instruction set, held to its scalar reference.
//!
//! One harness ([`Out`], [`for_each_case`]) runs each kernel over every supported
//! instruction set and every length of [`lengths`], with outputs poisoned with NaN (an
//! unwritten element fails) and one element longer than needed, ending in a sentinel that
//! must survive (a write past the end fails). Then: accuracy sweeps of sigmoid and tanh
//! against f64, special values at every lane position, finite-difference gradient checks,
//! and the error cases.
//!
//! Tolerances (integer ULP between kernel and reference unless stated):
//! * identity, relu (sign of zero included), identity/tanh backward, `bias_add`,
//!   `bias_grad`, the `squared_error` gradient: bit-exact (same arithmetic, same order).
//! * relu backward: exact, `+0 == −0` (the reference multiplies by 0, the kernel selects 0).
//! * sigmoid backward: 2 ULP (kernel `(dh·h)·(1−h)`, reference `dh·(h·(1−h))`).
//! * sigmoid forward vs `sigmoid_scalar` (libm): 3 ULP (kernel ≤ 2 from exact, libm ≤ 1),
//!   and `+0.0` exactly where the reference is subnormal; tanh vs `libm::tanhf`: 5 ULP (4 + 1).
//! * `sgd_update`: `|Δ| ≤ ε·(|p| + |lr·g|)` (the kernel may fuse the multiply-add).
//! * `squared_error` loss: `|Δ| ≤ (n + 1)·ε·Σ d²` against an f64 sum (summation order).
//! * sweeps against f64: sigmoid ≤ 2.5 ULP (fractional; ≤ 2 integer ULP), tanh ≤ 4 ULP.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::simd::Isa;
use microprop::{
    Activation, Error, MatMut, MatRef, bias_add, bias_grad, relu, sgd_update, sgd_update_scalar,
    sigmoid, sigmoid_backward, sigmoid_inplace, sigmoid_scalar, squared_error,
    squared_error_scalar, tanh,
};
use rand::RngExt;
use rand::rngs::StdRng;

/// Written one past the end of every output; a kernel that writes past `n` overwrites it.
const SENTINEL: f32 = -1234.5678;

/// An output buffer of `n` elements poisoned with NaN, plus the sentinel.
struct Out {
    buf: Vec<f32>,
    n: usize,
}

impl Out {
    fn poisoned(n: usize) -> Self {
        Self::from(vec![f32::NAN; n])
    }
    /// `init` followed by the sentinel (for in-place kernels).
    fn from(init: Vec<f32>) -> Self {
        let n = init.len();
        let mut buf = init;
        buf.push(SENTINEL);
        Out { buf, n }
    }
    fn slice(&mut self) -> &mut [f32] {
        &mut self.buf[..self.n]
    }
    /// The `n` outputs, after checking the sentinel survived.
    fn done(&self, ctx: &str) -> &[f32] {
        assert_eq!(
            self.buf[self.n].to_bits(),
            SENTINEL.to_bits(),
            "{ctx}: wrote past the end (n = {})",
            self.n
        );
        &self.buf[..self.n]
    }
}

/// Runs `f(isa, n, rng)` for every supported instruction set and every length, with a
/// reproducible rng per case.
fn for_each_case(seed: u64, mut f: impl FnMut(Isa, usize, &mut StdRng)) {
    for_each_isa(|isa| {
        for n in lengths() {
            let mut rng = rng(seed ^ ((n as u64) << 8));
            f(isa, n, &mut rng);
        }
    });
}

/// Asserts `ok(got[i], want[i])` for every `i`, reporting the first failure.
#[track_caller]
fn assert_all(ctx: &str, inputs: &[f32], got: &[f32], want: &[f32], ok: impl Fn(f32, f32) -> bool) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for i in 0..got.len() {
        assert!(
            ok(got[i], want[i]),
            "{ctx}: element {i} of {}: input {:e}, got {:e} ({:#010x}), want {:e} ({:#010x})",
            got.len(),
            inputs.get(i).copied().unwrap_or(f32::NAN),
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits(),
        );
    }
}

fn bits_eq(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
}

/// Within `k` integer ULP; NaN only matches NaN (so a NaN-poisoned, unwritten output fails).
fn ulp_close(got: f32, want: f32, k: u64) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    ulp_diff(got, want) <= k
}

/// Random inputs: mostly moderate, some large, a few spanning [−100, 100].
fn inputs(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.random_range(0..10) {
            0 => rng.random_range(-100.0f32..100.0),
            1 | 2 => rng.random_range(-40.0f32..40.0),
            _ => rng.random_range(-8.0f32..8.0),
        })
        .collect()
}

/// The tests iterate [`Activation::ALL`]; one added to the crate lands here until this file
/// is taught its tolerances and f64 reference.
fn missing(act: Activation, what: &str) -> ! {
    panic!(
        "tests/kernels.rs has no {what} for the activation {:?} ({}): add its arm",
        act,
        act.name()
    )
}

#[test]
fn activations_have_distinct_names_and_save_codes() {
    let all = Activation::ALL;
    assert!(all.len() >= 4);
    for (i, a) in all.iter().enumerate() {
        assert!(!a.name().is_empty());
        assert_eq!(a.name(), a.name().to_lowercase(), "{a:?}");
        assert_eq!(Activation::from_save_code(a.save_code()), Some(*a));
        for b in &all[i + 1..] {
            assert_ne!(a, b);
            assert_ne!(a.name(), b.name());
            assert_ne!(a.save_code(), b.save_code());
        }
    }
    let unknown = (0..=u8::MAX).filter(|&c| Activation::from_save_code(c).is_none());
    assert_eq!(unknown.count(), 256 - all.len());
}

/// The forward tolerance of each activation against [`Activation::scalar`].
fn forward_ok(act: Activation, got: f32, want: f32) -> bool {
    match act {
        Activation::Identity | Activation::Relu => bits_eq(got, want),
        Activation::Sigmoid if want.abs() < f32::MIN_POSITIVE => got.to_bits() == 0,
        Activation::Sigmoid => ulp_close(got, want, 3),
        Activation::Tanh => ulp_close(got, want, 5),
        _ => missing(act, "forward tolerance"),
    }
}

/// The backward tolerance of each activation against `dh · derivative_scalar(h)`.
fn backward_ok(act: Activation, got: f32, want: f32) -> bool {
    match act {
        Activation::Identity | Activation::Tanh => bits_eq(got, want),
        Activation::Relu => got == want,
        Activation::Sigmoid => ulp_close(got, want, 2),
        _ => missing(act, "backward tolerance"),
    }
}

#[test]
fn forward_matches_scalar_reference() {
    for_each_case(1, |isa, n, rng| {
        let z = inputs(rng, n);
        for &act in Activation::ALL {
            let ctx = format!("{act:?} forward [{}] n = {n}", isa.name());
            let want: Vec<f32> = z.iter().map(|&v| act.scalar(v)).collect();

            let mut out = Out::poisoned(n);
            act.forward(&z, out.slice()).unwrap();
            let got = out.done(&ctx);
            assert_all(&ctx, &z, got, &want, |g, w| forward_ok(act, g, w));

            // In place: the same arithmetic, so the same bits.
            let mut inplace = Out::from(z.clone());
            act.forward_inplace(inplace.slice());
            let ctx = format!("{ctx} in place");
            assert_all(&ctx, &z, inplace.done(&ctx), got, bits_eq);
        }
    });
}

#[test]
fn named_forward_kernels_match_activation_forward() {
    for_each_case(2, |isa, n, rng| {
        let z = inputs(rng, n);
        type Named = fn(&[f32], &mut [f32]) -> Result<(), Error>;
        let named: [(Activation, Named); 3] = [
            (Activation::Sigmoid, sigmoid),
            (Activation::Relu, relu),
            (Activation::Tanh, tanh),
        ];
        for (act, f) in named {
            let ctx = format!("named {act:?} [{}] n = {n}", isa.name());
            let mut out = Out::poisoned(n);
            f(&z, out.slice()).unwrap();
            let mut via = vec![f32::NAN; n];
            act.forward(&z, &mut via).unwrap();
            assert_all(&ctx, &z, out.done(&ctx), &via, bits_eq);
        }
        let mut inplace = Out::from(z.clone());
        sigmoid_inplace(inplace.slice());
        let want: Vec<f32> = z.iter().map(|&v| sigmoid_scalar(v)).collect();
        let ctx = format!("sigmoid_inplace [{}] n = {n}", isa.name());
        assert_all(&ctx, &z, inplace.done(&ctx), &want, |g, w| {
            forward_ok(Activation::Sigmoid, g, w)
        });
    });
}

#[test]
fn backward_matches_scalar_reference() {
    for_each_case(3, |isa, n, rng| {
        let z = inputs(rng, n);
        let dh = fill(rng, n);
        for &act in Activation::ALL {
            let ctx = format!("{act:?} backward [{}] n = {n}", isa.name());
            let h: Vec<f32> = z.iter().map(|&v| act.scalar(v)).collect();
            let want: Vec<f32> = dh
                .iter()
                .zip(&h)
                .map(|(&g, &h)| g * act.derivative_scalar(h))
                .collect();

            let mut dz = Out::poisoned(n);
            act.backward(&dh, &h, dz.slice()).unwrap();
            let got = dz.done(&ctx);
            assert_all(&ctx, &h, got, &want, |g, w| backward_ok(act, g, w));

            let mut grad = Out::from(dh.clone());
            act.backward_inplace(grad.slice(), &h).unwrap();
            let ctx = format!("{ctx} in place");
            assert_all(&ctx, &h, grad.done(&ctx), got, bits_eq);

            if act == Activation::Sigmoid {
                let mut fused = Out::poisoned(n);
                sigmoid_backward(&dh, &h, fused.slice()).unwrap();
                let ctx = format!("sigmoid_backward [{}] n = {n}", isa.name());
                assert_all(&ctx, &h, fused.done(&ctx), got, bits_eq);
            }
        }
    });
}

#[test]
fn squared_error_matches_reference() {
    for_each_case(4, |isa, n, rng| {
        let ctx = format!("squared_error [{}] n = {n}", isa.name());
        let pred = inputs(rng, n);
        let target = inputs(rng, n);
        let mut want_grad = vec![f32::NAN; n];
        let want_loss = squared_error_scalar(&pred, &target, &mut want_grad).unwrap();

        let mut grad = Out::poisoned(n);
        let loss = squared_error(&pred, &target, grad.slice()).unwrap();
        assert_all(&ctx, &pred, grad.done(&ctx), &want_grad, bits_eq);

        let exact: f64 = pred
            .iter()
            .zip(&target)
            .map(|(&p, &y)| {
                let d = f64::from(p - y);
                d * d
            })
            .sum();
        let tol = (n as f64 + 1.0) * f64::from(f32::EPSILON) * exact;
        for (who, l) in [("kernel", loss), ("scalar reference", want_loss)] {
            assert!(
                (f64::from(l) - exact).abs() <= tol,
                "{ctx}: {who} loss {l} vs exact {exact} (tolerance {tol})"
            );
        }
        if n == 0 {
            assert_eq!(loss.to_bits(), 0, "{ctx}: empty sum is +0");
        }
    });
}

#[test]
fn sgd_update_matches_reference() {
    for_each_case(5, |isa, n, rng| {
        let params = inputs(rng, n);
        let grads = inputs(rng, n);
        for lr in [0.1f32, 1e-4, 3.0, -0.5, 0.0] {
            let ctx = format!("sgd_update lr = {lr} [{}] n = {n}", isa.name());
            let mut want = params.clone();
            sgd_update_scalar(&mut want, &grads, lr).unwrap();
            let mut got = Out::from(params.clone());
            sgd_update(got.slice(), &grads, lr).unwrap();
            let got = got.done(&ctx);
            for i in 0..n {
                let tol = f32::EPSILON * (params[i].abs() + (lr * grads[i]).abs());
                assert!(
                    (got[i] - want[i]).abs() <= tol,
                    "{ctx}: element {i}: p = {}, g = {}: got {}, want {}",
                    params[i],
                    grads[i],
                    got[i],
                    want[i]
                );
            }
            if lr == 0.0 {
                assert_all(&ctx, &grads, got, &params, |g, w| g == w);
            }
        }
    });
}

/// Layouts of a `rows × cols` view: (name, buffer length, row stride, column stride,
/// built as the transpose of a row-major `cols × rows` view).
fn layouts(rows: usize, cols: usize) -> [(&'static str, usize, usize, usize, bool); 4] {
    let len = |rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            3
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1 + 2
        }
    };
    [
        ("row-major", len(cols, 1), cols, 1, false),
        ("padded rows", len(cols + 3, 1), cols + 3, 1, false),
        ("transposed", len(1, rows), 1, rows, true),
        (
            "every other column",
            len(2 * cols + 1, 2),
            2 * cols + 1,
            2,
            false,
        ),
    ]
}

const BIAS_ROWS: &[usize] = if cfg!(miri) {
    &[0, 1, 3]
} else {
    &[0, 1, 2, 3, 7, 16, 17]
};
/// Under Miri: around the portable backend's 8 lanes and its 2·8 + 1.
const BIAS_COLS: &[usize] = if cfg!(miri) {
    &[0, 1, 7, 8, 9, 17]
} else {
    &[0, 1, 2, 7, 8, 9, 15, 16, 17, 33, 64, 65]
};

#[test]
fn bias_add_matches_loop_on_strided_views() {
    for_each_isa(|isa| {
        let mut rng = rng(6);
        for &rows in BIAS_ROWS {
            for &cols in BIAS_COLS {
                for (name, len, rs, cs, transposed) in layouts(rows, cols) {
                    let ctx = format!("bias_add {rows}x{cols} {name} [{}]", isa.name());
                    // Elements outside the view hold the sentinel and must keep it.
                    let mut data = vec![SENTINEL; len];
                    let mut want = data.clone();
                    let bias = fill(&mut rng, cols);
                    for i in 0..rows {
                        for j in 0..cols {
                            let v = rng.random_range(-10.0f32..10.0);
                            data[i * rs + j * cs] = v;
                            want[i * rs + j * cs] = v + bias[j];
                        }
                    }
                    let view = if transposed {
                        MatMut::row_major(&mut data, cols, rows).unwrap().t()
                    } else {
                        MatMut::new(&mut data, rows, cols, rs, cs).unwrap()
                    };
                    assert_eq!((view.row_stride(), view.col_stride()), (rs, cs));
                    bias_add(view, &bias).unwrap();
                    assert_all(&ctx, &[], &data, &want, bits_eq);
                }
            }
        }
    });
}

#[test]
fn bias_grad_matches_loop_on_strided_views() {
    for_each_isa(|isa| {
        let mut rng = rng(7);
        for &rows in BIAS_ROWS {
            for &cols in BIAS_COLS {
                for (name, len, rs, cs, transposed) in layouts(rows, cols) {
                    let ctx = format!("bias_grad {rows}x{cols} {name} [{}]", isa.name());
                    let data = fill(&mut rng, len);
                    let g = if transposed {
                        MatRef::row_major(&data, cols, rows).unwrap().t()
                    } else {
                        MatRef::new(&data, rows, cols, rs, cs).unwrap()
                    };
                    assert_eq!((g.row_stride(), g.col_stride()), (rs, cs));
                    let want: Vec<f32> = (0..cols)
                        .map(|j| (0..rows).fold(0.0f32, |acc, i| acc + data[i * rs + j * cs]))
                        .collect();
                    let mut db = Out::poisoned(cols);
                    bias_grad(g, db.slice()).unwrap();
                    assert_all(&ctx, &[], db.done(&ctx), &want, bits_eq);
                }
            }
        }
    });
}

/// `1/(1 + e^{−x})` in f64: exact to far below an f32 ULP.
fn sigmoid_f64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `|got − exact|` in units of the f32 ULP at `exact` (subnormal spacing below
/// `f32::MIN_POSITIVE`).
fn frac_ulp(got: f32, exact: f64) -> f64 {
    let e = ((exact.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023; // floor(log2 |exact|)
    let ulp = 2f64.powi(e.max(-126) - 23);
    (f64::from(got) - exact).abs() / ulp
}

/// Every f32 in [−100, 100] at a stride of bit patterns (dense in every binade), plus
/// every f32 near the sigmoid's subnormal threshold −87.33654. The stride is 251
/// (about 9 million points) unless `MICROPROP_SWEEP_STRIDE` sets it (1 = exhaustive).
fn sweep_points() -> impl Iterator<Item = f32> {
    let stride = if cfg!(miri) {
        1 << 22
    } else {
        std::env::var("MICROPROP_SWEEP_STRIDE")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&s: &usize| s > 0)
            .unwrap_or(251)
    };
    let top = 100.0f32.to_bits();
    let band = if cfg!(miri) { 64 } else { 40_000 };
    let mid = 87.336_54f32.to_bits();
    (0..=top)
        .step_by(stride)
        .chain([top])
        .flat_map(|b| [f32::from_bits(b), -f32::from_bits(b)])
        .chain((mid - band..mid + band).map(|b| -f32::from_bits(b)))
}

struct Worst {
    frac: f64,
    int: u64,
    at: f32,
    points: usize,
}

/// Runs `kernel` over the sweep on one instruction set; `check(x, got, exact)` sees every
/// point, the worst error is taken over points where `counts(exact)`.
fn sweep(
    kernel: fn(&[f32], &mut [f32]) -> Result<(), Error>,
    exact: fn(f64) -> f64,
    counts: impl Fn(f64) -> bool,
    check: impl Fn(f32, f32, f64),
) -> Worst {
    // An odd chunk length, so the kernels' partial tail vectors are swept too.
    const CHUNK: usize = 4093;
    let mut pts = sweep_points();
    let mut x = Vec::with_capacity(CHUNK);
    let mut out = vec![f32::NAN; CHUNK];
    let mut w = Worst {
        frac: 0.0,
        int: 0,
        at: 0.0,
        points: 0,
    };
    loop {
        x.clear();
        x.extend(pts.by_ref().take(CHUNK));
        if x.is_empty() {
            return w;
        }
        let out = &mut out[..x.len()];
        out.fill(f32::NAN);
        kernel(&x, out).unwrap();
        for (&x, &got) in x.iter().zip(out.iter()) {
            let e = exact(f64::from(x));
            check(x, got, e);
            if counts(e) {
                let f = frac_ulp(got, e);
                if f > w.frac {
                    w.frac = f;
                    w.at = x;
                }
                w.int = w.int.max(ulp_diff(got, e as f32));
                w.points += 1;
            }
        }
    }
}

#[test]
fn sigmoid_accuracy_sweep() {
    let min_normal = f64::from(f32::MIN_POSITIVE);
    for_each_isa(|isa| {
        let w = sweep(
            sigmoid,
            sigmoid_f64,
            |e| e >= min_normal,
            |x, got, e| {
                if e < min_normal {
                    assert_eq!(
                        got.to_bits(),
                        0,
                        "sigmoid({x:e}) [{}]: exact {e:e} is subnormal, want +0.0, got {got:e}",
                        isa.name()
                    );
                } else {
                    assert!(!got.is_nan(), "sigmoid({x:e}) [{}] is NaN", isa.name());
                }
            },
        );
        eprintln!(
            "sigmoid [{}]: max {:.3} ULP ({} integer ULP) at x = {:e}, over {} points with a \
             normal result",
            isa.name(),
            w.frac,
            w.int,
            w.at,
            w.points
        );
        assert!(w.points > if cfg!(miri) { 100 } else { 5_000_000 });
        assert!(
            w.frac <= 2.5 && w.int <= 2,
            "sigmoid [{}]: {:.3} ULP ({} integer) at x = {:e}",
            isa.name(),
            w.frac,
            w.int,
            w.at
        );
    });
}

#[test]
fn tanh_accuracy_sweep() {
    for_each_isa(|isa| {
        let w = sweep(
            tanh,
            f64::tanh,
            |_| true,
            |x, got, _| assert!(!got.is_nan(), "tanh({x:e}) [{}] is NaN", isa.name()),
        );
        eprintln!(
            "tanh [{}]: max {:.3} ULP ({} integer ULP) at x = {:e}, over {} points",
            isa.name(),
            w.frac,
            w.int,
            w.at,
            w.points
        );
        assert!(
            w.frac <= 4.0 && w.int <= 4,
            "tanh [{}]: {:.3} ULP ({} integer) at x = {:e}",
            isa.name(),
            w.frac,
            w.int,
            w.at
        );
    });
}

/// The documented result of `act` at `x`: `Some(bits)` where it is exact, `None` where
/// only the accuracy bound applies.
fn special_expect(act: Activation, x: f32) -> Option<u32> {
    if x.is_nan() {
        return Some(f32::NAN.to_bits()); // compared as "is NaN"
    }
    let exact = match act {
        Activation::Identity => Some(x),
        Activation::Relu => Some(if x < 0.0 { 0.0 } else { x }),
        Activation::Sigmoid => {
            let e = sigmoid_f64(f64::from(x));
            if e < f64::from(f32::MIN_POSITIVE) {
                Some(0.0)
            } else if x == 0.0 || x.abs() < 1e-30 {
                Some(0.5)
            } else if x >= 20.0 {
                Some(1.0)
            } else {
                None
            }
        }
        Activation::Tanh => {
            if x.is_infinite() || x.abs() >= 20.0 {
                Some(x.signum())
            } else if x.abs() < f32::MIN_POSITIVE {
                Some(x) // tanh x = x to far below an ULP; sign of zero kept
            } else {
                None
            }
        }
        _ => missing(act, "special values"),
    };
    exact.map(f32::to_bits)
}

/// Checks one output against [`special_expect`], else against the f64 accuracy bound.
fn special_ok(act: Activation, x: f32, got: f32) -> bool {
    match special_expect(act, x) {
        Some(_) if x.is_nan() => got.is_nan(),
        Some(bits) => got.to_bits() == bits,
        None => match act {
            Activation::Sigmoid => frac_ulp(got, sigmoid_f64(f64::from(x))) <= 2.5,
            Activation::Tanh => frac_ulp(got, f64::from(x).tanh()) <= 4.0,
            _ => missing(act, "accuracy bound"),
        },
    }
}

const SPECIALS: [f32; 18] = [
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    0.0,
    -0.0,
    f32::MAX,
    f32::MIN,
    1e30,
    -1e30,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    1e-45, // smallest subnormal
    -1e-45,
    5e-39,      // larger subnormal
    -87.5,      // sigmoid result subnormal: flushed
    -87.336_54, // sigmoid's last normal result
    88.8,       // e^x would overflow
    0.625,      // tanh's switch between polynomial and exp
];

#[test]
fn special_values_at_every_lane_position() {
    // Under Miri: one element, one full 8-lane vector, and a vector plus a tail.
    let lens: Vec<usize> = if cfg!(miri) {
        vec![1, 8, 9]
    } else {
        (1..=33).collect()
    };
    for_each_isa(|isa| {
        let mut rng = rng(8);
        for &n in &lens {
            for pos in 0..n {
                let base: Vec<f32> = (0..n).map(|_| rng.random_range(-5.0f32..5.0)).collect();
                for special in SPECIALS {
                    let mut x = base.clone();
                    x[pos] = special;
                    for &act in Activation::ALL {
                        let ctx =
                            format!("{act:?}({special:e}) at lane {pos} of {n} [{}]", isa.name());
                        let mut out = Out::poisoned(n);
                        act.forward(&x, out.slice()).unwrap();
                        let got = out.done(&ctx);
                        let mut inplace = Out::from(x.clone());
                        act.forward_inplace(inplace.slice());
                        let got_inplace = inplace.done(&ctx);
                        for (i, (&g, &gi)) in got.iter().zip(got_inplace).enumerate() {
                            assert!(
                                special_ok(act, x[i], g) && special_ok(act, x[i], gi),
                                "{ctx}: element {i} (input {:e}) gave {g:e} / in place {gi:e}",
                                x[i]
                            );
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn documented_special_values() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    for_each_isa(|isa| {
        let name = isa.name();
        let mut h = [9.0f32; 5];
        sigmoid(&[inf, -inf, nan, 0.0, -0.0], &mut h).unwrap();
        assert_eq!(h[..2], [1.0, 0.0], "sigmoid(±inf) [{name}]");
        assert_eq!(h[1].to_bits(), 0, "sigmoid(−inf) is +0 [{name}]");
        assert!(h[2].is_nan(), "sigmoid(NaN) [{name}]");
        assert_eq!(h[3..], [0.5, 0.5], "sigmoid(±0) [{name}]");

        let mut t = [9.0f32; 5];
        tanh(&[inf, -inf, nan, 0.0, -0.0], &mut t).unwrap();
        assert_eq!(t[..2], [1.0, -1.0], "tanh(±inf) [{name}]");
        assert!(t[2].is_nan(), "tanh(NaN) [{name}]");
        assert_eq!(t[3].to_bits(), 0.0f32.to_bits(), "tanh(+0) [{name}]");
        assert_eq!(t[4].to_bits(), (-0.0f32).to_bits(), "tanh(−0) [{name}]");

        let mut r = [9.0f32; 4];
        relu(&[nan, -0.0, -inf, inf], &mut r).unwrap();
        assert!(r[0].is_nan(), "relu(NaN) [{name}]");
        assert_eq!(r[1].to_bits(), (-0.0f32).to_bits(), "relu(−0) [{name}]");
        assert_eq!(r[2].to_bits(), 0, "relu(−inf) [{name}]");
        assert_eq!(r[3], inf, "relu(inf) [{name}]");
    });
}

/// The activation in f64, for finite differences.
fn f64_ref(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Identity => z,
        Activation::Sigmoid => sigmoid_f64(z),
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        _ => missing(act, "f64 reference"),
    }
}

#[test]
fn backward_matches_finite_differences() {
    const EPS: f64 = 1e-4;
    for_each_case(9, |isa, n, rng| {
        // Away from relu's kink, so the difference quotient is its derivative.
        let z: Vec<f32> = (0..n)
            .map(|_| {
                let v = rng.random_range(0.01f32..6.0);
                if rng.random_range(0..2) == 0 { v } else { -v }
            })
            .collect();
        let dh = fill(rng, n);
        for &act in Activation::ALL {
            let ctx = format!(
                "{act:?} backward vs finite differences [{}] n = {n}",
                isa.name()
            );
            let mut h = vec![f32::NAN; n];
            act.forward(&z, &mut h).unwrap();
            let mut dz = Out::poisoned(n);
            act.backward(&dh, &h, dz.slice()).unwrap();
            for (i, &got) in dz.done(&ctx).iter().enumerate() {
                let zi = f64::from(z[i]);
                let fd = (f64_ref(act, zi + EPS) - f64_ref(act, zi - EPS)) / (2.0 * EPS);
                let want = f64::from(dh[i]) * fd;
                // h carries ~1 ULP of rounding; 1 − h and 1 − h² amplify it near ±1 to
                // about 1e-7 absolute.
                let tol = 1e-6 + 1e-5 * want.abs();
                assert!(
                    (f64::from(got) - want).abs() <= tol,
                    "{ctx}: element {i}: z = {}, dh = {}: got {got:e}, want {want:e}",
                    z[i],
                    dh[i]
                );
            }
        }
    });
}

fn is_shape_mismatch(r: Result<impl core::fmt::Debug, Error>, expected: usize, found: usize) {
    match r {
        Err(Error::ShapeMismatch {
            expected: e,
            found: f,
            ..
        }) => assert_eq!((e, f), ((1, expected), (1, found))),
        other => panic!("expected ShapeMismatch {expected} vs {found}, got {other:?}"),
    }
}

#[test]
fn mismatched_lengths_are_errors_and_write_nothing() {
    for_each_isa(|isa| {
        let mut rng = rng(10);
        for n in [0usize, 1, 7, 8, 9, 17, 33] {
            let a = inputs(&mut rng, n);
            let b = inputs(&mut rng, n);
            let long = inputs(&mut rng, n + 1);
            let ctx = format!("[{}] n = {n}", isa.name());
            let untouched = |buf: &[f32], what: &str| {
                assert!(
                    buf.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
                    "{what} {ctx}: wrote on error"
                )
            };
            for m in [n + 1, n.saturating_sub(1)].into_iter().filter(|&m| m != n) {
                for &act in Activation::ALL {
                    let mut out = vec![SENTINEL; m];
                    is_shape_mismatch(act.forward(&a, &mut out), n, m);
                    untouched(&out, "forward");

                    is_shape_mismatch(act.backward(&a, &b, &mut out), n, m);
                    untouched(&out, "backward dz");
                    let mut dz = vec![SENTINEL; n];
                    is_shape_mismatch(act.backward(&a, &long[..m], &mut dz), n, m);
                    untouched(&dz, "backward h");
                    is_shape_mismatch(act.backward_inplace(&mut dz, &long[..m]), n, m);
                    untouched(&dz, "backward_inplace");
                }
                let mut out = vec![SENTINEL; m];
                is_shape_mismatch(sigmoid(&a, &mut out), n, m);
                is_shape_mismatch(relu(&a, &mut out), n, m);
                is_shape_mismatch(tanh(&a, &mut out), n, m);
                is_shape_mismatch(sigmoid_backward(&a, &b, &mut out), n, m);
                untouched(&out, "named kernels");

                is_shape_mismatch(squared_error(&a, &b, &mut out), n, m);
                untouched(&out, "squared_error grad");
                let mut grad = vec![SENTINEL; n];
                is_shape_mismatch(squared_error(&a, &long[..m], &mut grad), n, m);
                untouched(&grad, "squared_error target");

                let mut params = vec![SENTINEL; n];
                is_shape_mismatch(sgd_update(&mut params, &long[..m], 0.1), n, m);
                untouched(&params, "sgd_update");

                // bias: a 3 × n matrix with a bias of the wrong length.
                let mut x = vec![SENTINEL; 3 * n];
                let view = MatMut::row_major(&mut x, 3, n).unwrap();
                is_shape_mismatch(bias_add(view, &long[..m]), n, m);
                untouched(&x, "bias_add");
                let g = MatRef::row_major(&a, 1, n).unwrap();
                let mut db = vec![SENTINEL; m];
                is_shape_mismatch(bias_grad(g, &mut db), n, m);
                untouched(&db, "bias_grad");
            }
        }
    });
}

#[test]
fn sgd_update_with_non_finite_lr_is_an_error_and_writes_nothing() {
    for_each_isa(|isa| {
        let mut rng = rng(11);
        for n in [0usize, 1, 8, 17] {
            let params = inputs(&mut rng, n);
            let grads = inputs(&mut rng, n);
            for lr in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut p = params.clone();
                let r = sgd_update(&mut p, &grads, lr);
                assert!(
                    matches!(r, Err(Error::NonFinite { .. })),
                    "lr = {lr} [{}] n = {n}: {r:?}",
                    isa.name()
                );
                assert_all("sgd_update non-finite lr", &grads, &p, &params, bits_eq);
            }
        }
    });
}
