//! The window kernels' loops, written once over the crate's `Simd` trait and compiled per
//! instruction set by `dispatch`: im2col and col2im, max and average pooling forward
//! and backward. The safe wrappers in `col.rs` and `pool.rs` validate the geometry and
//! every length first; these bodies then run over raw pointers with no further checks.
//! Each computes the same operations in the same order as the nested-loop references of
//! the unit tests, which hold every instruction set to them bit for bit.
//!
//! Every loop runs along the channels of one pixel (contiguous, channels-last) a vector
//! at a time, the last vector partial (masked on AVX-512).

use super::{Geom, inside};
use crate::Activation;
use crate::activation::{ActivationOp, ActivationVisitor, IdentityOp};
use crate::simd::{Simd, WithSimd, flush_tiny};

/// `dst[i] = src[i]` for `i < len` (disjoint).
///
/// # Safety
/// `src..src + len` readable, `dst..dst + len` writable.
#[inline(always)]
unsafe fn copy<S: Simd>(s: S, src: *const f32, dst: *mut f32, len: usize) {
    let mut i = 0;
    // SAFETY: every access is below `len` (the caller's ranges).
    unsafe {
        while i + S::LANES <= len {
            s.store(dst.add(i), s.load(src.add(i)));
            i += S::LANES;
        }
        if i < len {
            let v = s.load_partial(src.add(i), len - i);
            s.store_partial(dst.add(i), v, len - i);
        }
    }
}

/// `dst[i] = 0` for `i < len`.
///
/// # Safety
/// `dst..dst + len` writable.
#[inline(always)]
unsafe fn zero<S: Simd>(s: S, dst: *mut f32, len: usize) {
    let z = s.splat(0.0);
    let mut i = 0;
    // SAFETY: every access is below `len`.
    unsafe {
        while i + S::LANES <= len {
            s.store(dst.add(i), z);
            i += S::LANES;
        }
        if i < len {
            s.store_partial(dst.add(i), z, len - i);
        }
    }
}

/// `dst[i] += src[i]` for `i < len` (disjoint).
///
/// # Safety
/// `src..src + len` readable, `dst..dst + len` readable and writable.
#[inline(always)]
unsafe fn add_to<S: Simd>(s: S, src: *const f32, dst: *mut f32, len: usize) {
    let mut i = 0;
    // SAFETY: every access is below `len`.
    unsafe {
        while i + S::LANES <= len {
            let v = s.add(s.load(dst.add(i)), s.load(src.add(i)));
            s.store(dst.add(i), v);
            i += S::LANES;
        }
        if i < len {
            let r = len - i;
            let v = s.add(s.load_partial(dst.add(i), r), s.load_partial(src.add(i), r));
            s.store_partial(dst.add(i), v, r);
        }
    }
}

/// `r ≤ LANES` values at `p`, a whole vector or a partial one.
///
/// # Safety
/// `p..p + r` readable.
#[inline(always)]
unsafe fn ld<S: Simd>(s: S, p: *const f32, r: usize) -> S::V {
    // SAFETY: the caller's range.
    unsafe {
        if r == S::LANES {
            s.load(p)
        } else {
            s.load_partial(p, r)
        }
    }
}

/// Stores the first `r ≤ LANES` lanes of `v` at `p`.
///
/// # Safety
/// `p..p + r` writable.
#[inline(always)]
unsafe fn st<S: Simd>(s: S, p: *mut f32, v: S::V, r: usize) {
    // SAFETY: the caller's range.
    unsafe {
        if r == S::LANES {
            s.store(p, v)
        } else {
            s.store_partial(p, v, r)
        }
    }
}

/// Zero padding: `n` images of `h × w × c` (`x`) copied into `out` with `ph` rows and
/// `pw` columns of zeros on every side (`n × (h + 2ph) × (w + 2pw) × c`, every value
/// written). Built only by `pad` in `col.rs`, after it checked both lengths.
pub(super) struct Pad {
    pub n: usize,
    pub hwc: (usize, usize, usize),
    pub pad: (usize, usize),
    pub x: *const f32,
    pub out: *mut f32,
}

