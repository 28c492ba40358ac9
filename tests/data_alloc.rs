//! A minimal counting global allocator proves that weight initialisation, shuffling,
//! batching, gathering and the metrics never allocate, on success and on error. Counts
//! are per thread, so tests running in parallel do not disturb each other.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use microprop::SplitMix64;
use microprop::data::{
    Features, Standardize, batches, gather_labels, gather_rows, gather_rows_f32le, gather_rows_u8,
    identity_permutation, shuffle,
};
use microprop::init::{Init, init_weights};
use microprop::metrics::{
    PROBABILITY_THRESHOLD, accuracy, accuracy_at, accuracy_values, argmax, argmax_rows, confusion,
    confusion_at, predict_classes,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

#[test]
fn init_data_and_metrics_allocate_nothing() {
    let (n, cols, d) = if cfg!(miri) {
        (20, 5, 3)
    } else {
        (1000, 64, 10)
    };
    let mut rng = StdRng::seed_from_u64(1);
    let mut w = vec![0.0f32; cols * d];
    let mut perm = vec![0u32; n];
    let src: Vec<f32> = (0..n * cols).map(|i| i as f32).collect();
    let bytes: Vec<u8> = (0..n * cols).map(|i| i as u8).collect();
    let le: Vec<u8> = src.iter().flat_map(|v| v.to_le_bytes()).collect();
    let labels_u8: Vec<u8> = (0..n).map(|i| (i % d) as u8).collect();
    let batch = 7;
    let mut xb = vec![0.0f32; batch * cols];
    let mut yb = vec![0u32; batch];
    let out: Vec<f32> = (0..n * d).map(|i| ((i * 37) % 11) as f32).collect();
    let labels: Vec<u32> = (0..n).map(|i| (i % d) as u32).collect();
    let mut pred = vec![0u32; n];
    let mut m = vec![0u32; d * d];
    let bin: Vec<u32> = labels.iter().map(|l| l % 2).collect();
    let (mut mean, mut std) = (vec![0.0f32; cols], vec![0.0f32; cols]);

    let count = common::alloc::count_allocs(|| {
        for &init in Init::ALL {
            init_weights(&mut w, cols, d, init, &mut rng).unwrap();
        }
        identity_permutation(&mut perm).unwrap();
        shuffle(&mut perm, &mut rng);
        shuffle(&mut perm, &mut SplitMix64::new(3));
        for r in batches(n, batch).unwrap() {
            let rows = &perm[r];
            let k = rows.len();
            gather_rows(&src, cols, cols, rows, &mut xb[..k * cols]).unwrap();
            gather_rows_u8(&bytes, cols, cols, rows, 0.5, &mut xb[..k * cols]).unwrap();
            gather_rows_f32le(
                &le[1..],
                4 * cols,
                cols - 1,
                rows,
                &mut xb[..k * (cols - 1)],
            )
            .unwrap();
            gather_labels(&labels_u8, 1, rows, &mut yb[..k]).unwrap();
        }
        assert!(batches(n, batch).unwrap().drop_last().count() <= n);
        let st = Standardize::fit(
            Features::F32Le {
                data: &le,
                stride: 4 * cols,
            },
            cols,
            &perm,
            &mut mean,
            &mut std,
        )
        .unwrap();
        st.apply(&mut xb).unwrap();
        assert!(argmax(&out[..d]).is_some());
        argmax_rows(&out, d, &mut pred).unwrap();
        assert!(accuracy(&out, d, &labels).unwrap() <= n);
        confusion(&out, d, &labels, &mut m).unwrap();
        // One output: 2 classes.
        let one = &out[..n];
        predict_classes(one, 1, PROBABILITY_THRESHOLD, &mut pred).unwrap();
        assert!(accuracy_at(one, 1, &bin, PROBABILITY_THRESHOLD).unwrap() <= n);
        confusion_at(one, 1, &bin, PROBABILITY_THRESHOLD, &mut m[..4]).unwrap();
        assert!(accuracy_values(one, 1, &out[n..2 * n], 0.0).unwrap() <= n);

        // Errors too: they carry only static strings and numbers.
        assert!(init_weights(&mut w, 0, d, Init::HeNormal, &mut rng).is_err());
        assert!(batches(n, 0).is_err());
        assert!(gather_rows(&src, cols, cols, &[n as u32], &mut xb[..cols]).is_err());
        assert!(gather_rows_u8(&bytes, cols, cols, &[0], f32::NAN, &mut xb[..cols]).is_err());
        assert!(gather_labels(&labels_u8, 1, &[0, 1], &mut yb[..1]).is_err());
        assert!(gather_rows_f32le(&le, cols, cols, &[0], &mut xb[..cols]).is_err());
        let mut bad = [f32::NAN; 2];
        let f32s = Features::F32 {
            data: &bad,
            stride: 1,
        };
        assert!(Standardize::fit(f32s, 1, &[1], &mut mean[..1], &mut std[..1]).is_err());
        assert!(Standardize::new(&bad, &[0.0, 1.0]).is_err());
        bad[0] = 0.0;
        assert!(
            Standardize::new(&bad[..1], &[1.0])
                .unwrap()
                .apply(&mut xb[..3])
                .is_ok()
        );
        assert!(accuracy(&out, d, &[d as u32; 1]).is_err());
        assert!(confusion(&out, d, &labels, &mut m[..1]).is_err());
    });
    assert_eq!(count, 0);
}
