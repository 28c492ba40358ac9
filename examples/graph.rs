//! The lecture's circuits as a computational graph in fixed storage: `f = (x + y)·z` and
//! the 2-input sigmoid neuron `f = σ(w0·x0 + w1·x1 + w2)`, forward and backward.
//!
//! Run with `cargo run --example graph`.

use microprop::Error;
use microprop::graph::{Graph, Node};

fn main() -> Result<(), Error> {
    // f(x, y, z) = (x + y)·z at x = −2, y = 5, z = −4.
    let mut nodes = [Node::EMPTY; 8];
    let mut arena = [0.0f32; 16];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let x = g.scalar(-2.0)?;
    let y = g.scalar(5.0)?;
    let z = g.scalar(-4.0)?;
    let q = g.add(x, y)?; // add gate: distributes the gradient
    let f = g.mul(q, z)?; // multiply gate: swaps its inputs in backward
    g.forward()?;
    g.backward(f)?;
    println!("f = (x + y)·z");
    println!("  q = x + y = {}, f = {}", g.value(q)?[0], g.value(f)?[0]);
    println!(
        "  df/dx = {}, df/dy = {}, df/dz = {}, df/dq = {}",
        g.grad(x)?[0],
        g.grad(y)?[0],
        g.grad(z)?[0],
        g.grad(q)?[0]
    );
    println!("  arena used: {} floats", g.arena_needed());

    // The sigmoid neuron, w = [2, −3, −3], x = [−1, −2].
    let mut nodes = [Node::EMPTY; 16];
    let mut arena = [0.0f32; 32];
    let mut g = Graph::new(&mut nodes, &mut arena);
    let w0 = g.scalar(2.0)?;
    let x0 = g.scalar(-1.0)?;
    let w1 = g.scalar(-3.0)?;
    let x1 = g.scalar(-2.0)?;
    let w2 = g.scalar(-3.0)?;
    let a = g.mul(w0, x0)?;
    let b = g.mul(w1, x1)?;
    let s = g.add(a, b)?;
    let dot = g.add(s, w2)?;
    let out = g.sigmoid(dot)?;
    g.forward()?;
    g.backward(out)?;
    println!("f = σ(w0·x0 + w1·x1 + w2)");
    println!(
        "  w0·x0 + w1·x1 + w2 = {}, f = {:.4}",
        g.value(dot)?[0],
        g.value(out)?[0]
    );
    println!(
        "  dw = [{:.4}, {:.4}, {:.4}], dx = [{:.4}, {:.4}]",
        g.grad(w0)?[0],
        g.grad(w1)?[0],
        g.grad(w2)?[0],
        g.grad(x0)?[0],
        g.grad(x1)?[0]
    );
    Ok(())
}