impl WithSimd for Pad {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Pad {
            n,
            hwc: (h, w, c),
            pad: (ph, pw),
            x,
            out,
        } = self;
        let row = w * c;
        let prow = (w + 2 * pw) * c;
        let (top, side) = (ph * prow, pw * c);
        // SAFETY: `x` holds `n·h·w·c` values and `out` `n·(h + 2ph)·(w + 2pw)·c` (checked
        // by `pad`); each image writes its `top` rows, then `h` rows of `side + row +
        // side`, then `top` again, in order.
        unsafe {
            let (mut src, mut dst) = (x, out);
            for _ in 0..n {
                zero(s, dst, top);
                dst = dst.add(top);
                for y in 0..h {
                    if y == 0 {
                        zero(s, dst, side);
                        dst = dst.add(side);
                    }
                    copy(s, src, dst, row);
                    // This row's right side and the next row's left side (or nothing).
                    let gap = if y + 1 < h { 2 * side } else { side };
                    zero(s, dst.add(row), gap);
                    src = src.add(row);
                    dst = dst.add(row + gap);
                }
                zero(s, dst, top);
                dst = dst.add(top);
            }
        }
    }
}

/// im2col or col2im over a checked geometry: `x` holds `n` images (`n·h·w·c`), `col` the
/// column matrix of channels `c0 .. c0 + cg` (`n·oh·ow × kh·kw·cg`). Built only by the
/// safe wrappers, after they checked both lengths.
pub(super) struct Cols {
    pub g: Geom,
    pub n: usize,
    pub c0: usize,
    pub cg: usize,
    /// The images: read by im2col, added to by col2im.
    pub x: *mut f32,
    /// The column matrix: written by im2col, read by col2im.
    pub col: *mut f32,
    /// col2im (`x += fold(col)`) rather than im2col (`col = unfold(x)`).
    pub fold: bool,
}

impl WithSimd for Cols {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Cols {
            g,
            n,
            c0,
            cg,
            x,
            col,
            fold,
        } = self;
        let (oh, ow) = (g.oh(), g.ow());
        let seg = g.kw * cg;
        let row_len = g.kh * seg;
        let img_len = g.h * g.w * g.c;
        // The taps of a kernel row are adjacent in `x` when the group is every channel and
        // there is no horizontal dilation: one run.
        let contiguous = cg == g.c && g.dw == 1;
        let mut o = 0;
        // SAFETY: the wrappers checked the geometry and that `x` holds n·h·w·c values and
        // `col` n·oh·ow rows of kh·kw·cg; `inside` keeps every tap read inside the image,
        // and the padding before, inside and after the runs covers the rest of each row.
        unsafe {
            for img in 0..n {
                for oy in 0..oh {
                    let (ky_lo, ky_hi) = inside(oy * g.sh, g.dh, g.kh, g.ph, g.h);
                    for ox in 0..ow {
                        let (kx_lo, kx_hi) = inside(ox * g.sw, g.dw, g.kw, g.pw, g.w);
                        let row = col.add(o);
                        if !fold {
                            zero(s, row, ky_lo * seg);
                            zero(
                                s,
                                row.add(ky_hi.max(ky_lo) * seg),
                                (g.kh - ky_hi.max(ky_lo)) * seg,
                            );
                        }
                        for ky in ky_lo..ky_hi {
                            let sg = row.add(ky * seg);
                            if !fold {
                                zero(s, sg, kx_lo * cg);
                                let after = kx_hi.max(kx_lo);
                                zero(s, sg.add(after * cg), (g.kw - after) * cg);
                            }
                            if kx_lo >= kx_hi {
                                continue;
                            }
                            let iy = oy * g.sh + ky * g.dh - g.ph;
                            let ix = ox * g.sw + kx_lo * g.dw - g.pw;
                            let px = x.add(img * img_len + (iy * g.w + ix) * g.c + c0);
                            let pc = sg.add(kx_lo * cg);
                            let taps = kx_hi - kx_lo;
                            if contiguous {
                                if fold {
                                    add_to(s, pc, px, taps * cg);
                                } else {
                                    copy(s, px, pc, taps * cg);
                                }
                            } else {
                                for k in 0..taps {
                                    let (a, b) = (px.add(k * g.dw * g.c), pc.add(k * cg));
                                    if fold {
                                        add_to(s, b, a, cg);
                                    } else {
                                        copy(s, a, b, cg);
                                    }
                                }
                            }
                        }
                        o += row_len;
                    }
                }
            }
        }
    }
}

