//! The bundled Japanese vowels data (examples/data/japanese_vowels, UCI, CC BY 4.0; see its
//! README for the attribution) is intact and says what its README says: 640 records of
//! 29 × 12 little-endian f32, a label 0..=8 and a length 7..=29, zero padding after the
//! utterance, train frames standardised to mean 0 and std 1 per coefficient, the speakers'
//! counts of both splits. Also reads its records in place, unaligned, through
//! `gather_rows_f32le` and a `Dataset` of `Features::F32Le`, as a firmware would.

use microprop::data::{
    Batch, Dataset, Features, Labels, Standardize, batches, gather_labels, gather_rows_f32le,
    identity_permutation, shuffle,
};
use microprop::{SplitMix64, Target};

static VOWELS: &[u8] = include_bytes!("../examples/data/japanese_vowels/japanese_vowels.f32");

const RECORD: usize = 1_396;
const FRAMES: usize = 29;
const COEFS: usize = 12;
/// The features of a record: 29 × 12 = 348 values, 1,392 bytes.
const VALUES: usize = FRAMES * COEFS;
const LABEL: usize = 1_392;
const LENGTH: usize = 1_393;
const RECORDS: usize = 640;
const TRAIN: usize = 270;

/// Value `i` of record `r`, decoded here by hand from its four bytes (low byte first).
fn value(r: usize, i: usize) -> f32 {
    let b = &VOWELS[r * RECORD + 4 * i..][..4];
    f32::from_bits(
        u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16 | u32::from(b[3]) << 24,
    )
}

/// The bit patterns of the first four values of `v`.
fn bits4(v: &[f32]) -> [u32; 4] {
    core::array::from_fn(|i| v[i].to_bits())
}

fn record(r: usize) -> &'static [u8] {
    &VOWELS[r * RECORD..][..RECORD]
}

/// FNV-1a (64-bit) of the whole file: a cheap stand-in for the README's sha256
/// (`b225e33e…da10`, checked with `sha256sum` on the copy whose FNV-1a is below).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn vowels_has_its_records_and_fields() {
    assert_eq!(VOWELS.len(), 893_440);
    assert_eq!(VOWELS.len(), RECORDS * RECORD);
    assert_eq!(fnv1a(VOWELS), 0xf8ce_3676_5fb6_1a25);
    for r in 0..RECORDS {
        let rec = record(r);
        assert!(rec[LABEL] <= 8, "record {r}: label {}", rec[LABEL]);
        assert!(
            (7..=29).contains(&rec[LENGTH]),
            "record {r}: length {}",
            rec[LENGTH]
        );
        assert_eq!(rec[1394..], [0, 0], "record {r}: the last 2 bytes");
        let n = usize::from(rec[LENGTH]);
        for i in 0..VALUES {
            let v = value(r, i);
            assert!(v.is_finite(), "record {r} value {i}");
            // Padding: every coefficient of a frame t ≥ n is +0.0.
            if i / COEFS >= n {
                assert_eq!(v.to_bits(), 0, "record {r}: padding value {i}");
            }
        }
    }
}

#[test]
fn gather_reads_the_first_and_last_records_in_place() {
    // Unaligned on purpose: the records from byte 1 of a copy of the file.
    let mut shifted = vec![0u8; VOWELS.len() + 1];
    shifted[1..].copy_from_slice(VOWELS);
    for src in [VOWELS, &shifted[1..]] {
        let mut x = vec![f32::NAN; 2 * VALUES];
        let last = RECORDS as u32 - 1;
        gather_rows_f32le(src, RECORD, VALUES, &[0, last], &mut x).unwrap();
        for (k, r) in [0, RECORDS - 1].into_iter().enumerate() {
            for i in 0..VALUES {
                assert_eq!(
                    x[k * VALUES + i].to_bits(),
                    value(r, i).to_bits(),
                    "record {r} value {i}"
                );
            }
        }
        let mut labels = [u32::MAX; 2];
        gather_labels(&src[LABEL..], RECORD, &[0, last], &mut labels).unwrap();
        assert_eq!(labels, [0, 8]);
        let mut lengths = [u32::MAX; 2];
        gather_labels(&src[LENGTH..], RECORD, &[0, last], &mut lengths).unwrap();
        assert_eq!(lengths, [20, 11]);
        // A few values by their bit patterns (Python's struct.unpack('<f') of the file).
        assert_eq!(
            bits4(&x),
            [0x4002_2d73, 0x3f63_29ea, 0x3d52_4859, 0x3e30_832b]
        );
        let y = &x[VALUES..];
        assert_eq!(
            bits4(y),
            [0x3f91_090c, 0x3edb_8d3d, 0xbfb8_8afa, 0xbf46_2bbb]
        );
        // The last record's last valid frame (t = 10), coefficient 11; padding after it.
        assert_eq!(y[10 * COEFS + 11].to_bits(), 0x3f8a_f757);
        assert!(y[11 * COEFS..].iter().all(|v| v.to_bits() == 0));
    }
    // The source holds exactly 640 rows of 348 values.
    let mut x = vec![0.0; VALUES];
    assert!(gather_rows_f32le(VOWELS, RECORD, VALUES, &[RECORDS as u32], &mut x).is_err());
}

