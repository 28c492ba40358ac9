#!/usr/bin/env bash
# Firmware CI: builds examples/cortex-m4 (microprop in a Cortex-M firmware with no
# allocator, its own Cargo package and workspace) at opt-level "s" (the `release`
# profile) and at opt-level 3 (`release-o3`), runs each on QEMU's mps2-an386 board
# (Cortex-M4F) with `-icount shift=0` (one instruction per nanosecond of virtual time; it
# trains XOR and a sine regressor to their loss targets and the digits classifier for 100
# epochs, and exits through semihosting with success only if XOR and sine reach their
# targets and the digits reach 90% test accuracy); then more cores in short runs (feature
# `short`: the race, XOR to its target and 2 digits epochs): the Cortex-M7F (mps2-an500,
# target-cpu=cortex-m7) at opt-level 3, the Cortex-M3 without FPU (mps2-an385,
# thumbv7m-none-eabi, soft float) at "s", ARMv6-M code (thumbv6m-none-eabi, Cortex-M0/M0+,
# soft float) on that M3 board at "s", and the Cortex-M55 with Helium (mps3-an547,
# thumbv8m.main-none-eabihf, target-cpu=cortex-m55) at both. For each build it prints the
# footprint:
#   flash (.text + .rodata) and RAM (.data + .bss) of the firmware;
#   microprop's share of the flash, two ways: the sizes of the symbols named microprop::…
#   (nm), and the difference from a `baseline` build with every microprop call
#   compiled out (which also counts microprop code inlined into the firmware's functions);
#   on the Cortex-M4F also the training step alone, the issue's measurement: a `step_only`
#   build (built, not run) whose only microprop calls are the race's `Mlp::train_step`
#   (XOR 2-3-1 and the 16-32-16-1 MLP, sigmoid hidden layers and identity output), minus the baseline;
#   and the dense digits trainer alone (softmax cross-entropy, Adam, batching, evaluation;
#   issue 18's flash targets): a `digits_only` build (built, not run) minus the baseline,
#   its microprop symbols summed by module, and its largest symbols, microprop's and those
#   of core, compiler_builtins and libm that it adds to the baseline, and its code by
#   the microprop function each instruction was inlined from (.ci/flash-parts.py);
#   the peak stack of one training step is measured and printed by the firmware itself;
#   the digits numbers the firmware printed (test accuracy, instructions per epoch
#   from SysTick, calibrated by the firmware against a loop of known length);
#   and a table of both builds: instructions per training step of the firmware's race
#   (plain nested loops against microprop, from the same parameters), the digits epoch,
#   microprop's flash by difference, train_step's alone (M4F) and the peak stacks.
# Then the vowels CNN's firmwares (.ci/firmware-vowels.sh) and the profile of a training
# step by function (.ci/step-profile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# thumbv7em: Cortex-M4F and M7F; thumbv7m: Cortex-M3 (soft float); thumbv8m.main: Cortex-M55.
# thumbv6m: ARMv6-M code (Cortex-M0/M0+), run on the M3 board (see core_m0).
TARGETS=(thumbv7em-none-eabihf thumbv7m-none-eabi thumbv8m.main-none-eabihf thumbv6m-none-eabi)
FW=examples/cortex-m4
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}

step() { printf '\n=== %s ===\n' "$*"; }

step "firmware toolchain"
if ! command -v qemu-system-arm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm >/dev/null
fi
rustup target add "${TARGETS[@]}"
# llvm-size and llvm-nm from rustup's llvm-tools; GNU binutils for ARM as a fallback.
rustup component add llvm-tools >/dev/null 2>&1 || true
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ -x "$LLVM_BIN/llvm-size" ] && [ -x "$LLVM_BIN/llvm-nm" ] && [ -x "$LLVM_BIN/llvm-objdump" ]; then
    SIZE="$LLVM_BIN/llvm-size" NM="$LLVM_BIN/llvm-nm" OBJDUMP="$LLVM_BIN/llvm-objdump"
