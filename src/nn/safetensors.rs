//! A network's parameters as a [safetensors] file, the weight format of PyTorch, candle,
//! burn and the Hugging Face hub, both ways and with no allocation: an [`Mlp`], or a
//! [`Net`] of dense layers and convolutions.
//!
//! [`Net::save_safetensors`] ([`Mlp::save_safetensors`]) writes the file into a caller
//! byte buffer of [`Net::safetensors_len`] ([`Mlp::safetensors_len`]) bytes (a
//! `const fn`); [`Net::load_safetensors`] ([`Mlp::load_safetensors`]) checks a file
//! completely before it writes a single parameter, so a rejected file leaves them exactly
//! as they were. [`Mlp`] and [`Net`] share one writer and one reader: an [`Mlp`] is
//! written as the [`Net`] of its dense layers would be.
//!
//! # Names, shapes and layout
//! Each layer with parameters is stored as `F32` tensors named after its index `l` in
//! the network (from 0), in PyTorch's layout for its kind:
//!
//! | layer | `layers.{l}.weight` | `layers.{l}.bias` (only if it has one) |
//! |---|---|---|
//! | [`Dense`](Layer::Dense) `in → out` | `[out, in]`, as `torch.nn.Linear`: `Wᵀ` | `[out]` |
//! | [`Conv1d`](Layer::Conv1d) | `[c_out, c_in/groups, k]`, as `torch.nn.Conv1d` | `[c_out]` |
//! | [`Conv2d`](Layer::Conv2d) | `[c_out, c_in/groups, kh, kw]`, as `torch.nn.Conv2d` | `[c_out]` |
//!
//! Layers without parameters (pooling, [`Flatten`](Layer::Flatten)) have no tensors but
//! keep their index, as in a PyTorch `nn.ModuleList` of the same layer types:
//! `[Conv1d, Conv1d, MaxPool1d, Flatten, Linear]` gives `layers.0`, `layers.1` and
//! `layers.4`. microprop's own weight layouts (see [`layer`](crate::layer)) are reordered
//! on the way out and back on the way in (`cg = c_in/groups`; a [`Conv1d`](Layer::Conv1d)
//! has no `ky`):
//!
//! ```text
//! dense:  microprop W[i][o]                        = weight[o][i]
//! conv:   microprop W[(ky·kw + kx)·cg + ci][oc]    = weight[oc][ci][ky][kx]
//! ```
//!
//! ## Flatten, and the dense layer after it
//! microprop's activations are channels-last: an `h × w × c` example is stored
//! `[y][x][ch]` (a sequence `[t][ch]`), so a [`Flatten`](Layer::Flatten) gives feature
//! `(y·w + x)·c + ch`, where PyTorch's `nn.Flatten` of its `N × C × H × W`
//! (`N × C × L`) tensor gives feature `ch·h·w + y·w + x` (`ch·len + t`). The weight of a
//! dense layer that follows a `Flatten` of a shape that is not flat therefore has its
//! columns permuted between the two orders, on the way out and back on the way in:
//!
//! ```text
//! microprop W[(y·w + x)·c + ch][o] = weight[o][ch·h·w + y·w + x]
//! ```
//!
//! so the file holds what the PyTorch module, whose `nn.Flatten` sees channels-first
//! data, computes with. (Several `Flatten`s in a row act as the first; a dense layer
//! after [`GlobalAvgPool`](Layer::GlobalAvgPool), or after a `Flatten` of a flat shape,
//! needs no permutation.) The inputs are not part of the file: PyTorch's batch is
//! `x_mp.transpose(1, 2)` of microprop's `N × len × c` one (`x_mp.permute(0, 3, 1, 2)`
//! of `N × h × w × c`).
//!
//! A PyTorch module that holds its layers as `self.layers = nn.ModuleList([...])` takes
//! the file directly. For [`Mlp`] `[64, 32, 10]`, ReLU then identity:
//!
//! ```text
//! import torch, safetensors.torch
//! class Net(torch.nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.layers = torch.nn.ModuleList([torch.nn.Linear(64, 32), torch.nn.Linear(32, 10)])
//!     def forward(self, x):
//!         return self.layers[1](torch.relu(self.layers[0](x)))
//! net = Net()
//! net.load_state_dict(safetensors.torch.load_file("digits.safetensors"))
//! safetensors.torch.save_file(net.state_dict(), "back.safetensors")  # and back
//! ```
//!
//! For the [`Net`] of `examples/vowels.rs` (29 steps of 12 channels):
//!
//! ```
//! use microprop::{Activation::Relu, layer::{Conv1d, Dense, Layer, Pool, Shape}, nn::Net};
//! const LAYERS: [Layer; 5] = [
//!     Layer::Conv1d(Conv1d::new(12, 32, 3).padding(1).act(Relu)),
//!     Layer::Conv1d(Conv1d::new(32, 32, 3).padding(1).act(Relu)),
//!     Layer::MaxPool1d(Pool::new(2)),
//!     Layer::Flatten,
//!     Layer::Dense(Dense::new(448, 9)),
//! ];
//! let net = Net::new(Shape::seq(29, 12), &LAYERS)?;
//! let params = vec![0.01f32; net.param_len()];
//! let mut file = vec![0u8; net.safetensors_len()];
//! net.save_safetensors(&params, &mut file)?; // std::fs::write("vowels.safetensors", &file)
//! let mut back = vec![0.0f32; net.param_len()];
//! net.load_safetensors(&file, &mut back)?;
//! assert_eq!(back, params);
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! ```text
//! import torch, safetensors.torch
//! from torch import nn
//! class Vowels(nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.layers = nn.ModuleList([
//!             nn.Conv1d(12, 32, 3, padding=1),  # layers.0
//!             nn.Conv1d(32, 32, 3, padding=1),  # layers.1
//!             nn.MaxPool1d(2),                  # layers.2, no tensors
//!             nn.Flatten(),                     # layers.3, no tensors
//!             nn.Linear(448, 9),                # layers.4 (its columns in [c][t] order)
//!         ])
//!     def forward(self, x):                     # x: N × 12 × 29 (microprop's, transposed)
//!         x = torch.relu(self.layers[0](x))
//!         x = torch.relu(self.layers[1](x))
//!         for layer in self.layers[2:]:
//!             x = layer(x)
//!         return x
//! net = Vowels()
//! net.load_state_dict(safetensors.torch.load_file("vowels.safetensors"))
//! ```
//!
//! (An `nn.Sequential` names its layers by position among all its modules, activations
//! included, `0.weight`, `2.weight`, …: rename the keys, or use a `ModuleList` as above.)
//! The activations are not stored, as PyTorch does not store them either: the network
//! that loads the file brings its own. The header's `__metadata__` is
//! `{"format":"pt"}`, what `safetensors.torch.save_file` writes. `.ci/safetensors.sh`
//! checks all of this against Python's `safetensors` and a NumPy forward pass in
//! PyTorch's layout, for an [`Mlp`], a 1-D and a 2-D CNN.
//!
//! # Format
//! An 8-byte little-endian header length `N`, `N` bytes of JSON header (padded with
//! spaces so that the data starts at a multiple of 8), then the tensors' little-endian
//! bytes, in the order `layers.0.weight`, `layers.0.bias`, `layers.1.weight`, … (layers
//! without parameters skipped).
//!
//! # What is rejected
//! `load_safetensors` reads files written by any safetensors writer (the tensors in any
//! order, any metadata, any whitespace), and returns an error, writing nothing, for:
//! * a file that is truncated, has a header length past its end, a header that is not
//!   UTF-8 JSON of the safetensors layout, offsets that do not tile the data section
//!   exactly (overlaps, holes, bytes after the last tensor), or a duplicated tensor:
//!   [`Error::Corrupt`];
//! * a tensor this network has no place for (another name, a layer past its last, a
//!   layer without parameters, a bias for a layer without one): [`Error::WrongNetwork`];
//! * one of its tensors missing, not `F32`, of the wrong shape, or whose offsets do not
//!   span its shape: [`Error::Tensor`], naming the tensor;
//! * a NaN or infinite value: [`Error::NonFinite`];
//! * a `params` buffer of the wrong length: [`Error::ShapeMismatch`];
//! * a network of more than [`SAFETENSORS_MAX_LAYERS`] layers (of any kind):
//!   [`Error::InvalidArgument`].
//!
//! Tensor names are compared byte for byte as written in the header: a name spelled with
//! JSON escapes (`"layers.0.weigh\u0074"`) is not recognised.
//!
//! The header is parsed by a small JSON reader of this module's own (strings, integers,
//! arrays, objects; any other value only skipped), which needs neither an allocator nor
//! a dependency, and names the culprit in each error; the `serde-json-core` crate would
//! need a hand-written visitor for the header's per-tensor keys all the same.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use super::step::{self, Stack};
use super::{Mlp, Net};
use crate::Error;
use crate::layer::{Dense, Layer, Shape, TorchShape};

