#!/usr/bin/env bash
# What a training step spends, by function, on the Cortex-M4F (issue 18, item 5): builds
# the `step_profile` firmware of examples/cortex-m4 (src/bin/step_profile.rs) at
# opt-level "s" and 3, runs it on QEMU's mps2-an386 board with a trace of every executed
# block (`-d exec,nochain,in_asm`), and prints each phase's instructions per step by the
# function they came from, inlining included (.ci/step-profile.py): XOR 2-3-1 by the
# hand-written loops, by Mlp::train_step (the tiny path), by Mlp::train_step_with and
# plain SGD (the general step, as Mlp::train_step took before the tiny path) and by a Net
# of the same layers; 16-32-16-1 by the loops and by Mlp::train_step. Run by
# .ci/firmware.sh after the firmware table, or alone (it needs qemu-system-arm, the
# thumbv7em-none-eabihf target, python3 and GNU binutils' addr2line and nm). The firmware must build and run: a failure of either fails the job;
# the profile itself is a report (a failure of step-profile.py is printed, not fatal).
set -euo pipefail
cd "$(dirname "$0")/../examples/cortex-m4"
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="$PWD/target"
TARGET=thumbv7em-none-eabihf
if ! command -v addr2line >/dev/null || ! command -v nm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >/dev/null
fi
trace=
trap 'rm -f "$trace"' EXIT

for profile in release release-o3; do
    case $profile in release) opt='"s"' ;; *) opt=3 ;; esac
    printf '\n=== step profile: Cortex-M4F, opt-level %s ===\n' "$opt"
    cargo build --profile "$profile" --target "$TARGET" --bin step_profile --features profile --locked
    elf="$CARGO_TARGET_DIR/$TARGET/$profile/step_profile"
    trace="$CARGO_TARGET_DIR/step-profile-$profile.trace"
    out="$CARGO_TARGET_DIR/step-profile-$profile.out"
    timeout 300 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=0 \
        -semihosting-config enable=on,target=native -nographic \
        -d exec,nochain,in_asm -D "$trace" -kernel "$elf" </dev/null | tee "$out"
    # A report only: if python3 or a tool fails, the firmware job goes on.
    python3 ../../.ci/step-profile.py "$elf" "$trace" "$out" 8 ||
        echo "    (step-profile.py failed: no profile this run)"
    rm -f "$trace"
done
