//! The one-lane (`LANES = 1`) forms of the microkernels and of the full-tile epilogue:
//! the scalar backend, the only one a Cortex-M or RISC-V build carries.
//!
//! The generic kernels index their tile of accumulators in loops that LLVM unrolls at
//! opt-level 3 but not at `"s"`, where the tile then lives on the stack (about nine
//! instructions a multiply-add on a Cortex-M4F). Here every index into a tile is a
//! constant ([`seq4!`] expands its body once for each of 0..4), so the accumulators are
//! registers at any opt-level. Each element of C gets the same operations as in the
//! generic kernels (a sum from zero over `p` in order, one `mul_add` a step, then
//! `store_tile`'s finish), so the results are the generic kernels' bit for bit.

use super::epilogue::Epilogue;
use crate::activation::{ActivationOp, ActivationVisitor};
use crate::simd::{Simd, flush_tiny, keep_rolled, opaque};

/// Expands `$body` four times with the constant `$i` = 0, 1, 2, 3.
macro_rules! seq4 {
    ($i:ident, $body:block) => {{
        {
            const $i: usize = 0;
            $body
        }
        {
            const $i: usize = 1;
            $body
        }
        {
            const $i: usize = 2;
            $body
        }
        {
            const $i: usize = 3;
            $body
        }
    }};
}

/// A 4 × 4 tile of zeros, written out (an array repeat of a generic length can be a loop,
/// which keeps the array in memory); tiles narrower than 4 × 4 use its top left corner.
#[inline(always)]
fn zero_tile<S: Simd>(s: S) -> [[S::V; 4]; 4] {
    let z = s.splat(0.0);
    [[z, z, z, z], [z, z, z, z], [z, z, z, z], [z, z, z, z]]
}

/// A copy of `acc` made element by element with constant indices, for a call that takes
/// the tile by reference: `acc` itself must not escape, or LLVM keeps it in memory during
/// the K loop.
#[inline(always)]
fn detach<S: Simd>(s: S, acc: &[[S::V; 4]; 4]) -> [[S::V; 4]; 4] {
    let mut out = zero_tile(s);
    seq4!(I, {
        seq4!(V, {
            out[I][V] = acc[I][V];
        });
    });
    out
}

/// [`microkernel`](super::kernel::microkernel) for one lane (`MR, NV ≤ 4`), without
/// prefetching.
///
/// # Safety
/// As for [`microkernel`](super::kernel::microkernel).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn microkernel_1<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    ap: *const f32,
    bp: *const f32,
    b_step: usize,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    assert!(S::LANES == 1 && MR <= 4 && NV <= 4);
    let mut acc = zero_tile(s);
    // SAFETY: the packed strips hold `kc` steps of MR (resp. NR = NV) values (caller).
    unsafe {
        let (mut a, mut b) = (ap, bp);
        for _ in 0..kc {
            keep_rolled();
            let z = s.splat(0.0);
            let mut bv = [z, z, z, z];
            seq4!(V, {
                if V < NV {
                    bv[V] = s.load(b.add(V));
                }
            });
            seq4!(I, {
                if I < MR {
                    let av = s.splat(*a.add(I));
                    seq4!(V, {
                        if V < NV {
                            acc[I][V] = s.mul_add(av, bv[V], acc[I][V]);
                        }
                    });
                }
            });
            a = a.add(MR);
            // Wrapping: B read in place ends past its allocation (see `microkernel`).
            b = b.wrapping_add(b_step);
        }
        if rows == MR && cols == NV && cs == 1 {
            return store_full_1::<S, MR, NV, true>(s, &acc, alpha, beta, c, rs, epi, row0, col0);
        }
        store_part_1(
            s,
            &detach(s, &acc),
            alpha,
            beta,
            c,
            rs,
            cs,
            rows,
            cols,
            epi,
            row0,
            col0,
        );
    }
}

