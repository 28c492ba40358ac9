//! Shuffled minibatches into caller buffers, without allocation.
//!
//! One epoch is: [`shuffle`] a permutation of the sample indices, walk it in
//! [`batches`], and for each batch [`gather_rows`] (or [`gather_rows_u8`] for bytes kept
//! in flash, [`gather_rows_f32le`] for `f32` stored as little-endian bytes) and
//! [`gather_labels`] into fixed batch buffers. The permutation is a caller-owned
//! `&mut [u32]` filled once by [`identity_permutation`]; shuffling the previous epoch's
//! order again is exactly as uniform as shuffling the identity (Fisher–Yates gives every
//! order with equal probability whatever it starts from), so it is never refilled.
//!
//! A [`Dataset`] names the sources of a data set's inputs ([`Features`]: `f32`, bytes
//! with a scale, or little-endian `f32` bytes) and targets ([`Labels`]: target values or
//! class indices), read in place; [`Dataset::gather`] fills a [`Batch`] of caller buffers
//! with the samples of a slice of the permutation.
//! [`Mlp::train_epoch`](crate::nn::Mlp::train_epoch) runs the whole epoch that way, and
//! [`Mlp::evaluate`](crate::nn::Mlp::evaluate) measures a data set; the loop below is
//! what they do, for callers who want it in their own hands.
//!
//! Features of different scales (the breast-cancer data's areas in the thousands beside
//! smoothness near 0.1) train better standardised: [`Standardize::fit`] measures each
//! column's mean and std on the training rows, and [`Standardize::apply`] standardises
//! each gathered batch, training and test alike, in place.
//!
//! Sources are row-major with a row *stride*: row `r` is `src[r·stride ..][..cols]`. For
//! a plain matrix `stride = cols`; for records that interleave features and labels, like
//! the digits data (`64` pixel bytes then `1` label byte per `65`-byte record), the pixels
//! are `gather_rows_u8(data, 65, 64, ..)` and the labels `gather_labels(&data[64..], 65, ..)`.
//! Records of little-endian `f32` features, like the Japanese vowels data (`348` values,
//! 1,392 bytes, then a label byte, a length byte and 2 zero bytes per `1,396`-byte
//! record), are `gather_rows_f32le(data, 1396, 348, ..)` with the stride in bytes and the
//! labels `gather_labels(&data[1392..], 1396, ..)`.
//!
//! # Example: one epoch's batching loop
//! ```
//! use microprop::data::{batches, gather_labels, gather_rows, identity_permutation, shuffle};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! // Five samples of three features, row-major, and their class labels.
//! const COLS: usize = 3;
//! let x: [f32; 15] = [
//!     0.0, 0.1, 0.2, //
//!     1.0, 1.1, 1.2, //
//!     2.0, 2.1, 2.2, //
//!     3.0, 3.1, 3.2, //
//!     4.0, 4.1, 4.2,
//! ];
//! let y: [u8; 5] = [0, 1, 2, 1, 0];
//!
//! const BATCH: usize = 2;
//! let mut perm = [0u32; 5];
//! identity_permutation(&mut perm)?;
//! let (mut xb, mut yb) = ([0.0f32; BATCH * COLS], [0u32; BATCH]);
//! let mut rng = StdRng::seed_from_u64(1);
//!
//! shuffle(&mut perm, &mut rng);
//! let mut seen = 0;
//! for r in batches(perm.len(), BATCH)? {
//!     let rows = &perm[r]; // 2, 2, then the short last batch of 1 sample
//!     let n = rows.len();
//!     let (xb, yb) = (&mut xb[..n * COLS], &mut yb[..n]);
//!     gather_rows(&x, COLS, COLS, rows, xb)?;
//!     gather_labels(&y, 1, rows, yb)?;
//!     // train on the n × COLS batch `xb` with class labels `yb` here
//!     assert_eq!(xb[0], rows[0] as f32); // row r starts with the value r
//!     assert_eq!(yb[0], u32::from(y[rows[0] as usize]));
//!     seen += n;
//! }
//! assert_eq!(seen, 5);
//! # Ok::<(), microprop::Error>(())
//! ```

use crate::Error;
use crate::simd::{Isa, Simd, WithSimd, dispatch};
use core::iter::FusedIterator;
use core::ops::Range;
use rand_core::Rng;

/// Fills `perm` with `0, 1, …, perm.len() − 1`: the starting order that [`shuffle`]
/// then permutes every epoch.
///
/// # Errors
/// [`Error::Overflow`] if `perm` is longer than 2³² (its indices would not fit a `u32`);
/// nothing is written then.
pub fn identity_permutation(perm: &mut [u32]) -> Result<(), Error> {
    if perm.len() as u64 > u64::from(u32::MAX) + 1 {
        return Err(Error::Overflow {
            what: "identity_permutation: perm.len() > 2^32",
        });
    }
    let mut next = 0u32;
    for p in perm.iter_mut() {
        // (Set-up code, run once: left rolled, not vectorized and unrolled into 1.5 KB of
        // a Cortex-M firmware at opt-level 3 per call site.)
        crate::simd::keep_rolled();
        *p = next;
        next = next.wrapping_add(1);
    }
    Ok(())
}

