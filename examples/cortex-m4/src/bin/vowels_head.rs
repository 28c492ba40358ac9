//! A fresh nine-speaker head trained on the Cortex-M4F over the vowels CNN's
//! convolutions, pretrained on the desktop (`cargo run --release --example transfer`,
//! speakers 1–5) and frozen in flash (issue 18, item 4b): `build.rs` reads the exported
//! safetensors file (examples/data/japanese_vowels/backbone.safetensors) with microprop
//! and writes the convolutions' 4,288 parameters as a `static` array, which
//! `Trainer::new_frozen` reads in place. The head's 4,041 parameters, their gradient and
//! Adam's two moments are the RAM that trains; every buffer is a `static` sized by
//! microprop's `const fn`s, within a RAM budget of 96 KiB that the linker enforces
//! (`budget-96k.x`). `cargo run --release --bin vowels_head [--features short]`.
#![no_std]
#![no_main]

#[path = "../vowels.rs"]
mod vowels;

mod backbone {
    include!(concat!(env!("OUT_DIR"), "/backbone.rs"));
}

use core::panic::PanicInfo;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use vowels::{Buffers, CLASSES, HEAD_ONLY, IN, TEST, TRAIN};

/// The batch: the largest whose buffers fit the budget beside the head's state.
const B: usize = 1;
const FROZEN: usize = HEAD_ONLY.frozen_len();
const PARAMS: usize = HEAD_ONLY.param_len() - FROZEN;
const GRADS: usize = HEAD_ONLY.grad_len();
const STATE: usize = microprop::Adam::state_len(HEAD_ONLY.trainable_len());
const WORK: usize = HEAD_ONLY.workspace_len(B);
const EPOCHS: u32 = if cfg!(feature = "short") { 1 } else { 10 };
const SEED: u64 = 0;
const _: () = assert!(
    backbone::FROZEN.len() == FROZEN,
    "the backbone file fits the network"
);

#[entry]
fn main() -> ! {
    static mut PARAMS_BUF: [f32; PARAMS] = [0.0; PARAMS];
    static mut GRADS_BUF: [f32; GRADS] = [0.0; GRADS];
    static mut STATE_BUF: [f32; STATE] = [0.0; STATE];
    static mut WORK_BUF: [f32; WORK] = [0.0; WORK];
    static mut XB: [f32; B * IN] = [0.0; B * IN];
    static mut LABELS: [u32; B] = [0; B];
    static mut OUT: [f32; B * CLASSES] = [0.0; B * CLASSES];
    static mut ORDER: [u32; TRAIN] = [0; TRAIN];
    static mut TEST_ROWS: [u32; TEST] = [0; TEST];

    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
    vowels::start_ticks(&mut cp.SYST);
    let bottom = vowels::paint_stack();
    hprintln!(
        "vowels_head: a fresh head over the frozen pretrained convolutions (flash, {} parameters), {} parameters train, Adam lr {}, batch {}, {} epochs",
        FROZEN,
        PARAMS,
        vowels::LR,
        B,
        EPOCHS
    );
    let f = core::mem::size_of::<f32>();
    vowels::ram_row("head parameters", PARAMS * f);
    vowels::ram_row("gradient (the head's)", GRADS * f);
    vowels::ram_row("Adam's moments (the head's)", STATE * f);
    vowels::ram_row("workspace (Net::workspace_len(B))", WORK * f);
    vowels::ram_row(
        "batch (inputs, labels, outputs)",
        (B * IN + B + B * CLASSES) * 4,
    );
    vowels::ram_row("epoch order and test rows", (TRAIN + TEST) * 4);
    let b = Buffers {
        params: PARAMS_BUF,
        grads: GRADS_BUF,
        state: STATE_BUF,
        workspace: WORK_BUF,
        xb: XB,
        labels: LABELS,
        out: OUT,
        order: ORDER,
        test_rows: TEST_ROWS,
    };
    let acc = vowels::run("vowels_head", HEAD_ONLY, &backbone::FROZEN, b, EPOCHS, SEED);
    vowels::report(bottom);
    debug::exit(if acc.is_some() {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {}
}

fn fail(what: &str) -> ! {
    hprintln!("vowels_head: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
