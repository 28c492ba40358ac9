//! Optimizers, schedules and clipping: every optimizer on every instruction set against an
//! `f64` implementation of its published (PyTorch) rule, the SIMD pass against its scalar
//! reference, bad input leaving everything bit-identical, and no allocation.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::*;
use microprop::optim::schedule::{constant, cosine, step_decay};
use microprop::optim::{clip_grad_norm, clip_grad_norm_slices};
use microprop::simd::Isa;
use microprop::{Adam, AdamConfig, Error, Optimizer, Sgd, SgdConfig, sgd_update};

// ---------------------------------------------------------------------------------------
// A minimal counting allocator (per thread, so parallel tests do not disturb each other).

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

// ---------------------------------------------------------------------------------------
// The configurations under test, and f64 implementations of their published rules.

const EPS: f64 = f32::EPSILON as f64 / 2.0; // unit roundoff of f32

#[derive(Clone, Copy, Debug)]
enum Cfg {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

fn configs() -> Vec<(&'static str, Cfg)> {
    let sgd = SgdConfig::new(0.1);
    vec![
        ("sgd", Cfg::Sgd(sgd)),
        (
            "sgd momentum",
            Cfg::Sgd(SgdConfig {
                momentum: 0.9,
                ..sgd
            }),
        ),
        (
            "sgd nesterov",
            Cfg::Sgd(SgdConfig {
                momentum: 0.9,
                nesterov: true,
                ..sgd
            }),
        ),
        (
            "sgd weight decay",
            Cfg::Sgd(SgdConfig {
                weight_decay: 0.05,
                ..sgd
            }),
        ),
        (
            "sgd nesterov weight decay",
            Cfg::Sgd(SgdConfig {
                momentum: 0.5,
                nesterov: true,
                weight_decay: 0.05,
                ..sgd
            }),
        ),
        ("adam", Cfg::Adam(AdamConfig::adam(0.01))),
        (
            "adam l2",
            Cfg::Adam(AdamConfig {
                weight_decay: 0.1,
                ..AdamConfig::adam(0.01)
            }),
        ),
        ("adamw", Cfg::Adam(AdamConfig::adamw(0.01, 0.1))),
        (
            "adam small betas",
            Cfg::Adam(AdamConfig {
                beta1: 0.3,
                beta2: 0.6,
                eps: 1e-3,
                ..AdamConfig::adam(0.05)
            }),
        ),
    ]
}

fn base_lr(cfg: Cfg) -> f32 {
    match cfg {
        Cfg::Sgd(c) => c.lr,
        Cfg::Adam(c) => c.lr,
    }
}

/// The learning rate of `step`: a warm-up then a cosine, so it changes every step.
fn lr_at(cfg: Cfg, step: u64) -> f32 {
    let lr = base_lr(cfg);
    cosine(lr, lr / 10.0, 3, STEPS, step)
}

/// Updates per run (fewer under Miri, where each is slow).
const STEPS: u64 = if cfg!(miri) { 4 } else { 10 };

/// `torch.optim.SGD` / `Adam` / `AdamW` in f64, per element, with an error budget.
///
/// The budget bounds how far a correct f32 implementation may be from this model. Each
/// step rounds a handful of operations, each within relative `EPS` of its exact result:
/// the new θ is within a few `EPS` of `|θ| + lr·D`, where `D` is the direction computed
/// with every term's magnitude (no cancellation) — `|g| + wd·|θ|` for the gradient, the
/// momentum or first moment accumulated from those magnitudes. The state carries its own
/// rounding errors from earlier steps (a weighted sum of up to t roundings each within a
/// few `EPS` of `D`), hence the factor t on the direction term. Errors already in θ carry
/// over, so the budget accumulates: after step t it is
/// `K·EPS·Σₛ≤ₜ (|θₛ₋₁| + lrₛ·Dₛ·s)`. `K = 8` allows a few roundings per operation chain
/// (Adam's longest chain has 6 operations), whether or not they are fused.
struct Model {
    cfg: Cfg,
    theta: Vec<f64>,
    /// SGD's momentum buffer, or Adam's m.
    m: Vec<f64>,
    /// Magnitude version of `m`.
    m_abs: Vec<f64>,
    /// Adam's v.
    v: Vec<f64>,
    tol: Vec<f64>,
    t: u64,
}

const K: f64 = 8.0;

impl Model {
    fn new(cfg: Cfg, theta: &[f32]) -> Model {
        let n = theta.len();
        Model {
            cfg,
            theta: theta.iter().map(|&x| f64::from(x)).collect(),
            m: vec![0.0; n],
            m_abs: vec![0.0; n],
            v: vec![0.0; n],
            tol: vec![0.0; n],
            t: 0,
        }
    }

