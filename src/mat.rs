//! Strided matrix views over flat `f32` slices.
//!
//! A view is a slice plus `rows`, `cols`, a row stride and a column stride: element
//! `(i, j)` lives at `data[i * row_stride + j * col_stride]`. Constructors check once that
//! every reachable index is inside the slice, so the kernels below may read and write
//! through raw pointers without further checks. [`MatRef::t`] swaps the strides, so the
//! lecture's `h.T`, `w2.T` and `x.T` cost nothing.

use crate::Error;
use core::marker::PhantomData;

/// Checks that `rows × cols` with the given strides stays inside `len` elements and
/// returns the number of elements the layout spans (0 for an empty matrix).
pub(crate) const fn span(
    len: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
    what: &'static str,
) -> Result<usize, Error> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    let (Some(a), Some(b)) = (
        (rows - 1).checked_mul(row_stride),
        (cols - 1).checked_mul(col_stride),
    ) else {
        return Err(Error::Overflow { what });
    };
    let Some(last) = a.checked_add(b) else {
        return Err(Error::Overflow { what });
    };
    // `last < len <= isize::MAX` (a slice never exceeds isize::MAX bytes), so every
    // pointer offset a kernel forms from these strides fits in `isize`.
    if last >= len {
        // `last == usize::MAX` (e.g. 2 rows, row stride `usize::MAX`): the length needed
        // is not representable.
        let Some(needed) = last.checked_add(1) else {
            return Err(Error::Overflow { what });
        };
        return Err(Error::BufferTooSmall { what, needed, len });
    }
    Ok(last + 1)
}

/// A read-only strided view of an `f32` matrix.
///
/// ```
/// use microprop::MatRef;
/// let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::row_major(&data, 2, 3)?; // [[1 2 3], [4 5 6]]
/// assert_eq!(a.get(1, 0), Some(4.0));
/// assert_eq!(a.t().get(0, 1), Some(4.0)); // the transpose is free
/// # Ok::<(), microprop::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _life: PhantomData<&'a [f32]>,
}

// SAFETY: a `MatRef` is a shared borrow of `[f32]` in disguise; `&[f32]` is Send + Sync.
unsafe impl Send for MatRef<'_> {}
// SAFETY: as above.
unsafe impl Sync for MatRef<'_> {}

impl<'a> MatRef<'a> {
    /// A `rows × cols` view of `data` where element `(i, j)` is
    /// `data[i * row_stride + j * col_stride]`.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if the last element lies past `data` (the error gives the
    /// length needed), [`Error::Overflow`] if the index arithmetic overflows. An empty
    /// matrix (`rows == 0` or `cols == 0`) is valid over any slice.
    pub const fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, Error> {
        match span(data.len(), rows, cols, row_stride, col_stride, "MatRef") {
            Ok(_) => Ok(MatRef {
                ptr: data.as_ptr(),
                rows,
                cols,
                rs: row_stride,
                cs: col_stride,
                _life: PhantomData,
            }),
            Err(e) => Err(e),
        }
    }

    /// A row-major `rows × cols` view (row stride `cols`, column stride 1).
    ///
    /// # Errors
    /// As [`MatRef::new`].
    pub const fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// `data` as whole row-major rows of `cols` values: `data.len() / cols` rows (none
    /// for `cols == 0`), any remainder left out. Infallible, since the view lies inside
    /// `data` by construction: for the crate's own calls on slices it cut to `rows · cols`
    /// values, so that a step has no error path for a view that cannot fail.
    pub(crate) const fn rows_of(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            ptr: data.as_ptr(),
            rows: match data.len().checked_div(cols) {
                Some(rows) => rows,
                None => 0,
            },
            cols,
            rs: cols,
            cs: 1,
            _life: PhantomData,
        }
    }

    /// The transpose: a `cols × rows` view of the same memory, strides swapped.
    #[must_use]
    pub const fn t(self) -> Self {
        MatRef {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            _life: PhantomData,
        }
    }

    /// Number of rows.
    pub const fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub const fn cols(&self) -> usize {
        self.cols
    }
    /// Distance in elements between `(i, j)` and `(i + 1, j)`.
    pub const fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance in elements between `(i, j)` and `(i, j + 1)`.
    pub const fn col_stride(&self) -> usize {
        self.cs
    }

    /// Element `(i, j)`, or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        if i < self.rows && j < self.cols {
            // SAFETY: `i < rows, j < cols`, and the constructor proved every such index
            // is inside the borrowed slice.
            Some(unsafe { *self.ptr.add(i * self.rs + j * self.cs) })
        } else {
            None
        }
    }

    /// Pointer to element (0, 0). Every `(i, j)` with `i < rows`, `j < cols` is readable
    /// at `ptr + i * row_stride + j * col_stride` for the lifetime `'a`.
    pub(crate) const fn ptr(&self) -> *const f32 {
        self.ptr
    }
}

