//! What happens to a tile of C after `α·AB + β·C`, while it is still in registers: the
//! safe, borrowed form callers pass ([`Epi`]) and the raw form the kernels read
//! ([`Epilogue`]), made from it only after [`gemm_fused`](super::gemm_fused) has checked
//! its operands against C's shape.

use crate::{Activation, Error, MatRef};

/// The epilogue of a fused GEMM, with its operands borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epi<'a> {
    /// Nothing: plain `C ← α·AB + β·C`.
    None,
    /// `C[i][j] ← act(C[i][j] + bias[j])` (a forward layer); without a bias,
    /// `C[i][j] ← act(C[i][j])`. The bias holds exactly `n` values.
    BiasAct {
        /// The activation applied last.
        act: Activation,
        /// One value per column of C, or none.
        bias: Option<&'a [f32]>,
    },
    /// `C[i][j] ← C[i][j] · act'(h[i][j])`, `h` being the activation's output (backward
    /// through a layer), then entries below [`FLUSH_BELOW`](crate::simd::FLUSH_BELOW)
    /// in magnitude flushed to zero. `h` is `m × n` like C, with contiguous rows.
    MulDeriv {
        /// The activation whose derivative is taken.
        act: Activation,
        /// The activation's output, same shape as C.
        h: MatRef<'a>,
    },
}

impl<'a> Epi<'a> {
    /// Checks the epilogue's operands against an `m × n` C.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the bias does not hold `n` values, or `h` is not `m × n`
    /// with contiguous rows (column stride 1; any stride when `n ≤ 1`).
    pub(crate) fn check(&self, m: usize, n: usize) -> Result<(), Error> {
        match *self {
            Epi::None | Epi::BiasAct { bias: None, .. } => Ok(()),
            Epi::BiasAct { bias: Some(b), .. } => {
                if b.len() == n {
                    Ok(())
                } else {
                    Err(Error::ShapeMismatch {
                        what: "gemm epilogue: the bias must hold c.cols() values",
                        expected: (1, n),
                        found: (1, b.len()),
                    })
                }
            }
            Epi::MulDeriv { h, .. } => {
                if h.rows() != m || h.cols() != n {
                    return Err(Error::ShapeMismatch {
                        what: "gemm epilogue: h must be c.rows() x c.cols()",
                        expected: (m, n),
                        found: (h.rows(), h.cols()),
                    });
                }
                if n > 1 && m > 0 && h.col_stride() != 1 {
                    return Err(Error::ShapeMismatch {
                        what: "gemm epilogue: h must have contiguous rows (column stride 1)",
                        expected: (h.row_stride(), 1),
                        found: (h.row_stride(), h.col_stride()),
                    });
                }
                Ok(())
            }
        }
    }

    /// The raw form for the kernels. Its pointers are valid for an `m × n` C only when
    /// [`Epi::check`]`(m, n)` passed, and for as long as `'a`.
    pub(crate) fn raw(&self) -> Epilogue {
        match *self {
            Epi::None => Epilogue::None,
            Epi::BiasAct { act, bias } => Epilogue::BiasAct {
                act,
                has_bias: bias.is_some(),
                bias: bias.map_or(core::ptr::null(), <[f32]>::as_ptr),
            },
            Epi::MulDeriv { act, h } => Epilogue::MulDeriv {
                act,
                h: h.ptr(),
                // Unused (only row 0 is read) when there is at most one row; the view
                // leaves it unchecked then, so it could overflow `row · h_rs`.
                h_rs: if h.rows() <= 1 { 0 } else { h.row_stride() },
            },
        }
    }
}

/// The raw epilogue the kernels read: [`Epi`] with its borrows turned into pointers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epilogue {
    /// Nothing.
    None,
    /// `C[i][j] ← act(C[i][j] + bias[j])` (forward layer). `bias` is read for `n` values
    /// when `has_bias`.
    BiasAct {
        act: Activation,
        has_bias: bool,
        bias: *const f32,
    },
    /// `C[i][j] ← C[i][j] · act'(h[i][j])` where `h` (row stride `h_rs`, contiguous rows,
    /// same shape as C) is the activation's output (backward through a layer).
    MulDeriv {
        act: Activation,
        h: *const f32,
        h_rs: usize,
    },
}

impl Epilogue {
    /// The epilogue of the block of C that starts at `(row0, col0)`: its operands moved
    /// along to that block.
    pub(crate) fn moved(&self, row0: usize, col0: usize) -> Epilogue {
        match *self {
            Epilogue::None => Epilogue::None,
            Epilogue::BiasAct {
                act,
                has_bias,
                bias,
            } => Epilogue::BiasAct {
                act,
                has_bias,
                bias: bias.wrapping_add(col0),
            },
            Epilogue::MulDeriv { act, h, h_rs } => Epilogue::MulDeriv {
                act,
                h: h.wrapping_add(row0 * h_rs + col0),
                h_rs,
            },
        }
    }
    /// The bias of columns `col0..`, if there is one.
    pub(crate) fn bias_ptr_opt(&self, col0: usize) -> Option<*const f32> {
        match *self {
            Epilogue::BiasAct {
                has_bias: true,
                bias,
                ..
            } => Some(bias.wrapping_add(col0)),
            _ => None,
        }
    }
    /// `h` at `(row, col0)`, if the epilogue has one.
    pub(crate) fn h_ptr_opt(&self, row: usize, col0: usize) -> Option<*const f32> {
        match *self {
            Epilogue::MulDeriv { h, h_rs, .. } => Some(h.wrapping_add(row * h_rs + col0)),
            _ => None,
        }
    }
}
