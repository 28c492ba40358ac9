//! `Net::save` / `Net::load` / `Net::from_saved` (format version 2, layers of any kind):
//! bit-exact round trips of CNNs, golden bytes that pin the format, networks rebuilt from
//! their blobs, version-1 blobs read as all-dense networks (and all-dense version-2 blobs
//! read by `Mlp`), and rejection, with the destination untouched bit for bit, of every
//! single-byte corruption, every truncation, blobs of other networks, unknown codes and
//! storage too short.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::Activation::{self, Identity, Relu, Sigmoid, Tanh};
use microprop::Error;
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::{Mlp, Net, SavedInfo};

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

fn net(input: Shape, layers: &[Layer]) -> Net<'_> {
    Net::new(input, layers).unwrap()
}

fn save_vec(net: &Net, params: &[f32]) -> Vec<u8> {
    let mut out = vec![0; net.saved_len()];
    assert_eq!(net.save(params, &mut out), Ok(out.len()));
    out
}

/// `load` into a sentinel-filled buffer; asserts it is untouched when `load` fails.
fn load_sentinel(net: &Net, bytes: &[u8]) -> Result<Vec<f32>, Error> {
    let mut params = vec![SENTINEL; net.param_len()];
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

/// Storage entries past what a blob needs, each holding a sentinel layer.
const SPARE: usize = 3;

fn layers_sentinel(len: usize) -> Vec<Layer> {
    (0..len)
        .map(|i| Layer::Dense(Dense::new(usize::MAX - i, 7)))
        .collect()
}

/// `from_saved` into sentinel-filled storage of `len` layers: asserts it is untouched on
/// an error, and agrees with `saved_info` and `check_saved`; on success, that only the
/// prefix was written. Returns the input shape and the layers.
fn from_saved_sentinel(bytes: &[u8], len: usize) -> Result<(Shape, Vec<Layer>), Error> {
    let mut storage = layers_sentinel(len);
    let info = Net::saved_info(bytes);
    assert_eq!(Mlp::saved_info(bytes), info, "Mlp and Net read blobs alike");
    match Net::from_saved(bytes, &mut storage) {
        Ok(net) => {
            let got = (net.input(), net.layers().to_vec());
            let info = info.expect("from_saved accepted what saved_info rejects");
            assert_eq!(info.layers, net.layers().len());
            assert_eq!(info.input, net.input());
            assert_eq!(info.param_len, net.param_len());
            assert_eq!(Net::check_saved(bytes), Ok(info.blob_len));
            assert_eq!(Mlp::check_saved(bytes), Ok(info.blob_len));
            let l = got.1.len();
            assert_eq!(storage[l..], layers_sentinel(len)[l..]);
            Ok(got)
        }
        Err(e) => {
            assert_eq!(
                storage,
                layers_sentinel(len),
                "{e:?}: storage written on error"
            );
            if !matches!(e, Error::BufferTooSmall { .. }) {
                assert_eq!(info, Err(e), "saved_info and from_saved disagree");
                assert_eq!(Net::check_saved(bytes), Err(e));
            }
            Err(e)
        }
    }
}

/// Every kind of layer: conv2d (with groups, over a 1 × len image), a dilated
/// depthwise conv1d, max and average pooling in 1-D and 2-D, flatten and dense.
const EVERY_KIND: [Layer; 8] = [
    Layer::Conv2d(
        Conv2d::new(2, 4, (1, 3))
            .padding((0, 1))
            .groups(2)
            .act(Relu),
    ),
    Layer::Conv1d(
        Conv1d::new(4, 4, 3)
            .padding(2)
            .dilation(2)
            .groups(4)
            .bias(false),
    ),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::AvgPool1d(Pool::new(2).stride(1)),
    Layer::MaxPool2d(Pool2d::new((1, 2)).stride((1, 1))),
    Layer::AvgPool2d(Pool2d::new((1, 2))),
    Layer::Flatten,
    Layer::Dense(Dense::new(12, 5).act(Tanh)),
];
const EVERY_KIND_INPUT: Shape = Shape::image(1, 16, 2);

/// The vowels kind at small size: conv1d, a strided, dilated, grouped conv1d, pooling,
/// flatten, dense.
const VOWELS: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(3, 8, 3).padding(1).act(Relu)),
    Layer::Conv1d(
        Conv1d::new(8, 6, 3)
            .stride(2)
            .padding(1)
            .dilation(2)
            .groups(2)
            .act(Tanh),
    ),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(18, 4)),
];
const VOWELS_INPUT: Shape = Shape::seq(16, 3);

