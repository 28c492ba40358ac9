//! Minibatching: the shuffle is a uniform permutation, reproducible and safe with a broken
//! generator; batch ranges cover every sample once; gathers copy exactly the chosen rows
//! and, on any bad input, name it and write nothing.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::{SplitMix64, rng};
use microprop::Error;
use microprop::data::{
    Batch, Dataset, Features, Labels, Standardize, batches, gather_labels, gather_rows,
    gather_rows_f32le, gather_rows_u8, identity_permutation, shuffle,
};
use rand::RngExt;
use rand_core::{Infallible, TryRng};

/// A broken generator: the same word forever.
struct Constant(u64);

impl TryRng for Constant {
    type Error = Infallible;
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0)
    }
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0 as u32)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(self.0 as u8);
        Ok(())
    }
}

fn is_permutation(p: &[u32]) -> bool {
    let mut s = p.to_vec();
    s.sort_unstable();
    s.iter().enumerate().all(|(i, &v)| v as usize == i)
}

fn lengths() -> Vec<usize> {
    if cfg!(miri) {
        (0..=9).chain([17, 64]).collect()
    } else {
        (0..=33).chain([64, 100, 1000, 4097]).collect()
    }
}

#[test]
fn identity_then_shuffle_is_a_permutation() {
    let mut r = rng(1);
    for n in lengths() {
        let mut p = vec![u32::MAX; n];
        identity_permutation(&mut p).unwrap();
        assert!(p.iter().enumerate().all(|(i, &v)| v as usize == i));
        for _ in 0..3 {
            shuffle(&mut p, &mut r);
            assert!(is_permutation(&p), "n={n}");
        }
    }
}

#[test]
fn shuffle_is_uniform_over_all_orders() {
    // 4 elements: 24 orders, each expected trials/24 times. Pearson's χ² with 23 degrees of
    // freedom exceeds 49.7 with probability 0.001.
    let trials = if cfg!(miri) { 480 } else { 48_000 };
    let mut counts = [0u32; 256];
    let mut r = rng(2);
    for _ in 0..trials {
        let mut p = [0, 1, 2, 3];
        shuffle(&mut p, &mut r);
        counts[(p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]) as usize] += 1;
    }
    let seen: Vec<u32> = counts.iter().copied().filter(|&c| c > 0).collect();
    assert_eq!(seen.len(), 24, "every order occurs");
    let e = f64::from(trials) / 24.0;
    let chi2: f64 = seen.iter().map(|&c| (f64::from(c) - e).powi(2) / e).sum();
    assert!(chi2 < 49.7, "chi2 = {chi2}");
}

#[test]
fn shuffle_moves_every_element_to_every_position_equally() {
    // 10 elements: each lands in each position with probability 1/10.
    let n = 10;
    let trials = if cfg!(miri) { 200 } else { 20_000 };
    let mut at = vec![0u32; n * n];
    let mut r = rng(3);
    let mut p: Vec<u32> = (0..n as u32).collect();
    for _ in 0..trials {
        shuffle(&mut p, &mut r); // reshuffling the last order is as uniform
        for (pos, &v) in p.iter().enumerate() {
            at[v as usize * n + pos] += 1;
        }
    }
    let e = f64::from(trials) / n as f64;
    let sd = (e * (1.0 - 1.0 / n as f64)).sqrt();
    for &c in &at {
        assert!(
            (f64::from(c) - e).abs() < 5.0 * sd,
            "count {c}, expected {e}"
        );
    }
}

#[test]
fn shuffle_is_reproducible_and_golden() {
    let mut a: Vec<u32> = (0..10).collect();
    let mut b = a.clone();
    shuffle(&mut a, &mut rng(4));
    shuffle(&mut b, &mut rng(4));
    assert_eq!(a, b);
    // Golden with a fixed generator: pins Fisher–Yates from the top with Lemire's
    // high-half index on every target.
    let mut g: Vec<u32> = (0..10).collect();
    shuffle(&mut g, &mut SplitMix64(42));
    assert_eq!(g, GOLDEN_SHUFFLE);
}

// Checked against an independent Python Fisher–Yates with Lemire draws.
const GOLDEN_SHUFFLE: [u32; 10] = [8, 3, 6, 5, 4, 0, 9, 2, 1, 7];

