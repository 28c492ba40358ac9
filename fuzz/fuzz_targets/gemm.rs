//! GEMM under hostile views: random shapes (including huge and zero), strides
//! (including 0 and overflowing), transposes, buffer and workspace lengths, α/β
//! (including 0, NaN, ±inf), on every instruction set this CPU supports.
//!
//! Properties:
//! * `MatRef::new` / `MatMut::new` return exactly the error an independent check of the
//!   layout predicts (`Overflow`, `BufferTooSmall { needed }`, `OverlappingStrides`), and
//!   a `MatMut` they accept never maps two elements to one address.
//! * `gemm` / `gemm_scalar` never panic; they fail with `ShapeMismatch` exactly when the
//!   shapes disagree and with `WorkspaceTooSmall { needed: gemm_workspace_len(m, k, n) }`
//!   exactly when the workspace is short.
//! * On success: elements of C's buffer outside the view are untouched; where the
//!   inputs are finite, every element agrees with an f64 reference within
//!   `(k + 4)·2ε·(|α|·Σ|a||b| + |β·c|)`; with β = 0 the NaN-poisoned C is never read;
//!   with α = 0 (or k = 0) the result is exactly `β·c` (0 for β = 0); repeating the call
//!   with a different workspace content gives bit-identical results, and so does
//!   `gemm_on` split into 2–5 parts.
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{dim, distinct_offsets, fill, len_around, scalar};
use libfuzzer_sys::fuzz_target;
use microprop::par::Serial;
use microprop::simd::{Isa, with_isa};
use microprop::{
    Error, MatMut, MatRef, gemm, gemm_on, gemm_on_workspace_len, gemm_scalar, gemm_workspace_len,
};

/// Largest buffer the target allocates for one matrix.
const CAP: usize = 1 << 16;
/// Marks buffer elements outside C's view; they must keep these bits.
const SENTINEL: u32 = 0x7fc0_5eed;

/// One operand's layout: the view is `rows × cols` over `len` elements with strides
/// `(rs, cs)`; if `t`, the constructor is called with the transposed shape and strides and
/// the view is `.t()` of it.
#[derive(Debug, Clone, Copy)]
struct Layout {
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    t: bool,
    len: usize,
}

impl Layout {
    /// The arguments given to the constructor.
    fn ctor(&self) -> (usize, usize, usize, usize) {
        if self.t {
            (self.cols, self.rows, self.cs, self.rs)
        } else {
            (self.rows, self.cols, self.rs, self.cs)
        }
    }
    fn index(&self, i: usize, j: usize) -> usize {
        i * self.rs + j * self.cs
    }
}

/// Elements a layout spans, or the error the constructors must return.
fn span(
    len: usize,
    r: usize,
    c: usize,
    rs: usize,
    cs: usize,
    what: &'static str,
) -> Result<usize, Error> {
    if r == 0 || c == 0 {
        return Ok(0);
    }
    let last = (r - 1)
        .checked_mul(rs)
        .and_then(|a| (c - 1).checked_mul(cs).and_then(|b| a.checked_add(b)))
        .ok_or(Error::Overflow { what })?;
    // `needed = last + 1` must be representable too.
    if last == usize::MAX {
        return Err(Error::Overflow { what });
    }
    if last >= len {
        return Err(Error::BufferTooSmall {
            what,
            needed: last + 1,
            len,
        });
    }
    Ok(last + 1)
}

/// The documented sufficient condition for a mutable view's elements to be distinct.
fn documented_distinct(r: usize, c: usize, rs: usize, cs: usize) -> bool {
    let fits = |outer: usize, inner_n: usize, inner_s: usize| {
        inner_s >= 1
            && (inner_n.saturating_sub(1))
                .checked_mul(inner_s)
                .is_some_and(|w| outer > w)
    };
    r == 0 || c == 0 || (r == 1 && c == 1) || fits(rs, c, cs) || fits(cs, r, rs)
}