/// Most layers a network may have to be saved or loaded as safetensors (64 tensors),
/// counting every layer, with parameters or not: `load_safetensors` keeps the offsets of
/// each tensor it has seen on the stack.
pub const SAFETENSORS_MAX_LAYERS: usize = 32;

/// Largest header the safetensors format allows (100 MB).
const MAX_HEADER: u64 = 100_000_000;

// The header, piece by piece (`{l}`, `{d}`, `{b}`, `{e}`: decimal numbers).
const OPEN: &str = r#"{"__metadata__":{"format":"pt"}"#;
/// `,"layers.{l}`
const NAME: &str = r#","layers."#;
/// `.weight":{"dtype":"F32","shape":[{d},{d}…`
const WEIGHT: &str = r#".weight":{"dtype":"F32","shape":["#;
/// `.bias":{"dtype":"F32","shape":[{d}`
const BIAS: &str = r#".bias":{"dtype":"F32","shape":["#;
/// `],"data_offsets":[{b},{e}`
const OFFSETS: &str = r#"],"data_offsets":["#;
/// `]}`
const CLOSE_TENSOR: &str = "]}";
const CLOSE: &str = "}";

/// Decimal digits of `v`.
const fn digits(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// The shape of a layer's bias tensor, `[out]`.
const fn bias_shape(out: usize) -> TorchShape {
    TorchShape {
        dims: [out, 0, 0, 0],
        n: 1,
    }
}

/// The header's length before padding and the data section's, accumulated tensor by
/// tensor: the one computation behind [`Mlp::safetensors_len`],
/// [`Net::safetensors_len`] and the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sizes {
    /// Bytes of the header so far, before padding.
    header: usize,
    /// Bytes of the data section so far: where the next tensor begins.
    data: usize,
}

impl Sizes {
    /// The empty header, `{"__metadata__":{"format":"pt"}}`.
    const START: Sizes = Sizes {
        header: OPEN.len() + CLOSE.len(),
        data: 0,
    };

