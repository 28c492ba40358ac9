//! microprop in firmware: trains two networks on a Cortex-M4F with no allocator.
//!
//! * XOR with a 2-3-1 sigmoid network (biases on), until the summed squared error over the
//!   four examples, `Σ (a − y)²` (microprop's loss), is below [`XOR_TARGET`];
//! * `y = sin(x)` on [`SINE_N`] grid points of `[−π, π]` with a 1-32-28-1 tanh network
//!   (biases on, 1,017 parameters), until the same summed loss is below [`SINE_TARGET`].
//!
//! Parameters, data and workspace are `static` buffers sized by microprop's `const fn`s
//! (`static mut` items inside the `#[entry]` function, which cortex-m-rt hands over as safe
//! `&'static mut` references since the entry point runs once). The loss is printed over
//! semihosting as training goes, with the peak stack use of one training step, and the
//! firmware exits through semihosting with success only if both targets were reached.
//!
//! Run it with `cargo run --release` (the runner is QEMU's `mps2-an386` board, see
//! `.cargo/config.toml`). With `--features baseline` every microprop call is compiled
//! out, for measuring how much flash microprop takes (see `.ci/firmware.sh`).
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use microprop::Activation::{Identity, Sigmoid, Tanh};
use microprop::{Error, nn::Mlp};

// ---- XOR: 2-3-1, sigmoid, biases on -------------------------------------------------

const XOR_SIZES: [usize; 3] = [2, 3, 1];
const XOR_NET: Mlp<'static> = match Mlp::new(&XOR_SIZES, &[Sigmoid, Sigmoid], true) {
    Ok(net) => net,
    Err(_) => panic!("bad XOR shape"),
};
const XOR_N: usize = 4;
const XOR_PARAMS: usize = Mlp::param_len(&XOR_SIZES, true);
const XOR_WORK: usize = max(
    Mlp::workspace_len(&XOR_SIZES, XOR_N),
    Mlp::forward_workspace_len(&XOR_SIZES, XOR_N),
);
const XOR_X: [f32; XOR_N * 2] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
const XOR_Y: [f32; XOR_N] = [0.0, 1.0, 1.0, 0.0];
const XOR_LR: f32 = 0.5;
const XOR_MAX_STEPS: u32 = 20_000;
const XOR_PRINT_EVERY: u32 = 500;
/// Target for `Σ (a − y)²` over the four examples.
const XOR_TARGET: f32 = 0.01;

// ---- sine regression: 1-32-28-1, tanh, tanh, identity, biases on --------------------