/// `1.0` where `v` is NaN, else `0.0`, from ordered compares only: a NaN is neither
/// below `+∞` nor above `f32::MAX` in magnitude (an infinity is above it).
#[inline(always)]
fn nan_flag<S: Simd>(s: S, v: S::V) -> S::V {
    let a = s.abs(v);
    let (zero, one) = (s.splat(0.0), s.splat(1.0));
    s.lt_select(
        a,
        s.splat(f32::INFINITY),
        zero,
        s.lt_select(s.splat(f32::MAX), a, zero, one),
    )
}

/// Pooling over a checked geometry without padding or dilation: `x` holds `n` images,
/// `out` (and `arg`, when not null) their `n·oh·ow·c` outputs. Built only by the safe
/// wrappers in `pool.rs`, after they checked the lengths.
pub(super) struct Pooling {
    pub g: Geom,
    pub n: usize,
    pub x: *const f32,
    pub out: *mut f32,
    /// The argmax of max pooling, or null.
    pub arg: *mut f32,
    /// Max pooling (else average pooling).
    pub max: bool,
}

impl WithSimd for Pooling {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let (oh, ow, c) = (self.g.oh(), self.g.ow(), self.g.c);
        let img_len = self.g.h * self.g.w * c;
        // SAFETY: the wrapper checked the geometry (every window inside the image, no
        // padding) and that `x` holds n·h·w·c values and `out` (and `arg`) n·oh·ow·c:
        // each output row's windows start at `b` in `x`, its values at `o` in `out`.
        unsafe {
            for img in 0..self.n {
                for oy in 0..oh {
                    // (`oy` first: with one output row any stride is valid and unused.)
                    let b = img * img_len + oy * self.g.sh * self.g.w * c;
                    let o = (img * oh + oy) * ow * c;
                    // Max pooling takes the row without a NaN test per window; a NaN
                    // among its taps (seen in their sum) sends it to the careful loop,
                    // which writes the row again.
                    let clean = self.max
                        && if self.g.kh == 2 && self.g.kw == 2 {
                            max_row::<S, 2, 2>(s, &self, b, o)
                        } else {
                            max_row::<S, 0, 0>(s, &self, b, o)
                        };
                    if !clean {
                        pool_row(s, &self, b, o);
                    }
                }
            }
        }
    }
}

impl Pooling {
    /// Stores `r` lanes of an output vector `m` at output index `at`, and its argmax `a`
    /// when there is an argmax buffer.
    ///
    /// # Safety
    /// `at .. at + r` inside `out` (and `arg`).
    #[inline(always)]
    unsafe fn store<S: Simd>(&self, s: S, at: usize, m: S::V, a: S::V, r: usize) {
        // SAFETY: the caller's range.
        unsafe {
            st(s, self.out.add(at), m, r);
            if !self.arg.is_null() {
                st(s, self.arg.add(at), a, r);
            }
        }
    }
}

