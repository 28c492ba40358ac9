//! Regressions found by the fuzz targets (`fuzz/`), one test per bug.

use microprop::{Error, MatMut, MatRef};

/// `fuzz/gemm`: a layout whose last index is exactly `usize::MAX` overflowed computing
/// the `BufferTooSmall { needed: last + 1 }` (a panic with overflow checks, `needed: 0`
/// without). It is an `Overflow` error now.
#[test]
fn view_whose_last_index_is_usize_max_is_an_overflow_error() {
    let data = [0.0f32; 4];
    let r = MatRef::new(&data, 2, 1, usize::MAX, 0);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatRef" }));
    let r = MatRef::new(&data, 2, 2, usize::MAX - 1, 1);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatRef" }));
    let mut buf = [0.0f32; 4];
    let r = MatMut::new(&mut buf, 1, 2, 0, usize::MAX);
    assert_eq!(r.err(), Some(Error::Overflow { what: "MatMut" }));
    // One below still reports the length it needs.
    let r = MatRef::new(&data, 2, 1, usize::MAX - 1, 0);
    assert_eq!(
        r.err(),
        Some(Error::BufferTooSmall {
            what: "MatRef",
            needed: usize::MAX,
            len: 4
        })
    );
}
