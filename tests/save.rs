//! `Mlp::save` / `Mlp::load` / `Mlp::from_saved`: bit-exact round trips, golden bytes
//! that pin the format, networks rebuilt from their blobs, and rejection, with the
//! destination untouched bit for bit, of every single-byte corruption, every truncation,
//! blobs of other networks, non-finite weights and wrong buffer lengths.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::Activation::{self, Identity, Relu, Sigmoid, Tanh};
use microprop::Error;
use microprop::nn::{Mlp, SavedInfo};
use rand::RngExt;

/// A NaN with a payload: no decoded weight can have these bits.
const SENTINEL: f32 = f32::from_bits(0x7FA5_A5A5);
const SENTINEL_BYTE: u8 = 0xA5;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Bitwise CRC-32 (IEEE), independent of the crate's table-driven one.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = u32::MAX;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Recomputes the trailing checksum of a hand-edited blob.
fn reseal(blob: &mut [u8]) {
    let n = blob.len() - 4;
    let crc = crc32(&blob[..n]);
    blob[n..].copy_from_slice(&crc.to_le_bytes());
}

/// `load` into a sentinel-filled buffer; asserts it is untouched when `load` fails.
fn load_sentinel(net: &Mlp, bytes: &[u8]) -> Result<Vec<f32>, Error> {
    let mut params = vec![SENTINEL; Mlp::param_len(net.sizes(), net.has_bias())];
    match net.load(bytes, &mut params) {
        Ok(n) => {
            assert!(n <= bytes.len());
            Ok(params)
        }
        Err(e) => {
            assert!(
                params.iter().all(|p| p.to_bits() == SENTINEL.to_bits()),
                "{e:?}: params written on error"
            );
            Err(e)
        }
    }
}

/// Storage entries past what any blob here needs, each holding a sentinel.
const SPARE: usize = 3;

fn sizes_sentinel(len: usize) -> Vec<usize> {
    (0..len).map(|i| usize::MAX - i).collect()
}

fn acts_sentinel(len: usize) -> Vec<Activation> {
    let all = Activation::ALL;
    (0..len).map(|i| all[(3 * i + 1) % all.len()]).collect()
}

/// A network's shape, owned.
type Shape = (Vec<usize>, Vec<Activation>, bool);

/// `from_saved` into sentinel-filled storage of `sizes_len` and `acts_len` entries:
/// asserts it is untouched when `from_saved` fails, and agrees with `saved_info`;
/// on success, that only the prefixes were written.
fn from_saved_sentinel(bytes: &[u8], sizes_len: usize, acts_len: usize) -> Result<Shape, Error> {
    let mut sizes = sizes_sentinel(sizes_len);
    let mut acts = acts_sentinel(acts_len);
    let info = Mlp::saved_info(bytes);
    match Mlp::from_saved(bytes, &mut sizes, &mut acts) {
        Ok(net) => {
            let shape = (
                net.sizes().to_vec(),
                net.activations().to_vec(),
                net.has_bias(),
            );
            let info = info.expect("from_saved accepted what saved_info rejects");
            assert_eq!(info.layers, net.layers());
            assert_eq!(info.sizes_len(), net.layers() + 1);
            assert_eq!(info.bias, net.has_bias());
            assert_eq!(info.param_len, Mlp::param_len(net.sizes(), net.has_bias()));
            assert_eq!(Mlp::check_saved(bytes), Ok(info.blob_len));
            let l = shape.1.len();
            assert_eq!(sizes[l + 1..], sizes_sentinel(sizes_len)[l + 1..]);
            assert_eq!(acts[l..], acts_sentinel(acts_len)[l..]);
            Ok(shape)
        }
        Err(e) => {
            assert_eq!(
                sizes,
                sizes_sentinel(sizes_len),
                "{e:?}: sizes written on error"
            );
            assert_eq!(
                acts,
                acts_sentinel(acts_len),
                "{e:?}: acts written on error"
            );
            if !matches!(e, Error::BufferTooSmall { .. }) {
                assert_eq!(info, Err(e), "saved_info and from_saved disagree");
            }
            Err(e)
        }
    }
}

