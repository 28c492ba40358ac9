//! The trainer API of issue 8 against references: `loss_and_grad_with` for every `Loss`
//! against central finite differences of an f64 forward pass and f64 loss formulas;
//! `loss_and_grad_custom` and `train_step_with` against the paths they must equal bit for
//! bit; `train_epoch`, `evaluate` and `predict` against the manual loops they stand for;
//! `Mlp::init` against its documented bounds. Then every error path (nothing written,
//! never a panic) and a counting allocator proving the whole trainer allocation-free.
#![cfg(feature = "std")] // with_isa (directly or through tests/common) needs std

mod common;
use common::alloc::count_allocs;
use common::*;
use microprop::Activation::{self, Identity, Relu, Sigmoid, Tanh};
use microprop::data::{Batch, Dataset, Features, Labels, batches, identity_permutation, shuffle};
use microprop::init::{Init, init_weights};
use microprop::metrics::{accuracy, argmax};
use microprop::nn::Mlp;
use microprop::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use microprop::{Error, Loss, Target};
use rand::RngExt;
use rand::rngs::StdRng;

/// The Adam cases are left out under Miri to keep its run short: Adam's own kernel runs
/// there in tests/optim.rs (with `libm`'s software square root, see `.ci/miri.sh`).
const ADAM_OK: bool = !cfg!(miri);

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn act64(a: Activation, z: f64) -> f64 {
    match a {
        Identity => z,
        Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Relu => z.max(0.0),
        Tanh => z.tanh(),
        _ => panic!(
            "tests/trainer.rs has no f64 reference for {}: add its arm",
            a.name()
        ),
    }
}

/// f64 forward pass with the documented parameter layout; returns `A_L`.
fn forward64(sizes: &[usize], acts: &[Activation], bias: bool, p: &[f64], x: &[f64]) -> Vec<f64> {
    let n = x.len() / sizes[0];
    let mut a = x.to_vec();
    let mut off = 0;
    for l in 0..sizes.len() - 1 {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        let w = &p[off..off + di * dout];
        off += di * dout;
        let b = if bias {
            off += dout;
            Some(&p[off - dout..off])
        } else {
            None
        };
        let mut next = vec![0.0; n * dout];
        for r in 0..n {
            for j in 0..dout {
                let mut z = b.map_or(0.0, |b| b[j]);
                for i in 0..di {
                    z += a[r * di + i] * w[i * dout + j];
                }
                next[r * dout + j] = act64(acts[l], z);
            }
        }
        a = next;
    }
    a
}

/// A target the test owns.
#[derive(Clone, Debug)]
enum Owned {
    Values(Vec<f32>),
    Classes(Vec<u32>),
}

impl Owned {
    fn target(&self) -> Target<'_> {
        match self {
            Owned::Values(v) => Target::Values(v),
            Owned::Classes(c) => Target::Classes(c),
        }
    }
}

/// The f64 loss of `out` (`N × d`) against `t`, from the documented formulas.
fn loss64(loss: Loss, out: &[f64], d: usize, t: &Owned) -> f64 {
    let n = out.len() / d;
    let p: Vec<f64> = match t {
        Owned::Values(v) => to64(v),
        Owned::Classes(c) => {
            let mut p = vec![0.0; out.len()];
            for (r, &c) in c.iter().enumerate() {
                p[r * d + c as usize] = 1.0;
            }
            p
        }
    };
    let sq: f64 = out.iter().zip(&p).map(|(a, y)| (a - y) * (a - y)).sum();
    match loss {
        Loss::SumSquared => sq,
        Loss::MeanSquared => sq / (n * d) as f64,
        Loss::SoftmaxCrossEntropy => {
            let mut total = 0.0;
            for (z, p) in out.chunks(d).zip(p.chunks(d)) {
                let m = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                total -= z.iter().zip(p).map(|(z, p)| p * (z - lse)).sum::<f64>();
            }
            total / n as f64
        }
        Loss::BinaryCrossEntropy => {
            out.iter()
                .zip(&p)
                .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
                .sum::<f64>()
                / (n * d) as f64
        }
        _ => panic!("tests/trainer.rs has no f64 formula for {loss:?}: add its arm"),
    }
}

/// Every (loss, class labels?) pair a network can train on.
fn kinds() -> Vec<(Loss, bool)> {
    let mut k: Vec<(Loss, bool)> = Loss::ALL.iter().map(|&l| (l, false)).collect();
    k.push((Loss::SoftmaxCrossEntropy, true));
    k
}

/// A target of `n` rows of `d` suiting `loss`: probability rows for softmax CE, values
/// in [0, 1] for BCE, any values for the squared losses; or class labels.
fn make_target(rng: &mut StdRng, loss: Loss, classes: bool, n: usize, d: usize) -> Owned {
    if classes {
        return Owned::Classes((0..n).map(|_| rng.random_range(0..d as u32)).collect());
    }
    Owned::Values(match loss {
        Loss::SoftmaxCrossEntropy => {
            let mut v: Vec<f32> = (0..n * d).map(|_| rng.random_range(0.05f32..1.0)).collect();
            for row in v.chunks_mut(d) {
                let s: f32 = row.iter().sum();
                row.iter_mut().for_each(|p| *p /= s);
            }
            v
        }
        Loss::BinaryCrossEntropy => (0..n * d).map(|_| rng.random_range(0.0f32..=1.0)).collect(),
        _ => fill(rng, n * d),
    })
}

#[test]
fn loss_and_grad_with_matches_finite_differences_for_every_loss() {
    let mut rng = rng(81);
    let mut case = 0usize;
    for (loss, classes) in kinds() {
        for depth in 1..=3 {
            for &act in Activation::ALL {
                for bias in [false, true] {
                    case += 1;
                    // Under Miri one case in 8, still touching every loss and depth.
                    if cfg!(miri) && !case.is_multiple_of(8) {
                        continue;
                    }
                    let sizes: Vec<usize> = (0..=depth).map(|_| rng.random_range(1..=5)).collect();
                    // `act` on every hidden layer; the output layer `act` too, except
                    // for the cross-entropies half the time (they take logits).
                    let mut acts = vec![act; depth];
                    if loss != Loss::SumSquared
                        && loss != Loss::MeanSquared
                        && case.is_multiple_of(2)
                    {
                        acts[depth - 1] = Identity;
                    }
                    let d = sizes[depth];
                    let n = rng.random_range(1..=4);
                    let net = Mlp::new(&sizes, &acts, bias).unwrap();
                    let params = fill(&mut rng, Mlp::param_len(&sizes, bias));
                    let x = fill(&mut rng, n * sizes[0]);
                    let t = make_target(&mut rng, loss, classes, n, d);
                    let (p64, x64) = (to64(&params), to64(&x));
                    let f =
                        |p: &[f64]| loss64(loss, &forward64(&sizes, &acts, bias, p, &x64), d, &t);
                    let h = 1e-6;
                    let numeric: Vec<f64> = (0..params.len())
                        .map(|i| {
                            let (mut hi, mut lo) = (p64.clone(), p64.clone());
                            hi[i] += h;
                            lo[i] -= h;
                            (f(&hi) - f(&lo)) / (2.0 * h)
                        })
                        .collect();
                    let want = f(&p64);
                    let scale = numeric.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
                    let mut ws = vec![f32::NAN; Mlp::workspace_len(&sizes, n)];
                    let mut grads = vec![f32::NAN; params.len()];
                    let got = net
                        .loss_and_grad_with(&params, &x, t.target(), loss, &mut grads, &mut ws)
                        .unwrap();
                    let what = format!("{loss:?} classes {classes} {sizes:?} {acts:?} bias {bias}");
                    assert!(
                        (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{what}: loss {got} vs f64 {want}"
                    );
                    for (i, (&g, &num)) in grads.iter().zip(&numeric).enumerate() {
                        let g = f64::from(g);
                        assert!(
                            (g - num).abs() <= 1e-3 * num.abs() + 1e-4 * scale,
                            "{what}: dθ[{i}] = {g}, finite difference {num}"
                        );
                    }
                }
            }
        }
    }
}

/// A small network, its parameters and a batch, shared by the bit-identity tests.
struct Setup {
    sizes: Vec<usize>,
    acts: Vec<Activation>,
    bias: bool,
    params: Vec<f32>,
    x: Vec<f32>,
    n: usize,
}

impl Setup {
    fn new(seed: u64, sizes: &[usize], acts: &[Activation], bias: bool, n: usize) -> Self {
        let mut rng = rng(seed);
        Setup {
            sizes: sizes.to_vec(),
            acts: acts.to_vec(),
            bias,
            params: fill(&mut rng, Mlp::param_len(sizes, bias)),
            x: fill(&mut rng, n * sizes[0]),
            n,
        }
    }
    fn net(&self) -> Mlp<'_> {
        Mlp::new(&self.sizes, &self.acts, self.bias).unwrap()
    }
    fn ws(&self) -> Vec<f32> {
        vec![f32::NAN; Mlp::workspace_len(&self.sizes, self.n)]
    }
    fn d_out(&self) -> usize {
        *self.sizes.last().unwrap()
    }
}

