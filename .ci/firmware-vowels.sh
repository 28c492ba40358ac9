#!/usr/bin/env bash
# The vowels CNN trained on the Cortex-M4F (QEMU mps2-an386, -icount shift=0; issue 18):
# builds examples/cortex-m4's `vowels_full` (the whole network, RAM budget 256 KiB) and
# `vowels_head` (a fresh head over convolutions pretrained on the desktop and frozen in
# flash, RAM budget 96 KiB) at opt-level "s"; the linker enforces each budget (the build
# fails if the statics leave too little stack). Runs both: each prints its RAM table
# (every buffer's bytes, the statics, the painted stack's peak) and its instructions per
# epoch, then its test accuracy. Prints the flash of each trainer by difference from a
# `baseline` build of the same firmware, at "s" and at 3. Then runs the same two recipes
# on the desktop with the scalar instruction set (examples/device_recipes.rs) and fails
# unless each device accuracy is within one point of the desktop's. Called by
# .ci/firmware.sh (which installs QEMU and the target); also runs on its own.
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

# Flash of the convolutional trainer by difference (issue 18, item 6: reported beside the
# dense digits trainer): each firmware against its `baseline` build, the same firmware with
# no microprop code run (the data, the frozen parameters and the buffers kept), at "s"
# and at 3 (those two built, not run).
step "vowels firmware footprint builds: baselines (--features vowels,baseline) and opt-level 3"
for profile in baseline release-o3 baseline-o3; do
    features=vowels
    case $profile in baseline*) features=vowels,baseline ;; esac
    (cd "$FW" && cargo build --profile "$profile" --target "$TARGET" --features "$features" \
        --bin vowels_full --bin vowels_head --locked)
done
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
rustup component add llvm-tools >/dev/null 2>&1 || true
SIZE="$LLVM_BIN/llvm-size" NM="$LLVM_BIN/llvm-nm"
[ -x "$SIZE" ] || SIZE=arm-none-eabi-size
[ -x "$NM" ] || NM=arm-none-eabi-nm
flash() { "$SIZE" -A "$1" | awk '$1 == ".text" || $1 == ".rodata" { s += $2 } END { print s + 0 }'; }
elf() { echo "$FW/target/$TARGET/$1/$2"; }
declare -A trainer_flash
for bin in vowels_full vowels_head; do
    s=$(($(flash "$(elf release "$bin")") - $(flash "$(elf baseline "$bin")")))
    o3=$(($(flash "$(elf release-o3 "$bin")") - $(flash "$(elf baseline-o3 "$bin")")))
    trainer_flash[$bin]="$s at \"s\", $o3 at 3"
    echo "$bin: the convolutional trainer alone, minus its baseline: $s bytes of flash at \"s\", $o3 at 3"
done
echo "  vowels_full's largest microprop symbols at \"s\" (bytes; LLVM inlines into them and into main):"
"$NM" -C --print-size --size-sort --radix=d "$(elf release vowels_full)" |
    awk 'NF >= 4 && $3 ~ /^[tTrR]$/ { name = $0; for (i = 0; i < 3; i++) sub(/^[^ ]+ +/, "", name);
         sub(/::h[0-9a-f]+$/, "", name); gsub(/\.\./, "::", name);
         if (name ~ /microprop::/) print $2 + 0, name }' | sort -rn | head -n 12 | sed 's/^/    /'

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
    echo "$bin: device $dev, desktop $desk correct of 370 (differ by $diff: $verdict); $insns instructions per epoch; RAM $ram bytes; trainer flash ${trainer_flash[$bin]}"
done
[ "$fail" -eq 0 ] || exit 1
echo "vowels firmware passed"
