//! Evaluation helpers: argmax (first maximum, NaN wins), predictions, accuracy counts and
//! the confusion matrix, held to naive references; bad input is named and nothing written.

mod common;
use common::{fill, rng};
use microprop::Error;
use microprop::metrics::{accuracy, argmax, argmax_rows, confusion};

#[test]
fn argmax_takes_the_first_maximum_and_the_first_nan() {
    let inf = f32::INFINITY;
    let nan = f32::NAN;
    assert_eq!(argmax(&[]), None);
    assert_eq!(argmax(&[3.0]), Some(0));
    assert_eq!(argmax(&[1.0, 3.0, 2.0, 3.0]), Some(1));
    assert_eq!(argmax(&[-inf, -inf]), Some(0));
    assert_eq!(argmax(&[-1.0, inf, 5.0]), Some(1));
    assert_eq!(argmax(&[-0.0, 0.0]), Some(0));
    assert_eq!(argmax(&[0.0, -0.0]), Some(0));
    assert_eq!(argmax(&[nan, 1.0]), Some(0));
    assert_eq!(argmax(&[1.0, nan, inf, nan]), Some(1));
    assert_eq!(argmax(&[-nan, 1.0]), Some(0));
    assert_eq!(argmax(&[f32::MIN, f32::MIN_POSITIVE, 1e-45]), Some(1));
}

fn naive_argmax(row: &[f32]) -> usize {
    if let Some(i) = row.iter().position(|x| x.is_nan()) {
        return i;
    }
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    row.iter().position(|&x| x == m).unwrap()
}

#[test]
fn predictions_accuracy_and_confusion_match_naive_references() {
    let mut r = rng(7);
    let sizes: &[(usize, usize)] = if cfg!(miri) {
        &[(0, 3), (1, 1), (5, 3), (9, 10)]
    } else {
        &[(0, 3), (1, 1), (5, 3), (9, 10), (64, 10), (1000, 7)]
    };
    for &(n, d) in sizes {
        let out = fill(&mut r, n * d);
        let labels: Vec<u32> = (0..n).map(|i| ((i * 5 + 1) % d) as u32).collect();
        let want: Vec<u32> = out.chunks(d).map(|row| naive_argmax(row) as u32).collect();

        let mut pred = vec![u32::MAX; n];
        argmax_rows(&out, d, &mut pred).unwrap();
        assert_eq!(pred, want);

        let correct = want.iter().zip(&labels).filter(|(p, l)| p == l).count();
        assert_eq!(accuracy(&out, d, &labels), Ok(correct));

        let mut m = vec![0u32; d * d];
        confusion(&out, d, &labels, &mut m).unwrap();
        let mut m_want = vec![0u32; d * d];
        for (&l, &p) in labels.iter().zip(&want) {
            m_want[l as usize * d + p as usize] += 1;
        }
        assert_eq!(m, m_want);
        assert_eq!(
            (0..d).map(|k| m[k * d + k] as usize).sum::<usize>(),
            correct
        );
        // Accumulates: a second pass doubles every cell.
        confusion(&out, d, &labels, &mut m).unwrap();
        assert!(m.iter().zip(&m_want).all(|(&a, &b)| a == 2 * b));
    }
}

#[test]
fn a_diverged_row_counts_as_predicting_its_first_nan() {
    let out = [f32::NAN, 1.0, 0.0, 0.5, f32::NAN, f32::NAN];
    let mut pred = [9; 2];
    argmax_rows(&out, 3, &mut pred).unwrap();
    assert_eq!(pred, [0, 1]);
    assert_eq!(accuracy(&out, 3, &[2, 2]), Ok(0));
    assert_eq!(accuracy(&out, 3, &[0, 1]), Ok(2));
}

#[test]
fn confusion_counts_saturate() {
    let mut m = [u32::MAX, 0, 0, 0];
    confusion(&[1.0, 0.0], 2, &[0], &mut m).unwrap();
    assert_eq!(m, [u32::MAX, 0, 0, 0]);
}

#[test]
fn bad_input_is_named_and_nothing_written() {
    let out = [0.0f32; 6];
    let mut pred = [7u32; 2];
    let mut m = [7u32; 9];

    // d = 0
    for e in [
        argmax_rows(&[], 0, &mut []).unwrap_err(),
        accuracy(&[], 0, &[]).unwrap_err(),
        confusion(&[], 0, &[], &mut []).unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    }
    // Shapes.
    let e = argmax_rows(&out, 4, &mut pred).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                expected: (2, 4),
                found: (1, 6),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(pred, [7; 2]);
    let e = accuracy(&out, 3, &[0]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                expected: (1, 3),
                found: (1, 6),
                ..
            }
        ),
        "{e:?}"
    );
    let e = confusion(&out, 3, &[0, 1], &mut m[..8]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                expected: (3, 3),
                found: (1, 8),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(m, [7; 9]);
    // A label ≥ d: the first one is named, the matrix untouched even though label 0 came first.
    let bad = Error::LabelOutOfRange {
        index: 1,
        label: 3,
        classes: 3,
    };
    assert_eq!(accuracy(&out, 3, &[0, 3]), Err(bad));
    assert_eq!(confusion(&out, 3, &[0, 3], &mut m), Err(bad));
    assert_eq!(m, [7; 9]);
    assert_eq!(
        accuracy(&out, 3, &[u32::MAX, 5]),
        Err(Error::LabelOutOfRange {
            index: 0,
            label: u32::MAX,
            classes: 3
        })
    );
    // More classes than u32 indices (only reachable on 64-bit targets).
    if let Ok(d) = usize::try_from(u64::from(u32::MAX) + 2) {
        let e = argmax_rows(&[], d, &mut []).unwrap_err();
        assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
    }
    let s = bad.to_string();
    assert!(
        s.contains("label 3") && s.contains("index 1") && s.contains("3 classes"),
        "{s}"
    );
}
