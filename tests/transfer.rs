//! The transfer flow of the `transfer` example (issue 18): the vowels CNN pretrained
//! on speakers 1–5, its convolutions exported as safetensors and read back frozen
//! under a fresh nine-speaker head that alone trains. The head reaches 93.5% or more
//! on all nine speakers' test records with seed 0 on the machine the README's numbers
//! come from (94.6% with AVX-512; five seeds: 93.2–96.2%, mean 94.8%); here, on any
//! instruction set, at least 93%. The frozen convolutions come out bit for bit as they
//! went in, and the exported file reads back into the same parameters.
#![cfg(not(miri))]

#[path = "../examples/common/transfer.rs"]
mod transfer;

#[test]
fn pretrain_export_freeze_and_fine_tune_the_head() {
    let dir = std::env::temp_dir().join(format!("microprop-transfer-{}", std::process::id()));
    let path = dir.join("backbone.safetensors");
    let o = transfer::run(0, path.to_str().unwrap(), false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.frozen_untouched);
    assert!(o.pretrained >= 0.95, "pretrained: {}", o.pretrained);
    assert!(o.fine_tuned >= 0.93, "fine-tuned: {}", o.fine_tuned);
    // The file holds the convolutions in PyTorch's layouts: it reads back exactly.
    let net = transfer::BACKBONE_NET;
    let mut p = vec![0.0f32; net.param_len()];
    net.load_safetensors(&o.file, &mut p).unwrap();
    let mut again = vec![0u8; o.file.len()];
    net.save_safetensors(&p, &mut again).unwrap();
    assert_eq!(again, o.file);
}