#[test]
fn labels_and_lengths_of_both_splits() {
    let labels: Vec<u8> = (0..RECORDS).map(|r| record(r)[LABEL]).collect();
    let lengths: Vec<usize> = (0..RECORDS)
        .map(|r| usize::from(record(r)[LENGTH]))
        .collect();
    // Train: 30 per speaker, speaker by speaker.
    for (r, &l) in labels[..TRAIN].iter().enumerate() {
        assert_eq!(usize::from(l), r / 30, "train record {r}");
    }
    // Test: 31 35 88 44 29 24 40 50 29, in speaker order.
    let mut counts = [0usize; 9];
    for &l in &labels[TRAIN..] {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [31, 35, 88, 44, 29, 24, 40, 50, 29]);
    assert!(labels[TRAIN..].is_sorted());
    // Lengths: train 7–26 (4,274 frames, mean 15.8), test 7–29 (mean 15.4), one test
    // record of all 29 frames.
    let (train, test) = lengths.split_at(TRAIN);
    assert_eq!(
        (train.iter().min(), train.iter().max()),
        (Some(&7), Some(&26))
    );
    assert_eq!(
        (test.iter().min(), test.iter().max()),
        (Some(&7), Some(&29))
    );
    assert_eq!(train.iter().sum::<usize>(), 4_274);
    assert_eq!(test.iter().sum::<usize>(), 5_687); // mean 15.37
    assert_eq!(test.iter().filter(|&&n| n == 29).count(), 1);
}

/// The valid frames (`t < length`) of `records`, 12 coefficients each.
fn frames(records: core::ops::Range<usize>) -> impl Iterator<Item = [f64; COEFS]> + Clone {
    records.flat_map(|r| {
        (0..usize::from(record(r)[LENGTH]))
            .map(move |t| core::array::from_fn(|c| f64::from(value(r, t * COEFS + c))))
    })
}

/// Per coefficient, the mean and the population std (f64) of the valid frames of `records`.
fn frame_stats(records: core::ops::Range<usize>) -> ([f64; COEFS], [f64; COEFS]) {
    let (mut sum, mut sq, mut n) = ([0.0f64; COEFS], [0.0f64; COEFS], 0usize);
    for f in frames(records.clone()) {
        for (s, v) in sum.iter_mut().zip(f) {
            *s += v;
        }
        n += 1;
    }
    let mean = sum.map(|s| s / n as f64);
    for f in frames(records) {
        for ((q, v), m) in sq.iter_mut().zip(f).zip(mean) {
            *q += (v - m).powi(2);
        }
    }
    (mean, sq.map(|s| (s / n as f64).sqrt()))
}

#[test]
fn train_frames_are_standardised_and_test_frames_close() {
    let (mean, std) = frame_stats(0..TRAIN);
    for c in 0..COEFS {
        assert!(
            mean[c].abs() < 1e-6,
            "train mean of coefficient {c}: {}",
            mean[c]
        );
        assert!(
            (std[c] - 1.0).abs() < 1e-6,
            "train std of coefficient {c}: {}",
            std[c]
        );
    }
    let (mean, std) = frame_stats(TRAIN..RECORDS);
    for c in 0..COEFS {
        assert!(
            mean[c].abs() <= 0.24,
            "test mean of coefficient {c}: {}",
            mean[c]
        );
        assert!(
            (0.93..=1.125).contains(&std[c]),
            "test std of coefficient {c}: {}",
            std[c]
        );
    }
}

