//! An [`Mlp`]'s parameters as a [safetensors] file, the weight format of PyTorch, candle,
//! burn and the Hugging Face hub, both ways and with no allocation.
//!
//! [`Mlp::save_safetensors`] writes the file into a caller byte buffer of
//! [`Mlp::safetensors_len`] bytes (a `const fn`); [`Mlp::load_safetensors`] checks a file
//! completely before it writes a single parameter, so a rejected file leaves them exactly
//! as they were.
//!
//! # Names, shapes and layout
//! Layer `l` (from 0) is stored as two `F32` tensors, in the layout of `torch.nn.Linear`:
//!
//! | tensor | shape | holds |
//! |---|---|---|
//! | `layers.{l}.weight` | `[d_{l+1}, d_l]` (out × in) | `Wᵀ`: microprop's `W_l` is in × out, so it is transposed on the way out and back on the way in |
//! | `layers.{l}.bias` | `[d_{l+1}]` | `b_l` (only for a network with biases) |
//!
//! so a PyTorch module whose linear layers are `self.layers = nn.ModuleList([...])` takes
//! the file directly:
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
//! (An `nn.Sequential` names its layers by position among all its modules, `0.weight`,
//! `2.weight`, …: rename the keys, or use a `ModuleList` as above.) The activations are
//! not stored, as PyTorch does not store them either: the network that loads the file
//! brings its own. The header's `__metadata__` is `{"format":"pt"}`, what
//! `safetensors.torch.save_file` writes.
//!
//! # Format
//! An 8-byte little-endian header length `N`, `N` bytes of JSON header (padded with
//! spaces so that the data starts at a multiple of 8), then the tensors' little-endian
//! bytes, in the order `layers.0.weight`, `layers.0.bias`, `layers.1.weight`, … .
//!
//! # What is rejected
//! [`Mlp::load_safetensors`] reads files written by any safetensors writer (the tensors
//! in any order, any metadata, any whitespace), and returns an error, writing nothing,
//! for:
//! * a file that is truncated, has a header length past its end, a header that is not
//!   UTF-8 JSON of the safetensors layout, offsets that do not tile the data section
//!   exactly (overlaps, holes, bytes after the last tensor), or a duplicated tensor:
//!   [`Error::Corrupt`];
//! * a tensor this network has no place for (another name, a layer past its last, a bias
//!   for a network without biases): [`Error::WrongNetwork`];
//! * one of its tensors missing, not `F32`, of the wrong shape, or whose offsets do not
//!   span its shape: [`Error::Tensor`], naming the tensor;
//! * a NaN or infinite value: [`Error::NonFinite`];
//! * a `params` buffer of the wrong length: [`Error::ShapeMismatch`];
//! * a network of more than [`SAFETENSORS_MAX_LAYERS`] layers: [`Error::InvalidArgument`].
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

use super::Mlp;
use crate::Error;

/// Most layers a network may have to be saved or loaded as safetensors (64 tensors):
/// [`Mlp::load_safetensors`] keeps the offsets of each tensor it has seen on the stack.
pub const SAFETENSORS_MAX_LAYERS: usize = 32;

/// Largest header the safetensors format allows (100 MB).
const MAX_HEADER: u64 = 100_000_000;

// The header, piece by piece (`{l}`, `{o}`, `{i}`, `{b}`, `{e}`: decimal numbers).
const OPEN: &str = r#"{"__metadata__":{"format":"pt"}"#;
/// `,"layers.{l}`
const NAME: &str = r#","layers."#;
/// `.weight":{"dtype":"F32","shape":[{o},{i}`
const WEIGHT: &str = r#".weight":{"dtype":"F32","shape":["#;
/// `.bias":{"dtype":"F32","shape":[{o}`
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

/// Length of the header before padding, or `None` if it overflows.
const fn header_unpadded(sizes: &[usize], bias: bool) -> Option<usize> {
    let mut len = OPEN.len() + CLOSE.len();
    let mut offset: usize = 0;
    let mut l = 0;
    while l + 1 < sizes.len() {
        let (d_in, d_out) = (sizes[l], sizes[l + 1]);
        let Some(w) = d_in.checked_mul(d_out) else {
            return None;
        };
        let Some(wb) = w.checked_mul(4) else {
            return None;
        };
        let Some(end) = offset.checked_add(wb) else {
            return None;
        };
        len += NAME.len() + digits(l) + WEIGHT.len() + digits(d_out) + 1 + digits(d_in);
        len += OFFSETS.len() + digits(offset) + 1 + digits(end) + CLOSE_TENSOR.len();
        offset = end;
        if bias {
            let Some(bb) = d_out.checked_mul(4) else {
                return None;
            };
            let Some(end) = offset.checked_add(bb) else {
                return None;
            };
            len += NAME.len() + digits(l) + BIAS.len() + digits(d_out);
            len += OFFSETS.len() + digits(offset) + 1 + digits(end) + CLOSE_TENSOR.len();
            offset = end;
        }
        l += 1;
    }
    Some(len)
}