/// An image network ending in global average pooling.
const IMAGE: [Layer; 5] = [
    Layer::Conv2d(
        Conv2d::new(2, 4, (3, 3))
            .padding((1, 1))
            .groups(2)
            .act(Relu),
    ),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Conv2d(
        Conv2d::new(4, 6, (2, 1))
            .stride((1, 2))
            .dilation((2, 1))
            .act(Sigmoid),
    ),
    Layer::GlobalAvgPool,
    Layer::Dense(Dense::new(6, 3).bias(false)),
];
const IMAGE_INPUT: Shape = Shape::image(7, 6, 2);

fn cases() -> [(Shape, &'static [Layer]); 3] {
    [
        (EVERY_KIND_INPUT, &EVERY_KIND),
        (VOWELS_INPUT, &VOWELS),
        (IMAGE_INPUT, &IMAGE),
    ]
}

/// input seq(4, 1); Conv1d(1, 1, 2) ReLU with a bias; MaxPool1d(2, stride 1); Flatten;
/// Dense(2, 1) without bias; params [0.5, −1 | 0.25 | 2, −0.0]. Built by hand from the
/// format table (a Python script, field by field), checksum from Python's `zlib.crc32`.
const GOLDEN: [u8; 244] = [
    0x4d, 0x50, 0x52, 0x50, // magic "MPRP"
    0x02, 0x00, // version 2
    0x00, 0x00, // flags: none
    0x04, 0x00, 0x00, 0x00, // L = 4
    0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, // input h, w, c = 1, 4, 1
    0x02, 0x02, 0x01, 0x00, // Conv1d, Relu, bias
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //   in, out
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, //   kernel (h, w), stride (h, w)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, //   padding (h, w), dilation (h, w)
    0x01, 0x00, 0x00, 0x00, //   groups
    0x04, 0x00, 0x00, 0x00, // MaxPool1d
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   in, out
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, //   kernel (h, w), stride (h, w)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, //   padding (h, w), dilation (h, w)
    0x00, 0x00, 0x00, 0x00, //   groups
    0x09, 0x00, 0x00, 0x00, // Flatten
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   in, out
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, //   kernel (h, w), stride (h, w)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, //   padding (h, w), dilation (h, w)
    0x00, 0x00, 0x00, 0x00, //   groups
    0x01, 0x00, 0x00, 0x00, // Dense, Identity, no bias
    0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //   in, out
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, //   kernel (h, w), stride (h, w)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, //   padding (h, w), dilation (h, w)
    0x00, 0x00, 0x00, 0x00, //   groups
    0x05, 0x00, 0x00, 0x00, // P = 5
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x80,
    0x3e, // conv W (2 x 1): 0.5, -1; bias 0.25
    0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x80, // dense W (2 x 1): 2, -0.0
    0xaf, 0x8d, 0x44, 0x14, // CRC-32
];

const GOLDEN_LAYERS: [Layer; 4] = [
    Layer::Conv1d(Conv1d::new(1, 1, 2).act(Relu)),
    Layer::MaxPool1d(Pool::new(2).stride(1)),
    Layer::Flatten,
    Layer::Dense(Dense::new(2, 1).bias(false)),
];
const GOLDEN_INPUT: Shape = Shape::seq(4, 1);
const GOLDEN_PARAMS: [f32; 5] = [0.5, -1.0, 0.25, 2.0, -0.0];

fn golden_net() -> Net<'static> {
    net(GOLDEN_INPUT, &GOLDEN_LAYERS)
}