/// [`from_saved_sentinel`] with storage for any blob of up to `max_layers` layers.
fn from_saved_roomy(bytes: &[u8], max_layers: usize) -> Result<Shape, Error> {
    from_saved_sentinel(bytes, max_layers + 1 + SPARE, max_layers + SPARE)
}

fn save_vec(net: &Mlp, params: &[f32]) -> Vec<u8> {
    let mut out = vec![0; Mlp::saved_len(net.sizes(), net.has_bias())];
    assert_eq!(net.save(params, &mut out), Ok(out.len()));
    out
}

/// sizes [2, 1], Sigmoid, bias on, params [1, −2, 0.5]; built by hand from the format
/// table, checksum from Python's `zlib.crc32`.
const GOLDEN_BIAS: [u8; 41] = [
    0x4d, 0x50, 0x52, 0x50, // magic "MPRP"
    0x01, 0x00, // version 1
    0x01, 0x00, // flags: bias
    0x01, 0x00, 0x00, 0x00, // L = 1
    0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // sizes 2, 1
    0x01, // Sigmoid
    0x03, 0x00, 0x00, 0x00, // P = 3
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f, // 1, -2, 0.5
    0xe9, 0xbd, 0x8d, 0x79, // CRC-32
];

/// sizes [1, 2, 1], Relu then Identity, no bias, params [−0.0, smallest subnormal,
/// f32::MAX, −1.5]; built like [`GOLDEN_BIAS`].
const GOLDEN_NO_BIAS: [u8; 50] = [
    0x4d, 0x50, 0x52, 0x50, // magic
    0x01, 0x00, // version 1
    0x00, 0x00, // flags: no bias
    0x02, 0x00, 0x00, 0x00, // L = 2
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // sizes 1, 2, 1
    0x02, 0x00, // Relu, Identity
    0x04, 0x00, 0x00, 0x00, // P = 4
    0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, // -0.0, 1e-45
    0xff, 0xff, 0x7f, 0x7f, 0x00, 0x00, 0xc0, 0xbf, // f32::MAX, -1.5
    0xfa, 0x2a, 0x81, 0xbc, // CRC-32
];

fn golden_bias_net() -> Mlp<'static> {
    Mlp::new(&[2, 1], &[Sigmoid], true).unwrap()
}

fn golden_no_bias_net() -> Mlp<'static> {
    Mlp::new(&[1, 2, 1], &[Relu, Identity], false).unwrap()
}

#[test]
fn golden_bytes_pin_the_format() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    for (net, params, golden) in [
        (golden_bias_net(), vec![1.0f32, -2.0, 0.5], &GOLDEN_BIAS[..]),
        (
            golden_no_bias_net(),
            vec![-0.0, f32::from_bits(1), f32::MAX, -1.5],
            &GOLDEN_NO_BIAS[..],
        ),
    ] {
        assert_eq!(save_vec(&net, &params), golden, "format changed");
        let loaded = load_sentinel(&net, golden).unwrap();
        assert_eq!(bits(&loaded), bits(&params));
        assert_eq!(Mlp::check_saved(golden), Ok(golden.len()));
        let shape = from_saved_roomy(golden, 2).unwrap();
        assert_eq!(
            shape,
            (
                net.sizes().to_vec(),
                net.activations().to_vec(),
                net.has_bias()
            )
        );
    }
    assert_eq!(Mlp::SAVE_MAGIC, *b"MPRP");
    assert_eq!(Mlp::SAVE_VERSION, 1);
    assert_eq!(
        [Identity, Sigmoid, Relu, Tanh].map(Activation::save_code),
        [0, 1, 2, 3],
        "activation codes changed"
    );
}

