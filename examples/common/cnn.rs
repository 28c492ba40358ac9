//! The convolutions of the `vowels` and `digits_cnn` examples, each raced one against
//! one: microprop through a one-layer [`Net`] and its [`Net::loss_and_grads`], beside
//! the baseline a competent engineer would write in an hour (im2col in plain Rust, then
//! `matrixmultiply::sgemm`); and both examples' training epochs. What the `bench`
//! example and the criterion benches time. (Included with `#[path]`; not an example of
//! its own.)
//!
//! A race is one forward and backward pass of a batch of [`BATCH`]: the output
//! `relu(x ⊛ W + b)`, the loss `Σ (a − y)²` and its gradient, the weight gradient, the
//! bias gradient and the input gradient `∂L/∂x`. Its arithmetic is three products of
//! `m × k × n` = `N·oh·ow × kh·kw·c_in × c_out` (the forward pass `col·W`, the weight
//! gradient `colᵀ·Δ` and the input gradient `Δ·Wᵀ`), `3 · 2mkn` floating-point
//! operations ([`Case::flops`]); the loss pass, the bias and the ReLU are `O(m·n)` and
//! not counted.
//!
//! The layer lists repeat those of `examples/vowels.rs` and `examples/digits_cnn.rs`
//! (whose networks live in their own `main` files); [`Cnn::net`] checks the parameter
//! counts the examples document.

use microprop::Activation::Relu;
use microprop::data::{Batch, Dataset, Features, Labels, identity_permutation, shuffle};
use microprop::init::Init;
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::nn::{Net, Trainer};
use microprop::{Adam, AdamConfig, Loss, Target};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The batch of every race and epoch, as the examples train.
pub const BATCH: usize = 32;

/// One convolution of the examples, with its input shape and its ReLU.
pub struct Case {
    /// Which layer of which example: `"vowels conv1"`.
    pub name: &'static str,
    /// The layer as the examples write it, and its input.
    pub what: &'static str,
    /// The layer.
    pub layer: Layer,
    /// One example's input shape.
    pub input: Shape,
}

/// The four convolutions of the two examples, in the examples' order.
pub static CASES: [Case; 4] = [
    Case {
        name: "vowels conv1",
        what: "Conv1d(12→32, k3, pad 1) on 29×12",
        layer: Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
        input: Shape::seq(29, 12),
    },
    Case {
        name: "vowels conv2",
        what: "Conv1d(32→32, k3, pad 1) on 29×32",
        layer: Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
        input: Shape::seq(29, 32),
    },
    Case {
        name: "digits conv1",
        what: "Conv2d(1→16, 3×3, pad 1) on 8×8×1",
        layer: Layer::Conv2d(Conv2d::new(1, 16, (3, 3)).padding((1, 1)).act(Relu)),
        input: Shape::image(8, 8, 1),
    },
    Case {
        name: "digits conv2",
        what: "Conv2d(16→32, 3×3, pad 1) on 4×4×16",
        layer: Layer::Conv2d(Conv2d::new(16, 32, (3, 3)).padding((1, 1)).act(Relu)),
        input: Shape::image(4, 4, 16),
    },
];

/// A stride-1, dilation-1, one-group convolution's sizes, as the baseline needs them.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn of(case: &Case, n: usize) -> Geom {
        let Shape { h, w, c } = case.input;
        // (in, out, kernel, padding) of the 2-D form; a Conv1d is a 1 × len image.
        let (cin, cout, (kh, kw), (ph, pw)) = match case.layer {
            Layer::Conv1d(l) => {
                assert!(
                    l.stride == 1 && l.dilation == 1 && l.groups == 1,
                    "baseline"
                );
                (l.in_channels, l.out_channels, (1, l.kernel), (0, l.padding))
            }
            Layer::Conv2d(l) => {
                assert!(
                    l.stride == (1, 1) && l.dilation == (1, 1) && l.groups == 1,
                    "baseline"
                );
                (l.in_channels, l.out_channels, l.kernel, l.padding)
            }
            _ => panic!("{} is not a convolution", case.name),
        };
        assert_eq!(cin, c, "{}: channels", case.name);
        Geom {
            n,
            h,
            w,
            c,
            cout,
            kh,
            kw,
            ph,
            pw,
            oh: h + 2 * ph - kh + 1,
            ow: w + 2 * pw - kw + 1,
        }
    }
    /// Rows of the unfolded input, `N·oh·ow`.
    fn m(&self) -> usize {
        self.n * self.oh * self.ow
    }
    /// Columns of the unfolded input (rows of the weights), `kh·kw·c_in`.
    fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }
    /// Where window tap `(ky, kx)` of output `(oy, ox)` reads example `b`'s input: the
    /// first of its `c` channels, or `None` in the padding.
    fn at(&self, b: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
        let iy = (oy + ky).checked_sub(self.ph).filter(|&y| y < self.h)?;
        let ix = (ox + kx).checked_sub(self.pw).filter(|&x| x < self.w)?;
        Some(((b * self.h + iy) * self.w + ix) * self.c)
    }
}