const SINE_SIZES: [usize; 4] = [1, 32, 28, 1];
const SINE_NET: Mlp<'static> = match Mlp::new(&SINE_SIZES, &[Tanh, Tanh, Identity], true) {
    Ok(net) => net,
    Err(_) => panic!("bad sine shape"),
};
const SINE_N: usize = 32;
const SINE_PARAMS: usize = Mlp::param_len(&SINE_SIZES, true);
const SINE_WORK: usize = Mlp::workspace_len(&SINE_SIZES, SINE_N);
const SINE_LR: f32 = 0.002;
const SINE_MAX_STEPS: u32 = 12_000;
const SINE_PRINT_EVERY: u32 = 500;
/// Target for `Σ (a − y)²` over the [`SINE_N`] grid points.
const SINE_TARGET: f32 = 0.01;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` references, safely: `main` runs once.
    static mut XOR_P: [f32; XOR_PARAMS] = [0.0; XOR_PARAMS];
    static mut XOR_WS: [f32; XOR_WORK] = [0.0; XOR_WORK];
    static mut SINE_P: [f32; SINE_PARAMS] = [0.0; SINE_PARAMS];
    static mut SINE_WS: [f32; SINE_WORK] = [0.0; SINE_WORK];
    static mut SINE_X: [f32; SINE_N] = [0.0; SINE_N];
    static mut SINE_Y: [f32; SINE_N] = [0.0; SINE_N];

    hprintln!(
        "microprop on Cortex-M4F: XOR {:?} ({} params, {} f32 workspace), sine {:?} ({} params, {} f32 workspace)",
        XOR_SIZES,
        XOR_PARAMS,
        XOR_WORK,
        SINE_SIZES,
        SINE_PARAMS,
        SINE_WORK
    );

    let mut rng = XorShift32(0x2545_F491);
    init_params(&mut rng, &XOR_SIZES, XOR_P, 1.0);
    init_params(&mut rng, &SINE_SIZES, SINE_P, 2.0);
    for (i, (x, y)) in SINE_X.iter_mut().zip(SINE_Y.iter_mut()).enumerate() {
        *x = -core::f32::consts::PI + 2.0 * core::f32::consts::PI * i as f32 / (SINE_N - 1) as f32;
        *y = libm::sinf(*x);
    }

    // Peak stack of one training step of each network (the first step; the parameters it
    // updates are the real ones, so it counts as step 0 of training).
    let (xor_first, xor_stack) = measure_stack(XOR_NET, XOR_P, &XOR_X, &XOR_Y, XOR_LR, XOR_WS);
    let (sine_first, sine_stack) =
        measure_stack(SINE_NET, SINE_P, SINE_X, SINE_Y, SINE_LR, SINE_WS);
    report_stack("XOR", xor_stack);
    report_stack("sine", sine_stack);

    hprintln!(
        "XOR: lr {}, target sum of squared errors < {}",
        XOR_LR,
        XOR_TARGET
    );
    let xor = train(
        XOR_NET,
        XOR_P,
        &XOR_X,
        &XOR_Y,
        XOR_LR,
        XOR_WS,
        xor_first,
        XOR_MAX_STEPS,
        XOR_PRINT_EVERY,
        XOR_TARGET,
    );
    let mut out = [0.0f32; XOR_N];
    match forward(XOR_NET, XOR_P, &XOR_X, &mut out, XOR_WS) {
        Ok(()) => hprintln!("XOR outputs for 00 01 10 11: {:?}", out),
        Err(e) => hprintln!("XOR forward failed: {:?}", e),
    }

    hprintln!(
        "sine: lr {}, target sum of squared errors < {}",
        SINE_LR,
        SINE_TARGET
    );
    let sine = train(
        SINE_NET,
        SINE_P,
        SINE_X,
        SINE_Y,
        SINE_LR,
        SINE_WS,
        sine_first,
        SINE_MAX_STEPS,
        SINE_PRINT_EVERY,
        SINE_TARGET,
    );

    let ok = xor && sine;
    hprintln!(
        "result: XOR {}, sine {} => {}",
        verdict(xor),
        verdict(sine),
        if ok { "EXIT_SUCCESS" } else { "EXIT_FAILURE" }
    );
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "reached target"
    } else {
        "MISSED target"
    }
}

/// Trains until the loss (before the step's update) is below `target` or `max_steps`
/// steps were taken; `first` is the result of step 0, already taken. Prints the loss every
/// `every` steps. Returns whether the target was reached.
#[allow(clippy::too_many_arguments)]
fn train(
    net: Mlp<'static>,
    params: &mut [f32],
    x: &[f32],
    y: &[f32],
    lr: f32,
    ws: &mut [f32],
    first: Result<f32, Error>,
    max_steps: u32,
    every: u32,
    target: f32,
) -> bool {
    let mut result = first;
    let mut t = 0;
    loop {
        let loss = match result {
            Ok(loss) => loss,
            Err(e) => {
                hprintln!("step {}: {:?}", t, e);
                return false;
            }
        };
        if loss < target {
            hprintln!("{} {}  (below {} after {} steps)", t, loss, target, t);
            return true;
        }
        if t % every == 0 {
            hprintln!("{} {}", t, loss);
        }
        t += 1;
        if t >= max_steps {
            hprintln!("{} steps, loss still {}", t, loss);
            return false;
        }
        result = step(net, params, x, y, lr, ws);
    }
}

/// One training step (compiled out in the `baseline` build).
#[inline(always)]
fn step(
    net: Mlp<'static>,
    params: &mut [f32],
    x: &[f32],
    y: &[f32],
    lr: f32,
    ws: &mut [f32],
) -> Result<f32, Error> {
    #[cfg(not(feature = "baseline"))]
    {
        net.train_step(params, x, y, lr, ws)
    }
    #[cfg(feature = "baseline")]
    {
        black_box((net.layers(), params, x, y, lr, ws));
        Ok(black_box(1.0))
    }
}

/// Inference on a batch (compiled out in the `baseline` build).
#[inline(always)]
fn forward(
    net: Mlp<'static>,
    params: &[f32],
    x: &[f32],
    out: &mut [f32],
    ws: &mut [f32],
) -> Result<(), Error> {
    #[cfg(not(feature = "baseline"))]
    {
        net.forward(params, x, out, ws)
    }
    #[cfg(feature = "baseline")]
    {
        black_box((net.layers(), params, x, out, ws));
        Ok(())
    }
}

// ---- stack measurement ----------------------------------------------------------------

/// Word painted below the stack pointer before a step.
const PAINT: u32 = 0xA5A5_A5A5;
/// Bytes just below the stack pointer left unpainted.
const MARGIN: usize = 64;
/// How far below the stack pointer to paint.
const DEPTH: usize = 16 * 1024;

type StepFn = fn(&Mlp<'static>, &mut [f32], &[f32], &[f32], f32, &mut [f32]) -> Result<f32, Error>;

/// Runs one training step and returns its result and the peak number of bytes of stack it
/// used below this function's stack pointer (the SP at the call): paints
/// `[SP − DEPTH, SP − MARGIN)` with [`PAINT`], calls `train_step` through an opaque
/// function pointer (so it cannot be inlined into this frame), then finds the lowest word
/// that is no longer the paint.
#[inline(never)]
fn measure_stack(
    net: Mlp<'static>,
    params: &mut [f32],
    x: &[f32],
    y: &[f32],
    lr: f32,
    ws: &mut [f32],
) -> (Result<f32, Error>, usize) {
    #[cfg(not(feature = "baseline"))]
    let step: StepFn = black_box(Mlp::train_step);
    #[cfg(feature = "baseline")]
    let step: StepFn = black_box(|net, params, x, y, lr, ws| step(*net, params, x, y, lr, ws));

    unsafe extern "C" {
        /// End of `.bss` (and of any heap, none here): the lowest address the stack may
        /// grow down to (cortex-m-rt's `link.x`).
        static _stack_end: u32;
    }
    let sp = cortex_m::register::msp::read() as usize;
    let floor = (&raw const _stack_end) as usize;
    let bottom = sp.saturating_sub(DEPTH).max(floor.next_multiple_of(4));
    let top = sp - MARGIN;
    let mut p = bottom;
    while p < top {
        // SAFETY: `[bottom, top)` lies below the current stack pointer (minus a margin)
        // and above the end of `.bss`: free stack that no live object occupies, and
        // nothing else runs (no interrupt is enabled). Volatile, word-aligned writes.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    let result = step(&net, params, x, y, lr, ws);
    let mut p = bottom;
    // SAFETY: the same region, now below the stack pointer again; aligned reads.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    let used = if p == bottom { usize::MAX } else { sp - p };
    (result, used)
}

fn report_stack(name: &str, used: usize) {
    if used == usize::MAX {
        hprintln!(
            "stack: {} train_step overflowed the {} painted bytes",
            name,
            DEPTH
        );
    } else {
        hprintln!(
            "stack: {} train_step used {} bytes below the caller's SP (painted {} bytes, 0x{:08X})",
            name,
            used,
            DEPTH,
            PAINT
        );
    }
}

// ---- deterministic initialization -----------------------------------------------------

/// Marsaglia's xorshift32.
struct XorShift32(u32);

impl XorShift32 {
    /// Uniform in `[−1, 1)`.
    fn uniform(&mut self) -> f32 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        self.0 = s;
        (s >> 8) as f32 * (2.0 / (1u32 << 24) as f32) - 1.0
    }
}

/// Weights uniform in `±gain/√fan_in`, biases zero, in microprop's layout (per layer
/// `W_l` row-major `d_{l−1} × d_l`, then `b_l`).
fn init_params(rng: &mut XorShift32, sizes: &[usize], params: &mut [f32], gain: f32) {
    let mut off = 0;
    for l in 1..sizes.len() {
        let (fan_in, fan_out) = (sizes[l - 1], sizes[l]);
        let scale = gain / libm::sqrtf(fan_in as f32);
        for w in &mut params[off..off + fan_in * fan_out] {
            *w = scale * rng.uniform();
        }
        off += fan_in * fan_out;
        params[off..off + fan_out].fill(0.0);
        off += fan_out;
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