#[test]
fn round_trip_is_bit_exact() {
    let special = [
        0.0,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::from_bits(0x007F_FFFF),
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        1.0,
        -1.0,
    ];
    let mut rng = rng(7);
    let cases: [(&[usize], &[Activation], bool); 6] = [
        (&[1, 1], &[Identity], false),
        (&[2, 1], &[Sigmoid], true),
        (&[3, 5, 2], &[Relu, Tanh], true),
        (&[3, 5, 2], &[Relu, Tanh], false),
        (&[4, 7, 6, 3], &[Tanh, Sigmoid, Identity], true),
        (&[100, 50, 10], &[Sigmoid, Identity], false),
    ];
    for (sizes, acts, bias) in cases {
        let net = Mlp::new(sizes, acts, bias).unwrap();
        let len = Mlp::saved_len(sizes, bias);
        let p = Mlp::param_len(sizes, bias);
        assert_eq!(len, 24 + 5 * (sizes.len() - 1) + 4 * p);
        let mut params = fill(&mut rng, p);
        for (dst, &s) in params.iter_mut().zip(special.iter().cycle()) {
            if rng.random_bool(0.5) {
                *dst = s;
            }
        }
        // `out` longer than needed: the tail stays untouched.
        let mut out = vec![SENTINEL_BYTE; len + 9];
        assert_eq!(net.save(&params, &mut out), Ok(len));
        assert!(out[len..].iter().all(|&b| b == SENTINEL_BYTE));
        let mut back = vec![SENTINEL; p];
        assert_eq!(net.load(&out, &mut back), Ok(len), "trailing bytes ignored");
        assert_eq!(bits(&back), bits(&params), "{sizes:?} bias {bias}");
        assert_eq!(Mlp::check_saved(&out), Ok(len));
        // Save is deterministic and the reloaded weights save to the same bytes.
        let mut again = vec![0; len];
        net.save(&back, &mut again).unwrap();
        assert_eq!(again, out[..len]);
    }
}