#[test]
fn loss_and_grad_custom_with_sum_squared_gives_the_bits_of_loss_and_grad() {
    let (sizes, n) = if cfg!(miri) {
        ([3, 4, 2], 3)
    } else {
        ([7, 12, 5], 9)
    };
    let s = Setup::new(5, &sizes, &[Tanh, Sigmoid], true, n);
    let net = s.net();
    let y = fill(&mut rng(6), n * s.d_out());
    for_each_isa(|isa| {
        let mut ws = s.ws();
        let mut want = vec![f32::NAN; s.params.len()];
        let l0 = net
            .loss_and_grad(&s.params, &s.x, &y, &mut want, &mut ws)
            .unwrap();
        // The library's loss inside the closure: every bit the same.
        let mut g1 = vec![f32::NAN; s.params.len()];
        let l1 = net
            .loss_and_grad_custom(&s.params, &s.x, &mut g1, &mut ws, |a, g| {
                Loss::SumSquared.loss_and_grad(a, s.d_out(), Target::Values(&y), g)
            })
            .unwrap();
        assert_eq!(l1.to_bits(), l0.to_bits(), "{isa:?}");
        assert_eq!(bits(&g1), bits(&want), "{isa:?}");
        // Written by hand: 2(a − y) is exactly rounded either way, so the gradients are
        // the same bits; the loss is summed in another order.
        let mut g2 = vec![f32::NAN; s.params.len()];
        let l2 = net
            .loss_and_grad_custom(&s.params, &s.x, &mut g2, &mut ws, |a, g| {
                let mut sum = 0.0f32;
                for ((g, &a), &y) in g.iter_mut().zip(a).zip(&y) {
                    *g = 2.0 * (a - y);
                    sum += (a - y) * (a - y);
                }
                Ok(sum)
            })
            .unwrap();
        assert!((l2 - l0).abs() <= 1e-5 * l0.abs(), "{isa:?}: {l2} vs {l0}");
        assert_eq!(bits(&g2), bits(&want), "{isa:?}");
        // An error from the closure is passed on, nothing written.
        let mut g3 = vec![f32::NAN; s.params.len()];
        let e = net.loss_and_grad_custom(&s.params, &s.x, &mut g3, &mut ws, |_, _| {
            Err(Error::InvalidArgument { what: "mine" })
        });
        assert_eq!(e, Err(Error::InvalidArgument { what: "mine" }));
        assert!(g3.iter().all(|g| g.is_nan()));
    });
}

#[test]
fn train_step_with_plain_sgd_is_train_step_and_leaves_grads_alone() {
    let (sizes, n, steps) = if cfg!(miri) {
        (vec![3, 4, 2], 3, 2)
    } else {
        (vec![9, 16, 7, 4], 11, 4)
    };
    let acts = [Sigmoid, Relu, Identity];
    let s = Setup::new(7, &sizes, &acts[3 - (sizes.len() - 1)..], true, n);
    let net = s.net();
    let y = fill(&mut rng(8), n * s.d_out());
    for_each_isa(|isa| {
        let mut ws = s.ws();
        let (mut a, mut b) = (s.params.clone(), s.params.clone());
        let mut grads = vec![f32::from_bits(0x7fc0_1234); s.params.len()];
        let poison = bits(&grads);
        let mut opt = Sgd::new(SgdConfig::new(0.05), &mut []).unwrap();
        assert_eq!(opt.plain_sgd_lr(), Some(0.05));
        for _ in 0..steps {
            let l0 = net.train_step(&mut a, &s.x, &y, 0.05, &mut ws).unwrap();
            let l1 = net
                .train_step_with(
                    &mut b,
                    &s.x,
                    Target::Values(&y),
                    Loss::SumSquared,
                    &mut opt,
                    &mut grads,
                    &mut ws,
                )
                .unwrap();
            assert_eq!(l0.to_bits(), l1.to_bits(), "{isa:?}");
            assert_eq!(bits(&a), bits(&b), "{isa:?}");
        }
        assert_eq!(bits(&grads), poison, "{isa:?}: the fused path wrote grads");
    });
}

/// The optimizers `train_step_with` must equal `loss_and_grad_with` + `update` for.
fn stateful_configs() -> Vec<(&'static str, Option<SgdConfig>, Option<AdamConfig>)> {
    vec![
        (
            "sgd momentum",
            Some(SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(0.05)
            }),
            None,
        ),
        (
            "sgd nesterov + wd",
            Some(SgdConfig {
                momentum: 0.5,
                nesterov: true,
                weight_decay: 0.01,
                ..SgdConfig::new(0.02)
            }),
            None,
        ),
        (
            "sgd wd only",
            Some(SgdConfig {
                weight_decay: 0.1,
                ..SgdConfig::new(0.02)
            }),
            None,
        ),
        ("adam", None, Some(AdamConfig::adam(1e-2))),
        ("adamw", None, Some(AdamConfig::adamw(1e-2, 0.05))),
    ]
}

#[test]
fn train_step_with_stateful_optimizers_is_loss_and_grad_then_update() {
    let (sizes, n, steps) = if cfg!(miri) {
        (vec![3, 4, 3], 2, 2)
    } else {
        (vec![6, 10, 5], 7, 4)
    };
    let s = Setup::new(9, &sizes, &[Tanh, Identity], true, n);
    let net = s.net();
    let p = s.params.len();
    let mut trng = rng(10);
    for (loss, classes) in kinds() {
        let t = make_target(&mut trng, loss, classes, n, s.d_out());
        for (name, sgd, adam) in stateful_configs() {
            if adam.is_some() && !ADAM_OK {
                continue;
            }
            for_each_isa(|isa| {
                let mut ws = s.ws();
                let (mut a, mut b) = (s.params.clone(), s.params.clone());
                let (mut ga, mut gb) = (vec![0.0; p], vec![0.0; p]);
                let (mut sa, mut sb) = (vec![0.0; 2 * p], vec![0.0; 2 * p]);
                let (mut oa, mut ob): (Box<dyn Optimizer>, Box<dyn Optimizer>) = match (sgd, adam) {
                    (Some(c), _) => (
                        Box::new(Sgd::new(c, &mut sa[..p]).unwrap()),
                        Box::new(Sgd::new(c, &mut sb[..p]).unwrap()),
                    ),
                    (_, Some(c)) => (
                        Box::new(Adam::new(c, &mut sa).unwrap()),
                        Box::new(Adam::new(c, &mut sb).unwrap()),
                    ),
                    _ => unreachable!(),
                };
                assert_eq!(oa.plain_sgd_lr(), None);
                for step in 0..steps {
                    let l0 = net
                        .train_step_with(&mut a, &s.x, t.target(), loss, &mut *oa, &mut ga, &mut ws)
                        .unwrap();
                    let l1 = net
                        .loss_and_grad_with(&b, &s.x, t.target(), loss, &mut gb, &mut ws)
                        .unwrap();
                    ob.update(&mut b, &gb).unwrap();
                    let what = format!("{isa:?} {name} {loss:?} classes {classes} step {step}");
                    assert_eq!(l0.to_bits(), l1.to_bits(), "{what}");
                    assert_eq!(bits(&ga), bits(&gb), "{what}: grads");
                    assert_eq!(bits(&a), bits(&b), "{what}: params");
                }
                drop((oa, ob));
                assert_eq!(bits(&sa), bits(&sb), "{isa:?} {name}: state");
            });
        }
    }
}

/// A data set of `len` rows, features interleaved with their targets in one f32 record
/// (`d0` features then `d` target values or one label), so strides are exercised.
struct Data {
    records: Vec<f32>,
    labels: Vec<u32>,
    bytes: Vec<u8>,
    len: usize,
    d0: usize,
    d: usize,
}

impl Data {
    fn new(seed: u64, len: usize, d0: usize, d: usize, loss: Loss) -> Self {
        let mut rng = rng(seed);
        let rec = d0 + d;
        let mut records = vec![0.0f32; len * rec];
        let t = make_target(&mut rng, loss, false, len, d);
        let Owned::Values(t) = t else { unreachable!() };
        for r in 0..len {
            let x = fill(&mut rng, d0);
            records[r * rec..][..d0].copy_from_slice(&x);
            records[r * rec + d0..][..d].copy_from_slice(&t[r * d..][..d]);
        }
        let labels = (0..len).map(|_| rng.random_range(0..d as u32)).collect();
        let bytes = (0..len * d0).map(|_| rng.random_range(0..=16u8)).collect();
        Data {
            records,
            labels,
            bytes,
            len,
            d0,
            d,
        }
    }

    fn values(&self) -> Dataset<'_> {
        Dataset {
            x: Features::F32 {
                data: &self.records,
                stride: self.d0 + self.d,
            },
            y: Labels::Values {
                data: &self.records[self.d0..],
                stride: self.d0 + self.d,
            },
            len: self.len,
        }
    }

    fn classes(&self) -> Dataset<'_> {
        Dataset {
            x: Features::U8 {
                data: &self.bytes,
                stride: self.d0,
                scale: 1.0 / 16.0,
            },
            y: Labels::Classes(&self.labels),
            len: self.len,
        }
    }

    fn for_loss(&self, classes: bool) -> Dataset<'_> {
        if classes {
            self.classes()
        } else {
            self.values()
        }
    }
}

/// Owned batch buffers for `b` rows.
struct Bufs {
    x: Vec<f32>,
    y: Vec<f32>,
    labels: Vec<u32>,
}

