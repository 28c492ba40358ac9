//! Evaluation helpers: argmax (first maximum, NaN wins), predictions (a single output read
//! as a logit, or against a threshold), accuracy counts and the confusion matrix, held to
//! naive references; bad input is named and nothing written.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::{fill, rng};
use microprop::Error;
use microprop::metrics::{
    LOGIT_THRESHOLD, PROBABILITY_THRESHOLD, accuracy, accuracy_at, accuracy_values, argmax,
    argmax_rows, classes, confusion, confusion_at, predict_class, predict_classes,
};

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

/// The class of a row: its argmax, or for a single value whether it is above `t` (NaN
/// counting as above).
fn naive_class(row: &[f32], t: f32) -> usize {
    if row.len() == 1 {
        usize::from(row[0].is_nan() || row[0] > t)
    } else {
        naive_argmax(row)
    }
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
        // With a single output: 2 classes, and probabilities in [0, 1) beside the logits.
        let k = if d == 1 { 2 } else { d };
        assert_eq!(classes(d), k);
        let logits = fill(&mut r, n * d);
        let probabilities: Vec<f32> = logits.iter().map(|x| (x + 1.0) / 2.0).collect();
        let labels: Vec<u32> = (0..n).map(|i| ((i * 5 + 1) % k) as u32).collect();
        for (out, t) in [
            (&logits, LOGIT_THRESHOLD),
            (&probabilities, PROBABILITY_THRESHOLD),
        ] {
            let want: Vec<u32> = out
                .chunks(d)
                .map(|row| naive_class(row, t) as u32)
                .collect();
            let logit = t == LOGIT_THRESHOLD;

            let mut pred = vec![u32::MAX; n];
            predict_classes(out, d, t, &mut pred).unwrap();
            assert_eq!(pred, want);
            if logit {
                argmax_rows(out, d, &mut pred).unwrap();
                assert_eq!(pred, want);
            }
            for (row, &w) in out.chunks(d).zip(&want) {
                assert_eq!(predict_class(row, t), Some(w as usize));
            }

            let correct = want.iter().zip(&labels).filter(|(p, l)| p == l).count();
            assert_eq!(accuracy_at(out, d, &labels, t), Ok(correct));
            if logit {
                assert_eq!(accuracy(out, d, &labels), Ok(correct));
            }

            let mut m = vec![0u32; k * k];
            confusion_at(out, d, &labels, t, &mut m).unwrap();
            let mut m_want = vec![0u32; k * k];
            for (&l, &p) in labels.iter().zip(&want) {
                m_want[l as usize * k + p as usize] += 1;
            }
            assert_eq!(m, m_want);
            assert_eq!(
                (0..k).map(|c| m[c * k + c] as usize).sum::<usize>(),
                correct
            );
            // Accumulates: a second pass doubles every cell.
            if logit {
                confusion(out, d, &labels, &mut m).unwrap();
            } else {
                confusion_at(out, d, &labels, t, &mut m).unwrap();
            }
            assert!(m.iter().zip(&m_want).all(|(&a, &b)| a == 2 * b));

            // Value targets: one-hot rows (d ≥ 2) or 0/1 values (d = 1) of the labels
            // give the same count.
            let y: Vec<f32> = labels
                .iter()
                .flat_map(|&l| {
                    (0..d).map(move |c| {
                        if d == 1 {
                            l as f32
                        } else {
                            f32::from(c == l as usize)
                        }
                    })
                })
                .collect();
            assert_eq!(accuracy_values(out, d, &y, t), Ok(correct));
        }
    }
}