/// Most 64-bit words [`below`] draws for one index: after that it accepts the last one.
const MAX_DRAWS: u32 = 4;

/// A uniform integer in `0..s` (`s ≥ 1`) by Lemire's multiply-and-reject method
/// ("Fast random integer generation in an interval", 2019) on 64-bit words: the high half
/// of `x · s` for a random `x`, rejected when the low half falls in the `2⁶⁴ mod s` values
/// that would bias it. A rejection happens with probability below `s / 2⁶⁴` per word;
/// capping the draws at [`MAX_DRAWS`] keeps a broken (e.g. constant) generator from hanging
/// the loop, at a bias of less than `(s / 2⁶⁴)⁴` for a sound one.
#[inline]
fn below(rng: &mut impl Rng, s: u64) -> u64 {
    let mut m = u128::from(rng.next_u64()) * u128::from(s);
    if (m as u64) < s {
        // The division is reached with probability below s / 2^64.
        let t = s.wrapping_neg() % s;
        let mut draws = 1;
        while (m as u64) < t && draws < MAX_DRAWS {
            m = u128::from(rng.next_u64()) * u128::from(s);
            draws += 1;
        }
    }
    (m >> 64) as u64
}

/// Shuffles `perm` in place into a uniformly random order: the Fisher–Yates (Durstenfeld)
/// shuffle, from the last element down, each swap partner drawn by Lemire's unbiased
/// method from one [`Rng::next_u64`] (rarely more; at most four).
///
/// Reproducible: the same generator state gives the same order on every target. Any
/// [`Rng`] serves; without one at hand (in firmware) take the crate's
/// [`SplitMix64`](crate::SplitMix64), one for the whole run: `let mut rng =
/// SplitMix64::new(seed);` once, then `shuffle(&mut perm, &mut rng)` every epoch.
pub fn shuffle(perm: &mut [u32], rng: &mut impl Rng) {
    for i in (1..perm.len()).rev() {
        // i < perm.len() ≤ isize::MAX, so i + 1 fits u64 and j ≤ i is in bounds.
        let j = below(rng, i as u64 + 1) as usize;
        perm.swap(i, j);
    }
}

/// The ranges of one epoch's minibatches over `n_samples` positions: `0..b`, `b..2b`, …,
/// to slice a permutation with (`&perm[range]`). The last batch is shorter when
/// `batch_size` does not divide `n_samples`; [`Batches::drop_last`] leaves it out.
///
/// An [`ExactSizeIterator`]: `len()` is the number of batches still to come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batches {
    start: usize,
    end: usize,
    size: usize,
}

/// The minibatch ranges of one epoch over `n_samples` (see [`Batches`]):
/// `⌈n_samples / batch_size⌉` ranges of `batch_size` positions, the last one shorter if
/// `batch_size` does not divide `n_samples` (yielded by default: every sample is seen once
/// per epoch). To train on full batches only, call `.drop_last()` on the result; the samples
/// left out change every epoch with the shuffle.
///
/// ```
/// use microprop::data::batches;
/// assert!(batches(5, 2)?.eq([0..2, 2..4, 4..5]));
/// assert!(batches(5, 2)?.drop_last().eq([0..2, 2..4]));
/// assert_eq!(batches(0, 2)?.len(), 0);
/// # Ok::<(), microprop::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] if `batch_size` is 0.
pub fn batches(n_samples: usize, batch_size: usize) -> Result<Batches, Error> {
    if batch_size == 0 {
        return Err(Error::InvalidArgument {
            what: "batches: batch_size must be at least 1",
        });
    }
    Ok(Batches {
        start: 0,
        end: n_samples,
        size: batch_size,
    })
}

impl Batches {
    /// The same batches without a short last one (the positions after the last full
    /// batch are skipped).
    #[must_use]
    pub fn drop_last(self) -> Self {
        let left = self.end - self.start;
        Batches {
            end: self.start + left / self.size * self.size,
            ..self
        }
    }

    /// The batch size given to [`batches`].
    pub const fn batch_size(&self) -> usize {
        self.size
    }
}

