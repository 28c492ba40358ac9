//! [`Mlp::train_step`](super::Mlp::train_step) for tiny networks on the scalar instruction
//! set: the same arithmetic as the general step (`step.rs` over the GEMM's scalar tiles),
//! in plain loops over slices cut once, without the layer walk, the workspace layout and
//! the GEMM's dispatch, packing and per-call checks.
//!
//! On XOR 2-3-1 (batch 4) those fixed costs were 70% of a step on a Cortex-M4F (11,237
//! instructions a step through the general engine, 3,324 here). A network
//! qualifies ([`fits`]) when every layer is at most [`TINY_WIDTH`] wide and the batch at
//! most [`TINY_ROWS`]: there no GEMM of the general step blocks its inner dimension, so
//! each of its sums runs in index order from zero as here, and the results are the same
//! bit for bit (a test compares this path with a `Net` of the same layers under
//! [`Isa::Scalar`]). The other instruction sets keep the general step (their GEMMs fuse
//! multiply-adds and sum in lanes).
//!
//! Validation is once per step, as in the general step and with its errors: the caller
//! checks the learning rate and the lengths of `params`, `x` and `y` from the sizes; here
//! the workspace (against the general layout's length, computed without its walk; this
//! path uses its first regions), the empty batch, then the finiteness of `x`, the loss,
//! the hidden activations and every delta, all before the first parameter is written.
//! The loops then index slices cut to size once, with no check per kernel.

use crate::Activation;
use crate::activation::{ActivationOp, ActivationVisitor};
use crate::error::{Error, check_workspace};
use crate::gemm::gemm_workspace_len;
use crate::gemm::{strided_dot, strided_sum};
use crate::loss::Loss;
use crate::simd::{Isa, Scalar, flush_tiny, keep_rolled};

use super::step::X_NON_FINITE;

/// Widest layer (inputs included) the tiny path takes.
pub(super) const TINY_WIDTH: usize = 8;
/// Largest batch the tiny path takes.
pub(super) const TINY_ROWS: usize = 16;

/// Whether a step of the network `sizes` on a batch of `n` takes the tiny path on `isa`.
#[inline]
pub(super) fn fits(isa: Isa, sizes: &[usize], n: usize) -> bool {
    isa == Isa::Scalar && n <= TINY_ROWS && sizes.iter().all(|&d| d <= TINY_WIDTH)
}

/// [`Mlp::workspace_len`](super::Mlp::workspace_len)`(sizes, n)` for a network that
/// [`fits`], without the general layout's walk over the layers: the activations and
/// deltas, the largest bias, and the packing space of the largest of the step's GEMMs (a
/// test compares the two over every tiny shape).
pub(super) fn workspace_len(sizes: &[usize], n: usize) -> usize {
    let (mut area, mut bias, mut gemm) = (0, 0, 0);
    for l in 0..sizes.len() - 1 {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        area += n * dout;
        bias = bias.max(dout);
        gemm = gemm
            .max(gemm_workspace_len(n, di, dout))
            .max(gemm_workspace_len(di, n, dout));
        if l > 0 {
            // (The first layer's input gradient is not computed.)
            gemm = gemm.max(gemm_workspace_len(n, dout, di));
        }
    }
    2 * area + bias + gemm
}

/// Whether every value is finite: [`all_finite`](crate::optim::all_finite) on the scalar
/// instruction set, without its dispatch; on the exponent bits (all ones: NaN or ±∞), a
/// few integer instructions a value with or without an FPU.
#[inline]
fn finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.to_bits() & 0x7f80_0000 != 0x7f80_0000)
}

/// `z ← act(z)` in place, one value at a time: the scalar tile's activation epilogue
/// (`ActTile` in `gemm/scalar.rs`), with one dispatch on the activation. (The crate's
/// vector map would link every activation's four-wide loop: 2.7 KB at opt-level "s".)
struct Act<'a> {
    z: &'a mut [f32],
}

