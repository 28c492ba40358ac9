//! The bundled digits data (examples/data/digits, UCI optical recognition of handwritten
//! digits, CC BY 4.0; see its README for the attribution) is intact: 1,797 records of 64
//! pixels in 0..=16 and a label in 0..=9, with the class counts of the project's train
//! (first 1,437 records) and test (last 360) splits. Also walks one epoch of it through
//! the data helpers.

use microprop::data::{batches, gather_labels, gather_rows_u8, identity_permutation, shuffle};
use rand::SeedableRng;
use rand::rngs::StdRng;

static DIGITS: &[u8] = include_bytes!("../examples/data/digits/digits.u8");

const RECORD: usize = 65;
const PIXELS: usize = 64;
const RECORDS: usize = 1_797;
const TRAIN: usize = 1_437;

fn class_counts(records: &[u8]) -> [usize; 10] {
    let mut c = [0; 10];
    for r in records.chunks_exact(RECORD) {
        c[usize::from(r[PIXELS])] += 1;
    }
    c
}

#[test]
fn digits_has_its_records_pixels_and_labels() {
    assert_eq!(DIGITS.len(), 116_805);
    assert_eq!(DIGITS.len(), RECORDS * RECORD);
    for (i, r) in DIGITS.chunks_exact(RECORD).enumerate() {
        assert!(
            r[..PIXELS].iter().all(|&p| p <= 16),
            "record {i} has a pixel > 16"
        );
        assert!(r[PIXELS] <= 9, "record {i} has label {}", r[PIXELS]);
    }
    // Some pixel reaches 16 (the images are not all faint).
    assert!(
        DIGITS
            .chunks_exact(RECORD)
            .any(|r| r[..PIXELS].contains(&16))
    );
}

#[test]
fn digits_class_counts_of_both_splits() {
    let (train, test) = DIGITS.split_at(TRAIN * RECORD);
    assert_eq!(
        class_counts(train),
        [143, 146, 142, 146, 144, 145, 144, 143, 141, 143]
    );
    assert_eq!(class_counts(test), [35, 36, 35, 37, 37, 37, 37, 36, 33, 37]);
    assert_eq!(class_counts(test).iter().sum::<usize>(), RECORDS - TRAIN);
}

#[test]
fn one_epoch_over_the_train_split_sees_every_record_once() {
    const BATCH: usize = 32;
    let train = &DIGITS[..TRAIN * RECORD];
    let mut perm = vec![0u32; TRAIN];
    identity_permutation(&mut perm).unwrap();
    shuffle(&mut perm, &mut StdRng::seed_from_u64(1));
    let mut xb = [0.0f32; BATCH * PIXELS];
    let mut yb = [0u32; BATCH];
    let mut counts = [0usize; 10];
    let mut n_batches = 0;
    for r in batches(TRAIN, BATCH).unwrap() {
        let rows = &perm[r];
        let n = rows.len();
        let (xb, yb) = (&mut xb[..n * PIXELS], &mut yb[..n]);
        gather_rows_u8(train, RECORD, PIXELS, rows, 1.0 / 16.0, xb).unwrap();
        gather_labels(&train[PIXELS..], RECORD, rows, yb).unwrap();
        assert!(xb.iter().all(|&x| (0.0..=1.0).contains(&x)));
        for (i, &row) in rows.iter().enumerate() {
            let rec = &train[row as usize * RECORD..][..RECORD];
            assert_eq!(u32::from(rec[PIXELS]), yb[i]);
            assert_eq!(xb[i * PIXELS + 63], f32::from(rec[63]) / 16.0);
        }
        for &y in yb.iter() {
            counts[y as usize] += 1;
        }
        n_batches += 1;
    }
    assert_eq!(n_batches, TRAIN.div_ceil(BATCH)); // 45: 44 full and one of 29
    assert_eq!(counts, class_counts(train));
}
