//! The vector kernels on every instruction set this CPU supports, against their scalar
//! references, over lengths that cover every tail of 1, 8 and 16 lanes.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::{
    Activation, MatMut, MatRef, bias_add, bias_grad, sgd_update, sgd_update_scalar, squared_error,
    squared_error_scalar,
};

#[test]
fn activations_forward_and_backward_match_scalar() {
    let mut rng = rng(21);
    for n in lengths() {
        let z: Vec<f32> = fill(&mut rng, n).iter().map(|x| x * 20.0).collect();
        let dh = fill(&mut rng, n);
        for &act in Activation::ALL {
            let h_ref: Vec<f32> = z.iter().map(|&x| act.scalar(x)).collect();
            let dz_ref: Vec<f32> = dh
                .iter()
                .zip(&h_ref)
                .map(|(&g, &h)| g * act.derivative_scalar(h))
                .collect();
            for_each_isa(|isa| {
                let mut h = vec![f32::NAN; n];
                act.forward(&z, &mut h).unwrap();
                for i in 0..n {
                    assert!(
                        ulp_diff(h[i], h_ref[i]) <= 4,
                        "{act:?} {isa:?} n={n}: f({}) = {} expected {}",
                        z[i],
                        h[i],
                        h_ref[i]
                    );
                }
                let mut dz = vec![f32::NAN; n];
                act.backward(&dh, &h_ref, &mut dz).unwrap();
                for i in 0..n {
                    assert!(
                        (dz[i] - dz_ref[i]).abs() <= 1e-6,
                        "{act:?} {isa:?} n={n}: backward at {i}: {} expected {}",
                        dz[i],
                        dz_ref[i]
                    );
                }
            });
        }
    }
}

#[test]
fn special_values_on_every_isa() {
    let x = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -100.0,
        100.0,
        -87.4,
        1e-30,
    ];
    for_each_isa(|isa| {
        let mut h = [0.0f32; 9];
        microprop::sigmoid(&x, &mut h).unwrap();
        assert_eq!(&h[..4], &[0.5, 0.5, 1.0, 0.0], "{isa:?}");
        assert!(h[4].is_nan(), "{isa:?}");
        assert_eq!((h[5], h[6], h[7], h[8]), (0.0, 1.0, 0.0, 0.5), "{isa:?}");
        microprop::tanh(&x, &mut h).unwrap();
        assert_eq!(h[0].to_bits(), 0.0f32.to_bits(), "{isa:?}");
        assert_eq!((h[2], h[3], h[5], h[6]), (1.0, -1.0, -1.0, 1.0), "{isa:?}");
        assert!(h[4].is_nan(), "{isa:?}");
        microprop::relu(&x, &mut h).unwrap();
        assert_eq!((h[2], h[3], h[5]), (f32::INFINITY, 0.0, 0.0), "{isa:?}");
        assert!(h[4].is_nan(), "{isa:?}");
    });
}

#[test]
fn loss_sgd_and_bias_match_scalar() {
    let mut rng = rng(22);
    for n in lengths() {
        let p = fill(&mut rng, n);
        let y = fill(&mut rng, n);
        let mut g_ref = vec![0.0; n];
        let l_ref = squared_error_scalar(&p, &y, &mut g_ref).unwrap();
        let mut w_ref = p.clone();
        sgd_update_scalar(&mut w_ref, &y, 0.1).unwrap();
        for_each_isa(|isa| {
            let mut g = vec![f32::NAN; n];
            let l = squared_error(&p, &y, &mut g).unwrap();
            assert!(
                (l - l_ref).abs() <= 1e-5 * (n as f32 + 1.0),
                "{isa:?} n={n}"
            );
            assert_eq!(g, g_ref, "{isa:?} n={n}");
            let mut w = p.clone();
            sgd_update(&mut w, &y, 0.1).unwrap();
            for (a, b) in w.iter().zip(&w_ref) {
                assert!((a - b).abs() <= 1e-7, "{isa:?} n={n}: {a} vs {b}");
            }
        });
    }
    // Bias add and column sums over row-major and column-major 5 × n views.
    for n in [1, 7, 8, 9, 16, 17, 33] {
        let bias = fill(&mut rng, n);
        let x0 = fill(&mut rng, 5 * n);
        for col_major in [false, true] {
            let (rs, cs) = if col_major { (1, 5) } else { (n, 1) };
            let mut expect = x0.clone();
            for i in 0..5 {
                for j in 0..n {
                    expect[i * rs + j * cs] += bias[j];
                }
            }
            let sums: Vec<f32> = (0..n)
                .map(|j| (0..5).map(|i| x0[i * rs + j * cs]).sum())
                .collect();
            for_each_isa(|isa| {
                let mut x = x0.clone();
                bias_add(MatMut::new(&mut x, 5, n, rs, cs).unwrap(), &bias).unwrap();
                assert_eq!(x, expect, "{isa:?} n={n}");
                let mut db = vec![f32::NAN; n];
                bias_grad(MatRef::new(&x0, 5, n, rs, cs).unwrap(), &mut db).unwrap();
                for (a, b) in db.iter().zip(&sums) {
                    assert!((a - b).abs() <= 1e-6, "{isa:?} n={n}: {a} vs {b}");
                }
            });
        }
    }
}

#[test]
fn sigmoid_within_documented_ulp_on_every_isa() {
    // A dense sweep of [-100, 100] against an f64 reference: the module documents
    // ≤ 2.5 ULP from the exact value for normal outputs, so ≤ 3 from the rounded one.
    let n = if cfg!(miri) { 1000 } else { 400_001 };
    let x: Vec<f32> = (0..n)
        .map(|i| -100.0 + 200.0 * i as f32 / (n - 1) as f32)
        .collect();
    let exact: Vec<f32> = x
        .iter()
        .map(|&v| (1.0 / (1.0 + (-(v as f64)).exp())) as f32)
        .collect();
    for_each_isa(|isa| {
        let mut h = vec![0.0f32; n];
        microprop::sigmoid(&x, &mut h).unwrap();
        let worst = h
            .iter()
            .zip(&exact)
            .filter(|&(_, &e)| e >= f32::MIN_POSITIVE)
            .map(|(&a, &e)| ulp_diff(a, e))
            .max()
            .unwrap();
        assert!(worst <= 3, "{isa:?}: {worst} ULP");
    });
}

#[test]
fn neon_is_the_aarch64_backend() {
    use microprop::simd::Isa;
    let neon = cfg!(all(target_arch = "aarch64", target_feature = "neon"));
    assert_eq!(Isa::Neon.is_supported(), neon);
    assert_eq!(Isa::from_name("neon"), Some(Isa::Neon));
    let mut seen = Vec::new();
    for_each_isa(|isa| seen.push(isa));
    assert_eq!(seen.contains(&Isa::Neon), neon);
    if neon {
        assert_eq!(Isa::compile_time_best(), Isa::Neon);
        if std::env::var_os("MICROPROP_ISA").is_none() {
            assert_eq!(Isa::detected(), Isa::Neon);
        }
    }
}
