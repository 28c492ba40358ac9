//! [`Loss::SoftmaxCrossEntropy`] on logits: one vector kernel, its scalar reference beside it.
//!
//! Per row `z` (length `d`) with target probabilities `p` (a label `l` is the one-hot
//! `p = e_l`), by log-sum-exp with the row maximum `m` subtracted:
//!
//! * `s = Σ_j e^{z_j − m}` (`≥ 1`: the maximum contributes `e^0 = 1`, so `ln s` is finite),
//! * `ℓ = −Σ_j p_j·ln softmax_j = ln s · Σ_j p_j − Σ_j p_j (z_j − m)`; for a label
//!   `ℓ = ln s − (z_l − m)`,
//! * `∂ℓ/∂z_k = softmax_k · Σ_j p_j − p_k` (`softmax_k − p_k` when the row sums to 1).
//!
//! The loss is the mean of `ℓ` over the `N` rows, the gradient that of the mean (each row's
//! divided by `N`). Only differences `z_j − m ≤ 0` are exponentiated, so logits of any
//! finite size are safe; `z_j − m < −87.33654` gives `e = +0` in the vector kernel.
//!
//! A row of `d ≤ LANES` logits on backends of two lanes or more (`≤ 2·LANES`,
//! `≤ 4·LANES` on backends of four lanes or more) is held in registers from its load to its gradient's store: the maximum, then
//! `e^{z_j − m}`, `s`, `Σ p` and `Σ p (z − m)` together, then the gradient `e·c`. Longer
//! rows take passes over the slices: the maximum; the exponentials (stored into the
//! gradient row) and the sums; then a scaling pass. The logarithms are taken a vector of
//! rows at a time (`ln_ge1` on `LANES` sums, worst 0.83 ULP over every `s ∈ [1, 2²⁴]`,
//! see `simd/math.rs`), and the losses summed in vector lanes. The gradient is formed as
//! `e·c − p/N` without a fused multiply-add, its sums in the same order on both paths
//! (so a row of one-hot probabilities gives the same bits as its label).

use super::Target;
use super::math::{keep_first, load_from, max_v, reduce_max, store_to};
use crate::simd::math::{exp_nonpos, ln_ge1};
use crate::simd::{Isa, MAX_LANES, Scalar, Simd, WithSimd, dispatch};

#[cfg(doc)]
use super::Loss;

/// The mean softmax cross-entropy of `z` (`N × d`, validated: labels `< d`, `p` and `grad`
/// of `z`'s length, `N ≥ 1`), its gradient into `grad` if given.
pub(super) fn softmax_ce(
    isa: Isa,
    z: &[f32],
    d: usize,
    target: Target<'_>,
    grad: Option<&mut [f32]>,
) -> f32 {
    let (p, l, probs): (&[f32], &[u32], bool) = match target {
        Target::Values(p) => (p, &[], true),
        Target::Classes(l) => (&[], l, false),
    };
    let has_grad = grad.is_some();
    let g = grad.unwrap_or(&mut []);
    // One lane (every Cortex-M, and the scalar instruction set anywhere): the four forms
    // share one copy of the kernel. Without `std` the instruction set is the compile-time
    // one (as in `dispatch`), so a build whose only instruction set is scalar links no
    // other form, and one with a vector unit no `Flags` copy.
    let one_lane = if cfg!(feature = "std") {
        isa == Isa::Scalar
    } else {
        Isa::compile_time_best() == Isa::Scalar
    };
    if one_lane {
        let form = Flags {
            grad: has_grad,
            probs,
        };
        return SoftmaxCe {
            z,
            d,
            p,
            l,
            g,
            form,
        }
        .with_simd(Scalar);
    }
    match (has_grad, probs) {
        (true, true) => dispatch(
            isa,
            SoftmaxCe {
                z,
                d,
                p,
                l,
                g,
                form: Fixed::<true, true>,
            },
        ),
        (false, true) => dispatch(
            isa,
            SoftmaxCe {
                z,
                d,
                p,
                l,
                g,
                form: Fixed::<false, true>,
            },
        ),
        (true, false) => dispatch(
            isa,
            SoftmaxCe {
                z,
                d,
                p,
                l,
                g,
                form: Fixed::<true, false>,
            },
        ),
        (false, false) => dispatch(
            isa,
            SoftmaxCe {
                z,
                d,
                p,
                l,
                g,
                form: Fixed::<false, false>,
            },
        ),
    }
}

