#!/usr/bin/env bash
# Miri: the test suite on the portable and scalar paths (AVX2/AVX-512 report unsupported
# under Miri, which cannot execute their intrinsics), with sizes reduced under cfg(miri).
# Checks the unsafe code for undefined behaviour: out-of-bounds pointers (even unread),
# uninitialized or misaligned reads, aliasing violations (Stacked Borrows).
# Miri interprets one thread at a time, so the test binaries run in two groups side by
# side, one per core.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

start=$SECONDS
rustup +nightly component add miri rust-src
cargo +nightly miri setup
echo "miri setup: $((SECONDS - start)) s"

export MIRIFLAGS="${MIRIFLAGS:-}"
# libm's x86 square root is inline assembly, which Miri cannot run: its software version.
soft=(--features libm/force-soft-floats)
cargo +nightly miri test "${soft[@]}" --no-run
echo "miri build: $((SECONDS - start)) s"

logs=$(mktemp -d)
# The suites whose code has unsafe blocks or calls into the kernels in new ways, in two
# groups of about equal time. Left out, because the code
# they test has no unsafe of its own and the kernels it calls are exercised by the suites
# below: save and save_net (the saved blob; Net::load is fuzzed by the safetensors
# target), trainer (the Trainer loop), data, digits_data, vowels_data and metrics
# (batching, data sets, metrics), init and rng (initialisers, the generator),
# determinism (repeated runs), cnn (100 epochs of training, ignored under Miri),
# window_reference (f64 references only).
# Also left out: net_hardening, net_equivalence and net_alloc (the Net and Trainer
# suites: safe code over the layer kernels that layers runs here; net_alloc alone ran
# over 5 minutes under Miri).
# Group A ends with the crate's own doctests (the README's are left out under Miri: its
# tour trains the 1000 x 1000 network; so is the crate docs' quick start, which trains XOR
# for minutes under Miri on kernels the unit tests cover).
# (Seconds the test harness reports under Miri, which under isolation is a virtual
# clock that counts interpreted work: lib 354, kernels 237, layers 182, alloc 43,
# isa_kernels 16, data_alloc 1, doctests 83; par 181, optim 169, nn 103, gemm 97,
# safetensors 86, graph 76, hardening 62, loss 61, regressions 16. On the 2-core
# development machine the two groups take 11 minutes of wall time side by side; 21 before
# the lib tests' five slowest got smaller Miri cases and the doctests joined group A.)
group_a=(--lib --test kernels --test alloc --test isa_kernels --test data_alloc --test layers)
group_b=(--test par --test optim --test nn --test gemm --test graph --test hardening --test loss --test safetensors --test regressions)
{
    cargo +nightly miri test "${soft[@]}" "${group_a[@]}" &&
        cargo +nightly miri test "${soft[@]}" --doc -- --skip 'src/lib.rs - (line'
} >"$logs/a" 2>&1 &
pid_a=$!
cargo +nightly miri test "${soft[@]}" "${group_b[@]}" >"$logs/b" 2>&1 &
pid_b=$!
status=0
wait "$pid_a" || status=1
wait "$pid_b" || status=1
cat "$logs/a" "$logs/b"
echo "miri test groups and doctests: $((SECONDS - start)) s"
if [ "$status" -ne 0 ]; then
    echo "miri: a test group failed" >&2
    exit 1
fi
echo "miri total: $((SECONDS - start)) s"
