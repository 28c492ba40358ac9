//! The profile of a training step (issue 18, item 5): the race's networks trained by the
//! hand-written loops (`src/plain.rs`), by `Mlp::train_step` (the tiny path on XOR, the
//! general one on 16-32-16-1), and XOR by `Mlp::train_step_with` with plain SGD, which
//! takes the general step `Mlp::train_step` took before the tiny path (the layer walk, the
//! workspace layout, a GEMM per product), and by a `Net` of the same layers (the general
//! step of a network of any layer kinds). Each phase sits between two calls of [`mark`],
//! so that `.ci/step-profile.py` can cut QEMU's trace of every executed block
//! (`-d exec,nochain,in_asm`: `nochain` so that no execution goes unlogged)
//! into phases and count each phase's instructions by the function they came from,
//! inlining included. Prints the phases, runs them, exits. `bash .ci/step-profile.sh`
//! (from the repository) builds it at opt-level "s" and 3, runs it and prints the profiles;
//! `.ci/firmware.sh` runs that last.
#![no_std]
#![no_main]

#[path = "../plain.rs"]
mod plain;

use core::hint::black_box;
use core::panic::PanicInfo;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use microprop::Activation::{Identity, Sigmoid};
use microprop::layer::{Dense, Layer, Shape};
use microprop::nn::{Mlp, Net};
use microprop::optim::{Sgd, SgdConfig};
use microprop::{Loss, Target};

const XOR_SIZES: [usize; 3] = [2, 3, 1];
/// The race's XOR network: a sigmoid hidden layer, the identity on the output, biases on.
const XOR_MLP: Mlp<'static> = match Mlp::new(&XOR_SIZES, &[Sigmoid, Identity], true) {
    Ok(net) => net,
    Err(_) => panic!("bad XOR shape"),
};
const XOR_LAYERS: [Layer; 2] = [
    Layer::Dense(Dense::new(2, 3).act(Sigmoid)),
    Layer::Dense(Dense::new(3, 1)),
];
/// The same network as a `Net`: its step is the general one on every instruction set.
const XOR_NET: Net<'static> = match Net::new(Shape::flat(2), &XOR_LAYERS) {
    Ok(net) => net,
    Err(_) => panic!("bad XOR layers"),
};
const XOR_N: usize = 4;
const XOR_X: [f32; XOR_N * 2] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
const XOR_Y: [f32; XOR_N] = [0.0, 1.0, 1.0, 0.0];
const XOR_PARAMS: usize = Mlp::param_len(&XOR_SIZES, true);
const XOR_LR: f32 = 0.1;

const WIDE_SIZES: [usize; 4] = [16, 32, 16, 1];
const WIDE_MLP: Mlp<'static> = match Mlp::new(&WIDE_SIZES, &[Sigmoid, Sigmoid, Identity], true) {
    Ok(net) => net,
    Err(_) => panic!("bad 16-32-16-1 shape"),
};
const WIDE_N: usize = 32;
const WIDE_PARAMS: usize = Mlp::param_len(&WIDE_SIZES, true);
const WIDE_LR: f32 = 0.002;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
const WORK: usize = max(
    max(
        Mlp::workspace_len(&XOR_SIZES, XOR_N),
        XOR_NET.workspace_len(XOR_N),
    ),
    Mlp::workspace_len(&WIDE_SIZES, WIDE_N),
);

/// Steps per phase: every XOR step runs the same instructions; few on 16-32-16-1 (the
/// hand-written loops take 1.4 million instructions a step).
const XOR_STEPS: u32 = 20;
const WIDE_STEPS: u32 = 2;

/// The phases, in order: (name, steps). `.ci/step-profile.py` reads them from the output.
const PHASES: [(&str, u32); 6] = [
    ("XOR 2-3-1 batch 4, hand-written loops", XOR_STEPS),
    (
        "XOR 2-3-1 batch 4, Mlp::train_step (the tiny path)",
        XOR_STEPS,
    ),
    (
        "XOR 2-3-1 batch 4, Mlp::train_step_with plain SGD (the general step, as before the tiny path)",
        XOR_STEPS,
    ),
    (
        "XOR 2-3-1 batch 4, Net::train_step plain SGD (the general step of a network of any layers)",
        XOR_STEPS,
    ),
    ("16-32-16-1 batch 32, hand-written loops", WIDE_STEPS),
    (
        "16-32-16-1 batch 32, Mlp::train_step (the general step)",
        WIDE_STEPS,
    ),
];