/// Every byte of each blob changed to every other value (which covers every single
/// and multi-bit flip inside one byte): `load` and `check_saved` reject it as corrupt,
/// and the destination keeps its sentinel bits.
#[test]
fn every_single_byte_corruption_is_rejected() {
    let mut rng = rng(3);
    let deep = Mlp::new(&[2, 3, 2], &[Tanh, Sigmoid], true).unwrap();
    let deep_blob = save_vec(&deep, &fill(&mut rng, Mlp::param_len(&[2, 3, 2], true)));
    for (net, blob) in [
        (golden_bias_net(), GOLDEN_BIAS.to_vec()),
        (golden_no_bias_net(), GOLDEN_NO_BIAS.to_vec()),
        (deep, deep_blob),
    ] {
        for i in 0..blob.len() {
            // Every other value of the byte; under Miri (memory safety, not coverage)
            // every single-bit flip.
            let values: Vec<u8> = if cfg!(miri) {
                (0..8).map(|b| blob[i] ^ (1 << b)).collect()
            } else {
                (0..=255u8).filter(|&v| v != blob[i]).collect()
            };
            for v in values {
                let mut bad = blob.clone();
                bad[i] = v;
                let e = load_sentinel(&net, &bad).unwrap_err();
                assert!(
                    matches!(e, Error::Corrupt { .. }),
                    "byte {i} = {v:#04x}: {e:?}"
                );
                assert_eq!(Mlp::check_saved(&bad), Err(e));
                assert_eq!(from_saved_roomy(&bad, 2), Err(e));
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let net = Mlp::new(&[3, 4, 2], &[Relu, Identity], true).unwrap();
    let mut rng = rng(4);
    let blob = save_vec(&net, &fill(&mut rng, Mlp::param_len(&[3, 4, 2], true)));
    for len in 0..blob.len() {
        let e = load_sentinel(&net, &blob[..len]).unwrap_err();
        match e {
            Error::Corrupt { what } => assert!(what.contains("truncated"), "{len}: {what}"),
            e => panic!("{len}: {e:?}"),
        }
        assert_eq!(Mlp::check_saved(&blob[..len]), Err(e));
        assert_eq!(from_saved_roomy(&blob[..len], 2), Err(e));
    }
    assert!(load_sentinel(&net, &blob).is_ok());
    assert!(from_saved_roomy(&blob, 2).is_ok());
}

#[test]
fn blob_of_another_network_is_rejected() {
    const SIZES: [usize; 3] = [3, 4, 2];
    let net = Mlp::new(&SIZES, &[Relu, Identity], true).unwrap();
    let others: [(&[usize], &[Activation], bool, &str); 5] = [
        (&[3, 5, 2], &[Relu, Identity], true, "sizes"),
        (&[2, 4, 3], &[Relu, Identity], true, "sizes"),
        (&[3, 2], &[Relu], true, "layer count"),
        (&[3, 4, 2], &[Relu, Identity], false, "bias"),
        (&[3, 4, 2], &[Tanh, Identity], true, "activations"),
    ];
    for (sizes, acts, bias, differs) in others {
        let other = Mlp::new(sizes, acts, bias).unwrap();
        let blob = save_vec(&other, &vec![0.5; Mlp::param_len(sizes, bias)]);
        assert_eq!(Mlp::check_saved(&blob), Ok(blob.len()), "intact blob");
        match load_sentinel(&net, &blob).unwrap_err() {
            Error::WrongNetwork { what } => assert!(what.contains(differs), "{what}"),
            e => panic!("{sizes:?} {acts:?} {bias}: {e:?}"),
        }
        // Also when the caller passes a fixed-size region sized for its own network.
        let mut region = vec![0xFF; Mlp::saved_len(&SIZES, true)];
        let n = blob.len().min(region.len());
        region[..n].copy_from_slice(&blob[..n]);
        let e = load_sentinel(&net, &region).unwrap_err();
        if blob.len() <= region.len() {
            assert!(matches!(e, Error::WrongNetwork { .. }), "{e:?}");
        } else {
            assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
        }
    }
}

#[test]
fn wrong_params_length_is_rejected() {
    let net = golden_bias_net();
    for n in [0, 2, 4] {
        let mut out = [SENTINEL_BYTE; 64];
        let e = net.save(&vec![1.0; n], &mut out).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { found: (1, f), .. } if f == n));
        assert!(out.iter().all(|&b| b == SENTINEL_BYTE));

        let mut params = vec![SENTINEL; n];
        let e = net.load(&GOLDEN_BIAS, &mut params).unwrap_err();
        assert!(matches!(
            e,
            Error::ShapeMismatch {
                expected: (1, 3),
                ..
            }
        ));
        assert!(params.iter().all(|p| p.to_bits() == SENTINEL.to_bits()));
    }
}

#[test]
fn short_out_buffer_gets_nothing_written() {
    let net = golden_bias_net();
    for len in 0..GOLDEN_BIAS.len() {
        let mut out = vec![SENTINEL_BYTE; len];
        assert_eq!(
            net.save(&[1.0, -2.0, 0.5], &mut out),
            Err(Error::BufferTooSmall {
                what: "out (Mlp::save needs Mlp::saved_len bytes)",
                needed: GOLDEN_BIAS.len(),
                len,
            })
        );
        assert!(out.iter().all(|&b| b == SENTINEL_BYTE), "{len}");
    }
}

#[test]
fn non_finite_weights_are_rejected() {
    let net = golden_bias_net();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, SENTINEL] {
        // Save refuses them, so a good blob is never replaced by an unloadable one.
        let mut out = [SENTINEL_BYTE; 41];
        let e = net.save(&[1.0, bad, 0.5], &mut out).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
        assert!(out.iter().all(|&b| b == SENTINEL_BYTE));

        // A blob carrying one with a valid checksum (not from `save`) is refused too.
        let mut blob = GOLDEN_BIAS;
        blob[29..33].copy_from_slice(&bad.to_le_bytes());
        reseal(&mut blob);
        let e = load_sentinel(&net, &blob).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
        assert_eq!(Mlp::check_saved(&blob), Err(e));
        assert_eq!(from_saved_roomy(&blob, 1), Err(e));
    }
}

