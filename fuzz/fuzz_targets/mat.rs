//! `MatRef` / `MatMut` constructors alone, with extreme sizes and strides (any `usize`,
//! biased to the values that overflow), and element access through the views.
//!
//! Properties: no panic; the constructors return exactly the error an independent
//! checked computation predicts (`Overflow`, `BufferTooSmall { needed }`,
//! `OverlappingStrides`); accepted mutable views never alias two elements; `get`/`set`
//! read and write `data[i·rs + j·cs]` in range and nothing out of range; `.t().t()` is
//! the identity.
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{HUGE, distinct_offsets};
use libfuzzer_sys::fuzz_target;
use microprop::{Error, MatMut, MatRef};

fn val(u: &mut Unstructured) -> usize {
    let sel: u8 = u.arbitrary().unwrap_or(0);
    match sel % 4 {
        0 => sel as usize % 9,
        1 => HUGE[(sel as usize / 4) % HUGE.len()].wrapping_sub((sel as usize / 32) % 3),
        2 => u.arbitrary::<usize>().unwrap_or(0),
        _ => usize::MAX / u.int_in_range(1..=64).unwrap_or(1),
    }
}

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
    let needed = last.checked_add(1).ok_or(Error::Overflow { what })?;
    if last >= len {
        return Err(Error::BufferTooSmall { what, needed, len });
    }
    Ok(needed)
}

fn run(u: &mut Unstructured) {
    let len = u.arbitrary::<u8>().unwrap_or(0) as usize % 65;
    let (r, c, rs, cs) = (val(u), val(u), val(u), val(u));
    let data: Vec<f32> = (0..len).map(|i| i as f32).collect();
    let got = MatRef::new(&data, r, c, rs, cs);
    match (&got, span(len, r, c, rs, cs, "MatRef")) {
        (Ok(_), Ok(_)) => {}
        (Err(e), Err(w)) => assert_eq!(*e, w),
        (g, w) => panic!("MatRef::new({len}, {r}, {c}, {rs}, {cs}) = {g:?}, want {w:?}"),
    }
    let (i, j) = (val(u), val(u));
    if let Ok(v) = got {
        let tt = v.t().t();
        assert_eq!(
            (tt.rows(), tt.cols(), tt.row_stride(), tt.col_stride()),
            (r, c, rs, cs)
        );
        let want = (i < r && j < c).then(|| data[i * rs + j * cs]);
        assert_eq!(v.get(i, j), want);
        assert_eq!(v.t().get(j, i), want);
    }

    let mut buf = data.clone();
    let got = MatMut::new(&mut buf, r, c, rs, cs);
    match (got, span(len, r, c, rs, cs, "MatMut")) {
        (Err(e), Err(w)) => assert_eq!(e, w),
        (
            Err(Error::OverlappingStrides {
                row_stride,
                col_stride,
            }),
            Ok(_),
        ) => {
            assert_eq!((row_stride, col_stride), (rs, cs));
            // Rejected only if two elements really can collide under the documented rule.
            let fits = |outer: usize, n: usize, s: usize| {
                s >= 1
                    && (n.saturating_sub(1))
                        .checked_mul(s)
                        .is_some_and(|w| outer > w)
            };
            assert!(!(r == 1 && c == 1) && !fits(rs, c, cs) && !fits(cs, r, rs));
        }
        (Ok(mut v), Ok(_)) => {
            // Every element has its own address (the span is ≤ 64, so this is small).
            assert!(
                distinct_offsets(r, c, rs, cs),
                "MatMut accepted aliasing strides {r}x{c} ({rs}, {cs})"
            );
            let inside = i < r && j < c;
            assert_eq!(v.set(i, j, -1.0), inside);
            assert_eq!(v.get(i, j), inside.then_some(-1.0));
            let mut t = v.t();
            assert_eq!(t.get(j, i), inside.then_some(-1.0));
            assert_eq!(t.rb_mut().as_ref().rows(), c);
            drop(t);
            for (p, (&a, &b)) in buf.iter().zip(&data).enumerate() {
                if !(inside && p == i * rs + j * cs) {
                    assert_eq!(a, b, "set wrote elsewhere");
                }
            }
        }
        (g, w) => panic!("MatMut::new({len}, {r}, {c}, {rs}, {cs}) = {g:?}, want {w:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    run(&mut u);
});