#[test]
fn golden_bytes_pin_the_format() {
    let net = golden_net();
    assert_eq!(net.saved_len(), 32 + 48 * 4 + 4 * 5);
    assert_eq!(save_vec(&net, &GOLDEN_PARAMS), GOLDEN, "format changed");
    let loaded = load_sentinel(&net, &GOLDEN).unwrap();
    assert_eq!(bits(&loaded), bits(&GOLDEN_PARAMS));
    let (input, layers) = from_saved_sentinel(&GOLDEN, 4).unwrap();
    assert_eq!((input, &layers[..]), (GOLDEN_INPUT, &GOLDEN_LAYERS[..]));
    assert_eq!(Net::SAVE_VERSION, 2);
    assert_eq!(Mlp::SAVE_VERSION, 1);
    let info = Net::saved_info(&GOLDEN).unwrap();
    assert_eq!(
        (info.version, info.input, info.layers, info.bias, info.mlp),
        (2, GOLDEN_INPUT, 4, true, false)
    );
    assert_eq!((info.param_len, info.blob_len), (5, 244));
}

#[test]
fn cnns_round_trip_bit_for_bit() {
    let special = [0.0, -0.0, f32::from_bits(1), f32::MAX, f32::MIN, 1.0, -1.0];
    let mut rng = rng(21);
    for (input, layers) in cases() {
        let net = net(input, layers);
        let len = net.saved_len();
        assert_eq!(len, 32 + 48 * layers.len() + 4 * net.param_len());
        let mut params = fill(&mut rng, net.param_len());
        for (p, &s) in params.iter_mut().step_by(5).zip(special.iter().cycle()) {
            *p = s;
        }
        // `out` longer than needed: the tail stays untouched.
        let mut out = vec![SENTINEL_BYTE; len + 9];
        assert_eq!(net.save(&params, &mut out), Ok(len));
        assert!(out[len..].iter().all(|&b| b == SENTINEL_BYTE));
        let back = load_sentinel(&net, &out).unwrap();
        assert_eq!(bits(&back), bits(&params), "{layers:?}");
        assert_eq!(Net::check_saved(&out), Ok(len));
        let mut again = vec![0; len];
        net.save(&back, &mut again).unwrap();
        assert_eq!(again, out[..len]);

        // Rebuilt from the blob alone: the same network, the same outputs, bit for bit.
        let info = Net::saved_info(&out).unwrap();
        assert_eq!(
            (info.layers, info.param_len, info.blob_len),
            (layers.len(), params.len(), len)
        );
        for spare in [0, SPARE] {
            let (i, l) = from_saved_sentinel(&out, info.layers + spare).unwrap();
            assert_eq!((i, &l[..]), (input, layers));
        }
        let mut storage = vec![Layer::Flatten; info.layers];
        let rebuilt = Net::from_saved(&out, &mut storage).unwrap();
        let mut reloaded = vec![SENTINEL; info.param_len];
        assert_eq!(rebuilt.load(&out, &mut reloaded), Ok(len));
        let n = 3;
        let x: Vec<f32> = fill(&mut rng, n * input.len());
        let d_out = net.output().len();
        let mut ws = vec![0.0; net.forward_workspace_len(n)];
        let (mut want, mut got) = (vec![f32::NAN; n * d_out], vec![f32::NAN; n * d_out]);
        let small: Vec<f32> = params.iter().map(|p| p.clamp(-1.0, 1.0)).collect();
        net.forward(&small, &x, &mut want, &mut ws).unwrap();
        rebuilt.forward(&small, &x, &mut got, &mut ws).unwrap();
        assert_eq!(bits(&got), bits(&want));
    }
}

