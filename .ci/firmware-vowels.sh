#!/usr/bin/env bash
# The vowels CNN trained on the Cortex-M4F (QEMU mps2-an386, -icount shift=0; issue 18):
# builds examples/cortex-m4's `vowels_full` (the whole network, RAM budget 256 KiB) and
# `vowels_head` (a fresh head over convolutions pretrained on the desktop and frozen in
# flash, RAM budget 96 KiB) at opt-level "s"; the linker enforces each budget (the build
# fails if the statics leave too little stack). Runs both: each prints its RAM table
# (every buffer's bytes, the statics, the painted stack's peak) and its instructions per
# epoch, then its test accuracy. Then runs the same two recipes on the desktop with the
# scalar instruction set (examples/device_recipes.rs) and fails unless each device
# accuracy is within one point of the desktop's. Called by .ci/firmware.sh (which
# installs QEMU and the target); also runs on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
FW=examples/cortex-m4
TARGET=thumbv7em-none-eabihf
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
step() { printf '\n=== %s ===\n' "$*"; }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

step "vowels firmware build (Cortex-M4F, $TARGET, opt-level s): vowels_full and vowels_head"
(cd "$FW" && cargo build --release --target "$TARGET" --features vowels \
    --bin vowels_full --bin vowels_head --locked)

declare -A device
for bin in vowels_full vowels_head; do
    step "vowels firmware run: $bin on qemu-system-arm -machine mps2-an386 (timeout ${QEMU_TIMEOUT}s)"
    start=$(date +%s)
    status=0
    timeout "$QEMU_TIMEOUT" qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=0 \
        -semihosting-config enable=on,target=native -nographic \
        -kernel "$FW/target/$TARGET/release/$bin" | tee "$logs/$bin" || status=$?
    echo "qemu exit status $status after $(($(date +%s) - start)) s of wall time"
    [ "$status" -eq 0 ] || { echo "$bin failed"; exit 1; }
    device[$bin]=$(sed -nE 's/.*test accuracy .* \(([0-9]+) correct of.*/\1/p' "$logs/$bin")
done

step "the same recipes on the desktop, scalar instruction set (cargo run --release --example device_recipes)"
cargo run --release --example device_recipes --locked | tee "$logs/desktop"

step "vowels on the device against the desktop (test records of 370 classified right; within one point = 3 records)"
fail=0
for bin in vowels_full vowels_head; do
    desk=$(sed -nE "s/^desktop $bin: .* \(([0-9]+) correct of.*/\1/p" "$logs/desktop")
    dev=${device[$bin]}
    diff=$((dev > desk ? dev - desk : desk - dev))
    insns=$(sed -nE "s/^$bin: epoch 1 .*\(([0-9]+) instructions\)/\1/p" "$logs/$bin")
    ram=$(sed -nE 's/^ram: total ([0-9]+) bytes of the ([0-9]+)-byte budget.*/\1 of \2/p' "$logs/$bin")
    verdict=ok
    if [ "$diff" -gt 3 ]; then verdict=FAILED; fail=1; fi
    echo "$bin: device $dev, desktop $desk correct of 370 (differ by $diff: $verdict); $insns instructions per epoch; RAM $ram bytes"
done
[ "$fail" -eq 0 ] || exit 1
echo "vowels firmware passed"