/// Which form of the kernel runs: with the gradient or without, on probabilities or on
/// class labels.
trait Form: Copy {
    /// Whether the gradient is written.
    fn grad(self) -> bool;
    /// Whether the target is probabilities `p` (else class labels `l`).
    fn probs(self) -> bool;
}

/// A form fixed at compile time: each form its own copy of the kernel, the branches
/// folded away (the vector backends).
#[derive(Clone, Copy)]
struct Fixed<const GRAD: bool, const PROBS: bool>;

impl<const GRAD: bool, const PROBS: bool> Form for Fixed<GRAD, PROBS> {
    #[inline(always)]
    fn grad(self) -> bool {
        GRAD
    }
    #[inline(always)]
    fn probs(self) -> bool {
        PROBS
    }
}

/// The form chosen at run time: one copy of the kernel for all four, on the one-lane
/// backend, where a copy is about 1.3 KB of a Cortex-M firmware and the branches cost
/// little beside the exponentials. The arithmetic is [`Fixed`]'s, so are the bits.
#[derive(Clone, Copy)]
struct Flags {
    grad: bool,
    probs: bool,
}

impl Form for Flags {
    #[inline(always)]
    fn grad(self) -> bool {
        self.grad
    }
    #[inline(always)]
    fn probs(self) -> bool {
        self.probs
    }
}

/// The kernel's arguments: probabilities `p` if `form.probs()`, else labels `l`; the
/// gradient `g` if `form.grad()` (else empty).
struct SoftmaxCe<'a, F: Form> {
    z: &'a [f32],
    d: usize,
    p: &'a [f32],
    l: &'a [u32],
    g: &'a mut [f32],
    form: F,
}

impl<F: Form> WithSimd for SoftmaxCe<'_, F> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let (d, f) = (self.d, self.form);
        let rows = self.z.len().checked_div(d).unwrap_or(0);
        let inv_n = 1.0 / rows as f32;
        let mut acc = Losses::new(s);
        let mut r = 0;
        while r < rows {
            // Class labels and a row that fits one vector: a block of `LANES` rows at a
            // time, rows in lanes (where the sums' order is the halving one, see
            // [`label_block`]), when the block starts a vector of `Losses`.
            if !f.probs()
                && halving_sums(S::ISA)
                && d <= S::LANES
                && acc.n == 0
                && r + S::LANES <= rows
                && let Some((se, a)) =
                    label_block(s, f.grad(), self.z, self.l, &mut *self.g, r, d, inv_n)
            {
                acc.push_block(s, se, a, d);
                r += S::LANES;
                continue;
            }
            let at = r * d;
            let label = self.l.get(r).map_or(usize::MAX, |&l| l as usize);
            let (z, p, g) = (self.z, self.p, &mut *self.g);
            // (One lane: a row of one logit takes the general path, which gives the same
            // bits, and the scalar backend of every Cortex-M keeps one copy fewer.)
            let (se, a, sp) = if S::LANES > 1 && d <= S::LANES {
                narrow_row::<S, 1, F>(s, f, z, p, g, at, d, label, inv_n)
            } else if S::LANES >= 4 && d <= 2 * S::LANES {
                narrow_row::<S, 2, F>(s, f, z, p, g, at, d, label, inv_n)
            } else if S::LANES >= 4 && d <= 4 * S::LANES {
                narrow_row::<S, 4, F>(s, f, z, p, g, at, d, label, inv_n)
            } else {
                let span = at..at + d;
                let z = self.z.get(span.clone()).unwrap_or(&[]);
                let p = if f.probs() {
                    self.p.get(span.clone()).unwrap_or(&[])
                } else {
                    &[]
                };
                let g = if f.grad() {
                    self.g.get_mut(span).unwrap_or(&mut [])
                } else {
                    &mut []
                };
                wide_row(s, f, z, p, label, g, inv_n)
            };
            acc.push(s, se, a, sp, d);
            r += 1;
        }
        acc.finish(s, d) / rows as f32
    }
}