    fn step(&mut self, grads: &[f32], lr: f32) {
        self.t += 1;
        let t = self.t;
        let lr = f64::from(lr);
        for (i, &g) in grads.iter().enumerate() {
            let th = self.theta[i];
            let g = f64::from(g);
            let (new, d_abs) = match self.cfg {
                Cfg::Sgd(c) => {
                    let (mu, wd) = (f64::from(c.momentum), f64::from(c.weight_decay));
                    let (g, g_abs) = (g + wd * th, g.abs() + wd * th.abs());
                    let (d, d_abs) = if mu != 0.0 {
                        if t == 1 {
                            self.m[i] = g;
                            self.m_abs[i] = g_abs;
                        } else {
                            self.m[i] = mu * self.m[i] + g;
                            self.m_abs[i] = mu * self.m_abs[i] + g_abs;
                        }
                        if c.nesterov {
                            (g + mu * self.m[i], g_abs + mu * self.m_abs[i])
                        } else {
                            (self.m[i], self.m_abs[i])
                        }
                    } else {
                        (g, g_abs)
                    };
                    (th - lr * d, d_abs)
                }
                Cfg::Adam(c) => {
                    let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
                    let (eps, wd) = (f64::from(c.eps), f64::from(c.weight_decay));
                    let (g, g_abs, th) = if c.decoupled {
                        (g, g.abs(), th * (1.0 - lr * wd))
                    } else {
                        (g + wd * th, g.abs() + wd * th.abs(), th)
                    };
                    self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
                    self.m_abs[i] = b1 * self.m_abs[i] + (1.0 - b1) * g_abs;
                    self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
                    let bc1 = 1.0 - b1.powi(t as i32);
                    let bc2 = 1.0 - b2.powi(t as i32);
                    let denom = self.v[i].sqrt() / bc2.sqrt() + eps;
                    let step = lr / bc1;
                    (th - step * self.m[i] / denom, self.m_abs[i] / (bc1 * denom))
                }
            };
            self.tol[i] += K * EPS * (th.abs() + lr * d_abs * t as f64);
            self.theta[i] = new;
        }
    }
}

/// An optimizer of either kind over its own state.
enum Opt<'s> {
    Sgd(Sgd<'s>),
    Adam(Adam<'s>),
}

impl<'s> Opt<'s> {
    fn state_len(cfg: Cfg, n: usize) -> usize {
        match cfg {
            Cfg::Sgd(_) => Sgd::state_len(n),
            Cfg::Adam(_) => Adam::state_len(n),
        }
    }
    fn new(cfg: Cfg, state: &'s mut [f32]) -> Opt<'s> {
        match cfg {
            Cfg::Sgd(c) => Opt::Sgd(Sgd::new(c, state).unwrap()),
            Cfg::Adam(c) => Opt::Adam(Adam::new(c, state).unwrap()),
        }
    }
    fn dyn_opt(&mut self) -> &mut dyn Optimizer {
        match self {
            Opt::Sgd(o) => o,
            Opt::Adam(o) => o,
        }
    }
    fn update_scalar(&mut self, p: &mut [f32], g: &[f32]) -> Result<(), Error> {
        match self {
            Opt::Sgd(o) => o.update_scalar(p, g),
            Opt::Adam(o) => o.update_scalar(p, g),
        }
    }
    /// Bit patterns of the state (and the step count), to prove nothing changed.
    fn snapshot(&self) -> (Vec<u32>, u64) {
        match self {
            Opt::Sgd(o) => (o.momentum_buffer().iter().map(|x| x.to_bits()).collect(), 0),
            Opt::Adam(o) => {
                let (m, v) = o.moments();
                let bits = m.iter().chain(v).map(|x| x.to_bits()).collect();
                (bits, o.step_count())
            }
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Whether this instruction set rounds `a·b + c` twice, as the scalar reference does.
fn rounds_like_scalar(isa: Isa) -> bool {
    match isa {
        Isa::Scalar => true,
        // `wide` fuses only with compile-time FMA (always on aarch64).
        Isa::Portable => !cfg!(any(target_feature = "fma", target_arch = "aarch64")),
        _ => false,
    }
}

#[test]
fn every_optimizer_follows_its_published_rule_on_every_isa() {
    let mut worst = 0.0f64;
    for_each_isa(|isa| {
        for (name, cfg) in configs() {
            for n in lengths_light() {
                let mut rng = rng(n as u64 * 31 + 7);
                let init = fill(&mut rng, n);
                let mut params = init.clone();
                let mut params_ref = init.clone();
                let mut state = vec![f32::NAN; Opt::state_len(cfg, n)];
                let mut state_ref = vec![f32::NAN; Opt::state_len(cfg, n)];
                let mut opt = Opt::new(cfg, &mut state);
                let mut reference = Opt::new(cfg, &mut state_ref);
                let mut model = Model::new(cfg, &init);
                for step in 0..STEPS {
                    let grads = fill(&mut rng, n);
                    let lr = lr_at(cfg, step);
                    opt.dyn_opt().set_lr(lr);
                    reference.dyn_opt().set_lr(lr);
                    opt.dyn_opt().update(&mut params, &grads).unwrap();
                    reference.update_scalar(&mut params_ref, &grads).unwrap();
                    model.step(&grads, lr);
                    for i in 0..n {
                        let (got, want, tol) = (params[i], model.theta[i], model.tol[i]);
                        let err = (f64::from(got) - want).abs();
                        worst = worst.max(err / tol);
                        assert!(
                            err <= tol,
                            "{isa:?} {name} n={n} step {step} [{i}]: {got} vs f64 {want} (tol {tol:e})"
                        );
                        // The scalar reference obeys the same budget; the two differ by at
                        // most both budgets, and not at all where the ISA rounds alike.
                        let r = params_ref[i];
                        if rounds_like_scalar(isa) {
                            assert_eq!(
                                got.to_bits(),
                                r.to_bits(),
                                "{isa:?} {name} n={n} step {step} [{i}]: {got} vs scalar {r}"
                            );
                        } else {
                            assert!(
                                (f64::from(got) - f64::from(r)).abs() <= 2.0 * tol,
                                "{isa:?} {name} n={n} step {step} [{i}]: {got} vs scalar {r}"
                            );
                        }
                    }
                }
                if rounds_like_scalar(isa) {
                    assert_eq!(opt.snapshot(), reference.snapshot(), "{isa:?} {name} n={n}");
                }
                // The state against the model: moments within their own budgets.
                match &opt {
                    Opt::Sgd(o) => {
                        for (i, &b) in o.momentum_buffer().iter().enumerate() {
                            let Cfg::Sgd(c) = cfg else { unreachable!() };
                            if c.momentum == 0.0 {
                                assert_eq!(b, 0.0);
                                continue;
                            }
                            let tol = K * EPS * STEPS as f64 * model.m_abs[i];
                            assert!(
                                (f64::from(b) - model.m[i]).abs() <= tol,
                                "{isa:?} {name} b[{i}]"
                            );
                        }
                    }
                    Opt::Adam(o) => {
                        assert_eq!(o.step_count(), STEPS);
                        let (m, v) = o.moments();
                        for i in 0..n {
                            let t = K * EPS * STEPS as f64;
                            let (em, ev) =
                                (f64::from(m[i]) - model.m[i], f64::from(v[i]) - model.v[i]);
                            assert!(em.abs() <= t * model.m_abs[i], "{isa:?} {name} m[{i}]");
                            assert!(ev.abs() <= t * model.v[i], "{isa:?} {name} v[{i}]");
                        }
                    }
                }
            }
        }
    });
    eprintln!("worst error / budget: {worst:.3}");
}

#[test]
fn plain_sgd_is_sgd_update_bit_for_bit_and_says_so() {
    for_each_isa(|isa| {
        for n in lengths_light() {
            let mut rng = rng(n as u64 + 100);
            let mut a = fill(&mut rng, n);
            let mut b = a.clone();
            let g = fill(&mut rng, n);
            let mut opt = Sgd::new(SgdConfig::new(0.3), &mut []).unwrap();
            assert_eq!(opt.plain_sgd_lr(), Some(0.3));
            opt.set_lr(0.25);
            assert_eq!(opt.plain_sgd_lr(), Some(0.25));
            opt.update(&mut a, &g).unwrap();
            sgd_update(&mut b, &g, 0.25).unwrap();
            assert_eq!(bits(&a), bits(&b), "{isa:?} n={n}");
        }
    });
    let mut st = [0.0; 4];
    let mom = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    };
    let wd = SgdConfig {
        weight_decay: 0.1,
        ..SgdConfig::new(0.1)
    };
    assert_eq!(Sgd::new(mom, &mut st).unwrap().plain_sgd_lr(), None);
    assert_eq!(Sgd::new(wd, &mut st).unwrap().plain_sgd_lr(), None);
    assert_eq!(
        Adam::new(AdamConfig::adam(0.1), &mut st)
            .unwrap()
            .plain_sgd_lr(),
        None
    );
}

#[test]
fn state_lengths_are_const_and_fix_the_parameter_count() {
    const N: usize = 5;
    static mut _FIRMWARE_STATE: [f32; Adam::state_len(N)] = [0.0; Adam::state_len(N)];
    assert_eq!(Adam::state_len(N), 10);
    assert_eq!(Sgd::state_len(N), 5);
    assert_eq!(Adam::state_len(usize::MAX), usize::MAX);

    // Stateful: the state length fixes the count.
    let mut st = [0.0; Adam::state_len(N)];
    let mut adam = Adam::new(AdamConfig::adam(0.1), &mut st).unwrap();
    let (mut p, g) = ([0.0f32; N + 1], [0.5f32; N + 1]);
    // The error names the const fn to size the state with, and the numbers.
    let e = adam.update(&mut p[..N - 1], &g[..N - 1]).unwrap_err();
    assert_eq!(
        e,
        Error::StateMismatch {
            what: "Adam::update",
            params: N - 1,
            needed: 8,
            len: 10,
            sized_by: "Adam::state_len",
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("has 10 values")
            && msg.contains("4 parameters need 8")
            && msg.contains("Adam::state_len(4)"),
        "{msg}"
    );
    assert_eq!(
        adam.check(N + 1),
        Err(Error::StateMismatch {
            what: "Adam::update",
            params: N + 1,
            needed: 12,
            len: 10,
            sized_by: "Adam::state_len",
        })
    );
    adam.update(&mut p[..N], &g[..N]).unwrap();
    // An odd state at construction names Adam::state_len too.
    let mut odd = [0.0f32; 2 * N + 1];
    let e = Adam::new(AdamConfig::adam(0.1), &mut odd).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { what } if what.contains("Adam::state_len(params)")),
        "{e:?}"
    );

    let mom = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    };
    let mut st = [0.0; N];
    let mut sgd = Sgd::new(mom, &mut st).unwrap();
    assert_eq!(
        sgd.update(&mut p, &g),
        Err(Error::StateMismatch {
            what: "Sgd::update",
            params: N + 1,
            needed: N + 1,
            len: N,
            sized_by: "Sgd::state_len",
        })
    );
    sgd.update(&mut p[..N], &g[..N]).unwrap();
    // With momentum and no state: only zero parameters.
    let mut sgd = Sgd::new(mom, &mut []).unwrap();
    assert!(sgd.update(&mut p, &g).is_err());
    sgd.update(&mut [], &[]).unwrap();

    // Without momentum an empty state takes any count; a non-empty one fixes it.
    let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    sgd.update(&mut p[..2], &g[..2]).unwrap();
    sgd.update(&mut p, &g).unwrap();
    let mut st = [0.0; N];
    let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut st).unwrap();
    assert!(sgd.update(&mut p, &g).is_err());
    sgd.update(&mut p[..N], &g[..N]).unwrap();
}

#[test]
fn construction_zeroes_the_state_and_reset_restarts() {
    let mut st = [5.0f32; 6];
    let cfg = SgdConfig {
        momentum: 0.5,
        ..SgdConfig::new(1.0)
    };
    let mut sgd = Sgd::new(cfg, &mut st).unwrap();
    assert!(sgd.momentum_buffer().iter().all(|&b| b == 0.0));
    let mut p = [1.0f32; 6];
    sgd.update(&mut p, &[1.0; 6]).unwrap();
    assert_eq!(sgd.momentum_buffer(), &[1.0; 6]); // b ← g on the first step
    sgd.update(&mut p, &[1.0; 6]).unwrap();
    assert_eq!(sgd.momentum_buffer(), &[1.5; 6]);
    assert_eq!(p, [-1.5; 6]);
    sgd.reset();
    assert!(sgd.momentum_buffer().iter().all(|&b| b == 0.0));
    sgd.update(&mut p, &[2.0; 6]).unwrap();
    assert_eq!(sgd.momentum_buffer(), &[2.0; 6]);
    assert_eq!(sgd.config(), cfg);

    let mut st = [5.0f32; 6];
    let mut adam = Adam::new(AdamConfig::adam(0.1), &mut st).unwrap();
    assert_eq!(adam.moments(), (&[0.0; 3][..], &[0.0; 3][..]));
    assert_eq!(adam.step_count(), 0);
    let mut p = [0.0f32; 3];
    adam.update(&mut p, &[1.0, -2.0, 0.0]).unwrap();
    // Adam's first step moves every parameter with a gradient by lr·g/(|g| + ε'):
    // almost exactly lr.
    assert!((p[0] + 0.1).abs() < 1e-6 && (p[1] - 0.1).abs() < 1e-6 && p[2] == 0.0);
    assert_eq!(adam.step_count(), 1);
    adam.reset();
    assert_eq!(adam.step_count(), 0);
    assert_eq!(adam.moments(), (&[0.0; 3][..], &[0.0; 3][..]));
}

fn invalid(r: Result<impl Sized, Error>) -> &'static str {
    match r {
        Err(Error::InvalidArgument { what }) => what,
        Err(e) => panic!("wanted InvalidArgument, got {e:?}"),
        Ok(_) => panic!("wanted InvalidArgument, got Ok"),
    }
}

fn non_finite(r: Result<impl Sized, Error>) -> &'static str {
    match r {
        Err(Error::NonFinite { what }) => what,
        Err(e) => panic!("wanted NonFinite, got {e:?}"),
        Ok(_) => panic!("wanted NonFinite, got Ok"),
    }
}