fn layout(u: &mut Unstructured, rows: usize, cols: usize) -> Layout {
    let mode: u8 = u.arbitrary().unwrap_or(0);
    let t = mode & 1 == 1;
    let pad = ((mode >> 1) % 3) as usize;
    let (rs, cs) = match (mode >> 3) % 8 {
        0..=2 => (cols.saturating_add(pad), 1), // row-major, maybe padded
        3 | 4 => (1, rows.saturating_add(pad)), // column-major
        5 => (
            u.int_in_range(0..=9).unwrap_or(0),
            u.int_in_range(0..=9).unwrap_or(0),
        ),
        6 => (cols.max(1).saturating_mul(2).saturating_add(pad), 2), // every other column
        _ => (dim(u, 70, 5000), dim(u, 70, 5000)),
    };
    // Effective strides of the view; the constructor sees them swapped if transposed.
    let needed = span(usize::MAX, rows, cols, rs, cs, "").ok();
    let len = len_around(u, needed, CAP);
    Layout {
        rows,
        cols,
        rs,
        cs,
        t,
        len,
    }
}

fn make_ref<'a>(buf: &'a [f32], l: &Layout) -> Result<MatRef<'a>, Error> {
    let (r, c, rs, cs) = l.ctor();
    let got = MatRef::new(buf, r, c, rs, cs);
    let want = span(buf.len(), r, c, rs, cs, "MatRef");
    match (&got, &want) {
        (Ok(v), Ok(_)) => {
            assert_eq!(
                (v.rows(), v.cols(), v.row_stride(), v.col_stride()),
                (r, c, rs, cs)
            );
        }
        (Err(e), Err(w)) => assert_eq!(e, w),
        _ => panic!(
            "MatRef::new({}, {r}, {c}, {rs}, {cs}) = {got:?}, expected {want:?}",
            buf.len()
        ),
    }
    got.map(|v| if l.t { v.t() } else { v })
}

fn make_mut<'a>(buf: &'a mut [f32], l: &Layout) -> Result<MatMut<'a>, Error> {
    let (r, c, rs, cs) = l.ctor();
    let len = buf.len();
    let got = MatMut::new(buf, r, c, rs, cs);
    match span(len, r, c, rs, cs, "MatMut") {
        Err(w) => assert_eq!(got.as_ref().err(), Some(&w)),
        Ok(_) => match &got {
            Ok(_) => {
                // Accepted: every element has its own address.
                assert!(
                    distinct_offsets(r, c, rs, cs),
                    "MatMut accepted overlapping strides {r}x{c} ({rs}, {cs})"
                );
            }
            Err(Error::OverlappingStrides {
                row_stride,
                col_stride,
            }) => {
                assert_eq!((*row_stride, *col_stride), (rs, cs));
                assert!(
                    !documented_distinct(r, c, rs, cs),
                    "MatMut rejected {r}x{c} ({rs}, {cs}), which the docs accept"
                );
            }
            Err(e) => panic!("MatMut::new({len}, {r}, {c}, {rs}, {cs}): unexpected {e:?}"),
        },
    }
    got.map(|v| if l.t { v.t() } else { v })
}

struct Case {
    alpha: f32,
    beta: f32,
    la: Layout,
    lb: Layout,
    lc: Layout,
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
    ws_len: usize,
}

