#!/usr/bin/env bash
# Fuzzing for CI: builds the cargo-fuzz targets in fuzz/ and runs each for a bounded
# time over its committed corpus (fuzz/corpus/<target>). Fails if any target finds a
# crash (a panic, a failed property assertion, an AddressSanitizer report) or a timeout.
# New corpus entries go to a scratch directory, so the committed corpus is read-only here.
# Usage: .ci/fuzz.sh [seconds per target, default 25; the small `mat` and `safetensors`
# targets get a third, `train` four fifths, `gemm` and `mlp` seven tenths, `net` three
# fifths]
# Measured on the 2-core CI machine: cargo-fuzz install ~1.5 min (once per machine),
# build ~2.5 min, fuzzing 25 + 2 × 18 + 2 × 9 + 20 + 15 s: about 6 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-25}}"
TARGETS=(gemm mlp graph mat train safetensors net)

if ! rustup toolchain list | grep '^nightly' >/dev/null; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

# One build for all targets (the dependencies and microprop are compiled once).
cargo +nightly fuzz build

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
    secs="$SECONDS_PER_TARGET"
    if [ "$t" = mat ] || [ "$t" = safetensors ]; then secs=$(( (secs + 2) / 3 )); fi
    if [ "$t" = train ]; then secs=$(( (secs * 4 + 2) / 5 )); fi
    if [ "$t" = gemm ] || [ "$t" = mlp ]; then secs=$(( (secs * 7 + 5) / 10 )); fi
    if [ "$t" = net ]; then secs=$(( (secs * 3 + 2) / 5 )); fi
    echo "=== fuzz $t for ${secs}s ==="
    mkdir -p "$scratch/$t"
    # First corpus directory receives new inputs; the committed one is only read.
    cargo +nightly fuzz run "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' \
        || { echo "fuzz target $t FAILED (crash input in fuzz/artifacts/$t/)"; exit 1; }
done
echo "fuzz: all targets ran without a crash"