/// [`skinny_tile`](super::kernel::skinny_tile) for one lane (`MR, NV ≤ 4`; the tile's
/// `cols` = `NV`, so no column is padding) on the first `rows` (1 ≤ `rows` ≤ `MR`) of its
/// `MR` rows: the rows past `rows` (a last, partial tile) compute row 0 again and are not
/// stored, so one copy of the loop serves full and partial tiles (the code size of a
/// Cortex-M build); each stored element gets the same operations either way.
///
/// # Safety
/// As for [`skinny_tile`](super::kernel::skinny_tile), with `cols == NV` and rows
/// `0..rows` of A and C.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn skinny_tile_1<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    k: usize,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    brs: usize,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    assert!(S::LANES == 1 && MR <= 4 && NV <= 4);
    debug_assert!(1 <= rows && rows <= MR);
    let mut acc = zero_tile(s);
    // Offsets of the tile's rows in A: row 0's for the rows past `rows`.
    let mut off = [0; 4];
    seq4!(I, {
        if I < MR && I < rows {
            off[I] = I * ars;
        }
    });
    // SAFETY: every read is at p < k, a row i < rows and a column j < NV (caller).
    unsafe {
        let (mut a, mut b) = (a, b);
        for _ in 0..k {
            keep_rolled();
            let z = s.splat(0.0);
            let mut bv = [z, z, z, z];
            seq4!(V, {
                if V < NV {
                    bv[V] = s.load(b.add(V));
                }
            });
            seq4!(I, {
                if I < MR {
                    let av = s.splat(*a.wrapping_add(off[I]));
                    seq4!(V, {
                        if V < NV {
                            acc[I][V] = s.mul_add(av, bv[V], acc[I][V]);
                        }
                    });
                }
            });
            // Wrapping: after the last step both point past their operand.
            a = a.wrapping_add(acs);
            b = b.wrapping_add(brs);
        }
        // The inlined store only for `α = 1, β = 0` (forward and delta products); the
        // rest (the fused SGD update's α = −lr, β = 1) takes the shared one: less code for
        // each tile width, and the same operations.
        if cs == 1 && rows == MR && alpha == 1.0 && beta == 0.0 {
            return store_full_1::<S, MR, NV, false>(s, &acc, alpha, beta, c, rs, epi, row0, col0);
        }
        store_part_1(
            s,
            &detach(s, &acc),
            alpha,
            beta,
            c,
            rs,
            cs,
            rows,
            NV,
            epi,
            row0,
            col0,
        );
    }
}

/// The full-tile epilogue for one lane: `C ← α·acc + β·C` plus the bias with constant
/// indices, stored, then the activation (or `· act'(h)` and the flush) over the tile in
/// place with one dispatch on the activation for the whole tile. The operations of
/// `store_tile`'s `finish`, in its order, so the results are bit-identical to it.
///
/// With `AB` false the caller has checked `alpha == 1` and `beta == 0`, and the code for
/// other values is left out.
///
/// # Safety
/// As for [`store_tile`](super::kernel::store_tile) with `rows == MR`, `cols == NV`, `cs == 1`; `MR, NV ≤ 4`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_full_1<S: Simd, const MR: usize, const NV: usize, const AB: bool>(
    s: S,
    acc: &[[S::V; 4]; 4],
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    assert!(S::LANES == 1 && MR <= 4 && NV <= 4);
    debug_assert!(AB || (alpha == 1.0 && beta == 0.0));
    let mut val = *acc;
    if AB && alpha != 1.0 {
        // (1·x is exact: skipping the multiply changes no bit.)
        let va = s.splat(alpha);
        seq4!(I, {
            if I < MR {
                seq4!(V, {
                    if V < NV {
                        val[I][V] = s.mul(va, acc[I][V]);
                    }
                });
            }
        });
    }
    // SAFETY: the tile's MR × NV elements of C (contiguous rows), the bias's `col0..+NV`
    // and `h`'s rows `row0..+MR`, columns `col0..+NV`, are inside their operands (caller).
    unsafe {
        if AB && beta != 0.0 {
            let vb = s.splat(beta);
            seq4!(I, {
                if I < MR {
                    seq4!(V, {
                        if V < NV {
                            let old = s.load(c.add(I * rs + V));
                            val[I][V] = s.mul_add(vb, old, val[I][V]);
                        }
                    });
                }
            });
        }
        if let Some(bias) = epi.bias_ptr_opt(col0) {
            seq4!(V, {
                if V < NV {
                    let b = s.load(bias.add(V));
                    seq4!(I, {
                        if I < MR {
                            val[I][V] = s.add(val[I][V], b);
                        }
                    });
                }
            });
        }
        seq4!(I, {
            if I < MR {
                seq4!(V, {
                    if V < NV {
                        s.store(c.add(I * rs + V), val[I][V]);
                    }
                });
            }
        });
        after_store_1(s, epi, c, rs, 1, MR, NV, row0, col0);
    }
}