/// Checks a successful call's output `c` against the reference.
fn check_result(case: &Case, c: &[f32], who: &str) {
    let (la, lb, lc) = (&case.la, &case.lb, &case.lc);
    let (m, k, n) = (la.rows, la.cols, lb.cols);
    // Untouched outside the view.
    let mut inside = vec![false; c.len()];
    if m > 0 && n > 0 {
        for i in 0..m {
            for j in 0..n {
                inside[lc.index(i, j)] = true;
            }
        }
    }
    for (p, (&v, &was)) in c.iter().zip(&case.c0).enumerate() {
        if !inside[p] {
            assert_eq!(
                v.to_bits(),
                was.to_bits(),
                "{who}: wrote outside C's view at {p}"
            );
        }
    }
    if m == 0 || n == 0 {
        return;
    }
    let (alpha, beta) = (case.alpha, case.beta);
    let eps = f32::EPSILON as f64;
    for i in 0..m {
        for j in 0..n {
            let got = c[lc.index(i, j)];
            let c0 = case.c0[lc.index(i, j)];
            if alpha == 0.0 || k == 0 {
                // A and B are not read: exactly β·C (C not read for β = 0).
                let want = if beta == 0.0 { 0.0 } else { beta * c0 };
                assert!(
                    got == want || (got.is_nan() && want.is_nan()),
                    "{who}: alpha=0/k=0 at ({i},{j}): got {got}, want {want} (beta {beta}, c0 {c0})"
                );
                continue;
            }
            let (mut s, mut mag, mut finite) = (0.0f64, 0.0f64, true);
            for p in 0..k {
                let (x, y) = (case.a[la.index(i, p)], case.b[lb.index(p, j)]);
                finite &= x.is_finite() && y.is_finite();
                s += x as f64 * y as f64;
                mag += (x as f64 * y as f64).abs();
            }
            let cterm = if beta == 0.0 {
                0.0
            } else {
                beta as f64 * c0 as f64
            };
            finite &= alpha.is_finite() && beta.is_finite() && (beta == 0.0 || c0.is_finite());
            let scale = alpha.abs() as f64 * mag + cterm.abs();
            if !finite || mag > 1e37 || scale > 1e37 {
                continue;
            }
            let want = alpha as f64 * s + cterm;
            // The absolute term covers subnormal rounding: a product or partial sum
            // below f32::MIN_POSITIVE keeps an absolute error of ~1e-45, and α scales
            // it afterwards (the kernels compute α·(A·B), as BLAS does).
            let tol = (k as f64 + 4.0) * 2.0 * eps * scale
                + (k as f64 + 4.0) * 1e-44 * (1.0 + alpha.abs() as f64);
            let diff = (got as f64 - want).abs();
            assert!(
                diff <= tol,
                "{who}: ({i},{j}) of {m}x{k}x{n}: got {got}, want {want}, tol {tol} \
                 (alpha {alpha}, beta {beta}, c0 {c0}, layouts {la:?} {lb:?} {lc:?})"
            );
        }
    }
}

