//! Pretrain on the desktop, fine-tune elsewhere: the `vowels` CNN trained on five of the
//! nine speakers, its convolutions exported as safetensors, then loaded frozen under a
//! fresh nine-speaker head that alone trains, on every training record.
//!
//! 1. Pretrain Conv1d(12→32, k3, pad 1)–ReLU–Conv1d(32→32, k3, pad 1)–ReLU–MaxPool(2)–
//!    Flatten–Dense(448→5) on the training records of speakers 1–5 (labels 0–4, 150
//!    records): Adam lr 1e-3, batch 32, He initialisation, 100 epochs.
//! 2. Export the convolutions (the layers before the head) as a safetensors file,
//!    PyTorch's layouts, `target/vowels_backbone.safetensors` (or the path given).
//! 3. Load them into the same convolutions under a fresh Dense(448→9), frozen
//!    (`Net::freeze(4)`: 4,041 parameters train, with Adam state for those alone and a
//!    gradient buffer of one layer), and train the head on all 270 training records:
//!    Adam lr 1e-3, batch 32, 100 epochs.
//! 4. Test on all 370 test records of the nine speakers.
//!
//! The firmware (`examples/cortex-m4`) runs step 3 from the same file with the frozen
//! convolutions in flash; `tests/transfer.rs` runs this flow.
//!
//! Run: `cargo run --release --example transfer` (optionally `-- SEED [PATH]`).

#[path = "common/transfer.rs"]
mod transfer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let path = args
        .next()
        .unwrap_or_else(|| "target/vowels_backbone.safetensors".into());
    println!("microprop transfer: the vowels CNN, seed {seed}");
    let o = transfer::run(seed, &path, true)?;
    println!("exported the convolutions: {path} ({} bytes)", o.file.len());
    assert!(
        o.frozen_untouched,
        "the frozen convolutions are read, never written"
    );
    println!(
        "pretrained on 5 speakers: {:.1}% on their test records; head fine-tuned on 9: \
         {:.1}% on all 370 test records",
        100.0 * o.pretrained,
        100.0 * o.fine_tuned
    );
    Ok(())
}