impl Case {
    /// The three products' `m × k × n` (forward `col·W`; the weight gradient is
    /// `k × m × n`, the input gradient `m × n × k`): `(N·oh·ow, kh·kw·c_in, c_out)`.
    pub fn mkn(&self, n: usize) -> (usize, usize, usize) {
        let g = Geom::of(self, n);
        (g.m(), g.k(), g.cout)
    }
    /// Floating-point operations of a race on a batch of `n`: `3 · 2mkn`.
    pub fn flops(&self, n: usize) -> f64 {
        let (m, k, c) = self.mkn(n);
        6.0 * (m * k * c) as f64
    }
    /// The one-layer network of this convolution.
    pub fn net(&'static self) -> Net<'static> {
        Net::new(self.input, core::slice::from_ref(&self.layer)).expect("the layer fits")
    }
}

/// `c = a·b` with matrixmultiply; `a` (`m × k`) and `b` (`k × n`) given with
/// their row and column strides, `c` row-major `m × n`.
fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    c: &mut [f32],
) {
    let last = |rows: usize, cols: usize, rs: isize, cs: isize| {
        (rows - 1) as isize * rs + (cols - 1) as isize * cs
    };
    assert!(last(m, k, a.1, a.2) < a.0.len() as isize);
    assert!(last(k, n, b.1, b.2) < b.0.len() as isize);
    assert!(m * n <= c.len());
    // SAFETY: the assertions above keep every index of the three operands in bounds.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            a.1,
            a.2,
            b.0.as_ptr(),
            b.1,
            b.2,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// The baseline: im2col in plain Rust (the padding written as zeros), three
/// `matrixmultiply::sgemm` products, col2im in plain Rust, the bias, the ReLU and the
/// loss in plain loops; every buffer allocated once, in [`Im2col::new`].
pub struct Im2col {
    g: Geom,
    /// The unfolded input, `m × k`.
    col: Vec<f32>,
    /// The output, `m × c_out`.
    pub out: Vec<f32>,
    /// `∂L/∂z`, `m × c_out`.
    delta: Vec<f32>,
    /// The weight gradient, `k × c_out`.
    pub gw: Vec<f32>,
    /// The bias gradient, `c_out`.
    pub gb: Vec<f32>,
    /// The unfolded input's gradient, `m × k`.
    dcol: Vec<f32>,
    /// The input gradient, `N ×` the input's length.
    pub dx: Vec<f32>,
}

impl Im2col {
    /// The baseline of `case` on a batch of `n`.
    pub fn new(case: &Case, n: usize) -> Im2col {
        let g = Geom::of(case, n);
        let (m, k) = (g.m(), g.k());
        Im2col {
            g,
            col: vec![0.0; m * k],
            out: vec![0.0; m * g.cout],
            delta: vec![0.0; m * g.cout],
            gw: vec![0.0; k * g.cout],
            gb: vec![0.0; g.cout],
            dcol: vec![0.0; m * k],
            dx: vec![0.0; n * g.h * g.w * g.c],
        }
    }

    /// One forward and backward pass of the batch `x` against `y` with `params`
    /// (microprop's layout: `W`, `k × c_out` row-major, then `b`); returns the loss.
    pub fn step(&mut self, params: &[f32], x: &[f32], y: &[f32]) -> f32 {
        let (m, k, n) = (self.g.m(), self.g.k(), self.g.cout);
        let (w, b) = params.split_at(k * n);
        self.im2col(x);
        // out = relu(col·W + b)
        sgemm(
            m,
            k,
            n,
            (&self.col, k as isize, 1),
            (w, n as isize, 1),
            &mut self.out,
        );
        for row in self.out.chunks_exact_mut(n) {
            for (o, b) in row.iter_mut().zip(b) {
                *o = (*o + b).max(0.0);
            }
        }
        // L = Σ (a − y)², Δ = 2(a − y) where a > 0
        let mut loss = 0.0;
        for ((d, &a), &t) in self.delta.iter_mut().zip(&self.out).zip(y) {
            let e = a - t;
            loss += e * e;
            *d = if a > 0.0 { 2.0 * e } else { 0.0 };
        }
        // ∂L/∂W = colᵀ·Δ (colᵀ: the col buffer read by columns), ∂L/∂b = Σ_rows Δ
        sgemm(
            k,
            m,
            n,
            (&self.col, 1, k as isize),
            (&self.delta, n as isize, 1),
            &mut self.gw,
        );
        self.gb.fill(0.0);
        for row in self.delta.chunks_exact(n) {
            for (g, d) in self.gb.iter_mut().zip(row) {
                *g += d;
            }
        }
        // ∂L/∂col = Δ·Wᵀ (Wᵀ: W read by columns), folded back onto the input
        sgemm(
            m,
            n,
            k,
            (&self.delta, n as isize, 1),
            (w, 1, n as isize),
            &mut self.dcol,
        );
        self.col2im();
        loss
    }

    /// Each output position's window as a row of `col`, zeros in the padding.
    fn im2col(&mut self, x: &[f32]) {
        let g = self.g;
        let mut rows = self.col.chunks_exact_mut(g.k());
        for b in 0..g.n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let row = rows.next().expect("m rows");
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let seg = &mut row[(ky * g.kw + kx) * g.c..][..g.c];
                            match g.at(b, oy, ox, ky, kx) {
                                Some(i) => seg.copy_from_slice(&x[i..i + g.c]),
                                None => seg.fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    }

    /// `dx` = each row of `dcol` added back where its window read the input.
    fn col2im(&mut self) {
        let g = self.g;
        self.dx.fill(0.0);
        let mut rows = self.dcol.chunks_exact(g.k());
        for b in 0..g.n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let row = rows.next().expect("m rows");
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some(i) = g.at(b, oy, ox, ky, kx) {
                                let seg = &row[(ky * g.kw + kx) * g.c..][..g.c];
                                for (d, s) in self.dx[i..i + g.c].iter_mut().zip(seg) {
                                    *d += s;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// microprop's contender: the convolution as a one-layer network, the whole race one
/// call of [`Net::loss_and_grads`] (which also scans the input, the loss and the
/// gradients for NaN and ±∞).
pub struct Ours {
    net: Net<'static>,
    /// The parameter gradient (`W`, then `b`).
    pub grads: Vec<f32>,
    /// The input gradient.
    pub dx: Vec<f32>,
    ws: Vec<f32>,
}

impl Ours {
    /// The contender of `case` on a batch of `n`.
    pub fn new(case: &'static Case, n: usize) -> Ours {
        let net = case.net();
        Ours {
            net,
            grads: vec![0.0; net.param_len()],
            dx: vec![0.0; n * net.input().len()],
            ws: vec![0.0; net.input_grad_workspace_len(n)],
        }
    }

    /// One forward and backward pass of the batch `x` against `y`; returns the loss.
    pub fn step(&mut self, params: &[f32], x: &[f32], y: &[f32]) -> f32 {
        self.net
            .loss_and_grads(
                params,
                x,
                Target::Values(y),
                Loss::SumSquared,
                &mut self.grads,
                &mut self.dx,
                &mut self.ws,
            )
            .expect("finite")
    }
}

/// A race's data: the batch, its targets and the parameters, drawn from `seed`.
pub struct Data {
    /// `N` input examples.
    pub x: Vec<f32>,
    /// `N` targets of the output's shape.
    pub y: Vec<f32>,
    /// He-uniform weights and a small random bias.
    pub params: Vec<f32>,
}

impl Data {
    /// The data of `case` on a batch of `n`.
    pub fn new(case: &'static Case, n: usize, seed: u64) -> Data {
        let mut rng = StdRng::seed_from_u64(seed);
        let net = case.net();
        let mut params = vec![0.0; net.param_len()];
        net.init(&mut params, Init::HeUniform, &mut rng)
            .expect("init");
        for b in &mut params[case.layer.weight_len()..] {
            *b = rng.random_range(-0.1..0.1);
        }
        let mut draw = |len: usize, lo: f32| -> Vec<f32> {
            (0..len).map(|_| rng.random_range(lo..1.0)).collect()
        };
        Data {
            x: draw(n * net.input().len(), -1.0),
            y: draw(n * net.output().len(), 0.0),
            params,
        }
    }
}

/// `Err` naming the worst element unless `got` matches `want` to `tol` relative to the
/// largest `|want|`.
fn agree(what: &str, got: &[f32], want: &[f32], tol: f32) -> Result<(), String> {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |s, v| s.max(v.abs())).max(1e-30);
    let (i, worst) = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0.0f32), |w, (i, d)| if d > w.1 { (i, d) } else { w });
    if worst <= tol * scale {
        Ok(())
    } else {
        Err(format!(
            "{what}: element {i} is {} for microprop, {} for the baseline ({:.2e} of the largest)",
            got[i],
            want[i],
            worst / scale
        ))
    }
}

/// Runs both contenders once on `data` and panics unless their loss, output, weight,
/// bias and input gradients agree to a relative `1e-4` (of each buffer's largest value):
/// the race is on the same work.
pub fn check(case: &'static Case, data: &Data, ours: &mut Ours, base: &mut Im2col) {
    let n = data.x.len() / case.input.len();
    let l_ours = ours.step(&data.params, &data.x, &data.y);
    let l_base = base.step(&data.params, &data.x, &data.y);
    let net = case.net();
    let mut out = vec![0.0; n * net.output().len()];
    let mut ws = vec![0.0; net.forward_workspace_len(n)];
    net.forward(&data.params, &data.x, &mut out, &mut ws)
        .expect("forward");
    let wl = case.layer.weight_len();
    let tol = 1e-4;
    let checks = [
        agree("loss", &[l_ours], &[l_base], tol),
        agree("output", &out, &base.out, tol),
        agree("weight gradient", &ours.grads[..wl], &base.gw, tol),
        agree("bias gradient", &ours.grads[wl..], &base.gb, tol),
        agree("input gradient", &ours.dx, &base.dx, tol),
    ];
    for c in checks {
        if let Err(e) = c {
            panic!(
                "{}: microprop and the im2col baseline disagree: {e}",
                case.name
            );
        }
    }
}

/// 640 records of 29 × 12 little-endian f32 (`[t][c]`), a label byte, a length byte and
/// two zero bytes (examples/data/japanese_vowels/README.md).
static VOWELS: &[u8] = include_bytes!("../data/japanese_vowels/japanese_vowels.f32");
/// 1,797 records of 64 pixel bytes (0–16) and a label byte (examples/data/digits).
static DIGITS: &[u8] = include_bytes!("../data/digits/digits.u8");

/// The network of examples/vowels.rs.
static VOWELS_LAYERS: [Layer; 5] = [
    Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
    Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
    Layer::MaxPool1d(Pool::new(2)),
    Layer::Flatten,
    Layer::Dense(Dense::new(448, 9)),
];
/// The network of examples/digits_cnn.rs.
static DIGITS_LAYERS: [Layer; 6] = [
    Layer::Conv2d(Conv2d::new(1, 16, (3, 3)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Conv2d(Conv2d::new(16, 32, (3, 3)).padding((1, 1)).act(Relu)),
    Layer::MaxPool2d(Pool2d::new((2, 2))),
    Layer::Flatten,
    Layer::Dense(Dense::new(128, 10)),
];

/// One of the two CNN examples, trained as it trains: He-uniform initialisation,
/// softmax cross-entropy, Adam lr 1e-3, batches of [`BATCH`] of its shuffled training
/// records, through a [`Trainer`].
#[derive(Clone, Copy, Debug)]
pub enum Cnn {
    /// examples/vowels.rs: 270 training records of 29 × 12.
    Vowels,
    /// examples/digits_cnn.rs: 1,437 training images of 8 × 8.
    Digits,
}

impl Cnn {
    /// Both.
    pub const ALL: [Cnn; 2] = [Cnn::Vowels, Cnn::Digits];

    /// Its name and layers, as a row label.
    pub fn name(self) -> &'static str {
        match self {
            Cnn::Vowels => "vowels: Conv1d(12→32)–Conv1d(32→32)–MaxPool(2)–Dense(448→9)",
            Cnn::Digits => "digits_cnn: Conv2d(1→16)–MaxPool–Conv2d(16→32)–MaxPool–Dense(128→10)",
        }
    }

    /// Its network; checks the parameter count the example documents.
    pub fn net(self) -> Net<'static> {
        let (input, layers, params) = match self {
            Cnn::Vowels => (Shape::seq(29, 12), &VOWELS_LAYERS[..], 8_329),
            Cnn::Digits => (Shape::image(8, 8, 1), &DIGITS_LAYERS[..], 6_090),
        };
        let net = Net::new(input, layers).expect("the layers fit");
        assert_eq!(
            net.param_len(),
            params,
            "{self:?}: not the example's network"
        );
        net
    }

    /// Its training records, read in place.
    pub fn train(self) -> Dataset<'static> {
        match self {
            Cnn::Vowels => {
                let (record, len) = (1396, 270);
                let bytes = &VOWELS[..len * record];
                Dataset {
                    x: Features::F32Le {
                        data: bytes,
                        stride: record,
                    },
                    y: Labels::ClassesU8 {
                        data: &bytes[29 * 12 * 4..],
                        stride: record,
                    },
                    len,
                }
            }
            Cnn::Digits => {
                let (record, len) = (65, 1437);
                let bytes = &DIGITS[..len * record];
                Dataset {
                    x: Features::U8 {
                        data: bytes,
                        stride: record,
                        scale: 1.0 / 16.0,
                    },
                    y: Labels::ClassesU8 {
                        data: &bytes[64..],
                        stride: record,
                    },
                    len,
                }
            }
        }
    }

    /// Training records in an epoch.
    pub fn records(self) -> usize {
        self.train().len
    }

    /// Steps in an epoch (the last batch partial).
    pub fn steps(self) -> usize {
        self.records().div_ceil(BATCH)
    }

    /// Sets up a training session as the example does (every buffer allocated here,
    /// once) and calls `run` with a closure that trains one epoch (a shuffle, then
    /// [`Trainer::epoch`]) and returns its mean loss.
    pub fn with_epoch<R>(self, seed: u64, run: impl FnOnce(&mut dyn FnMut() -> f32) -> R) -> R {
        let net = self.net();
        let train = self.train();
        let p = net.param_len();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut params = vec![0.0f32; p];
        net.init(&mut params, Init::HeUniform, &mut rng)
            .expect("init");
        let mut state = vec![0.0f32; Adam::state_len(p)];
        let adam = Adam::new(AdamConfig::adam(1e-3), &mut state).expect("adam");
        let mut grads = vec![0.0f32; p];
        let mut ws = vec![0.0f32; net.workspace_len(BATCH)];
        let mut xb = vec![0.0f32; BATCH * net.input().len()];
        let mut labels = vec![0u32; BATCH];
        let mut order = vec![0u32; train.len];
        identity_permutation(&mut order).expect("order");
        let mut trainer = Trainer::new(
            net,
            &mut params,
            &mut grads,
            adam,
            &mut ws,
            Loss::SoftmaxCrossEntropy,
        )
        .expect("trainer");
        run(&mut || {
            shuffle(&mut order, &mut rng);
            let mut batch = Batch {
                x: &mut xb,
                y: &mut [],
                labels: &mut labels,
            };
            trainer.epoch(&train, &order, &mut batch).expect("finite")
        })
    }
}
