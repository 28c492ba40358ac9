//! Running a computation's parts on several cores: the [`Executor`] trait, the
//! [`Serial`] executor, and with the `rayon` feature `Rayon`, a rayon thread pool.
//!
//! The split itself is `no_std` code in the kernels: [`gemm_on`](crate::gemm_on) and a
//! network that runs on an executor ([`Mlp::on`](crate::nn::Mlp::on)) cut each large
//! product into disjoint blocks of rows or columns of C, a whole register tile at a time,
//! and hand the blocks to the executor as numbered parts. A part never splits a sum over
//! K, and every element of C gets the same arithmetic whichever part computes it, so
//! **results are bit-identical for any number of parts**, one included. (Only a NaN
//! result can differ in its bits, being a NaN either way: Rust leaves the sign and
//! payload of a NaN produced by arithmetic unspecified, so inputs with NaN or ±∞ may give
//! NaNs of other bits in another part's tile.)
//!
//! Each part packs into its own slice of the workspace, so a workspace for `p` parts is
//! `p` times the one-part packing space ([`gemm_on_workspace_len`](crate::gemm_on_workspace_len),
//! [`Mlp::workspace_len_parts`](crate::nn::Mlp::workspace_len_parts)), sizeable at compile
//! time. A workspace with room for fewer parts than the executor offers runs as many
//! parts as it has room for (one at least): the results are the same, only slower.
//! Products too small to gain from another core ([`Executor::min_work`], by default
//! [`PAR_MIN_WORK`]) run as one part on the calling thread.
//!
//! Any executor can run the parts: a dual-core microcontroller (an RP2040, an STM32H7)
//! implements [`Executor::run`] by starting some parts on its second core and running the
//! rest on the first, then waiting; nothing here needs `std` or an allocator. The trait
//! is `unsafe` to implement: the kernels trust an executor never to run a part twice at
//! the same time and to wait for every part before it returns (see [`Executor`]'s safety
//! section).
//!
//! ```
//! use microprop::{gemm_on, gemm_on_workspace_len, MatMut, MatRef, par::Serial};
//! let (m, k, n) = (24, 30, 20);
//! let a = vec![0.5f32; m * k];
//! let b = vec![0.25f32; k * n];
//! let mut c = vec![0.0f32; m * n];
//! // Two parts run one after the other (for a product of any size): the same bits as
//! // one part.
//! let two = Serial::new(2).with_min_work(0);
//! let mut ws = vec![0.0; gemm_on_workspace_len(m, k, n, two.parts())];
//! gemm_on(&two, 1.0, MatRef::row_major(&a, m, k)?, MatRef::row_major(&b, k, n)?, 0.0,
//!         MatMut::row_major(&mut c, m, n)?, &mut ws)?;
//! assert!(c.iter().all(|&v| v == 3.75));
//! # Ok::<(), microprop::Error>(())
//! ```

