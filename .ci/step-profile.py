#!/usr/bin/env python3
"""Instructions per training step by function, from QEMU's trace of the step_profile firmware.

    step-profile.py ELF TRACE OUTPUT [ROWS]

TRACE is QEMU's log of `-d exec,nochain,in_asm`: every translated block's instructions
(`in_asm`) and every execution of a block (`exec`, with `nochain` so that none is
skipped). OUTPUT is the firmware's printed output: its `profile phase K: NAME, S steps`
lines name the phases, which the firmware separates by calls of `mark` (found by its
symbol). Each executed instruction is counted for the innermost function of its inline
chain whose code is not the standard library's (DWARF line tables, read with GNU
`addr2line -i`), so that a range's `next` or a slice's index inlined into a loop counts
for the function the loop was written in, and for that function's file; each phase's
counts are divided by its steps. Prints, per phase, the instructions per step and the
ROWS largest source files (microprop's modules, the firmware's, libm) and functions.
"""

import collections
import os
import re
import subprocess
import sys


# The repository's root (this script is in .ci/).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def glue(path):
    """Whether a frame is the standard library's glue (an iterator's `next`, a range's
    comparison, a slice's index, a primitive's method): code of `/rustc/<hash>/library/`
    or of rust-src. Its instructions count for the function it was inlined into."""
    return "/library/" in path and ("/rustc/" in path or "/rustlib/src/" in path)


def strip_generics(name):
    """`<A<T> as B>::f::<X>` -> `A::f`: the self type of a trait method, no generic
    arguments, no hash."""
    m = re.match(r"^<(.*) as .*>::(.*)$", name)
    if m:
        name = m.group(1) + "::" + m.group(2)
    elif name.startswith("<") and ">::" in name:
        name = name[1:].replace(">::", "::", 1)
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return re.sub(r"::(::)+", "::", "".join(out)).replace("::{{closure}}", " (closure)")


def source(path):
    """Where a frame's code lives: microprop's `src/…` file, the firmware's file, a
    dependency's crate, or the standard library."""
    path = os.path.normpath(path.rsplit(":", 1)[0])
    if path.startswith(os.path.join(ROOT, "src") + os.sep):
        return "microprop " + os.path.relpath(path, ROOT)
    if path.startswith(os.path.join(ROOT, "examples", "cortex-m4") + os.sep):
        return "firmware " + os.path.relpath(path, os.path.join(ROOT, "examples", "cortex-m4"))
    m = re.search(r"/registry/src/[^/]+/([A-Za-z0-9_-]+?)-\d[^/]*/", path)
    if m:
        return m.group(1)
    m = re.search(r"/library/([a-z_-]+)/", path)
    if m and glue(path):
        return m.group(1)
    return "(no line information)" if path.startswith("??") else path


def functions(elf, addrs):
    """The function each address counts for, and its source file: the innermost frame of
    its inline chain that is not the standard library's glue, else the outermost."""
    out = subprocess.run(
        ["addr2line", "-a", "-i", "-f", "-C", "-e", elf],
        input="\n".join(hex(a) for a in addrs), capture_output=True, text=True, check=True,
    ).stdout
    blocks = re.split(r"^0x[0-9a-f]+$", out, flags=re.M)[1:]
    if len(blocks) != len(addrs):
        sys.exit(f"step-profile.py: addr2line gave {len(blocks)} answers for {len(addrs)} addresses")
    names = {}
    for a, block in zip(addrs, blocks):
        lines = block.strip().split("\n")
        funcs = [re.sub(r"::h[0-9a-f]{16}$", "", f) for f in lines[0::2]]
        files = lines[1::2]
        pick = next(
            (i for i, f in enumerate(funcs) if f != "??" and i < len(files) and not glue(files[i])),
            None,
        )
        if pick is None:
            pick = len(funcs) - 1
        name = strip_generics(funcs[pick]) if funcs else "?"
        names[a] = (name, source(files[pick]) if pick < len(files) else "?")
    return names


def main():
    elf, trace, output = sys.argv[1:4]
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    phases = []
    for line in open(output, encoding="utf-8", errors="replace"):
        m = re.match(r"profile phase (\d+): (.*), (\d+) steps", line)
        if m:
            phases.append((m.group(2), int(m.group(3))))
    nm = subprocess.run(["nm", "-C", elf], capture_output=True, text=True, check=True).stdout
    marks = [int(m.group(1), 16) & ~1 for m in re.finditer(r"^([0-9a-f]+) [tT] step_profile::mark(::h[0-9a-f]+)?$", nm, re.M)]
    if len(marks) != 1 or not phases:
        sys.exit(f"step-profile.py: {len(marks)} `mark` symbols, {len(phases)} phases")
    mark = marks[0]

    # Blocks: the start address of each translated block and its instructions' addresses.
    # A block translated again at the same address must hold the same instructions (it
    # would be miscounted otherwise): `retranslated` collects those that do not.
    blocks, retranslated = {}, set()
    objd = False
    counts = [collections.Counter() for _ in phases]  # block start -> executions, per phase
    phase = -1
    current = None
    with open(trace, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("IN:"):
                current = []
                continue
            if line.startswith("OBJD-"):
                objd = True
            if current is not None:
                m = re.match(r"0x([0-9a-f]+):", line)
                if m:
                    current.append(int(m.group(1), 16))
                    continue
                if current:
                    if blocks.setdefault(current[0], current) != current:
                        retranslated.add(current[0])
                current = None
            m = re.match(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/", line)
            if m:
                pc = int(m.group(1), 16)
                if pc == mark:
                    phase += 1
                    continue
                if 0 <= phase < len(phases):
                    counts[phase][pc] += 1
    if current and blocks.setdefault(current[0], current) != current:
        retranslated.add(current[0])
    if objd or not blocks:
        sys.exit("step-profile.py: the trace holds no disassembled blocks (a QEMU without a disassembler prints OBJD-T lines)")
    if phase != len(phases):
        sys.exit(f"step-profile.py: the trace has {phase + 1} marks, the firmware printed {len(phases)} phases (so {len(phases) + 1} marks)")
    bad = retranslated & {pc for c in counts for pc in c}
    if bad:
        sys.exit(f"step-profile.py: {len(bad)} executed blocks were translated again with other instructions (e.g. 0x{min(bad):x})")

    addrs = sorted({a for c in counts for pc in c for a in blocks.get(pc, [])})
    names = functions(elf, addrs)
    for (name, steps), c in zip(phases, counts):
        per_fn, per_file = collections.Counter(), collections.Counter()
        for pc, n in c.items():
            if pc not in blocks:
                sys.exit(f"step-profile.py: block 0x{pc:x} executed but never translated")
            for a in blocks[pc]:
                fn, file = names[a]
                per_fn[fn] += n
                per_file[file] += n
        total = sum(per_fn.values())
        print(f"{name}: {total / steps:,.0f} instructions per step ({steps} steps)")
        for title, counter in (("by source file", per_file), ("by function", per_fn)):
            print(f"  {title}:")
            shown = 0
            for key, n in counter.most_common(rows):
                print(f"    {n / steps:>11,.0f}  {100 * n / total:5.1f}%  {key}")
                shown += n
            if total > shown:
                print(f"    {(total - shown) / steps:>11,.0f}  {100 * (total - shown) / total:5.1f}%  (the rest)")


if __name__ == "__main__":
    main()
