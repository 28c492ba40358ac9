//! Shuffled minibatches into caller buffers, without allocation.
//!
//! One epoch is: [`shuffle`] a permutation of the sample indices, walk it in
//! [`batches`], and for each batch [`gather_rows`] (or [`gather_rows_u8`] for bytes kept
//! in flash) and [`gather_labels`] into fixed batch buffers. The permutation is a
//! caller-owned `&mut [u32]` filled once by [`identity_permutation`]; shuffling the previous
//! epoch's order again is exactly as uniform as shuffling the identity (Fisher–Yates gives
//! every order with equal probability whatever it starts from), so it is never refilled.
//!
//! Sources are row-major with a row *stride*: row `r` is `src[r·stride ..][..cols]`. For
//! a plain matrix `stride = cols`; for records that interleave features and labels, like
//! the digits data (`64` pixel bytes then `1` label byte per `65`-byte record), the pixels
//! are `gather_rows_u8(data, 65, 64, ..)` and the labels `gather_labels(&data[64..], 65, ..)`.
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
/// Reproducible: the same generator state gives the same order on every target.
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
    if rows.len().checked_mul(cols) != Some(dst_len) {
        return Err(Error::ShapeMismatch {
            what,
            expected: (rows.len(), cols),
            found: (1, dst_len),
        });
    }
    check_rows(rows, source_rows(src_len, stride, cols))
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
    for (&r, d) in rows.iter().zip(dst.chunks_exact_mut(cols)) {
        let at = r as usize * stride; // checked: r·stride + cols ≤ src.len()
        for (d, &b) in d.iter_mut().zip(&src[at..at + cols]) {
            *d = f32::from(b) * scale;
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
    for (&r, d) in rows.iter().zip(dst.iter_mut()) {
        *d = src[r as usize * stride].into(); // checked: r·stride < src.len()
    }
    Ok(())
}
