#!/usr/bin/env bash
# Publish readiness: the packaged crate builds (`cargo publish --dry-run` packages it and
# builds the package alone) with no warning from cargo, and every relative link in the
# README points at a file or directory the package contains.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

log=$(mktemp)
cargo publish --dry-run --locked ${ALLOW_DIRTY:+--allow-dirty} 2>&1 | tee "$log"
# (The one warning a dry run always gives is that it aborts the upload.)
if grep -E '^warning' "$log" | grep -v 'aborting upload due to dry run'; then
    echo "cargo publish --dry-run warned (above)" >&2
    exit 1
fi

list=$(mktemp)
cargo package --list --locked ${ALLOW_DIRTY:+--allow-dirty} >"$list"
missing=0
# Markdown links `](target)` that are not URLs or anchors.
while read -r target; do
    target=${target%%#*}
    if ! grep -qxF "$target" "$list" && ! grep -q "^${target%/}/" "$list"; then
        echo "README links $target, which the package leaves out" >&2
        missing=1
    fi
done < <(grep -oE '\]\([^)#][^)]*\)' README.md | sed -E 's/^\]\((.*)\)$/\1/' | grep -vE '^[a-z]+:' | sort -u)
[ "$missing" -eq 0 ]
echo "package: $(wc -l <"$list") files; every relative README link is in it"
rm -f "$log" "$list"
