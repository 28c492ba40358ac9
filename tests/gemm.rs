//! GEMM against `matrixmultiply::sgemm` (the oracle) on every instruction set: random
//! shapes 0..=70 with random strides and transposes, the lecture's shapes, α/β special
//! cases, NaN-poisoned C, and every workspace/shape error.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::{Error, MatMut, MatRef, gemm, gemm_scalar, gemm_workspace_len};
use rand::RngExt;
use rand::rngs::StdRng;

/// A random layout for an r × c matrix: returns (len, row_stride, col_stride).
fn layout(rng: &mut StdRng, r: usize, c: usize) -> (usize, usize, usize) {
    let pad = rng.random_range(0..4usize);
    let (rs, cs) = match rng.random_range(0..4) {
        0 => (c + pad, 1),                      // row-major, padded rows
        1 => (1, r + pad),                      // column-major (a transpose)
        2 => ((c.max(1)) * 2 + pad, 2),         // every other column
        _ => (1 + pad, (r.max(1)) * (1 + pad)), // column-major with spread rows
    };
    let len = if r == 0 || c == 0 {
        rng.random_range(0..3)
    } else {
        (r - 1) * rs + (c - 1) * cs + 1 + pad
    };
    (len, rs, cs)
}

#[allow(clippy::too_many_arguments)]
fn reference(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    beta: f32,
    c: (&mut [f32], usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the layouts were built to hold every index.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            beta,
            c.0.as_mut_ptr(),
            c.1 as isize,
            c.2 as isize,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn check_case(rng: &mut StdRng, m: usize, k: usize, n: usize, alpha: f32, beta: f32, label: &str) {
    let (al, ars, acs) = layout(rng, m, k);
    let (bl, brs, bcs) = layout(rng, k, n);
    let (cl, crs, ccs) = layout(rng, m, n);
    let a = fill(rng, al);
    let b = fill(rng, bl);
    let c0: Vec<f32> = if beta == 0.0 {
        vec![f32::NAN; cl]
    } else {
        fill(rng, cl)
    };
    // Elements outside C's view are poisoned and must come back bit-identical.
    let mut in_view = vec![false; cl];
    for i in 0..m {
        for j in 0..n {
            in_view[i * crs + j * ccs] = true;
        }
    }
    let mut c0 = c0;
    for (x, &v) in c0.iter_mut().zip(&in_view) {
        if !v {
            *x = f32::from_bits(0x7fc0_1234);
        }
    }
    let mut expect = c0.clone();
    if beta == 0.0 {
        for (x, &v) in expect.iter_mut().zip(&in_view) {
            if v {
                *x = 0.0; // matrixmultiply reads C unless β = 0 too, but be safe
            }
        }
    }
    reference(
        m,
        k,
        n,
        alpha,
        (&a, ars, acs),
        (&b, brs, bcs),
        beta,
        (&mut expect, crs, ccs),
    );
    let mut ws = vec![f32::NAN; gemm_workspace_len(m, k, n)];
    for_each_isa(|isa| {
        let mut c = c0.clone();
        gemm(
            alpha,
            MatRef::new(&a, m, k, ars, acs).unwrap(),
            MatRef::new(&b, k, n, brs, bcs).unwrap(),
            beta,
            MatMut::new(&mut c, m, n, crs, ccs).unwrap(),
            &mut ws,
        )
        .unwrap();
        for idx in 0..cl {
            if !in_view[idx] {
                assert_eq!(
                    c[idx].to_bits(),
                    c0[idx].to_bits(),
                    "{label} {isa:?}: wrote outside C at {idx}"
                );
                continue;
            }
            let tol = 1e-5 * (k as f32 + 1.0) * (alpha.abs() + beta.abs() + 1.0);
            assert!(
                (c[idx] - expect[idx]).abs() <= tol,
                "{label} {isa:?} m={m} k={k} n={n} a=({ars},{acs}) b=({brs},{bcs}) c=({crs},{ccs}) α={alpha} β={beta}: \
                 C[{idx}] = {} expected {}",
                c[idx],
                expect[idx]
            );
        }
    });
}

#[test]
fn random_shapes_strides_and_transposes_match_matrixmultiply() {
    let mut rng = rng(7);
    let cases = if cfg!(miri) { 6 } else { 300 };
    let max = if cfg!(miri) { 9 } else { 70 };
    for case in 0..cases {
        let m = rng.random_range(0..=max);
        let k = rng.random_range(0..=max);
        let n = rng.random_range(0..=max);
        let (alpha, beta) = match case % 5 {
            0 => (1.0, 0.0),
            1 => (1.0, 1.0),
            2 => (-0.5, 2.0),
            3 => (0.0, 0.5),
            _ => (1.7, 0.0),
        };
        check_case(&mut rng, m, k, n, alpha, beta, "random");
    }
}

#[test]
fn every_edge_tile_remainder() {
    // All m in 1..=13 and n in 1..=33 cover every remainder of every backend's MR (≤ 12)
    // and NR (≤ 32), with k crossing zero, one and a prime.
    let mut rng = rng(11);
    let (top_m, top_n) = if cfg!(miri) { (5, 5) } else { (13, 33) };
    for m in 1..=top_m {
        for n in 1..=top_n {
            for k in [0, 1, 7] {
                check_case(
                    &mut rng,
                    m,
                    k,
                    n,
                    1.0,
                    if (m + n) % 2 == 0 { 0.0 } else { 1.0 },
                    "edge",
                );
            }
        }
    }
}

#[test]
fn large_k_crosses_kc_blocks_and_large_mn_cross_mc_nc_blocks() {
    let mut rng = rng(5);
    // Under Miri: two K blocks (KC = 128), and two M blocks (MC = 96) with B packed whole.
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(7, 130, 11), (98, 3, 9)]
    } else {
        &[(97, 600, 33), (200, 257, 1030), (13, 513, 1100)]
    };
    for &(m, k, n) in shapes {
        check_case(&mut rng, m, k, n, 1.0, 0.0, "blocks");
        check_case(&mut rng, m, k, n, -1e-4, 1.0, "blocks");
    }
}