/// Every byte of a small version-2 blob changed to every other value (under Miri, every
/// single-bit flip of every third byte): each reader rejects it as corrupt, and the
/// parameters and the layer storage keep their sentinels.
#[test]
fn every_single_byte_corruption_is_rejected() {
    let net = golden_net();
    let blob = GOLDEN.to_vec();
    for i in (0..blob.len()).step_by(if cfg!(miri) { 3 } else { 1 }) {
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
            assert_eq!(from_saved_sentinel(&bad, 4 + SPARE), Err(e));
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let net = golden_net();
    for len in 0..GOLDEN.len() {
        let e = load_sentinel(&net, &GOLDEN[..len]).unwrap_err();
        match e {
            Error::Corrupt { what } => assert!(what.contains("truncated"), "{len}: {what}"),
            e => panic!("{len}: {e:?}"),
        }
        assert_eq!(from_saved_sentinel(&GOLDEN[..len], 4), Err(e));
    }
    assert!(load_sentinel(&net, &GOLDEN).is_ok());
}

#[test]
fn blob_of_another_network_is_rejected() {
    let net = net(VOWELS_INPUT, &VOWELS);
    let with = |l: usize, layer: Layer| {
        let mut v = VOWELS.to_vec();
        v[l] = layer;
        v
    };
    let conv2 = Conv1d::new(8, 6, 3)
        .stride(2)
        .padding(1)
        .dilation(2)
        .act(Tanh);
    let mut longer = with(4, Layer::Dense(Dense::new(24, 4)));
    longer[0] = VOWELS[0];
    let mut deeper = VOWELS.to_vec();
    deeper[4] = Layer::Dense(Dense::new(18, 4).act(Relu));
    deeper.push(Layer::Dense(Dense::new(4, 2)));
    let others: Vec<(Shape, Vec<Layer>, &str)> = vec![
        // Another pooling kind, the same sizes.
        (
            VOWELS_INPUT,
            with(2, Layer::AvgPool1d(Pool::new(2))),
            "kinds",
        ),
        // A longer input (17 steps: the dense layer is 24 wide).
        (Shape::seq(17, 3), longer, "input shape"),
        // One group instead of two: every shape is the same, the parameters are not.
        (VOWELS_INPUT, with(1, Layer::Conv1d(conv2)), "sizes"),
        (
            VOWELS_INPUT,
            with(4, Layer::Dense(Dense::new(18, 4).bias(false))),
            "bias",
        ),
        (
            VOWELS_INPUT,
            with(
                0,
                Layer::Conv1d(Conv1d::new(3, 8, 3).padding(1).act(Sigmoid)),
            ),
            "activations",
        ),
        (VOWELS_INPUT, deeper, "layer count"),
    ];
    for (input, layers, differs) in others {
        let Ok(other) = Net::new(input, &layers) else {
            panic!("{layers:?} does not fit {input:?}");
        };
        let blob = save_vec(&other, &vec![0.5; other.param_len()]);
        assert_eq!(Net::check_saved(&blob), Ok(blob.len()), "intact blob");
        match load_sentinel(&net, &blob) {
            Err(Error::WrongNetwork { what }) => assert!(what.contains(differs), "{what}"),
            r => panic!("{input:?} {layers:?}: {r:?}"),
        }
    }
    // An Mlp's version-1 blob, and a CNN's blob read by an Mlp.
    let mlp = Mlp::new(&[48, 4], &[Identity], true).unwrap();
    let mut v1 = vec![0; Mlp::saved_len(mlp.sizes(), true)];
    mlp.save(&vec![0.5; 48 * 4 + 4], &mut v1).unwrap();
    assert!(matches!(
        load_sentinel(&net, &v1),
        Err(Error::WrongNetwork { .. })
    ));
    let cnn = save_vec(&net, &vec![0.5; net.param_len()]);
    let mut p = vec![SENTINEL; 48 * 4 + 4];
    assert!(matches!(
        mlp.load(&cnn, &mut p),
        Err(Error::WrongNetwork { .. })
    ));
    assert!(p.iter().all(|v| v.to_bits() == SENTINEL.to_bits()));
}

/// Offset of layer `l`'s record in a version-2 blob.
const fn record(l: usize) -> usize {
    24 + 48 * l
}

/// Invalid header fields and layer records with a valid checksum (a writer bug, or a
/// build from the future): each is `Corrupt`, named, and nothing is written.
#[test]
fn invalid_records_are_corrupt_and_named() {
    let net = golden_net();
    let u32_at =
        |at: usize, v: u32| move |b: &mut Vec<u8>| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let byte_at = |at: usize, v: u8| move |b: &mut Vec<u8>| b[at] = v;
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let field = |l: usize, slot: usize| record(l) + 4 + 4 * slot;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(byte_at(4, 3)), "version"),
        (Box::new(byte_at(6, 1)), "flag"),
        (Box::new(u32_at(8, 0)), "layer count is 0"),
        (Box::new(u32_at(8, 5)), "truncated"),
        (Box::new(u32_at(12, 0)), "input shape has a 0"),
        (Box::new(u32_at(16, 5)), "do not fit"), // a longer input: the dense layer is 2 wide
        // Kind codes: 0 (a zeroed record), one past the last, and an erased byte.
        (Box::new(byte_at(record(1), 0)), "unknown layer kind code"),
        (Box::new(byte_at(record(1), 10)), "unknown layer kind code"),
        (
            Box::new(byte_at(record(3), 0xFF)),
            "unknown layer kind code",
        ),
        // Activation codes: one past Tanh, an erased byte.
        (
            Box::new(byte_at(record(0) + 1, 4)),
            "unknown activation code",
        ),
        (
            Box::new(byte_at(record(3) + 1, 0xFF)),
            "unknown activation code",
        ),
        (Box::new(byte_at(record(3) + 2, 2)), "bias byte"),
        (Box::new(byte_at(record(0) + 3, 1)), "reserved"),
        // An activation or a bias on a kind without parameters.
        (Box::new(byte_at(record(1) + 1, 3)), "without parameters"),
        (Box::new(byte_at(record(2) + 2, 1)), "without parameters"),
        // A field the kind does not have: a dense layer's kernel, a flatten's size, a
        // pool's padding, and a 1-D kind's kernel height.
        (
            Box::new(u32_at(field(3, 2), 1)),
            "fields do not fit its kind",
        ),
        (
            Box::new(u32_at(field(2, 0), 4)),
            "fields do not fit its kind",
        ),
        (
            Box::new(u32_at(field(1, 7), 1)),
            "fields do not fit its kind",
        ),
        (
            Box::new(u32_at(field(0, 2), 2)),
            "fields do not fit its kind",
        ),
        (
            Box::new(u32_at(field(1, 2), 0)),
            "fields do not fit its kind",
        ),
        // Sizes that do not fit each other: dense inputs, conv groups that do not divide,
        // a kernel wider than the input, the dense layer's outputs (the parameter count
        // then differs), the parameter count itself.
        (Box::new(u32_at(field(3, 0), 3)), "do not fit"),
        (Box::new(u32_at(field(0, 10), 0)), "do not fit"),
        (Box::new(u32_at(field(0, 3), 5)), "do not fit"),
        (Box::new(u32_at(field(3, 1), 2)), "parameter count"),
        (Box::new(u32_at(record(4), 6)), "parameter count"),
    ];
    for (edit, what) in cases {
        let mut blob = GOLDEN.to_vec();
        edit(&mut blob);
        reseal(&mut blob);
        let e = load_sentinel(&net, &blob).unwrap_err();
        match e {
            Error::Corrupt { what: w } => assert!(w.contains(what), "{what}: {w}"),
            e => panic!("{what}: {e:?}"),
        }
        assert_eq!(from_saved_sentinel(&blob, 4 + SPARE), Err(e));
    }
    // A NaN weight with a valid checksum.
    let mut blob = GOLDEN.to_vec();
    blob[record(4) + 4..record(4) + 8].copy_from_slice(&f32::NAN.to_le_bytes());
    reseal(&mut blob);
    let e = load_sentinel(&net, &blob).unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e:?}");
    assert_eq!(from_saved_sentinel(&blob, 4), Err(e));
    // Huge fields and layer counts are refused without reading past the end.
    for (at, v) in [
        (8, u32::MAX),
        (12, u32::MAX),
        (field(0, 2), u32::MAX),
        (field(0, 4), u32::MAX),
    ] {
        let mut blob = GOLDEN.to_vec();
        u32_at(at, v)(&mut blob);
        reseal(&mut blob);
        assert!(
            matches!(Net::check_saved(&blob), Err(Error::Corrupt { .. })),
            "{at}"
        );
    }
}

