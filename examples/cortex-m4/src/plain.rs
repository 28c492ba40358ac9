//! The reference trainer microprop races in firmware: a sigmoid MLP trained with plain
//! nested loops, as a firmware engineer writes it by hand from the lecture's numpy loop.
//!
//! It keeps microprop's conventions so that both train the same network from the same
//! parameters: per layer `W_l` row-major `d_{l−1} × d_l`, then `b_l`; every layer's
//! activation is the sigmoid; the loss is `Σ (a − y)²` before the update, its gradient
//! `2 (a − y)`; plain gradient descent `p ← p − lr·∂L/∂p`, each layer's `δ` taken back
//! through its weights before they are updated. Sizes are run-time values and every access
//! is an indexed (bounds-checked) one, as such code is usually written: nothing here is
//! tuned, which is the point of the comparison. The sigmoid is `1 / (1 + expf(−z))` with
//! libm's `expf`; microprop's scalar backend computes the same expression and sums in the
//! same order, so on Cortex-M the two agree to rounding (in this firmware, bit for bit).

// Indexed loops are the point: this is the hand-written baseline.
#![allow(clippy::needless_range_loop)]

/// Largest layer width and batch the scratch space of [`Scratch`] is sized for.
pub const MAX_WIDTH: usize = 32;
pub const MAX_BATCH: usize = 32;
/// Most layers (weight matrices) of a network.
pub const MAX_LAYERS: usize = 3;

/// The activations of every layer and two `δ` buffers, for networks within the limits
/// above.
pub struct Scratch {
    acts: [[f32; MAX_BATCH * MAX_WIDTH]; MAX_LAYERS],
    delta: [f32; MAX_BATCH * MAX_WIDTH],
    back: [f32; MAX_BATCH * MAX_WIDTH],
}

impl Scratch {
    pub const ZERO: Scratch = Scratch {
        acts: [[0.0; MAX_BATCH * MAX_WIDTH]; MAX_LAYERS],
        delta: [0.0; MAX_BATCH * MAX_WIDTH],
        back: [0.0; MAX_BATCH * MAX_WIDTH],
    };
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-z))
}

/// One gradient-descent step of the sigmoid MLP `sizes` on the batch `x` (`n × sizes[0]`)
/// with targets `y` (`n × sizes[L]`); returns the loss before the update. The sizes must
/// fit [`Scratch`] (the firmware's constants do; anything else panics on an index).
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

    // Forward: a_{l+1} = σ(a_l · W_l + b_l).
    for l in 0..layers {
        let (d_in, d_out) = (sizes[l], sizes[l + 1]);
        for i in 0..n {
            for j in 0..d_out {
                let mut z = params[b_at[l] + j];
                for k in 0..d_in {
                    let a = if l == 0 {
                        x[i * d_in + k]
                    } else {
                        s.acts[l - 1][i * d_in + k]
                    };
                    z += a * params[w_at[l] + k * d_out + j];
                }
                s.acts[l][i * d_out + j] = sigmoid(z);
            }
        }
    }

    // Loss and the output layer's δ = 2 (a − y) · a (1 − a).
    let d_last = sizes[layers];
    let mut loss = 0.0;
    for i in 0..n * d_last {
        let a = s.acts[layers - 1][i];
        let e = a - y[i];
        loss += e * e;
        s.delta[i] = 2.0 * e * a * (1.0 - a);
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
                        g += s.delta[i * d_out + j] * params[w_at[l] + k * d_out + j];
                    }
                    let a = s.acts[l - 1][i * d_in + k];
                    s.back[i * d_in + k] = g * a * (1.0 - a);
                }
            }
        }
        for k in 0..d_in {
            for j in 0..d_out {
                let mut g = 0.0;
                for i in 0..n {
                    let a = if l == 0 {
                        x[i * d_in + k]
                    } else {
                        s.acts[l - 1][i * d_in + k]
                    };
                    g += a * s.delta[i * d_out + j];
                }
                params[w_at[l] + k * d_out + j] -= lr * g;
            }
        }
        for j in 0..d_out {
            let mut g = 0.0;
            for i in 0..n {
                g += s.delta[i * d_out + j];
            }
            params[b_at[l] + j] -= lr * g;
        }
        if l > 0 {
            core::mem::swap(&mut s.delta, &mut s.back);
        }
    }
    loss
}
