//! The trainer API of issue 8 against references: `loss_and_grad_with` for every `Loss`
//! against central finite differences of an f64 forward pass and f64 loss formulas;
//! `loss_and_grad_custom` and `train_step_with` against the paths they must equal bit for
//! bit; `train_epoch`, `evaluate` and `predict` against the manual loops they stand for;
//! `Mlp::init` against its documented bounds. Then every error path (nothing written,
//! never a panic) and a counting allocator proving the whole trainer allocation-free.

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
                    if cfg!(miri) && case % 8 != 0 {
                        continue;
                    }
                    let sizes: Vec<usize> = (0..=depth).map(|_| rng.random_range(1..=5)).collect();
                    // `act` on every hidden layer; the output layer `act` too, except
                    // for the cross-entropies half the time (they take logits).
                    let mut acts = vec![act; depth];
                    if loss != Loss::SumSquared && loss != Loss::MeanSquared && case % 2 == 0 {
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
            let mut rng = rng(12);
            let mut params = vec![0.0; p];
            net.init(&mut params, Init::HeUniform, &mut rng).unwrap();
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
                    total += f64::from(l) * rows.len() as f64;
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

#[test]
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
        (Error::WorkspaceTooSmall { needed, len }, "workspace") => len < needed,
        (Error::NonFinite { .. }, "nonfinite") => true,
        (Error::InvalidArgument { .. }, "invalid") => true,
        (Error::LabelOutOfRange { .. }, "label") => true,
        (Error::RowOutOfRange { .. }, "row") => true,
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
        with("x ragged", "shape", &|c| c.x.push(0.0)),
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
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
        assert_eq!((bits(&params), opt.state()), before);
    }
}