/// The header length `N` as stored: padded with spaces to a multiple of 8.
const fn header_len(sizes: &[usize], bias: bool) -> Option<usize> {
    match header_unpadded(sizes, bias) {
        Some(n) => n.checked_next_multiple_of(8),
        None => None,
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
        if sizes.len() > SAFETENSORS_MAX_LAYERS + 1 {
            return usize::MAX;
        }
        let Some(header) = header_len(sizes, bias) else {
            return usize::MAX;
        };
        let params = Self::param_len(sizes, bias);
        let Some(data) = params.checked_mul(4) else {
            return usize::MAX;
        };
        match (8 + header).checked_add(data) {
            Some(len) if params != usize::MAX => len,
            _ => usize::MAX,
        }
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
        let (sizes, bias) = (self.sizes(), self.has_bias());
        check_layer_count(self.layers())?;
        let len = Self::safetensors_len(sizes, bias);
        if len == usize::MAX {
            return Err(Error::Overflow {
                what: "Mlp::save_safetensors: the file's length",
            });
        }
        self.check_params(params)?;
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                what: "out (Mlp::save_safetensors needs Mlp::safetensors_len bytes)",
                needed: len,
                len: out.len(),
            });
        }
        // `safetensors_len` did not overflow, so neither does the header.
        let header = header_len(sizes, bias).unwrap_or(0);
        let mut w = Writer {
            out: &mut out[..len],
            pos: 0,
        };
        w.put((header as u64).to_le_bytes().as_slice());
        w.put(OPEN.as_bytes());
        let mut offset = 0;
        for l in 0..self.layers() {
            let (d_in, d_out) = (sizes[l], sizes[l + 1]);
            let end = offset + 4 * d_in * d_out;
            w.put(NAME.as_bytes());
            w.num(l);
            w.put(WEIGHT.as_bytes());
            w.num(d_out);
            w.put(b",");
            w.num(d_in);
            w.offsets(offset, end);
            offset = end;
            if bias {
                let end = offset + 4 * d_out;
                w.put(NAME.as_bytes());
                w.num(l);
                w.put(BIAS.as_bytes());
                w.num(d_out);
                w.offsets(offset, end);
                offset = end;
            }
        }
        w.put(CLOSE.as_bytes());
        while w.pos < 8 + header {
            w.put(b" ");
        }
        // Per layer W_l (d_l × d_{l+1}, row-major), then b_l: the parameter layout.
        let mut rest = params;
        for l in 0..self.layers() {
            let (d_in, d_out) = (sizes[l], sizes[l + 1]);
            let (wl, after) = rest.split_at(d_in * d_out);
            // Out × in: row o of the tensor is column o of W (in × out).
            for o in 0..d_out {
                for i in 0..d_in {
                    w.put(&wl[i * d_out + o].to_le_bytes());
                }
            }
            let (bl, after) = after.split_at(if bias { d_out } else { 0 });
            for b in bl {
                w.put(&b.to_le_bytes());
            }
            rest = after;
        }
        debug_assert_eq!(w.pos, len);
        Ok(len)
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
        self.check_param_len(params.len())?;
        check_layer_count(self.layers())?;
        let file = File::parse(self, bytes)?;
        let sizes = self.sizes();
        // Every value finite, before anything is written.
        if !file.data.chunks_exact(4).all(|b| f32_at(b).is_finite()) {
            return Err(Error::NonFinite {
                what: "a value of the safetensors file",
            });
        }
        for l in 0..self.layers() {
            let (d_in, d_out) = (sizes[l], sizes[l + 1]);
            let (wl, bl) = self.layer_slices_mut(params, l);
            let weight = file.tensor(l, false);
            for (o, row) in weight.chunks_exact(4 * d_in).enumerate() {
                for (i, b) in row.chunks_exact(4).enumerate() {
                    wl[i * d_out + o] = f32_at(b);
                }
            }
            if let Some(bl) = bl {
                for (p, b) in bl.iter_mut().zip(file.tensor(l, true).chunks_exact(4)) {
                    *p = f32_at(b);
                }
            }
        }
        Ok(())
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