#[test]
fn one_output_is_a_binary_classifier_read_as_a_logit() {
    // The trap: with one output every row used to count as class 0.
    let logits = [
        3.0,
        -2.0,
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let want = [1, 0, 0, 0, 1, 0, 1, 0];
    let mut pred = [9u32; 8];
    argmax_rows(&logits, 1, &mut pred).unwrap();
    assert_eq!(pred, want);
    assert_eq!(accuracy(&logits, 1, &want), Ok(8));
    assert_eq!(accuracy(&logits, 1, &[0; 8]), Ok(5));
    assert_eq!(accuracy(&logits, 1, &[1; 8]), Ok(3));
    // 2 × 2: [TN, FP, FN, TP].
    let mut m = [0u32; 4];
    confusion(&logits, 1, &[1, 1, 1, 0, 0, 0, 1, 1], &mut m).unwrap();
    assert_eq!(m, [2, 1, 3, 2]);
    // Sigmoid outputs are compared with ½: σ(z) for the logits above.
    let p: Vec<f32> = logits.iter().map(|&z| 1.0 / (1.0 + (-z).exp())).collect();
    predict_classes(&p, 1, PROBABILITY_THRESHOLD, &mut pred).unwrap();
    assert_eq!(pred, [1, 0, 0, 0, 0, 0, 1, 0]); // σ(±1e-30) rounds to exactly ½
    assert_eq!(accuracy_at(&[0.5, 0.51, 0.49], 1, &[0, 1, 0], 0.5), Ok(3));
    // Read as logits, probabilities would all be class 1 but an exact 0.
    assert_eq!(accuracy(&[0.2, 0.4, 0.9], 1, &[1, 1, 1]), Ok(3));
    assert_eq!(accuracy(&[0.2, 0.4, 0.9], 1, &[0, 0, 0]), Ok(0));
    // A NaN output predicts 1, as NaN wins argmax; for values, a NaN target is class 1.
    assert_eq!(predict_class(&[f32::NAN], LOGIT_THRESHOLD), Some(1));
    assert_eq!(predict_class(&[-f32::NAN], PROBABILITY_THRESHOLD), Some(1));
    assert_eq!(accuracy(&[f32::NAN, f32::NAN], 1, &[0, 1]), Ok(1));
    assert_eq!(predict_class(&[], LOGIT_THRESHOLD), None);
    assert_eq!(predict_class(&[5.0], f32::NAN), Some(0));
    // Value targets: 0/1, probabilities and −1/+1 fall on their side of ½ (½ itself is
    // class 0).
    let y = [1.0, 0.0, 0.0, 0.2, 0.7, -1.0, 1.0, 0.5];
    assert_eq!(accuracy_values(&logits, 1, &y, LOGIT_THRESHOLD), Ok(8));
    let y = [0.5, 0.0, 0.0, 0.2, 0.7, -1.0, 0.0, 1.0];
    assert_eq!(accuracy_values(&logits, 1, &y, LOGIT_THRESHOLD), Ok(5));
    assert_eq!(
        accuracy_values(&[0.3, -0.3], 1, &[1.0, -1.0], LOGIT_THRESHOLD),
        Ok(2)
    );
    // Before, rows of one value always agreed: 100% whatever the network said.
    assert_eq!(
        accuracy_values(&[-5.0, 5.0], 1, &[1.0, 0.0], LOGIT_THRESHOLD),
        Ok(0)
    );
}

#[test]
fn one_output_takes_labels_0_and_1_only() {
    let out = [0.5f32, -0.5];
    let bad = Error::LabelOutOfRange {
        index: 1,
        label: 2,
        classes: 2,
    };
    assert_eq!(accuracy(&out, 1, &[1, 2]), Err(bad));
    assert_eq!(accuracy_at(&out, 1, &[1, 2], 0.5), Err(bad));
    let mut m = [7u32; 4];
    assert_eq!(confusion(&out, 1, &[1, 2], &mut m), Err(bad));
    assert_eq!(m, [7; 4]);
    // The matrix of one output is 2 × 2, not 1 × 1.
    let e = confusion(&out, 1, &[1, 0], &mut m[..1]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                expected: (2, 2),
                found: (1, 1),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(bad.to_string().contains("2 for a single output"), "{bad}");
    // A threshold must be finite; nothing written.
    let mut pred = [7u32; 2];
    for t in [f32::NAN, f32::INFINITY] {
        let e = predict_classes(&out, 1, t, &mut pred).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
        assert!(matches!(
            accuracy_at(&out, 1, &[0, 1], t),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            confusion_at(&out, 1, &[0, 1], t, &mut m),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            accuracy_values(&out, 1, &[0.0, 1.0], t),
            Err(Error::NonFinite { .. })
        ));
    }
    assert_eq!((pred, m), ([7; 2], [7; 4]));
    // Value targets of another length, outputs not whole rows, d = 0.
    for (o, d, y) in [
        (&out[..], 1, &[0.0][..]),
        (&out[..], 2, &[0.0, 1.0, 0.0][..]),
        (&[0.0, 1.0, 2.0][..], 2, &[0.0, 1.0, 0.0][..]),
    ] {
        let e = accuracy_values(o, d, y, 0.0).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e:?}");
    }
    assert!(matches!(
        accuracy_values(&out, 0, &out, 0.0),
        Err(Error::InvalidArgument { .. })
    ));
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