else
    if ! command -v arm-none-eabi-size >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils-arm-none-eabi >/dev/null
    fi
    SIZE=arm-none-eabi-size NM=arm-none-eabi-nm OBJDUMP=arm-none-eabi-objdump
fi
# GNU addr2line reads the inline chains of the flash attribution (.ci/flash-parts.py).
if ! command -v addr2line >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >/dev/null
fi
rustc --version
qemu-system-arm --version | head -n 1

cd "$FW"
# The package's own target directory (git-ignored), whatever the caller exported.
export CARGO_TARGET_DIR="$PWD/target"

# Section sizes in bytes: `section_size ELF NAME`.
section_size() {
    "$SIZE" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
flash() { echo $(($(section_size "$1" .text) + $(section_size "$1" .rodata))); }
ram() { echo $(($(section_size "$1" .data) + $(section_size "$1" .bss))); }

# microprop's symbols (code and read-only data) in ELF $1, sizes summed.
microprop_symbols() {
    "$NM" -C --print-size --size-sort --radix=d "$1" |
        awk 'NF >= 4 && $3 ~ /^[tTrR]$/ { name = $0; for (i = 0; i < 3; i++) sub(/^[^ ]+ +/, "", name);
             if (name ~ /microprop(::|\.\.)/) print $2 + 0, name }'
}

# Size of the symbol of ELF $1 whose demangled name ends in `::NAME` (and a hash):
# `symbol_size ELF NAME`.
symbol_size() {
    "$NM" -C --print-size --radix=d "$1" |
        awk -v n="$2" 'NF >= 4 && !found && $4 ~ ("::" n "(::h[0-9a-f]+)?$") { size = $2 + 0; found = 1 }
             END { print found ? size : 0 }'
}

# microprop's flash in ELF $1 by top-level module (`microprop::gemm`, from the first
# microprop path in each demangled symbol name, trait impls included), largest first:
# "bytes module".
microprop_modules() {
    microprop_symbols "$1" |
        awk '{ size = $1; name = $0; sub(/^[^ ]+ /, "", name); gsub(/\.\./, "::", name);
               if (match(name, /microprop::[a-z0-9_]+/)) m = substr(name, RSTART, RLENGTH); else m = "microprop (other)";
               s[m] += size } END { for (m in s) print s[m], m }' | sort -rn
}

# The code and read-only data symbols of ELF $1 that ELF $2 (the baseline) lacks, by
# demangled name without its hash: "bytes name", largest first.
added_symbols() {
    local list='NF >= 4 && $3 ~ /^[tTrR]$/ { name = $0; for (i = 0; i < 3; i++) sub(/^[^ ]+ +/, "", name);
        sub(/::h[0-9a-f]+$/, "", name); print $2 + 0 "\t" name }'
    "$NM" -C --print-size --radix=d "$2" | awk "$list" | cut -f2 | sort -u >"$CARGO_TARGET_DIR/base-symbols.txt"
    "$NM" -C --print-size --radix=d "$1" | awk "$list" |
        awk -F'\t' 'NR == FNR { base[$0] = 1; next } !($2 in base) { print $1, $2 }' \
            "$CARGO_TARGET_DIR/base-symbols.txt" - | sort -rn
}