#[test]
fn long_narrow_products_take_every_path() {
    // Deep and at most 16 wide: with row-major A (one layout in four) this is the
    // dot-product path (Bᵀ packed, masked k tail, row remainders 1..3, the 16-wide limit);
    // the other layouts go the broadcast way. β = 0 runs on NaN-poisoned C.
    // Under Miri (no AVX, so no dot-product path: the lib's unit tests run its body on
    // the portable token) one deep, narrow product on the broadcast paths.
    let mut rng = rng(11);
    let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
        &[(5, 257, 3)]
    } else {
        &[
            (1, 256, 1),
            (5, 257, 3),
            (7, 300, 10),
            (64, 1000, 10),
            (6, 1001, 16),
            (3, 700, 17),
        ]
    };
    for &(m, k, n) in shapes {
        for rep in 0..if cfg!(miri) { 1 } else { 6 } {
            check_case(&mut rng, m, k, n, 1.0, 0.0, "long narrow");
            let (alpha, beta) = if rep % 2 == 0 {
                (-0.5, 1.5)
            } else {
                (2.0, 0.0)
            };
            check_case(&mut rng, m, k, n, alpha, beta, "long narrow");
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "far too slow under Miri; the paths are covered by smaller shapes"
)]
fn lecture_shapes() {
    let mut rng = rng(3);
    // x·w1, h·w2, h.T·grad_y, grad_y·w2.T, x.T·grad_h
    for &(m, k, n) in &[
        (64, 1000, 1000),
        (64, 1000, 10),
        (1000, 64, 10),
        (64, 10, 1000),
        (1000, 64, 1000),
    ] {
        check_case(&mut rng, m, k, n, 1.0, 0.0, "lecture");
    }
}

