//! safetensors export and import: the layout PyTorch reads, files as other writers lay
//! them out, and every kind of bad file refused with the destination untouched.

use microprop::Activation::{Identity, Relu, Sigmoid, Tanh};
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