/// The rows' losses `ℓ = ln s · Σp − a` (`a = Σ p (z − m)`, or `z_l − m` for a label with
/// `Σp = 1`), a vector of rows at a time: the logarithms of `LANES` rows' sums in one
/// [`ln_ge1`] call, the losses summed in vector lanes.
struct Losses<S: Simd> {
    se: [f32; MAX_LANES],
    a: [f32; MAX_LANES],
    sp: [f32; MAX_LANES],
    n: usize,
    total: S::V,
}

impl<S: Simd> Losses<S> {
    #[inline(always)]
    fn new(s: S) -> Self {
        Losses {
            se: [1.0; MAX_LANES],
            a: [0.0; MAX_LANES],
            sp: [1.0; MAX_LANES],
            n: 0,
            total: s.splat(0.0),
        }
    }

    /// One row's `s`, `a` and `Σp`.
    #[inline(always)]
    fn push(&mut self, s: S, se: f32, a: f32, sp: f32, d: usize) {
        let i = self.n;
        if let (Some(e), Some(x), Some(p)) =
            (self.se.get_mut(i), self.a.get_mut(i), self.sp.get_mut(i))
        {
            (*e, *x, *p) = (se, a, sp);
        }
        self.n += 1;
        if self.n == S::LANES {
            self.flush(s, d);
        }
    }

    /// `LANES` rows' `s` and `a` at once, `Σp = 1` (class labels), when no row is
    /// pending: the arithmetic of [`flush`](Self::flush) on those vectors.
    #[inline(always)]
    fn push_block(&mut self, s: S, se: S::V, a: S::V, d: usize) {
        let ln = ln_ge1(s, se, d as f32 + 1.0);
        self.total = s.add(self.total, s.sub(s.mul(ln, s.splat(1.0)), a));
    }

    #[inline(always)]
    fn flush(&mut self, s: S, d: usize) {
        // s ≤ Σ e ≤ d (each e ≤ 1), so d + 1 bounds every sum with its rounding.
        let ln = ln_ge1(s, load_from(s, &self.se, 0), d as f32 + 1.0);
        let l = s.sub(
            s.mul(ln, load_from(s, &self.sp, 0)),
            load_from(s, &self.a, 0),
        );
        let l = if self.n < S::LANES {
            keep_first(s, l, self.n, s.splat(0.0))
        } else {
            l
        };
        self.total = s.add(self.total, l);
        self.n = 0;
    }

    /// The sum of every row's loss.
    #[inline(always)]
    fn finish(mut self, s: S, d: usize) -> f32 {
        if self.n > 0 {
            self.flush(s, d);
        }
        s.reduce_add(self.total)
    }
}

/// Whether `reduce_add` of `isa` sums by halving (lane `i` plus lane `i + LANES/2`, and so
/// on down to one lane) and so [`label_block`] can repeat its order across lanes. (NEON's
/// `vaddvq` adds neighbours first; the portable and scalar ones keep the row path.)
const fn halving_sums(isa: Isa) -> bool {
    matches!(isa, Isa::Avx2 | Isa::Avx512)
}

