"""microprop's safetensors files against the real client: Python's `safetensors` and NumPy (named so as not to shadow the `safetensors` package).

Usage: python safetensors_check.py DIR EXAMPLE...  (EXAMPLE: the command that runs
examples/safetensors.rs). Checks that the file microprop exported loads with
safetensors.numpy.load_file with the right names, shapes, dtype and metadata, and that
a NumPy forward pass of those weights gives microprop's outputs; then writes a file with
safetensors.numpy.save_file, has microprop import it, and checks microprop's forward
pass of it against NumPy's. Both for an MLP and for two CNNs (1-D and 2-D), whose
NumPy forward pass is written in PyTorch's layouts: inputs N x C x L and N x C x H x W
(microprop's channels-last inputs transposed on the way in), weights as torch.nn.Conv1d,
Conv2d and Linear hold them, and Flatten ordering features [c][t] / [c][y][x] as
torch.nn.Flatten does, so that the files are what a PyTorch module of the same layers
loads with load_state_dict.
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


# ---- CNNs, in PyTorch's layouts ----

def relu(z):
    return np.maximum(z, 0.0)


def conv2d(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """torch.nn.functional.conv2d in float64: x N x C x H x W, w O x C/groups x kh x kw."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    assert c == cg * groups and o % groups == 0, (x.shape, w.shape, groups)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    og = o // groups
    out = np.empty((n, o, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        # windows[n, ci, ky, kx, y, x] = xs[n, ci, y*sh + ky*dh, x*sw + kx*dw]
        win = np.stack([
            np.stack([
                xs[:, :, ky * dh:ky * dh + sh * (oh - 1) + 1:sh, kx * dw:kx * dw + sw * (ow - 1) + 1:sw]
                for kx in range(kw)], axis=2)
            for ky in range(kh)], axis=2)
        out[:, g * og:(g + 1) * og] = np.einsum("ncijyx,ocij->noyx", win, w[g * og:(g + 1) * og])
    return out + b[None, :, None, None]


def conv1d(x, w, b, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: x N x C x L, w O x C/groups x k (a conv2d of height 1)."""
    y = conv2d(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding), (1, dilation), groups)
    return y[:, :, 0, :]


def max_pool2d(x, kh, kw):
    """torch.nn.functional.max_pool2d with kernel = stride = (kh, kw), no padding (floor)."""
    n, c, h, w = x.shape
    oh, ow = h // kh, w // kw
    return x[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw).max(axis=(3, 5))


def max_pool1d(x, k):
    """torch.nn.functional.max_pool1d with kernel = stride = k (a max_pool2d of height 1)."""
    return max_pool2d(x[:, :, None, :], 1, k)[:, :, 0, :]


def flatten(x):
    """torch.nn.Flatten: N x C x ... to N x (C·...), features [c][t] / [c][y][x]."""
    return x.reshape(x.shape[0], -1)


def linear(x, w, b):
    return x @ w.T + b


def cnn1d(t, x):
    """The 1-D CNN of examples/safetensors.rs on x, N x C x L."""
    a = relu(conv1d(x, t["layers.0.weight"], t["layers.0.bias"], padding=1))
    a = np.tanh(conv1d(a, t["layers.1.weight"], t["layers.1.bias"], stride=2, padding=1, dilation=2, groups=2))
    a = max_pool1d(a, 2)
    return linear(flatten(a), t["layers.4.weight"], t["layers.4.bias"])


def cnn2d(t, x):
    """The 2-D CNN of examples/safetensors.rs on x, N x C x H x W."""
    a = relu(conv2d(x, t["layers.0.weight"], t["layers.0.bias"], padding=(1, 1)))
    a = max_pool2d(a, 2, 2)
    return linear(flatten(a), t["layers.3.weight"], t["layers.3.bias"])


# name: (forward, microprop's input shape per example (channels last), to PyTorch's
# layout, tensor shapes).
CNNS = {
    "cnn1d": (cnn1d, (16, 3), (0, 2, 1), {
        "layers.0.weight": (8, 3, 3), "layers.0.bias": (8,),
        "layers.1.weight": (6, 4, 3), "layers.1.bias": (6,),
        "layers.4.weight": (4, 18), "layers.4.bias": (4,),
    }),
    "cnn2d": (cnn2d, (6, 8, 2), (0, 3, 1, 2), {
        "layers.0.weight": (4, 2, 3, 2), "layers.0.bias": (4,),
        "layers.3.weight": (3, 48), "layers.3.bias": (3,),
    }),
}


def check_cnns(d, example):
    subprocess.run(example + ["export-cnn", d], check=True)
    rng = np.random.default_rng(11)
    for name, (fwd, shape, to_torch, shapes) in CNNS.items():
        # microprop -> Python.
        path = f"{d}/{name}.safetensors"
        t = load_file(path)
        assert sorted(t) == sorted(shapes), (name, sorted(t))
        for k, want in shapes.items():
            assert t[k].dtype == np.float32, (name, k, t[k].dtype)
            assert t[k].shape == want, (name, k, t[k].shape, want)
        with safe_open(path, framework="numpy") as f:
            assert f.metadata() == {"format": "pt"}, f.metadata()
        x_mp = np.fromfile(f"{d}/{name}_x.f32", dtype="<f4").reshape((N,) + shape)
        x = x_mp.transpose(to_torch).astype(np.float64)  # channels-last -> PyTorch's
        out = read(f"{d}/{name}_out.f32", N)
        want = fwd({k: v.astype(np.float64) for k, v in t.items()}, x)
        err = np.abs(out - want).max()
        assert np.allclose(out, want, rtol=1e-5, atol=1e-5), (name, out, want)
        print(f"microprop -> safetensors.numpy ({name}): {len(t)} tensors, names, shapes and "
              f"dtype as torch.nn.Conv/Linear; NumPy forward pass in PyTorch's layout matches "
              f"(max |diff| {err:.2e})")

        # Python -> microprop.
        t2 = {k: (rng.standard_normal(s) * 0.5).astype(np.float32) for k, s in shapes.items()}
        path2 = f"{d}/{name}_python.safetensors"
        save_file(t2, path2, metadata={"format": "pt", "written_by": "numpy"})
        out_path = f"{d}/{name}_out2.f32"
        subprocess.run(example + ["import-cnn", name, path2, f"{d}/{name}_x.f32", out_path], check=True)
        out2 = read(out_path, N)
        want2 = fwd({k: v.astype(np.float64) for k, v in t2.items()}, x)
        err2 = np.abs(out2 - want2).max()
        assert np.allclose(out2, want2, rtol=1e-5, atol=1e-5), (name, out2, want2)
        print(f"safetensors.numpy -> microprop ({name}): loaded; forward pass matches NumPy "
              f"(max |diff| {err2:.2e})")


if __name__ == "__main__":
    main()
    check_cnns(sys.argv[1], sys.argv[2:])
