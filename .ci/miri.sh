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
cargo +nightly miri test --no-run
echo "miri build: $((SECONDS - start)) s"

logs=$(mktemp -d)
group_a=(--lib --test kernels --test save --test alloc --test regressions --test trainer)
group_b=(--test gemm --test graph --test nn --test isa_kernels --test hardening --test determinism)
cargo +nightly miri test "${group_a[@]}" >"$logs/a" 2>&1 &
pid_a=$!
cargo +nightly miri test "${group_b[@]}" >"$logs/b" 2>&1 &
pid_b=$!
status=0
wait "$pid_a" || status=1
wait "$pid_b" || status=1
cat "$logs/a" "$logs/b"
if [ "$status" -ne 0 ]; then
    echo "miri: a test group failed" >&2
    exit 1
fi
# The crate's own doctests (the README's are left out under Miri: its tour trains the
# 1000 x 1000 network).
cargo +nightly miri test --doc
echo "miri total: $((SECONDS - start)) s"