fn run(u: &mut Unstructured) {
    let m = dim(u, 20, 110);
    let k = dim(u, 20, 300);
    let n = dim(u, 20, 70);
    // Mostly consistent shapes; sometimes B or C mismatched.
    let shape_mode: u8 = u.arbitrary().unwrap_or(0);
    let (kb, mc, nc) = match shape_mode {
        0..=229 => (k, m, n),
        230..=242 => (dim(u, 20, 70), m, n),
        _ => (k, dim(u, 20, 70), dim(u, 20, 70)),
    };
    let la = layout(u, m, k);
    let lb = layout(u, kb, n);
    let lc = layout(u, mc, nc);
    let alpha = scalar(u);
    let beta = scalar(u);

    let mut a = vec![0.0f32; la.len];
    let mut b = vec![0.0f32; lb.len];
    let mut c0 = vec![f32::from_bits(SENTINEL); lc.len];
    fill(u, &mut a);
    fill(u, &mut b);
    // C's view: data for β ≠ 0, NaN (must not be read) for β = 0.
    if let Ok(cs) = span(usize::MAX, mc, nc, lc.rs, lc.cs, "")
        && cs <= lc.len
        && (1..=CAP).contains(&mc.saturating_mul(nc))
    {
        let mut vals = vec![0.0f32; mc.saturating_mul(nc).min(CAP)];
        fill(u, &mut vals);
        let mut it = vals.into_iter();
        for i in 0..mc {
            for j in 0..nc {
                c0[lc.index(i, j)] = if beta == 0.0 {
                    f32::NAN
                } else {
                    it.next().unwrap_or(0.0)
                };
            }
        }
    }
    let ws_needed = gemm_workspace_len(m, k, n);
    assert_eq!(
        ws_needed,
        gemm_workspace_len(m, k, n),
        "not a pure function"
    );
    let ws_len = len_around(u, Some(ws_needed), 1 << 20);
    let case = Case {
        alpha,
        beta,
        la,
        lb,
        lc,
        a,
        b,
        c0,
        ws_len,
    };

    let (Ok(av), Ok(bv)) = (make_ref(&case.a, &case.la), make_ref(&case.b, &case.lb)) else {
        return;
    };
    let mut probe = case.c0.clone();
    if make_mut(&mut probe, &case.lc).is_err() {
        return;
    }
    assert_eq!((av.rows(), av.cols(), bv.rows(), bv.cols()), (m, k, kb, n));
    // Zero-stride views can describe enormous valid products over tiny buffers; running
    // one would only time out. Empty products (m·n = 0) of any k must stay fast.
    if m.saturating_mul(n).saturating_mul(k) > 1 << 24 {
        return;
    }

    // The error the shapes and workspace call for, in the documented order.
    let shape_err = if k != kb {
        Some(Error::ShapeMismatch {
            what: "gemm: b must have a.cols() rows",
            expected: (k, n),
            found: (kb, n),
        })
    } else if (mc, nc) != (m, n) {
        Some(Error::ShapeMismatch {
            what: "gemm: c must be a.rows() x b.cols()",
            expected: (m, n),
            found: (mc, nc),
        })
    } else {
        None
    };
    let ws_err = (case.ws_len < ws_needed).then_some(Error::WorkspaceTooSmall {
        needed: ws_needed,
        len: case.ws_len,
        sized_by: "gemm_workspace_len (gemm_on_workspace_len for parts)",
    });

    // The scalar reference first.
    let mut c = case.c0.clone();
    let r = gemm_scalar(alpha, av, bv, beta, make_mut(&mut c, &case.lc).unwrap());
    match shape_err {
        Some(e) => {
            assert_eq!(r, Err(e));
            assert!(
                c.iter()
                    .zip(&case.c0)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "gemm_scalar wrote on error"
            );
        }
        None => {
            assert_eq!(r, Ok(()));
            check_result(&case, &c, "gemm_scalar");
        }
    }

    if std::env::var_os("MICROPROP_FUZZ_DEBUG").is_some() {
        eprintln!(
            "m {m} k {k} n {n} alpha {alpha} beta {beta}\nA {:?}\nB {:?}\nC {:?}\nws {}",
            case.la, case.lb, case.lc, case.ws_len
        );
    }
    let big = m.saturating_mul(n) > CAP || m > 1000 || n > 1000;
    for &isa in Isa::ALL.iter().filter(|i| i.is_supported()) {
        let mut ws = vec![f32::NAN; case.ws_len];
        let mut c = case.c0.clone();
        let r = with_isa(isa, || {
            gemm(
                alpha,
                av,
                bv,
                beta,
                make_mut(&mut c, &case.lc).unwrap(),
                &mut ws,
            )
        })
        .unwrap();
        let who = format!("gemm[{}]", isa.name());
        match shape_err.or(ws_err) {
            Some(e) => {
                assert_eq!(r, Err(e), "{who}");
                assert!(
                    c.iter()
                        .zip(&case.c0)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{who} wrote C on error"
                );
                continue;
            }
            None => assert_eq!(r, Ok(()), "{who}"),
        }
        if big {
            continue;
        }
        check_result(&case, &c, &who);
        // Deterministic, whatever the workspace held.
        let mut ws2 = vec![0.0f32; case.ws_len];
        let mut c2 = case.c0.clone();
        with_isa(isa, || {
            gemm(
                alpha,
                av,
                bv,
                beta,
                make_mut(&mut c2, &case.lc).unwrap(),
                &mut ws2,
            )
        })
        .unwrap()
        .unwrap();
        assert!(
            c.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{who}: result depends on the workspace's contents"
        );
        // Split into 2–5 parts (each product, however small): the same bits.
        // k may be enormous when m·n = 0 (an empty product of any depth): no overflow.
        let parts = 2 + m.wrapping_add(k).wrapping_add(n) % 4;
        let exec = Serial::new(parts).with_min_work(0);
        let mut ws3 = vec![f32::NAN; gemm_on_workspace_len(m, k, n, parts)];
        let mut c3 = case.c0.clone();
        with_isa(isa, || {
            gemm_on(
                &exec,
                alpha,
                av,
                bv,
                beta,
                make_mut(&mut c3, &case.lc).unwrap(),
                &mut ws3,
            )
        })
        .unwrap()
        .unwrap();
        // Bit for bit, except that a NaN only has to be a NaN: Rust leaves the sign and
        // payload of a NaN result unspecified (the compiler may swap the operands of an
        // addition in one tile's code and not another's), so with NaN or ±∞ inputs two
        // parts' tiles may give NaNs of other bits (seen: 0xffc00000 against 0x7fc00000).
        assert!(
            c.iter()
                .zip(&c3)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())),
            "{who}: {parts} parts differ from one"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    run(&mut u);
});