#[test]
fn a_constant_generator_cannot_hang_the_shuffle() {
    for word in [0, 1, u64::MAX, 1 << 63] {
        for n in [2, 3, 7, 100] {
            let mut p: Vec<u32> = (0..n).collect();
            shuffle(&mut p, &mut Constant(word));
            assert!(is_permutation(&p));
        }
    }
}

#[test]
fn identity_permutation_of_nothing_is_fine() {
    identity_permutation(&mut []).unwrap();
    shuffle(&mut [], &mut rng(0));
    let mut one = [9];
    shuffle(&mut one, &mut rng(0));
    assert_eq!(one, [9]);
}

#[test]
fn batches_cover_every_position_once_the_last_short() {
    for n in lengths() {
        for b in [1, 2, 3, 5, 8, 32, n.max(1), n + 1] {
            let it = batches(n, b).unwrap();
            assert_eq!(it.batch_size(), b);
            assert_eq!(it.len(), n.div_ceil(b), "n={n} b={b}");
            let all: Vec<_> = it.collect();
            assert_eq!(all.len(), n.div_ceil(b));
            let mut next = 0;
            for (k, r) in all.iter().enumerate() {
                assert_eq!(r.start, next);
                if k + 1 < all.len() {
                    assert_eq!(r.len(), b);
                } else {
                    assert!(!r.is_empty() && r.len() <= b);
                }
                next = r.end;
            }
            assert_eq!(next, n);

            let full: Vec<_> = batches(n, b).unwrap().drop_last().collect();
            assert_eq!(full.len(), n / b);
            assert!(full.iter().all(|r| r.len() == b));
            assert_eq!(full[..], all[..n / b]);
        }
    }
}

#[test]
fn batches_count_down_and_stay_done() {
    let mut it = batches(7, 3).unwrap();
    assert_eq!(it.size_hint(), (3, Some(3)));
    assert_eq!(it.next(), Some(0..3));
    assert_eq!(it.len(), 2);
    assert_eq!(it.next(), Some(3..6));
    assert_eq!(it.next(), Some(6..7));
    assert_eq!(it.len(), 0);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
    // drop_last part-way through: only full batches of what is left.
    let mut it = batches(8, 3).unwrap();
    it.next();
    assert!(it.drop_last().eq(core::iter::once(3..6)));
}

#[test]
fn batches_near_usize_max_do_not_overflow() {
    let m = usize::MAX;
    assert!(batches(m, m - 1).unwrap().eq([0..m - 1, m - 1..m]));
    assert!(batches(m, m).unwrap().eq(core::iter::once(0..m)));
    assert_eq!(batches(m, 1).unwrap().len(), m);
    assert_eq!(batches(m, 2).unwrap().len(), m / 2 + 1);
    assert_eq!(batches(m, 2).unwrap().drop_last().len(), m / 2);
}

#[test]
fn batch_size_zero_is_rejected() {
    assert!(matches!(batches(10, 0), Err(Error::InvalidArgument { .. })));
}

/// A source of `n` rows of `cols` values every `stride`, value = row·1000 + col (padding
/// between rows is −1); the last row has no padding after it.
fn source(n: usize, stride: usize, cols: usize) -> Vec<f32> {
    let mut s = vec![-1.0; if n == 0 { 0 } else { (n - 1) * stride + cols }];
    for r in 0..n {
        for c in 0..cols {
            s[r * stride + c] = (r * 1000 + c) as f32;
        }
    }
    s
}

#[test]
fn gather_rows_copies_the_chosen_rows() {
    for (n, stride, cols) in [(1, 1, 1), (5, 3, 3), (5, 7, 3), (10, 65, 64), (4, 4, 1)] {
        let src = source(n, stride, cols);
        let rows: Vec<u32> = (0..2 * n as u32).map(|i| (i * 7 + 3) % n as u32).collect();
        let mut dst = vec![f32::NAN; rows.len() * cols];
        gather_rows(&src, stride, cols, &rows, &mut dst).unwrap();
        for (i, &r) in rows.iter().enumerate() {
            for c in 0..cols {
                assert_eq!(dst[i * cols + c], (r as usize * 1000 + c) as f32);
            }
        }
        // The same from bytes, scaled: value = (row·stride + col) mod 256 · scale.
        let bytes: Vec<u8> = (0..src.len()).map(|i| (i % 251) as u8).collect();
        let mut dst = vec![f32::NAN; rows.len() * cols];
        gather_rows_u8(&bytes, stride, cols, &rows, 0.25, &mut dst).unwrap();
        for (i, &r) in rows.iter().enumerate() {
            for c in 0..cols {
                let b = bytes[r as usize * stride + c];
                assert_eq!(dst[i * cols + c], f32::from(b) * 0.25);
            }
        }
    }
    // No rows, nothing to do.
    gather_rows(&[1.0], 1, 1, &[], &mut []).unwrap();
}

