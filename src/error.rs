//! The one error type of the crate.

use core::fmt;

/// Everything that can go wrong in a public microprop function.
///
/// Every variant names what to fix: the expected and found shapes, or the length a buffer
/// must have. Functions validate their inputs before they write anything, so an `Err`
/// means nothing the caller owns was changed (the few documented exceptions say so).
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Two operands whose shapes must agree do not.
    ShapeMismatch {
        /// Which operand or relation, e.g. `"gemm: a.cols != b.rows"`.
        what: &'static str,
        /// The shape (rows, cols) that was required.
        expected: (usize, usize),
        /// The shape (rows, cols) that was given.
        found: (usize, usize),
    },
    /// A slice is shorter than the shape (and strides) placed on it need.
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// The length the buffer must have at least.
        needed: usize,
        /// The length it has.
        len: usize,
    },
    /// The caller's workspace is too short; give it at least `needed` elements.
    WorkspaceTooSmall {
        /// The workspace length needed.
        needed: usize,
        /// The length given.
        len: usize,
        /// The `const fn` that sizes this workspace, e.g. `"Mlp::workspace_len"`.
        sized_by: &'static str,
    },
    /// A flat buffer of rows is not a whole number of rows long (e.g. an `x` of
    /// `N × d₀` values whose length is no multiple of `d₀`).
    PartialRow {
        /// Which buffer and what its rows are, e.g. `"x (N rows of sizes[0] values)"`.
        what: &'static str,
        /// The length given.
        len: usize,
        /// The length of one row; the buffer's length must be a multiple of it.
        row: usize,
    },
    /// A dimension or stride is so large that an index into the buffer would overflow
    /// `usize`/`isize`.
    Overflow {
        /// Which computation overflowed.
        what: &'static str,
    },
    /// The strides of a mutable view make two of its elements the same memory location.
    OverlappingStrides {
        /// Row stride given.
        row_stride: usize,
        /// Column stride given.
        col_stride: usize,
    },
    /// A value that must be finite (a loss, a gradient, a learning rate) is NaN or infinite.
    NonFinite {
        /// Which value.
        what: &'static str,
    },
    /// The graph's node storage is full.
    GraphFull {
        /// How many nodes the storage holds.
        capacity: usize,
    },
    /// The graph's tensor arena has no room for another tensor.
    ArenaFull {
        /// Elements the arena must hold for the graph built so far plus this tensor.
        needed: usize,
        /// Elements the arena has.
        len: usize,
    },
    /// An argument is outside the values the function accepts (e.g. a network with no layers).
    InvalidArgument {
        /// What is wrong, in words.
        what: &'static str,
    },
    /// An optimizer's state was sized for another parameter count than the parameters
    /// it is given (a stateful optimizer's state length fixes its parameter count).
    StateMismatch {
        /// The entry point that refused, e.g. `"Adam::update"`.
        what: &'static str,
        /// The parameter count given (`params.len()`).
        params: usize,
        /// The state length those parameters need: `sized_by(params)`.
        needed: usize,
        /// The state length the optimizer was given.
        len: usize,
        /// The `const fn` that sizes the state, e.g. `"Adam::state_len"`.
        sized_by: &'static str,
    },
    /// A class label is not below the number of classes (the row length `d` of the
    /// outputs it is compared with, or 2 for a single output: see
    /// [`metrics::classes`](crate::metrics::classes)).
    LabelOutOfRange {
        /// Which label (its row).
        index: usize,
        /// The label given.
        label: u32,
        /// The number of classes; labels must be in `0..classes`.
        classes: usize,
    },
    /// Bytes given as saved weights are not an intact blob written by `Mlp::save` or
    /// `Net::save`: truncated, wrong magic or version, an invalid header or layer record,
    /// or a checksum mismatch (see [`nn::save`](crate::nn::save#what-is-rejected)).
    Corrupt {
        /// What is wrong, in words, e.g. `"checksum mismatch"`.
        what: &'static str,
    },
    /// Intact saved weights belong to a network of another shape (layer count, kinds or
    /// sizes, input shape, activations or bias setting) than the one loading them; or a
    /// safetensors file holds a tensor the network has no place for.
    WrongNetwork {
        /// What differs, in words, e.g. `"its input shape or layer sizes differ"`.
        what: &'static str,
    },
    /// A tensor of a safetensors file does not fit the network loading it (see
    /// [`nn::safetensors`](crate::nn::safetensors)).
    Tensor {
        /// The layer (from 0) of the tensor: `layers.{layer}.{tensor}`.
        layer: usize,
        /// `"weight"` or `"bias"`.
        tensor: &'static str,
        /// What is wrong with it, e.g. `"missing from the file"`.
        what: &'static str,
    },
    /// A layer of a network does not fit its input (or is itself inconsistent), found
    /// when the network was built ([`Net::new`](crate::nn::Net::new)).
    Layer {
        /// The layer's position in the network, from 0.
        index: usize,
        /// Its kind, e.g. `"conv1d"`.
        kind: &'static str,
        /// The shape of its input, `(h, w, c)` (channels last).
        input: (usize, usize, usize),
        /// What is wrong, in words, e.g. `"in_channels must equal the input's channels"`.
        what: &'static str,
    },
    /// A value of a data source is NaN or infinite where the function needs finite data
    /// (e.g. the statistics of [`data::Standardize::fit`](crate::data::Standardize::fit)).
    NonFiniteAt {
        /// Which source, e.g. `"Standardize::fit: x"`.
        what: &'static str,
        /// The row of the source holding it (the row index itself, not its position in
        /// an index slice).
        row: usize,
        /// Its column within the row (from 0).
        col: usize,
    },
    /// A training epoch or an evaluation stopped at a bad value of its data set: which
    /// batch, which row of the data set and which column, and what was kept.
    Data {
        /// `"training epoch"` or `"evaluation"`.
        during: &'static str,
        /// The batch (from 0) that held the row. In an epoch, the batches before it were
        /// trained on and their updates kept; this batch changed nothing.
        batch: usize,
        /// The row of the data set (the index `order` or `rows` gave), not its slot in
        /// the batch.
        row: u32,
        /// The column (feature) of a bad input value; `None` for a label.
        col: Option<usize>,
        /// What is wrong, e.g. `"a NaN or infinite input value"`.
        what: &'static str,
        /// For a label out of range: the label and the number of classes.
        label: Option<(u32, usize)>,
    },
    /// A row index names a row the source does not have.
    RowOutOfRange {
        /// Position of the row index in the index slice.
        index: usize,
        /// The row index found there.
        row: u32,
        /// The number of rows the source holds; row indices must be `0..rows`.
        rows: usize,
    },
}