/// The epilogue's second half over a stored tile of `rows × cols` values of
/// `α·AB + β·C (+ bias)` at `c` (element `(i, j)` at `c + i·rs + j·cs`): the activation,
/// or `· act'(h)` and the flush, in place, with one dispatch on the activation. Not
/// inlined: one copy of each activation's loop for every tile shape.
///
/// # Safety
/// The tile's elements of C readable and writable; for [`Epilogue::MulDeriv`], `h`'s rows
/// `row0..row0 + rows`, columns `col0..col0 + cols` readable (contiguous rows).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn after_store_1<S: Simd>(
    s: S,
    epi: Epilogue,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    row0: usize,
    col0: usize,
) {
    // At most 4 each at every call site, which LLVM can prove (and would then write each
    // activation's loop out sixteen times).
    let (rows, cols) = (opaque(rows), opaque(cols));
    match epi {
        Epilogue::None => {}
        Epilogue::BiasAct { act, .. } => act.dispatch(ActTile::<S> {
            s,
            c,
            rs,
            cs,
            rows,
            cols,
        }),
        Epilogue::MulDeriv { act, h_rs, .. } => act.dispatch(DerivTile::<S> {
            s,
            c,
            rs,
            cs,
            h: epi.h_ptr_opt(row0, col0).unwrap_or(core::ptr::null()),
            h_rs,
            rows,
            cols,
        }),
    }
}

/// The epilogue of any part of a tile, `rows × cols` of the 4 × 4 accumulators `acc`
/// into C at any strides: [`store_full_1`]'s operations with runtime bounds (edge tiles
/// and strided C; the full tiles of a row-major C take `store_full_1`). Not inlined: one
/// copy for every tile shape.
///
/// # Safety
/// As for [`store_tile`](super::kernel::store_tile), with `rows, cols ≤ 4`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn store_part_1<S: Simd>(
    s: S,
    acc: &[[S::V; 4]; 4],
    alpha: f32,
    beta: f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    epi: Epilogue,
    row0: usize,
    col0: usize,
) {
    let bias = epi.bias_ptr_opt(col0);
    // (As in `after_store_1`: LLVM would write the loops out for every `rows, cols ≤ 4`.)
    let (rows, cols) = (opaque(rows), opaque(cols));
    // SAFETY: the `rows × cols` elements of C, the bias's `col0..+cols` and `h`'s part of
    // the tile are inside their operands (caller).
    unsafe {
        // Indexed through a pointer, not by iterating the 4 × 4 array: LLVM writes a loop
        // over an array of 4 out in full.
        let acc = acc.as_ptr().cast::<S::V>();
        for i in 0..rows {
            for j in 0..cols {
                keep_rolled();
                // (`i, j < 4`: inside the array, row-major.)
                let x = *acc.add(i * 4 + j);
                let p = c.add(i * rs + j * cs);
                let mut val = s.mul(s.splat(alpha), x);
                if beta != 0.0 {
                    val = s.mul_add(s.splat(beta), s.load(p), val);
                }
                if let Some(b) = bias {
                    val = s.add(val, s.load(b.add(j)));
                }
                s.store(p, val);
            }
        }
        after_store_1(s, epi, c, rs, cs, rows, cols, row0, col0);
    }
}