/// Rows `r0..r0 + LANES` of `d ≤ LANES` logits with class labels, a row in each lane: the
/// block is copied transposed to the stack (column `j` of the rows in one vector), the
/// maximum and `s` are taken down the columns with the halving trees of
/// [`reduce_max`] and `reduce_add` ([`halving_sums`]), so every lane gets the bits
/// [`narrow_row`] gives its row, and the gradient (if `grad`) is copied back. Returns the
/// rows' `s` and `a = z_l − m` as vectors for [`Losses::push_block`]; `None` (nothing
/// written) if the slices do not hold the block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn label_block<S: Simd>(
    s: S,
    grad: bool,
    z: &[f32],
    l: &[u32],
    g: &mut [f32],
    r0: usize,
    d: usize,
    inv_n: f32,
) -> Option<(S::V, S::V)> {
    const L: usize = MAX_LANES;
    let lanes = S::LANES;
    if d == 0 || d > lanes {
        return None;
    }
    let span = r0 * d..(r0 + lanes) * d;
    let zb = z.get(span.clone())?;
    let lb = l.get(r0..r0 + lanes)?;
    // Column j of the block at `zt[j·L..]`, lanes past the block's rows unused.
    let mut zt = [0.0f32; L * L];
    transpose_in(zb, d, &mut zt);
    let col = |j: usize| load_from(s, &zt, j * L);
    // The maximum: narrow_row's lanes past the row are −∞.
    let mut t = [s.splat(f32::NEG_INFINITY); L];
    for (j, tj) in t.iter_mut().enumerate().take(d) {
        *tj = col(j);
    }
    let mut n = lanes;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            t[i] = max_v(s, t[i], t[i + n]);
        }
    }
    let m = t[0];
    // e^{z − m} (0 past the row), then s by the halving tree of `reduce_add`.
    let zero = s.splat(0.0);
    let mut e = [zero; L];
    for (j, ej) in e.iter_mut().enumerate().take(d) {
        *ej = exp_nonpos(s, s.sub(col(j), m));
    }
    let mut sum = e;
    let mut n = lanes;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            sum[i] = s.add(sum[i], sum[i + n]);
        }
    }
    let se = sum[0];
    // a = z_l − m (labels are below d: checked by the caller of the loss); the logit
    // of each row's label, then one vector subtraction.
    let mut zl = [f32::NAN; L];
    for (r, (row, &lab)) in zb.chunks_exact(d).zip(lb).enumerate() {
        if let Some(v) = zl.get_mut(r) {
            *v = row.get(lab as usize).copied().unwrap_or(f32::NAN);
        }
    }
    let a = s.sub(load_from(s, &zl, 0), m);
    if grad {
        let gb = g.get_mut(span)?;
        let c = s.div(s.splat(inv_n), se);
        let inv = s.splat(inv_n);
        let mut labf = [0.0f32; L];
        for (f, &lab) in labf.iter_mut().zip(lb) {
            *f = lab as f32; // below d ≤ 16: exact
        }
        let labf = load_from(s, &labf, 0);
        let (one, half) = (s.splat(1.0), s.splat(0.5));
        let mut gt = [0.0f32; L * L];
        for (j, &ej) in e.iter().enumerate().take(d) {
            // 1 where the label is j, else 0 (narrow_row's one-hot row, down a column).
            let jf = s.splat(j as f32);
            let hot = s.lt_select(
                labf,
                s.sub(jf, half),
                zero,
                s.lt_select(labf, s.add(jf, half), one, zero),
            );
            let gj = s.sub(s.mul(ej, c), s.mul(hot, inv));
            store_to(s, &mut gt, j * L, gj);
        }
        transpose_out(&gt, d, gb);
    }
    Some((se, a))
}

/// `t[j·MAX_LANES + r] = rows[r·d + j]` for the rows of `rows` (at most `MAX_LANES`).
/// Not inlined, so it is compiled without the caller's target features: with AVX-512 the
/// compiler would turn the copy into scatters, several times slower than plain moves.
#[inline(never)]
fn transpose_in(rows: &[f32], d: usize, t: &mut [f32; MAX_LANES * MAX_LANES]) {
    for (r, row) in rows.chunks_exact(d).take(MAX_LANES).enumerate() {
        for (j, &v) in row.iter().enumerate().take(MAX_LANES) {
            t[j * MAX_LANES + r] = v; // j, r < MAX_LANES
        }
    }
}

