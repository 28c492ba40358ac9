//! `graph::Graph` driven by a random program: inputs of random (zero, huge) shapes,
//! every gate over random (often mismatched) operands, handles from another graph,
//! `forward`, `backward` from random nodes, `set_value`, `sgd_update` with hostile
//! learning rates, reads, all over small node stores and arenas so that `GraphFull` and
//! `ArenaFull` happen, on a fuzzed instruction set.
//!
//! Properties:
//! * Nothing panics, and the graph never reports its "internal arena layout
//!   inconsistent" error.
//! * Every creation returns exactly what a shadow model of the documented rules predicts:
//!   `InvalidArgument` for a foreign handle, `ShapeMismatch` for operands that do not
//!   fit, `GraphFull { capacity }`, `Overflow`, `ArenaFull { needed }` with the
//!   documented arena arithmetic; `len()` and `arena_needed()` follow the model.
//! * After `forward`, add/mul/max/add_bias outputs equal the f32 operation on the input
//!   values exactly, `exp` within 2 ULP.
//! * After `backward(out)`, `grad(out) == [1.0]` and every later node's gradient is zero.
#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{dim, isa, scalar};
use libfuzzer_sys::fuzz_target;
use microprop::Activation;
use microprop::Error;
use microprop::graph::{Graph, Node, Tensor, matmul_scratch_len};
use microprop::simd::with_isa;

#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // operands kept for Debug output
enum Op {
    Input,
    Add(usize, usize),
    AddBias(usize, usize),
    Mul(usize, usize),
    MatMul(usize, usize),
    Max(usize, usize),
    Exp(usize),
    Act(usize),
    Sq(usize, usize),
}

#[derive(Clone, Copy, Debug)]
struct Shadow {
    op: Op,
    rows: usize,
    cols: usize,
}

struct Model {
    nodes: Vec<Shadow>,
    capacity: usize,
    arena: usize,
    used: usize,
    scratch: usize,
}

impl Model {
    /// What `push` must return for a new node, updating the model on success.
    fn push(&mut self, op: Op, rows: usize, cols: usize, scratch: usize) -> Result<usize, Error> {
        if self.nodes.len() >= self.capacity {
            return Err(Error::GraphFull {
                capacity: self.capacity,
            });
        }
        let overflow = Error::Overflow {
            what: "graph: tensor size",
        };
        let two_n = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(2))
            .ok_or(overflow)?;
        let used = self.used.checked_add(two_n).ok_or(overflow)?;
        let sc = self.scratch.max(scratch);
        let needed = used.checked_add(sc).ok_or(overflow)?;
        if needed > self.arena {
            return Err(Error::ArenaFull {
                needed,
                len: self.arena,
            });
        }
        self.used = used;
        self.scratch = sc;
        self.nodes.push(Shadow { op, rows, cols });
        Ok(self.nodes.len() - 1)
    }
}

fn not_internal<T>(r: &Result<T, Error>) {
    if let Err(Error::InvalidArgument { what }) = r {
        assert!(
            !what.contains("internal"),
            "graph reported an internal error: {what}"
        );
    }
}

fn is_foreign(r: &Result<impl core::fmt::Debug, Error>) -> bool {
    matches!(r, Err(Error::InvalidArgument { what }) if what.contains("another graph"))
}

fn mismatch<T: core::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::ShapeMismatch { .. }))
}

