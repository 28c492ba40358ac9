#!/usr/bin/env bash
# Firmware CI: builds examples/cortex-m4 (microprop in a Cortex-M4F firmware with no
# allocator, its own Cargo package and workspace), runs it on QEMU's mps2-an386 board
# with `-icount shift=0` (one instruction per nanosecond of virtual time; it trains XOR and
# a sine regressor to their loss targets and the digits classifier for 100 epochs, and
# exits through semihosting with success only if XOR and sine reach their targets and the
# digits reach 90% test accuracy), and prints its footprint:
#   flash (.text + .rodata) and RAM (.data + .bss) of the firmware;
#   microprop's share of the flash, two ways: the sizes of the symbols named microprop::…
#   (nm), and the difference from a `baseline` build with every microprop call
#   compiled out (which also counts microprop code inlined into the firmware's functions);
#   the peak stack of one training step is measured and printed by the firmware itself;
#   and the digits numbers the firmware printed (test accuracy, instructions per epoch
#   from SysTick, calibrated by the firmware against a loop of known length).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

TARGET=thumbv7em-none-eabihf
FW=examples/cortex-m4
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}

step() { printf '\n=== %s ===\n' "$*"; }

step "firmware toolchain"
if ! command -v qemu-system-arm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm >/dev/null
fi
rustup target add "$TARGET"
# llvm-size and llvm-nm from rustup's llvm-tools; GNU binutils for ARM as a fallback.
rustup component add llvm-tools >/dev/null 2>&1 || true
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ -x "$LLVM_BIN/llvm-size" ] && [ -x "$LLVM_BIN/llvm-nm" ]; then
    SIZE="$LLVM_BIN/llvm-size" NM="$LLVM_BIN/llvm-nm"
else
    if ! command -v arm-none-eabi-size >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils-arm-none-eabi >/dev/null
    fi
    SIZE=arm-none-eabi-size NM=arm-none-eabi-nm
fi
rustc --version
qemu-system-arm --version | head -n 1

cd "$FW"
# The package's own target directory (git-ignored), whatever the caller exported.
export CARGO_TARGET_DIR="$PWD/target"
ELF="$CARGO_TARGET_DIR/$TARGET/release/microprop-cortex-m4"
BASELINE_ELF="$CARGO_TARGET_DIR/$TARGET/baseline/microprop-cortex-m4"

step "firmware build (release)"
cargo build --release --locked

step "firmware run: qemu-system-arm -machine mps2-an386 (timeout ${QEMU_TIMEOUT}s)"
LOG="$CARGO_TARGET_DIR/firmware-run.log"
start=$(date +%s)
status=0
# The same command line as the runner in .cargo/config.toml.
timeout "$QEMU_TIMEOUT" qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=0 \
    -semihosting-config enable=on,target=native -nographic -kernel "$ELF" </dev/null |
    tee "$LOG" || status=$?
wall=$(($(date +%s) - start))
echo "qemu exit status $status after $wall s of wall time"
if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 124 ]; then
        echo "firmware timed out after ${QEMU_TIMEOUT}s" >&2
    else
        echo "firmware failed (exit status $status)" >&2
    fi
    exit 1
fi

step "firmware footprint"
cargo build --profile baseline --features baseline --locked

# Section sizes in bytes: `section_size ELF NAME`.
section_size() {
    "$SIZE" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
flash() { echo $(($(section_size "$1" .text) + $(section_size "$1" .rodata))); }
ram() { echo $(($(section_size "$1" .data) + $(section_size "$1" .bss))); }

# microprop's symbols (code and read-only data), sizes summed.
microprop_symbols() {
    "$NM" -C --print-size --size-sort --radix=d "$ELF" |
        awk 'NF >= 4 && $3 ~ /^[tTrR]$/ { name = $0; for (i = 0; i < 3; i++) sub(/^[^ ]+ +/, "", name);
             if (name ~ /microprop(::|\.\.)/) print $2 + 0, name }'
}

# Size of the firmware's symbol whose demangled name ends in `::NAME` (and a hash):
# `symbol_size NAME`.
symbol_size() {
    "$NM" -C --print-size --radix=d "$ELF" |
        awk -v n="$1" 'NF >= 4 && !found && $4 ~ ("::" n "(::h[0-9a-f]+)?$") { size = $2 + 0; found = 1 }
             END { print found ? size : 0 }'
}

text=$(section_size "$ELF" .text)
rodata=$(section_size "$ELF" .rodata)
data=$(section_size "$ELF" .data)
bss=$(section_size "$ELF" .bss)
vt=$(section_size "$ELF" .vector_table)
sym_total=$(microprop_symbols | awk '{ s += $1 } END { print s + 0 }')
base_flash=$(flash "$BASELINE_ELF")
diff=$(($(flash "$ELF") - base_flash))

echo "largest microprop symbols (bytes):"
microprop_symbols | sort -rn | head -n 12 | sed 's/^/    /'
echo
echo "rustc:          $(rustc --version)"
echo "profile:        release (opt-level \"s\", lto, codegen-units 1, panic abort)"
echo "flash:          $((text + rodata)) bytes (.text $text + .rodata $rodata; plus .vector_table $vt)"
echo "RAM:            $((data + bss)) bytes (.data $data + .bss $bss; the stack comes on top)"
echo "microprop, symbols named microprop::*:             $sym_total bytes of flash"
echo "microprop, full minus baseline build ($base_flash): $diff bytes of flash"
echo "(peak stack of a training step: see the firmware's 'stack:' lines above)"
digits_data=$(symbol_size DIGITS)
digits_bufs=$(symbol_size DIGITS_BUF)
echo "digits data in flash (.rodata):                    $digits_data bytes"
echo "digits buffers in RAM (.bss):                      $digits_bufs bytes (parameters, gradients, Adam state, workspace, batch, orders)"
echo "firmware run under QEMU: $wall s of wall time"
echo "firmware's digits and timing lines:"
grep -E '^(SysTick|stack: digits|digits: (test|[0-9]))' "$LOG" | sed 's/^/    /'
budget=$((16 * 1024))
if [ "$sym_total" -gt "$budget" ] || [ "$diff" -gt "$budget" ]; then
    echo "NOTE: microprop's training code is over the 16 KiB flash budget" >&2
fi
echo
echo "firmware passed"