/// The inverse copy: `rows[r·d + j] = t[j·MAX_LANES + r]` (not inlined, as
/// [`transpose_in`]).
#[inline(never)]
fn transpose_out(t: &[f32; MAX_LANES * MAX_LANES], d: usize, rows: &mut [f32]) {
    for (r, row) in rows.chunks_exact_mut(d).take(MAX_LANES).enumerate() {
        for (j, v) in row.iter_mut().enumerate().take(MAX_LANES) {
            *v = t[j * MAX_LANES + r]; // j, r < MAX_LANES
        }
    }
}

/// `1` at index `MAX_LANES − 1`, zeros around it: the `LANES` values from
/// `MAX_LANES − 1 − l` are the one-hot row of label `l < LANES`.
static ONE_HOT: [f32; 2 * MAX_LANES] = {
    let mut t = [0.0f32; 2 * MAX_LANES];
    t[MAX_LANES - 1] = 1.0;
    t
};

/// One row of `d ≤ K·LANES` logits at `z[at..]`, held in `K` vectors from its load to its
/// gradient's store: returns `s`, `a` and `Σp` for [`Losses`]; the gradient divided by `N`
/// into `g[at..at + d]` if `f.grad()`. Loads and stores may cover lanes past the row (the
/// next row's, which it then overwrites) but never past the slices. The sums run in the
/// order of [`wide_row`]'s, so the gradient has its bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn narrow_row<S: Simd, const K: usize, F: Form>(
    s: S,
    f: F,
    z: &[f32],
    p: &[f32],
    g: &mut [f32],
    at: usize,
    d: usize,
    label: usize,
    inv_n: f32,
) -> (f32, f32, f32) {
    // (No closures here: they would not inherit the caller's target features.)
    let zero = s.splat(0.0);
    // Past the row (lanes from `d − k·LANES` on in vector k, which may be all of them):
    // −∞, which the maximum skips and e^{−∞ − m} makes 0.
    let mut v = [zero; K];
    for (k, vk) in v.iter_mut().enumerate() {
        *vk = load_from(s, z, at + k * S::LANES);
        if (k + 1) * S::LANES > d {
            *vk = keep_first(
                s,
                *vk,
                d.saturating_sub(k * S::LANES),
                s.splat(f32::NEG_INFINITY),
            );
        }
    }
    let mut mv = v[0];
    for &vk in &v[1..] {
        mv = max_v(s, mv, vk);
    }
    let m = reduce_max(s, mv);
    let mm = s.splat(m);
    let (mut x, mut e) = ([zero; K], [zero; K]);
    for k in 0..K {
        x[k] = s.sub(v[k], mm);
        e[k] = exp_nonpos(s, x[k]);
    }
    let mut sev = zero;
    for &ek in &e {
        sev = s.add(sev, ek);
    }
    let se = s.reduce_add(sev);
    let inv = s.splat(inv_n);
    if f.probs() {
        let mut pv = [zero; K];
        let (mut sp, mut spx) = (zero, zero);
        for k in 0..K {
            pv[k] = load_from(s, p, at + k * S::LANES);
            let mut xk = x[k];
            if (k + 1) * S::LANES > d {
                // x is −∞ past the row: zero it so that 0·x adds nothing.
                let r = d.saturating_sub(k * S::LANES);
                pv[k] = keep_first(s, pv[k], r, zero);
                xk = keep_first(s, xk, r, zero);
            }
            sp = s.add(sp, pv[k]);
            spx = s.mul_add(pv[k], xk, spx);
        }
        let sp = s.reduce_add(sp);
        if f.grad() {
            let c = s.splat(sp * inv_n / se);
            for k in 0..K {
                if k * S::LANES < d {
                    let gk = s.sub(s.mul(e[k], c), s.mul(pv[k], inv));
                    store_to(s, g, at + k * S::LANES, gk);
                }
            }
        }
        (se, s.reduce_add(spx), sp)
    } else {
        if f.grad() {
            let c = s.splat(inv_n / se);
            if K == 1 {
                // e·c − onehot·(1/N): lane l gets e_l·c − 1/N, the others e·c − 0 = e·c.
                let hot = match (MAX_LANES - 1).checked_sub(label) {
                    Some(i) => load_from(s, &ONE_HOT, i),
                    None => zero,
                };
                store_to(s, g, at, s.sub(s.mul(e[0], c), s.mul(hot, inv)));
            } else {
                for (k, &ek) in e.iter().enumerate() {
                    if k * S::LANES < d {
                        store_to(s, g, at + k * S::LANES, s.mul(ek, c));
                    }
                }
                if label < d
                    && let Some(gl) = g.get_mut(at + label)
                {
                    *gl -= inv_n;
                }
            }
        }
        let zl = if label < d {
            z.get(at + label).copied().unwrap_or(f32::NAN)
        } else {
            f32::NAN
        };
        (se, zl - m, 1.0)
    }
}