# One build: `firmware CORE PROFILE OPT_LEVEL`, with the core's settings in the globals
# below (set by `core_*`). Builds the baseline and the firmware, runs the firmware under
# QEMU (failing the script if it fails or times out), prints the footprint, and appends
# the build's row to $ROWS.
ROWS=$(mktemp)
# The core being built: its Rust target, Cargo's target directory, extra `cargo` arguments,
# the QEMU board and CPU, and "full" or "short" (the `short` feature).
# STEP_ONLY=1: also build the `step_only` firmware for the flash of `train_step` alone.
TARGET= TDIR= CARGO_EXTRA=() MACHINE= CPU= RUN= STEP_ONLY=
core_m4() { TARGET=thumbv7em-none-eabihf TDIR=$PWD/target CARGO_EXTRA=() MACHINE=mps2-an386 CPU=cortex-m4 RUN=full STEP_ONLY=1; }
# The M7 is the M4's target built for its core, in a directory of its own (other rustflags).
core_m7() {
    TARGET=thumbv7em-none-eabihf TDIR=$PWD/target/m7 MACHINE=mps2-an500 CPU=cortex-m7 RUN=short STEP_ONLY=
    CARGO_EXTRA=(--config 'target.thumbv7em-none-eabihf.rustflags=["-C","target-cpu=cortex-m7"]')
}
core_m3() { TARGET=thumbv7m-none-eabi TDIR=$PWD/target CARGO_EXTRA=() MACHINE=mps2-an385 CPU=cortex-m3 RUN=short STEP_ONLY=; }
# ARMv6-M (Cortex-M0/M0+: Thumb-1, soft float) code on the AN385's Cortex-M3, which runs
# every ARMv6-M instruction (QEMU's only ARMv6-M board, the micro:bit, has 16 KiB of RAM).
core_m0() { TARGET=thumbv6m-none-eabi TDIR=$PWD/target CARGO_EXTRA=() MACHINE=mps2-an385 CPU=cortex-m3 RUN=short STEP_ONLY=; }
# target-cpu=cortex-m55 comes from .cargo/config.toml.
core_m55() { TARGET=thumbv8m.main-none-eabihf TDIR=$PWD/target CARGO_EXTRA=() MACHINE=mps3-an547 CPU=cortex-m55 RUN=short STEP_ONLY=; }