fn run(u: &mut Unstructured) {
    let capacity = u.arbitrary::<u8>().unwrap_or(0) as usize % 14;
    let arena_len = u.arbitrary::<u16>().unwrap_or(0) as usize % 1200;
    let mut nodes = vec![Node::EMPTY; capacity];
    let mut arena = vec![f32::NAN; arena_len];
    let mut other_nodes = [Node::EMPTY; 4];
    let mut other_arena = [0.0f32; 64];
    let mut other = Graph::new(&mut other_nodes, &mut other_arena);
    let foreign: Vec<Tensor> = (0..3).filter_map(|i| other.input(1, i + 1).ok()).collect();
    let mut g = Graph::new(&mut nodes, &mut arena);
    let mut m = Model {
        nodes: Vec::new(),
        capacity,
        arena: arena_len,
        used: 0,
        scratch: 0,
    };
    let mut own: Vec<Tensor> = Vec::new();

    // A handle: one of ours (index into `own`) or a foreign one (None).
    let pick = |u: &mut Unstructured, own: &Vec<Tensor>| -> (Tensor, Option<usize>) {
        let sel: u8 = u.arbitrary().unwrap_or(0);
        if own.is_empty() || sel >= 236 {
            (foreign[sel as usize % foreign.len()], None)
        } else {
            let i = sel as usize % own.len();
            (own[i], Some(i))
        }
    };

    for _ in 0..u.arbitrary::<u8>().unwrap_or(0) % 40 {
        let Ok(code) = u.arbitrary::<u8>() else { break };
        match code % 16 {
            // inputs
            0 | 1 => {
                let (rows, cols) = (dim(u, 4, 12), dim(u, 4, 12));
                let want = m.push(Op::Input, rows, cols, 0);
                let r = if code % 16 == 0 {
                    g.input(rows, cols)
                } else {
                    let v = scalar(u);
                    if rows.checked_mul(cols) == Some(1) {
                        g.input_from(rows, cols, &[v])
                    } else {
                        let r = g.input_from(rows, cols, &[v]);
                        assert!(
                            mismatch(&r),
                            "input_from with 1 value for {rows}x{cols}: {r:?}"
                        );
                        if let Ok(i) = want {
                            m.nodes.pop();
                            // Roll back the model: nothing was created.
                            let two_n = rows * cols * 2;
                            m.used -= two_n;
                            let _ = i;
                            m.scratch = recompute_scratch(&m);
                        }
                        continue;
                    }
                };
                check_push(&r, &want);
                if let Ok(t) = r {
                    own.push(t);
                }
            }
            // binary gates
            2..=6 | 9 => {
                let ((x, xi), (y, yi)) = (pick(u, &own), pick(u, &own));
                let (Some(xi), Some(yi)) = (xi, yi) else {
                    let r = match code % 16 {
                        2 => g.add(x, y),
                        3 => g.add_bias(x, y),
                        4 => g.mul(x, y),
                        5 => g.matmul(x, y),
                        6 => g.max(x, y),
                        _ => g.squared_error(x, y),
                    };
                    assert!(is_foreign(&r), "foreign handle accepted: {r:?}");
                    continue;
                };
                let (a, b) = (m.nodes[xi], m.nodes[yi]);
                let same = (a.rows, a.cols) == (b.rows, b.cols);
                let (r, want) = match code % 16 {
                    2 => (
                        g.add(x, y),
                        if same {
                            m.push(Op::Add(xi, yi), a.rows, a.cols, 0)
                        } else {
                            Err(sm())
                        },
                    ),
                    3 => (
                        g.add_bias(x, y),
                        if (b.rows, b.cols) == (1, a.cols) {
                            m.push(Op::AddBias(xi, yi), a.rows, a.cols, a.cols)
                        } else {
                            Err(sm())
                        },
                    ),
                    4 => (
                        g.mul(x, y),
                        if same {
                            m.push(Op::Mul(xi, yi), a.rows, a.cols, 0)
                        } else {
                            Err(sm())
                        },
                    ),
                    5 => (
                        g.matmul(x, y),
                        if b.rows == a.cols {
                            let s = matmul_scratch_len(a.rows, a.cols, b.cols);
                            m.push(Op::MatMul(xi, yi), a.rows, b.cols, s)
                        } else {
                            Err(sm())
                        },
                    ),
                    6 => (
                        g.max(x, y),
                        if same {
                            m.push(Op::Max(xi, yi), a.rows, a.cols, 0)
                        } else {
                            Err(sm())
                        },
                    ),
                    _ => (
                        g.squared_error(x, y),
                        if same {
                            m.push(Op::Sq(xi, yi), 1, 1, a.rows.saturating_mul(a.cols))
                        } else {
                            Err(sm())
                        },
                    ),
                };
                check_push(&r, &want);
                if let Ok(t) = r {
                    own.push(t);
                }
            }
            // unary gates
            7 | 8 => {
                let (x, xi) = pick(u, &own);
                let all = Activation::ALL;
                let act = all[u.arbitrary::<u8>().unwrap_or(0) as usize % all.len()];
                let r = match (code % 16, u.arbitrary::<u8>().unwrap_or(0) % 4) {
                    (7, _) => g.exp(x),
                    (_, 0) => g.activation(act, x),
                    (_, 1) => g.sigmoid(x),
                    (_, 2) => g.relu(x),
                    _ => g.tanh(x),
                };
                let Some(xi) = xi else {
                    assert!(is_foreign(&r), "foreign handle accepted: {r:?}");
                    continue;
                };
                let a = m.nodes[xi];
                let want = if code % 16 == 7 {
                    m.push(Op::Exp(xi), a.rows, a.cols, 0)
                } else {
                    m.push(Op::Act(xi), a.rows, a.cols, a.rows.saturating_mul(a.cols))
                };
                check_push(&r, &want);
                if let Ok(t) = r {
                    own.push(t);
                }
            }
            10 => {
                let r = g.forward();
                assert_eq!(r, Ok(()), "forward");
                check_forward(&g, &m, &own);
            }
            11 => {
                let (t, ti) = pick(u, &own);
                let r = g.backward(t);
                not_internal(&r);
                match ti {
                    None => assert!(is_foreign(&r)),
                    Some(i) if (m.nodes[i].rows, m.nodes[i].cols) != (1, 1) => {
                        assert!(mismatch(&r), "{r:?}")
                    }
                    Some(i) => {
                        assert_eq!(r, Ok(()), "backward");
                        assert_eq!(g.grad(t).unwrap(), &[1.0], "seed gradient");
                        for later in &own[i + 1..] {
                            assert!(
                                g.grad(*later).unwrap().iter().all(|&v| v == 0.0),
                                "later node got a gradient"
                            );
                        }
                    }
                }
            }
            12 => {
                let (t, ti) = pick(u, &own);
                let (v, gr, s) = (g.value(t), g.grad(t), g.shape(t));
                match ti {
                    None => assert!(is_foreign(&v) && is_foreign(&gr) && is_foreign(&s)),
                    Some(i) => {
                        let (r, c) = (m.nodes[i].rows, m.nodes[i].cols);
                        assert_eq!(s, Ok((r, c)));
                        assert_eq!(v.unwrap().len(), r * c);
                        assert_eq!(gr.unwrap().len(), r * c);
                    }
                }
            }
            13 => {
                let (t, ti) = pick(u, &own);
                let n = u.arbitrary::<u8>().unwrap_or(0) as usize % 40;
                let vals: Vec<f32> = (0..n).map(|_| scalar(u)).collect();
                let r = g.set_value(t, &vals);
                not_internal(&r);
                match ti {
                    None => assert!(is_foreign(&r)),
                    Some(i) if m.nodes[i].rows.checked_mul(m.nodes[i].cols) == Some(n) => {
                        assert_eq!(r, Ok(()));
                        assert!(
                            g.value(t)
                                .unwrap()
                                .iter()
                                .zip(&vals)
                                .all(|(a, b)| a.to_bits() == b.to_bits())
                        );
                    }
                    Some(_) => assert!(mismatch(&r), "{r:?}"),
                }
            }
            14 => {
                let (t, ti) = pick(u, &own);
                let lr = scalar(u);
                let r = g.sgd_update(t, lr);
                not_internal(&r);
                match ti {
                    None => assert!(is_foreign(&r)),
                    Some(_) if !lr.is_finite() => {
                        assert!(matches!(r, Err(Error::NonFinite { .. })), "{r:?}")
                    }
                    Some(_) => assert_eq!(r, Ok(())),
                }
            }
            _ => {
                // A handle of another graph whose index may be in range here too.
                let r = g.value(foreign[0]);
                assert!(is_foreign(&r));
            }
        }
        assert_eq!(g.len(), m.nodes.len());
        assert_eq!(g.arena_needed(), m.used + m.scratch);
    }
    // Always finish with a full pass.
    assert_eq!(g.forward(), Ok(()));
    check_forward(&g, &m, &own);
    if let Some(i) = (0..own.len())
        .rev()
        .find(|&i| (m.nodes[i].rows, m.nodes[i].cols) == (1, 1))
    {
        assert_eq!(g.backward(own[i]), Ok(()));
        assert_eq!(g.grad(own[i]).unwrap(), &[1.0]);
    }
    drop(g);
    drop(other);
}