impl Bufs {
    fn new(b: usize, d0: usize, d: usize) -> Self {
        Bufs {
            x: vec![f32::NAN; b * d0],
            y: vec![f32::NAN; b * d],
            labels: vec![u32::MAX; b],
        }
    }
    fn batch(&mut self) -> Batch<'_> {
        Batch {
            x: &mut self.x,
            y: &mut self.y,
            labels: &mut self.labels,
        }
    }
}

fn sizes_for(d0: usize, d: usize) -> Vec<usize> {
    vec![d0, 6, d]
}

#[test]
fn train_epoch_is_the_manual_loop_bit_for_bit() {
    let (len, b) = if cfg!(miri) { (7, 3) } else { (23, 5) }; // a short last batch
    let (d0, d) = (4, 3);
    let sizes = sizes_for(d0, d);
    let acts = [Relu, Identity];
    let net = Mlp::new(&sizes, &acts, true).unwrap();
    let p = Mlp::param_len(&sizes, true);
    for (loss, classes) in kinds() {
        let data = Data::new(11, len, d0, d, loss);
        let ds = data.for_loss(classes);
        for adam in [false, true] {
            if adam && !ADAM_OK {
                continue;
            }
            let mut rng = rng(12);
            let mut params = fill(&mut rng, p);
            let mut manual = params.clone();
            let mut order = vec![0u32; len];
            identity_permutation(&mut order).unwrap();
            let (mut sa, mut sb) = (vec![0.0; 2 * p], vec![0.0; 2 * p]);
            let (mut oa, mut ob): (Box<dyn Optimizer>, Box<dyn Optimizer>) = if adam {
                (
                    Box::new(Adam::new(AdamConfig::adam(1e-2), &mut sa).unwrap()),
                    Box::new(Adam::new(AdamConfig::adam(1e-2), &mut sb).unwrap()),
                )
            } else {
                (
                    Box::new(Sgd::new(SgdConfig::new(0.05), &mut []).unwrap()),
                    Box::new(Sgd::new(SgdConfig::new(0.05), &mut []).unwrap()),
                )
            };
            let (mut ba, mut bb) = (Bufs::new(b, d0, d), Bufs::new(b, d0, d));
            let (mut ga, mut gb) = (vec![0.0; p], vec![0.0; p]);
            let (mut wa, mut wb) = (
                vec![0.0; Mlp::workspace_len(&sizes, b)],
                vec![0.0; Mlp::workspace_len(&sizes, b)],
            );
            for epoch in 0..2 {
                shuffle(&mut order, &mut rng);
                let mean = net
                    .train_epoch(
                        &mut params,
                        &ds,
                        &order,
                        loss,
                        &mut *oa,
                        &mut ba.batch(),
                        &mut ga,
                        &mut wa,
                    )
                    .unwrap();
                let mut total = 0.0f64;
                let mut sizes_seen = vec![];
                for r in batches(order.len(), b).unwrap() {
                    let rows = &order[r];
                    let mut batch = bb.batch();
                    let (x, t) = ds.gather(rows, d0, d, &mut batch).unwrap();
                    let l = net
                        .train_step_with(&mut manual, x, t, loss, &mut *ob, &mut gb, &mut wb)
                        .unwrap();
                    total += if loss == Loss::SumSquared {
                        f64::from(l)
                    } else {
                        f64::from(l) * rows.len() as f64
                    };
                    sizes_seen.push(rows.len());
                }
                assert_eq!(*sizes_seen.last().unwrap(), len % b, "a short last batch");
                let what = format!("{loss:?} classes {classes} adam {adam} epoch {epoch}");
                assert_eq!(bits(&params), bits(&manual), "{what}: params");
                assert_eq!(
                    mean.to_bits(),
                    ((total / len as f64) as f32).to_bits(),
                    "{what}: the mean loss weights each batch by its rows"
                );
            }
            drop((oa, ob));
            assert_eq!(bits(&sa), bits(&sb), "{loss:?} adam {adam}: state");
        }
    }
}

#[test]
fn train_epoch_over_nothing_is_zero_and_changes_nothing() {
    let (d0, d) = (3, 2);
    let sizes = sizes_for(d0, d);
    let net = Mlp::new(&sizes, &[Tanh, Identity], true).unwrap();
    let data = Data::new(13, 4, d0, d, Loss::MeanSquared);
    let mut params = fill(&mut rng(14), Mlp::param_len(&sizes, true));
    let before = bits(&params);
    let mut opt = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    let mut bufs = Bufs::new(2, d0, d);
    let mut grads = vec![0.0; params.len()];
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, 2)];
    let l = net
        .train_epoch(
            &mut params,
            &data.values(),
            &[],
            Loss::MeanSquared,
            &mut opt,
            &mut bufs.batch(),
            &mut grads,
            &mut ws,
        )
        .unwrap();
    assert_eq!(l, 0.0);
    assert_eq!(bits(&params), before);
}

/// `evaluate` as a manual loop: forward per batch, `Loss::loss`, `accuracy`.
#[test]
fn evaluate_is_forward_loss_and_accuracy_per_batch() {
    let (len, b) = if cfg!(miri) { (7, 3) } else { (29, 6) };
    let (d0, d) = (5, 4);
    let sizes = sizes_for(d0, d);
    let net = Mlp::new(&sizes, &[Sigmoid, Identity], true).unwrap();
    let params = fill(&mut rng(15), Mlp::param_len(&sizes, true));
    let mut rows = vec![0u32; len];
    identity_permutation(&mut rows).unwrap();
    shuffle(&mut rows, &mut rng(16));
    for (loss, classes) in kinds() {
        let data = Data::new(17, len, d0, d, loss);
        let ds = data.for_loss(classes);
        let mut bufs = Bufs::new(b, d0, d);
        let mut out = vec![f32::NAN; b * d];
        let mut ws = vec![f32::NAN; Mlp::forward_workspace_len(&sizes, b)];
        let mut conf = vec![0u32; d * d];
        let ev = net
            .evaluate(
                &params,
                &ds,
                &rows,
                loss,
                &mut bufs.batch(),
                &mut out,
                classes.then_some(&mut conf[..]),
                &mut ws,
            )
            .unwrap();
        // The manual loop.
        let (mut total, mut correct) = (0.0f64, 0usize);
        let mut all_out = vec![0.0; len * d];
        let mut bb = Bufs::new(b, d0, d);
        for r in batches(len, b).unwrap() {
            let idx = &rows[r.clone()];
            let k = idx.len();
            let mut batch = bb.batch();
            let (x, t) = ds.gather(idx, d0, d, &mut batch).unwrap();
            let mut o = vec![0.0; k * d];
            let mut fws = vec![0.0; Mlp::forward_workspace_len(&sizes, k)];
            net.forward(&params, x, &mut o, &mut fws).unwrap();
            all_out[r.start * d..r.end * d].copy_from_slice(&o);
            let l = loss.loss(&o, d, t).unwrap();
            let per_row = if loss == Loss::SumSquared {
                f64::from(l)
            } else {
                f64::from(l) * k as f64
            };
            total += per_row;
            correct += match t {
                Target::Classes(c) => accuracy(&o, d, c).unwrap(),
                Target::Values(y) => o
                    .chunks(d)
                    .zip(y.chunks(d))
                    .filter(|(a, y)| argmax(a) == argmax(y))
                    .count(),
                other => panic!("no reference for {other:?}"),
            };
        }
        let what = format!("{loss:?} classes {classes}");
        assert_eq!((ev.correct, ev.count), (correct, len), "{what}");
        assert_eq!(ev.accuracy(), correct as f32 / len as f32);
        let want = total / len as f64;
        assert!(
            (f64::from(ev.loss) - want).abs() <= 1e-6 * want.abs(),
            "{what}: evaluate's loss {} vs the mean per row {want}",
            ev.loss
        );
        if classes {
            assert_eq!(conf.iter().map(|&c| c as usize).sum::<usize>(), len);
            let diag: usize = (0..d).map(|i| conf[i * d + i] as usize).sum();
            assert_eq!(diag, ev.correct, "{what}: the diagonal is the correct rows");
            for c in 0..d {
                let row: u32 = conf[c * d..][..d].iter().sum();
                let count = rows
                    .iter()
                    .filter(|&&r| data.labels[r as usize] == c as u32)
                    .count();
                assert_eq!(
                    row as usize, count,
                    "{what}: row {c} of the confusion matrix"
                );
            }
        }
    }
}