/// The derived format (`Name { field: value, .. }`, and its `{:#?}` form) from one
/// formatting loop, each variant giving only its name and its fields' names and values: a
/// derived `Debug` inlines the formatting calls into every variant, 10 KB of a Cortex-M4
/// firmware's flash at opt-level 3 (`.ci/firmware.sh`). The patterns name every field,
/// so a new variant or field does not compile until it is listed here.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        macro_rules! fields {
            ($($variant:ident { $($field:ident),* }),* $(,)?) => {
                match self {
                    $(Error::$variant { $($field),* } => debug_struct(
                        f,
                        stringify!($variant),
                        &[$(stringify!($field)),*],
                        &[$($field as &dyn fmt::Debug),*],
                    ),)*
                }
            };
        }
        fields! {
            ShapeMismatch { what, expected, found },
            BufferTooSmall { what, needed, len },
            WorkspaceTooSmall { needed, len, sized_by },
            PartialRow { what, len, row },
            Overflow { what },
            OverlappingStrides { row_stride, col_stride },
            NonFinite { what },
            GraphFull { capacity },
            ArenaFull { needed, len },
            InvalidArgument { what },
            StateMismatch { what, params, needed, len, sized_by },
            LabelOutOfRange { index, label, classes },
            Corrupt { what },
            WrongNetwork { what },
            Tensor { layer, tensor, what },
            Layer { index, kind, input, what },
            NonFiniteAt { what, row, col },
            Data { during, batch, row, col, what, label },
            RowOutOfRange { index, row, rows },
        }
    }
}