    /// With the tensor `layers.{l}{kind}` of `shape` (`kind`: [`WEIGHT`] or [`BIAS`]);
    /// `None` if its size overflows.
    const fn tensor(self, l: usize, kind: &str, shape: &TorchShape) -> Option<Sizes> {
        let Some(numel) = shape.numel() else {
            return None;
        };
        let Some(bytes) = numel.checked_mul(4) else {
            return None;
        };
        let Some(end) = self.data.checked_add(bytes) else {
            return None;
        };
        // (No overflow: at most 2·SAFETENSORS_MAX_LAYERS tensors of under 200 bytes.)
        let mut header = self.header + NAME.len() + digits(l) + kind.len();
        let mut i = 0;
        while i < shape.n {
            header += digits(shape.dims[i]) + if i > 0 { 1 } else { 0 };
            i += 1;
        }
        header += OFFSETS.len() + digits(self.data) + 1 + digits(end) + CLOSE_TENSOR.len();
        Some(Sizes { header, data: end })
    }

    /// With layer `l`'s tensors (none for a kind without parameters).
    const fn layer(self, l: usize, layer: &Layer) -> Option<Sizes> {
        let Some(w) = layer.torch_weight() else {
            return Some(self);
        };
        let Some(next) = self.tensor(l, WEIGHT, &w) else {
            return None;
        };
        match layer.bias_len() {
            Some(out) => next.tensor(l, BIAS, &bias_shape(out)),
            None => Some(next),
        }
    }

    /// The header length `N` as stored: padded with spaces to a multiple of 8.
    const fn header_len(&self) -> Option<usize> {
        self.header.checked_next_multiple_of(8)
    }

    /// Bytes of the whole file, `usize::MAX` if that overflows.
    const fn file_len(&self) -> usize {
        let Some(header) = self.header_len() else {
            return usize::MAX;
        };
        match (8 + header).checked_add(self.data) {
            Some(len) => len,
            None => usize::MAX,
        }
    }

    /// The sizes of `net`'s file (`None` on overflow).
    fn of<S: Stack>(net: &S) -> Option<Sizes> {
        let mut sizes = Sizes::START;
        for l in 0..net.depth() {
            sizes = sizes.layer(l, &net.layer(l))?;
        }
        Some(sizes)
    }
}

/// Calls `f` for each layer with parameters, in order: its index, the layer, where its
/// parameters begin in the flat buffer, and, for a dense layer right after a
/// [`Layer::Flatten`] of a shape that is not flat, that shape (whose features PyTorch
/// orders `[ch][y][x]`).
fn for_each_tensor_layer<S: Stack>(
    net: &S,
    mut f: impl FnMut(usize, &Layer, usize, Option<Shape>),
) {
    let mut shape = net.input();
    // The shape the `Flatten`s just before this layer flattened.
    let mut flattened: Option<Shape> = None;
    let mut offset = 0;
    for l in 0..net.depth() {
        let layer = net.layer(l);
        if layer.torch_weight().is_some() {
            let from = match layer {
                Layer::Dense(_) => flattened.filter(|s| !s.is_flat()),
                _ => None,
            };
            f(l, &layer, offset, from);
            offset += layer.param_len();
        }
        flattened = match layer {
            Layer::Flatten => Some(flattened.unwrap_or(shape)),
            _ => None,
        };
        shape = layer.out_of(shape);
    }
}