fn sm() -> Error {
    Error::ShapeMismatch {
        what: "",
        expected: (0, 0),
        found: (0, 0),
    }
}

fn recompute_scratch(m: &Model) -> usize {
    // Only called to undo an input (scratch 0), so the maximum over the remaining nodes
    // is what it was; the model keeps it as is.
    m.scratch
}

/// The graph's result must match the model's prediction (shape errors by kind).
fn check_push(r: &Result<Tensor, Error>, want: &Result<usize, Error>) {
    not_internal(r);
    match (r, want) {
        (Ok(t), Ok(i)) => assert_eq!(t.index(), *i),
        (Err(Error::ShapeMismatch { .. }), Err(Error::ShapeMismatch { .. })) => {}
        (Err(e), Err(w)) => assert_eq!(e, w),
        _ => panic!("graph returned {r:?}, model predicts {want:?}"),
    }
}

/// Local consistency of the last forward pass: each elementwise gate's output from its
/// inputs' values.
fn check_forward(g: &Graph, m: &Model, own: &[Tensor]) {
    for (i, s) in m.nodes.iter().enumerate() {
        let z = g.value(own[i]).unwrap();
        let val = |j: usize| g.value(own[j]).unwrap();
        let same = |f: &dyn Fn(f32, f32) -> f32, a: usize, b: usize| {
            for ((&z, &x), &y) in z.iter().zip(val(a)).zip(val(b)) {
                let w = f(x, y);
                assert!(
                    z.to_bits() == w.to_bits() || (z.is_nan() && w.is_nan()),
                    "{:?}: {z} vs {w}",
                    s.op
                );
            }
        };
        match s.op {
            Op::Add(a, b) => same(&|x, y| x + y, a, b),
            Op::Mul(a, b) => same(&|x, y| x * y, a, b),
            Op::Max(a, b) => same(
                &|x, y| {
                    if x.is_nan() || y.is_nan() {
                        f32::NAN
                    } else if x >= y {
                        x
                    } else {
                        y
                    }
                },
                a,
                b,
            ),
            Op::AddBias(a, b) => {
                let (x, bias) = (val(a), val(b));
                for (p, (&z, &x)) in z.iter().zip(x).enumerate() {
                    let w = x + bias[p % s.cols];
                    assert!(
                        z.to_bits() == w.to_bits() || (z.is_nan() && w.is_nan()),
                        "add_bias: {z} vs {w}"
                    );
                }
            }
            Op::Exp(a) => {
                for (&z, &x) in z.iter().zip(val(a)) {
                    let w = (x as f64).exp();
                    if w.is_finite() && w < f32::MAX as f64 && x.is_finite() {
                        let tol = 2.0 * f32::EPSILON as f64 * w + 1e-44;
                        assert!((z as f64 - w).abs() <= tol, "exp({x}) = {z}, want {w}");
                    }
                }
            }
            Op::Input | Op::Act(_) | Op::MatMul(..) | Op::Sq(..) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let isa = isa(&mut u);
    with_isa(isa, || run(&mut u)).unwrap();
});
