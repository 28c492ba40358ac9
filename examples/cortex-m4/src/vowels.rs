//! The vowels CNN trained on the device (issue 18): what the two firmwares
//! `vowels_full` (every layer, RAM budget 256 KiB) and `vowels_head` (a fresh head over
//! convolutions pretrained on the desktop and frozen in flash, RAM budget 96 KiB) share:
//! the data in flash, the network, the training loop, SysTick's instruction counts and
//! the RAM table.
//!
//! The network is the desktop `vowels` example's: Conv1d(12→32, k3, pad 1)–ReLU–
//! Conv1d(32→32, k3, pad 1)–ReLU–MaxPool(2)–Flatten–Dense(448→9), softmax
//! cross-entropy, Adam lr 1e-3, He initialisation from SplitMix64, per-layer updates (the
//! gradient buffer is one layer's).
#![allow(dead_code)] // (each firmware uses its part)

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::{SCB, SYST, syst::SystClkSource};
use cortex_m_rt::exception;
use cortex_m_semihosting::hprintln;
use microprop::Activation::Relu;
use microprop::layer::{Conv1d, Dense, Layer, Pool, Shape};
use microprop::nn::Net;

/// 640 records of 29 × 12 little-endian f32, a label byte, a length byte and two zero
/// bytes (examples/data/japanese_vowels/README.md), in flash.
pub static VOWELS: &[u8] = include_bytes!("../../data/japanese_vowels/japanese_vowels.f32");
pub const RECORD: usize = 1396;
pub const TRAIN: usize = 270;
pub const TEST: usize = 370;
pub const LABEL: usize = 29 * 12 * 4;

pub const LAYERS: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
    Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(448, 9)),
];
/// The whole network, each layer's update on its own.
pub const NET: Net = match Net::new(Shape::seq(29, 12), &LAYERS) {
    Ok(net) => net.per_layer(true),
    Err(_) => panic!("the layers do not fit"),
};
/// The convolutions frozen (the first four layers): the head alone trains.
pub const HEAD_ONLY: Net = match NET.freeze(4) {
    Ok(net) => net,
    Err(_) => panic!("the network has 4 layers or more"),
};
pub const IN: usize = 29 * 12;
pub const CLASSES: usize = 9;
pub const LR: f32 = 1e-3;

// ---- time in instructions: SysTick ------------------------------------------------------

const SYST_RELOAD: u32 = 0x00FF_FFFF;
static SYST_WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    SYST_WRAPS.store(
        SYST_WRAPS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Starts SysTick at the core clock, its exception counting the wraps.
pub fn start_ticks(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYST_RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    while SYST::get_current() == 0 {}
}

/// SysTick ticks since [`start_ticks`] (plus a constant). Under QEMU's `-icount shift=0`
/// a tick of the MPS2 boards' 25 MHz clock is 40 instructions.
pub fn ticks() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut wraps = SYST_WRAPS.load(Ordering::Relaxed);
        let mut current = SYST::get_current();
        if SCB::is_pendst_pending() {
            wraps = wraps.wrapping_add(1);
            current = SYST::get_current();
        }
        u64::from(wraps) * u64::from(SYST_RELOAD + 1) + u64::from(SYST_RELOAD - current)
    })
}

/// Instructions per SysTick tick on the MPS2 boards under `-icount shift=0` (the main
/// firmware calibrates it: 40).
pub const INSNS_PER_TICK: u64 = 40;

// ---- the stack: painted, then read back ----------------------------------------------------

const PAINT: u32 = 0xC0FF_EE00;

unsafe extern "C" {
    /// End of `.bss`: the lowest address the stack may reach (cortex-m-rt's `link.x`).
    static _stack_end: u32;
    /// The top of the stack: the end of the RAM budget (the budget's linker script).
    static _stack_start: u32;
}

/// The stack's room: from the end of `.bss` to the top of the budget.
pub fn stack_room() -> (usize, usize) {
    (
        (&raw const _stack_end) as usize,
        (&raw const _stack_start) as usize,
    )
}