/// The largest value of a non-empty `z` (a NaN may be skipped; it shows up in `e^{z − m}`).
#[inline(always)]
fn row_max<S: Simd>(s: S, z: &[f32]) -> f32 {
    let Some(&z0) = z.first() else { return 0.0 };
    let mut acc = s.splat(z0);
    let full = z.len() - z.len() % S::LANES;
    let mut i = 0;
    while i < full {
        acc = max_v(s, acc, load_from(s, z, i));
        i += S::LANES;
    }
    if i < z.len() {
        // The zero fill is replaced by the running maximum, which changes nothing.
        let v = keep_first(s, load_from(s, z, i), z.len() - i, acc);
        acc = max_v(s, acc, v);
    }
    reduce_max(s, acc)
}

/// One row of `d > LANES` logits (any `d ≥ 1` on a one-lane backend): returns `s`, `a` and `Σp` for [`Losses`]; its gradient
/// divided by `N` (`inv_n = 1/N`) into `g` if `f.grad()`.
#[inline(always)]
fn wide_row<S: Simd, F: Form>(
    s: S,
    f: F,
    z: &[f32],
    p: &[f32],
    l: usize,
    g: &mut [f32],
    inv_n: f32,
) -> (f32, f32, f32) {
    let m = row_max(s, z);
    let (mm, zero) = (s.splat(m), s.splat(0.0));
    let (mut se, mut sp, mut spx) = (zero, zero, zero);
    let mut i = 0;
    while i < z.len() {
        let mut x = s.sub(load_from(s, z, i), mm);
        let r = z.len() - i;
        if r < S::LANES {
            x = keep_first(s, x, r, zero);
        }
        let mut e = exp_nonpos(s, x);
        if r < S::LANES {
            e = keep_first(s, e, r, zero);
        }
        se = s.add(se, e);
        if f.grad() {
            store_to(s, g, i, e);
        }
        if f.probs() {
            let pv = load_from(s, p, i);
            sp = s.add(sp, pv);
            spx = s.mul_add(pv, x, spx);
        }
        i += S::LANES;
    }
    let se = s.reduce_add(se);
    if f.probs() {
        let sp = s.reduce_add(sp);
        if f.grad() {
            let c = s.splat(sp * inv_n / se);
            let inv = s.splat(inv_n);
            let mut i = 0;
            while i < g.len() {
                let v = s.sub(s.mul(load_from(s, g, i), c), s.mul(load_from(s, p, i), inv));
                store_to(s, g, i, v);
                i += S::LANES;
            }
        }
        (se, s.reduce_add(spx), sp)
    } else {
        if f.grad() {
            let c = s.splat(inv_n / se);
            let mut i = 0;
            while i < g.len() {
                let v = s.mul(load_from(s, g, i), c);
                store_to(s, g, i, v);
                i += S::LANES;
            }
            if let Some(gl) = g.get_mut(l) {
                *gl -= inv_n;
            }
        }
        (se, z.get(l).copied().unwrap_or(f32::NAN) - m, 1.0)
    }
}