#[test]
fn gather_rows_u8_scales_digits_pixels_exactly() {
    let src: Vec<u8> = (0..=16).collect();
    let mut dst = [0.0f32; 17];
    gather_rows_u8(&src, 17, 17, &[0], 1.0 / 16.0, &mut dst).unwrap();
    for (i, &d) in dst.iter().enumerate() {
        assert_eq!(d, i as f32 / 16.0);
    }
    assert_eq!(dst[16], 1.0);
}

/// The `n` rows of `cols` values of `src` (rows `stride_vals` values apart) as
/// little-endian bytes in records of `stride` bytes (each row's `f32` first, then filler
/// bytes `0xEE`), from byte 1 of the buffer returned (3 filler bytes after the last row):
/// `&buf[1..]` starts at an address that is not a multiple of 4.
fn le_records(src: &[f32], n: usize, stride_vals: usize, cols: usize, stride: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xEE;
        1 + if n == 0 {
            0
        } else {
            (n - 1) * stride + 4 * cols
        } + 3
    ];
    for r in 0..n {
        for c in 0..cols {
            let at = 1 + r * stride + 4 * c;
            bytes[at..at + 4].copy_from_slice(&src[r * stride_vals + c].to_le_bytes());
        }
    }
    bytes
}

#[test]
fn gather_rows_f32le_decodes_unaligned_records_bit_for_bit() {
    for (n, stride_vals, cols) in [(1, 1, 1), (5, 3, 3), (5, 7, 3), (10, 65, 64), (4, 4, 1)] {
        let src = source(n, stride_vals, cols);
        // Byte strides: the values' own, and one with 1 to 3 extra bytes (records whose
        // f32 sit at every alignment).
        for stride in [
            4 * stride_vals,
            4 * cols + 1,
            4 * cols + 3,
            4 * stride_vals + 2,
        ] {
            let buf = le_records(&src, n, stride_vals, cols, stride);
            let bytes = &buf[1..buf.len() - 3];
            assert_ne!(bytes.as_ptr() as usize % 4, buf.as_ptr() as usize % 4);
            let rows: Vec<u32> = (0..2 * n as u32).map(|i| (i * 7 + 3) % n as u32).collect();
            let mut dst = vec![f32::NAN; rows.len() * cols];
            gather_rows_f32le(bytes, stride, cols, &rows, &mut dst).unwrap();
            for (i, &r) in rows.iter().enumerate() {
                for c in 0..cols {
                    let want = (r as usize * 1000 + c) as f32;
                    assert_eq!(
                        dst[i * cols + c].to_bits(),
                        want.to_bits(),
                        "stride {stride}"
                    );
                }
            }
        }
    }
    // Special values come through bit for bit: signed zeros, subnormals, ±inf, NaN
    // payloads, the extremes.
    let specials = [
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(0x007f_ffff),
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_0001),
        f32::from_bits(0xffa0_0000),
        1.0 / 3.0,
    ];
    let buf = le_records(
        &specials,
        1,
        specials.len(),
        specials.len(),
        4 * specials.len(),
    );
    let mut dst = [0.0f32; 12];
    gather_rows_f32le(&buf[1..], 48, 12, &[0], &mut dst).unwrap();
    for (d, s) in dst.iter().zip(specials) {
        assert_eq!(d.to_bits(), s.to_bits());
    }
    // Little-endian whatever the target: the bytes of 1.0 are 00 00 80 3f.
    gather_rows_f32le(&[0, 0, 0x80, 0x3f, 7], 5, 1, &[0], &mut dst[..1]).unwrap();
    assert_eq!(dst[0], 1.0);
    // No rows, nothing to do.
    gather_rows_f32le(&[0; 4], 4, 1, &[], &mut []).unwrap();
}

