//! safetensors export and import: the layout PyTorch reads, files as other writers lay
//! them out, and every kind of bad file refused with the destination untouched; for
//! `Mlp` and for `Net`s of convolutions, pooling, flatten and dense layers (each tensor
//! checked against the test's own conversion to PyTorch's layout, and a forward pass in
//! PyTorch's `N × C × H × W` layout over the file's tensors against microprop's).
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::reference::{act_f64, out_size};
use microprop::Activation::{Identity, Relu, Sigmoid, Tanh};
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::Net;
use microprop::{Error, nn::Mlp};

const SENTINEL: f32 = -1234.5;

fn params(sizes: &[usize], bias: bool) -> Vec<f32> {
    (0..Mlp::param_len(sizes, bias))
        .map(|i| (i as f32 * 0.37).sin())
        .collect()
}

fn save(net: &Mlp<'_>, p: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; Mlp::safetensors_len(net.sizes(), net.has_bias())];
    assert_eq!(net.save_safetensors(p, &mut out), Ok(out.len()));
    out
}

/// The header JSON of a file.
fn header(file: &[u8]) -> &str {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    std::str::from_utf8(&file[8..8 + n]).unwrap()
}

/// A file from `header` JSON and data bytes, as any writer lays it out.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f
}

fn le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `load_safetensors` refuses `bytes` with an error `want` accepts, params untouched.
#[track_caller]
fn refuses(net: &Mlp<'_>, bytes: &[u8], want: impl Fn(&Error) -> bool) {
    let mut p = vec![SENTINEL; Mlp::param_len(net.sizes(), net.has_bias())];
    match net.load_safetensors(bytes, &mut p) {
        Err(e) => assert!(want(&e), "unexpected {e:?}: {e}"),
        Ok(()) => panic!("accepted a bad file"),
    }
    assert!(
        p.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
        "params written"
    );
}

#[test]
fn round_trip_for_many_shapes() {
    for (sizes, acts) in [
        (&[1usize, 1][..], &[Identity][..]),
        (&[2, 3, 1], &[Sigmoid, Sigmoid]),
        (&[64, 32, 10], &[Relu, Identity]),
        (&[5, 7, 6, 3], &[Relu, Tanh, Identity]),
        (&[17, 1, 33], &[Tanh, Sigmoid]),
    ] {
        for bias in [false, true] {
            let net = Mlp::new(sizes, acts, bias).unwrap();
            let p = params(sizes, bias);
            let f = save(&net, &p);
            assert_eq!(
                (8 + header(&f).len()) % 8,
                0,
                "the data starts at a multiple of 8"
            );
            let mut back = vec![SENTINEL; p.len()];
            net.load_safetensors(&f, &mut back).unwrap();
            assert_eq!(back, p, "{sizes:?} bias {bias}");
        }
    }
}

#[test]
fn layout_is_torch_linear() {
    // W (in × out = 2 × 3) row-major, then b: the tensor is Wᵀ, out × in.
    let net = Mlp::new(&[2, 3], &[Identity], true).unwrap();
    let p = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, 0.25, 0.125];
    let f = save(&net, &p);
    assert_eq!(
        header(&f).trim_end(),
        r#"{"__metadata__":{"format":"pt"},"layers.0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},"layers.0.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}}"#
    );
    let n = f.len() - 36;
    assert_eq!(
        &f[n..],
        le(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 0.5, 0.25, 0.125])
    );
    // The header is padded with spaces so the data starts at a multiple of 8.
    assert_eq!(n % 8, 0);
}

#[test]
fn reads_files_laid_out_by_other_writers() {
    // Python's writer sorts the tensors (bias before weight), pads with spaces, and may
    // carry other metadata; whitespace anywhere is JSON.
    let net = Mlp::new(&[2, 3], &[Identity], true).unwrap();
    let h = r#"{ "__metadata__" : { "format" : "pt", "note": "x\"y\u00e9" },
        "layers.0.bias": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
        "layers.0.weight": {"shape": [3, 2], "data_offsets": [12, 36], "dtype": "F32"} }   "#;
    let data = le(&[0.5, 0.25, 0.125, 1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let mut p = vec![0.0; 9];
    net.load_safetensors(&file(h, &data), &mut p).unwrap();
    assert_eq!(p, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, 0.25, 0.125]);
    // No metadata at all, no biases.
    let net = Mlp::new(&[1, 2], &[Identity], false).unwrap();
    let h = r#"{"layers.0.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}"#;
    let mut p = vec![0.0; 2];
    net.load_safetensors(&file(h, &le(&[3.0, 4.0])), &mut p)
        .unwrap();
    assert_eq!(p, [3.0, 4.0]);
}