#[test]
fn bad_hyperparameters_are_refused_naming_the_field() {
    let s = SgdConfig::new(0.1);
    let mut st = [7.0f32; 4];
    let sgd = |c: SgdConfig, st: &mut [f32]| Sgd::new(c, st).map(|_| ());
    assert!(non_finite(sgd(SgdConfig::new(f32::NAN), &mut st)).contains("lr"));
    assert!(non_finite(sgd(SgdConfig::new(f32::INFINITY), &mut st)).contains("lr"));
    assert!(invalid(sgd(SgdConfig::new(-0.1), &mut st)).contains("lr"));
    let bad = [
        (
            SgdConfig {
                momentum: -0.5,
                ..s
            },
            "momentum",
        ),
        (
            SgdConfig {
                weight_decay: -1.0,
                ..s
            },
            "weight_decay",
        ),
        (
            SgdConfig {
                nesterov: true,
                ..s
            },
            "nesterov",
        ),
    ];
    for (c, field) in bad {
        assert!(invalid(sgd(c, &mut st)).contains(field), "{c:?}");
    }
    let c = SgdConfig {
        momentum: f32::NAN,
        ..s
    };
    assert!(non_finite(sgd(c, &mut st)).contains("momentum"));
    let c = SgdConfig {
        weight_decay: f32::INFINITY,
        ..s
    };
    assert!(non_finite(sgd(c, &mut st)).contains("weight_decay"));
    assert_eq!(st, [7.0; 4], "state untouched by a refused construction");

    let a = AdamConfig::adam(0.1);
    let adam = |c: AdamConfig, st: &mut [f32]| Adam::new(c, st).map(|_| ());
    let bad = [
        (AdamConfig { lr: -1.0, ..a }, "lr"),
        (AdamConfig { beta1: 1.0, ..a }, "beta1"),
        (AdamConfig { beta1: -0.1, ..a }, "beta1"),
        (AdamConfig { beta2: 1.0, ..a }, "beta2"),
        (
            AdamConfig {
                beta2: -0.0001,
                ..a
            },
            "beta2",
        ),
        (AdamConfig { eps: 0.0, ..a }, "eps"),
        (AdamConfig { eps: -1e-8, ..a }, "eps"),
        (
            AdamConfig {
                weight_decay: -0.1,
                ..a
            },
            "weight_decay",
        ),
    ];
    for (c, field) in bad {
        assert!(invalid(adam(c, &mut st)).contains(field), "{c:?}");
    }
    let bad = [
        (AdamConfig { lr: f32::NAN, ..a }, "lr"),
        (
            AdamConfig {
                beta1: f32::NAN,
                ..a
            },
            "beta1",
        ),
        (
            AdamConfig {
                beta2: f32::INFINITY,
                ..a
            },
            "beta2",
        ),
        (
            AdamConfig {
                eps: f32::INFINITY,
                ..a
            },
            "eps",
        ),
        (
            AdamConfig {
                weight_decay: f32::NAN,
                ..a
            },
            "weight_decay",
        ),
    ];
    for (c, field) in bad {
        assert!(non_finite(adam(c, &mut st)).contains(field), "{c:?}");
    }
    assert!(invalid(adam(a, &mut st[..3])).contains("odd"));
    assert_eq!(st, [7.0; 4], "state untouched by a refused construction");
    // The edges that are allowed.
    let edge = AdamConfig {
        beta1: 0.0,
        beta2: 0.0,
        lr: 0.0,
        ..a
    };
    adam(edge, &mut st).unwrap();
    sgd(SgdConfig::new(0.0), &mut st).unwrap();
}

