//! safetensors import and the saved blob's loader on arbitrary and mutated files, export
//! round trips.
//!
//! The input picks one of a few networks (four `Mlp`s and a small CNN `Net`) and a format
//! (safetensors; for the CNN also the crate's saved blob, `Net::save`/`Net::load`), and
//! either is the file itself, or mutates a valid file of that network (byte overwrites,
//! a cut, an insertion), so that both garbage and nearly valid files reach the parser.
//! Properties: no panic; a refused file leaves the parameters bit for bit as they were;
//! an accepted one gives finite parameters, which export and import back to the same
//! bits; an unmutated file round-trips exactly.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use microprop::Activation::{Identity, Relu, Sigmoid, Tanh};
use microprop::Error;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::{Mlp, Net};

const SENTINEL: f32 = -1234.5;

/// 6 steps of 2 channels: a padded, dilated conv1d, pooling, flatten (the dense layer's
/// columns permuted in safetensors), dense.
const CNN: [Layer; 4] = [
    Layer::Conv1d(Conv1d::new(2, 3, 3).padding(2).dilation(2).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(9, 2)),
];

/// A network and the format its file is in.
#[derive(Clone, Copy)]
enum Case {
    Mlp(Mlp<'static>),
    Net(Net<'static>),
    /// The saved blob of a `Net`.
    Blob(Net<'static>),
}

impl Case {
    fn param_len(&self) -> usize {
        match self {
            Case::Mlp(m) => Mlp::param_len(m.sizes(), m.has_bias()),
            Case::Net(n) | Case::Blob(n) => n.param_len(),
        }
    }

    fn save(&self, params: &[f32]) -> Vec<u8> {
        let mut file = vec![
            0u8;
            match self {
                Case::Mlp(m) => Mlp::safetensors_len(m.sizes(), m.has_bias()),
                Case::Net(n) => n.safetensors_len(),
                Case::Blob(n) => n.saved_len(),
            }
        ];
        let written = match self {
            Case::Mlp(m) => m.save_safetensors(params, &mut file),
            Case::Net(n) => n.save_safetensors(params, &mut file),
            Case::Blob(n) => n.save(params, &mut file),
        };
        assert_eq!(written, Ok(file.len()));
        file
    }

    fn load(&self, bytes: &[u8], params: &mut [f32]) -> Result<(), Error> {
        match self {
            Case::Mlp(m) => m.load_safetensors(bytes, params),
            Case::Net(n) => n.load_safetensors(bytes, params),
            Case::Blob(n) => n.load(bytes, params).map(|_| ()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let cnn = Net::new(Shape::seq(6, 2), &CNN).unwrap();
    let cases = [
        Case::Mlp(Mlp::new(&[1, 1], &[Identity], true).unwrap()),
        Case::Mlp(Mlp::new(&[2, 3, 1], &[Sigmoid, Sigmoid], true).unwrap()),
        Case::Mlp(Mlp::new(&[3, 4, 2], &[Tanh, Identity], false).unwrap()),
        Case::Mlp(Mlp::new(&[5, 7, 6, 3], &[Relu, Tanh, Identity], true).unwrap()),
        Case::Net(cnn),
        Case::Blob(cnn),
    ];
    let pick = u.arbitrary::<u8>().unwrap_or(0) as usize % cases.len();
    let case = cases[pick];
    let len = case.param_len();
    let params: Vec<f32> = (0..len).map(|i| (i as f32 * 0.7).sin()).collect();
    let file = case.save(&params);

    let raw = u.arbitrary::<bool>().unwrap_or(false);
    let mut mutated = false;
    let bytes = if raw {
        mutated = true;
        u.bytes(u.len()).unwrap_or(&[]).to_vec()
    } else {
        let mut f = file.clone();
        for _ in 0..u.int_in_range(0..=4u8).unwrap_or(0) {
            let at = u.int_in_range(0..=f.len()).unwrap_or(0);
            match u.int_in_range(0..=2u8).unwrap_or(0) {
                0 if at < f.len() => f[at] = u.arbitrary().unwrap_or(0),
                1 => f.truncate(at),
                _ => f.insert(at, u.arbitrary().unwrap_or(b' ')),
            }
            mutated = true;
        }
        f
    };

    let mut got = vec![SENTINEL; len];
    match case.load(&bytes, &mut got) {
        Err(_) => assert!(got.iter().all(|v| v.to_bits() == SENTINEL.to_bits())),
        Ok(()) => {
            assert!(got.iter().all(|v| v.is_finite()));
            if !mutated {
                assert_eq!(got, params);
            }
            let again = case.save(&got);
            let mut back = vec![SENTINEL; len];
            case.load(&again, &mut back).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&got));
        }
    }
    // The network-independent checks of the blob never panic either.
    if let Case::Blob(_) = case {
        let _ = Net::saved_info(&bytes);
        let mut storage = [Layer::Flatten; 4];
        let _ = Net::from_saved(&bytes, &mut storage);
    }
});