#[test]
fn truncated_or_flipped_files_never_load_silently_wrong() {
    let net = Mlp::new(&[3, 4, 2], &[Tanh, Identity], true).unwrap();
    let f = save(&net, &params(&[3, 4, 2], true));
    for len in 0..f.len() {
        refuses(&net, &f[..len], |e| matches!(e, Error::Corrupt { .. }));
    }
    let mut longer = f.clone();
    longer.push(0);
    refuses(&net, &longer, |e| matches!(e, Error::Corrupt { .. }));
    // Every single-byte change of the header: refused, or (a change of whitespace, a
    // digit that still fits) loaded whole; never a panic.
    let n = 8 + header(&f).len();
    // (Every 7th byte under Miri, which is slow and only needs the code paths.)
    for i in (0..n).step_by(if cfg!(miri) { 7 } else { 1 }) {
        for b in [b' ', b'"', b'{', b'}', b'[', b'0', b'9', b'x', 0xFF] {
            let mut g = f.clone();
            g[i] = b;
            let mut p = vec![SENTINEL; Mlp::param_len(net.sizes(), true)];
            if net.load_safetensors(&g, &mut p).is_err() {
                assert!(p.iter().all(|v| v.to_bits() == SENTINEL.to_bits()));
            }
        }
    }
}

#[test]
fn mismatched_files_name_the_tensor() {
    let small = Mlp::new(&[2, 3, 1], &[Tanh, Identity], true).unwrap();
    let f = save(&small, &params(&[2, 3, 1], true));
    let tensor = |l, t: &'static str| move |e: &Error| matches!(e, Error::Tensor { layer, tensor, .. } if *layer == l && *tensor == t);
    // Another input size: the first weight's shape.
    let wider = Mlp::new(&[4, 3, 1], &[Tanh, Identity], true).unwrap();
    refuses(&wider, &f, tensor(0, "weight"));
    // A deeper network: layer 2 is missing.
    let deeper = Mlp::new(&[2, 3, 1, 1], &[Tanh, Tanh, Identity], true).unwrap();
    refuses(&deeper, &f, tensor(2, "weight"));
    // A shallower one, or one without biases: tensors it has no place for.
    let shallow = Mlp::new(&[2, 3], &[Tanh], true).unwrap();
    refuses(&shallow, &f, |e| matches!(e, Error::WrongNetwork { .. }));
    let no_bias = Mlp::new(&[2, 3, 1], &[Tanh, Identity], false).unwrap();
    refuses(&no_bias, &f, |e| matches!(e, Error::WrongNetwork { .. }));
    // A network with biases reading a file without them.
    let g = save(&no_bias, &params(&[2, 3, 1], false));
    refuses(&small, &g, tensor(0, "bias"));
    let e = Error::Tensor {
        layer: 1,
        tensor: "bias",
        what: "missing from the file",
    };
    assert_eq!(
        e.to_string(),
        "safetensors tensor `layers.1.bias`: missing from the file; nothing was loaded"
    );
}