impl Mlp<'_> {
    /// Bytes of the safetensors file of a network with these layer sizes and bias
    /// setting ([`Mlp::save_safetensors`] writes exactly this many), `usize::MAX` for
    /// sizes that overflow or more than [`SAFETENSORS_MAX_LAYERS`] layers. A `const fn`,
    /// so the buffer can be a `static`.
    ///
    /// ```
    /// use microprop::nn::Mlp;
    /// const SIZES: [usize; 3] = [64, 32, 10];
    /// static mut FILE: [u8; Mlp::safetensors_len(&SIZES, true)] =
    ///     [0; Mlp::safetensors_len(&SIZES, true)];
    /// // 8 bytes of length, the JSON header (padded to a multiple of 8), 4 bytes a parameter.
    /// let header = Mlp::safetensors_len(&SIZES, true) - 8 - 4 * Mlp::param_len(&SIZES, true);
    /// assert_eq!(header % 8, 0);
    /// ```
    pub const fn safetensors_len(sizes: &[usize], bias: bool) -> usize {
        if sizes.len() > SAFETENSORS_MAX_LAYERS + 1 || Self::param_len(sizes, bias) == usize::MAX {
            return usize::MAX;
        }
        let mut acc = Sizes::START;
        let mut l = 0;
        while l + 1 < sizes.len() {
            let layer = Layer::Dense(Dense::new(sizes[l], sizes[l + 1]).bias(bias));
            match acc.layer(l, &layer) {
                Some(next) => acc = next,
                None => return usize::MAX,
            }
            l += 1;
        }
        acc.file_len()
    }

    /// Writes `params` as a safetensors file (see [the module](crate::nn::safetensors)
    /// for names, shapes and the transposition) to the start of `out`, and returns the
    /// number of bytes written, [`Mlp::safetensors_len`]. Bytes of `out` past that are
    /// left alone. Allocates nothing.
    ///
    /// # Errors
    /// Nothing is written to `out` on any error.
    /// * [`Error::InvalidArgument`]: more than [`SAFETENSORS_MAX_LAYERS`] layers.
    /// * [`Error::Overflow`]: the file's length overflows `usize`.
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Mlp::param_len`].
    /// * [`Error::NonFinite`]: a parameter is NaN or infinite ([`Mlp::load_safetensors`]
    ///   would refuse the file).
    /// * [`Error::BufferTooSmall`]: `out` is shorter than [`Mlp::safetensors_len`].
    ///
    /// ```
    /// use microprop::{Activation::*, nn::Mlp};
    /// const SIZES: [usize; 3] = [2, 3, 1];
    /// let net = Mlp::new(&SIZES, &[Tanh, Identity], true)?;
    /// let params: Vec<f32> = (0..Mlp::param_len(&SIZES, true)).map(|i| i as f32).collect();
    /// let mut file = vec![0u8; Mlp::safetensors_len(&SIZES, true)];
    /// net.save_safetensors(&params, &mut file)?;
    ///
    /// let mut back = vec![0.0f32; params.len()];
    /// net.load_safetensors(&file, &mut back)?;
    /// assert_eq!(back, params);
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn save_safetensors(&self, params: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        check_layer_count(self.layers())?;
        let len = Self::safetensors_len(self.sizes(), self.has_bias());
        if len == usize::MAX {
            return Err(Error::Overflow {
                what: "Mlp::save_safetensors: the file's length",
            });
        }
        self.check_params(params)?;
        check_out(
            "out (Mlp::save_safetensors needs Mlp::safetensors_len bytes)",
            len,
            out,
        )?;
        Ok(write(self, params, &mut out[..len]))
    }

    /// Reads a safetensors file (see [the module](crate::nn::safetensors) for the names
    /// and shapes it must hold) into `params`, transposing each `out × in` weight into
    /// microprop's `in × out` layout. Allocates nothing.
    ///
    /// The whole file is checked first (its header, every tensor's name, dtype, shape
    /// and offsets, and that every value is finite); only then are the parameters
    /// written.
    ///
    /// # Errors
    /// `params` is left exactly as it was (bit for bit) on any error; the variants are
    /// listed under [what is rejected](crate::nn::safetensors#what-is-rejected).
    ///
    /// ```
    /// use microprop::{Activation::*, Error, nn::Mlp};
    /// const SIZES: [usize; 2] = [2, 1];
    /// let net = Mlp::new(&SIZES, &[Sigmoid], true)?;
    /// let mut file = [0u8; Mlp::safetensors_len(&SIZES, true)];
    /// net.save_safetensors(&[1.0, -2.0, 0.5], &mut file)?;
    ///
    /// // The same file read by a network with another input size: the tensor is named.
    /// let wider = Mlp::new(&[3, 1], &[Sigmoid], true)?;
    /// let mut params = [7.0f32; 4];
    /// let e = wider.load_safetensors(&file, &mut params).unwrap_err();
    /// assert!(matches!(e, Error::Tensor { layer: 0, tensor: "weight", .. }), "{e}");
    /// assert_eq!(params, [7.0; 4]); // untouched
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn load_safetensors(&self, bytes: &[u8], params: &mut [f32]) -> Result<(), Error> {
        load(self, bytes, params)
    }
}

impl Net<'_> {
    /// Bytes of this network's safetensors file ([`Net::save_safetensors`] writes exactly
    /// this many), `usize::MAX` for sizes that overflow or more than
    /// [`SAFETENSORS_MAX_LAYERS`] layers. A `const fn`, so the buffer can be a `static`.
    ///
    /// ```
    /// use microprop::{layer::{Conv2d, Layer, Shape}, nn::Net};
    /// const LAYERS: [Layer; 2] = [Layer::Conv2d(Conv2d::new(1, 4, (3, 3))), Layer::GlobalAvgPool];
    /// const NET: Net = match Net::new(Shape::image(8, 8, 1), &LAYERS) {
    ///     Ok(net) => net,
    ///     Err(_) => panic!("the layers do not fit"),
    /// };
    /// static mut FILE: [u8; NET.safetensors_len()] = [0; NET.safetensors_len()];
    /// // 8 bytes of length, the JSON header (padded to a multiple of 8), 4 bytes a parameter.
    /// assert_eq!((NET.safetensors_len() - 8 - 4 * NET.param_len()) % 8, 0);
    /// ```
    pub const fn safetensors_len(&self) -> usize {
        let layers = self.layers();
        if layers.len() > SAFETENSORS_MAX_LAYERS {
            return usize::MAX;
        }
        let mut acc = Sizes::START;
        let mut l = 0;
        while l < layers.len() {
            match acc.layer(l, &layers[l]) {
                Some(next) => acc = next,
                None => return usize::MAX,
            }
            l += 1;
        }
        acc.file_len()
    }

    /// Writes `params` as a safetensors file (see [the module](crate::nn::safetensors)
    /// for names, shapes, and the reordering into PyTorch's layouts) to the start of
    /// `out`, and returns the number of bytes written, [`Net::safetensors_len`]. Bytes of
    /// `out` past that are left alone. Allocates nothing.
    ///
    /// # Errors
    /// Nothing is written to `out` on any error.
    /// * [`Error::InvalidArgument`]: more than [`SAFETENSORS_MAX_LAYERS`] layers.
    /// * [`Error::Overflow`]: the file's length overflows `usize`.
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Net::param_len`].
    /// * [`Error::NonFinite`]: a parameter is NaN or infinite ([`Net::load_safetensors`]
    ///   would refuse the file).
    /// * [`Error::BufferTooSmall`]: `out` is shorter than [`Net::safetensors_len`].
    pub fn save_safetensors(&self, params: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        check_layer_count(self.layers().len())?;
        let len = self.safetensors_len();
        if len == usize::MAX {
            return Err(Error::Overflow {
                what: "Net::save_safetensors: the file's length",
            });
        }
        self.check_params(params)?;
        check_out(
            "out (Net::save_safetensors needs Net::safetensors_len bytes)",
            len,
            out,
        )?;
        Ok(write(self, params, &mut out[..len]))
    }

    /// Reads a safetensors file (see [the module](crate::nn::safetensors) for the names
    /// and shapes it must hold) into `params`, reordering each weight from PyTorch's
    /// layout into microprop's (and the columns of a dense layer after a
    /// [`Flatten`](Layer::Flatten) from PyTorch's `[ch][y][x]` feature order to
    /// channels-last). Allocates nothing.
    ///
    /// The whole file is checked first (its header, every tensor's name, dtype, shape
    /// and offsets, and that every value is finite); only then are the parameters
    /// written.
    ///
    /// # Errors
    /// `params` is left exactly as it was (bit for bit) on any error; the variants are
    /// listed under [what is rejected](crate::nn::safetensors#what-is-rejected).
    ///
    /// ```
    /// use microprop::{Error, layer::{Conv1d, Layer, Shape}, nn::Net};
    /// const K3: [Layer; 2] = [Layer::Conv1d(Conv1d::new(2, 4, 3)), Layer::GlobalAvgPool];
    /// const K5: [Layer; 2] = [Layer::Conv1d(Conv1d::new(2, 4, 5)), Layer::GlobalAvgPool];
    /// let net = Net::new(Shape::seq(9, 2), &K3)?;
    /// let mut file = vec![0u8; net.safetensors_len()];
    /// net.save_safetensors(&vec![0.5; net.param_len()], &mut file)?;
    ///
    /// // Read by a network with a wider kernel: the tensor is named.
    /// let wider = Net::new(Shape::seq(9, 2), &K5)?;
    /// let mut params = vec![7.0f32; wider.param_len()];
    /// let e = wider.load_safetensors(&file, &mut params).unwrap_err();
    /// assert!(matches!(e, Error::Tensor { layer: 0, tensor: "weight", .. }), "{e}");
    /// assert!(params.iter().all(|&p| p == 7.0)); // untouched
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn load_safetensors(&self, bytes: &[u8], params: &mut [f32]) -> Result<(), Error> {
        load(self, bytes, params)
    }
}

