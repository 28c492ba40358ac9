"""microprop's safetensors files against the real client: Python's `safetensors` and NumPy (named so as not to shadow the `safetensors` package).

Usage: python safetensors_check.py DIR EXAMPLE...  (EXAMPLE: the command that runs
examples/safetensors.rs). Checks that the file microprop exported loads with
safetensors.numpy.load_file with the right names, shapes, dtype and metadata, and that
a NumPy forward pass of those weights gives microprop's outputs; then writes a file with
safetensors.numpy.save_file, has microprop import it, and checks microprop's forward
pass of it against NumPy's.
"""
import subprocess
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

SIZES = [5, 7, 6, 3]
ACTS = [lambda z: np.maximum(z, 0.0), np.tanh, lambda z: z]
N = 4


def names():
    return sorted(f"layers.{l}.{k}" for l in range(len(SIZES) - 1) for k in ("weight", "bias"))


def forward(t, x):
    """The network in float64, torch.nn.Linear style: a @ W.T + b."""
    a = x.astype(np.float64)
    for l, act in enumerate(ACTS):
        w = t[f"layers.{l}.weight"].astype(np.float64)
        b = t[f"layers.{l}.bias"].astype(np.float64)
        a = act(a @ w.T + b)
    return a


def read(path, rows):
    return np.fromfile(path, dtype="<f4").reshape(rows, -1)


def main():
    d, example = sys.argv[1], sys.argv[2:]
    subprocess.run(example + ["export", d], check=True)

    # microprop -> Python.
    path = f"{d}/microprop.safetensors"
    t = load_file(path)
    assert sorted(t) == names(), sorted(t)
    for l in range(len(SIZES) - 1):
        w, b = t[f"layers.{l}.weight"], t[f"layers.{l}.bias"]
        assert w.dtype == np.float32 and b.dtype == np.float32, (w.dtype, b.dtype)
        assert w.shape == (SIZES[l + 1], SIZES[l]), (l, w.shape)
        assert b.shape == (SIZES[l + 1],), (l, b.shape)
    with safe_open(path, framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}, f.metadata()
    x = read(f"{d}/x.f32", N)
    out = read(f"{d}/out.f32", N)
    want = forward(t, x)
    err = np.abs(out - want).max()
    assert np.allclose(out, want, rtol=1e-5, atol=1e-6), (out, want)
    print(f"microprop -> safetensors.numpy: {len(t)} tensors, names, shapes, dtype and "
          f"metadata as torch.nn.Linear; forward pass matches NumPy (max |diff| {err:.2e})")

    # Python -> microprop.
    rng = np.random.default_rng(7)
    t2 = {}
    for l in range(len(SIZES) - 1):
        t2[f"layers.{l}.weight"] = rng.standard_normal((SIZES[l + 1], SIZES[l])).astype(np.float32)
        t2[f"layers.{l}.bias"] = rng.standard_normal(SIZES[l + 1]).astype(np.float32)
    path2 = f"{d}/python.safetensors"
    save_file(t2, path2, metadata={"format": "pt", "written_by": "numpy"})
    subprocess.run(example + ["import", path2, f"{d}/x.f32", f"{d}/out2.f32"], check=True)
    out2 = read(f"{d}/out2.f32", N)
    want2 = forward(t2, x)
    err2 = np.abs(out2 - want2).max()
    assert np.allclose(out2, want2, rtol=1e-5, atol=1e-5), (out2, want2)
    print(f"safetensors.numpy -> microprop: loaded; forward pass matches NumPy "
          f"(max |diff| {err2:.2e})")


if __name__ == "__main__":
    main()