#[test]
fn bad_files_are_refused() {
    let net = Mlp::new(&[1, 2], &[Identity], true).unwrap();
    let w = r#""layers.0.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}"#;
    let b = r#""layers.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}"#;
    let data = le(&[1.0, 2.0, 3.0, 4.0]);
    let ok = format!("{{{w},{b}}}");
    let mut p = vec![0.0; 4];
    net.load_safetensors(&file(&ok, &data), &mut p).unwrap();
    let corrupt = |e: &Error| matches!(e, Error::Corrupt { .. });
    let tensor = |e: &Error| matches!(e, Error::Tensor { .. });
    // Duplicated tensor, overlap, hole, past the end, trailing bytes.
    refuses(&net, &file(&format!("{{{w},{w},{b}}}"), &data), corrupt);
    let overlap = b.replace("[8,16]", "[4,12]");
    refuses(
        &net,
        &file(&format!("{{{w},{overlap}}}"), &data[..12]),
        corrupt,
    );
    let hole = b.replace("[8,16]", "[12,20]");
    refuses(
        &net,
        &file(&format!("{{{w},{hole}}}"), &le(&[0.0; 5])),
        corrupt,
    );
    let past = b.replace("[8,16]", "[16,24]");
    refuses(&net, &file(&format!("{{{w},{past}}}"), &data), corrupt);
    let mut more = data.clone();
    more.extend([0; 4]);
    refuses(&net, &file(&ok, &more), corrupt);
    // Other dtypes, shapes, spans.
    refuses(&net, &file(&ok.replacen("F32", "F16", 1), &data), tensor);
    refuses(&net, &file(&ok.replace("[2,1]", "[1,2]"), &data), tensor);
    refuses(&net, &file(&ok.replace("[2,1]", "[2,1,1]"), &data), tensor);
    let wide = w.replace("[0,8]", "[0,12]");
    refuses(&net, &file(&format!("{{{wide},{b}}}"), &data), tensor);
    // Malformed JSON and header lengths.
    for h in [
        "",
        "[]",
        "{",
        "{}x",
        r#"{"layers.0.weight"}"#,
        r#"{"a":1}"#,
        "{\"\u{1}\":1}",
    ] {
        refuses(&net, &file(h, &data), |e| {
            matches!(
                e,
                Error::Corrupt { .. } | Error::WrongNetwork { .. } | Error::Tensor { .. }
            )
        });
    }
    let mut huge = file(&ok, &data);
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    refuses(&net, &huge, corrupt);
    let nested = format!("{{\"__metadata__\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    refuses(&net, &file(&nested, &data), corrupt);
    // A leading zero, a negative number, a fraction.
    refuses(&net, &file(&ok.replace("[0,8]", "[00,8]"), &data), corrupt);
    refuses(&net, &file(&ok.replace("[0,8]", "[-0,8]"), &data), corrupt);
    refuses(&net, &file(&ok.replace("[0,8]", "[0.0,8]"), &data), corrupt);
    // Non-finite values.
    refuses(&net, &file(&ok, &le(&[1.0, f32::NAN, 3.0, 4.0])), |e| {
        matches!(e, Error::NonFinite { .. })
    });
    // A params buffer of the wrong length.
    let mut short = vec![SENTINEL; 3];
    assert!(matches!(
        net.load_safetensors(&file(&ok, &data), &mut short),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn export_refuses_what_import_would() {
    let net = Mlp::new(&[1, 2], &[Identity], true).unwrap();
    let len = Mlp::safetensors_len(&[1, 2], true);
    let mut out = vec![7u8; len];
    let nan = [1.0, f32::NAN, 0.0, 0.0];
    assert!(matches!(
        net.save_safetensors(&nan, &mut out),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        net.save_safetensors(&[0.0; 4], &mut out[..len - 1]),
        Err(Error::BufferTooSmall { .. })
    ));
    assert!(matches!(
        net.save_safetensors(&[0.0; 3], &mut out),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(out.iter().all(|&b| b == 7));
    // Sizes the format cannot hold.
    assert_eq!(Mlp::safetensors_len(&[1; 34], true), usize::MAX);
    assert_eq!(Mlp::safetensors_len(&[usize::MAX / 2, 3], true), usize::MAX);
    let deep = Mlp::new(&[1; 34], &[Identity; 33], false).unwrap();
    assert!(matches!(
        deep.save_safetensors(&[0.0; 33], &mut out),
        Err(Error::InvalidArgument { .. })
    ));
}

// ---- Net: convolutions, pooling, flatten ----

/// The vowels kind at small size: every convolution feature, then a dense layer after a
/// flatten of `3 × 6` (its columns permuted).
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

/// A 2-D network on a non-square image with a non-square kernel, flatten then dense.
const IMAGE: [Layer; 5] = [
    Layer::Conv2d(Conv2d::new(2, 4, (3, 2)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Conv2d(
        Conv2d::new(4, 6, (2, 1))
            .stride((1, 2))
            .groups(2)
            .bias(false)
            .act(Sigmoid),
    ),
    Layer::Flatten,
    Layer::Dense(Dense::new(2 * 2 * 6, 3).act(Tanh)),
];
const IMAGE_INPUT: Shape = Shape::image(6, 8, 2);

/// Average pooling, global pooling (no permutation after it), dilation in 2-D.
const GLOBAL: [Layer; 5] = [
    Layer::Conv2d(Conv2d::new(3, 6, (2, 2)).dilation((2, 1)).groups(3)),
    Layer::AvgPool2d(Pool2d::new((1, 2))),
    Layer::AvgPool1d(Pool::new(2).stride(1)),
    Layer::GlobalAvgPool,
    Layer::Dense(Dense::new(6, 2).bias(false)),
];
const GLOBAL_INPUT: Shape = Shape::image(3, 7, 3);

/// Flatten first, twice in a row, on an image: the dense layer's columns permuted.
const FLAT_FIRST: [Layer; 4] = [
    Layer::Flatten,
    Layer::Flatten,
    Layer::Dense(Dense::new(24, 5).act(Relu)),
    Layer::Dense(Dense::new(5, 2)),
];
const FLAT_FIRST_INPUT: Shape = Shape::image(2, 4, 3);

fn nets() -> [(Shape, &'static [Layer]); 4] {
    [
        (VOWELS_INPUT, &VOWELS),
        (IMAGE_INPUT, &IMAGE),
        (GLOBAL_INPUT, &GLOBAL),
        (FLAT_FIRST_INPUT, &FLAT_FIRST),
    ]
}

fn net_params(net: &Net<'_>, seed: f32) -> Vec<f32> {
    (0..net.param_len())
        .map(|i| ((i as f32 + seed) * 0.731).sin() * 0.8)
        .collect()
}

fn save_net(net: &Net<'_>, p: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; net.safetensors_len()];
    assert_eq!(net.save_safetensors(p, &mut out), Ok(out.len()));
    out
}

/// A tensor in PyTorch's layout: its name, shape and row-major values.
type Tensor = (String, Vec<usize>, Vec<f32>);

/// The shape a run of `Flatten`s just before layer `l` flattened, if any.
fn flattened_before(net: &Net<'_>, l: usize) -> Option<Shape> {
    let mut k = l;
    while k > 0 && net.layers()[k - 1] == Layer::Flatten {
        k -= 1;
    }
    (k < l).then(|| net.layer_input(k).unwrap())
}

/// The test's own conversion of `params` to PyTorch's tensors, from the layout formulas:
/// `nn.Linear.weight[o][i] = W[i][o]` (with `i` in PyTorch's `[ch][y][x]` order after a
/// flatten of `h × w × c`, microprop's `(y·w + x)·c + ch`), and
/// `nn.Conv2d.weight[oc][ci][ky][kx] = W[(ky·kw + kx)·cg + ci][oc]`.
fn torch_tensors(net: &Net<'_>, params: &[f32]) -> Vec<Tensor> {
    let mut out = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        let (w, b) = net.param_ranges(l).unwrap();
        let (w, b) = (&params[w], &params[b]);
        let (shape, values): (Vec<usize>, Vec<f32>) = match *layer {
            Layer::Dense(d) => {
                let (di, dout) = (d.inputs, d.outputs);
                // PyTorch's feature j is microprop's feature perm[j].
                let perm: Vec<usize> = match flattened_before(net, l) {
                    Some(s) => {
                        let mut p = vec![0; di];
                        for ch in 0..s.c {
                            for y in 0..s.h {
                                for x in 0..s.w {
                                    p[ch * s.h * s.w + y * s.w + x] = (y * s.w + x) * s.c + ch;
                                }
                            }
                        }
                        p
                    }
                    None => (0..di).collect(),
                };
                let v = (0..dout)
                    .flat_map(|o| perm.iter().map(move |&i| (i, o)))
                    .map(|(i, o)| w[i * dout + o])
                    .collect();
                (vec![dout, di], v)
            }
            Layer::Conv1d(_) | Layer::Conv2d(_) => {
                let (cin, cout, (kh, kw), groups, one_d) = match *layer {
                    Layer::Conv1d(c) => {
                        (c.in_channels, c.out_channels, (1, c.kernel), c.groups, true)
                    }
                    Layer::Conv2d(c) => (c.in_channels, c.out_channels, c.kernel, c.groups, false),
                    _ => unreachable!(),
                };
                let cg = cin / groups;
                let mut v = Vec::new();
                for oc in 0..cout {
                    for ci in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                v.push(w[((ky * kw + kx) * cg + ci) * cout + oc]);
                            }
                        }
                    }
                }
                let shape = if one_d {
                    vec![cout, cg, kw]
                } else {
                    vec![cout, cg, kh, kw]
                };
                (shape, v)
            }
            _ => continue,
        };
        out.push((format!("layers.{l}.weight"), shape, values));
        if !b.is_empty() {
            out.push((format!("layers.{l}.bias"), vec![b.len()], b.to_vec()));
        }
    }
    out
}

/// A file of `tensors` in the given order, laid out as microprop writes it.
fn file_of(tensors: &[Tensor]) -> Vec<u8> {
    let mut h = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let (b, e) = (data.len(), data.len() + 4 * values.len());
        h += &format!(
            r#","{name}":{{"dtype":"F32","shape":[{}],"data_offsets":[{b},{e}]}}"#,
            dims.join(",")
        );
        data.extend(le(values));
    }
    h.push('}');
    while (8 + h.len()) % 8 != 0 {
        h.push(' ');
    }
    file(&h, &data)
}

/// The tensor named `name`.
fn get<'t>(t: &'t [Tensor], name: &str) -> Option<&'t [f32]> {
    t.iter().find(|x| x.0 == name).map(|x| &x.2[..])
}

/// The network's forward pass in f64 over PyTorch tensors `t`, in PyTorch's layout: the
/// batch `x` (microprop's, `n × h × w × c`) transposed to `n × c × h × w`, convolutions
/// and pooling over it, `Flatten` giving `[c][y][x]`, `Linear` as `x·Wᵀ + b`.
fn torch_forward(net: &Net<'_>, t: &[Tensor], x: &[f32], n: usize) -> Vec<f64> {
    let s = net.input();
    // (c, h, w) of each example, and its values channels-first.
    let (mut c, mut h, mut w) = (s.c, s.h, s.w);
    let mut a: Vec<f64> = vec![0.0; x.len()];
    for img in 0..n {
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    a[img * c * h * w + (ch * h + y) * w + xx] =
                        f64::from(x[img * c * h * w + (y * w + xx) * c + ch]);
                }
            }
        }
    }
    for (l, layer) in net.layers().iter().enumerate() {
        let wt = get(t, &format!("layers.{l}.weight"));
        let bias = get(t, &format!("layers.{l}.bias"));
        match *layer {
            Layer::Conv1d(_) | Layer::Conv2d(_) => {
                let (cout, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups, act) = match *layer {
                    Layer::Conv1d(k) => (
                        k.out_channels,
                        (1, k.kernel),
                        (1, k.stride),
                        (0, k.padding),
                        (1, k.dilation),
                        k.groups,
                        k.act,
                    ),
                    Layer::Conv2d(k) => (
                        k.out_channels,
                        k.kernel,
                        k.stride,
                        k.padding,
                        k.dilation,
                        k.groups,
                        k.act,
                    ),
                    _ => unreachable!(),
                };
                let wt = wt.unwrap();
                let (cg, og) = (c / groups, cout / groups);
                let (oh, ow) = (out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw));
                let mut o = vec![0.0; n * cout * oh * ow];
                for img in 0..n {
                    for oc in 0..cout {
                        let g = oc / og;
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let mut z = bias.map_or(0.0, |b| f64::from(b[oc]));
                                for ci in 0..cg {
                                    for ky in 0..kh {
                                        for kx in 0..kw {
                                            let iy = (oy * sh + ky * dh) as isize - ph as isize;
                                            let ix = (ox * sw + kx * dw) as isize - pw as isize;
                                            if iy < 0
                                                || ix < 0
                                                || iy >= h as isize
                                                || ix >= w as isize
                                            {
                                                continue;
                                            }
                                            let (iy, ix) = (iy as usize, ix as usize);
                                            let xi = a[img * c * h * w
                                                + ((g * cg + ci) * h + iy) * w
                                                + ix];
                                            let wi = wt[((oc * cg + ci) * kh + ky) * kw + kx];
                                            z += xi * f64::from(wi);
                                        }
                                    }
                                }
                                o[img * cout * oh * ow + (oc * oh + oy) * ow + ox] =
                                    act_f64(act, z);
                            }
                        }
                    }
                }
                (a, c, h, w) = (o, cout, oh, ow);
            }
            Layer::MaxPool1d(_)
            | Layer::AvgPool1d(_)
            | Layer::MaxPool2d(_)
            | Layer::AvgPool2d(_) => {
                let (max, (kh, kw), (sh, sw)) = match *layer {
                    Layer::MaxPool1d(p) => (true, (1, p.kernel), (1, p.stride)),
                    Layer::AvgPool1d(p) => (false, (1, p.kernel), (1, p.stride)),
                    Layer::MaxPool2d(p) => (true, p.kernel, p.stride),
                    Layer::AvgPool2d(p) => (false, p.kernel, p.stride),
                    _ => unreachable!(),
                };
                let (oh, ow) = (out_size(h, kh, sh, 0, 1), out_size(w, kw, sw, 0, 1));
                let mut o = vec![0.0; n * c * oh * ow];
                for img in 0..n {
                    for ch in 0..c {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let vals = (0..kh)
                                    .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
                                    .map(|(ky, kx)| {
                                        a[img * c * h * w
                                            + (ch * h + oy * sh + ky) * w
                                            + ox * sw
                                            + kx]
                                    });
                                o[img * c * oh * ow + (ch * oh + oy) * ow + ox] = if max {
                                    vals.fold(f64::NEG_INFINITY, f64::max)
                                } else {
                                    vals.sum::<f64>() / (kh * kw) as f64
                                };
                            }
                        }
                    }
                }
                (a, h, w) = (o, oh, ow);
            }
            Layer::GlobalAvgPool => {
                let mut o = vec![0.0; n * c];
                for img in 0..n {
                    for ch in 0..c {
                        let block = &a[img * c * h * w + ch * h * w..][..h * w];
                        o[img * c + ch] = block.iter().sum::<f64>() / (h * w) as f64;
                    }
                }
                (a, h, w) = (o, 1, 1);
            }
            // `nn.Flatten` of N × C × H × W: the features in [c][y][x] order, as stored.
            Layer::Flatten => (c, h, w) = (c * h * w, 1, 1),
            Layer::Dense(d) => {
                let wt = wt.unwrap();
                let mut o = vec![0.0; n * d.outputs];
                for img in 0..n {
                    for j in 0..d.outputs {
                        let z: f64 = (0..d.inputs)
                            .map(|i| f64::from(wt[j * d.inputs + i]) * a[img * d.inputs + i])
                            .sum();
                        o[img * d.outputs + j] =
                            act_f64(d.act, z + bias.map_or(0.0, |b| f64::from(b[j])));
                    }
                }
                (a, c, h, w) = (o, d.outputs, 1, 1);
            }
            _ => panic!("no torch reference for {layer:?}"),
        }
    }
    a
}