#[test]
fn bad_input_leaves_params_and_state_bit_identical() {
    let n_max = if cfg!(miri) { 19 } else { 70 };
    // Under Miri one length below, one above and one past two portable vectors.
    let lens: &[usize] = if cfg!(miri) {
        &[1, 9, n_max]
    } else {
        &[1, 7, 8, 9, 17, n_max]
    };
    for_each_isa(|isa| {
        for (name, cfg) in configs() {
            for &n in lens {
                let mut rng = rng(n as u64);
                let mut params = fill(&mut rng, n);
                let mut state = vec![0.0; Opt::state_len(cfg, n)];
                let mut opt = Opt::new(cfg, &mut state);
                // A few steps first, so the state is not all zero.
                for _ in 0..3 {
                    let g = fill(&mut rng, n);
                    opt.dyn_opt().update(&mut params, &g).unwrap();
                }
                let (p0, s0) = (bits(&params), opt.snapshot());
                let good = fill(&mut rng, n);
                let unchanged = |opt: &Opt<'_>, params: &[f32], what: &str| {
                    assert_eq!(
                        bits(params),
                        p0,
                        "{isa:?} {name} n={n}: params after {what}"
                    );
                    assert_eq!(
                        opt.snapshot(),
                        s0,
                        "{isa:?} {name} n={n}: state after {what}"
                    );
                };
                // Both entry points refuse the same input.
                for scalar in [false, true] {
                    let run = |opt: &mut Opt<'_>, p: &mut [f32], g: &[f32]| {
                        if scalar {
                            opt.update_scalar(p, g)
                        } else {
                            opt.dyn_opt().update(p, g)
                        }
                    };
                    // grads of another length.
                    let mut longer = good.clone();
                    longer.push(0.5);
                    let r = run(&mut opt, &mut params, &longer);
                    assert!(
                        matches!(r, Err(Error::ShapeMismatch { what, .. }) if what.contains("grads"))
                    );
                    unchanged(&opt, &params, "long grads");
                    let r = run(&mut opt, &mut params, &good[..n - 1]);
                    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
                    unchanged(&opt, &params, "short grads");
                    // params of another length than the state (stateful optimizers).
                    let stateful = !opt.snapshot().0.is_empty();
                    if stateful {
                        let r = run(&mut opt, &mut params[..n - 1], &good[..n - 1]);
                        let (entry, sizer) = match (name.starts_with("adam"), scalar) {
                            (true, false) => ("Adam::update", "Adam::state_len"),
                            (true, true) => ("Adam::update_scalar", "Adam::state_len"),
                            (false, false) => ("Sgd::update", "Sgd::state_len"),
                            (false, true) => ("Sgd::update_scalar", "Sgd::state_len"),
                        };
                        let per = if sizer == "Adam::state_len" { 2 } else { 1 };
                        assert_eq!(
                            r,
                            Err(Error::StateMismatch {
                                what: entry,
                                params: n - 1,
                                needed: per * (n - 1),
                                len: per * n,
                                sized_by: sizer,
                            }),
                            "{isa:?} {name} n={n}"
                        );
                        unchanged(&opt, &params, "short params");
                    }
                    // A non-finite gradient anywhere.
                    for at in [0, n / 2, n - 1] {
                        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                            let mut g = good.clone();
                            g[at] = bad;
                            let what = non_finite(run(&mut opt, &mut params, &g));
                            assert!(what.contains("grads"));
                            unchanged(&opt, &params, "a non-finite gradient");
                        }
                    }
                    // A bad learning rate set between steps.
                    let lr = opt.dyn_opt().lr();
                    for bad in [f32::NAN, f32::INFINITY, -1.0] {
                        opt.dyn_opt().set_lr(bad);
                        let r = run(&mut opt, &mut params, &good);
                        match r {
                            Err(Error::NonFinite { what })
                            | Err(Error::InvalidArgument { what }) => {
                                assert!(what.contains("lr"), "{what}")
                            }
                            r => panic!("{isa:?} {name}: lr {bad} gave {r:?}"),
                        }
                        unchanged(&opt, &params, "a bad learning rate");
                    }
                    opt.dyn_opt().set_lr(lr);
                }
                // And then a good update still works.
                opt.dyn_opt().update(&mut params, &good).unwrap();
                assert_ne!(bits(&params), p0);
            }
        }
    });
}