#[test]
fn values_undo_to_the_archives_six_decimals() {
    // The README's mean_c and std_c: v·std_c + mean_c lands on a multiple of 10⁻⁶ to
    // within 0.1·10⁻⁶ for every valid value (data of no such origin would spread over
    // ±0.5·10⁻⁶).
    const MEAN: [f64; COEFS] = [
        0.8691055,
        -0.554501439,
        0.24610909,
        -0.267293759,
        0.21897663,
        -0.21053824,
        -0.174065142,
        -0.0517050285,
        -0.204931313,
        -0.181193851,
        -0.0235915634,
        0.0862139766,
    ];
    const STD: [f64; COEFS] = [
        0.487619884,
        0.391181825,
        0.300902869,
        0.305912389,
        0.269098944,
        0.16830004,
        0.161224762,
        0.188340222,
        0.187724205,
        0.116916959,
        0.0976370327,
        0.127546689,
    ];
    let mut worst = 0.0f64;
    for f in frames(0..RECORDS) {
        for ((v, std), mean) in f.into_iter().zip(STD).zip(MEAN) {
            let micro = (v * std + mean) * 1e6;
            worst = worst.max((micro - micro.round()).abs());
        }
    }
    assert!(worst < 0.1, "furthest from the 10⁻⁶ grid: {worst}·10⁻⁶");
}

#[test]
fn one_epoch_over_the_train_split_sees_every_record_once() {
    const BATCH: usize = 32;
    let train = Dataset {
        x: Features::F32Le {
            data: &VOWELS[..TRAIN * RECORD],
            stride: RECORD,
        },
        y: Labels::ClassesU8 {
            data: &VOWELS[LABEL..TRAIN * RECORD],
            stride: RECORD,
        },
        len: TRAIN,
    };
    train.check(VALUES, 9).unwrap();
    let mut perm = vec![0u32; TRAIN];
    identity_permutation(&mut perm).unwrap();
    shuffle(&mut perm, &mut SplitMix64::new(1));
    let (mut xb, mut lb) = (vec![0.0f32; BATCH * VALUES], [0u32; BATCH]);
    let mut counts = [0usize; 9];
    for range in batches(TRAIN, BATCH).unwrap() {
        let rows = &perm[range];
        let mut batch = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut lb,
        };
        let (x, target) = train.gather(rows, VALUES, 9, &mut batch).unwrap();
        let Target::Classes(labels) = target else {
            panic!("class labels expected")
        };
        for (i, &r) in rows.iter().enumerate() {
            let r = r as usize;
            assert_eq!(labels[i], u32::from(record(r)[LABEL]));
            assert_eq!(x[i * VALUES + 5].to_bits(), value(r, 5).to_bits());
            assert_eq!(
                x[i * VALUES + VALUES - 1].to_bits(),
                value(r, VALUES - 1).to_bits()
            );
            counts[labels[i] as usize] += 1;
        }
    }
    assert_eq!(counts, [30; 9]);
}

#[test]
fn standardize_fit_on_the_train_records() {
    // Statistics of each of the 348 values of a record over the 270 train records: frame
    // 0 is valid in all of them (lengths ≥ 7), frames 26–28 in none (train lengths ≤ 26),
    // so those 36 columns are constant zeros and take std 1.
    let mut rows = vec![0u32; TRAIN];
    identity_permutation(&mut rows).unwrap();
    let (mut mean, mut std) = (vec![0.0f32; VALUES], vec![0.0f32; VALUES]);
    let x = Features::F32Le {
        data: VOWELS,
        stride: RECORD,
    };
    let st = Standardize::fit(x, VALUES, &rows, &mut mean, &mut std).unwrap();
    for i in [0, 5, 11, 12 * 6 + 3, 12 * 20] {
        let column: Vec<f64> = (0..TRAIN).map(|r| f64::from(value(r, i))).collect();
        let m = column.iter().sum::<f64>() / TRAIN as f64;
        let sd = (column.iter().map(|v| (v - m).powi(2)).sum::<f64>() / TRAIN as f64).sqrt();
        assert!(
            (f64::from(st.mean()[i]) - m).abs() <= 1e-6 * m.abs().max(1e-3),
            "column {i}"
        );
        assert!(
            (f64::from(st.std()[i]) - sd).abs() <= 1e-6 * sd,
            "column {i}"
        );
    }
    assert!(st.mean()[26 * COEFS..].iter().all(|&m| m == 0.0));
    assert!(st.std()[26 * COEFS..].iter().all(|&s| s == 1.0));
    assert!(st.std()[..26 * COEFS].iter().all(|&s| s > 0.0 && s != 1.0));
    // Applied to the longest test record: finite, its last frames divided by 1.
    let longest = (TRAIN..RECORDS).find(|&r| record(r)[LENGTH] == 29).unwrap();
    let mut b = vec![0.0f32; VALUES];
    gather_rows_f32le(VOWELS, RECORD, VALUES, &[longest as u32], &mut b).unwrap();
    st.apply(&mut b).unwrap();
    assert!(b.iter().all(|v| v.is_finite()));
    assert_eq!(b[28 * COEFS], value(longest, 28 * COEFS));
}