/// One output row of max pooling from window origin `b` (in `x`) and output index `o`,
/// for inputs without a NaN: each window's maximum (the first of equal ones) and its
/// argmax. Returns false, the row to be taken again by [`pool_row`], when a tap may be
/// NaN (the taps' sum is NaN: a NaN, or infinities of opposite signs). `KH × KW` taps a
/// window, or the geometry's with `KH = 0`.
///
/// # Safety
/// As [`Pooling`]: the row's windows in `x`, its outputs in `out` (and `arg`).
#[inline(always)]
unsafe fn max_row<S: Simd, const KH: usize, const KW: usize>(
    s: S,
    p: &Pooling,
    b: usize,
    o: usize,
) -> bool {
    let g = &p.g;
    let (kh, kw) = if KH == 0 { (g.kh, g.kw) } else { (KH, KW) };
    let (ow, c, w) = (g.ow(), g.c, g.w);
    let mut row_sum = s.splat(0.0);
    // SAFETY: the caller's ranges.
    unsafe {
        for ox in 0..ow {
            let (b, o) = (b + ox * g.sw * c, o + ox * c);
            let mut j = 0;
            while j < c {
                let r = (c - j).min(S::LANES);
                let first = ld(s, p.x.add(b + j), r);
                let (mut m, mut a, mut sum) = (first, s.splat(0.0), first);
                for ky in 0..kh {
                    for kx in usize::from(ky == 0)..kw {
                        let v = ld(s, p.x.add(b + (ky * w + kx) * c + j), r);
                        let t = s.splat((ky * kw + kx) as f32);
                        a = s.lt_select(m, v, t, a);
                        m = s.lt_select(m, v, v, m);
                        sum = s.add(sum, v);
                    }
                }
                row_sum = s.add(row_sum, sum);
                p.store(s, o + j, m, a, r);
                j += S::LANES;
            }
        }
    }
    !s.reduce_add(row_sum).is_nan()
}

/// One output row of pooling from window origin `b` and output index `o`, any input:
/// average pooling, and max pooling where a NaN is the maximum (the first NaN of a
/// window, and its argmax).
///
/// # Safety
/// As [`max_row`].
#[inline(always)]
unsafe fn pool_row<S: Simd>(s: S, p: &Pooling, b: usize, o: usize) {
    let g = &p.g;
    let (ow, c, w) = (g.ow(), g.c, g.w);
    let count = s.splat((g.kh * g.kw) as f32);
    // SAFETY: the caller's ranges.
    unsafe {
        for ox in 0..ow {
            let (b, o) = (b + ox * g.sw * c, o + ox * c);
            let mut j = 0;
            while j < c {
                let r = (c - j).min(S::LANES);
                let (mut m, mut a) = (ld(s, p.x.add(b + j), r), s.splat(0.0));
                for ky in 0..g.kh {
                    for kx in usize::from(ky == 0)..g.kw {
                        let v = ld(s, p.x.add(b + (ky * w + kx) * c + j), r);
                        if p.max {
                            // Larger, or the first NaN (a NaN maximum stays).
                            let t = s.splat((ky * g.kw + kx) as f32);
                            let (mn, vn) = (nan_flag(s, m), nan_flag(s, v));
                            let take_nan = s.lt_select(mn, vn, s.splat(1.0), s.splat(0.0));
                            a = s.lt_select(m, v, t, a);
                            m = s.lt_select(m, v, v, m);
                            let zero = s.splat(0.0);
                            a = s.lt_select(zero, take_nan, t, a);
                            m = s.lt_select(zero, take_nan, v, m);
                        } else {
                            m = s.add(m, v);
                        }
                    }
                }
                if !p.max {
                    m = s.div(m, count);
                }
                p.store(s, o + j, m, a, r);
                j += S::LANES;
            }
        }
    }
}

/// The backward pass of pooling over a checked geometry: zeroes `dx` (`n·h·w·c`), then
/// adds each output's delta to its window: all of it to the tap its argmax names (max
/// pooling; a value within ½ of no tap index sends it nowhere), or `dout/(kh·kw)` to every tap
/// (average pooling). Built only by the safe wrappers in `pool.rs`.
pub(super) struct PoolingBack {
    pub g: Geom,
    pub n: usize,
    pub dout: *const f32,
    /// The argmax of max pooling, or null for average pooling.
    pub arg: *const f32,
    pub dx: *mut f32,
    /// With windows that do not overlap (max pooling only), the previous layer's
    /// activation and output (`n·h·w·c`, like `dx`): each value is then written once,
    /// times that activation's derivative and flushed (as `Prev::apply` would do after),
    /// instead of being added to a zeroed `dx`. Null: no derivative.
    pub h: *const f32,
    pub act: Activation,
}

