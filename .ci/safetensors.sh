#!/usr/bin/env bash
# safetensors against the real client: a virtual environment with numpy and safetensors
# from the package registry, then .ci/safetensors_check.py round-trips files both ways.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
VENV=target/safetensors-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check numpy safetensors
"$VENV/bin/python" -c 'import numpy, safetensors; print("numpy", numpy.__version__, "safetensors", safetensors.__version__)'

cargo build --release --example safetensors
DIR=$(mktemp -d)
"$VENV/bin/python" .ci/safetensors_check.py "$DIR" target/release/examples/safetensors
rm -rf "$DIR"