/// Paints the free stack below the current stack pointer (less 64 bytes) down to the end
/// of `.bss`; returns the painted region's bottom.
#[inline(always)]
pub fn paint_stack() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let bottom = stack_room().0.next_multiple_of(4);
    let mut p = bottom;
    while p < sp - 64 {
        // SAFETY: `[bottom, sp − 64)` lies between the end of `.bss` and the stack
        // pointer: free stack that no live object occupies (the SysTick exception's
        // frame lands below the stack pointer and counts as used). Aligned, volatile.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    bottom
}

/// The peak stack depth since [`paint_stack`], in bytes below the top of the stack:
/// down to the lowest word that is no longer the paint.
pub fn stack_peak(bottom: usize) -> usize {
    let top = stack_room().1;
    let mut p = bottom;
    // SAFETY: the painted region, below the stack pointer; aligned reads.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

/// Prints one row of the RAM table.
pub fn ram_row(what: &str, bytes: usize) {
    hprintln!("ram: {:<44} {:>7} bytes", what, bytes);
}

// ---- a generator for He initialisation and the shuffles ------------------------------------

/// SplitMix64 (Steele, Lea and Flood, 2014), microprop's own.
pub use microprop::SplitMix64;

/// A Fisher–Yates shuffle of `order` (as `microprop::data::shuffle`).
pub fn shuffle(order: &mut [u32], rng: &mut SplitMix64) {
    microprop::data::shuffle(order, rng);
}

// ---- the training run -------------------------------------------------------------------

use microprop::data::{Dataset, Features, Labels};
#[cfg(not(feature = "baseline"))]
use microprop::{
    Adam, AdamConfig, Loss,
    data::{Batch, identity_permutation},
    nn::Trainer,
};

/// The records `from..from + len`, read in place from flash.
pub fn records(from: usize, len: usize) -> Dataset<'static> {
    let bytes = &VOWELS[from * RECORD..(from + len) * RECORD];
    Dataset {
        x: Features::F32Le {
            data: bytes,
            stride: RECORD,
        },
        y: Labels::ClassesU8 {
            data: &bytes[LABEL..],
            stride: RECORD,
        },
        len,
    }
}

/// The buffers of a run, each a `static` of the firmware sized by microprop's `const fn`s.
pub struct Buffers {
    /// The parameters that train (all of them, or the head's).
    pub params: &'static mut [f32],
    pub grads: &'static mut [f32],
    pub state: &'static mut [f32],
    pub workspace: &'static mut [f32],
    pub xb: &'static mut [f32],
    pub labels: &'static mut [u32],
    pub out: &'static mut [f32],
    pub order: &'static mut [u32],
    pub test_rows: &'static mut [u32],
}

/// Trains `net` for `epochs` epochs (the parameters in `b.params`; `frozen` the frozen
/// layers' parameters, in flash, or nothing), printing each epoch's instructions, the
/// training loss and the test accuracy; returns the last test accuracy, or `None` on an
/// error (printed).
///
/// In the footprint baseline (`--features baseline`) no microprop code runs: the data,
/// the frozen parameters, the network's description and the buffers are kept (through
/// `black_box`), and so is the printing of a microprop `Error` (as in the digits
/// firmware's baseline), so that `flash(firmware) − flash(baseline)` is the trainer's
/// code (.ci/firmware-vowels.sh).
pub fn run(
    name: &str,
    net: Net<'static>,
    frozen: &'static [f32],
    b: Buffers,
    epochs: u32,
    seed: u64,
) -> Option<f32> {
    #[cfg(not(feature = "baseline"))]
    {
        train(name, net, frozen, b, epochs, seed)
    }
    #[cfg(feature = "baseline")]
    {
        use core::hint::black_box;
        let (train, test) = (records(0, TRAIN), records(TRAIN, TEST));
        black_box((net, frozen, b, epochs, seed, &train, &test));
        let r: Result<(), microprop::Error> = black_box(Ok(()));
        if let Err(e) = r {
            hprintln!("{}: {:?}", name, e);
            return None;
        }
        Some(black_box(0.0))
    }
}