firmware() {
    local core=$1 profile=$2 opt=$3
    local features=() base_features=(--features baseline)
    if [ "$RUN" = short ]; then
        features=(--features short) base_features=(--features baseline,short)
    fi
    local elf="$TDIR/$TARGET/$profile/microprop-cortex-m4"
    local base_elf="$elf.baseline" step_elf="$elf.step_only" digits_elf="$elf.digits_only"
    local log="$CARGO_TARGET_DIR/firmware-run-$TARGET-$CPU-$profile.log"

    # The baseline first, in the same profile (only the firmware crate differs, so microprop
    # and the other dependencies are compiled once a profile), set aside; then the firmware.
    step "firmware baseline build ($core, $TARGET, $profile: opt-level $opt)"
    CARGO_TARGET_DIR=$TDIR cargo build --target "$TARGET" "${CARGO_EXTRA[@]}" \
        --profile "$profile" "${base_features[@]}" --locked
    cp "$elf" "$base_elf"

    if [ -n "$STEP_ONLY" ]; then
        step "firmware step_only build ($core, $TARGET, $profile: opt-level $opt; built, not run)"
        CARGO_TARGET_DIR=$TDIR cargo build --target "$TARGET" "${CARGO_EXTRA[@]}" \
            --profile "$profile" --features step_only --locked
        cp "$elf" "$step_elf"

        step "firmware digits_only build ($core, $TARGET, $profile: opt-level $opt; built, not run)"
        CARGO_TARGET_DIR=$TDIR cargo build --target "$TARGET" "${CARGO_EXTRA[@]}" \
            --profile "$profile" --features digits_only --locked
        cp "$elf" "$digits_elf"
    fi

    step "firmware build ($core, $TARGET, $profile: opt-level $opt, $RUN run)"
    CARGO_TARGET_DIR=$TDIR cargo build --target "$TARGET" "${CARGO_EXTRA[@]}" \
        --profile "$profile" "${features[@]}" --locked

    step "firmware run ($core, $profile): qemu-system-arm -machine $MACHINE (timeout ${QEMU_TIMEOUT}s)"
    local start status=0 wall
    start=$(date +%s)
    # The same command line as the runners in .cargo/config.toml.
    timeout "$QEMU_TIMEOUT" qemu-system-arm -machine "$MACHINE" -cpu "$CPU" -icount shift=0 \
        -semihosting-config enable=on,target=native -nographic -kernel "$elf" </dev/null |
        tee "$log" || status=$?
    wall=$(($(date +%s) - start))
    echo "qemu exit status $status after $wall s of wall time"
    if [ "$status" -ne 0 ]; then
        if [ "$status" -eq 124 ]; then
            echo "firmware ($core, $profile) timed out after ${QEMU_TIMEOUT}s" >&2
        else
            echo "firmware ($core, $profile) failed (exit status $status)" >&2
        fi
        exit 1
    fi

    step "firmware footprint ($core, $profile: opt-level $opt)"
    local text rodata data bss vt sym_total base_flash diff step_diff=—
    text=$(section_size "$elf" .text)
    rodata=$(section_size "$elf" .rodata)
    data=$(section_size "$elf" .data)
    bss=$(section_size "$elf" .bss)
    vt=$(section_size "$elf" .vector_table)
    sym_total=$(microprop_symbols "$elf" | awk '{ s += $1 } END { print s + 0 }')
    base_flash=$(flash "$base_elf")
    diff=$(($(flash "$elf") - base_flash))
    [ -z "$STEP_ONLY" ] || step_diff=$(($(flash "$step_elf") - base_flash))
    local digits_diff=—
    [ -z "$STEP_ONLY" ] || digits_diff=$(($(flash "$digits_elf") - base_flash))

    echo "largest microprop symbols (bytes):"
    microprop_symbols "$elf" | sort -rn | awk "NR <= 12" | sed 's/^/    /'
    echo
    echo "rustc:          $(rustc --version)"
    echo "core:           $core ($TARGET${CARGO_EXTRA[*]:+, ${CARGO_EXTRA[*]}}; QEMU $MACHINE)"
    echo "profile:        $profile (opt-level \"$opt\", lto, codegen-units 1, panic abort)"
    echo "flash:          $((text + rodata)) bytes (.text $text + .rodata $rodata; plus .vector_table $vt)"
    echo "RAM:            $((data + bss)) bytes (.data $data + .bss $bss; the stack comes on top)"
    echo "microprop, symbols named microprop::*:             $sym_total bytes of flash"
    echo "microprop, full minus baseline build ($base_flash): $diff bytes of flash"
    if [ -n "$STEP_ONLY" ]; then
        echo "train_step alone, step_only minus baseline build:  $step_diff bytes of flash"
        echo "largest microprop symbols of the step_only build (bytes):"
        microprop_symbols "$step_elf" | sort -rn | awk "NR <= 8" | sed 's/^/    /'
    fi
    if [ -n "$STEP_ONLY" ]; then
        echo "digits trainer alone, digits_only minus baseline:  $digits_diff bytes of flash (issue 18's targets: 16384 at \"s\", 24576 at 3)"
        echo "  its microprop symbols by module (bytes; $(microprop_symbols "$digits_elf" | awk '{ s += $1 } END { print s + 0 }') in all):"
        microprop_modules "$digits_elf" | sed 's/^/    /'
        echo "  its largest symbols that the baseline lacks (bytes; microprop's and what it pulls in from core, compiler_builtins, libm):"
        added_symbols "$digits_elf" "$base_elf" | awk '$2 !~ /^\.Lanon\./' | awk "NR <= 25" | sed 's/^/    /'
        echo "  its anonymous read-only data the baseline lacks (.Lanon.*: error strings, panic locations): $(added_symbols "$digits_elf" "$base_elf" | awk '$2 ~ /^\.Lanon\./ { s += $1 } END { print s + 0 }') bytes"
        echo "  what it adds beyond symbols named microprop::* (bytes, .Lanon.* included): $(added_symbols "$digits_elf" "$base_elf" | awk '$0 !~ /microprop(::|\.\.)/ { s += $1 } END { print s + 0 }')"
        echo "  where its code goes, inlining included (microprop code inlined into the firmware's main counts for the microprop function it came from):"
        # A report only: if python3 or a tool fails, the firmware job goes on.
        python3 ../../.ci/flash-parts.py "$OBJDUMP" "$digits_elf" "$base_elf" 25 ||
            echo "    (flash-parts.py failed: no attribution this run)"
    fi
    echo "plain-loop trainer (plain::train_step):            $(symbol_size "$elf" train_step) bytes of flash"
    echo "(peak stack of a training step: see the firmware's 'stack:' lines above)"
    echo "digits data in flash (.rodata):                    $(symbol_size "$elf" DIGITS) bytes"
    echo "digits buffers in RAM (.bss):                      $(symbol_size "$elf" DIGITS_BUF) bytes (parameters, gradients, Adam state, workspace, batch, orders)"
    echo "firmware run under QEMU: $wall s of wall time"
    echo "firmware's race, digits and timing lines:"
    grep -E '^(core:|SysTick|race:|stack: digits|digits: (test|[0-9])|adam:)' "$log" | sed 's/^/    /'

    # The row: instructions per step of the race (plain, microprop, ratio) for XOR and
    # 16-32-16-1, the digits epoch, microprop's flash by difference, the peak stacks.
    local xor wide epoch adam stacks
    race_cols() {
        grep -E "^race: $1 " "$log" |
            sed -E 's/.*plain loops ([0-9]+) instructions per step, microprop ([0-9]+) \(([0-9.]+)x fewer\).*/\1 | \2 | \3×/'
    }
    xor=$(race_cols XOR)
    wide=$(race_cols 16-32-16-1)
    epoch=$(sed -nE 's/^digits: ([0-9]+) instructions per epoch.*/\1/p' "$log")
    adam=$(sed -nE 's/^adam: ([0-9.]+) instructions per parameter.*/\1/p' "$log")
    stacks=$(sed -nE 's/^stack: (XOR|sine|digits) [a-z_]+ used ([0-9]+) bytes.*/\2/p' "$log" | paste -sd / -)
    echo "| $core | \"$opt\" | $RUN | $xor | $wide | $epoch | $adam | $diff | $step_diff | $digits_diff | $stacks |" >>"$ROWS"
}