/// Invalid header fields with a valid checksum (a writer bug, or another format) are
/// each named.
#[test]
fn invalid_header_fields_are_named() {
    let net = golden_bias_net();
    let cases: [(usize, u8, &str); 8] = [
        (0, b'X', "magic"),
        (4, 3, "version"), // (2 is Net's format: a v1 header read as v2 fails elsewhere)
        (6, 3, "flag"),
        (8, 0, "layer count"),
        (12, 0, "size is 0"),
        (20, 4, "activation code"),
        (21, 4, "parameter count"),
        (37, 0, "checksum"),
    ];
    for (at, v, what) in cases {
        let mut blob = GOLDEN_BIAS;
        blob[at] = v;
        if what != "checksum" {
            reseal(&mut blob);
        }
        match load_sentinel(&net, &blob).unwrap_err() {
            Error::Corrupt { what: w } => assert!(w.contains(what), "{at}: {w}"),
            e => panic!("{at}: {e:?}"),
        }
        assert!(matches!(
            from_saved_roomy(&blob, 1),
            Err(Error::Corrupt { .. })
        ));
    }
    // Sizes whose parameter count overflows usize, and an absurd layer count: rejected
    // without reading past the end.
    let blob = build(true, &[2, 1, u32::MAX, u32::MAX], &[0, 0, 0], 3, &[0.0; 3]);
    match Mlp::check_saved(&blob).unwrap_err() {
        Error::Corrupt { what } => assert!(what.contains("overflows"), "{what}"),
        e => panic!("{e:?}"),
    }
    let blob = build(true, &[2, 1], &[1], 3, &[0.0; 3]);
    assert_eq!(
        Mlp::check_saved(&blob),
        Ok(GOLDEN_BIAS.len()),
        "build() is right"
    );
    let mut blob = blob;
    blob[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut blob);
    match Mlp::check_saved(&blob).unwrap_err() {
        Error::Corrupt { what } => assert!(what.contains("layer count"), "{what}"),
        e => panic!("{e:?}"),
    }
}

/// A blob with arbitrary header fields and a valid checksum, written field by field.
fn build(bias: bool, sizes: &[u32], acts: &[u8], count: u32, params: &[f32]) -> Vec<u8> {
    let mut b = b"MPRP".to_vec();
    b.extend(1u16.to_le_bytes());
    b.extend(u16::from(bias).to_le_bytes());
    b.extend((sizes.len() as u32 - 1).to_le_bytes());
    sizes.iter().for_each(|d| b.extend(d.to_le_bytes()));
    b.extend(acts);
    b.extend(count.to_le_bytes());
    params.iter().for_each(|p| b.extend(p.to_le_bytes()));
    b.extend([0; 4]);
    reseal(&mut b);
    b
}

#[test]
fn saved_len_is_const_and_saturates() {
    const SIZES: [usize; 3] = [2, 3, 1];
    static BUF: [u8; Mlp::saved_len(&SIZES, true)] = [0; Mlp::saved_len(&SIZES, true)];
    assert_eq!(BUF.len(), 24 + 5 * 2 + 4 * 13);
    assert_eq!(Mlp::saved_len(&[usize::MAX, 2], false), usize::MAX);
    assert_eq!(Mlp::saved_len(&[1 << 16, 1 << 16], false), usize::MAX); // P > u32::MAX
    #[cfg(target_pointer_width = "64")]
    {
        // A valid network whose layer size does not fit the format's u32.
        let sizes = [1usize << 32, 1];
        assert_eq!(Mlp::saved_len(&sizes, false), usize::MAX);
        let net = Mlp::new(&sizes, &[Identity], false).unwrap();
        let mut out = [SENTINEL_BYTE; 8];
        let e = net.save(&[], &mut out).unwrap_err();
        assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
        assert!(out.iter().all(|&b| b == SENTINEL_BYTE));
    }
}

#[test]
fn error_messages_say_what_to_do() {
    let corrupt = load_sentinel(&golden_bias_net(), &GOLDEN_BIAS[..40]).unwrap_err();
    let msg = corrupt.to_string();
    assert!(
        msg.contains("truncated") && msg.contains("nothing was loaded"),
        "{msg}"
    );
    let wrong = load_sentinel(&golden_no_bias_net(), &GOLDEN_BIAS).unwrap_err();
    let msg = wrong.to_string();
    assert!(
        msg.contains("layer count") && msg.contains("nothing was loaded"),
        "{msg}"
    );
}