#[test]
fn updates_and_clipping_allocate_nothing() {
    let _ = Isa::detected();
    let n = if cfg!(miri) { 33 } else { 1000 };
    let mut rng = rng(5);
    let mut params = fill(&mut rng, n);
    let mut grads = fill(&mut rng, n);
    let mut sgd_state = vec![0.0; Sgd::state_len(n)];
    let mut adam_state = vec![0.0; Adam::state_len(n)];
    let mom = SgdConfig {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-4,
        ..SgdConfig::new(0.01)
    };
    let mut sgd = Sgd::new(mom, &mut sgd_state).unwrap();
    let mut adam = Adam::new(AdamConfig::adamw(1e-3, 1e-2), &mut adam_state).unwrap();
    let mut plain = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
    for_each_isa(|isa| {
        let count = common::alloc::count_allocs(|| {
            for step in 0..3 {
                sgd.set_lr(cosine(0.01, 0.001, 1, 3, step));
                sgd.update(&mut params, &grads).unwrap();
                adam.update(&mut params, &grads).unwrap();
                plain.update(&mut params, &grads).unwrap();
                clip_grad_norm(&mut grads, 0.5).unwrap();
                let (a, b) = grads.split_at_mut(n / 2);
                clip_grad_norm_slices(&mut [a, b], 0.25).unwrap();
                grads[0] = f32::NAN;
                assert!(adam.update(&mut params, &grads).is_err());
                assert!(clip_grad_norm(&mut grads, 1.0).is_err());
                grads[0] = 0.1;
            }
        });
        assert_eq!(count, 0, "{isa:?}");
    });
}