/// A version-1 blob is the all-dense network it describes: `Net::load` reads it into
/// that network, `Net::from_saved` rebuilds it; and a version-2 blob of dense layers
/// with one bias setting is read by `Mlp` (`load`, `from_saved`).
#[test]
fn version_1_blobs_load_as_dense_nets_and_mlps_read_dense_version_2_blobs() {
    let mut rng = rng(23);
    let cases: [(&[usize], &[Activation], bool); 3] = [
        (&[3, 5, 2], &[Relu, Tanh], true),
        (&[4, 1], &[Sigmoid], false),
        (&[2, 3, 3, 1], &[Tanh, Relu, Identity], false),
    ];
    for (sizes, acts, bias) in cases {
        let mlp = Mlp::new(sizes, acts, bias).unwrap();
        let layers: Vec<Layer> = (0..acts.len())
            .map(|l| Layer::Dense(Dense::new(sizes[l], sizes[l + 1]).act(acts[l]).bias(bias)))
            .collect();
        let dense = net(Shape::flat(sizes[0]), &layers);
        let params = fill(&mut rng, dense.param_len());

        let mut v1 = vec![0; Mlp::saved_len(sizes, bias)];
        mlp.save(&params, &mut v1).unwrap();
        assert_eq!(bits(&load_sentinel(&dense, &v1).unwrap()), bits(&params));
        let (input, rebuilt) = from_saved_sentinel(&v1, layers.len()).unwrap();
        assert_eq!((input, &rebuilt[..]), (Shape::flat(sizes[0]), &layers[..]));
        let info: SavedInfo = Net::saved_info(&v1).unwrap();
        assert_eq!(
            (info.version, info.input, info.mlp, info.bias),
            (1, Shape::flat(sizes[0]), true, bias)
        );
        // Another dense network refuses it; so does the same sizes on an image input.
        let mut other = layers.clone();
        other[0] = Layer::Dense(Dense::new(sizes[0], sizes[1]).act(acts[0]).bias(!bias));
        let e = load_sentinel(&net(Shape::flat(sizes[0]), &other), &v1).unwrap_err();
        assert!(
            matches!(e, Error::WrongNetwork { what } if what.contains("bias")),
            "{e:?}"
        );
        let mut flattened = vec![Layer::Flatten];
        flattened.extend(&layers);
        let image = net(Shape::image(1, sizes[0], 1), &flattened);
        assert!(matches!(
            load_sentinel(&image, &v1),
            Err(Error::WrongNetwork { .. })
        ));

        // The same network saved as version 2: Mlp reads it.
        let v2 = save_vec(&dense, &params);
        assert_eq!(&v2[4..6], &[2, 0]);
        let mut back = vec![SENTINEL; params.len()];
        assert_eq!(mlp.load(&v2, &mut back), Ok(v2.len()));
        assert_eq!(bits(&back), bits(&params));
        let info = Mlp::saved_info(&v2).unwrap();
        assert_eq!((info.version, info.mlp, info.bias), (2, true, bias));
        let (mut st_sizes, mut st_acts) = (vec![0; info.sizes_len()], vec![Identity; info.layers]);
        let rebuilt = Mlp::from_saved(&v2, &mut st_sizes, &mut st_acts).unwrap();
        assert_eq!(
            (rebuilt.sizes(), rebuilt.activations(), rebuilt.has_bias()),
            (sizes, acts, bias)
        );
    }
}