fn check_layer_count(layers: usize) -> Result<(), Error> {
    if layers > SAFETENSORS_MAX_LAYERS {
        return Err(Error::InvalidArgument {
            what: "safetensors: a network of more than SAFETENSORS_MAX_LAYERS (32) layers",
        });
    }
    Ok(())
}

/// [`Error::BufferTooSmall`] unless `out` holds `len` bytes.
fn check_out(what: &'static str, len: usize, out: &[u8]) -> Result<(), Error> {
    if out.len() < len {
        return Err(Error::BufferTooSmall {
            what,
            needed: len,
            len: out.len(),
        });
    }
    Ok(())
}

/// Writes `net`'s file of `params` into `out`, sized exactly (its length checked not to
/// overflow, the parameters checked); returns the bytes written.
fn write<S: Stack>(net: &S, params: &[f32], out: &mut [u8]) -> usize {
    // The caller's length did not overflow, so neither does the header.
    let header = Sizes::of(net).and_then(|s| s.header_len()).unwrap_or(0);
    let mut w = Writer { out, pos: 0 };
    w.put((header as u64).to_le_bytes().as_slice());
    w.put(OPEN.as_bytes());
    let mut offset = 0;
    for_each_tensor_layer(net, |l, layer, _, _| {
        let bias = layer.bias_len().map(bias_shape);
        for (kind, shape) in [(WEIGHT, layer.torch_weight()), (BIAS, bias)] {
            let Some(shape) = shape else { continue };
            let end = offset + 4 * shape.numel().unwrap_or(0);
            w.put(NAME.as_bytes());
            w.num(l);
            w.put(kind.as_bytes());
            for (i, &d) in shape.dims[..shape.n].iter().enumerate() {
                if i > 0 {
                    w.put(b",");
                }
                w.num(d);
            }
            w.offsets(offset, end);
            offset = end;
        }
    });
    w.put(CLOSE.as_bytes());
    while w.pos < 8 + header {
        w.put(b" ");
    }
    // Each layer's weights in PyTorch's order, then its bias.
    for_each_tensor_layer(net, |_, layer, at, flat_from| {
        let (weights, rest) = params[at..].split_at(layer.weight_len());
        layer.torch_weight_order(flat_from, |i| w.put(&weights[i].to_le_bytes()));
        for b in &rest[..layer.bias_len().unwrap_or(0)] {
            w.put(&b.to_le_bytes());
        }
    });
    debug_assert_eq!(w.pos, w.out.len());
    w.pos
}

/// Checks `bytes` against `net` completely, then reads it into `params`.
fn load<S: Stack>(net: &S, bytes: &[u8], params: &mut [f32]) -> Result<(), Error> {
    step::check_param_count(net, net.names().params, params.len())?;
    check_layer_count(net.depth())?;
    let file = File::parse(net, bytes)?;
    // Every value finite, before anything is written.
    if !file.data.chunks_exact(4).all(|b| f32_at(b).is_finite()) {
        return Err(Error::NonFinite {
            what: "a value of the safetensors file",
        });
    }
    for_each_tensor_layer(net, |l, layer, at, flat_from| {
        let (weights, rest) = params[at..].split_at_mut(layer.weight_len());
        // `parse` checked that each tensor spans exactly its shape's elements.
        let mut values = file.tensor(l, false).chunks_exact(4);
        layer.torch_weight_order(flat_from, |i| {
            if let Some(b) = values.next() {
                weights[i] = f32_at(b);
            }
        });
        if layer.bias_len().is_some() {
            for (p, b) in rest.iter_mut().zip(file.tensor(l, true).chunks_exact(4)) {
                *p = f32_at(b);
            }
        }
    });
    Ok(())
}

