//! The lecture's forward pass of a 3-layer network:
//!
//! ```python
//! f = lambda x: 1.0/(1.0 + np.exp(-x))
//! x = randn(3, 1)
//! h1 = f(np.dot(W1, x) + b1)
//! h2 = f(np.dot(W2, h1) + b2)
//! out = np.dot(W3, h2) + b3
//! ```
//!
//! as an [`Mlp`] with sizes `[3, 4, 4, 1]`, activations `[Sigmoid, Sigmoid, Identity]` and
//! biases. microprop stores examples as rows, so a layer computes `x·W + b` with `W` of
//! shape `d_in × d_out`: the lecture's `W1` (4×3) is our `W1ᵀ`. One `forward` call runs a
//! whole batch, bias and sigmoid fused into each layer's GEMM.
//!
//! Run: `cargo run --release --example forward3`

use microprop::Activation::{Identity, Sigmoid};
use microprop::nn::Mlp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const SIZES: [usize; 4] = [3, 4, 4, 1];
const BATCH: usize = 5;

fn main() -> Result<(), microprop::Error> {
    let net = Mlp::new(&SIZES, &[Sigmoid, Sigmoid, Identity], true)?;
    let mut rng = StdRng::seed_from_u64(0);
    let mut randn =
        |n: usize| -> Vec<f32> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
    let params = randn(Mlp::param_len(&SIZES, true));
    let x = randn(BATCH * SIZES[0]);
    let mut out = [0.0f32; BATCH];
    let mut workspace = [0.0f32; Mlp::forward_workspace_len(&SIZES, BATCH)];
    net.forward(&params, &x, &mut out, &mut workspace)?;
    for (row, o) in x.chunks(3).zip(out) {
        println!(
            "x = [{:+.3}, {:+.3}, {:+.3}]  ->  out = {o:+.6}",
            row[0], row[1], row[2]
        );
    }
    Ok(())
}