/// `Mlp::from_saved` of a network an Mlp cannot hold: `WrongNetwork`, storage untouched.
#[test]
fn mlp_from_saved_refuses_what_an_mlp_cannot_hold() {
    let mixed = [
        Layer::Dense(Dense::new(3, 4).act(Relu)),
        Layer::Dense(Dense::new(4, 2).bias(false)),
    ];
    for (input, layers) in [(VOWELS_INPUT, &VOWELS[..]), (Shape::flat(3), &mixed[..])] {
        let net = net(input, layers);
        let blob = save_vec(&net, &vec![0.5; net.param_len()]);
        let info = Mlp::saved_info(&blob).unwrap();
        assert!(!info.mlp);
        let (mut sizes, mut acts) = ([7usize; 8], [Tanh; 8]);
        let e = Mlp::from_saved(&blob, &mut sizes, &mut acts).unwrap_err();
        assert!(
            matches!(e, Error::WrongNetwork { what } if what.contains("Net::from_saved")),
            "{e:?}"
        );
        assert_eq!((sizes, acts), ([7; 8], [Tanh; 8]));
        assert_eq!(Mlp::check_saved(&blob), Ok(blob.len()));
    }
}

/// Storage too short: `BufferTooSmall` naming `SavedInfo::layers` and the length it
/// needs, nothing written, for every too-short length.
#[test]
fn from_saved_with_too_small_storage_errors_and_writes_nothing() {
    let net = net(IMAGE_INPUT, &IMAGE);
    let blob = save_vec(&net, &vec![0.25; net.param_len()]);
    for len in 0..IMAGE.len() {
        match from_saved_sentinel(&blob, len) {
            Err(Error::BufferTooSmall {
                what,
                needed,
                len: got,
            }) => {
                assert!(what.contains("SavedInfo::layers"), "{what}");
                assert_eq!((needed, got), (IMAGE.len(), len));
            }
            r => panic!("{len}: {r:?}"),
        }
    }
    assert!(from_saved_sentinel(&blob, IMAGE.len()).is_ok());
    // The blob is checked first: a corrupt one is reported as such, whatever the storage.
    let e = from_saved_sentinel(&blob[..blob.len() - 1], 0).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
}