impl Iterator for Batches {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.start >= self.end {
            return None;
        }
        let start = self.start;
        // Written so that start + size cannot overflow.
        self.start = if self.end - start > self.size {
            start + self.size
        } else {
            self.end
        };
        Some(start..self.start)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.start;
        let n = left / self.size + usize::from(!left.is_multiple_of(self.size));
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches {}
impl FusedIterator for Batches {}

/// Rows of `cols` elements starting every `stride` elements in a source of `len`.
fn source_rows(len: usize, stride: usize, cols: usize) -> usize {
    if len < cols {
        0
    } else {
        (len - cols) / stride + 1
    }
}

/// Every row index below `n`, or the first that is not.
fn check_rows(rows: &[u32], n: usize) -> Result<(), Error> {
    for (index, &row) in rows.iter().enumerate() {
        if usize::try_from(row).map_or(true, |r| r >= n) {
            return Err(Error::RowOutOfRange {
                index,
                row,
                rows: n,
            });
        }
    }
    Ok(())
}

/// `dst_len == rows · cols`, else [`Error::ShapeMismatch`] naming `what`.
fn check_dst(what: &'static str, rows: usize, cols: usize, dst_len: usize) -> Result<(), Error> {
    if rows.checked_mul(cols) != Some(dst_len) {
        return Err(Error::ShapeMismatch {
            what,
            expected: (rows, cols),
            found: (1, dst_len),
        });
    }
    Ok(())
}

/// The checks every gather shares, in order: `cols ≥ 1`, `stride ≥ cols`,
/// `dst_len == rows.len() · cols`, every row index inside the source.
fn check_gather(
    what: &'static str,
    src_len: usize,
    stride: usize,
    cols: usize,
    rows: &[u32],
    dst_len: usize,
) -> Result<(), Error> {
    check_layout(stride, cols)?;
    check_dst(what, rows.len(), cols, dst_len)?;
    check_rows(rows, source_rows(src_len, stride, cols))
}

/// Rows of `cols ≥ 1` values, `stride ≥ cols` apart.
fn check_layout(stride: usize, cols: usize) -> Result<(), Error> {
    if cols == 0 {
        return Err(Error::InvalidArgument {
            what: "gather: cols must be at least 1",
        });
    }
    if stride < cols {
        return Err(Error::InvalidArgument {
            what: "gather: stride must be at least cols (rows may not overlap)",
        });
    }
    Ok(())
}

/// Bytes in one `f32` of an [`Features::F32Le`] source.
const F32_BYTES: usize = 4;

/// The width in bytes of a row of `cols` little-endian `f32` (`4·cols`), checked: `cols ≥ 1`,
/// no overflow, and `stride` (bytes) at least that.
fn f32le_width(cols: usize, stride: usize) -> Result<usize, Error> {
    if cols == 0 {
        return Err(Error::InvalidArgument {
            what: "gather: cols must be at least 1",
        });
    }
    let width = cols.checked_mul(F32_BYTES).ok_or(Error::Overflow {
        what: "F32Le rows: 4·cols bytes",
    })?;
    if stride < width {
        return Err(Error::InvalidArgument {
            what: "F32Le rows: the stride is in bytes and must be at least 4·cols \
                   (each row's f32 values; rows may not overlap)",
        });
    }
    Ok(width)
}

/// Copies the chosen rows of a row-major `f32` source into a batch:
/// `dst[i·cols + j] = src[rows[i]·stride + j]` for `i < rows.len()`, `j < cols`.
///
/// `src` holds rows of `cols` values starting every `stride` values (`stride = cols` for
/// a plain matrix; a larger stride skips trailing fields such as targets). The source has
/// `⌊(src.len() − cols) / stride⌋ + 1` rows (0 if `src.len() < cols`), so its last row
/// needs no padding after it.
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `cols` is 0 or `stride < cols`;
/// * [`Error::ShapeMismatch`]: `dst.len() != rows.len() · cols`;
/// * [`Error::RowOutOfRange`]: the first row index the source does not have.
pub fn gather_rows(
    src: &[f32],
    stride: usize,
    cols: usize,
    rows: &[u32],
    dst: &mut [f32],
) -> Result<(), Error> {
    check_gather(
        "gather_rows: dst.len() != rows.len() * cols",
        src.len(),
        stride,
        cols,
        rows,
        dst.len(),
    )?;
    for (&r, d) in rows.iter().zip(dst.chunks_exact_mut(cols)) {
        let at = r as usize * stride; // checked: r·stride + cols ≤ src.len()
        d.copy_from_slice(&src[at..at + cols]);
    }
    Ok(())
}

/// Copies the chosen rows of a row-major byte source into an `f32` batch, scaled:
/// `dst[i·cols + j] = src[rows[i]·stride + j] as f32 · scale` (one rounding; exact when
/// `scale` is a power of two). For data kept as bytes in flash, e.g. the digits' pixels
/// 0–16 with `scale = 1.0 / 16.0`; the row layout is as in [`gather_rows`].
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::NonFinite`]: `scale` is NaN or infinite;
/// * [`Error::InvalidArgument`]: `cols` is 0 or `stride < cols`;
/// * [`Error::ShapeMismatch`]: `dst.len() != rows.len() · cols`;
/// * [`Error::RowOutOfRange`]: the first row index the source does not have.
pub fn gather_rows_u8(
    src: &[u8],
    stride: usize,
    cols: usize,
    rows: &[u32],
    scale: f32,
    dst: &mut [f32],
) -> Result<(), Error> {
    if !scale.is_finite() {
        return Err(Error::NonFinite {
            what: "gather_rows_u8: scale",
        });
    }
    check_gather(
        "gather_rows_u8: dst.len() != rows.len() * cols",
        src.len(),
        stride,
        cols,
        rows,
        dst.len(),
    )?;
    dispatch(
        Isa::active(),
        BytesToF32 {
            src,
            stride,
            cols,
            rows,
            scale,
            dst,
        },
    );
    Ok(())
}

/// The copy of [`gather_rows_u8`] (arguments checked): plain safe code, run through
/// `dispatch` only so that it is compiled with the instruction set's features, where the
/// compiler vectorizes the widening conversion (16 bytes a vector with AVX-512 instead of
/// SSE2's unpacking of 4).
struct BytesToF32<'a> {
    src: &'a [u8],
    stride: usize,
    cols: usize,
    rows: &'a [u32],
    scale: f32,
    dst: &'a mut [f32],
}

impl WithSimd for BytesToF32<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let (src, stride, cols, scale) = (self.src, self.stride, self.cols, self.scale);
        for (&r, d) in self.rows.iter().zip(self.dst.chunks_exact_mut(cols)) {
            let at = r as usize * stride; // checked: r·stride + cols ≤ src.len()
            for (d, &b) in d.iter_mut().zip(&src[at..at + cols]) {
                *d = f32::from(b) * scale;
            }
        }
    }
}

/// Copies the chosen rows of a source of little-endian `f32` bytes into an `f32` batch:
/// `dst[i·cols + j] = f32::from_le_bytes(src[rows[i]·stride + 4j ..][..4])`, bit for bit
/// (NaN and infinities included), for `i < rows.len()`, `j < cols`.
///
/// For files of records mixing `f32` features with other fields, read in place from
/// `include_bytes!` (only byte-aligned) or from flash: no alignment is assumed, and the
/// bytes are decoded as little-endian on every target, big-endian ones included.
/// **`stride` is in bytes** (the record length), **`cols` in values** (`f32` per row, the
/// network's `d₀`): row `r` is the `4·cols` bytes from byte `r·stride`. The source has
/// `⌊(src.len() − 4·cols) / stride⌋ + 1` rows (0 if `src.len() < 4·cols`).
///
/// ```
/// use microprop::data::gather_rows_f32le;
///
/// // Records of 2 f32 then a label byte: 9 bytes each, so the second record's f32 are
/// // at an odd address.
/// let mut bytes = [0u8; 18];
/// for (r, rec) in bytes.chunks_exact_mut(9).enumerate() {
///     rec[..4].copy_from_slice(&(r as f32 + 0.5).to_le_bytes());
///     rec[4..8].copy_from_slice(&(-2.0f32).to_le_bytes());
///     rec[8] = r as u8; // the label
/// }
/// let mut x = [0.0f32; 2 * 2];
/// gather_rows_f32le(&bytes, 9, 2, &[1, 0], &mut x)?;
/// assert_eq!(x, [1.5, -2.0, 0.5, -2.0]);
/// # Ok::<(), microprop::Error>(())
/// ```
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `cols` is 0 or `stride < 4·cols` (which catches a
///   stride given in values instead of bytes whenever the features fill at least a
///   quarter of the record);
/// * [`Error::Overflow`]: `4·cols` overflows `usize`;
/// * [`Error::ShapeMismatch`]: `dst.len() != rows.len() · cols`;
/// * [`Error::RowOutOfRange`]: the first row index the source does not have.
pub fn gather_rows_f32le(
    src: &[u8],
    stride: usize,
    cols: usize,
    rows: &[u32],
    dst: &mut [f32],
) -> Result<(), Error> {
    let width = f32le_width(cols, stride)?;
    check_dst(
        "gather_rows_f32le: dst.len() != rows.len() * cols",
        rows.len(),
        cols,
        dst.len(),
    )?;
    check_rows(rows, source_rows(src.len(), stride, width))?;
    for (&r, d) in rows.iter().zip(dst.chunks_exact_mut(cols)) {
        let at = r as usize * stride; // checked: r·stride + 4·cols ≤ src.len()
        let (values, _) = src[at..at + width].as_chunks::<F32_BYTES>();
        for (d, &b) in d.iter_mut().zip(values) {
            *d = f32::from_le_bytes(b);
        }
    }
    Ok(())
}

/// Copies the chosen labels into a batch of class indices (what a classification loss
/// takes): `dst[i] = src[rows[i]·stride]` widened to `u32`.
///
/// `src` may be `&[u8]`, `&[u16]` or `&[u32]`; `stride` is 1 for a plain label array, or
/// the record length for labels interleaved with features (slice `src` to start at the
/// first label). The labels are not checked against a class count here: the loss and
/// [`accuracy`](crate::metrics::accuracy) do that.
///
/// # Errors
/// Nothing is written on an error:
/// * [`Error::InvalidArgument`]: `stride` is 0;
/// * [`Error::ShapeMismatch`]: `dst.len() != rows.len()`;
/// * [`Error::RowOutOfRange`]: the first row index the source does not have.
pub fn gather_labels<T: Copy + Into<u32>>(
    src: &[T],
    stride: usize,
    rows: &[u32],
    dst: &mut [u32],
) -> Result<(), Error> {
    if stride == 0 {
        return Err(Error::InvalidArgument {
            what: "gather_labels: stride must be at least 1",
        });
    }
    check_gather(
        "gather_labels: dst.len() != rows.len()",
        src.len(),
        stride,
        1,
        rows,
        dst.len(),
    )?;
    copy_labels(src, stride, rows, dst);
    Ok(())
}

/// The copy of [`gather_labels`], its arguments checked.
fn copy_labels<T: Copy + Into<u32>>(src: &[T], stride: usize, rows: &[u32], dst: &mut [u32]) {
    for (&r, d) in rows.iter().zip(dst.iter_mut()) {
        *d = src[r as usize * stride].into(); // checked: r·stride < src.len()
    }
}

/// Where a data set's input rows come from: `f32` values, bytes scaled to `f32` (data
/// kept in flash), or `f32` stored as little-endian bytes (a file's records read in
/// place). Row `r` is `data[r·stride ..][..d₀]`, as in [`gather_rows`]; for
/// [`F32Le`](Features::F32Le) the stride counts bytes and the row is `4·d₀` bytes.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Features<'a> {
    /// Rows of `f32`, `stride` values apart.
    F32 {
        /// The rows.
        data: &'a [f32],
        /// Distance between row starts (`d₀` for a plain matrix).
        stride: usize,
    },
    /// Rows of bytes, each value `byte as f32 · scale` ([`gather_rows_u8`]).
    U8 {
        /// The rows.
        data: &'a [u8],
        /// Distance between row starts.
        stride: usize,
        /// Factor applied to every byte.
        scale: f32,
    },
    /// Rows of little-endian `f32`, 4 bytes each, at any alignment
    /// ([`gather_rows_f32le`]): e.g. `include_bytes!` records of `f32` features followed
    /// by a label byte. Not scanned for NaN here: a training step checks the batch.
    ///
    /// ```
    /// use microprop::data::{Dataset, Features, Labels};
    ///
    /// // The Japanese vowels file: records of 1,396 bytes, 29 × 12 f32 (1,392 bytes) then
    /// // the label byte, a length byte and 2 zero bytes. The same stride, in bytes, for both.
    /// static VOWELS: &[u8] = include_bytes!("../examples/data/japanese_vowels/japanese_vowels.f32");
    /// let train = Dataset {
    ///     x: Features::F32Le { data: &VOWELS[..270 * 1396], stride: 1396 },
    ///     y: Labels::ClassesU8 { data: &VOWELS[1392..270 * 1396], stride: 1396 },
    ///     len: 270,
    /// };
    /// train.check(29 * 12, 9)?; // d₀ = 348 values, 9 classes
    /// # Ok::<(), microprop::Error>(())
    /// ```
    F32Le {
        /// The rows' bytes.
        data: &'a [u8],
        /// Distance between row starts **in bytes** (the record length; at least
        /// `4·d₀`).
        stride: usize,
    },
}

/// Where a data set's targets come from: rows of values (regression, probabilities), or
/// class indices (for [`Loss::SoftmaxCrossEntropy`](crate::Loss::SoftmaxCrossEntropy)).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Labels<'a> {
    /// Rows of `d_L` target values, `stride` values apart.
    Values {
        /// The rows.
        data: &'a [f32],
        /// Distance between row starts (`d_L` for a plain matrix).
        stride: usize,
    },
    /// One class index per sample, as bytes `stride` apart (e.g. interleaved with the
    /// features: slice `data` to start at the first label).
    ClassesU8 {
        /// The labels.
        data: &'a [u8],
        /// Distance between labels.
        stride: usize,
    },
    /// One class index per sample.
    Classes(&'a [u32]),
}

/// A data set of `len` samples: input rows and their targets, read in place (no copy of
/// the whole set; a batch at a time is gathered into a [`Batch`]).
#[derive(Clone, Copy, Debug)]
pub struct Dataset<'a> {
    /// The input rows.
    pub x: Features<'a>,
    /// The targets.
    pub y: Labels<'a>,
    /// Number of samples.
    pub len: usize,
}

