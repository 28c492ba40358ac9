//! General matrix multiply: `C ← α·A·B + β·C` over strided views.
//!
//! Goto/BLIS blocking: the product is cut into `KC × NC` panels of B and `MC × KC`
//! blocks of A, each packed into the caller's workspace in the order the register-tile
//! microkernel reads them; the microkernel keeps an `MR × NR` tile of C in registers
//! for the whole `KC` loop and touches C once per block. Epilogues (bias plus activation,
//! or a multiply by an activation's derivative) are applied while the tile is still in
//! registers after the last K block; the networks use them to fuse their layers.
//!
//! Edge tiles go through a zero-padded stack tile with the same vector arithmetic as
//! interior tiles, so every element of C gets bit-identical treatment wherever it lies.
//!
//! Narrow products (B with contiguous rows and at most one or two vectors of columns,
//! like the lecture's 10-wide output layer) skip packing: A is broadcast where it lies,
//! B's rows are loaded with a masked tail, and each tile runs over the whole depth.
//!
//! Deep narrow products with contiguous rows of A (the lecture's `h·w2`: 1000 deep, 10
//! wide) are dot products instead (AVX2/AVX-512): Bᵀ is packed once, vectors run along k
//! so every lane is useful, and each tile of 4 rows is reduced and finished like any other.
//!
//! Every instruction set's register tiles (packed and unpacked), whether it takes the
//! dot-product path, the block sizes and the thresholds that choose a path are in one
//! table, `tiles.rs` (its module docs list them; a unit test keeps that list true).

mod direct;
mod epilogue;
mod kernel;
mod loops;
mod pack;
mod scalar;
mod tiles;

pub(crate) use direct::{Direct, conv_forward, conv_wgrad, fill_edges};
pub(crate) use epilogue::Epi;
use loops::gemm_raw;
pub(crate) use scalar::{strided_dot, strided_sum};
use tiles::{KC, MC, MR_MAX, NC, NR_MAX};

use crate::error::check_workspace;
use crate::par::{Executor, Serial};
use crate::simd::Isa;
use crate::{Error, MatMut, MatRef};

/// Spare values that let both packed panels start on a 64-byte boundary (up to 15 before
/// the A block, up to 15 between the blocks).
pub(crate) const ALIGN_SLACK: usize = 32;

const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

/// Workspace length (in `f32`s) that [`gemm`] needs for an `m × k` by `k × n` product.
///
/// It depends on the target and the `std` feature, never on the CPU a program runs on, so
/// firmware can size a `static` with it. With `std` it fits every instruction set runtime
/// detection may pick; without `std` only the one fixed at compile time, so a Cortex-M
/// build (the scalar 4 × 4 tile) asks for less than an x86 build (AVX-512's 8 × 48):
///
/// ```
/// use microprop::gemm_workspace_len;
/// static mut WS: [f32; gemm_workspace_len(64, 1000, 10)] = [0.0; gemm_workspace_len(64, 1000, 10)];
/// ```
///
/// Bounded by `(MC + NC + two tiles) · KC + 32` whatever the shape: about 1.2 M floats for
/// large products, a few hundred for tiny ones. Saturates instead of overflowing.
pub const fn gemm_workspace_len(m: usize, k: usize, n: usize) -> usize {
    if m == 0 || n == 0 {
        return 0;
    }
    // Rounding up to any MR ≤ MR_MAX adds at most MR_MAX − 1 rows (NR alike).
    let kc = min(k, KC);
    let a = (min(m, MC) + MR_MAX - 1).saturating_mul(kc);
    let b = (min(n, NC) + NR_MAX - 1).saturating_mul(kc);
    a.saturating_add(b).saturating_add(ALIGN_SLACK)
}