/// `C ← act(C)` over a tile of `rows × cols` (element `(i, j)` at `c + i·rs + j·cs`),
/// one value at a time.
struct ActTile<S: Simd> {
    s: S,
    c: *mut f32,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
}

impl<S: Simd> ActivationVisitor for ActTile<S> {
    type Output = ();
    #[inline(always)]
    fn call<A: ActivationOp>(self) {
        let s = self.s;
        let mut row = self.c;
        for _ in 0..self.rows {
            for j in 0..self.cols {
                keep_rolled();
                // SAFETY: inside the tile of C that `store_full_1`'s caller vouches for.
                unsafe {
                    let p = row.add(j * self.cs);
                    s.store(p, A::forward_v(s, s.load(p)));
                }
            }
            row = row.wrapping_add(self.rs);
        }
    }
}

/// `C ← flush(C · act'(h))` over a tile of `rows × cols` (see [`ActTile`]).
struct DerivTile<S: Simd> {
    s: S,
    c: *mut f32,
    rs: usize,
    cs: usize,
    h: *const f32,
    h_rs: usize,
    rows: usize,
    cols: usize,
}

impl<S: Simd> ActivationVisitor for DerivTile<S> {
    type Output = ();
    #[inline(always)]
    fn call<A: ActivationOp>(self) {
        let s = self.s;
        let (mut row, mut hrow) = (self.c, self.h);
        for _ in 0..self.rows {
            for j in 0..self.cols {
                keep_rolled();
                // SAFETY: inside the tile of C and of `h` that `store_full_1`'s caller
                // vouches for.
                unsafe {
                    let p = row.add(j * self.cs);
                    let h = s.load(hrow.add(j));
                    s.store(p, flush_tiny(s, A::deriv_mul_v(s, s.load(p), h)));
                }
            }
            row = row.wrapping_add(self.rs);
            hrow = hrow.wrapping_add(self.h_rs);
        }
    }
}
/// `Σ_t a[t·sa]·b[t·sb]` for `t = 0..len`, from zero in order, each product added as the
/// scalar GEMM tile adds it (`a·b + acc`, two roundings): the tiny step's products
/// (`nn::tiny`), which must give the GEMM's bits.
///
/// # Safety
/// `a` readable at `t·sa` and `b` at `t·sb` for every `t < len`.
#[inline(always)]
pub(crate) unsafe fn strided_dot(
    mut a: *const f32,
    sa: usize,
    mut b: *const f32,
    sb: usize,
    len: usize,
) -> f32 {
    let mut acc = 0.0f32;
    for _ in 0..len {
        // (Rolled at opt-level 3 too, as the GEMM tiles' loops: see `keep_rolled`.)
        keep_rolled();
        // SAFETY: the caller's: `a` and `b` point at element `t < len` here.
        unsafe {
            acc += *a * *b;
        }
        a = a.wrapping_add(sa);
        b = b.wrapping_add(sb);
    }
    acc
}

/// `Σ_t a[t·sa]` for `t = 0..len`, from zero in order (`colsum`'s order): the tiny step's bias gradient (`nn::tiny`).
///
/// # Safety
/// `a` readable at `t·sa` for every `t < len`.
#[inline(always)]
pub(crate) unsafe fn strided_sum(mut a: *const f32, sa: usize, len: usize) -> f32 {
    let mut acc = 0.0f32;
    for _ in 0..len {
        keep_rolled();
        // SAFETY: the caller's: `a` points at element `t < len` here.
        unsafe {
            acc += *a;
        }
        a = a.wrapping_add(sa);
    }
    acc
}