/// Caller buffers one minibatch is gathered into: `x` holds `B × d₀` values, and either
/// `y` (`B × d_L`, for [`Labels::Values`]) or `labels` (`B`, for class labels); the other
/// may be empty. `B`, the batch size, is `x.len() / d₀`.
#[derive(Debug)]
pub struct Batch<'b> {
    /// Inputs, `B × d₀`.
    pub x: &'b mut [f32],
    /// Target values, `B × d_L` (empty when the labels are classes).
    pub y: &'b mut [f32],
    /// Class labels, `B` (empty when the targets are values).
    pub labels: &'b mut [u32],
}

impl Features<'_> {
    /// Whether every gathered value is finite whatever the data: bytes times a scale
    /// whose product with 255 is finite (each `byte · scale` is at most that in
    /// magnitude, and rounding is monotonic), so a training step can skip scanning a
    /// batch gathered from them. `f32` rows, as values or bytes, may hold anything: `false`.
    pub(crate) fn always_finite(&self) -> bool {
        match *self {
            Features::F32 { .. } | Features::F32Le { .. } => false,
            Features::U8 { scale, .. } => (255.0 * scale).is_finite(),
        }
    }
}

impl Features<'_> {
    /// Checks what a gather of `rows` (rows of `cols` values) from this source checks,
    /// less the destination: the layout, a finite `U8` scale, every row index inside.
    fn check_source(&self, what: &'static str, cols: usize, rows: &[u32]) -> Result<(), Error> {
        let (len, stride, width) = match *self {
            Features::F32 { data, stride } => {
                check_layout(stride, cols)?;
                (data.len(), stride, cols)
            }
            Features::U8 {
                data,
                stride,
                scale,
            } => {
                if !scale.is_finite() {
                    return Err(Error::NonFinite { what });
                }
                check_layout(stride, cols)?;
                (data.len(), stride, cols)
            }
            Features::F32Le { data, stride } => (data.len(), stride, f32le_width(cols, stride)?),
        };
        check_rows(rows, source_rows(len, stride, width))
    }

    /// Value `col` of row `row`, as a gather would give it; the source checked by
    /// [`Features::check_source`] for this row and a width above `col`.
    fn value(&self, row: usize, col: usize) -> f32 {
        match *self {
            Features::F32 { data, stride } => data[row * stride + col],
            Features::U8 {
                data,
                stride,
                scale,
            } => f32::from(data[row * stride + col]) * scale,
            Features::F32Le { data, stride } => {
                let at = row * stride + col * F32_BYTES;
                f32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
            }
        }
    }
}