/// Runs the numbered parts of a computation, perhaps at the same time on several cores.
///
/// # Safety
/// The kernels hand [`run`](Executor::run) parts that write disjoint blocks of the
/// caller's memory through raw pointers. An implementation must:
///
/// * **never run the same part twice at the same time** (that is a data race: undefined
///   behaviour), and
/// * **return only after every call of `part` has returned**, with its effects visible to
///   the caller (as joining a thread, a rayon `join`, or a multicore FIFO handshake with
///   a memory barrier makes them); a part still running after `run` returns writes into
///   memory the caller owns again (undefined behaviour).
///
/// To compute the right result it must also call `part(i)` exactly once for each
/// `i < parts`: a skipped part leaves its block of C unwritten, a repeated one (after
/// the first returned) applies `β` twice; neither is undefined behaviour, and calls
/// with `i ≥ parts` are ignored. Any order and any overlap in time of different parts is
/// fine. A part never panics on the kernels' own account. [`parts`](Executor::parts) and
/// [`min_work`](Executor::min_work) may return anything (0 parts counts as 1): they only
/// choose how the work is cut.
///
/// With `std`, scoped threads keep this contract with no other unsafe code:
///
/// ```
/// use microprop::par::Executor;
/// /// Runs part 0 on the calling thread and every other part on a thread of its own.
/// struct Scoped(usize);
/// // SAFETY: each part runs once; the scope joins every thread before `run` returns.
/// unsafe impl Executor for Scoped {
///     fn parts(&self) -> usize {
///         self.0
///     }
///     fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
///         std::thread::scope(|s| {
///             for i in 1..parts {
///                 s.spawn(move || part(i));
///             }
///             part(0);
///         });
///     }
/// }
/// # use microprop::{gemm_on, gemm_on_workspace_len, MatMut, MatRef};
/// # let (m, k, n) = (16, 8, 12);
/// # let (a, b, mut c) = (vec![1.0f32; m * k], vec![1.0f32; k * n], vec![0.0f32; m * n]);
/// # let mut ws = vec![0.0; gemm_on_workspace_len(m, k, n, 2)];
/// # let two = Scoped(2);
/// # gemm_on(&two, 1.0, MatRef::row_major(&a, m, k)?, MatRef::row_major(&b, k, n)?, 0.0,
/// #         MatMut::row_major(&mut c, m, n)?, &mut ws)?;
/// # assert!(c.iter().all(|&v| v == 8.0));
/// # Ok::<(), microprop::Error>(())
/// ```
///
/// (Spawning threads allocates; a pool such as `Rayon`'s does not.) A firmware
/// executor that starts parts on a second core sends it `&part` (a reference to the
/// two-word `&dyn Fn`, e.g. through the inter-core FIFO), which core 1 calls before it
/// signals back; since its runtime wants `'static` closures, that takes a lifetime
/// transmute, the implementation's own `unsafe`, sound because `run` waits for the
/// signal before returning. Each part is one GEMM block on the core that runs it: its
/// stack is that of [`gemm`](crate::gemm) (a training step's peak is printed by this
/// crate's firmware CI).
pub unsafe trait Executor: Sync {
    /// How many parts this executor runs at once (its threads or cores). The kernels
    /// split work into at most this many parts (0 counts as 1).
    fn parts(&self) -> usize;

    /// Least work (`m·k·n` multiply-adds) of a product worth splitting on this executor;
    /// smaller products run as one part on the calling thread. [`PAR_MIN_WORK`] unless
    /// the executor says otherwise: one whose parts start in a microsecond can take less.
    fn min_work(&self) -> usize {
        PAR_MIN_WORK
    }

    /// Calls `part(0)`, …, `part(parts − 1)`, each once, and returns when all are done.
    fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync));
}

/// Runs the parts one after another on the calling thread.
///
/// [`Serial::ONE`] (what a network uses unless given another executor) does not split at
/// all; `Serial::new(p)` splits into `p` parts and runs them in turn, which computes the
/// same bits as any other executor with `p` parts: a way to test a split, or to run it
/// under Miri.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serial {
    parts: usize,
    min_work: usize,
}

impl Serial {
    /// One part: no split.
    pub const ONE: Serial = Serial::new(1);

    /// `parts` parts (0 counts as 1), run in turn, for products of at least
    /// [`PAR_MIN_WORK`].
    pub const fn new(parts: usize) -> Serial {
        Serial {
            parts: if parts == 0 { 1 } else { parts },
            min_work: PAR_MIN_WORK,
        }
    }

    /// The same, splitting products of at least `min_work` multiply-adds (0: every
    /// product, as tests of the split want).
    pub const fn with_min_work(self, min_work: usize) -> Serial {
        Serial { min_work, ..self }
    }

    /// The number of parts (at least 1); also [`Executor::parts`].
    pub const fn parts(&self) -> usize {
        self.parts
    }
}

