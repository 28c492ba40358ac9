#!/usr/bin/env python3
"""What each part of microprop's code costs in a firmware, inlining included.

    flash-parts.py OBJDUMP ELF BASE_ELF [ROWS]

Symbol sizes (`nm`) miss the code LLVM inlines into the firmware's own functions (a
`train_epoch` inlined into `main`). This attributes every instruction of `.text` to the
outermost microprop function of its inline chain (DWARF line tables, read with GNU
`addr2line -i`), or, for code with no microprop frame, to its own function; does the same
for the baseline build (every microprop call compiled out); and prints the difference per
part, largest first: where the bytes a build adds to the baseline went. Needs the ELFs
built with debug information (`debug = true`, as the firmware's profiles are).
"""

import collections
import re
import subprocess
import sys


def parts(objdump, elf):
    """Bytes of `.text` per part: the outermost `microprop::` frame of each instruction's
    inline chain, else "(not microprop) " and its outermost frame (the firmware's,
    core's, libm's, compiler_builtins')."""
    dis = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", "-j", ".text", elf],
        capture_output=True, text=True, check=True,
    ).stdout
    addrs = sorted({int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s", dis, re.M)})
    if not addrs:
        return collections.Counter()
    # The last instruction's size is unknown: 2 bytes (a Thumb instruction at least).
    sizes = [b - a for a, b in zip(addrs, addrs[1:])] + [2]
    out = subprocess.run(
        ["addr2line", "-a", "-i", "-f", "-C", "-e", elf],
        input="\n".join(hex(a) for a in addrs), capture_output=True, text=True, check=True,
    ).stdout
    blocks = re.split(r"^0x[0-9a-f]+$", out, flags=re.M)[1:]
    if len(blocks) != len(addrs):
        sys.exit(f"flash-parts.py: addr2line gave {len(blocks)} answers for {len(addrs)} addresses")
    total = collections.Counter()
    for size, block in zip(sizes, blocks):
        lines = block.strip().split("\n")
        # Function and file:line alternate, the innermost frame first.
        funcs = [re.sub(r"::h[0-9a-f]{16}$", "", f) for f in lines[0::2]]
        ours = [f for f in funcs if re.search(r"microprop(::|\.\.)", f)]
        if ours:
            key = ours[-1]
        else:
            key = "(not microprop) " + (funcs[-1] if funcs else "?")
        # A gap (alignment, a literal pool after the last instruction) counts at most 4.
        total[key] += min(size, 4)
    return total


def main():
    objdump, elf, base = sys.argv[1:4]
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    new, old = parts(objdump, elf), parts(objdump, base)
    diff = {k: new[k] - old[k] for k in set(new) | set(old) if new[k] != old[k]}
    ours = sum(v for k, v in diff.items() if not k.startswith("(not microprop)"))
    print(f"    .text the build adds, by outermost microprop function inlined or called "
          f"({sum(diff.values())} bytes; {ours} in microprop's functions):")
    for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:rows]:
        print(f"    {v:6d} {k}")


if __name__ == "__main__":
    main()