impl Dataset<'_> {
    /// Gathers the samples `rows` (indices below [`Dataset::len`]) into `batch`: inputs
    /// of `d0` values and targets of `d_out` values (or one class index), and returns the
    /// gathered inputs (`rows.len() × d0`) and targets, ready for a training step.
    ///
    /// # Errors
    /// Nothing is written on an error: [`Error::RowOutOfRange`] for an index not below
    /// `len` (or one the source does not have); [`Error::BufferTooSmall`] if `batch`
    /// cannot hold `rows.len()` samples; the errors of [`gather_rows`],
    /// [`gather_rows_u8`], [`gather_rows_f32le`] and [`gather_labels`].
    pub fn gather<'b>(
        &self,
        rows: &[u32],
        d0: usize,
        d_out: usize,
        batch: &'b mut Batch<'_>,
    ) -> Result<(&'b [f32], crate::Target<'b>), Error> {
        let n = rows.len();
        if let Some(index) = rows.iter().position(|&r| r as usize >= self.len) {
            return Err(Error::RowOutOfRange {
                index,
                row: rows[index],
                rows: self.len,
            });
        }
        let need_x = n.saturating_mul(d0);
        if batch.x.len() < need_x {
            return Err(Error::BufferTooSmall {
                what: "Batch::x (batch size × d0)",
                needed: need_x,
                len: batch.x.len(),
            });
        }
        let need_y = match self.y {
            Labels::Values { .. } => n.saturating_mul(d_out),
            Labels::ClassesU8 { .. } | Labels::Classes(_) => n,
        };
        let (ybuf_len, what) = match self.y {
            Labels::Values { .. } => (batch.y.len(), "Batch::y (batch size × d_out)"),
            _ => (batch.labels.len(), "Batch::labels (batch size)"),
        };
        if ybuf_len < need_y {
            return Err(Error::BufferTooSmall {
                what,
                needed: need_y,
                len: ybuf_len,
            });
        }
        // Check the targets first: they write into a different buffer than the inputs,
        // and each gather validates fully before writing.
        match self.y {
            Labels::Values { data, stride } => {
                check_gather(
                    "Dataset::gather: target rows",
                    data.len(),
                    stride,
                    d_out,
                    rows,
                    need_y,
                )?;
            }
            Labels::ClassesU8 { data, stride } => {
                if stride == 0 {
                    return Err(Error::InvalidArgument {
                        what: "Dataset: label stride must be at least 1",
                    });
                }
                check_gather("Dataset::gather: labels", data.len(), stride, 1, rows, n)?;
            }
            Labels::Classes(data) => {
                check_gather("Dataset::gather: labels", data.len(), 1, 1, rows, n)?;
            }
        }
        let x = &mut batch.x[..need_x];
        match self.x {
            Features::F32 { data, stride } => gather_rows(data, stride, d0, rows, x)?,
            Features::U8 {
                data,
                stride,
                scale,
            } => gather_rows_u8(data, stride, d0, rows, scale, x)?,
            Features::F32Le { data, stride } => gather_rows_f32le(data, stride, d0, rows, x)?,
        }
        let target = match self.y {
            Labels::Values { data, stride } => {
                let y = &mut batch.y[..need_y];
                gather_rows(data, stride, d_out, rows, y)?;
                crate::Target::Values(y)
            }
            // Checked above, before anything was written (the checks of gather_labels).
            Labels::ClassesU8 { data, stride } => {
                let l = &mut batch.labels[..n];
                copy_labels(data, stride, rows, l);
                crate::Target::Classes(l)
            }
            Labels::Classes(data) => {
                let l = &mut batch.labels[..n];
                copy_labels(data, 1, rows, l);
                crate::Target::Classes(l)
            }
        };
        Ok((x, target))
    }
}