impl<'b> File<'b> {
    /// The bytes of layer `l`'s weight (or bias).
    fn tensor(&self, l: usize, bias: bool) -> &'b [u8] {
        let (b, e) = self.spans[2 * l + usize::from(bias)];
        &self.data[b..e]
    }

    /// Checks `bytes` completely against `net` (see the module's "What is rejected").
    fn parse(net: &Mlp<'_>, bytes: &'b [u8]) -> Result<File<'b>, Error> {
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
        // Slot 2l is layer l's weight, 2l + 1 its bias (if the network has biases).
        for slot in 0..2 * net.layers() {
            if (net.has_bias() || slot % 2 == 0) && seen & (1 << slot) == 0 {
                return Err(tensor_err(slot / 2, slot % 2 == 1, "missing from the file"));
            }
        }
        // The tensors tile the data section: walk from offset 0, each step to the end of
        // the tensor that begins where the last ended (no tensor is empty: sizes ≥ 1).
        let slots = (0..2 * net.layers()).filter(|&s| seen & (1 << s) != 0);
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
fn tensor_slot(net: &Mlp<'_>, key: &[u8]) -> Result<(usize, bool), Error> {
    let foreign = Error::WrongNetwork {
        what: "the safetensors file holds a tensor this network has no place for \
               (it reads layers.{l}.weight and layers.{l}.bias)",
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
        b".bias" if net.has_bias() => true,
        _ => return Err(foreign),
    };
    if l >= net.layers() {
        return Err(foreign);
    }
    Ok((l, bias))
}

/// Reads the info object of tensor `(l, bias)` and checks it against the network:
/// returns its `[begin, end)` in a data section of `data_len` bytes.
fn tensor_info(
    net: &Mlp<'_>,
    json: &mut Json<'_>,
    l: usize,
    bias: bool,
    data_len: usize,
) -> Result<(usize, usize), Error> {
    let corrupt = |what| Error::Corrupt { what };
    let (d_in, d_out) = (net.sizes()[l] as u64, net.sizes()[l + 1] as u64);
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
    let want: &[u64] = if bias { &[d_out] } else { &[d_out, d_in] };
    if shape.values() != want {
        return Err(tensor_err(
            l,
            bias,
            if bias {
                "its shape is not [d_{l+1}] (this layer's outputs)"
            } else {
                "its shape is not [d_{l+1}, d_l] (out × in, as torch.nn.Linear stores it)"
            },
        ));
    }
    let &[begin, end] = offsets.values() else {
        return Err(corrupt("safetensors: data_offsets is not [begin, end]"));
    };
    let numel = if bias { d_out } else { d_out * d_in };
    if end < begin || end - begin != 4 * numel {
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

    #[test]
    fn header_len_is_what_the_writer_writes() {
        use crate::Activation::Tanh;
        for sizes in [
            &[1usize, 1][..],
            &[2, 3, 1],
            &[64, 32, 10],
            &[1000, 1, 10],
            &[9, 10, 11, 99, 100, 101],
            &[12_345, 1, 7],
        ] {
            if cfg!(miri) && sizes[0] > 1000 {
                // 50 KB written value by value: minutes under Miri, for digits the
                // 1000-wide layer already has.
                continue;
            }
            for bias in [false, true] {
                let acts = [Tanh; 8];
                let net = Mlp::new(sizes, &acts[..sizes.len() - 1], bias).unwrap();
                let len = Mlp::safetensors_len(sizes, bias);
                let mut out = std::vec![0u8; len + 3];
                let params = std::vec![0.5f32; Mlp::param_len(sizes, bias)];
                assert_eq!(net.save_safetensors(&params, &mut out), Ok(len));
                let n = u64::from_le_bytes(out[..8].try_into().unwrap()) as usize;
                let header = &out[8..8 + n];
                let unpadded = header_unpadded(sizes, bias).unwrap();
                assert_eq!(header[unpadded - 1], b'}', "{sizes:?}");
                assert!(header[unpadded..].iter().all(|&c| c == b' '));
                assert_eq!(n % 8, 0);
            }
        }
    }
}