/// The little-endian `f32` of 4 bytes.
fn f32_at(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Sequential writes into a buffer the caller sized exactly.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// `v` in decimal.
    fn num(&mut self, v: usize) {
        let mut buf = [0u8; 20];
        let n = digits(v);
        let mut x = v;
        for d in buf[..n].iter_mut().rev() {
            *d = b'0' + (x % 10) as u8;
            x /= 10;
        }
        self.put(&buf[..n]);
    }

    /// `],"data_offsets":[{b},{e}]}`
    fn offsets(&mut self, begin: usize, end: usize) {
        self.put(OFFSETS.as_bytes());
        self.num(begin);
        self.put(b",");
        self.num(end);
        self.put(CLOSE_TENSOR.as_bytes());
    }
}

/// A checked file: its data section, and where each of the network's tensors lies in it.
struct File<'b> {
    data: &'b [u8],
    /// `[begin, end)` of tensor `2l + bias` in `data`.
    spans: [(usize, usize); 2 * SAFETENSORS_MAX_LAYERS],
}

/// Whether `net`'s layer `l` has a weight tensor (`bias` false) or a bias tensor.
fn has_tensor<S: Stack>(net: &S, l: usize, bias: bool) -> bool {
    let layer = net.layer(l);
    if bias {
        layer.bias_len().is_some()
    } else {
        layer.torch_weight().is_some()
    }
}