/// The scalar reference of [`softmax_ce`]: the same formulas, one `f32` at a time in index
/// order, `libm::expf` and `libm::logf`.
pub(super) fn softmax_ce_scalar(z: &[f32], d: usize, target: Target<'_>, grad: &mut [f32]) -> f32 {
    let rows = z.len().checked_div(d).unwrap_or(0);
    let inv_n = 1.0 / rows as f32;
    let mut total = 0.0f32;
    for r in 0..rows {
        let span = r * d..r * d + d;
        let zr = z.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span.clone()).unwrap_or(&mut []);
        let mut m = zr.first().copied().unwrap_or(0.0);
        for &v in zr {
            if v > m {
                m = v;
            }
        }
        let mut se = 0.0f32;
        for (gj, &zj) in g.iter_mut().zip(zr) {
            let e = libm::expf(zj - m);
            *gj = e;
            se += e;
        }
        let ln_s = libm::logf(se);
        total += match target {
            Target::Values(p) => {
                let p = p.get(span).unwrap_or(&[]);
                let (mut sp, mut spx) = (0.0f32, 0.0f32);
                for (&pj, &zj) in p.iter().zip(zr) {
                    sp += pj;
                    spx += pj * (zj - m);
                }
                let c = sp * inv_n / se;
                for (gj, &pj) in g.iter_mut().zip(p) {
                    *gj = *gj * c - pj * inv_n;
                }
                ln_s * sp - spx
            }
            Target::Classes(labels) => {
                let l = labels.get(r).map_or(usize::MAX, |&l| l as usize);
                let c = inv_n / se;
                for gj in g.iter_mut() {
                    *gj *= c;
                }
                if let Some(gl) = g.get_mut(l) {
                    *gl -= inv_n;
                }
                ln_s - (zr.get(l).copied().unwrap_or(f32::NAN) - m)
            }
        };
    }
    total / rows as f32
}