#[test]
fn save_refuses_bad_arguments_and_writes_nothing() {
    let net = golden_net();
    let mut out = vec![SENTINEL_BYTE; GOLDEN.len()];
    for n in [0, 4, 6] {
        let e = net.save(&vec![1.0; n], &mut out).unwrap_err();
        assert!(
            matches!(e, Error::ShapeMismatch { found: (1, f), .. } if f == n),
            "{e:?}"
        );
        let mut params = vec![SENTINEL; n];
        assert!(matches!(
            net.load(&GOLDEN, &mut params),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(params.iter().all(|p| p.to_bits() == SENTINEL.to_bits()));
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut p = GOLDEN_PARAMS;
        p[3] = bad;
        assert!(matches!(
            net.save(&p, &mut out),
            Err(Error::NonFinite { .. })
        ));
    }
    for len in 0..GOLDEN.len() {
        assert_eq!(
            net.save(&GOLDEN_PARAMS, &mut out[..len]),
            Err(Error::BufferTooSmall {
                what: "out (Net::save needs Net::saved_len bytes)",
                needed: GOLDEN.len(),
                len,
            })
        );
    }
    assert!(out.iter().all(|&b| b == SENTINEL_BYTE));
}

#[test]
fn saved_len_is_const_and_saturates() {
    const NET: Net = match Net::new(GOLDEN_INPUT, &GOLDEN_LAYERS) {
        Ok(net) => net,
        Err(_) => panic!(),
    };
    static BUF: [u8; NET.saved_len()] = [0; NET.saved_len()];
    assert_eq!(BUF.len(), GOLDEN.len());
    #[cfg(target_pointer_width = "64")]
    {
        // Valid networks with a field the format's u32 cannot hold.
        let wide = [Layer::Flatten];
        let net = Net::new(Shape::image(1, 1 << 32, 1), &wide).unwrap();
        assert_eq!(net.saved_len(), usize::MAX);
        let pool = [Layer::MaxPool1d(Pool::new(1).stride(1 << 32))];
        let net = Net::new(Shape::seq(3, 1), &pool).unwrap();
        assert_eq!(net.saved_len(), usize::MAX);
        let mut out = [SENTINEL_BYTE; 8];
        assert!(matches!(
            net.save(&[], &mut out),
            Err(Error::Overflow { .. })
        ));
        assert!(out.iter().all(|&b| b == SENTINEL_BYTE));
    }
}