impl<'b> File<'b> {
    /// The bytes of layer `l`'s weight (or bias).
    fn tensor(&self, l: usize, bias: bool) -> &'b [u8] {
        let (b, e) = self.spans[2 * l + usize::from(bias)];
        &self.data[b..e]
    }

    /// Checks `bytes` completely against `net` (see the module's "What is rejected").
    fn parse<S: Stack>(net: &S, bytes: &'b [u8]) -> Result<File<'b>, Error> {
        let corrupt = |what| Error::Corrupt { what };
        let Some((n, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(corrupt(
                "safetensors: shorter than its 8-byte header length",
            ));
        };
        let n = u64::from_le_bytes(*n);
        if n > MAX_HEADER {
            return Err(corrupt("safetensors: header length above 100 MB"));
        }
        let Some((header, data)) = rest.split_at_checked(n as usize) else {
            return Err(corrupt(
                "safetensors: truncated (the header runs past the end)",
            ));
        };
        if core::str::from_utf8(header).is_err() {
            return Err(corrupt("safetensors: the header is not UTF-8"));
        }
        let mut file = File {
            data,
            spans: [(0, 0); 2 * SAFETENSORS_MAX_LAYERS],
        };
        let mut seen = 0u64;
        let mut json = Json { s: header, pos: 0 };
        json.expect(b'{')?;
        if json.peek() == Some(b'}') {
            json.pos += 1;
        } else {
            loop {
                let key = json.string()?;
                json.expect(b':')?;
                if key == b"__metadata__" {
                    json.skip_value(0)?;
                } else {
                    let (l, bias) = tensor_slot(net, key)?;
                    let slot = 2 * l + usize::from(bias);
                    if seen & (1 << slot) != 0 {
                        return Err(corrupt("safetensors: a tensor appears twice"));
                    }
                    seen |= 1 << slot;
                    file.spans[slot] = tensor_info(net, &mut json, l, bias, data.len())?;
                }
                match json.next() {
                    Some(b',') => {}
                    Some(b'}') => break,
                    _ => return Err(corrupt("safetensors: header: expected , or }")),
                }
            }
        }
        // Python pads the header with spaces; nothing else may follow the object.
        if json.peek().is_some() {
            return Err(corrupt("safetensors: header: bytes after the JSON object"));
        }
        // Slot 2l is layer l's weight, 2l + 1 its bias.
        for slot in 0..2 * net.depth() {
            let (l, bias) = (slot / 2, slot % 2 == 1);
            if has_tensor(net, l, bias) && seen & (1 << slot) == 0 {
                return Err(tensor_err(l, bias, "missing from the file"));
            }
        }
        // The tensors tile the data section: walk from offset 0, each step to the end of
        // the tensor that begins where the last ended (no tensor is empty: sizes ≥ 1).
        let slots = (0..2 * net.depth()).filter(|&s| seen & (1 << s) != 0);
        let mut at = 0;
        for _ in slots.clone() {
            match slots.clone().find(|&s| file.spans[s].0 == at) {
                Some(s) => at = file.spans[s].1,
                None => {
                    return Err(corrupt(
                        "safetensors: the tensors' data_offsets overlap or leave a hole",
                    ));
                }
            }
        }
        if at != data.len() {
            return Err(corrupt("safetensors: bytes after the last tensor"));
        }
        Ok(file)
    }
}

fn tensor_err(layer: usize, bias: bool, what: &'static str) -> Error {
    Error::Tensor {
        layer,
        tensor: if bias { "bias" } else { "weight" },
        what,
    }
}

/// The layer and kind of the tensor named `key`, if this network has one of that name.
fn tensor_slot<S: Stack>(net: &S, key: &[u8]) -> Result<(usize, bool), Error> {
    let foreign = Error::WrongNetwork {
        what: "the safetensors file holds a tensor this network has no place for \
               (it reads layers.{l}.weight and layers.{l}.bias of its layers with \
               parameters)",
    };
    let Some(rest) = key.strip_prefix(b"layers.") else {
        return Err(foreign);
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let (num, kind) = rest.split_at(digits);
    if digits == 0 || digits > 9 || (digits > 1 && num[0] == b'0') {
        return Err(foreign);
    }
    let l = num
        .iter()
        .fold(0usize, |v, &c| v * 10 + usize::from(c - b'0'));
    let bias = match kind {
        b".weight" => false,
        b".bias" => true,
        _ => return Err(foreign),
    };
    if l >= net.depth() || !has_tensor(net, l, bias) {
        return Err(foreign);
    }
    Ok((l, bias))
}

/// What a tensor of the wrong shape is told: the shape it must have, by layer kind.
fn shape_hint(layer: &Layer, bias: bool) -> &'static str {
    match (layer, bias) {
        (Layer::Dense(_), true) => "its shape is not [d_{l+1}] (this layer's outputs)",
        (Layer::Dense(_), false) => {
            "its shape is not [d_{l+1}, d_l] (out × in, as torch.nn.Linear stores it)"
        }
        (_, true) => "its shape is not [out_channels] (this layer's outputs)",
        (Layer::Conv1d(_), false) => {
            "its shape is not [out_channels, in_channels/groups, kernel] (as torch.nn.Conv1d \
             stores it)"
        }
        _ => {
            "its shape is not [out_channels, in_channels/groups, kernel_h, kernel_w] (as \
             torch.nn.Conv2d stores it)"
        }
    }
}

/// Reads the info object of tensor `(l, bias)` and checks it against the network:
/// returns its `[begin, end)` in a data section of `data_len` bytes.
fn tensor_info<S: Stack>(
    net: &S,
    json: &mut Json<'_>,
    l: usize,
    bias: bool,
    data_len: usize,
) -> Result<(usize, usize), Error> {
    let corrupt = |what| Error::Corrupt { what };
    let layer = net.layer(l);
    // `tensor_slot` checked that the layer has this tensor.
    let want = if bias {
        bias_shape(layer.bias_len().unwrap_or(0))
    } else {
        layer.torch_weight().unwrap_or(bias_shape(0))
    };
    let (mut dtype, mut shape, mut offsets) = (None, None, None);
    json.expect(b'{')?;
    loop {
        let key = json.string()?;
        json.expect(b':')?;
        let (slot_taken, value) = match key {
            b"dtype" => (dtype.is_some(), Field::Dtype(json.string()?)),
            b"shape" => (shape.is_some(), Field::Ints(json.ints()?)),
            b"data_offsets" => (offsets.is_some(), Field::Ints(json.ints()?)),
            _ => {
                json.skip_value(0)?;
                (false, Field::Other)
            }
        };
        if slot_taken {
            return Err(corrupt("safetensors: a tensor's info repeats a field"));
        }
        match (key, value) {
            (b"dtype", Field::Dtype(d)) => dtype = Some(d),
            (b"shape", Field::Ints(s)) => shape = Some(s),
            (b"data_offsets", Field::Ints(o)) => offsets = Some(o),
            _ => {}
        }
        match json.next() {
            Some(b',') => {}
            Some(b'}') => break,
            _ => return Err(corrupt("safetensors: tensor info: expected , or }")),
        }
    }
    let (Some(dtype), Some(shape), Some(offsets)) = (dtype, shape, offsets) else {
        return Err(corrupt(
            "safetensors: a tensor's info lacks dtype, shape or data_offsets",
        ));
    };
    if dtype != b"F32" {
        return Err(tensor_err(
            l,
            bias,
            "its dtype is not F32 (save the model in float32, e.g. model.float())",
        ));
    }
    let same = shape.values().len() == want.n
        && shape
            .values()
            .iter()
            .zip(&want.dims)
            .all(|(&s, &d)| usize::try_from(s) == Ok(d));
    if !same {
        return Err(tensor_err(l, bias, shape_hint(&layer, bias)));
    }
    let &[begin, end] = offsets.values() else {
        return Err(corrupt("safetensors: data_offsets is not [begin, end]"));
    };
    // The layer's parameter count fits `usize`, so its tensors' sizes do.
    let numel = want.numel().unwrap_or(usize::MAX) as u64;
    if end < begin || end - begin != numel.saturating_mul(4) {
        return Err(tensor_err(
            l,
            bias,
            "its data_offsets do not span 4 bytes for each element of its shape",
        ));
    }
    if end > data_len as u64 {
        return Err(corrupt(
            "safetensors: truncated (a tensor runs past the end)",
        ));
    }
    Ok((begin as usize, end as usize))
}

/// A field of a tensor's info, as read.
enum Field<'a> {
    Dtype(&'a [u8]),
    Ints(Ints),
    Other,
}

/// Up to 4 non-negative integers of a JSON array, and how many it had.
#[derive(Clone, Copy)]
struct Ints {
    v: [u64; 4],
    n: usize,
}

impl Ints {
    /// The values, or an empty slice for an array longer than 4 (no shape or offsets
    /// this module accepts is that long).
    fn values(&self) -> &[u64] {
        if self.n <= 4 { &self.v[..self.n] } else { &[] }
    }
}

/// The subset of JSON a safetensors header needs, read in place.
struct Json<'a> {
    s: &'a [u8],
    pos: usize,
}

/// Nesting the reader follows inside skipped values (metadata is one level deep).
const MAX_DEPTH: u32 = 16;

impl<'a> Json<'a> {
    fn err(what: &'static str) -> Error {
        Error::Corrupt { what }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.s.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.next() != Some(c) {
            return Err(Self::err(match c {
                b'{' => "safetensors: header: expected an object",
                b':' => "safetensors: header: expected :",
                _ => "safetensors: header: unexpected character",
            }));
        }
        Ok(())
    }