#[cfg(not(feature = "baseline"))]
fn train(
    name: &str,
    net: Net<'static>,
    frozen: &'static [f32],
    b: Buffers,
    epochs: u32,
    seed: u64,
) -> Option<f32> {
    let (train, test) = (records(0, TRAIN), records(TRAIN, TEST));
    let mut rng = SplitMix64::new(seed);
    // A fresh start: He initialisation of what trains (the whole network, or the head
    // alone over the frozen convolutions: the same fans).
    let init = if frozen.is_empty() {
        net.init(b.params, microprop::init::Init::HeUniform, &mut rng)
    } else {
        HEAD.init(b.params, microprop::init::Init::HeUniform, &mut rng)
    };
    if let Err(e) = init
        .and_then(|()| identity_permutation(b.order))
        .and_then(|()| identity_permutation(b.test_rows))
    {
        hprintln!("{}: setup: {:?}", name, e);
        return None;
    }
    let adam = match Adam::new(AdamConfig::adam(LR), b.state) {
        Ok(a) => a,
        Err(e) => {
            hprintln!("{}: Adam: {:?}", name, e);
            return None;
        }
    };
    let made = if frozen.is_empty() {
        Trainer::new(
            net,
            b.params,
            b.grads,
            adam,
            b.workspace,
            Loss::SoftmaxCrossEntropy,
        )
    } else {
        Trainer::new_frozen(
            net,
            frozen,
            b.params,
            b.grads,
            adam,
            b.workspace,
            Loss::SoftmaxCrossEntropy,
        )
    };
    let mut t = match made {
        Ok(t) => t,
        Err(e) => {
            hprintln!("{}: trainer: {:?}", name, e);
            return None;
        }
    };
    let mut batch = Batch {
        x: b.xb,
        y: &mut [],
        labels: b.labels,
    };
    for epoch in 1..=epochs {
        shuffle(b.order, &mut rng);
        let t0 = ticks();
        let loss = match t.epoch(&train, b.order, &mut batch) {
            Ok(l) => l,
            Err(e) => {
                hprintln!("{}: epoch {}: {:?}", name, epoch, e);
                return None;
            }
        };
        let insns = (ticks() - t0) * INSNS_PER_TICK;
        hprintln!(
            "{}: epoch {}  train loss {}  ({} instructions)",
            name,
            epoch,
            loss,
            insns
        );
    }
    // The test accuracy once, at the end (an evaluation costs about half an epoch).
    let t1 = ticks();
    let acc = match t.evaluate(&test, b.test_rows, &mut batch, b.out, None) {
        Ok(e) => e.accuracy(),
        Err(e) => {
            hprintln!("{}: evaluation: {:?}", name, e);
            return None;
        }
    };
    hprintln!(
        "{}: test accuracy {}% after {} epochs ({} correct of {}; evaluation {} instructions)",
        name,
        acc * 100.0,
        epochs,
        (acc * TEST as f32 + 0.5) as u32,
        TEST,
        (ticks() - t1) * INSNS_PER_TICK
    );
    Some(acc)
}

/// The head alone, for its initialisation (the fans of the dense layer).
const HEAD_LAYERS: [Layer; 1] = [Layer::Dense(Dense::new(448, 9))];
const HEAD: Net = match Net::new(Shape::flat(448), &HEAD_LAYERS) {
    Ok(net) => net,
    Err(_) => panic!(),
};

/// Prints the statics' total, the stack's peak and room, and the sum against the budget.
pub fn report(bottom: usize) {
    let peak = stack_peak(bottom);
    let (end, top) = stack_room();
    let statics = end - 0x2000_0000;
    ram_row("stack (peak, painted)", peak);
    ram_row("all statics (.data + .bss)", statics);
    hprintln!(
        "ram: total {} bytes of the {}-byte budget (statics {} + stack peak {}; {} bytes of stack room)",
        statics + peak,
        top - 0x2000_0000,
        statics,
        peak,
        top - end
    );
}