/// The boundary between two phases: a call the trace shows (never inlined). Only the
/// phase's steps run between two marks: every buffer is filled before the first.
#[inline(never)]
fn mark(phase: u32) {
    black_box(phase);
}

/// One parameter buffer a phase.
struct Params {
    xor: [[f32; XOR_PARAMS]; 4],
    wide: [[f32; WIDE_PARAMS]; 2],
}

#[entry]
fn main() -> ! {
    static mut P: Params = Params {
        xor: [[0.0; XOR_PARAMS]; 4],
        wide: [[0.0; WIDE_PARAMS]; 2],
    };
    static mut WS: [f32; WORK] = [0.0; WORK];
    static mut SCRATCH: plain::Scratch = plain::Scratch::ZERO;
    static mut WX: [f32; WIDE_N * 16] = [0.0; WIDE_N * 16];
    static mut WY: [f32; WIDE_N] = [0.0; WIDE_N];

    for (i, (name, steps)) in PHASES.iter().enumerate() {
        hprintln!("profile phase {}: {}, {} steps", i, name, steps);
    }
    // Deterministic parameters and data (an xorshift), the same for every trainer.
    let mut s = 0x2545_F491u32;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    for p in P.wide[0].iter_mut() {
        *p = uniform();
    }
    P.wide[1] = P.wide[0];
    for xor in P.xor.iter_mut() {
        xor.copy_from_slice(&P.wide[0][..XOR_PARAMS]);
    }
    for (x, y) in WX.chunks_exact_mut(16).zip(WY.iter_mut()) {
        for v in x.iter_mut() {
            *v = uniform();
        }
        *y = 0.5 + 0.4 * libm::sinf(x[0] + x[1] * x[2] - x[3]);
    }
    let mut sgd = match Sgd::new(SgdConfig::new(XOR_LR), &mut []) {
        Ok(sgd) => sgd,
        Err(e) => fail(e),
    };
    let mut grads = [0.0f32; XOR_PARAMS];
    let mut losses = [0.0f32; PHASES.len()];
    let target = Target::Values(&XOR_Y);
    let [p0, p1, p2, p3] = &mut P.xor;
    let [w0, w1] = &mut P.wide;

    mark(0);
    for _ in 0..XOR_STEPS {
        losses[0] = plain::train_step(
            &XOR_SIZES,
            black_box(&mut p0[..]),
            &XOR_X,
            &XOR_Y,
            XOR_N,
            XOR_LR,
            SCRATCH,
        );
    }
    mark(1);
    for _ in 0..XOR_STEPS {
        match XOR_MLP.train_step(black_box(&mut p1[..]), &XOR_X, &XOR_Y, XOR_LR, WS) {
            Ok(loss) => losses[1] = loss,
            Err(e) => fail(e),
        }
    }
    mark(2);
    for _ in 0..XOR_STEPS {
        let p = black_box(&mut p2[..]);
        let loss = Loss::SumSquared;
        match XOR_MLP.train_step_with(p, &XOR_X, target, loss, &mut sgd, &mut grads, WS) {
            Ok(loss) => losses[2] = loss,
            Err(e) => fail(e),
        }
    }
    mark(3);
    for _ in 0..XOR_STEPS {
        let p = black_box(&mut p3[..]);
        let loss = Loss::SumSquared;
        match XOR_NET.train_step(p, &XOR_X, target, loss, &mut sgd, &mut grads, WS) {
            Ok(loss) => losses[3] = loss,
            Err(e) => fail(e),
        }
    }
    mark(4);
    for _ in 0..WIDE_STEPS {
        losses[4] = plain::train_step(
            &WIDE_SIZES,
            black_box(&mut w0[..]),
            WX,
            WY,
            WIDE_N,
            WIDE_LR,
            SCRATCH,
        );
    }
    mark(5);
    for _ in 0..WIDE_STEPS {
        match WIDE_MLP.train_step(black_box(&mut w1[..]), WX, WY, WIDE_LR, WS) {
            Ok(loss) => losses[5] = loss,
            Err(e) => fail(e),
        }
    }
    mark(6);
    hprintln!("profile: last losses {:?}", losses);
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[allow(clippy::empty_loop)]
fn fail(e: microprop::Error) -> ! {
    hprintln!("step_profile: {:?}", e);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

#[panic_handler]
#[allow(clippy::empty_loop)]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