/// `C ← α·A·B + β·C` for an `m × k` view `A`, a `k × n` view `B` and an `m × n` view `C`.
///
/// Any strides are accepted (a transposed operand is just [`MatRef::t`]), the packing
/// space comes from `workspace` (at least [`gemm_workspace_len`]`(m, k, n)` elements; its
/// contents on entry do not matter and are clobbered), and nothing is allocated.
///
/// BLAS conventions: if `β = 0`, C is not read (it may hold NaN or garbage); if `α = 0`
/// or `k = 0`, A and B are not read and `C ← β·C`. Zero-sized dimensions are fine.
/// NaN and ±∞ in A, B, C, α or β are not errors: they propagate as IEEE arithmetic says
/// (within those two conventions: β = 0 wipes a NaN in C, α = 0 one in A or B).
/// Summation order is fixed per instruction set, so results are deterministic run to
/// run; between instruction sets they differ by rounding (FMA contraction).
///
/// # Errors
/// Checked before anything is written:
/// [`Error::ShapeMismatch`] if `a.cols() != b.rows()`, or `c` is not `a.rows() × b.cols()`;
/// [`Error::WorkspaceTooSmall`] with the length needed.
///
/// ```
/// use microprop::{gemm, gemm_workspace_len, MatMut, MatRef};
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1 2], [3 4]]
/// let b = [5.0, 6.0, 7.0, 8.0];
/// let mut c = [0.0f32; 4];
/// let mut ws = vec![0.0; gemm_workspace_len(2, 2, 2)];
/// gemm(
///     1.0,
///     MatRef::row_major(&a, 2, 2)?,
///     MatRef::row_major(&b, 2, 2)?.t(), // A·Bᵀ
///     0.0,
///     MatMut::row_major(&mut c, 2, 2)?,
///     &mut ws,
/// )?;
/// assert_eq!(c, [17.0, 23.0, 39.0, 53.0]);
/// # Ok::<(), microprop::Error>(())
/// ```
pub fn gemm(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    workspace: &mut [f32],
) -> Result<(), Error> {
    gemm_fused(Isa::active(), alpha, a, b, beta, c, workspace, Epi::None)
}

/// Workspace length (in `f32`s) that [`gemm_on`] needs to split an `m × k` by `k × n`
/// product into `parts` parts: [`gemm_workspace_len`] for each part (`parts = 0` counts
/// as 1). A `const fn`, like the one-part length. Saturates instead of overflowing.
pub const fn gemm_on_workspace_len(m: usize, k: usize, n: usize, parts: usize) -> usize {
    let parts = if parts == 0 { 1 } else { parts };
    gemm_workspace_len(m, k, n).saturating_mul(parts)
}

/// [`gemm`] split into parts that `exec` runs, perhaps on several cores: the same
/// result, bit for bit, whatever the executor and however many parts (see [`par`]).
///
/// A product of at least [`Executor::min_work`] multiply-adds ([`PAR_MIN_WORK`] unless
/// the executor says otherwise) is split into as many parts as
/// `exec` runs at once ([`Executor::parts`]) and the workspace has room for (each needs
/// [`gemm_workspace_len`]`(m, k, n)`: [`gemm_on_workspace_len`]); a smaller one runs as
/// one part on the calling thread. Otherwise the contract of [`gemm`].
///
/// # Errors
/// As for [`gemm`]: the workspace must hold at least one part's packing space.
///
/// [`par`]: crate::par
/// [`PAR_MIN_WORK`]: crate::par::PAR_MIN_WORK
/// [`Executor::min_work`]: crate::par::Executor::min_work
/// [`Executor::parts`]: crate::par::Executor::parts
pub fn gemm_on(
    exec: &dyn Executor,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    workspace: &mut [f32],
) -> Result<(), Error> {
    gemm_fused_on(
        Isa::active(),
        exec,
        alpha,
        a,
        b,
        beta,
        c,
        workspace,
        Epi::None,
    )
}