/// `name { names[0]: values[0], .. }` as `#[derive(Debug)]` writes a struct.
#[inline(never)]
fn debug_struct(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    names: &[&str],
    values: &[&dyn fmt::Debug],
) -> fmt::Result {
    let mut s = f.debug_struct(name);
    for (field, value) in names.iter().zip(values) {
        s.field(field, value);
    }
    s.finish()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(
                f,
                "shape mismatch ({what}): expected {}x{}, found {}x{}",
                expected.0, expected.1, found.0, found.1
            ),
            Error::BufferTooSmall { what, needed, len } => write!(
                f,
                "buffer `{what}` too small: its length is {len}, it needs at least {needed}"
            ),
            Error::WorkspaceTooSmall {
                needed,
                len,
                sized_by,
            } => write!(
                f,
                "workspace too small: it has {len} elements, give it at least {needed} \
                 (size it with {sized_by})"
            ),
            Error::PartialRow { what, len, row } => write!(
                f,
                "{what}: a length of {len} is not a whole number of rows of {row} \
                 ({} rows and {} values over); give it N·{row} values",
                len / row.max(1),
                len % row.max(1)
            ),
            Error::Overflow { what } => {
                write!(
                    f,
                    "size overflow in {what}: dimensions or strides too large"
                )
            }
            Error::OverlappingStrides {
                row_stride,
                col_stride,
            } => write!(
                f,
                "mutable view with row stride {row_stride} and column stride {col_stride} \
                 maps two elements to one location; use strides that keep elements distinct"
            ),
            Error::NonFinite { what } => {
                write!(f, "non-finite value in {what}; nothing was updated")
            }
            Error::GraphFull { capacity } => write!(
                f,
                "graph node storage full ({capacity} nodes); give the graph a larger node slice"
            ),
            Error::ArenaFull { needed, len } => write!(
                f,
                "graph tensor arena full: it has {len} elements, this graph needs at least {needed}"
            ),
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::StateMismatch {
                what,
                params,
                needed,
                len,
                sized_by,
            } => write!(
                f,
                "{what}: the optimizer state has {len} values, {params} parameters need \
                 {needed}; size it with {sized_by}({params}) (nothing was updated)"
            ),
            Error::LabelOutOfRange {
                index,
                label,
                classes,
            } => write!(
                f,
                "class label {label} at index {index} is out of range: with {classes} classes \
                 (one per output, or 2 for a single output) labels must be in 0..{classes}; \
                 fix the label or give the output layer more outputs"
            ),
            Error::Corrupt { what } => write!(
                f,
                "corrupt saved weights ({what}); nothing was loaded: \
                 restore them from a good copy or save them again"
            ),
            Error::WrongNetwork { what } => write!(
                f,
                "saved weights are from a different network ({what}); nothing was loaded: \
                 load them into a network with the layers and input they were saved with"
            ),
            Error::Tensor {
                layer,
                tensor,
                what,
            } => write!(
                f,
                "safetensors tensor `layers.{layer}.{tensor}`: {what}; nothing was loaded"
            ),
            Error::Layer {
                index,
                kind,
                input,
                what,
            } => write!(
                f,
                "layer {index} ({kind}) on an input of {}x{}x{} (h x w x channels): {what}",
                input.0, input.1, input.2
            ),
            Error::NonFiniteAt { what, row, col } => write!(
                f,
                "non-finite value (NaN or infinite) in {what} at row {row}, column {col}; \
                 nothing was written: fix that value in the data or leave its row out"
            ),
            Error::Data {
                during,
                batch,
                row,
                col,
                what,
                label,
            } => {
                write!(f, "{during} stopped at batch {batch}, data set row {row}")?;
                if let Some(col) = col {
                    write!(f, ", column {col}")?;
                }
                write!(f, ": {what}")?;
                if let Some((label, classes)) = label {
                    write!(
                        f,
                        " (label {label}, {classes} classes: labels must be in 0..{classes})"
                    )?;
                }
                if during == "training epoch" {
                    write!(
                        f,
                        "; the {batch} batches before it were trained on and their updates \
                         kept, this batch changed nothing: fix or leave out that row"
                    )
                } else {
                    write!(f, "; fix or leave out that row")
                }
            }
            Error::RowOutOfRange { index, row, rows } => write!(
                f,
                "row index {row} at position {index} is out of range: the source has {rows} rows"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// The one "workspace too small" check of the crate: a workspace of `len` values where
/// `needed` (from `sized_by`, the routine's `*_workspace_len`) are required.
pub(crate) fn check_workspace(
    needed: usize,
    len: usize,
    sized_by: &'static str,
) -> Result<(), Error> {
    if len < needed {
        return Err(Error::WorkspaceTooSmall {
            needed,
            len,
            sized_by,
        });
    }
    Ok(())
}

/// `len` must be a whole number of rows of `row` values (`row ≥ 1`), else
/// [`Error::PartialRow`] naming `what`.
pub(crate) fn check_rows(what: &'static str, len: usize, row: usize) -> Result<usize, Error> {
    if row == 0 || !len.is_multiple_of(row) {
        return Err(Error::PartialRow { what, len, row });
    }
    Ok(len / row)
}

/// Two lengths that must be equal: `found` where `expected` is required, else
/// [`Error::ShapeMismatch`] naming `what`, with the lengths as `(1, len)` shapes.
pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected: (1, expected),
            found: (1, found),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::Error;
    use std::format;

    /// `Debug` writes what `#[derive(Debug)]` wrote, plain and pretty.
    #[test]
    fn debug_is_the_derived_format() {
        let e = Error::ShapeMismatch {
            what: "gemm: \"a\"",
            expected: (1, 2),
            found: (3, 4),
        };
        assert_eq!(
            format!("{e:?}"),
            r#"ShapeMismatch { what: "gemm: \"a\"", expected: (1, 2), found: (3, 4) }"#
        );
        let e = Error::Data {
            during: "evaluation",
            batch: 2,
            row: 7,
            col: Some(3),
            what: "a NaN",
            label: None,
        };
        assert_eq!(
            format!("{e:?}"),
            r#"Data { during: "evaluation", batch: 2, row: 7, col: Some(3), what: "a NaN", label: None }"#
        );
        assert_eq!(
            format!("{:#?}", Error::ArenaFull { needed: 5, len: 4 }),
            "ArenaFull {\n    needed: 5,\n    len: 4,\n}"
        );
        assert_eq!(
            format!("{:#?}", Error::GraphFull { capacity: 1 }),
            "GraphFull {\n    capacity: 1,\n}"
        );
    }
}