/// save → saved_info → from_saved → load rebuilds the network: the same shape, the same
/// parameters, bit-identical forward outputs. Every activation, with and without bias.
#[test]
fn from_saved_rebuilds_the_network() {
    let mut rng = rng(11);
    let mut cases: Vec<(Vec<usize>, Vec<Activation>, bool)> = vec![
        (vec![1, 1], vec![Identity], false),
        (vec![4, 7, 6, 3], vec![Tanh, Sigmoid, Identity], true),
        (vec![5, 9, 2], vec![Relu, Sigmoid], false),
    ];
    for &a in Activation::ALL {
        for bias in [false, true] {
            cases.push((vec![3, 5, 2], vec![a, Identity], bias));
            cases.push((vec![2, 4], vec![a], bias));
        }
    }
    for (sizes, acts, bias) in cases {
        let ctx = format!("{sizes:?} {acts:?} bias {bias}");
        let net = Mlp::new(&sizes, &acts, bias).unwrap();
        let params = fill(&mut rng, Mlp::param_len(&sizes, bias));
        let mut blob = save_vec(&net, &params);
        blob.extend([0xFF; 7]); // the rest of a flash page

        let info: SavedInfo = Mlp::saved_info(&blob).unwrap();
        assert_eq!(
            (info.layers, info.bias, info.param_len, info.blob_len),
            (acts.len(), bias, params.len(), blob.len() - 7),
            "{ctx}"
        );
        // Storage of exactly the size saved_info asks for, and larger.
        for spare in [0, SPARE] {
            let shape =
                from_saved_sentinel(&blob, info.sizes_len() + spare, info.layers + spare).unwrap();
            assert_eq!(shape, (sizes.clone(), acts.clone(), bias), "{ctx}");
        }
        let (mut st_sizes, mut st_acts) = (vec![0; info.sizes_len()], vec![Identity; info.layers]);
        let rebuilt = Mlp::from_saved(&blob, &mut st_sizes, &mut st_acts).unwrap();
        let mut back = vec![SENTINEL; info.param_len];
        assert_eq!(rebuilt.load(&blob, &mut back), Ok(info.blob_len), "{ctx}");
        assert_eq!(bits(&back), bits(&params), "{ctx}");

        let n = 5;
        let x: Vec<f32> = fill(&mut rng, n * sizes[0])
            .iter()
            .map(|v| 4.0 * v)
            .collect();
        let d_out = sizes[sizes.len() - 1];
        let mut ws = vec![0.0; Mlp::forward_workspace_len(&sizes, n)];
        let (mut want, mut got) = (vec![f32::NAN; n * d_out], vec![f32::NAN; n * d_out]);
        net.forward(&params, &x, &mut want, &mut ws).unwrap();
        rebuilt.forward(&back, &x, &mut got, &mut ws).unwrap();
        assert_eq!(bits(&got), bits(&want), "{ctx}");
    }
}

/// Storage too short for the blob's network: `BufferTooSmall` naming the buffer and the
/// length it needs, nothing written, for every too-short length.
#[test]
fn from_saved_with_too_small_storage_errors_and_writes_nothing() {
    let net = Mlp::new(&[3, 4, 4, 2], &[Relu, Tanh, Identity], true).unwrap();
    let mut rng = rng(12);
    let blob = save_vec(&net, &fill(&mut rng, Mlp::param_len(net.sizes(), true)));
    for sizes_len in 0..=6 {
        for acts_len in 0..=5 {
            let r = from_saved_sentinel(&blob, sizes_len, acts_len);
            match r {
                Ok(shape) => {
                    assert!(sizes_len >= 4 && acts_len >= 3);
                    assert_eq!(shape.0, [3, 4, 4, 2]);
                }
                Err(Error::BufferTooSmall { what, needed, len }) if sizes_len < 4 => {
                    assert!(what.starts_with("sizes"), "{what}");
                    assert_eq!((needed, len), (4, sizes_len));
                }
                Err(Error::BufferTooSmall { what, needed, len }) => {
                    assert!(acts_len < 3);
                    assert!(what.starts_with("acts"), "{what}");
                    assert_eq!((needed, len), (3, acts_len));
                }
                Err(e) => panic!("{sizes_len} {acts_len}: {e:?}"),
            }
        }
    }
    // The blob is checked first: a corrupt one is reported as such, whatever the storage.
    let e = from_saved_sentinel(&blob[..blob.len() - 1], 0, 0).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    let msg = from_saved_sentinel(&blob, 2, 3).unwrap_err().to_string();
    assert!(msg.contains("sizes") && msg.contains('4'), "{msg}");
}