impl Dataset<'_> {
    /// Checks that the sources hold [`Dataset::len`] samples of `d0` inputs and `d_out`
    /// targets (or one label), so that gathering any index below `len` succeeds: what
    /// the epoch helper checks before its first update.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero width or a stride below the row width (for
    /// [`Features::F32Le`], a byte stride below `4·d0`); [`Error::Overflow`] if `4·d0`
    /// overflows (`F32Le`); [`Error::BufferTooSmall`] naming the source that holds fewer
    /// than `len` rows (for `F32Le` in bytes).
    pub fn check(&self, d0: usize, d_out: usize) -> Result<(), Error> {
        const WIDTH: &str =
            "Dataset: each stride must be at least its row width (and widths at least 1)";
        const X_SHORT: &str = "Dataset::x holds fewer than len rows";
        let (x_len, x_stride, x_width, x_short, x_invalid) = match self.x {
            Features::F32 { data, stride } => (data.len(), stride, d0, X_SHORT, WIDTH),
            Features::U8 { data, stride, .. } => (data.len(), stride, d0, X_SHORT, WIDTH),
            Features::F32Le { data, stride } => (
                data.len(),
                stride,
                d0.checked_mul(F32_BYTES).ok_or(Error::Overflow {
                    what: "Dataset::x (F32Le): 4·d0 bytes",
                })?,
                "Dataset::x (F32Le, in bytes) holds fewer than len rows",
                "Dataset::x (F32Le): the stride is in bytes and must be at least 4·d0 \
                 (and d0 at least 1)",
            ),
        };
        let (y_len, y_stride, y_width) = match self.y {
            Labels::Values { data, stride } => (data.len(), stride, d_out),
            Labels::ClassesU8 { data, stride } => (data.len(), stride, 1),
            Labels::Classes(data) => (data.len(), 1, 1),
        };
        for (short, invalid, len, stride, width) in [
            (x_short, x_invalid, x_len, x_stride, x_width),
            (
                "Dataset::y holds fewer than len rows",
                WIDTH,
                y_len,
                y_stride,
                y_width,
            ),
        ] {
            if width == 0 || stride < width {
                return Err(Error::InvalidArgument { what: invalid });
            }
            if source_rows(len, stride, width) < self.len {
                return Err(Error::BufferTooSmall {
                    what: short,
                    needed: (self.len.saturating_sub(1))
                        .saturating_mul(stride)
                        .saturating_add(width),
                    len,
                });
            }
        }
        Ok(())
    }
}