# The Cortex-M4F at both opt-levels, full runs (XOR, sine, 100 digits epochs to 90%); the
# other cores run short (the race, XOR, 2 digits epochs for the time per epoch): the M7 at
# opt-level 3, the soft-float M3 and ARMv6-M code (on the M3 board) at "s", the M55
# (Helium) at both.
core_m4
firmware "Cortex-M4F" release s
firmware "Cortex-M4F" release-o3 3
core_m7
firmware "Cortex-M7F" release-o3 3
core_m3
firmware "Cortex-M3 (soft float)" release s
core_m0
firmware "ARMv6-M code on the M3 (soft float)" release s
core_m55
firmware "Cortex-M55 (MVE)" release s
firmware "Cortex-M55 (MVE)" release-o3 3

step "firmware table (QEMU: Cortex-M4F mps2-an386, M7F mps2-an500, M3 and ARMv6-M code mps2-an385, M55 mps3-an547; instructions counted under -icount shift=0)"
echo "| core | opt-level | run | XOR 2-3-1 batch 4: plain loops | microprop | fewer | 16-32-16-1 batch 32: plain loops | microprop | fewer | digits epoch | Adam per parameter | microprop flash (by difference) | train_step alone (by difference) | digits trainer alone (by difference) | peak stack XOR/sine/digits |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$ROWS"
echo "(instructions per training step, not cycles: QEMU counts one per instruction; on a"
echo " real M4, vmla.f32 takes 3 cycles against 1 for vadd.f32, and loads 2; the M7 issues two"
echo " a cycle; an M55 MVE instruction works on 4 lanes in 2 beats. Short runs: the race, XOR"
echo " and 2 digits epochs (feature \`short\`); the M4F's full runs reach every target."
echo " train_step alone: the \`step_only\` build, only the race's Mlp::train_step calls, minus"
echo " the baseline; digits trainer alone: the \`digits_only\` build, only the digits' calls"
echo " (cross-entropy, Adam, batching, evaluation), minus the baseline; both M4F only.)"
rm -f "$ROWS"

# The vowels CNN trained on the M4F, whole (256 KiB of RAM) and head-only (96 KiB).
bash ../../.ci/firmware-vowels.sh

# What a training step spends, by function: the race's networks under a trace of QEMU.
bash ../../.ci/step-profile.sh

echo
echo "firmware passed"
