//! Flatten: an `h × w × c` example as `1 × 1 × h·w·c` features, in the order they are
//! stored (`[y][x][channel]`). After the first layer of a network it moves no data: its
//! output and its delta are its input's (the network gives it no storage); as the first
//! layer, or as the last, it copies.

use super::{Cx, Needs, Prev, Shape, ShapeError};
use crate::Error;

/// `1 × 1 × h·w·c`.
pub(super) const fn out_shape(input: Shape) -> Result<Shape, ShapeError> {
    Ok(Shape::flat(input.len()))
}

/// Nothing beyond its output.
pub(super) const fn needs(input: Shape) -> Needs {
    let _ = input;
    Needs::NONE
}

/// `out = x` (the same values, read as features).
pub(super) fn forward(input: Shape, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let _ = input;
    out.copy_from_slice(x);
    Ok(())
}

/// `dx = dout ⊙ prev.act'(prev.out)`.
pub(super) fn backward_input(
    cx: Cx<'_>,
    input: Shape,
    dout: &[f32],
    prev: Prev<'_>,
    dx: &mut [f32],
) -> Result<(), Error> {
    let _ = input;
    dx.copy_from_slice(dout);
    prev.apply(cx, dx)
}