impl Default for Serial {
    fn default() -> Self {
        Serial::ONE
    }
}

// SAFETY: each part is called once, in turn, on the calling thread, before `run` returns.
unsafe impl Executor for Serial {
    fn parts(&self) -> usize {
        self.parts
    }
    fn min_work(&self) -> usize {
        self.min_work
    }
    fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        for i in 0..parts {
            part(i);
        }
    }
}

/// Runs the parts on a rayon thread pool that the caller builds once (`rayon` feature).
///
/// [`Executor::parts`] is the pool's thread count. The parts run by a tree of
/// `rayon::join`, which allocates nothing; called from outside the pool (including from
/// a worker of another pool, which blocks meanwhile), each run first enters it by
/// `ThreadPool::install`, whose job queue allocates a block once every 63 entries. So for a training loop that allocates nothing after its first step,
/// run the loop itself inside the pool:
///
/// ```
/// # #[cfg(feature = "rayon")] {
/// use microprop::{Activation::*, nn::Mlp, par::Rayon};
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let threads = Rayon::new(&pool);
/// let sizes = [64, 256, 10];
/// let net = Mlp::new(&sizes, &[Sigmoid, Identity], true).unwrap().on(&threads);
/// let mut params = vec![0.01f32; Mlp::param_len(&sizes, true)];
/// let mut ws = vec![0.0; Mlp::workspace_len_parts(&sizes, 32, 2)];
/// let (x, y) = (vec![0.5f32; 32 * 64], vec![0.0f32; 32 * 10]);
/// pool.install(|| {
///     for _ in 0..10 {
///         net.train_step(&mut params, &x, &y, 1e-3, &mut ws).unwrap();
///     }
/// });
/// # }
/// ```
#[cfg(feature = "rayon")]
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
#[derive(Clone, Copy, Debug)]
pub struct Rayon<'p> {
    pool: &'p rayon::ThreadPool,
    min_work: usize,
}

#[cfg(feature = "rayon")]
impl<'p> Rayon<'p> {
    /// Runs parts on `pool`, for products of at least [`PAR_MIN_WORK`].
    pub fn new(pool: &'p rayon::ThreadPool) -> Self {
        Rayon {
            pool,
            min_work: PAR_MIN_WORK,
        }
    }

    /// The same, splitting products of at least `min_work` multiply-adds.
    pub fn with_min_work(self, min_work: usize) -> Self {
        Rayon { min_work, ..self }
    }
}

// SAFETY: `tree` calls each index of `0..parts` exactly once (it halves the range down to
// single indices), and `rayon::join` and `ThreadPool::install` return only after both
// closures have run, with their effects visible to the caller.
#[cfg(feature = "rayon")]
unsafe impl Executor for Rayon<'_> {
    fn parts(&self) -> usize {
        self.pool.current_num_threads().max(1)
    }
    fn min_work(&self) -> usize {
        self.min_work
    }
    fn run(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        /// Parts `lo..hi`, halved by `rayon::join` down to single parts.
        fn tree(lo: usize, hi: usize, part: &(dyn Fn(usize) + Sync)) {
            match hi - lo {
                0 => {}
                1 => part(lo),
                len => {
                    let mid = lo + len / 2;
                    rayon::join(|| tree(lo, mid, part), || tree(mid, hi, part));
                }
            }
        }
        if parts <= 1 {
            return tree(0, parts, part);
        }
        if self.pool.current_thread_index().is_some() {
            tree(0, parts, part);
        } else {
            self.pool.install(|| tree(0, parts, part));
        }
    }
}

/// Least work (`m·k·n` multiply-adds) a product needs before it is split into parts, by
/// default ([`Executor::min_work`]): below it, waking another thread costs more than
/// that thread saves. The lecture's small
/// products (64 × 1000 × 10, 640 k) stay whole; its two large ones (64 M) are split.
pub const PAR_MIN_WORK: usize = 1 << 20;