// ---------------------------------------------------------------------------------------
// Clipping.

fn norm64(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn clip_grad_norm_returns_the_norm_and_scales_above_max() {
    for_each_isa(|isa| {
        for n in lengths_light() {
            let mut rng = rng(n as u64 + 9);
            let g0 = fill(&mut rng, n);
            let want = norm64(&g0);
            // Σ g² in f32: relative error at most (n + 4)·2⁻²⁴ (a sum of n positive terms,
            // in any order, fused or not), halved by the square root.
            let tol = (n as f64 + 4.0) * EPS;
            // max_norm above the norm: returned, nothing written.
            let mut g = g0.clone();
            let got = clip_grad_norm(&mut g, want as f32 * 1.01 + 1e-3).unwrap();
            assert!(
                (f64::from(got) - want).abs() <= tol * want,
                "{isa:?} n={n}: {got} vs {want}"
            );
            assert_eq!(
                bits(&g),
                bits(&g0),
                "{isa:?} n={n}: untouched below max_norm"
            );
            if n == 0 {
                assert_eq!(got, 0.0);
                continue;
            }
            // max_norm below the norm: every value times max/(norm + 1e-6), exactly.
            let max = (want / 2.0) as f32;
            let norm = clip_grad_norm(&mut g, max).unwrap();
            assert_eq!(norm, got);
            let coef = max / (norm + 1e-6);
            for (a, b) in g.iter().zip(&g0) {
                assert_eq!(a.to_bits(), (b * coef).to_bits(), "{isa:?} n={n}");
            }
            // The clipped norm: max·‖g‖/(norm + 1e-6), at most max (to rounding).
            let after = norm64(&g);
            let expect = want * f64::from(coef);
            assert!(
                after <= f64::from(max) * (1.0 + tol),
                "{isa:?} n={n}: {after} vs {max}"
            );
            assert!(
                (after - expect).abs() <= 2.0 * tol * expect,
                "{isa:?} n={n}: {after} vs {expect}"
            );
            // max_norm = ∞: the norm alone.
            let mut h = g0.clone();
            assert_eq!(clip_grad_norm(&mut h, f32::INFINITY).unwrap(), got);
            assert_eq!(bits(&h), bits(&g0));
            // max_norm = 0: all zero.
            clip_grad_norm(&mut h, 0.0).unwrap();
            assert!(h.iter().all(|&x| x == 0.0));
        }
    });
}

#[test]
fn clip_grad_norm_over_several_slices_is_one_global_norm() {
    for_each_isa(|isa| {
        let mut rng = rng(3);
        let (a0, b0, c0) = (fill(&mut rng, 37), fill(&mut rng, 0), fill(&mut rng, 70));
        let all: Vec<f32> = a0.iter().chain(&b0).chain(&c0).copied().collect();
        let want = norm64(&all);
        let (mut a, mut b, mut c) = (a0.clone(), b0.clone(), c0.clone());
        let norm = clip_grad_norm_slices(&mut [&mut a, &mut b, &mut c], 1.0).unwrap();
        assert!(
            (f64::from(norm) - want).abs() <= 120.0 * EPS * want,
            "{isa:?}"
        );
        assert!(norm > 1.0);
        let coef = 1.0 / (norm + 1e-6);
        for (x, y) in a.iter().chain(&c).zip(a0.iter().chain(&c0)) {
            assert_eq!(x.to_bits(), (y * coef).to_bits());
        }
        assert!((norm64(&a.iter().chain(&c).copied().collect::<Vec<_>>()) - 1.0).abs() < 1e-5);
        assert_eq!(clip_grad_norm_slices(&mut [], 1.0).unwrap(), 0.0);
    });
}

#[test]
fn clip_grad_norm_refuses_non_finite_and_handles_huge_values() {
    for_each_isa(|isa| {
        let n = 41;
        let mut rng = rng(4);
        let g0 = fill(&mut rng, n);
        for at in [0, 20, 40] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut g = g0.clone();
                g[at] = bad;
                let before = bits(&g);
                assert!(non_finite(clip_grad_norm(&mut g, 0.1)).contains("norm"));
                assert_eq!(bits(&g), before, "{isa:?}: nothing scaled");
                let (mut x, mut y) = (g0.clone(), g.clone());
                assert!(clip_grad_norm_slices(&mut [&mut x, &mut y], 0.1).is_err());
                assert_eq!(bits(&x), bits(&g0));
            }
        }
        let mut g = g0.clone();
        assert!(non_finite(clip_grad_norm(&mut g, f32::NAN)).contains("max_norm"));
        assert!(invalid(clip_grad_norm(&mut g, -1.0)).contains("max_norm"));
        assert_eq!(bits(&g), bits(&g0));

        // Squares that overflow f32 (1e60) but a norm that fits: computed, and clipped.
        let mut g = vec![1e30f32; 10];
        g[3] = -3e30;
        g[7] = 1e-20;
        let want = norm64(&g);
        let norm = clip_grad_norm(&mut g, 1.0).unwrap();
        assert!(
            (f64::from(norm) - want).abs() <= 1e-6 * want,
            "{isa:?}: {norm} vs {want}"
        );
        assert!((norm64(&g) - 1.0).abs() < 1e-5);
        // The largest finite values: still a finite norm for one, too large for four.
        assert_eq!(
            clip_grad_norm(&mut [f32::MAX], f32::INFINITY).unwrap(),
            f32::MAX
        );
        let mut g = [f32::MAX, -f32::MAX, 1.0, f32::MAX];
        assert!(non_finite(clip_grad_norm(&mut g, 1.0)).contains("norm"));
        assert_eq!(g, [f32::MAX, -f32::MAX, 1.0, f32::MAX]);
        // Tiny values whose squares underflow f32: still the right norm, and clipped.
        let mut g = [1e-30f32; 8];
        g[2] = 0.0;
        g[5] = -4e-30;
        let want = norm64(&g);
        let norm = clip_grad_norm(&mut g, 1.0).unwrap();
        assert!(
            (f64::from(norm) - want).abs() <= 1e-6 * want,
            "{isa:?}: {norm} vs {want}"
        );
        assert_eq!(g[0], 1e-30);
        assert_eq!(clip_grad_norm(&mut [0.0; 9], 1.0).unwrap(), 0.0);
        assert_eq!(
            clip_grad_norm(&mut [f32::from_bits(1)], 1.0).unwrap(),
            f32::from_bits(1)
        );
    });
}