/// Per-feature standardisation, `x ← (x − mean) / std` column by column, with the
/// statistics of the training rows: scikit-learn's `StandardScaler` (population std) over
/// caller buffers.
///
/// [`Standardize::fit`] computes each column's mean and population standard deviation
/// (ddof 0) over the chosen rows of a [`Features`] source, into the caller's `mean` and
/// `std` (`cols` values each), accumulating in `f64` and rounding each once to `f32`:
///
/// ```text
/// mean_c = (1/n) Σᵢ x_ic        std_c = √((1/n) Σᵢ (x_ic − mean_c)²)
/// ```
///
/// over the `n` rows listed (the values a gather gives: `U8` bytes times their scale,
/// `F32Le` decoded). [`Standardize::apply`] then maps a gathered batch of whole rows in
/// place, `x_ic ← (x_ic − mean_c) / std_c` in `f32` (a subtraction and a division, each
/// rounded). Fit on the training rows only and apply the same statistics to every batch,
/// training and test alike, so that no test row leaks into what the network sees.
///
/// **Constant columns**: where the standard deviation is 0 (every value of the column
/// equal over the rows, e.g. always-zero padding) or below `f32::MIN_POSITIVE` once
/// rounded, `std` is set to 1, as `StandardScaler` sets its scale: such a column is only
/// centred, never divided by zero, and never turns into NaN or ±∞.
///
/// Cost: two passes over the chosen rows per column (the mean, then the squared
/// deviations, for accuracy), plus one scan for NaN and ±∞ (skipped for bytes with a
/// finite scale); the data is read column by column, so that no `f64` buffer is needed.
/// Nothing is allocated.
///
/// ```
/// use microprop::data::{Features, Standardize};
///
/// // Four rows of two features; the second is constant. Fit on the first three.
/// let x = [1.0f32, 5.0, 4.0, 5.0, 4.0, 5.0, 100.0, 7.0];
/// let (mut mean, mut std) = ([0.0f32; 2], [0.0f32; 2]);
/// let train = Features::F32 { data: &x, stride: 2 };
/// let s = Standardize::fit(train, 2, &[0, 1, 2], &mut mean, &mut std)?;
/// assert_eq!(s.mean(), [3.0, 5.0]);
/// assert_eq!(s.std(), [2.0f32.sqrt(), 1.0]); // population std √(6/3); constant: 1
///
/// let mut batch = [5.0f32, 5.0, 3.0, 7.0]; // two gathered rows
/// s.apply(&mut batch)?;
/// assert_eq!(batch, [2.0 / 2.0f32.sqrt(), 0.0, 0.0, 2.0]);
/// # Ok::<(), microprop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standardize<'s> {
    mean: &'s [f32],
    std: &'s [f32],
}