fn net_forward(net: &Net<'_>, params: &[f32], x: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; n * net.output().len()];
    let mut ws = vec![0.0; net.forward_workspace_len(n)];
    net.forward(params, x, &mut out, &mut ws).unwrap();
    out
}

#[track_caller]
fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 1e-5 + 1e-5 * w.abs(),
            "{what}: output {i}: {g} vs {w}"
        );
    }
}

/// Every file is exactly the test's own conversion (names, shapes, order, values, header
/// padding), round-trips bit for bit, and PyTorch's forward pass over its tensors gives
/// microprop's outputs.
#[test]
fn net_files_hold_pytorch_tensors_and_round_trip() {
    for (input, layers) in nets() {
        let net = Net::new(input, layers).unwrap();
        let p = net_params(&net, 0.0);
        let f = save_net(&net, &p);
        let tensors = torch_tensors(&net, &p);
        assert_eq!(f, file_of(&tensors), "{layers:?}");
        let mut back = vec![SENTINEL; p.len()];
        net.load_safetensors(&f, &mut back).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&p));

        let n = if cfg!(miri) { 1 } else { 3 };
        let x: Vec<f32> = (0..n * input.len())
            .map(|i| (i as f32 * 0.37).cos())
            .collect();
        let want = torch_forward(&net, &tensors, &x, n);
        assert_close(&net_forward(&net, &p, &x, n), &want, "export");
    }
    // The names skip layers without parameters but keep their indices.
    let net = Net::new(VOWELS_INPUT, &VOWELS).unwrap();
    let f = save_net(&net, &net_params(&net, 0.0));
    let h = header(&f);
    for name in [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "layers.4.weight",
        "layers.4.bias",
    ] {
        assert!(h.contains(&format!("\"{name}\"")), "{name}: {h}");
    }
    assert!(
        h.contains(r#""layers.1.weight":{"dtype":"F32","shape":[6,4,3]"#),
        "{h}"
    );
    assert!(
        h.contains(r#""layers.4.weight":{"dtype":"F32","shape":[4,18]"#),
        "{h}"
    );
    assert!(!h.contains("layers.2") && !h.contains("layers.3"), "{h}");
}

/// A file PyTorch's side writes (its own tensors, in Python's sorted order): imported,
/// microprop's forward pass gives PyTorch's; exported again, the same tensors.
#[test]
fn net_reads_pytorch_tensors() {
    for (input, layers) in nets() {
        let net = Net::new(input, layers).unwrap();
        let mut tensors = torch_tensors(&net, &net_params(&net, 0.0));
        for (k, t) in tensors.iter_mut().enumerate() {
            for (i, v) in t.2.iter_mut().enumerate() {
                *v = ((i * 7 + k * 13) as f32 * 0.29).sin();
            }
        }
        let mut sorted = tensors.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut p = vec![SENTINEL; net.param_len()];
        net.load_safetensors(&file_of(&sorted), &mut p).unwrap();
        let n = if cfg!(miri) { 1 } else { 2 };
        let x: Vec<f32> = (0..n * input.len())
            .map(|i| (i as f32 * 0.53).sin())
            .collect();
        assert_close(
            &net_forward(&net, &p, &x, n),
            &torch_forward(&net, &tensors, &x, n),
            "import",
        );
        assert_eq!(save_net(&net, &p), file_of(&tensors));
    }
}

/// `load_safetensors` of a Net refuses `bytes` with an error `want` accepts, params
/// untouched.
#[track_caller]
fn net_refuses(net: &Net<'_>, bytes: &[u8], want: impl Fn(&Error) -> bool) {
    let mut p = vec![SENTINEL; net.param_len()];
    match net.load_safetensors(bytes, &mut p) {
        Err(e) => assert!(want(&e), "unexpected {e:?}: {e}"),
        Ok(()) => panic!("accepted a bad file"),
    }
    assert!(
        p.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
        "params written"
    );
}

#[test]
fn net_truncated_or_flipped_files_never_load_silently_wrong() {
    let net = Net::new(VOWELS_INPUT, &VOWELS).unwrap();
    let f = save_net(&net, &net_params(&net, 0.0));
    // (Every 97th length and 83rd header byte under Miri, which is slow and only needs
    // the code paths.)
    for len in (0..f.len()).step_by(if cfg!(miri) { 97 } else { 1 }) {
        net_refuses(&net, &f[..len], |e| matches!(e, Error::Corrupt { .. }));
    }
    let n = 8 + header(&f).len();
    for i in (0..n).step_by(if cfg!(miri) { 83 } else { 1 }) {
        for b in [b' ', b'"', b'{', b'}', b'[', b'0', b'9', b'x', 0xFF] {
            let mut g = f.clone();
            g[i] = b;
            let mut p = vec![SENTINEL; net.param_len()];
            if net.load_safetensors(&g, &mut p).is_err() {
                assert!(p.iter().all(|v| v.to_bits() == SENTINEL.to_bits()));
            }
        }
    }
}

#[test]
fn net_mismatched_files_name_the_tensor() {
    let net = Net::new(VOWELS_INPUT, &VOWELS).unwrap();
    let good = torch_tensors(&net, &net_params(&net, 0.0));
    let tensor = |l: usize, t: &'static str| move |e: &Error| matches!(e, Error::Tensor { layer, tensor, .. } if *layer == l && *tensor == t);
    let edit = |name: &str, shape: Vec<usize>| {
        let mut t = good.clone();
        let x = t.iter_mut().find(|x| x.0 == name).unwrap();
        let numel = shape.iter().product();
        (x.1, x.2) = (shape, vec![0.5; numel]);
        file_of(&t)
    };
    // A kernel of 3 given as 1 × 3 (a Conv2d's shape), out/in swapped, the dense layer's
    // inputs, the bias's length.
    net_refuses(
        &net,
        &edit("layers.1.weight", vec![6, 4, 1, 3]),
        tensor(1, "weight"),
    );
    net_refuses(
        &net,
        &edit("layers.0.weight", vec![3, 8, 3]),
        tensor(0, "weight"),
    );
    net_refuses(
        &net,
        &edit("layers.4.weight", vec![4, 19]),
        tensor(4, "weight"),
    );
    net_refuses(&net, &edit("layers.1.bias", vec![8]), tensor(1, "bias"));
    // Missing tensors.
    let without = |name: &str| {
        file_of(
            &good
                .iter()
                .filter(|x| x.0 != name)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    net_refuses(&net, &without("layers.1.weight"), tensor(1, "weight"));
    net_refuses(&net, &without("layers.4.bias"), tensor(4, "bias"));
    // A tensor for a layer without parameters, past the last layer, or a bias for a
    // convolution without one.
    for extra in ["layers.2.weight", "layers.3.bias", "layers.5.weight"] {
        let mut t = good.clone();
        t.push((extra.to_string(), vec![1], vec![0.0]));
        net_refuses(&net, &file_of(&t), |e| {
            matches!(e, Error::WrongNetwork { .. })
        });
    }
    let no_bias = Net::new(IMAGE_INPUT, &IMAGE).unwrap();
    let mut t = torch_tensors(&no_bias, &net_params(&no_bias, 0.0));
    t.push(("layers.2.bias".to_string(), vec![6], vec![0.0; 6]));
    net_refuses(&no_bias, &file_of(&t), |e| {
        matches!(e, Error::WrongNetwork { .. })
    });
    // Another dtype; a non-finite value.
    let f = file_of(&good);
    let h = header(&f).replacen("F32", "F16", 1);
    net_refuses(&net, &file(&h, &f[8 + h.len()..]), tensor(0, "weight"));
    let mut nan = good.clone();
    nan[3].2[1] = f32::NAN;
    net_refuses(&net, &file_of(&nan), |e| {
        matches!(e, Error::NonFinite { .. })
    });
    // A file of another layer order: an Mlp's file is refused by the CNN.
    let mlp = Mlp::new(&[2, 3, 1], &[Tanh, Identity], true).unwrap();
    let mf = save(&mlp, &params(&[2, 3, 1], true));
    net_refuses(&net, &mf, |e| {
        matches!(e, Error::Tensor { .. } | Error::WrongNetwork { .. })
    });
    // Wrong params length.
    let mut short = vec![SENTINEL; net.param_len() - 1];
    assert!(matches!(
        net.load_safetensors(&f, &mut short),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn net_export_refuses_what_import_would() {
    let net = Net::new(VOWELS_INPUT, &VOWELS).unwrap();
    let len = net.safetensors_len();
    let mut out = vec![7u8; len];
    let mut p = net_params(&net, 0.0);
    assert!(matches!(
        net.save_safetensors(&p, &mut out[..len - 1]),
        Err(Error::BufferTooSmall { .. })
    ));
    assert!(matches!(
        net.save_safetensors(&p[1..], &mut out),
        Err(Error::ShapeMismatch { .. })
    ));
    p[5] = f32::INFINITY;
    assert!(matches!(
        net.save_safetensors(&p, &mut out),
        Err(Error::NonFinite { .. })
    ));
    assert!(out.iter().all(|&b| b == 7));
    // More layers than the format's limit (parameters or not).
    let deep = [Layer::Flatten; 33];
    let deep = [&deep[..], &[Layer::Dense(Dense::new(2, 1))]].concat();
    let net = Net::new(Shape::flat(2), &deep).unwrap();
    assert_eq!(net.safetensors_len(), usize::MAX);
    assert!(matches!(
        net.save_safetensors(&[0.0; 3], &mut out),
        Err(Error::InvalidArgument { .. })
    ));
    let mut p = [SENTINEL; 3];
    assert!(matches!(
        net.load_safetensors(&out, &mut p),
        Err(Error::InvalidArgument { .. })
    ));
}