    /// A string's raw bytes between its quotes (escapes checked, not decoded).
    fn string(&mut self) -> Result<&'a [u8], Error> {
        if self.next() != Some(b'"') {
            return Err(Self::err("safetensors: header: expected a string"));
        }
        let start = self.pos;
        loop {
            match self.s.get(self.pos) {
                None => return Err(Self::err("safetensors: header: unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(&self.s[start..self.pos - 1]);
                }
                Some(b'\\') => {
                    let ok = match self.s.get(self.pos + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 2;
                            true
                        }
                        Some(b'u') => {
                            let hex = self.s.get(self.pos + 2..self.pos + 6);
                            self.pos += 6;
                            hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(Self::err("safetensors: header: bad escape in a string"));
                    }
                }
                Some(&c) if c < 0x20 => {
                    return Err(Self::err(
                        "safetensors: header: control character in a string",
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// A non-negative integer (no sign, fraction or exponent).
    fn uint(&mut self) -> Result<u64, Error> {
        let bad = || Self::err("safetensors: header: expected a non-negative integer");
        let first = self.peek().ok_or_else(bad)?;
        let mut v: u64 = 0;
        let mut n = 0;
        while let Some(&c) = self.s.get(self.pos).filter(|c| c.is_ascii_digit()) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| Self::err("safetensors: header: an integer overflows u64"))?;
            self.pos += 1;
            n += 1;
        }
        let leading_zero = first == b'0' && n > 1;
        let more = matches!(self.s.get(self.pos), Some(b'.' | b'e' | b'E'));
        if n == 0 || leading_zero || more {
            return Err(bad());
        }
        Ok(v)
    }

    /// An array of non-negative integers.
    fn ints(&mut self) -> Result<Ints, Error> {
        if self.next() != Some(b'[') {
            return Err(Self::err(
                "safetensors: header: expected an array of integers",
            ));
        }
        let mut out = Ints { v: [0; 4], n: 0 };
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            let v = self.uint()?;
            if let Some(slot) = out.v.get_mut(out.n) {
                *slot = v;
            }
            out.n += 1;
            match self.next() {
                Some(b',') => {}
                Some(b']') => return Ok(out),
                _ => return Err(Self::err("safetensors: header: expected , or ]")),
            }
        }
    }

    /// Skips any JSON value, nested at most [`MAX_DEPTH`] deep.
    fn skip_value(&mut self, depth: u32) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Self::err("safetensors: header: nested too deeply"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.pos += 1;
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    match self.next() {
                        Some(b',') => {}
                        Some(b'}') => return Ok(()),
                        _ => return Err(Self::err("safetensors: header: expected , or }")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.next() {
                        Some(b',') => {}
                        Some(b']') => return Ok(()),
                        _ => return Err(Self::err("safetensors: header: expected , or ]")),
                    }
                }
            }
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Self::err("safetensors: header: expected a value")),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), Error> {
        if self.s[self.pos..].starts_with(w) {
            self.pos += w.len();
            Ok(())
        } else {
            Err(Self::err("safetensors: header: expected a value"))
        }
    }

    /// Any JSON number: `-? int frac? exp?`.
    fn number(&mut self) -> Result<(), Error> {
        let bad = || Self::err("safetensors: header: malformed number");
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let digits = |j: &mut Self| {
            let start = j.pos;
            while j.s.get(j.pos).is_some_and(u8::is_ascii_digit) {
                j.pos += 1;
            }
            j.pos - start
        };
        if digits(self) == 0 {
            return Err(bad());
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(bad());
            }
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(bad());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header length the `const fn`s compute is what the writer writes, padding
    /// aside, for an Mlp and a Net of every kind with parameters.
    #[test]
    fn header_len_is_what_the_writer_writes() {
        use crate::Activation::Tanh;
        use crate::layer::{Conv1d, Conv2d, Pool};
        let check = |file: &[u8], unpadded: usize| {
            let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
            let header = &file[8..8 + n];
            assert_eq!(header[unpadded - 1], b'}');
            assert!(header[unpadded..].iter().all(|&c| c == b' '));
            assert_eq!(n % 8, 0);
        };
        for sizes in [
            &[1usize, 1][..],
            &[2, 3, 1],
            &[64, 32, 10],
            &[1000, 1, 10],
            &[9, 10, 11, 99, 100, 101],
            &[12_345, 1, 7],
        ] {
            if cfg!(miri) && sizes[0] >= 1000 {
                // 40–50 KB written value by value: minutes under Miri, for digits the
                // 64-wide layer already has.
                continue;
            }
            for bias in [false, true] {
                let acts = [Tanh; 8];
                let net = Mlp::new(sizes, &acts[..sizes.len() - 1], bias).unwrap();
                let len = Mlp::safetensors_len(sizes, bias);
                let mut out = std::vec![0u8; len + 3];
                let params = std::vec![0.5f32; Mlp::param_len(sizes, bias)];
                assert_eq!(net.save_safetensors(&params, &mut out), Ok(len));
                check(&out, Sizes::of(&net).unwrap().header);
            }
        }
        let layers = [
            Layer::Conv2d(Conv2d::new(3, 12, (3, 2)).groups(3)),
            Layer::Conv1d(Conv1d::new(12, 10, 3).bias(false)),
            Layer::MaxPool1d(Pool::new(2)),
            Layer::Flatten,
            Layer::Dense(Dense::new(20, 1)),
        ];
        let net = Net::new(Shape::image(3, 8, 3), &layers).unwrap();
        let len = net.safetensors_len();
        let mut out = std::vec![0u8; len];
        let params = std::vec![0.5f32; net.param_len()];
        assert_eq!(net.save_safetensors(&params, &mut out), Ok(len));
        check(&out, Sizes::of(&net).unwrap().header);
    }
}