/// [`gemm`] on a given instruction set, followed by the epilogue `epi` while each tile
/// of C is still in registers: the networks' fused layers. Same contract as [`gemm`].
///
/// # Errors
/// Checked before anything is written: [`Error::ShapeMismatch`] as for [`gemm`], or if
/// the epilogue's operands do not fit an `m × n` C (see [`Epi`]);
/// [`Error::WorkspaceTooSmall`] with the length needed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_fused(
    isa: Isa,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    ws: &mut [f32],
    epi: Epi<'_>,
) -> Result<(), Error> {
    gemm_fused_on(isa, &Serial::ONE, alpha, a, b, beta, c, ws, epi)
}

/// How many parts a product of `m·k·n` multiply-adds is split into on `exec` with a
/// workspace of `ws_len` values, `one` of them a part.
/// At most one part a row (or column) of the longer side of C, `most`.
pub(crate) fn parts_for(
    exec: &dyn Executor,
    work: usize,
    one: usize,
    ws_len: usize,
    most: usize,
) -> usize {
    if work < exec.min_work() || one == 0 {
        return 1;
    }
    exec.parts().min(ws_len / one).min(most).max(1)
}

/// [`gemm_fused`] split into parts run by `exec` (see [`gemm_on`]).
///
/// # Errors
/// As for [`gemm_fused`]; the workspace must hold one part's packing space.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_fused_on(
    isa: Isa,
    exec: &dyn Executor,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
    ws: &mut [f32],
    epi: Epi<'_>,
) -> Result<(), Error> {
    check_shapes(&a, &b, &c)?;
    epi.check(c.rows(), c.cols())?;
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let one = gemm_workspace_len(m, k, n);
    check_workspace(
        one,
        ws.len(),
        "gemm_workspace_len (gemm_on_workspace_len for parts)",
    )?;
    let work = m.saturating_mul(k).saturating_mul(n);
    let parts = parts_for(exec, work, one, ws.len(), m.max(n));
    // SAFETY: the views guarantee every in-range element is accessible (C's distinct and
    // exclusively borrowed, so it cannot alias A, B, the workspace or the epilogue's
    // operands, all borrowed for the call, and nothing else touches them meanwhile);
    // shapes agree; the workspace holds `parts · one` values (`parts_for`), and `one` =
    // `gemm_workspace_len` covers every backend's packing (any `isa`: one this CPU or
    // build cannot run is dispatched to one it can); `epi.check` passed, so the bias
    // holds `n` values and `h` is `m × n` with contiguous rows.
    unsafe {
        gemm_raw(
            isa,
            exec,
            parts,
            alpha,
            a,
            b,
            beta,
            c.ptr_mut(),
            c.row_stride(),
            c.col_stride(),
            ws.as_mut_ptr(),
            one,
            epi.raw(),
        )
    };
    Ok(())
}

pub(crate) fn check_shapes(a: &MatRef<'_>, b: &MatRef<'_>, c: &MatMut<'_>) -> Result<(), Error> {
    if a.cols() != b.rows() {
        return Err(Error::ShapeMismatch {
            what: "gemm: b must have a.cols() rows",
            expected: (a.cols(), b.cols()),
            found: (b.rows(), b.cols()),
        });
    }
    if c.rows() != a.rows() || c.cols() != b.cols() {
        return Err(Error::ShapeMismatch {
            what: "gemm: c must be a.rows() x b.cols()",
            expected: (a.rows(), b.cols()),
            found: (c.rows(), c.cols()),
        });
    }
    Ok(())
}