impl<'s> Standardize<'s> {
    /// Computes the mean and population standard deviation of each of the `cols` columns
    /// over the rows `rows` of `x` into `mean` and `std` (see [`Standardize`] for the
    /// formulas and constant columns), and returns the standardisation that applies them.
    /// A row listed twice counts twice. `cols` is the row width in values (`d₀`), for
    /// every [`Features`] variant (for `F32Le` the stride stays in bytes).
    ///
    /// # Errors
    /// Nothing is written on an error:
    /// * [`Error::InvalidArgument`]: `rows` is empty, `cols` is 0, or a stride below the
    ///   row width (as [`gather_rows`], [`gather_rows_u8`], [`gather_rows_f32le`]);
    /// * [`Error::Overflow`]: `4·cols` overflows (`F32Le`);
    /// * [`Error::ShapeMismatch`]: `mean` or `std` does not hold `cols` values;
    /// * [`Error::NonFinite`]: a `U8` source's scale is NaN or infinite;
    /// * [`Error::RowOutOfRange`]: the first row index the source does not have;
    /// * [`Error::NonFiniteAt`]: a value of the chosen rows is NaN or infinite: the first
    ///   one, in the order of `rows` and then of the columns, with its source row and column.
    pub fn fit(
        x: Features<'_>,
        cols: usize,
        rows: &[u32],
        mean: &'s mut [f32],
        std: &'s mut [f32],
    ) -> Result<Standardize<'s>, Error> {
        const WHAT: &str = "Standardize::fit: x";
        if rows.is_empty() {
            return Err(Error::InvalidArgument {
                what: "Standardize::fit: no rows (the statistics of nothing are undefined)",
            });
        }
        x.check_source(WHAT, cols, rows)?;
        check_dst("Standardize::fit: mean.len() != cols", 1, cols, mean.len())?;
        check_dst("Standardize::fit: std.len() != cols", 1, cols, std.len())?;
        if !x.always_finite() {
            for &r in rows {
                let r = r as usize; // checked: r < the source's rows
                if let Some(col) = (0..cols).find(|&c| !x.value(r, c).is_finite()) {
                    return Err(Error::NonFiniteAt {
                        what: WHAT,
                        row: r,
                        col,
                    });
                }
            }
        }
        // Exact for any realistic row count (below 2^53).
        let n = rows.len() as f64;
        for (c, (m, s)) in mean.iter_mut().zip(std.iter_mut()).enumerate() {
            let column = || rows.iter().map(|&r| f64::from(x.value(r as usize, c)));
            let mu = column().sum::<f64>() / n;
            let var = column().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n;
            // Finite inputs: mu lies within them, and √var is at most half their range,
            // so both round to finite f32.
            let sd = libm::sqrt(var) as f32;
            *m = mu as f32;
            *s = if sd >= f32::MIN_POSITIVE { sd } else { 1.0 };
        }
        Ok(Standardize { mean, std })
    }

    /// The standardisation with statistics computed before (by [`Standardize::fit`],
    /// here or on a host, and kept e.g. in `const` arrays): `mean` and `std` of one value
    /// per column.
    ///
    /// # Errors
    /// * [`Error::InvalidArgument`]: `mean` is empty, or a `std` is not a normal
    ///   number above 0 (below `f32::MIN_POSITIVE`: a constant column takes 1);
    /// * [`Error::ShapeMismatch`]: `std.len() != mean.len()`;
    /// * [`Error::NonFinite`]: a mean or a std is NaN or infinite.
    pub fn new(mean: &'s [f32], std: &'s [f32]) -> Result<Standardize<'s>, Error> {
        if mean.is_empty() {
            return Err(Error::InvalidArgument {
                what: "Standardize::new: no columns (mean is empty)",
            });
        }
        check_dst(
            "Standardize::new: std.len() != mean.len()",
            1,
            mean.len(),
            std.len(),
        )?;
        if !mean.iter().chain(std).all(|v| v.is_finite()) {
            return Err(Error::NonFinite {
                what: "Standardize::new: mean or std",
            });
        }
        if std.iter().any(|&s| s < f32::MIN_POSITIVE) {
            return Err(Error::InvalidArgument {
                what: "Standardize::new: a std is below f32::MIN_POSITIVE (0 or negative); \
                       a constant column takes std 1",
            });
        }
        Ok(Standardize { mean, std })
    }

    /// Standardises `x`, whole rows of [`cols`](Standardize::cols) values, in place:
    /// `x[i·cols + c] ← (x[i·cols + c] − mean[c]) / std[c]`. NaN and ±∞ in `x` go through
    /// the arithmetic as IEEE says (a training step then refuses them), and so does a
    /// finite value whose difference from the mean, or its quotient, overflows `f32`
    /// (data spanning most of the `f32` range, or values far outside the training rows).
    ///
    /// # Errors
    /// [`Error::PartialRow`] if `x.len()` is not a multiple of `cols`; nothing is
    /// written then.
    pub fn apply(&self, x: &mut [f32]) -> Result<(), Error> {
        crate::error::check_rows(
            "Standardize::apply: x (rows of cols values)",
            x.len(),
            self.cols(),
        )?;
        for row in x.chunks_exact_mut(self.cols()) {
            for ((v, &m), &s) in row.iter_mut().zip(self.mean).zip(self.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// The number of columns (features per row).
    pub fn cols(&self) -> usize {
        self.mean.len()
    }

    /// The mean of each column.
    pub fn mean(&self) -> &'s [f32] {
        self.mean
    }

    /// The divisor of each column: its population standard deviation, or 1 for a
    /// constant column.
    pub fn std(&self) -> &'s [f32] {
        self.std
    }
}