#[test]
fn bad_f32le_gathers_name_the_culprit_and_write_nothing() {
    // 4 records of 3 f32 and 2 more bytes: stride 14, length 3·14 + 12 = 54.
    let src = source(4, 3, 3);
    let buf = le_records(&src, 4, 3, 3, 14);
    let bytes = &buf[1..1 + 54];
    let sentinel = f32::from_bits(0x7fc0_1234);
    let cases: [(usize, usize, &[u32], usize, Error); 7] = [
        (
            14,
            0,
            &[0],
            0,
            Error::InvalidArgument {
                what: "gather: cols must be at least 1",
            },
        ),
        // A stride given in values (3) instead of bytes (14).
        (
            3,
            3,
            &[0],
            3,
            Error::InvalidArgument {
                what: "F32Le rows: the stride is in bytes and must be at least 4·cols \
                       (each row's f32 values; rows may not overlap)",
            },
        ),
        (
            11,
            3,
            &[0],
            3,
            Error::InvalidArgument {
                what: "F32Le rows: the stride is in bytes and must be at least 4·cols \
                       (each row's f32 values; rows may not overlap)",
            },
        ),
        (
            14,
            usize::MAX / 2,
            &[0],
            0,
            Error::Overflow {
                what: "F32Le rows: 4·cols bytes",
            },
        ),
        (
            14,
            3,
            &[0, 1],
            5,
            Error::ShapeMismatch {
                what: "",
                expected: (2, 3),
                found: (1, 5),
            },
        ),
        (
            14,
            3,
            &[0, 1, 4],
            9,
            Error::RowOutOfRange {
                index: 2,
                row: 4,
                rows: 4,
            },
        ),
        // One byte short of the last record's values: 3 rows.
        (
            14,
            3,
            &[2, 3],
            6,
            Error::RowOutOfRange {
                index: 1,
                row: 3,
                rows: 3,
            },
        ),
    ];
    for (i, (stride, cols, rows, dst_len, want)) in cases.into_iter().enumerate() {
        let src = if i == 6 { &bytes[..53] } else { bytes };
        let mut dst = vec![sentinel; dst_len];
        let e = gather_rows_f32le(src, stride, cols, rows, &mut dst).unwrap_err();
        assert!(same_error(e, want), "case {i}: {e:?} != {want:?}");
        assert!(dst.iter().all(|x| x.to_bits() == sentinel.to_bits()));
    }
    // The last record fits exactly.
    let mut dst = [sentinel; 3];
    gather_rows_f32le(bytes, 14, 3, &[3], &mut dst).unwrap();
    assert_eq!(dst, [3000.0, 3001.0, 3002.0]);
}

#[test]
fn a_dataset_of_f32le_records_gathers_and_checks_in_bytes() {
    // 5 records of 2 f32, a label byte and a pad byte: 10 bytes, from an odd address.
    let mut buf = [0u8; 1 + 50];
    for r in 0..5 {
        let rec = &mut buf[1 + 10 * r..][..10];
        rec[..4].copy_from_slice(&(r as f32).to_le_bytes());
        rec[4..8].copy_from_slice(&(-(r as f32) - 0.5).to_le_bytes());
        rec[8] = (r % 3) as u8;
    }
    let bytes = &buf[1..];
    let data = Dataset {
        x: Features::F32Le {
            data: bytes,
            stride: 10,
        },
        y: Labels::ClassesU8 {
            data: &bytes[8..],
            stride: 10,
        },
        len: 5,
    };
    data.check(2, 3).unwrap();
    let (mut x, mut labels) = ([f32::NAN; 6], [u32::MAX; 3]);
    let mut batch = Batch {
        x: &mut x,
        y: &mut [],
        labels: &mut labels,
    };
    let (xg, target) = data.gather(&[4, 0, 2], 2, 3, &mut batch).unwrap();
    assert_eq!(xg, [4.0, -4.5, 0.0, -0.5, 2.0, -2.5]);
    assert!(matches!(target, microprop::Target::Classes(&[1, 0, 2])));

    // check: a stride in values, a source one byte short, d0 that overflows 4·d0.
    let with = |stride: usize, len: usize| Dataset {
        x: Features::F32Le {
            data: &bytes[..len],
            stride,
        },
        ..data
    };
    let e = with(2, 50).check(2, 3).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { what } if what.contains("in bytes")),
        "{e:?}"
    );
    let e = with(10, 47).check(2, 3).unwrap_err();
    assert_eq!(
        e,
        Error::BufferTooSmall {
            what: "Dataset::x (F32Le, in bytes) holds fewer than len rows",
            needed: 48,
            len: 47
        }
    );
    let e = data.check(usize::MAX / 2, 3).unwrap_err();
    assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
    // gather refuses the same without writing.
    let mut batch = Batch {
        x: &mut x,
        y: &mut [],
        labels: &mut labels,
    };
    let e = with(10, 47).gather(&[4], 2, 3, &mut batch).unwrap_err();
    assert_eq!(
        e,
        Error::RowOutOfRange {
            index: 0,
            row: 4,
            rows: 4
        }
    );
    assert_eq!(x, [4.0, -4.5, 0.0, -0.5, 2.0, -2.5]);
    assert_eq!(labels, [1, 0, 2]);
}