/// The scalar reference: a triple loop in the order `i, j, p`, accumulating in f32.
///
/// Same contract as [`gemm`] (β = 0 does not read C), without workspace or blocking.
///
/// # Errors
/// [`Error::ShapeMismatch`] as for [`gemm`].
pub fn gemm_scalar(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
) -> Result<(), Error> {
    check_shapes(&a, &b, &c)?;
    if b.cols() == 0 {
        return Ok(()); // C is empty, whatever its row count (up to usize::MAX)
    }
    for i in 0..a.rows() {
        for j in 0..b.cols() {
            let mut sum = 0.0f32;
            if alpha != 0.0 {
                for p in 0..a.cols() {
                    // In range by the loop bounds and the shape check.
                    sum += a.get(i, p).unwrap_or(0.0) * b.get(p, j).unwrap_or(0.0);
                }
            }
            let prev = if beta == 0.0 {
                0.0
            } else {
                beta * c.get(i, j).unwrap_or(0.0)
            };
            // α = 0 or k = 0: the product is zero by definition (also for α = ±inf/NaN
            // with k = 0, where `α · 0` would be NaN), as in `gemm`.
            let prod = if alpha != 0.0 && a.cols() != 0 {
                alpha * sum
            } else {
                0.0
            };
            c.set(i, j, prod + prev);
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    //! [`gemm_fused`]'s checks: each bad operand is reported, and nothing is written.
    use super::*;
    use crate::Activation;
    use std::vec;

    /// Runs `gemm_fused` on a 3 × 4 by 4 × 5 product with `epi` and returns the result
    /// and C afterwards (C starts as all 7s).
    fn run(epi: Epi<'_>, ws_len: usize) -> (Result<(), Error>, vec::Vec<f32>) {
        let (a, b) = ([0.5f32; 12], [0.25f32; 20]);
        let mut c = vec![7.0f32; 15];
        let mut ws = vec![0.0f32; ws_len];
        let r = gemm_fused(
            Isa::active(),
            1.0,
            MatRef::row_major(&a, 3, 4).unwrap(),
            MatRef::row_major(&b, 4, 5).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 3, 5).unwrap(),
            &mut ws,
            epi,
        );
        (r, c)
    }

    #[test]
    fn fused_epilogues_are_checked_before_anything_is_written() {
        let ws = gemm_workspace_len(3, 4, 5);
        let act = Activation::Sigmoid;
        let h = [0.5f32; 30];
        let short = [0.0f32; 4];
        let bad: [(Epi<'_>, usize); 5] = [
            (
                Epi::BiasAct {
                    act,
                    bias: Some(&short),
                },
                ws,
            ),
            (
                Epi::MulDeriv {
                    act,
                    h: MatRef::row_major(&h, 3, 4).unwrap(),
                },
                ws,
            ),
            (
                Epi::MulDeriv {
                    act,
                    h: MatRef::row_major(&h, 5, 3).unwrap().t(),
                },
                ws,
            ),
            (
                Epi::MulDeriv {
                    act,
                    h: MatRef::new(&h, 3, 5, 10, 2).unwrap(),
                },
                ws,
            ),
            (Epi::None, ws - 1),
        ];
        for (i, (epi, len)) in bad.into_iter().enumerate() {
            let (r, c) = run(epi, len);
            let want_ws = i == 4;
            assert!(
                matches!(r, Err(Error::ShapeMismatch { .. })) != want_ws
                    && matches!(r, Err(Error::WorkspaceTooSmall { .. })) == want_ws,
                "case {i}: {r:?}"
            );
            assert!(c.iter().all(|&v| v == 7.0), "case {i} wrote C");
        }
        // The good ones: the bias of n values, h of m × n with any row stride.
        let bias = [0.0f32; 5];
        let good = [
            Epi::None,
            Epi::BiasAct { act, bias: None },
            Epi::BiasAct {
                act,
                bias: Some(&bias),
            },
            Epi::MulDeriv {
                act,
                h: MatRef::row_major(&h, 3, 5).unwrap(),
            },
            Epi::MulDeriv {
                act,
                h: MatRef::new(&h, 3, 5, 7, 1).unwrap(),
            },
        ];
        for (i, epi) in good.into_iter().enumerate() {
            let (r, c) = run(epi, ws);
            assert_eq!(r, Ok(()), "case {i}");
            assert!(c.iter().all(|&v| v != 7.0), "case {i} left C");
        }
    }
}
