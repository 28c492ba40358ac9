//! The vowels CNN trained whole on the Cortex-M4F (issue 18, item 4a): 8,329 parameters,
//! Adam, per-layer updates, batch [`B`], every buffer a `static` sized by microprop's
//! `const fn`s, within a RAM budget of 256 KiB that the linker enforces
//! (`budget-256k.x`: the statics and a stack reserve must fit, or the build fails).
//! Prints the RAM table, then each epoch's instructions, training loss and test
//! accuracy. `cargo run --release --bin vowels_full [--features short]`.
#![no_std]
#![no_main]

#[path = "../vowels.rs"]
mod vowels;

use core::panic::PanicInfo;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use vowels::{Buffers, CLASSES, IN, NET, TEST, TRAIN};

/// The batch: the largest whose buffers fit the budget beside the rest.
const B: usize = 4;
const PARAMS: usize = NET.param_len();
const GRADS: usize = NET.grad_len();
const STATE: usize = microprop::Adam::state_len(NET.trainable_len());
const WORK: usize = NET.workspace_len(B);
/// Epochs: the desktop recipe's 100 would take too long under emulation in CI; the
/// desktop runs the same code to the end (tests/transfer.rs).
const EPOCHS: u32 = if cfg!(feature = "short") { 1 } else { 10 };
const SEED: u64 = 0;

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
        "vowels_full: the whole network trains, {} parameters, Adam lr {}, batch {}, per-layer updates, {} epochs",
        PARAMS,
        vowels::LR,
        B,
        EPOCHS
    );
    let f = core::mem::size_of::<f32>();
    vowels::ram_row("parameters", PARAMS * f);
    vowels::ram_row("gradient (one layer's: per-layer updates)", GRADS * f);
    vowels::ram_row("Adam's moments", STATE * f);
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
    let acc = vowels::run("vowels_full", NET, &[], b, EPOCHS, SEED);
    vowels::report(bottom);
    debug::exit(if acc.is_some() {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {}
}

fn fail(what: &str) -> ! {
    hprintln!("vowels_full: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
