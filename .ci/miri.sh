#!/usr/bin/env bash
# Miri: the test suite (sizes reduced under cfg(miri)) on the portable and scalar paths.
# Miri cannot run the AVX2/AVX-512 intrinsics, so under it those instruction sets report
# unsupported (src/simd/mod.rs) and every "for each supported ISA" loop skips them.
# Covers the lib's unit tests, the integration tests and the doctests (the README's tour,
# which trains a 1000×1000 network, is left out under cfg(miri): see src/lib.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

start=$SECONDS
rustup +nightly component add miri rust-src
cargo +nightly miri setup
echo "miri setup: $((SECONDS - start)) s"

# Isolation (Miri's default) hides the host environment, so MICROPROP_ISA is not seen
# anyway; the detected ISA under Miri is Portable.
export MIRIFLAGS="${MIRIFLAGS:-}"
cargo +nightly miri test
echo "miri total: $((SECONDS - start)) s"