#[test]
fn beta_zero_never_reads_c_and_alpha_zero_never_reads_a_b() {
    let a = [f32::NAN; 6];
    let b = [f32::INFINITY; 6];
    let mut ws = vec![0.0; gemm_workspace_len(2, 3, 2)];
    for_each_isa(|_| {
        let mut c = [1.0, 2.0, 3.0, 4.0];
        gemm(
            0.0,
            MatRef::row_major(&a, 2, 3).unwrap(),
            MatRef::row_major(&b, 3, 2).unwrap(),
            2.0,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &mut ws,
        )
        .unwrap();
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0]);
        let mut c = [f32::NAN; 4];
        gemm(
            0.0,
            MatRef::row_major(&a, 2, 3).unwrap(),
            MatRef::row_major(&b, 3, 2).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &mut ws,
        )
        .unwrap();
        assert_eq!(c, [0.0; 4]);
        let ones = [1.0f32; 6];
        let mut c = [f32::NAN; 4];
        gemm(
            1.0,
            MatRef::row_major(&ones, 2, 3).unwrap(),
            MatRef::row_major(&ones, 3, 2).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &mut ws,
        )
        .unwrap();
        assert_eq!(c, [3.0; 4]);
    });
}

#[test]
fn errors_are_clear_and_nothing_is_written() {
    let a = [1.0f32; 6];
    let mut c = [7.0f32; 4];
    let mut ws = vec![0.0; gemm_workspace_len(2, 3, 2)];
    let err = gemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&a, 2, 3).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &mut ws,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                expected: (3, 3),
                found: (2, 3),
                ..
            }
        ),
        "{err}"
    );
    let err = gemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&a, 3, 2).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 1, 2).unwrap(),
        &mut ws,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                expected: (2, 2),
                found: (1, 2),
                ..
            }
        ),
        "{err}"
    );
    let needed = gemm_workspace_len(2, 3, 2);
    let err = gemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&a, 3, 2).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &mut ws[..needed - 1],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::WorkspaceTooSmall { needed: n, len, sized_by }
            if (n, len) == (needed, needed - 1) && sized_by.starts_with("gemm_workspace_len")),
        "{err}"
    );
    assert!(err.to_string().contains(&needed.to_string()));
    assert_eq!(c, [7.0; 4]);
    // Views: past the buffer, overflow, overlapping mutable strides.
    assert_eq!(
        MatRef::new(&a, 2, 3, 3, 2).unwrap_err(),
        Error::BufferTooSmall {
            what: "MatRef",
            needed: 8,
            len: 6
        }
    );
    assert!(matches!(
        MatRef::new(&a, usize::MAX, 2, usize::MAX, 1),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut c, 2, 2, 0, 1),
        Err(Error::OverlappingStrides { .. })
    ));
    assert!(MatRef::new(&[], 0, 5, 100, 100).is_ok());
}

#[test]
fn scalar_reference_agrees_with_blocked_gemm() {
    let mut rng = rng(9);
    let (m, k, n) = (13, 29, 17);
    let a = fill(&mut rng, m * k);
    let b = fill(&mut rng, k * n);
    let mut c1 = fill(&mut rng, m * n);
    let mut c2 = c1.clone();
    let mut ws = vec![0.0; gemm_workspace_len(m, k, n)];
    gemm_scalar(
        0.5,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        -1.0,
        MatMut::row_major(&mut c1, m, n).unwrap(),
    )
    .unwrap();
    gemm(
        0.5,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        -1.0,
        MatMut::row_major(&mut c2, m, n).unwrap(),
        &mut ws,
    )
    .unwrap();
    for (x, y) in c1.iter().zip(&c2) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

#[test]
fn x86_instruction_sets_are_detected_and_tested() {
    use microprop::simd::Isa;
    #[cfg(target_arch = "x86_64")]
    {
        // Under Miri the AVX paths are reported unsupported (it cannot run them).
        let avx2 =
            !cfg!(miri) && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        let avx512 = !cfg!(miri) && is_x86_feature_detected!("avx512f");
        assert_eq!(Isa::Avx2.is_supported(), avx2);
        assert_eq!(Isa::Avx512.is_supported(), avx512);
        if avx512 && std::env::var_os("MICROPROP_ISA").is_none() {
            assert_eq!(Isa::detected(), Isa::Avx512);
        }
        let mut seen = Vec::new();
        for_each_isa(|isa| {
            assert_eq!(Isa::active(), isa);
            seen.push(isa);
        });
        assert_eq!(seen.contains(&Isa::Avx2), avx2);
        assert_eq!(seen.contains(&Isa::Avx512), avx512);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        assert!(!Isa::Avx2.is_supported() && !Isa::Avx512.is_supported());
    }
    for &isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
}