#[cfg(all(test, feature = "std"))]
mod tests {
    //! The block path ([`label_block`]) against the row path ([`narrow_row`]) it stands
    //! in for: the same bits, loss and gradient.
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Runs the kernel (blocks where it takes them) and the row path alone on `z`, `l`.
    struct Both<'a> {
        z: &'a [f32],
        d: usize,
        l: &'a [u32],
    }

    impl WithSimd for Both<'_> {
        type Output = (f32, Vec<f32>, f32, Vec<f32>);
        fn with_simd<S: Simd>(self, s: S) -> Self::Output {
            let (z, d, l) = (self.z, self.d, self.l);
            let rows = z.len() / d;
            if d > S::LANES {
                return (0.0, vec![], 0.0, vec![]); // the row path is another one
            }
            let mut g = vec![f32::NAN; z.len()];
            let got = SoftmaxCe {
                z,
                d,
                p: &[],
                l,
                g: &mut g,
                form: Fixed::<true, false>,
            }
            .with_simd(s);
            let inv_n = 1.0 / rows as f32;
            let mut gr = vec![f32::NAN; z.len()];
            let mut acc = Losses::new(s);
            for (r, &lab) in l.iter().enumerate().take(rows) {
                let (se, a, sp) = narrow_row::<S, 1, _>(
                    s,
                    Fixed::<true, false>,
                    z,
                    &[],
                    &mut gr,
                    r * d,
                    d,
                    lab as usize,
                    inv_n,
                );
                acc.push(s, se, a, sp, d);
            }
            let want = acc.finish(s, d) / rows as f32;
            (got, g, want, gr)
        }
    }

    #[test]
    fn label_blocks_match_the_row_path_bit_for_bit() {
        let mut seed = 5u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        // Under Miri fewer widths, row counts and scales (the blocks of 16 rows, one partial
        // block and the widths around a vector still covered).
        let (ds, rows_list, scales): (&[usize], &[usize], &[f32]) = if cfg!(miri) {
            (&[1, 3, 10, 16], &[1, 15, 16, 17, 33], &[1.0, 200.0])
        } else {
            (
                &[1, 2, 3, 7, 8, 10, 15, 16],
                &[1, 8, 15, 16, 17, 32, 33, 40, 64],
                &[1.0, 30.0, 200.0],
            )
        };
        for isa in Isa::ALL.iter().copied().filter(|i| i.is_supported()) {
            for &d in ds {
                for &rows in rows_list {
                    for &scale in scales {
                        let z: Vec<f32> = (0..rows * d)
                            .map(|_| (next() * 2.0 - 1.0) * scale)
                            .collect();
                        let l: Vec<u32> = (0..rows)
                            .map(|_| (next() * d as f32) as u32 % d as u32)
                            .collect();
                        let (got, g, want, gr) = dispatch(isa, Both { z: &z, d, l: &l });
                        assert_eq!(got.to_bits(), want.to_bits(), "{isa:?} d={d} rows={rows}");
                        for (i, (a, b)) in g.iter().zip(&gr).enumerate() {
                            assert_eq!(
                                a.to_bits(),
                                b.to_bits(),
                                "{isa:?} d={d} rows={rows} at {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The run-time form ([`Flags`], the one-lane backend's) gives [`Fixed`]'s bits in all
    /// four forms, on every backend.
    #[test]
    fn run_time_flags_match_the_fixed_forms_bit_for_bit() {
        struct Forms<'a> {
            z: &'a [f32],
            d: usize,
            p: &'a [f32],
            l: &'a [u32],
        }
        /// The loss's bits and the gradient's (empty without one) of `form`.
        fn bits<S: Simd, F: Form>(s: S, k: &Forms<'_>, form: F) -> (u32, Vec<u32>) {
            let mut g = vec![f32::NAN; if form.grad() { k.z.len() } else { 0 }];
            let (p, l): (&[f32], &[u32]) = if form.probs() { (k.p, &[]) } else { (&[], k.l) };
            let (z, d) = (k.z, k.d);
            let v = SoftmaxCe {
                z,
                d,
                p,
                l,
                g: &mut g,
                form,
            }
            .with_simd(s);
            (v.to_bits(), g.iter().map(|x| x.to_bits()).collect())
        }
        impl WithSimd for Forms<'_> {
            type Output = ();
            fn with_simd<S: Simd>(self, s: S) {
                let k = &self;
                let flags = |grad, probs| Flags { grad, probs };
                let cases = [
                    (
                        bits(s, k, Fixed::<true, true>),
                        bits(s, k, flags(true, true)),
                    ),
                    (
                        bits(s, k, Fixed::<false, true>),
                        bits(s, k, flags(false, true)),
                    ),
                    (
                        bits(s, k, Fixed::<true, false>),
                        bits(s, k, flags(true, false)),
                    ),
                    (
                        bits(s, k, Fixed::<false, false>),
                        bits(s, k, flags(false, false)),
                    ),
                ];
                for (i, (fixed, run_time)) in cases.iter().enumerate() {
                    assert_eq!(fixed, run_time, "{:?} form {i} d={}", S::ISA, k.d);
                }
            }
        }
        let mut seed = 9u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        let ds: &[usize] = if cfg!(miri) {
            &[1, 3, 17]
        } else {
            &[1, 2, 3, 7, 8, 9, 16, 17, 33]
        };
        for isa in Isa::ALL.iter().copied().filter(|i| i.is_supported()) {
            for &d in ds {
                let rows = 19;
                let z: Vec<f32> = (0..rows * d).map(|_| (next() * 2.0 - 1.0) * 30.0).collect();
                let p: Vec<f32> = (0..rows * d).map(|_| next()).collect();
                let l: Vec<u32> = (0..rows)
                    .map(|_| (next() * d as f32) as u32 % d as u32)
                    .collect();
                dispatch(
                    isa,
                    Forms {
                        z: &z,
                        d,
                        p: &p,
                        l: &l,
                    },
                );
            }
        }
    }
}