impl ActivationVisitor for Act<'_> {
    type Output = ();
    #[inline(always)]
    fn call<A: ActivationOp>(self) {
        for z in self.z.iter_mut() {
            keep_rolled();
            *z = A::forward_v(Scalar, *z);
        }
    }
}

/// `d ← flush(d ⊙ act'(h))` in place: the scalar tile's derivative epilogue, and the
/// last layer's `Prev::apply`, with one dispatch on the activation.
struct DerivFlush<'a> {
    d: &'a mut [f32],
    h: &'a [f32],
}

impl ActivationVisitor for DerivFlush<'_> {
    type Output = ();
    #[inline(always)]
    fn call<A: ActivationOp>(self) {
        for (d, &h) in self.d.iter_mut().zip(self.h) {
            keep_rolled();
            *d = flush_tiny(Scalar, A::deriv_mul_v(Scalar, *d, h));
        }
    }
}

/// The step itself: see the module docs for what the caller checked (the learning rate,
/// `params`, and `x` as `n` whole rows); the workspace and `n = 0` are checked here.
///
/// Not inlined, so that its frame is not part of the general step's (both run from
/// `Mlp::train_step`).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn train_step(
    sizes: &[usize],
    acts: &[Activation],
    bias: bool,
    params: &mut [f32],
    x: &[f32],
    y: &[f32],
    n: usize,
    lr: f32,
    ws: &mut [f32],
) -> Result<f32, Error> {
    const ISA: Isa = Isa::Scalar;
    check_workspace(
        workspace_len(sizes, n),
        ws.len(),
        super::mlp::STEP_WORKSPACE,
    )?;
    if n == 0 {
        return Ok(0.0);
    }
    let depth = sizes.len() - 1;
    let area: usize = sizes[1..].iter().map(|&d| n * d).sum();
    let (a_all, rest) = ws.split_at_mut(area);
    let d_all = &mut rest[..area];

    if !finite(x) {
        return Err(Error::NonFinite { what: X_NON_FINITE });
    }

    // Forward: A_l = act_l(A_{l−1}·W_l + b_l), the sums from zero in index order, then
    // the bias, then the activation (the scalar tile's epilogue).
    let (mut p_at, mut a_at) = (0, 0);
    for l in 0..depth {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        let (done, out) = a_all.split_at_mut(a_at);
        let input: &[f32] = if l == 0 { x } else { &done[a_at - n * di..] };
        let input = &input[..n * di];
        let out = &mut out[..n * dout];
        let w = &params[p_at..][..di * dout];
        let b = &params[p_at + di * dout..][..if bias { dout } else { 0 }];
        for i in 0..n {
            for j in 0..dout {
                // SAFETY: row `i < n` of the `n × di` input (stride 1) and column
                // `j < dout` of the `di × dout` weights (stride `dout`), `di` values each,
                // inside the slices cut above.
                let mut z = unsafe {
                    strided_dot(input.as_ptr().add(i * di), 1, w.as_ptr().add(j), dout, di)
                };
                if let Some(&bv) = b.get(j) {
                    z += bv;
                }
                if let Some(o) = out.get_mut(i * dout + j) {
                    *o = z;
                }
            }
        }
        acts[l].dispatch(Act { z: out });
        p_at += di * dout + b.len();
        a_at += n * dout;
    }

    // The loss pass, then Δ_L = G ⊙ act_L'(A_L), flushed.
    let last = n * sizes[depth];
    let top = area - last;
    let loss = Loss::sum_squared_isa(ISA, &a_all[top..], y, &mut d_all[top..])?;
    if !loss.is_finite() {
        return Err(Error::NonFinite {
            what: "loss (look for NaN or ±∞ in y, or in the parameters: Mlp::check_params)",
        });
    }
    if !finite(&a_all[..top]) {
        return Err(Error::NonFinite {
            what: "a hidden layer's activations",
        });
    }
    acts[depth - 1].dispatch(DerivFlush {
        d: &mut d_all[top..],
        h: &a_all[top..],
    });

    // Deltas: Δ_{l−1} = flush((Δ_l·W_lᵀ) ⊙ act'(A_{l−1})), with the old weights.
    let (mut hi, mut p_hi) = (top, p_at);
    for l in (1..depth).rev() {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        p_hi -= di * dout + if bias { dout } else { 0 };
        let lo = hi - n * di;
        let w = &params[p_hi..][..di * dout];
        let (lower, upper) = d_all.split_at_mut(hi);
        let dout_v = &upper[..n * dout];
        let dx = &mut lower[lo..];
        for i in 0..n {
            for k in 0..di {
                // SAFETY: row `i < n` of the `n × dout` delta and row `k < di` of the
                // `di × dout` weights, `dout` values each (stride 1), inside the slices.
                let g = unsafe {
                    strided_dot(
                        dout_v.as_ptr().add(i * dout),
                        1,
                        w.as_ptr().add(k * dout),
                        1,
                        dout,
                    )
                };
                if let Some(d) = dx.get_mut(i * di + k) {
                    *d = g;
                }
            }
        }
        acts[l - 1].dispatch(DerivFlush {
            d: dx,
            h: &a_all[lo..hi],
        });
        hi = lo;
    }
    if !finite(d_all) {
        return Err(Error::NonFinite {
            what: "gradient (a layer's delta)",
        });
    }

    // The update: W_l ← W_l + (−lr)·(A_{l−1}ᵀ·Δ_l), b_l ← b_l − lr·colsum(Δ_l).
    let neg = -lr;
    let (mut p_at, mut a_at) = (0, 0);
    for l in 0..depth {
        let (di, dout) = (sizes[l], sizes[l + 1]);
        let input: &[f32] = if l == 0 {
            x
        } else {
            &a_all[a_at - n * di..a_at]
        };
        let input = &input[..n * di];
        let delta = &d_all[a_at..][..n * dout];
        let (w, b) = params[p_at..].split_at_mut(di * dout);
        let b = &mut b[..if bias { dout } else { 0 }];
        for k in 0..di {
            for j in 0..dout {
                // SAFETY: column `k < di` of the `n × di` input (stride `di`) and
                // column `j < dout` of the `n × dout` delta (stride `dout`), `n` values
                // each, inside the slices cut above.
                let g = unsafe {
                    strided_dot(input.as_ptr().add(k), di, delta.as_ptr().add(j), dout, n)
                };
                // (β = 1: the tile's `1·W + α·acc`, and 1·W is W.)
                if let Some(w) = w.get_mut(k * dout + j) {
                    *w += neg * g;
                }
            }
        }
        // `colsum` then `sgd`: each column's sum from zero in row order, then
        // `b − lr·sum`.
        for (j, b) in b.iter_mut().enumerate() {
            // SAFETY: column `j < dout` of the `n × dout` delta, `n` values (stride
            // `dout`), inside the slice.
            let sum = unsafe { strided_sum(delta.as_ptr().add(j), dout, n) };
            *b -= lr * sum;
        }
        p_at += di * dout + b.len();
        a_at += n * dout;
    }
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Mlp;

    #[test]
    fn workspace_len_is_the_general_layouts_for_every_tiny_shape() {
        // (Under Miri, the networks of one layer: safe arithmetic, checked in full by
        // native runs.)
        let deepest = if cfg!(miri) { 1 } else { 3 };
        for depth in 1..=deepest {
            for code in 0..TINY_WIDTH.pow(depth as u32 + 1) {
                let mut sizes = [0usize; 4];
                let mut c = code;
                for d in sizes.iter_mut().take(depth + 1) {
                    *d = c % TINY_WIDTH + 1;
                    c /= TINY_WIDTH;
                }
                let sizes = &sizes[..depth + 1];
                for n in 0..=TINY_ROWS {
                    assert_eq!(
                        workspace_len(sizes, n),
                        Mlp::workspace_len(sizes, n),
                        "{sizes:?} n {n}"
                    );
                }
            }
        }
    }
}