/// Welford's running mean and variance in f64 (an order and algorithm of its own, not
/// the two passes of `Standardize::fit`): the population (ddof 0) mean and std.
fn welford(values: impl Iterator<Item = f32>) -> (f64, f64) {
    let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    for v in values {
        let v = f64::from(v);
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    (mean, (m2 / n).sqrt())
}

/// The three kinds of source over the same values `vals` (rows of `cols` values every
/// `stride`): f32, bytes (`vals` must then be bytes times `scale`) and unaligned
/// little-endian f32.
struct Sources {
    f32s: Vec<f32>,
    bytes: Vec<u8>,
    le: Vec<u8>,
}

#[test]
fn standardize_fit_matches_an_f64_reference_for_every_source() {
    let mut rng = rng(5);
    for (n, cols, stride) in [(1, 1, 1), (2, 3, 3), (9, 4, 6), (50, 13, 13), (300, 7, 9)] {
        let scale = 0.375f32;
        let bytes: Vec<u8> = (0..n * stride).map(|_| rng.random()).collect();
        let s = Sources {
            f32s: (0..n * stride)
                .map(|i| {
                    // Columns of different centres and spreads; column 1 constant.
                    let c = i % stride;
                    if c == 1 {
                        -2.5
                    } else {
                        rng.random_range(-1.0f32..1.0) * (c as f32 + 0.5) * 10.0 + 100.0 * c as f32
                    }
                })
                .collect(),
            bytes,
            le: Vec::new(),
        };
        let mut le = vec![0xEE; 1 + n * 4 * stride];
        for (i, v) in s.f32s.iter().enumerate() {
            le[1 + 4 * i..][..4].copy_from_slice(&v.to_le_bytes());
        }
        let s = Sources { le, ..s };
        // Rows: every row, then a shuffled subset with a repeat.
        let all: Vec<u32> = (0..n as u32).collect();
        let some: Vec<u32> = (0..n.div_ceil(2))
            .map(|_| rng.random_range(0..n as u32))
            .collect();
        for rows in [&all, &some] {
            let sources = [
                Features::F32 {
                    data: &s.f32s,
                    stride,
                },
                Features::U8 {
                    data: &s.bytes,
                    stride,
                    scale,
                },
                Features::F32Le {
                    data: &s.le[1..],
                    stride: 4 * stride,
                },
            ];
            for (k, x) in sources.into_iter().enumerate() {
                let value = |r: u32, c: usize| {
                    let i = r as usize * stride + c;
                    if k == 1 {
                        f32::from(s.bytes[i]) * scale
                    } else {
                        s.f32s[i]
                    }
                };
                let (mut mean, mut std) = (vec![f32::NAN; cols], vec![f32::NAN; cols]);
                let st = Standardize::fit(x, cols, rows, &mut mean, &mut std).unwrap();
                assert_eq!(st.cols(), cols);
                for c in 0..cols {
                    let (m, sd) = welford(rows.iter().map(|&r| value(r, c)));
                    let what = format!("n {n} cols {cols} source {k} rows {} col {c}", rows.len());
                    assert!(
                        common::ulp_diff(st.mean()[c], m as f32) <= 1,
                        "{what}: mean {} vs {m}",
                        st.mean()[c]
                    );
                    if sd != 0.0 {
                        assert!(
                            common::ulp_diff(st.std()[c], sd as f32) <= 1,
                            "{what}: std {} vs {sd}",
                            st.std()[c]
                        );
                    } else {
                        assert_eq!(st.std()[c], 1.0, "{what}: constant column, std {sd}");
                    }
                }
                // apply: (x − mean)/std against f64, within the f32 rounding of x − mean.
                let mut batch = vec![0.0f32; rows.len() * cols];
                for (i, &r) in rows.iter().enumerate() {
                    for c in 0..cols {
                        batch[i * cols + c] = value(r, c);
                    }
                }
                let before = batch.clone();
                st.apply(&mut batch).unwrap();
                for (i, (&got, &v)) in batch.iter().zip(&before).enumerate() {
                    let c = i % cols;
                    let (m, sd) = (f64::from(st.mean()[c]), f64::from(st.std()[c]));
                    let want = (f64::from(v) - m) / sd;
                    let tol = 2.0
                        * f64::from(f32::EPSILON)
                        * ((f64::from(v).abs() + m.abs()) / sd + want.abs());
                    assert!(
                        got.is_finite() && (f64::from(got) - want).abs() <= tol,
                        "{got} vs {want}"
                    );
                }
                // The constant column: centred to exactly 0.
                if cols > 1 && k != 1 {
                    assert_eq!((st.mean()[1], st.std()[1]), (-2.5, 1.0));
                    assert!(batch.iter().skip(1).step_by(cols).all(|&v| v == 0.0));
                }
            }
        }
    }
}

#[test]
fn standardize_keeps_constant_and_vanishing_columns_finite() {
    // Column 0: all zeros; column 1: a subnormal spread (std rounds below
    // f32::MIN_POSITIVE); column 2: huge values of one sign; column 3: ±1e38.
    let tiny = f32::from_bits(1);
    #[rustfmt::skip]
    let x = [
        0.0, 0.0, 3e38, 1e38,
        0.0, tiny, 3e38, -1e38,
        0.0, 0.0, 3e38, 1e38,
    ];
    let (mut mean, mut std) = ([0.0f32; 4], [0.0f32; 4]);
    let st = Standardize::fit(
        Features::F32 {
            data: &x,
            stride: 4,
        },
        4,
        &[0, 1, 2],
        &mut mean,
        &mut std,
    )
    .unwrap();
    assert_eq!(st.mean()[..3], [0.0, 0.0, 3e38]);
    assert_eq!(st.std()[..3], [1.0, 1.0, 1.0]);
    assert!(st.mean()[3].is_finite() && st.std()[3].is_finite() && st.std()[3] > 9e37);
    let mut b = x;
    st.apply(&mut b).unwrap();
    assert!(b.iter().all(|v| v.is_finite()), "{b:?}");
    assert_eq!([b[0], b[4], b[8], b[2]], [0.0; 4]);
    // One row: every column constant.
    let (mut mean, mut std) = ([0.0f32; 4], [0.0f32; 4]);
    let st = Standardize::fit(
        Features::F32 {
            data: &x,
            stride: 4,
        },
        4,
        &[1],
        &mut mean,
        &mut std,
    )
    .unwrap();
    assert_eq!(st.std(), [1.0; 4]);
    let mut b = [x[4], x[5], x[6], x[7]];
    st.apply(&mut b).unwrap();
    assert_eq!(b, [0.0; 4]);
}

#[test]
fn standardize_refuses_bad_input_and_writes_nothing() {
    let x: Vec<f32> = (0..20).map(|i| i as f32).collect(); // 5 rows of 4
    let mut nan = x.clone();
    nan[3 * 4 + 2] = f32::NAN;
    nan[4 * 4] = f32::INFINITY;
    let le: Vec<u8> = nan.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = [1u8; 20];
    let f = |data| Features::F32 { data, stride: 4 };
    let sentinel = f32::from_bits(0x7fc0_4321);
    // (source, cols, rows, mean.len(), std.len(), the error)
    type Case<'a> = (Features<'a>, usize, &'a [u32], usize, usize, Error);
    let cases: Vec<Case<'_>> = vec![
        (
            f(&x),
            4,
            &[],
            4,
            4,
            Error::InvalidArgument {
                what: "Standardize::fit: no rows (the statistics of nothing are undefined)",
            },
        ),
        (
            f(&x),
            0,
            &[0],
            0,
            0,
            Error::InvalidArgument {
                what: "gather: cols must be at least 1",
            },
        ),
        (
            f(&x),
            5,
            &[0],
            5,
            5,
            Error::InvalidArgument {
                what: "gather: stride must be at least cols (rows may not overlap)",
            },
        ),
        (
            f(&x),
            4,
            &[0, 5],
            4,
            4,
            Error::RowOutOfRange {
                index: 1,
                row: 5,
                rows: 5,
            },
        ),
        (
            f(&x),
            4,
            &[0],
            3,
            4,
            Error::ShapeMismatch {
                what: "",
                expected: (1, 4),
                found: (1, 3),
            },
        ),
        (
            f(&x),
            4,
            &[0],
            4,
            5,
            Error::ShapeMismatch {
                what: "",
                expected: (1, 4),
                found: (1, 5),
            },
        ),
        (
            Features::U8 {
                data: &bytes,
                stride: 4,
                scale: f32::INFINITY,
            },
            4,
            &[0],
            4,
            4,
            Error::NonFinite {
                what: "Standardize::fit: x",
            },
        ),
        // The first non-finite value in the order of the rows given: row 4 before row 3.
        (
            f(&nan),
            4,
            &[0, 4, 3],
            4,
            4,
            Error::NonFiniteAt {
                what: "Standardize::fit: x",
                row: 4,
                col: 0,
            },
        ),
        (
            Features::F32Le {
                data: &le,
                stride: 16,
            },
            4,
            &[3, 4],
            4,
            4,
            Error::NonFiniteAt {
                what: "Standardize::fit: x",
                row: 3,
                col: 2,
            },
        ),
        (
            Features::F32Le {
                data: &le,
                stride: 4,
            },
            4,
            &[0],
            4,
            4,
            Error::InvalidArgument {
                what: "F32Le rows: the stride is in bytes and must be at least 4·cols \
                       (each row's f32 values; rows may not overlap)",
            },
        ),
    ];
    for (i, (x, cols, rows, ml, sl, want)) in cases.into_iter().enumerate() {
        let (mut mean, mut std) = (vec![sentinel; ml], vec![sentinel; sl]);
        let e = Standardize::fit(x, cols, rows, &mut mean, &mut std).unwrap_err();
        assert!(same_error(e, want), "case {i}: {e:?} != {want:?}");
        assert!(
            mean.iter()
                .chain(&std)
                .all(|v| v.to_bits() == sentinel.to_bits()),
            "case {i} wrote"
        );
    }
    // Only the chosen rows are scanned: rows 0–2 are clean.
    let (mut mean, mut std) = ([0.0f32; 4], [0.0f32; 4]);
    Standardize::fit(f(&nan), 4, &[2, 0, 1], &mut mean, &mut std).unwrap();
    assert_eq!(mean, [4.0, 5.0, 6.0, 7.0]);

    // Statistics given: validated.
    let m = [0.0f32, 1.0];
    assert!(Standardize::new(&m, &[1.0, 2.0]).is_ok());
    for (mean, std) in [
        (&[][..], &[][..]),
        (&m[..], &[1.0][..]),
        (&m[..], &[1.0, 0.0][..]),
        (&m[..], &[1.0, -1.0][..]),
        (&m[..], &[1.0, f32::from_bits(1)][..]),
        (&m[..], &[1.0, f32::NAN][..]),
        (&[f32::INFINITY, 0.0][..], &[1.0, 1.0][..]),
    ] {
        assert!(Standardize::new(mean, std).is_err(), "{mean:?} {std:?}");
    }
    // apply: whole rows only, nothing written otherwise.
    let st = Standardize::new(&m, &[1.0, 2.0]).unwrap();
    let mut b = [sentinel; 3];
    assert_eq!(
        st.apply(&mut b),
        Err(Error::PartialRow {
            what: "Standardize::apply: x (rows of cols values)",
            len: 3,
            row: 2
        })
    );
    assert!(b.iter().all(|v| v.to_bits() == sentinel.to_bits()));
    let mut b = [1.0, 1.0, 2.0, 5.0];
    st.apply(&mut b).unwrap();
    assert_eq!(b, [1.0, 0.0, 2.0, 2.0]);
    st.apply(&mut []).unwrap();
}