// ---------------------------------------------------------------------------------------
// Schedules.

#[test]
fn constant_schedule_is_constant() {
    for step in [0, 1, 1000, u64::MAX] {
        assert_eq!(constant(0.125, step), 0.125);
    }
}

#[test]
fn step_decay_values_at_key_steps() {
    let f = |step| step_decay(0.1, 0.5, 10, step);
    assert_eq!(f(0), 0.1);
    assert_eq!(f(9), 0.1);
    assert_eq!(f(10), 0.05);
    assert_eq!(f(19), 0.05);
    assert_eq!(f(20), 0.025);
    assert_eq!(f(35), 0.0125);
    assert_eq!(f(u64::MAX), 0.0); // γ^(huge) underflows
    assert_eq!(step_decay(0.1, 0.5, 0, 1000), 0.1, "step_size 0: no decay");
    assert_eq!(step_decay(0.1, 1.0, 1, u64::MAX), 0.1);
    assert_eq!(
        step_decay(2.0, 0.1, 1, 3),
        (2.0f64 * 0.1f32 as f64 * 0.1f32 as f64 * 0.1f32 as f64) as f32
    );
    assert!(step_decay(f32::NAN, 0.5, 1, 3).is_nan());
}

#[test]
fn cosine_values_at_key_steps() {
    let (lr, min) = (0.1f32, 0.001f32);
    let f = |step| cosine(lr, min, 4, 104, step);
    // Warm-up: lr·(step + 1)/4.
    assert_eq!(f(0), (0.1f32 as f64 * 0.25) as f32);
    assert_eq!(f(1), (0.1f32 as f64 * 0.5) as f32);
    assert_eq!(f(3), lr);
    // The cosine: lr at its start, the mean half-way, min at its end and beyond.
    assert_eq!(f(4), lr);
    let mid = (f64::from(lr) + f64::from(min)) / 2.0;
    assert!((f64::from(f(54)) - mid).abs() <= 1e-7 * mid);
    let quarter = f64::from(min)
        + (f64::from(lr) - f64::from(min)) * (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0;
    assert!((f64::from(f(29)) - quarter).abs() <= 1e-7 * quarter);
    assert_eq!(f(104), min);
    assert_eq!(f(105), min);
    assert_eq!(f(u64::MAX), min);
    // Decreasing over the decay.
    for s in 4..104 {
        assert!(f(s + 1) <= f(s), "step {s}");
    }
    // No warm-up: the cosine from step 0. No decay phase: min from the warm-up's end on.
    assert_eq!(cosine(lr, min, 0, 10, 0), lr);
    assert_eq!(cosine(lr, min, 0, 0, 0), min);
    assert_eq!(cosine(lr, min, 5, 5, 4), lr);
    assert_eq!(cosine(lr, min, 5, 5, 5), min);
    assert_eq!(cosine(lr, min, 5, 2, 3), (0.1f32 as f64 * 0.8) as f32);
    assert_eq!(cosine(lr, min, u64::MAX, u64::MAX, u64::MAX - 1), lr);
}

/// Moments and momentum never hold subnormals: a parameter whose gradient stays zero has
/// its Adam moments and SGD momentum decay to exactly 0 (through values ≥ 1e-30), and a
/// gradient below 1e-30 counts as zero; on every ISA, SIMD and scalar alike.
#[test]
fn optimizer_state_is_flushed_below_1e_minus_30_never_subnormal() {
    // m decays by β₁ = 0.9 a step: from 0.1 (a unit gradient) it takes ~630 steps to
    // pass 1e-30, from 1e-13 under Miri (fewer steps, for time) ~370.
    let (steps, g0) = if cfg!(miri) {
        (450, 1e-12)
    } else {
        (1500, 1.0)
    };
    for_each_isa(|isa| {
        for scalar in [false, true] {
            let n = 5;
            let mut params = vec![0.5f32; n];
            let mut st = vec![0.0f32; Adam::state_len(n)];
            let mut adam = Adam::new(AdamConfig::adam(1e-3), &mut st).unwrap();
            let mut ms = vec![0.0f32; Sgd::state_len(n)];
            let cfg = SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(1e-3)
            };
            let mut sgd = Sgd::new(cfg, &mut ms).unwrap();
            let mut p2 = params.clone();
            // One real gradient, then zeros (and values below the flush threshold).
            let first = [g0, -g0, 1e-3 * g0, 1e-29, 9e-31];
            let later = [0.0f32, 9.9e-31, -5e-31, 0.0, 1e-40];
            for step in 0..steps {
                let g = if step == 0 { &first } else { &later };
                if scalar {
                    adam.update_scalar(&mut params, g).unwrap();
                    sgd.update_scalar(&mut p2, g).unwrap();
                } else {
                    adam.update(&mut params, g).unwrap();
                    sgd.update(&mut p2, g).unwrap();
                }
                let (m, v) = adam.moments();
                for x in m.iter().chain(v).chain(sgd.momentum_buffer()) {
                    assert!(!x.is_subnormal(), "{isa:?} step {step}: {x:e}");
                    assert!(*x == 0.0 || x.abs() >= 1e-30, "{isa:?} step {step}: {x:e}");
                }
            }
            let (m, _) = adam.moments();
            assert!(
                m.iter().all(|&x| x == 0.0),
                "{isa:?}: m decayed to 0: {m:?}"
            );
            assert!(sgd.momentum_buffer().iter().all(|&x| x == 0.0));
        }
    });
}