impl WithSimd for PoolingBack {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        /// The loops for the activation `A`, chosen once.
        struct Body<S> {
            s: S,
            b: PoolingBack,
        }
        impl<S: Simd> ActivationVisitor for Body<S> {
            type Output = ();
            #[inline(always)]
            fn call<A: ActivationOp>(self) {
                // SAFETY: `h` is not null (checked below).
                unsafe { pooling_back::<S, A, true>(self.s, self.b) }
            }
        }
        if self.h.is_null() {
            // SAFETY: the wrappers' checks (see `PoolingBack`).
            unsafe { pooling_back::<S, IdentityOp, false>(s, self) }
        } else {
            self.act.dispatch(Body { s, b: self })
        }
    }
}

/// The body of [`PoolingBack`], `DERIV` when `b.h` is given (then `A` is `b.act`).
///
/// # Safety
/// `b` built by the safe wrappers in `pool.rs` (its lengths checked), `b.h` not null
/// when `DERIV`.
#[inline(always)]
unsafe fn pooling_back<S: Simd, A: ActivationOp, const DERIV: bool>(s: S, b: PoolingBack) {
    {
        let PoolingBack {
            g,
            n,
            dout,
            arg,
            dx,
            h,
            act: _,
        } = b;
        let (oh, ow, c, w) = (g.oh(), g.ow(), g.c, g.w);
        let img_len = g.h * w * c;
        let count = s.splat((g.kh * g.kw) as f32);
        let max = !arg.is_null();
        // Windows that do not overlap write each tap once: `0 + share` straight into `dx`
        // (the same bits as adding to a zeroed `dx`), and `dx` needs zeroing only where
        // no window reaches (none when the windows tile the images).
        let once = max && g.sh >= g.kh && g.sw >= g.kw;
        // Windows side by side (stride = kernel) cover the images but for the rows and
        // columns past the last whole window (vowels: 29 frames, 14 windows of 2): only
        // those are zeroed.
        let adjacent = once && g.sh == g.kh && g.sw == g.kw;
        let (covered_h, covered_w) = (oh * g.sh, ow * g.sw);
        let mut o = 0;
        // SAFETY: as for `Pooling`, with `dx` (and `h`) in the input's shape and `dout`
        // (and `arg`) in the output's; the argmax is only compared, never used as an index.
        // The uncovered parts lie in each image: rows from `covered_h ≤ h`, columns from
        // `covered_w ≤ w`.
        unsafe {
            if adjacent {
                if covered_w < w {
                    for row in 0..n * g.h {
                        let at = row * w * c + covered_w * c;
                        zero(s, dx.add(at), (w - covered_w) * c);
                    }
                }
                if covered_h < g.h {
                    for img in 0..n {
                        let at = img * img_len + covered_h * w * c;
                        zero(s, dx.add(at), (g.h - covered_h) * w * c);
                    }
                }
            } else {
                zero(s, dx, n * img_len);
            }
            for img in 0..n {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let b = img * img_len + (oy * g.sh * w + ox * g.sw) * c;
                        let mut j = 0;
                        while j < c {
                            let r = (c - j).min(S::LANES);
                            let d = ld(s, dout.add(o + j), r);
                            let (a, share) = if max {
                                (ld(s, arg.add(o + j), r), d)
                            } else {
                                (s.splat(0.0), s.div(d, count))
                            };
                            let zero = s.splat(0.0);
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let p = dx.add(b + (ky * w + kx) * c + j);
                                    let add = if max {
                                        // `share` where the argmax is this tap (within
                                        // ½, so no NaN or other value matches two), else
                                        // +0 (the sum starts at +0: adding +0 keeps its
                                        // bits).
                                        let t = (ky * g.kw + kx) as f32;
                                        let (lo, hi) = (s.splat(t - 0.5), s.splat(t + 0.5));
                                        s.lt_select(a, hi, s.lt_select(lo, a, share, zero), zero)
                                    } else {
                                        share
                                    };
                                    if once {
                                        let mut v = s.add(zero, add);
                                        if DERIV {
                                            let at = b + (ky * w + kx) * c + j;
                                            let hv = ld(s, h.add(at), r);
                                            v = flush_tiny(s, A::deriv_mul_v(s, v, hv));
                                        }
                                        st(s, p, v, r);
                                    } else {
                                        st(s, p, s.add(ld(s, p, r), add), r);
                                    }
                                }
                            }
                            j += S::LANES;
                        }
                        o += c;
                    }
                }
            }
        }
    }
}