/// The documented meaning of `Evaluation::loss`: the mean per-row loss (for
/// `SumSquared`, the mean per-row sum), whatever the batch size.
#[test]
fn evaluate_loss_is_the_per_row_mean_for_every_batch_size() {
    let len = if cfg!(miri) { 5 } else { 13 };
    let (d0, d) = (3, 3);
    let sizes = sizes_for(d0, d);
    let net = Mlp::new(&sizes, &[Tanh, Identity], false).unwrap();
    let params = fill(&mut rng(18), Mlp::param_len(&sizes, false));
    let mut rows = vec![0u32; len];
    identity_permutation(&mut rows).unwrap();
    for (loss, classes) in kinds() {
        let data = Data::new(19, len, d0, d, loss);
        let ds = data.for_loss(classes);
        // All rows at once, from the f64 formulas.
        let mut bufs = Bufs::new(len, d0, d);
        let mut batch = bufs.batch();
        let (x, t) = ds.gather(&rows, d0, d, &mut batch).unwrap();
        let out = forward64(&sizes, &[Tanh, Identity], false, &to64(&params), &to64(x));
        let owned = match t {
            Target::Values(v) => Owned::Values(v.to_vec()),
            Target::Classes(c) => Owned::Classes(c.to_vec()),
            other => panic!("no reference for {other:?}"),
        };
        let mut want = loss64(loss, &out, d, &owned);
        if loss == Loss::SumSquared {
            want /= len as f64;
        }
        for b in [1, 2, len] {
            let mut bufs = Bufs::new(b, d0, d);
            let mut o = vec![0.0; b * d];
            let mut ws = vec![0.0; Mlp::forward_workspace_len(&sizes, b)];
            let ev = net
                .evaluate(
                    &params,
                    &ds,
                    &rows,
                    loss,
                    &mut bufs.batch(),
                    &mut o,
                    None,
                    &mut ws,
                )
                .unwrap();
            assert!(
                (f64::from(ev.loss) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{loss:?} classes {classes} batch {b}: loss {} vs the per-row mean {want}",
                ev.loss
            );
        }
    }
}

#[test]
fn predict_is_the_argmax_of_forward_on_one_row() {
    let (d0, d) = (6, 5);
    let sizes = sizes_for(d0, d);
    let net = Mlp::new(&sizes, &[Relu, Identity], true).unwrap();
    let mut rng = rng(20);
    let params = fill(&mut rng, Mlp::param_len(&sizes, true));
    let rows = if cfg!(miri) { 3 } else { 40 };
    for_each_isa(|isa| {
        for _ in 0..rows {
            let x = fill(&mut rng, d0);
            let mut o1 = vec![f32::NAN; d];
            let mut o2 = vec![f32::NAN; d];
            let mut ws = vec![f32::NAN; Mlp::forward_workspace_len(&sizes, 1)];
            let class = net.predict(&params, &x, &mut o1, &mut ws).unwrap();
            net.forward(&params, &x, &mut o2, &mut ws).unwrap();
            assert_eq!(bits(&o1), bits(&o2), "{isa:?}");
            assert_eq!(Some(class), argmax(&o2), "{isa:?}");
        }
    });
    // A NaN output is the maximum, as documented.
    let mut p = params.clone();
    let (_, b2) = net.layer_mut(&mut p, 1).unwrap();
    b2.unwrap()[3] = f32::NAN;
    let mut o = vec![0.0; d];
    let mut ws = vec![0.0; Mlp::forward_workspace_len(&sizes, 1)];
    assert_eq!(net.predict(&p, &[0.5; 6], &mut o, &mut ws), Ok(3));
}

// Not under Miri, for time: initialisation runs there in tests/init.rs.
#[test]
#[cfg_attr(miri, ignore)]
fn init_zeroes_biases_bounds_weights_and_is_reproducible() {
    let sizes: &[usize] = if cfg!(miri) {
        &[5, 4, 3]
    } else {
        &[64, 32, 16, 10]
    };
    let acts = vec![Relu; sizes.len() - 1];
    for bias in [false, true] {
        let net = Mlp::new(sizes, &acts, bias).unwrap();
        let p = Mlp::param_len(sizes, bias);
        for &init in Init::ALL {
            let mut a = vec![f32::NAN; p];
            let mut b = vec![f32::NAN; p];
            net.init(&mut a, init, &mut rng(3)).unwrap();
            net.init(&mut b, init, &mut rng(3)).unwrap();
            assert_eq!(bits(&a), bits(&b), "{init:?}: same seed, same bits");
            let mut c = vec![f32::NAN; p];
            net.init(&mut c, init, &mut rng(4)).unwrap();
            assert_ne!(bits(&a), bits(&c), "{init:?}: another seed");
            // Layer by layer from one generator: init_weights with each layer's fans.
            let mut r = rng(3);
            for l in 0..net.layers() {
                let (fi, fo) = (sizes[l], sizes[l + 1]);
                let (w, bvec) = net.layer(&a, l).unwrap();
                assert_eq!((w.rows(), w.cols(), w.row_stride()), (fi, fo, fo));
                let w: Vec<f32> = (0..fi * fo)
                    .map(|k| w.get(k / fo, k % fo).unwrap())
                    .collect();
                let mut want = vec![0.0; fi * fo];
                init_weights(&mut want, fi, fo, init, &mut r).unwrap();
                assert_eq!(bits(&w), bits(&want), "{init:?} layer {l}");
                let s = init.scale(fi, fo).unwrap();
                let bound = if init.is_normal() {
                    s * (48.0f32 * core::f32::consts::LN_2).sqrt() * (1.0 + 1e-6)
                } else {
                    s
                };
                assert!(
                    w.iter().all(|&v| v.is_finite() && v.abs() <= bound),
                    "{init:?} layer {l}: a weight beyond {bound}"
                );
                // Spread: not all tiny (the fans are the layer's own).
                let max = w.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
                if fi * fo >= 16 {
                    assert!(max > 0.3 * s, "{init:?} layer {l}: max {max}, scale {s}");
                }
                if let Some(bvec) = bvec {
                    assert!(bvec.iter().all(|&v| v.to_bits() == 0), "biases +0.0");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hardening: every refusal is the documented error, before anything is written.

/// A NaN with a payload: a buffer of these proves a failing call wrote nothing.
const POISON: f32 = f32::from_bits(0x7fc0_beef);

/// Either optimizer, with access to its state.
enum Opt<'s> {
    Sgd(Sgd<'s>),
    Adam(Adam<'s>),
}

impl Opt<'_> {
    fn dynamic(&mut self) -> &mut dyn Optimizer {
        match self {
            Opt::Sgd(o) => o,
            Opt::Adam(o) => o,
        }
    }
    /// The state's bits (and Adam's step count).
    fn state(&self) -> (Vec<u32>, u64) {
        match self {
            Opt::Sgd(o) => (bits(o.momentum_buffer()), 0),
            Opt::Adam(o) => {
                let (m, v) = o.moments();
                let mut b = bits(m);
                b.extend(bits(v));
                (b, o.step_count())
            }
        }
    }
}

/// The documented error, by variant (and the fields that identify the culprit).
fn is(e: &Error, want: &str) -> bool {
    match (e, want) {
        (Error::ShapeMismatch { .. }, "shape") => true,
        (Error::BufferTooSmall { .. }, "buffer") => true,
        (Error::WorkspaceTooSmall { needed, len, .. }, "workspace") => len < needed,
        (Error::NonFinite { .. }, "nonfinite") => true,
        (Error::Data { col: Some(_), .. }, "nonfinite") => true,
        (Error::InvalidArgument { .. }, "invalid") => true,
        (Error::LabelOutOfRange { .. }, "label") => true,
        (Error::Data { label: Some(_), .. }, "label") => true,
        (Error::RowOutOfRange { .. }, "row") => true,
        (Error::PartialRow { .. }, "rows") => true,
        _ => false,
    }
}

/// The shared network of the hardening tests: 3 → 4 → 2, biases, softmax-ready.
const H_SIZES: [usize; 3] = [3, 4, 2];
const H_ACTS: [Activation; 2] = [Tanh, Identity];
const H_N: usize = 3;

/// Calls of `loss_and_grad_with` / `train_step_with` with one thing wrong each, and the
/// error each must return.
struct BadCall {
    name: &'static str,
    params: Vec<f32>,
    grads_len: usize,
    x: Vec<f32>,
    target: Owned,
    loss: Loss,
    ws_len: usize,
    want: &'static str,
}

/// A call that succeeds.
fn good_call() -> BadCall {
    let mut rng = rng(30);
    let p = Mlp::param_len(&H_SIZES, true);
    BadCall {
        name: "",
        params: fill(&mut rng, p),
        grads_len: p,
        x: fill(&mut rng, H_N * 3),
        target: Owned::Values(fill(&mut rng, H_N * 2)),
        loss: Loss::MeanSquared,
        ws_len: Mlp::workspace_len(&H_SIZES, H_N),
        want: "",
    }
}

fn bad_calls() -> Vec<BadCall> {
    let mut rng = rng(30);
    let p = Mlp::param_len(&H_SIZES, true);
    let params = fill(&mut rng, p);
    let x = fill(&mut rng, H_N * 3);
    let y = fill(&mut rng, H_N * 2);
    let ws = Mlp::workspace_len(&H_SIZES, H_N);
    let ok = BadCall {
        name: "",
        params: params.clone(),
        grads_len: p,
        x: x.clone(),
        target: Owned::Values(y.clone()),
        loss: Loss::MeanSquared,
        ws_len: ws,
        want: "",
    };
    let with = |name, want, f: &dyn Fn(&mut BadCall)| {
        let mut c = BadCall {
            name,
            want,
            params: ok.params.clone(),
            x: ok.x.clone(),
            target: ok.target.clone(),
            ..ok
        };
        f(&mut c);
        c
    };
    let mut nan_param = params.clone();
    nan_param[5] = f32::NAN;
    vec![
        with("params short", "shape", &|c| {
            c.params.pop();
        }),
        with("params long", "shape", &|c| c.params.push(0.0)),
        with("grads short", "shape", &|c| c.grads_len = p - 1),
        with("x ragged", "rows", &|c| c.x.push(0.0)),
        with("y short", "shape", &|c| {
            c.target = Owned::Values(vec![0.0; H_N * 2 - 1])
        }),
        with("labels long", "shape", &|c| {
            c.target = Owned::Classes(vec![0; H_N + 1]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("label = d_L", "label", &|c| {
            c.target = Owned::Classes(vec![0, 2, 1]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("label u32::MAX", "label", &|c| {
            c.target = Owned::Classes(vec![1, 0, u32::MAX]);
            c.loss = Loss::SoftmaxCrossEntropy;
        }),
        with("classes with MeanSquared", "invalid", &|c| {
            c.target = Owned::Classes(vec![0, 1, 1])
        }),
        with("classes with BCE", "invalid", &|c| {
            c.target = Owned::Classes(vec![0, 1, 1]);
            c.loss = Loss::BinaryCrossEntropy;
        }),
        with("workspace short", "workspace", &|c| c.ws_len = ws - 1),
        with("workspace empty", "workspace", &|c| c.ws_len = 0),
        with("NaN x", "nonfinite", &|c| c.x[4] = f32::NAN),
        with("inf x", "nonfinite", &|c| c.x[0] = f32::NEG_INFINITY),
        with("NaN y", "nonfinite", &|c| {
            c.target = Owned::Values(vec![f32::NAN; H_N * 2])
        }),
        with("NaN param", "nonfinite", &|c| c.params = nan_param.clone()),
        with("loss overflows", "nonfinite", &|c| {
            c.target = Owned::Values(vec![3e38; H_N * 2]);
            c.loss = Loss::SumSquared;
        }),
    ]
}

#[test]
fn loss_and_grad_with_refuses_bad_input_and_writes_nothing() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    for c in bad_calls() {
        let mut grads = vec![POISON; c.grads_len];
        let mut ws = vec![0.0; c.ws_len];
        let r = net.loss_and_grad_with(
            &c.params,
            &c.x,
            c.target.target(),
            c.loss,
            &mut grads,
            &mut ws,
        );
        let e = r.expect_err(c.name);
        assert!(is(&e, c.want), "{}: {e:?}, want {}", c.name, c.want);
        assert!(
            grads.iter().all(|g| g.to_bits() == POISON.to_bits()),
            "{}: grads written",
            c.name
        );
    }
    // The label error names the culprit.
    let c = &bad_calls()[6];
    let mut grads = vec![0.0; c.grads_len];
    let mut ws = vec![0.0; c.ws_len];
    assert_eq!(
        net.loss_and_grad_with(
            &c.params,
            &c.x,
            c.target.target(),
            c.loss,
            &mut grads,
            &mut ws
        ),
        Err(Error::LabelOutOfRange {
            index: 1,
            label: 2,
            classes: 2
        })
    );
}

/// The optimizers of the hardening tests, each after one good step so its state is not
/// all zero.
fn optimizer<'s>(kind: usize, state: &'s mut [f32]) -> Opt<'s> {
    let p = Mlp::param_len(&H_SIZES, true);
    match kind {
        0 => Opt::Sgd(Sgd::new(SgdConfig::new(0.1), &mut []).unwrap()),
        1 => Opt::Sgd(
            Sgd::new(
                SgdConfig {
                    momentum: 0.9,
                    ..SgdConfig::new(0.1)
                },
                &mut state[..p],
            )
            .unwrap(),
        ),
        _ => Opt::Adam(Adam::new(AdamConfig::adam(0.01), &mut state[..2 * p]).unwrap()),
    }
}

const OPT_NAMES: [&str; 3] = ["plain sgd", "sgd momentum", "adam"];

fn warm_up(net: &Mlp<'_>, params: &mut [f32], opt: &mut Opt<'_>) {
    let mut rng = rng(31);
    let x = fill(&mut rng, H_N * 3);
    let y = fill(&mut rng, H_N * 2);
    let mut grads = vec![0.0; params.len()];
    let mut ws = vec![0.0; Mlp::workspace_len(&H_SIZES, H_N)];
    net.train_step_with(
        params,
        &x,
        Target::Values(&y),
        Loss::MeanSquared,
        opt.dynamic(),
        &mut grads,
        &mut ws,
    )
    .unwrap();
}

#[test]
fn train_step_with_refuses_bad_input_and_changes_nothing() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    for (kind, name) in OPT_NAMES.iter().enumerate() {
        if kind == 2 && !ADAM_OK {
            continue;
        }
        let mut calls: Vec<(BadCall, Option<f32>)> =
            bad_calls().into_iter().map(|c| (c, None)).collect();
        // Learning rates set_lr cannot refuse: every update must, before writing.
        for (lr, want, name) in [
            (f32::NAN, "nonfinite", "lr NaN"),
            (f32::INFINITY, "nonfinite", "lr inf"),
            (-0.1, "invalid", "lr negative"),
        ] {
            calls.push((
                BadCall {
                    name,
                    want,
                    ..good_call()
                },
                Some(lr),
            ));
        }
        for (c, lr) in calls {
            let mut state = vec![0.0; 2 * p];
            let mut opt = optimizer(kind, &mut state);
            let mut params = c.params.clone();
            if params.len() == p && params.iter().all(|v| v.is_finite()) {
                warm_up(&net, &mut params, &mut opt);
            }
            if let Some(lr) = lr {
                opt.dynamic().set_lr(lr);
            }
            let before = (bits(&params), opt.state());
            let mut grads = vec![POISON; c.grads_len];
            let mut ws = vec![0.0; c.ws_len];
            let r = net.train_step_with(
                &mut params,
                &c.x,
                c.target.target(),
                c.loss,
                opt.dynamic(),
                &mut grads,
                &mut ws,
            );
            let what = format!("{name}: {}", c.name);
            let e = r.expect_err(&what);
            assert!(is(&e, c.want), "{what}: {e:?}, want {}", c.want);
            assert_eq!(bits(&params), before.0, "{what}: params changed");
            assert_eq!(opt.state(), before.1, "{what}: optimizer state changed");
            assert!(
                grads.iter().all(|g| g.to_bits() == POISON.to_bits()),
                "{what}: grads written"
            );
        }
    }
}

#[test]
fn train_step_with_an_optimizer_sized_for_other_params_changes_nothing() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let mut rng = rng(32);
    let mut params = fill(&mut rng, p);
    let x = fill(&mut rng, H_N * 3);
    let y = fill(&mut rng, H_N * 2);
    let mut ws = vec![0.0; Mlp::workspace_len(&H_SIZES, H_N)];
    let mut grads = vec![POISON; p];
    let mut s1 = vec![0.0; 2 * (p + 1)];
    let mut s2 = vec![0.0; p - 1];
    let mut opts = [
        Opt::Adam(Adam::new(AdamConfig::adam(0.01), &mut s1).unwrap()),
        Opt::Sgd(
            Sgd::new(
                SgdConfig {
                    momentum: 0.5,
                    ..SgdConfig::new(0.1)
                },
                &mut s2,
            )
            .unwrap(),
        ),
    ];
    for opt in &mut opts {
        let before = (bits(&params), opt.state());
        let r = net.train_step_with(
            &mut params,
            &x,
            Target::Values(&y),
            Loss::MeanSquared,
            opt.dynamic(),
            &mut grads,
            &mut ws,
        );
        assert!(
            matches!(r, Err(Error::StateMismatch { params: n, sized_by, .. })
                if n == p && sized_by.ends_with("::state_len")),
            "{r:?}"
        );
        assert_eq!((bits(&params), opt.state()), before);
    }
}

/// A class-labelled set of 7 rows for the 3 → 4 → 2 network.
struct HData {
    x: Vec<f32>,
    labels: Vec<u32>,
    y: Vec<f32>,
}

fn hdata() -> HData {
    let mut rng = rng(33);
    HData {
        x: fill(&mut rng, 7 * 3),
        labels: (0..7).map(|i| i % 2).collect(),
        y: fill(&mut rng, 7 * 2),
    }
}

fn hset<'a>(x: &'a [f32], labels: &'a [u32], len: usize) -> Dataset<'a> {
    Dataset {
        x: Features::F32 { data: x, stride: 3 },
        y: Labels::Classes(labels),
        len,
    }
}

#[test]
fn train_epoch_refuses_bad_input_before_the_first_update() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let b = 3;
    let d = hdata();
    let mut nan_x = d.x.clone();
    nan_x[1] = f32::NAN;
    let mut bad_label = d.labels.clone();
    bad_label[1] = 2;
    let order: Vec<u32> = (0..7).collect();
    let ws_len = Mlp::workspace_len(&H_SIZES, b);
    // (name, params len, grads len, data, order, loss, batch rows (x, labels), ws, lr, want)
    type Case<'a> = (
        &'static str,
        usize,
        usize,
        Dataset<'a>,
        Vec<u32>,
        Loss,
        (usize, usize),
        usize,
        f32,
        &'static str,
    );
    let ok = hset(&d.x, &d.labels, 7);
    let sce = Loss::SoftmaxCrossEntropy;
    let cases: Vec<Case<'_>> = vec![
        (
            "params short",
            p - 1,
            p,
            ok,
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "shape",
        ),
        (
            "grads long",
            p,
            p + 1,
            ok,
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "shape",
        ),
        (
            "empty Batch::x",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (0, b),
            ws_len,
            0.1,
            "buffer",
        ),
        (
            "Batch::x under a row",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (0, b),
            ws_len,
            0.1,
            "buffer",
        ),
        (
            "Batch::labels short",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (b, b - 1),
            ws_len,
            0.1,
            "buffer",
        ),
        (
            "workspace short",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (b, b),
            ws_len - 1,
            0.1,
            "workspace",
        ),
        (
            "order index = len",
            p,
            p,
            ok,
            vec![0, 1, 2, 3, 4, 5, 7],
            sce,
            (b, b),
            ws_len,
            0.1,
            "row",
        ),
        (
            "order index u32::MAX",
            p,
            p,
            ok,
            vec![u32::MAX],
            sce,
            (b, b),
            ws_len,
            0.1,
            "row",
        ),
        (
            "x source short",
            p,
            p,
            hset(&d.x[..20], &d.labels, 7),
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "buffer",
        ),
        (
            "labels source short",
            p,
            p,
            hset(&d.x, &d.labels[..6], 7),
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "buffer",
        ),
        (
            "x stride below d0",
            p,
            p,
            Dataset {
                x: Features::F32 {
                    data: &d.x,
                    stride: 2,
                },
                ..ok
            },
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "invalid",
        ),
        (
            "classes with MeanSquared",
            p,
            p,
            ok,
            order.clone(),
            Loss::MeanSquared,
            (b, b),
            ws_len,
            0.1,
            "invalid",
        ),
        (
            "label = d_L in batch 1",
            p,
            p,
            hset(&d.x, &bad_label, 7),
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "label",
        ),
        (
            "NaN x in batch 1",
            p,
            p,
            hset(&nan_x, &d.labels, 7),
            order.clone(),
            sce,
            (b, b),
            ws_len,
            0.1,
            "nonfinite",
        ),
        (
            "lr NaN",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (b, b),
            ws_len,
            f32::NAN,
            "nonfinite",
        ),
        (
            "lr negative",
            p,
            p,
            ok,
            order.clone(),
            sce,
            (b, b),
            ws_len,
            -1.0,
            "invalid",
        ),
    ];
    for (kind, oname) in OPT_NAMES.iter().enumerate() {
        if kind == 2 && !ADAM_OK {
            continue;
        }
        for (name, pl, gl, data, order, loss, (bx, bl), wl, lr, want) in cases.clone() {
            let mut state = vec![0.0; 2 * p];
            let mut opt = optimizer(kind, &mut state);
            let mut params = fill(&mut rng(34), p);
            if pl == p {
                warm_up(&net, &mut params, &mut opt);
            }
            opt.dynamic().set_lr(lr);
            params.resize(pl, 0.25);
            let before = (bits(&params), opt.state());
            let mut grads = vec![POISON; gl];
            let mut bufs = Bufs::new(b, 3, 2);
            bufs.x.truncate(bx * 3);
            if name == "Batch::x under a row" {
                bufs.x = vec![POISON; 2];
            }
            bufs.labels.truncate(bl);
            let bufs_before = (bits(&bufs.x), bufs.labels.clone());
            let mut ws = vec![POISON; wl];
            let r = net.train_epoch(
                &mut params,
                &data,
                &order,
                loss,
                opt.dynamic(),
                &mut bufs.batch(),
                &mut grads,
                &mut ws,
            );
            let what = format!("{oname}: {name}");
            let e = r.expect_err(&what);
            assert!(is(&e, want), "{what}: {e:?}, want {want}");
            assert_eq!(bits(&params), before.0, "{what}: params changed");
            assert_eq!(opt.state(), before.1, "{what}: optimizer state changed");
            assert!(
                grads.iter().all(|g| g.to_bits() == POISON.to_bits()),
                "{what}: grads written"
            );
            // Errors found before the first gather leave the batch alone too.
            if !matches!(want, "label" | "nonfinite")
                && !name.contains("MeanSquared")
                && !name.starts_with("lr")
            {
                assert_eq!(
                    (bits(&bufs.x), bufs.labels.clone()),
                    bufs_before,
                    "{what}: batch written"
                );
            }
        }
    }
    // The culprit of an out-of-range order index.
    let mut params = vec![0.0; p];
    let mut opt = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    let mut bufs = Bufs::new(b, 3, 2);
    let r = net.train_epoch(
        &mut params,
        &ok,
        &[0, 1, 9],
        sce,
        &mut opt,
        &mut bufs.batch(),
        &mut vec![0.0; p],
        &mut vec![0.0; ws_len],
    );
    assert_eq!(
        r,
        Err(Error::RowOutOfRange {
            index: 2,
            row: 9,
            rows: 7
        })
    );
}

#[test]
fn train_epoch_stops_at_a_bad_later_batch_with_the_earlier_ones_applied() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let d = hdata();
    let order: Vec<u32> = (0..7).collect();
    let ws_len = Mlp::workspace_len(&H_SIZES, 3);
    let mut nan_x = d.x.clone();
    nan_x[5 * 3] = f32::NAN; // row 5: the second batch
    let mut bad_label = d.labels.clone();
    bad_label[4] = 5;
    for (name, data, want) in [
        ("NaN x", hset(&nan_x, &d.labels, 7), "nonfinite"),
        ("label 5", hset(&d.x, &bad_label, 7), "label"),
    ] {
        let start = fill(&mut rng(35), p);
        // The first batch alone, by hand.
        let mut want_params = start.clone();
        let mut opt = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        let mut bufs = Bufs::new(3, 3, 2);
        let mut batch = bufs.batch();
        let (x, t) = data.gather(&order[..3], 3, 2, &mut batch).unwrap();
        let mut ws = vec![0.0; ws_len];
        net.train_step_with(
            &mut want_params,
            x,
            t,
            Loss::SoftmaxCrossEntropy,
            &mut opt,
            &mut vec![0.0; p],
            &mut ws,
        )
        .unwrap();
        let mut params = start.clone();
        let r = net.train_epoch(
            &mut params,
            &data,
            &order,
            Loss::SoftmaxCrossEntropy,
            &mut opt,
            &mut Bufs::new(3, 3, 2).batch(),
            &mut vec![0.0; p],
            &mut ws,
        );
        let _ = &mut opt;
        let e = r.expect_err(name);
        assert!(is(&e, want), "{name}: {e:?}");
        assert_eq!(
            bits(&params),
            bits(&want_params),
            "{name}: the first batch's update only"
        );
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn evaluate_refuses_bad_input_and_leaves_the_confusion_matrix_alone() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let params = fill(&mut rng(36), p);
    let d = hdata();
    let ok = hset(&d.x, &d.labels, 7);
    let values = Dataset {
        x: ok.x,
        y: Labels::Values {
            data: &d.y,
            stride: 2,
        },
        len: 7,
    };
    let mut bad_label = d.labels.clone();
    bad_label[0] = 2;
    let order: Vec<u32> = (0..7).collect();
    let b = 3;
    let fws = Mlp::forward_workspace_len(&H_SIZES, b);
    let sce = Loss::SoftmaxCrossEntropy;
    // (name, params len, data, rows, batch x rows, out len, confusion len, ws, want)
    let cases: Vec<(
        &str,
        usize,
        Dataset<'_>,
        Vec<u32>,
        usize,
        usize,
        Option<usize>,
        usize,
        &str,
    )> = vec![
        (
            "params short",
            p - 1,
            ok,
            order.clone(),
            b,
            b * 2,
            Some(4),
            fws,
            "shape",
        ),
        (
            "empty Batch::x",
            p,
            ok,
            order.clone(),
            0,
            b * 2,
            Some(4),
            fws,
            "buffer",
        ),
        (
            "out short",
            p,
            ok,
            order.clone(),
            b,
            b * 2 - 1,
            Some(4),
            fws,
            "buffer",
        ),
        (
            "workspace short",
            p,
            ok,
            order.clone(),
            b,
            b * 2,
            Some(4),
            fws - 1,
            "workspace",
        ),
        (
            "confusion 3x3",
            p,
            ok,
            order.clone(),
            b,
            b * 2,
            Some(9),
            fws,
            "shape",
        ),
        (
            "confusion with values",
            p,
            values,
            order.clone(),
            b,
            b * 2,
            Some(4),
            fws,
            "invalid",
        ),
        (
            "row out of range",
            p,
            ok,
            vec![0, 7],
            b,
            b * 2,
            Some(4),
            fws,
            "row",
        ),
        (
            "x source short",
            p,
            hset(&d.x[..18], &d.labels, 7),
            order.clone(),
            b,
            b * 2,
            Some(4),
            fws,
            "buffer",
        ),
        (
            "label = d_L in batch 1",
            p,
            hset(&d.x, &bad_label, 7),
            order.clone(),
            b,
            b * 2,
            Some(4),
            fws,
            "label",
        ),
        (
            "label = d_L, no matrix",
            p,
            hset(&d.x, &bad_label, 7),
            order.clone(),
            b,
            b * 2,
            None,
            fws,
            "label",
        ),
        (
            "classes with MeanSquared",
            p,
            ok,
            order.clone(),
            b,
            b * 2,
            None,
            fws,
            "invalid",
        ),
    ];
    for (name, pl, data, rows, bx, ol, cl, wl, want) in cases {
        let loss = if name.contains("MeanSquared") {
            Loss::MeanSquared
        } else {
            sce
        };
        let mut bufs = Bufs::new(b, 3, 2);
        bufs.x.truncate(bx * 3);
        let mut out = vec![POISON; ol];
        let mut conf = cl.map(|c| vec![7u32; c]);
        let mut ws = vec![POISON; wl];
        let r = net.evaluate(
            &params[..pl],
            &data,
            &rows,
            loss,
            &mut bufs.batch(),
            &mut out,
            conf.as_deref_mut(),
            &mut ws,
        );
        let e = r.expect_err(name);
        assert!(is(&e, want), "{name}: {e:?}, want {want}");
        if let Some(c) = conf {
            assert!(c.iter().all(|&v| v == 7), "{name}: confusion written");
        }
        if want != "label" && want != "invalid" {
            assert!(
                out.iter().all(|v| v.to_bits() == POISON.to_bits()),
                "{name}: out written"
            );
        }
    }
    // A label out of range in the second batch: the first batch is counted.
    let mut late = d.labels.clone();
    late[4] = 3;
    let mut conf = vec![0u32; 4];
    let r = net.evaluate(
        &params,
        &hset(&d.x, &late, 7),
        &order,
        sce,
        &mut Bufs::new(b, 3, 2).batch(),
        &mut vec![0.0; b * 2],
        Some(&mut conf),
        &mut vec![0.0; fws],
    );
    // Named as the data set's row (4) and the batch (1), not the slot in the batch.
    assert_eq!(
        r,
        Err(Error::Data {
            during: "evaluation",
            batch: 1,
            row: order[4],
            col: None,
            what: "a class label out of range",
            label: Some((3, 2)),
        })
    );
    assert_eq!(conf.iter().sum::<u32>(), 3);
    // Non-finite data is not an error: the loss is NaN.
    let mut nan_x = d.x.clone();
    nan_x[0] = f32::NAN;
    let ev = net
        .evaluate(
            &params,
            &hset(&nan_x, &d.labels, 7),
            &order,
            sce,
            &mut Bufs::new(b, 3, 2).batch(),
            &mut vec![0.0; b * 2],
            None,
            &mut vec![0.0; fws],
        )
        .unwrap();
    assert!(ev.loss.is_nan() && ev.count == 7);
}

#[test]
fn predict_and_init_refuse_bad_lengths_and_write_nothing() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let params = fill(&mut rng(37), p);
    let fws = Mlp::forward_workspace_len(&H_SIZES, 1);
    for (name, pl, xl, ol, wl, want) in [
        ("params short", p - 1, 3, 2, fws, "shape"),
        ("x two rows", p, 6, 2, fws, "shape"),
        ("x empty", p, 0, 2, fws, "shape"),
        ("out long", p, 3, 3, fws, "shape"),
        (
            "workspace short",
            p,
            3,
            2,
            fws.saturating_sub(1),
            "workspace",
        ),
    ] {
        if name == "workspace short" && fws == 0 {
            continue;
        }
        let mut out = vec![POISON; ol];
        let mut ws = vec![POISON; wl];
        let r = net.predict(&params[..pl], &vec![0.5; xl], &mut out, &mut ws);
        let e = r.expect_err(name);
        assert!(is(&e, want), "{name}: {e:?}");
        assert!(
            out.iter().all(|v| v.to_bits() == POISON.to_bits()),
            "{name}"
        );
    }
    for len in [0, p - 1, p + 1] {
        let mut w = vec![POISON; len];
        let r = net.init(&mut w, Init::XavierUniform, &mut rng(1));
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        assert!(w.iter().all(|v| v.to_bits() == POISON.to_bits()));
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn dataset_gather_and_check_refuse_bad_input_and_write_nothing() {
    let d = hdata();
    let bytes: Vec<u8> = (0..21).collect();
    let label_bytes: Vec<u8> = vec![1; 7];
    let ok = hset(&d.x, &d.labels, 7);
    let values = Dataset {
        x: ok.x,
        y: Labels::Values {
            data: &d.y,
            stride: 2,
        },
        len: 7,
    };
    let u8s = Dataset {
        x: Features::U8 {
            data: &bytes,
            stride: 3,
            scale: 0.5,
        },
        y: Labels::ClassesU8 {
            data: &label_bytes,
            stride: 1,
        },
        len: 7,
    };
    // (name, data, rows, batch (x, y, labels), want)
    let cases: Vec<(&str, Dataset<'_>, Vec<u32>, (usize, usize, usize), &str)> = vec![
        ("row = len", ok, vec![0, 7], (6, 4, 2), "row"),
        (
            "row beyond a short len",
            Dataset { len: 3, ..ok },
            vec![3],
            (3, 2, 1),
            "row",
        ),
        ("x too small", ok, vec![0, 1], (5, 4, 2), "buffer"),
        ("labels too small", ok, vec![0, 1], (6, 4, 1), "buffer"),
        ("y too small", values, vec![0, 1], (6, 3, 2), "buffer"),
        (
            "x source short",
            hset(&d.x[..6], &d.labels, 7),
            vec![2],
            (3, 2, 1),
            "row",
        ),
        (
            "labels source short",
            hset(&d.x, &d.labels[..2], 7),
            vec![2],
            (3, 2, 1),
            "row",
        ),
        (
            "y stride below d",
            Dataset {
                y: Labels::Values {
                    data: &d.y,
                    stride: 1,
                },
                ..values
            },
            vec![0],
            (3, 2, 1),
            "invalid",
        ),
        (
            "label stride 0",
            Dataset {
                y: Labels::ClassesU8 {
                    data: &label_bytes,
                    stride: 0,
                },
                ..u8s
            },
            vec![0],
            (3, 2, 1),
            "invalid",
        ),
        (
            "NaN scale",
            Dataset {
                x: Features::U8 {
                    data: &bytes,
                    stride: 3,
                    scale: f32::NAN,
                },
                ..u8s
            },
            vec![0],
            (3, 2, 1),
            "nonfinite",
        ),
        (
            "x stride below d0",
            Dataset {
                x: Features::F32 {
                    data: &d.x,
                    stride: 2,
                },
                ..ok
            },
            vec![0],
            (3, 2, 1),
            "invalid",
        ),
    ];
    for (name, data, rows, (xl, yl, ll), want) in cases {
        let mut x = vec![POISON; xl];
        let mut y = vec![POISON; yl];
        let mut labels = vec![u32::MAX; ll];
        let mut batch = Batch {
            x: &mut x,
            y: &mut y,
            labels: &mut labels,
        };
        let e = data
            .gather(&rows, 3, 2, &mut batch)
            .map(|_| ())
            .expect_err(name);
        assert!(is(&e, want), "{name}: {e:?}, want {want}");
        assert!(
            x.iter().chain(&y).all(|v| v.to_bits() == POISON.to_bits()),
            "{name}: written"
        );
        assert!(
            labels.iter().all(|&l| l == u32::MAX),
            "{name}: labels written"
        );
    }
    // Dataset::check: every source long enough for len rows, sane strides.
    assert_eq!(ok.check(3, 2), Ok(()));
    assert_eq!(values.check(3, 2), Ok(()));
    assert_eq!(u8s.check(3, 2), Ok(()));
    for (name, data, want) in [
        ("x short", hset(&d.x[..20], &d.labels, 7), "buffer"),
        ("labels short", hset(&d.x, &d.labels[..6], 7), "buffer"),
        ("len too large", Dataset { len: 8, ..ok }, "buffer"),
        (
            "y values short",
            Dataset {
                y: Labels::Values {
                    data: &d.y[..13],
                    stride: 2,
                },
                ..values
            },
            "buffer",
        ),
        (
            "x stride 2",
            Dataset {
                x: Features::F32 {
                    data: &d.x,
                    stride: 2,
                },
                ..ok
            },
            "invalid",
        ),
        (
            "label stride 0",
            Dataset {
                y: Labels::ClassesU8 {
                    data: &label_bytes,
                    stride: 0,
                },
                ..u8s
            },
            "invalid",
        ),
    ] {
        let e = data.check(3, 2).expect_err(name);
        assert!(is(&e, want), "{name}: {e:?}");
    }
    // The last row needs no padding after it.
    let tight = hset(&d.x[..21], &d.labels, 7);
    assert_eq!(tight.check(3, 2), Ok(()));
    assert_eq!(ok.check(0, 2).map_err(|e| is(&e, "invalid")), Err(true));
}

// ---------------------------------------------------------------------------------------
// Zero allocations.

#[test]
fn the_trainer_allocates_nothing() {
    let _ = microprop::simd::Isa::detected();
    let (d0, d, len, b) = if cfg!(miri) {
        (3, 2, 5, 2)
    } else {
        (16, 4, 50, 8)
    };
    let sizes = [d0, 8, d];
    let net = Mlp::new(&sizes, &[Relu, Identity], true).unwrap();
    let p = Mlp::param_len(&sizes, true);
    let data = Data::new(40, len, d0, d, Loss::SoftmaxCrossEntropy);
    let mut params = vec![0.0; p];
    let mut grads = vec![0.0; p];
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, b)];
    let mut bufs = Bufs::new(b, d0, d);
    let mut out = vec![0.0; b * d];
    let mut conf = vec![0u32; d * d];
    let mut order = vec![0u32; len];
    identity_permutation(&mut order).unwrap();
    let mut sgd_state = vec![0.0; Sgd::state_len(p)];
    let mut adam_state = vec![0.0; Adam::state_len(p)];
    let mut trng = rng(41);
    let x = fill(&mut trng, b * d0);
    let targets: Vec<(Loss, Owned)> = kinds()
        .into_iter()
        .map(|(l, c)| (l, make_target(&mut trng, l, c, b, d)))
        .collect();
    let mut rng = rng(42);
    for_each_isa(|isa| {
        let count = count_allocs(|| {
            // (`libm::sqrt` is inline assembly Miri cannot run.)
            if !cfg!(miri) {
                net.init(&mut params, Init::HeNormal, &mut rng).unwrap();
            }
            let mut sgd = Sgd::new(
                SgdConfig {
                    momentum: 0.9,
                    ..SgdConfig::new(0.01)
                },
                &mut sgd_state,
            )
            .unwrap();
            let mut plain = Sgd::new(SgdConfig::new(0.01), &mut []).unwrap();
            let mut adam = Adam::new(AdamConfig::adamw(1e-3, 1e-2), &mut adam_state).unwrap();
            for _ in 0..3 {
                for (loss, t) in &targets {
                    net.loss_and_grad_with(&params, &x, t.target(), *loss, &mut grads, &mut ws)
                        .unwrap();
                    let opts: &mut [&mut dyn Optimizer] = if ADAM_OK {
                        &mut [&mut sgd, &mut plain, &mut adam]
                    } else {
                        &mut [&mut sgd, &mut plain]
                    };
                    for opt in opts.iter_mut() {
                        net.train_step_with(
                            &mut params,
                            &x,
                            t.target(),
                            *loss,
                            &mut **opt,
                            &mut grads,
                            &mut ws,
                        )
                        .unwrap();
                    }
                }
                for (ds, loss) in [
                    (data.classes(), Loss::SoftmaxCrossEntropy),
                    (data.values(), Loss::BinaryCrossEntropy),
                ] {
                    shuffle(&mut order, &mut rng);
                    net.train_epoch(
                        &mut params,
                        &ds,
                        &order,
                        loss,
                        if ADAM_OK {
                            &mut adam as &mut dyn Optimizer
                        } else {
                            &mut sgd
                        },
                        &mut bufs.batch(),
                        &mut grads,
                        &mut ws,
                    )
                    .unwrap();
                    let mut batch = bufs.batch();
                    ds.gather(&order[..b], d0, d, &mut batch).unwrap();
                }
                net.evaluate(
                    &params,
                    &data.classes(),
                    &order,
                    Loss::SoftmaxCrossEntropy,
                    &mut bufs.batch(),
                    &mut out,
                    Some(&mut conf),
                    &mut ws,
                )
                .unwrap();
                net.predict(&params, &x[..d0], &mut out[..d], &mut ws)
                    .unwrap();
            }
            // Error paths too.
            let bad = Target::Classes(&[9; 8][..b]);
            assert!(
                net.loss_and_grad_with(
                    &params,
                    &x,
                    bad,
                    Loss::SoftmaxCrossEntropy,
                    &mut grads,
                    &mut ws
                )
                .is_err()
            );
            assert!(
                net.train_epoch(
                    &mut params,
                    &data.classes(),
                    &[len as u32],
                    Loss::SoftmaxCrossEntropy,
                    &mut adam,
                    &mut bufs.batch(),
                    &mut grads,
                    &mut ws
                )
                .is_err()
            );
            assert!(net.predict(&params, &x, &mut out[..d], &mut ws).is_err());
        });
        assert_eq!(count, 0, "{isa:?}: the trainer allocated");
    });
}

/// `train_epoch` skips the scan of a batch gathered from bytes when the scale times 255
/// is finite (no byte can then give NaN or ±∞), and keeps it otherwise: a scale whose
/// product with a large byte overflows is still reported as non-finite input, with
/// nothing changed; with a finite range it trains as the f32 copy of the same data does.
#[test]
fn train_epoch_on_bytes_scans_only_batches_that_can_overflow() {
    let net = Mlp::new(&H_SIZES, &H_ACTS, true).unwrap();
    let p = Mlp::param_len(&H_SIZES, true);
    let bytes: Vec<u8> = (0..21).map(|i| (i * 12) as u8).collect();
    let labels: Vec<u32> = (0..7).map(|i| i % 2).collect();
    let mut order = vec![0u32; 7];
    identity_permutation(&mut order).unwrap();
    let params0: Vec<f32> = (0..p).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
    let run = |x: Features<'_>, params: &mut [f32]| {
        let data = Dataset {
            x,
            y: Labels::Classes(&labels),
            len: 7,
        };
        let (mut xb, mut lb) = (vec![0.0f32; 3 * 3], vec![0u32; 3]);
        let mut batch = Batch {
            x: &mut xb,
            y: &mut [],
            labels: &mut lb,
        };
        let mut grads = vec![0.0f32; p];
        let mut ws = vec![0.0f32; Mlp::workspace_len(&H_SIZES, 3)];
        let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
        net.train_epoch(
            params,
            &data,
            &order,
            Loss::SoftmaxCrossEntropy,
            &mut sgd,
            &mut batch,
            &mut grads,
            &mut ws,
        )
    };
    // 255 · f32::MAX / 100 overflows to +∞: the first batch is refused, nothing changed.
    let mut bad = bytes.clone();
    bad[0] = 255;
    let mut params = params0.clone();
    let huge = Features::U8 {
        data: &bad,
        stride: 3,
        scale: f32::MAX / 100.0,
    };
    let r = run(huge, &mut params);
    assert!(
        matches!(
            r,
            Err(Error::Data {
                batch: 0,
                row: 0,
                col: Some(0),
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(bits(&params), bits(&params0));
    // A finite range: the same result as the f32 copy of the scaled bytes.
    let scale = 1.0 / 64.0;
    let xf: Vec<f32> = bytes.iter().map(|&b| f32::from(b) * scale).collect();
    let (mut a, mut b) = (params0.clone(), params0.clone());
    let la = run(
        Features::U8 {
            data: &bytes,
            stride: 3,
            scale,
        },
        &mut a,
    )
    .unwrap();
    let lb = run(
        Features::F32 {
            data: &xf,
            stride: 3,
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(la.to_bits(), lb.to_bits());
    assert_eq!(bits(&a), bits(&b));
}

/// An epoch stopped by its data names the batch, the data set's row and column (not the
/// slot in the batch), and keeps the batches before it (issue 17 D.2).
#[test]
fn epoch_errors_name_the_batch_the_row_and_the_column() {
    let sizes = [3, 4, 2];
    let net = Mlp::new(&sizes, &[Tanh, Identity], true).unwrap();
    let mut r = rng(41);
    let mut params = fill(&mut r, Mlp::param_len(&sizes, true));
    let before = params.clone();
    let mut x = fill(&mut r, 10 * 3);
    let mut labels: Vec<u32> = (0..10).map(|i| i % 2).collect();
    // Rows 0..10 in a shuffled order, batches of 4: the bad row is in batch 1.
    let order: Vec<u32> = vec![3, 7, 1, 8, 0, 9, 5, 2, 6, 4];
    let pos = order.iter().position(|&row| row == 9).unwrap(); // batch 1
    x[9 * 3 + 2] = f32::NAN;
    let data = hset(&x, &labels, 10);
    let mut sgd = Sgd::new(SgdConfig::new(0.1), &mut []).unwrap();
    let mut grads = vec![0.0; params.len()];
    let mut ws = vec![0.0; Mlp::workspace_len(&sizes, 4)];
    let mut bufs = Bufs::new(4, 3, 2);
    let e = net.train_epoch(
        &mut params,
        &data,
        &order,
        Loss::SoftmaxCrossEntropy,
        &mut sgd,
        &mut bufs.batch(),
        &mut grads,
        &mut ws,
    );
    assert_eq!(
        e,
        Err(Error::Data {
            during: "training epoch",
            batch: pos / 4,
            row: 9,
            col: Some(2),
            what: "a NaN or infinite input value",
            label: None,
        })
    );
    let msg = e.unwrap_err().to_string();
    assert!(
        msg.contains("batch 1")
            && msg.contains("row 9")
            && msg.contains("column 2")
            && msg.contains("kept"),
        "{msg}"
    );
    assert_ne!(params, before, "batch 0 was trained on and kept");
    // A label out of range: the row of the data set.
    x[9 * 3 + 2] = 0.5;
    labels[2] = 5;
    let data = hset(&x, &labels, 10);
    let e = net.train_epoch(
        &mut params,
        &data,
        &order,
        Loss::SoftmaxCrossEntropy,
        &mut sgd,
        &mut bufs.batch(),
        &mut grads,
        &mut ws,
    );
    let pos = order.iter().position(|&row| row == 2).unwrap();
    assert_eq!(
        e,
        Err(Error::Data {
            during: "training epoch",
            batch: pos / 4,
            row: 2,
            col: None,
            what: "a class label out of range",
            label: Some((5, 2)),
        })
    );
}
