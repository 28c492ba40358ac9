//! safetensors import on arbitrary and mutated files, export round trips.
//!
//! The input picks one of a few networks and either is the file itself, or mutates a
//! valid file of that network (byte overwrites, a cut, an insertion), so that both
//! garbage and nearly valid files reach the parser. Properties: no panic; a refused
//! file leaves the parameters bit for bit as they were; an accepted one gives finite
//! parameters, which export and import back to the same bits; an unmutated file
//! round-trips exactly.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use microprop::Activation::{Identity, Relu, Sigmoid, Tanh};
use microprop::nn::Mlp;

const SENTINEL: f32 = -1234.5;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let nets = [
        Mlp::new(&[1, 1], &[Identity], true),
        Mlp::new(&[2, 3, 1], &[Sigmoid, Sigmoid], true),
        Mlp::new(&[3, 4, 2], &[Tanh, Identity], false),
        Mlp::new(&[5, 7, 6, 3], &[Relu, Tanh, Identity], true),
    ];
    let pick = u.arbitrary::<u8>().unwrap_or(0) as usize % nets.len();
    let net = nets[pick].unwrap();
    let len = Mlp::param_len(net.sizes(), net.has_bias());
    let params: Vec<f32> = (0..len).map(|i| (i as f32 * 0.7).sin()).collect();
    let mut file = vec![0u8; Mlp::safetensors_len(net.sizes(), net.has_bias())];
    net.save_safetensors(&params, &mut file).unwrap();

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
    match net.load_safetensors(&bytes, &mut got) {
        Err(_) => assert!(got.iter().all(|v| v.to_bits() == SENTINEL.to_bits())),
        Ok(()) => {
            assert!(got.iter().all(|v| v.is_finite()));
            if !mutated {
                assert_eq!(got, params);
            }
            let mut again = vec![0u8; file.len()];
            net.save_safetensors(&got, &mut again).unwrap();
            let mut back = vec![SENTINEL; len];
            net.load_safetensors(&again, &mut back).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&got));
        }
    }
});
