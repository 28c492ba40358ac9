//! The reference trainer microprop races in firmware: an MLP trained the straightforward
//! way, as a competent firmware engineer writes it by hand in an hour.
//!
//! Indexed loops over run-time sizes; the batch's input copied once into the activation
//! buffer, so that every layer reads its input from the same place (no branch in the inner
//! loop); sigmoid hidden layers and the identity on the output layer, the sigmoid
//! `1 / (1 + expf(−z))` with libm's `expf`; biases on; the summed squared error
//! `Σ (a − y)²` (taken before the update), its gradient `2 (a − y)`; plain gradient
//! descent `p ← p − lr·∂L/∂p`, each layer's `δ` taken back through its weights before they
//! are updated. microprop's conventions, so that both train the same network from the same
//! parameters: per layer `W_l` row-major `d_{l−1} × d_l`, then `b_l`. Every access is an
//! indexed (bounds-checked) one, as such code is usually written; nothing is tuned.

// Indexed loops are the point: this is the hand-written baseline. (The input's copy
// stays a loop too: with `copy_from_slice` the 16-32-16-1 step took 4% more instructions
// at opt-level "s", a baseline flattering microprop.)
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

/// Largest layer width and batch the scratch space of [`Scratch`] is sized for.
pub const MAX_WIDTH: usize = 32;
pub const MAX_BATCH: usize = 32;
/// Most layers (weight matrices) of a network.
pub const MAX_LAYERS: usize = 3;

/// The activations of every layer (the input first) and two `δ` buffers (the layer's and
/// the one below it, taking turns), for networks within the limits above.
pub struct Scratch {
    acts: [[f32; MAX_BATCH * MAX_WIDTH]; MAX_LAYERS + 1],
    deltas: [[f32; MAX_BATCH * MAX_WIDTH]; 2],
}

impl Scratch {
    pub const ZERO: Scratch = Scratch {
        acts: [[0.0; MAX_BATCH * MAX_WIDTH]; MAX_LAYERS + 1],
        deltas: [[0.0; MAX_BATCH * MAX_WIDTH]; 2],
    };
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-z))
}

/// One gradient-descent step of the MLP `sizes` (sigmoid hidden layers, identity output)
/// on the batch `x` (`n × sizes[0]`) with targets `y` (`n × sizes[L]`); returns the loss
/// before the update. The sizes must fit [`Scratch`] (the firmware's constants do;
/// anything else panics on an index).
#[inline(never)]
pub fn train_step(
    sizes: &[usize],
    params: &mut [f32],
    x: &[f32],
    y: &[f32],
    n: usize,
    lr: f32,
    s: &mut Scratch,
) -> f32 {
    let layers = sizes.len() - 1;
    // Offsets of each layer's W and b in `params`.
    let mut w_at = [0usize; MAX_LAYERS];
    let mut b_at = [0usize; MAX_LAYERS];
    let mut off = 0;
    for l in 0..layers {
        w_at[l] = off;
        off += sizes[l] * sizes[l + 1];
        b_at[l] = off;
        off += sizes[l + 1];
    }

    // The input, once, as layer 0's activation.
    for i in 0..n * sizes[0] {
        s.acts[0][i] = x[i];
    }

    // Forward: a_{l+1} = σ(a_l · W_l + b_l), the identity on the last layer.
    for l in 0..layers {
        let (d_in, d_out) = (sizes[l], sizes[l + 1]);
        for i in 0..n {
            for j in 0..d_out {
                let mut z = params[b_at[l] + j];
                for k in 0..d_in {
                    z += s.acts[l][i * d_in + k] * params[w_at[l] + k * d_out + j];
                }
                s.acts[l + 1][i * d_out + j] = if l + 1 < layers { sigmoid(z) } else { z };
            }
        }
    }

    // Loss and the output layer's δ = 2 (a − y).
    let d_last = sizes[layers];
    let mut loss = 0.0;
    let mut cur = 0; // which of `s.deltas` holds this layer's δ
    for i in 0..n * d_last {
        let e = s.acts[layers][i] - y[i];
        loss += e * e;
        s.deltas[cur][i] = 2.0 * e;
    }

    // Backward, last layer first: δ_{l−1} = (δ_l · W_lᵀ) ⊙ a (1 − a) with the old W_l, then
    // W_l −= lr · a_{l−1}ᵀ · δ_l and b_l −= lr · Σ_i δ_l.
    for l in (0..layers).rev() {
        let (d_in, d_out) = (sizes[l], sizes[l + 1]);
        if l > 0 {
            for i in 0..n {
                for k in 0..d_in {
                    let mut g = 0.0;
                    for j in 0..d_out {
                        g += s.deltas[cur][i * d_out + j] * params[w_at[l] + k * d_out + j];
                    }
                    let a = s.acts[l][i * d_in + k];
                    s.deltas[1 - cur][i * d_in + k] = g * a * (1.0 - a);
                }
            }
        }
        for k in 0..d_in {
            for j in 0..d_out {
                let mut g = 0.0;
                for i in 0..n {
                    g += s.acts[l][i * d_in + k] * s.deltas[cur][i * d_out + j];
                }
                params[w_at[l] + k * d_out + j] -= lr * g;
            }
        }
        for j in 0..d_out {
            let mut g = 0.0;
            for i in 0..n {
                g += s.deltas[cur][i * d_out + j];
            }
            params[b_at[l] + j] -= lr * g;
        }
        cur = 1 - cur;
    }
    loss
}
