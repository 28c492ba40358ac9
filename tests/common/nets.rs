//! Small convolutional networks holding every layer kind, shared by the suites that
//! check `Net` and `Trainer` as a whole (hardening, equivalences, allocations), and an
//! optimizer of either kind that a `Trainer` can own.

use microprop::Activation::{Identity, Relu, Sigmoid, Tanh};
use microprop::Error;
use microprop::layer::{Conv1d, Conv2d, Dense, Layer, Pool, Pool2d, Shape};
use microprop::optim::{Adam, Optimizer, Sgd};

/// A named network description: the input shape and the layers.
pub struct NetCase {
    pub name: &'static str,
    pub input: Shape,
    pub layers: Vec<Layer>,
}

/// 2-D: a 3×3 convolution (ReLU), a depthwise 3×3 (tanh), a pointwise 1×1 (sigmoid),
/// max pooling 2×2, average pooling with overlapping windows (2×2, stride 1), a
/// convolution with stride and dilation both, a flatten and two dense layers. Every kind
/// of 2-D layer and every convolution path (im2col, depthwise, pointwise).
pub fn cnn2d() -> NetCase {
    NetCase {
        name: "cnn2d",
        input: Shape::image(8, 7, 2),
        layers: vec![
            Layer::Conv2d(Conv2d::new(2, 4, (3, 3)).padding((1, 1)).act(Relu)),
            Layer::Conv2d(
                Conv2d::new(4, 4, (3, 3))
                    .groups(4)
                    .padding((1, 1))
                    .act(Tanh),
            ),
            Layer::Conv2d(Conv2d::new(4, 6, (1, 1)).act(Sigmoid)),
            Layer::MaxPool2d(Pool2d::new((2, 2))),
            Layer::AvgPool2d(Pool2d::new((2, 2)).stride((1, 1))),
            Layer::Conv2d(
                Conv2d::new(6, 4, (2, 2))
                    .stride((1, 2))
                    .dilation((2, 1))
                    .groups(2)
                    .act(Tanh),
            ),
            Layer::Flatten,
            Layer::Dense(Dense::new(4, 5).act(Relu)),
            Layer::Dense(Dense::new(5, 3)),
        ],
    }
}

/// 1-D: a convolution (ReLU), a dilated padded depthwise one (tanh), max pooling, a
/// pointwise convolution without bias (sigmoid), overlapping average pooling, a strided
/// grouped convolution, global average pooling and a dense layer.
pub fn cnn1d() -> NetCase {
    NetCase {
        name: "cnn1d",
        input: Shape::seq(11, 3),
        layers: vec![
            Layer::Conv1d(Conv1d::new(3, 4, 3).padding(1).act(Relu)),
            Layer::Conv1d(
                Conv1d::new(4, 4, 3)
                    .groups(4)
                    .dilation(2)
                    .padding(2)
                    .act(Tanh),
            ),
            Layer::MaxPool1d(Pool::new(2)),
            Layer::Conv1d(Conv1d::new(4, 6, 1).bias(false).act(Sigmoid)),
            Layer::AvgPool1d(Pool::new(2).stride(1)),
            Layer::Conv1d(Conv1d::new(6, 4, 2).stride(2).groups(2).act(Identity)),
            Layer::GlobalAvgPool,
            Layer::Dense(Dense::new(4, 2)),
        ],
    }
}

/// Both networks.
pub fn cnns() -> Vec<NetCase> {
    vec![cnn2d(), cnn1d()]
}

/// Either optimizer, owned by value so that a `Trainer` can hold it.
pub enum Opt<'s> {
    Sgd(Sgd<'s>),
    Adam(Adam<'s>),
}

impl Opt<'_> {
    /// The state's bits (the momentum buffer, or Adam's moments) and Adam's step count.
    pub fn state(&self) -> (Vec<u32>, u64) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
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

impl Optimizer for Opt<'_> {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        match self {
            Opt::Sgd(o) => o.update(params, grads),
            Opt::Adam(o) => o.update(params, grads),
        }
    }
    fn update_part(&mut self, at: usize, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        match self {
            Opt::Sgd(o) => o.update_part(at, params, grads),
            Opt::Adam(o) => o.update_part(at, params, grads),
        }
    }
    fn finish_parts(&mut self) {
        match self {
            Opt::Sgd(o) => o.finish_parts(),
            Opt::Adam(o) => o.finish_parts(),
        }
    }
    fn lr(&self) -> f32 {
        match self {
            Opt::Sgd(o) => o.lr(),
            Opt::Adam(o) => o.lr(),
        }
    }
    fn set_lr(&mut self, lr: f32) {
        match self {
            Opt::Sgd(o) => o.set_lr(lr),
            Opt::Adam(o) => o.set_lr(lr),
        }
    }
    fn plain_sgd_lr(&self) -> Option<f32> {
        match self {
            Opt::Sgd(o) => o.plain_sgd_lr(),
            Opt::Adam(o) => o.plain_sgd_lr(),
        }
    }
    fn check(&self, params: usize) -> Result<(), Error> {
        match self {
            Opt::Sgd(o) => o.check(params),
            Opt::Adam(o) => o.check(params),
        }
    }
}