#[test]
fn gather_labels_from_bytes_halfwords_and_words() {
    // Interleaved records of 3 features and a label, labels taken from offset 3.
    let records: Vec<u8> = (0..5u8).flat_map(|r| [r, r, r, 10 + r]).collect();
    let mut dst = [u32::MAX; 4];
    gather_labels(&records[3..], 4, &[4, 0, 2, 2], &mut dst).unwrap();
    assert_eq!(dst, [14, 10, 12, 12]);
    let words: Vec<u32> = vec![7, 70_000, u32::MAX];
    gather_labels(&words, 1, &[2, 1, 0, 1], &mut dst).unwrap();
    assert_eq!(dst, [u32::MAX, 70_000, 7, 70_000]);
    let halves: Vec<u16> = vec![5, 6];
    let mut two = [0; 2];
    gather_labels(&halves, 1, &[1, 0], &mut two).unwrap();
    assert_eq!(two, [6, 5]);
}

#[test]
fn bad_gathers_name_the_culprit_and_write_nothing() {
    let src = source(4, 5, 3); // 4 rows: length 3·5 + 3 = 18
    assert_eq!(src.len(), 18);
    let bytes = vec![1u8; src.len()];
    let sentinel = f32::from_bits(0x7fc0_1234);
    let untouched = |d: &[f32]| d.iter().all(|x| x.to_bits() == sentinel.to_bits());

    let cases: [(usize, usize, &[u32], usize, Error); 6] = [
        (
            5,
            0,
            &[0],
            0,
            Error::InvalidArgument {
                what: "gather: cols must be at least 1",
            },
        ),
        (
            2,
            3,
            &[0],
            3,
            Error::InvalidArgument {
                what: "gather: stride must be at least cols (rows may not overlap)",
            },
        ),
        (
            5,
            3,
            &[0, 1],
            5,
            Error::ShapeMismatch {
                what: "",
                expected: (2, 3),
                found: (1, 5),
            },
        ),
        (
            5,
            3,
            &[0, 1, 4],
            9,
            Error::RowOutOfRange {
                index: 2,
                row: 4,
                rows: 4,
            },
        ),
        (
            5,
            3,
            &[u32::MAX],
            3,
            Error::RowOutOfRange {
                index: 0,
                row: u32::MAX,
                rows: 4,
            },
        ),
        // The last row fits exactly; one more stride does not.
        (
            6,
            3,
            &[3, 2],
            6,
            Error::RowOutOfRange {
                index: 0,
                row: 3,
                rows: 3,
            },
        ),
    ];
    for (stride, cols, rows, dst_len, want) in cases {
        let mut dst = vec![sentinel; dst_len];
        let e = gather_rows(&src, stride, cols, rows, &mut dst).unwrap_err();
        assert!(same_error(e, want), "{e:?} != {want:?}");
        assert!(untouched(&dst));
        let e = gather_rows_u8(&bytes, stride, cols, rows, 1.0, &mut dst).unwrap_err();
        assert!(same_error(e, want), "{e:?} != {want:?}");
        assert!(untouched(&dst));
    }
    // Row 3 of stride 5 ends at 18 = src.len(): in range.
    let mut dst = [sentinel; 3];
    gather_rows(&src, 5, 3, &[3], &mut dst).unwrap();
    assert_eq!(dst, [3000.0, 3001.0, 3002.0]);

    for scale in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut dst = [sentinel; 3];
        let e = gather_rows_u8(&bytes, 5, 3, &[0], scale, &mut dst).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
        assert!(untouched(&dst));
    }

    let labels = [1u8, 2, 3];
    let mut dst = [u32::MAX; 2];
    let e = gather_labels(&labels, 0, &[0, 1], &mut dst).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    let e = gather_labels(&labels, 1, &[0], &mut dst).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                expected: (1, 1),
                found: (1, 2),
                ..
            }
        ),
        "{e:?}"
    );
    let e = gather_labels(&labels, 1, &[0, 3], &mut dst).unwrap_err();
    assert_eq!(
        e,
        Error::RowOutOfRange {
            index: 1,
            row: 3,
            rows: 3
        }
    );
    let e = gather_labels(&labels, 2, &[1, 2], &mut dst).unwrap_err();
    assert_eq!(
        e,
        Error::RowOutOfRange {
            index: 1,
            row: 2,
            rows: 2
        }
    );
    assert_eq!(dst, [u32::MAX; 2]);
}

/// Equal errors, ignoring a ShapeMismatch's message.
fn same_error(a: Error, b: Error) -> bool {
    match (a, b) {
        (
            Error::ShapeMismatch {
                expected, found, ..
            },
            Error::ShapeMismatch {
                expected: e2,
                found: f2,
                ..
            },
        ) => expected == e2 && found == f2,
        _ => a == b,
    }
}

#[test]
fn errors_display_what_to_fix() {
    let s = Error::NonFiniteAt {
        what: "Standardize::fit: x",
        row: 12,
        col: 7,
    }
    .to_string();
    assert!(
        s.contains("Standardize::fit: x") && s.contains("row 12") && s.contains("column 7"),
        "{s}"
    );
    let s = Error::RowOutOfRange {
        index: 2,
        row: 9,
        rows: 4,
    }
    .to_string();
    assert!(
        s.contains("row index 9") && s.contains("position 2") && s.contains("4 rows"),
        "{s}"
    );
}