/// A mutable strided view of an `f32` matrix.
///
/// Besides fitting in the slice (as for [`MatRef`]), the strides must keep every element
/// at its own address: either `col_stride ≥ 1` and `row_stride ≥ (cols−1)·col_stride + 1`
/// (row-major-like) or the same with rows and columns swapped. Row-major, column-major and
/// every sub-block of them qualify.
#[derive(Debug)]
pub struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _life: PhantomData<&'a mut [f32]>,
}

// SAFETY: a `MatMut` is an exclusive borrow of `[f32]` in disguise; `&mut [f32]` is Send + Sync.
unsafe impl Send for MatMut<'_> {}
// SAFETY: as above.
unsafe impl Sync for MatMut<'_> {}

const fn distinct(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    // An empty matrix has no two elements to collide (`row_major(data, 5, 0)` has stride 0).
    if rows == 0 || cols == 0 || (rows == 1 && cols == 1) {
        return true;
    }
    if rows <= 1 {
        return cs >= 1;
    }
    if cols <= 1 {
        return rs >= 1;
    }
    // Row-major-like: each row fits between the starts of two rows.
    let row_like = cs >= 1
        && match (cols - 1).checked_mul(cs) {
            Some(w) => rs > w,
            None => false,
        };
    let col_like = rs >= 1
        && match (rows - 1).checked_mul(rs) {
            Some(h) => cs > h,
            None => false,
        };
    row_like || col_like
}

impl<'a> MatMut<'a> {
    /// A mutable `rows × cols` view of `data`; element `(i, j)` is
    /// `data[i * row_stride + j * col_stride]`.
    ///
    /// # Errors
    /// As [`MatRef::new`], plus [`Error::OverlappingStrides`] if two elements would share an
    /// address (see the type's docs).
    pub fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, Error> {
        span(data.len(), rows, cols, row_stride, col_stride, "MatMut")?;
        if !distinct(rows, cols, row_stride, col_stride) {
            return Err(Error::OverlappingStrides {
                row_stride,
                col_stride,
            });
        }
        Ok(MatMut {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
            _life: PhantomData,
        })
    }

    /// [`MatRef::rows_of`], writable: `data` as whole row-major rows of `cols` values
    /// (distinct elements: row stride `cols`, column stride 1).
    pub(crate) fn rows_of(data: &'a mut [f32], cols: usize) -> Self {
        MatMut {
            ptr: data.as_mut_ptr(),
            rows: data.len().checked_div(cols).unwrap_or_default(),
            cols,
            rs: cols,
            cs: 1,
            _life: PhantomData,
        }
    }

    /// A row-major `rows × cols` view (row stride `cols`, column stride 1).
    ///
    /// # Errors
    /// As [`MatMut::new`].
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose: a `cols × rows` view of the same memory, strides swapped.
    #[must_use]
    pub fn t(self) -> Self {
        MatMut {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            _life: PhantomData,
        }
    }

    /// A shorter-lived mutable view of the same matrix.
    pub fn rb_mut(&mut self) -> MatMut<'_> {
        MatMut {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
            _life: PhantomData,
        }
    }

    /// A read-only view of the same matrix.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
            _life: PhantomData,
        }
    }

    /// Number of rows.
    pub const fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub const fn cols(&self) -> usize {
        self.cols
    }
    /// Distance in elements between `(i, j)` and `(i + 1, j)`.
    pub const fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance in elements between `(i, j)` and `(i, j + 1)`.
    pub const fn col_stride(&self) -> usize {
        self.cs
    }

    /// Element `(i, j)`, or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        self.as_ref().get(i, j)
    }

    /// Sets element `(i, j)`; returns `false` (and writes nothing) outside the matrix.
    pub fn set(&mut self, i: usize, j: usize, value: f32) -> bool {
        if i < self.rows && j < self.cols {
            // SAFETY: in bounds by the constructor's check; `&mut self` makes the write exclusive.
            unsafe { *self.ptr.add(i * self.rs + j * self.cs) = value };
            true
        } else {
            false
        }
    }

    /// Pointer to element (0, 0); every in-range `(i, j)` is writable, each at its own
    /// address, for the lifetime of the borrow.
    pub(crate) fn ptr_mut(&mut self) -> *mut f32 {
        self.ptr
    }
}
