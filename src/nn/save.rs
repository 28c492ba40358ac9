//! Saving a network's parameters to bytes and loading them back, with no allocation:
//! [`Mlp`] and [`Net`].
//!
//! [`Net::save`] (or [`Mlp::save`]) writes a self-describing blob into a caller byte
//! buffer of [`Net::saved_len`] bytes (a `const fn`, so the buffer can be a `static`);
//! [`Net::load`] checks a blob completely (its structure, checksum, that every weight is
//! finite, and that it was saved from this very network) before it writes a single
//! value, so a rejected blob leaves the parameters exactly as they were.
//! [`Net::check_saved`] runs the network-independent checks alone, e.g. to verify a blob
//! received over the air before erasing the old one.
//!
//! A blob describes itself: its header holds the input shape and every layer (kind,
//! sizes, activation, bias). Firmware that did not declare the network at compile time
//! reads them with [`Net::saved_info`] (to size its storage) and [`Net::from_saved`] (to
//! build the [`Net`] in that storage), then loads the parameters with [`Net::load`]:
//!
//! ```
//! use microprop::{Activation::Relu, layer::{Conv1d, Dense, Layer, Pool, Shape}, nn::Net};
//! # const SAVED: [Layer; 4] = [
//! #     Layer::Conv1d(Conv1d::new(3, 4, 3).padding(1).act(Relu)),
//! #     Layer::MaxPool1d(Pool::new(2)),
//! #     Layer::Flatten,
//! #     Layer::Dense(Dense::new(16, 2)),
//! # ];
//! # let saved = Net::new(Shape::seq(8, 3), &SAVED)?;
//! # let mut flash = [0xFFu8; 1024];
//! # saved.save(&vec![0.5; saved.param_len()], &mut flash)?;
//! // Storage for networks of up to 8 layers and 256 parameters, whatever the blob holds.
//! let mut layers = [Layer::Flatten; 8];
//! let mut params = [0.0f32; 256];
//!
//! let info = Net::saved_info(&flash)?; // checks the whole blob
//! let params = &mut params[..info.param_len]; // (check it fits in real firmware)
//! let net = Net::from_saved(&flash, &mut layers)?;
//! net.load(&flash, params)?;
//! assert_eq!(net.input(), Shape::seq(8, 3));
//! assert_eq!(net.layers().len(), 4);
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! [`Mlp::saved_info`] and [`Mlp::from_saved`] do the same for an [`Mlp`] (layer sizes
//! and activations into caller storage).
//!
//! # Versions
//! [`Mlp::save`] writes [format version 1](#format-version-1) (dense layers only), as it
//! always has; [`Net::save`] writes [format version 2](#format-version-2), which gives
//! each layer its kind, so a blob can hold a CNN. Every reader reads both:
//! * a version-1 blob is the all-dense network it describes: input
//!   [`Shape::flat`]`(d₀)`, layer `l` a [`Dense`]`(d_l, d_{l+1})`
//!   with the blob's activation and bias setting. [`Net::load`] loads it into a [`Net`]
//!   built that way and [`Net::from_saved`] builds one;
//! * a version-2 blob loads into an [`Mlp`] ([`Mlp::load`]) when that [`Mlp`] is the
//!   network it describes, and [`Mlp::from_saved`] builds an [`Mlp`] from one whose
//!   layers are all dense with one bias setting ([`SavedInfo::mlp`]); another network is
//!   [`Error::WrongNetwork`] there (build a [`Net`] instead).
//!
//! The checks that do not depend on a network are the same for both types:
//! [`Mlp::check_saved`] and [`Mlp::saved_info`] are [`Net::check_saved`] and
//! [`Net::saved_info`].
//!
//! All integers are little-endian, whatever the target. Fields follow each other with no
//! padding and are read byte by byte (`from_le_bytes`), so the blob needs no alignment:
//! it can sit at any address in flash or in a `[u8]` buffer. Both versions start with the
//! same 12 bytes (magic, version, flags, layer count) and end with the parameter count,
//! the parameters and a CRC-32 of every byte before it.
//!
//! # Format (version 1)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"MPRP"` |
//! | 4 | 2 | format version, `u16` = 1 |
//! | 6 | 2 | flags, `u16`: bit 0 set = layers have biases; every other bit 0 |
//! | 8 | 4 | layer count `L ≥ 1`, `u32` |
//! | 12 | 4·(L+1) | layer sizes `d₀ … d_L`, each a `u32 ≥ 1` |
//! | 16 + 4L | L | activation of each layer, one byte ([`Activation::save_code`]): Identity 0, Sigmoid 1, Relu 2, Tanh 3 |
//! | 16 + 5L | 4 | parameter count `P` = [`Mlp::param_len`]`(sizes, bias)`, `u32` |
//! | 20 + 5L | 4·P | the parameters as IEEE 754 binary32, in [`Mlp`]'s parameter layout |
//! | 20 + 5L + 4P | 4 | CRC-32 of every byte before it, `u32` |
//!
//! The blob is `24 + 5L + 4P` bytes ([`Mlp::saved_len`]).
//!
//! # Format (version 2)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"MPRP"` |
//! | 4 | 2 | format version, `u16` = 2 |
//! | 6 | 2 | flags, `u16`: none defined, every bit 0 |
//! | 8 | 4 | layer count `L ≥ 1`, `u32` |
//! | 12 | 12 | input shape `h`, `w`, `c` ([`Net::input`]), each a `u32 ≥ 1` |
//! | 24 | 48·L | one record per layer, in order (below) |
//! | 24 + 48L | 4 | parameter count `P` = [`Net::param_len`], `u32` |
//! | 28 + 48L | 4·P | the parameters as IEEE 754 binary32, in [`Net`]'s parameter layout (each layer's weights in microprop's layout, then its bias) |
//! | 28 + 48L + 4P | 4 | CRC-32 of every byte before it, `u32` |
//!
//! The blob is `32 + 48L + 4P` bytes ([`Net::saved_len`]). A layer record is 48 bytes,
//! the same for every kind: four bytes, then eleven `u32` fields, each kind in its 2-D
//! form (a 1-D kind is the 2-D one over `1 × len` images: kernel, stride and dilation
//! heights 1, padding height 0), 0 in every field the kind does not have.
//!
//! | offset | bytes | field | used by |
//! |---|---|---|---|
//! | 0 | 1 | kind ([`Layer::save_code`]): Dense 1, Conv1d 2, Conv2d 3, MaxPool1d 4, AvgPool1d 5, MaxPool2d 6, AvgPool2d 7, GlobalAvgPool 8, Flatten 9 | all |
//! | 1 | 1 | activation ([`Activation::save_code`]); 0 (Identity) for a kind without parameters | all |
//! | 2 | 1 | bias: 1 = the layer adds one, 0 = not (0 for a kind without parameters) | all |
//! | 3 | 1 | 0 (reserved) | |
//! | 4 | 4 | `in_channels` / `inputs` | conv, dense |
//! | 8 | 4 | `out_channels` / `outputs` | conv, dense |
//! | 12 | 8 | kernel `(h, w)`: `(1, k)` in 1-D | conv, pool |
//! | 20 | 8 | stride `(h, w)`: `(1, s)` in 1-D | conv, pool |
//! | 28 | 8 | padding `(h, w)`: `(0, p)` in 1-D | conv |
//! | 36 | 8 | dilation `(h, w)`: `(1, d)` in 1-D | conv |
//! | 44 | 4 | groups | conv |
//!
//! For example `Conv1d::new(3, 4, 3).padding(1).act(Relu)` is the record
//! `02 02 01 00`, then `3, 4, 1, 3, 1, 1, 0, 1, 1, 1, 1`; `MaxPool1d(Pool::new(2))` is
//! `04 00 00 00`, then `0, 0, 1, 2, 1, 2, 0, 0, 0, 0, 0`; `Flatten` is `09 00 00 00` and
//! 44 zero bytes.
//!
//! # Checksum and what follows a blob
//! The checksum is the common CRC-32 (IEEE 802.3, as in zlib, PNG and Ethernet:
//! reflected, polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`;
//! `crc32(b"123456789") = 0xCBF43926`), so a host tool can check a blob with any CRC
//! library.
//!
//! A blob can be followed by other bytes (the rest of a flash sector, another blob): the
//! readers take the blob's length from its header and ignore what follows; `load` and
//! `check_saved` return that length.
//!
//! # What is rejected
//! [`Net::load`] and [`Mlp::load`] return an error, and write nothing, for:
//! * a blob that is truncated, has the wrong magic, a version other than 1 and 2,
//!   unknown flag bits, a layer count or size of 0, an unknown activation or layer kind
//!   code, a layer record with a field its kind does not have (or a bias byte other
//!   than 0 and 1, a reserved byte other than 0, an activation or bias on a kind without
//!   parameters), layers that do not fit each other (a layer that [`Net::new`] would
//!   refuse on the shape the layers before it give), a parameter count that does not
//!   match its layers, or a wrong checksum: [`Error::Corrupt`];
//! * a NaN or infinite weight: [`Error::NonFinite`] (a healthy training run never
//!   produces one, and `save` refuses to write one);
//! * an intact blob saved from another network (another layer count, layer kind, input
//!   shape, layer size, activation or bias setting): [`Error::WrongNetwork`];
//! * a `params` buffer of the wrong length: [`Error::ShapeMismatch`].
//!
//! `saved_info` and `from_saved` check the blob as `check_saved` does (structure,
//! checksum, finite weights) before they return or write anything; `from_saved` then
//! returns [`Error::BufferTooSmall`] for storage too short for the blob's network (and
//! [`Mlp::from_saved`] [`Error::WrongNetwork`] for a network an [`Mlp`] cannot hold), also
//! before writing. Layers that do not fit each other are [`Error::Corrupt`], found by the
//! checks every reader runs, so [`Net::from_saved`] never meets the [`Error::Layer`]
//! [`Net::new`] would return for them: a checksummed blob whose layers cannot form a
//! network was not written by [`Net::save`] (which saves only networks [`Net::new`]
//! built), and firmware treats it like any other damaged blob.
//!
//! Over a blob whose header still gives its true length, CRC-32 detects every error burst
//! of up to 32 bits, and every error of up to 3 flipped bits in blobs of up to 11 KiB;
//! other corruptions pass with probability about 2⁻³². (A corrupt header is usually caught
//! by the structural checks first; the tests change every byte of small blobs to every
//! other value and all are rejected.) The checksum protects against flash wear, torn
//! writes and truncation, not against deliberate tampering.

use super::step::{self, Stack};
use super::{Mlp, Net};
use crate::layer::{Dense, Layer, SaveFields, Shape, slot};
use crate::{Activation, Error};

/// Bytes present for every version-1 blob: magic, version, flags, layer count, `d₀`,
/// parameter count and checksum.
const FIXED: usize = 4 + 2 + 2 + 4 + 4 + 4 + 4;
/// Bytes present for every version-2 blob: magic, version, flags, layer count, input
/// shape, parameter count and checksum.
const FIXED_V2: usize = 4 + 2 + 2 + 4 + 12 + 4 + 4;
/// Bytes of a version-2 layer record: kind, activation, bias, reserved, then the fields.
const RECORD: usize = 4 + 4 * slot::COUNT;
const FLAG_BIAS: u16 = 1;

/// The CRC-32 lookup table (reflected, polynomial `0xEDB88320`), built at compile time.
const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (IEEE 802.3) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = u32::MAX;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

const fn corrupt(what: &'static str) -> Error {
    Error::Corrupt { what }
}

/// Reads fields front to back; running past the end is [`Error::Corrupt`] with `what`.
struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'b [u8], Error> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.bytes.len() => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(corrupt(what)),
        }
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(le_u32(b))
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A `u32` field as a `usize` (`usize::MAX` where it does not fit: a 16-bit target).
fn le_usize(b: &[u8]) -> usize {
    usize::try_from(le_u32(b)).unwrap_or(usize::MAX)
}

/// Writes fields front to back into a buffer already checked to be long enough.
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// A `usize` the caller checked fits a `u32`.
    fn u32(&mut self, v: usize) {
        self.put(&(v as u32).to_le_bytes());
    }

    /// The parameters, then the CRC-32 of everything written so far.
    fn finish(&mut self, params: &[f32]) {
        self.u32(params.len());
        for p in params {
            self.put(&p.to_le_bytes());
        }
        let crc = crc32(&self.out[..self.pos]);
        self.put(&crc.to_le_bytes());
    }
}

/// The layer descriptions of a blob, as stored.
#[derive(Clone, Copy)]
enum Layers<'b> {
    /// Version 1: the bias flag, `L + 1` sizes (4 bytes each) and `L` activation codes.
    V1 {
        bias: bool,
        sizes: &'b [u8],
        acts: &'b [u8],
    },
    /// Version 2: `L` records of [`RECORD`] bytes.
    V2 { records: &'b [u8] },
}

/// A blob that passed every network-independent check.
struct Blob<'b> {
    version: u16,
    /// The input shape (version 1: `flat(d₀)`).
    input: Shape,
    /// The layer count `L`.
    count: usize,
    layers: Layers<'b>,
    /// `P` parameters, 4 bytes each.
    payload: &'b [u8],
    /// Bytes of the whole blob, checksum included.
    len: usize,
}

/// The layer of a version-2 record, or what is wrong with the record.
fn decode_record(r: &[u8]) -> Result<Layer, &'static str> {
    let (code, act, bias, reserved) = (r[0], r[1], r[2], r[3]);
    let Some(act) = Activation::from_save_code(act) else {
        return Err("unknown activation code");
    };
    let bias = match bias {
        0 => false,
        1 => true,
        _ => return Err("a layer record's bias byte is neither 0 nor 1"),
    };
    if reserved != 0 {
        return Err("a layer record's reserved byte is not 0");
    }
    let mut f: SaveFields = [0; slot::COUNT];
    for (v, b) in f.iter_mut().zip(r[4..].chunks_exact(4)) {
        *v = le_usize(b);
    }
    Layer::from_save_record(code, act, bias, &f)
}

impl<'b> Blob<'b> {
    fn parse(bytes: &'b [u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes, pos: 0 };
        let header = "truncated: the blob ends inside its header";
        if r.take(4, header)? != Mlp::SAVE_MAGIC {
            return Err(corrupt(
                "wrong magic: these bytes are not microprop saved weights",
            ));
        }
        let version = r.u16(header)?;
        if version != Mlp::SAVE_VERSION && version != Net::SAVE_VERSION {
            return Err(corrupt(
                "unsupported format version: this build reads versions 1 and 2",
            ));
        }
        let flags = r.u16(header)?;
        let known = if version == 1 { FLAG_BIAS } else { 0 };
        if flags & !known != 0 {
            return Err(corrupt("unknown flag bits set"));
        }
        let count = r.u32(header)?;
        if count == 0 {
            return Err(corrupt("layer count is 0"));
        }
        // A blob longer than memory cannot be complete; `take` reports it as truncated.
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let (input, layers) = if version == 1 {
            let bias = flags & FLAG_BIAS != 0;
            let sizes = r.take(
                count.saturating_add(1).saturating_mul(4),
                "truncated (or a corrupt layer count): the blob ends inside the layer sizes",
            )?;
            let acts = r.take(
                count,
                "truncated: the blob ends inside the activation codes",
            )?;
            (
                Shape::flat(le_usize(sizes)),
                Layers::V1 { bias, sizes, acts },
            )
        } else {
            let shape = r.take(12, header)?;
            let input = Shape::image(
                le_usize(shape),
                le_usize(&shape[4..]),
                le_usize(&shape[8..]),
            );
            let records = r.take(
                count.saturating_mul(RECORD),
                "truncated (or a corrupt layer count): the blob ends inside the layer records",
            )?;
            (input, Layers::V2 { records })
        };
        // The layers are checked once the parameter count is read too, so that a
        // truncated blob is reported as truncated.
        let saved_count = r.u32("truncated: the blob ends before the parameter count")?;
        let expect = match layers {
            Layers::V1 { bias, sizes, acts } => check_v1(bias, sizes, acts)?,
            Layers::V2 { records } => check_v2(input, records)?,
        };
        if usize::try_from(saved_count).ok() != Some(expect) {
            return Err(corrupt(
                "the parameter count does not match the layer sizes",
            ));
        }
        let payload = r.take(
            expect.saturating_mul(4),
            "truncated: the blob ends inside the parameters",
        )?;
        let body = r.pos;
        let crc = r.u32("truncated: the blob ends inside its checksum")?;
        if crc32(&bytes[..body]) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        if !payload
            .chunks_exact(4)
            .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
        {
            return Err(Error::NonFinite {
                what: "saved weights (a NaN or infinite parameter)",
            });
        }
        Ok(Blob {
            version,
            input,
            count,
            layers,
            payload,
            len: r.pos,
        })
    }

    /// Layer `l < count` (checked by [`Blob::parse`]).
    fn layer(&self, l: usize) -> Layer {
        match self.layers {
            Layers::V1 { bias, sizes, acts } => {
                let d = |i: usize| le_usize(&sizes[4 * i..]);
                // `parse` checked the code; the fallback is never taken.
                let act = Activation::from_save_code(acts[l]).unwrap_or(Activation::Identity);
                Layer::Dense(Dense::new(d(l), d(l + 1)).act(act).bias(bias))
            }
            // `parse` decoded every record; the fallback is never taken.
            Layers::V2 { records } => {
                decode_record(&records[l * RECORD..(l + 1) * RECORD]).unwrap_or(Layer::Flatten)
            }
        }
    }

    /// The layers, in order.
    fn layer_iter(&self) -> impl Iterator<Item = Layer> + '_ {
        (0..self.count).map(|l| self.layer(l))
    }

    /// Whether an [`Mlp`] can hold the network: every layer dense, one bias setting (so
    /// the input is flat). Always, for version 1.
    fn is_mlp(&self) -> bool {
        let bias = self.layer(0).has_bias();
        self.layer_iter()
            .all(|l| matches!(l, Layer::Dense(_)) && l.has_bias() == bias)
    }

    fn info(&self) -> SavedInfo {
        SavedInfo {
            layers: self.count,
            bias: match self.layers {
                Layers::V1 { bias, .. } => bias,
                Layers::V2 { .. } => self.layer_iter().any(|l| l.has_bias()),
            },
            param_len: self.payload.len() / 4,
            blob_len: self.len,
            version: self.version,
            input: self.input,
            mlp: self.is_mlp(),
        }
    }

    /// [`Error::WrongNetwork`] unless the blob was saved from the network `net` is.
    fn check_matches<S: Stack>(&self, net: &S) -> Result<(), Error> {
        let wrong = |what| Err(Error::WrongNetwork { what });
        if self.count != net.depth() {
            return wrong("its layer count differs");
        }
        let differ = |f: &dyn Fn(&Layer, &Layer) -> bool| {
            (0..self.count).any(|l| f(&self.layer(l), &net.layer(l)))
        };
        if differ(&|a, b| a.save_code() != b.save_code()) {
            return wrong("its layer kinds differ");
        }
        if self.input != net.input() || differ(&|a, b| a.save_fields() != b.save_fields()) {
            return wrong("its input shape or layer sizes differ");
        }
        if differ(&|a, b| a.has_bias() != b.has_bias()) {
            return wrong("its bias setting differs");
        }
        if differ(&|a, b| a.activation() != b.activation()) {
            return wrong("its activations differ");
        }
        // The four checks above cover every field of every kind.
        if differ(&|a, b| a != b) {
            return wrong("its layers differ");
        }
        Ok(())
    }

    /// `params` (checked to hold `P` values) from the payload.
    fn read_params(&self, params: &mut [f32]) {
        for (p, b) in params.iter_mut().zip(self.payload.chunks_exact(4)) {
            *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
}

/// Checks version-1 layer sizes and activation codes; returns their parameter count.
fn check_v1(bias: bool, sizes: &[u8], acts: &[u8]) -> Result<usize, Error> {
    let mut expect: usize = 0;
    let mut prev = None;
    for s in sizes.chunks_exact(4) {
        let d = le_usize(s);
        if d == 0 {
            return Err(corrupt("a layer size is 0"));
        }
        if let Some(p) = prev {
            let layer = d
                .checked_mul(p)
                .and_then(|w: usize| if bias { w.checked_add(d) } else { Some(w) });
            expect = layer
                .and_then(|n| expect.checked_add(n))
                .ok_or(corrupt("parameter count of the layer sizes overflows"))?;
        }
        prev = Some(d);
    }
    if !acts
        .iter()
        .all(|&c| Activation::from_save_code(c).is_some())
    {
        return Err(corrupt("unknown activation code"));
    }
    Ok(expect)
}

/// Checks a version-2 input shape and layer records, and that the layers fit each other
/// as [`Net::new`] checks them; returns their parameter count.
fn check_v2(input: Shape, records: &[u8]) -> Result<usize, Error> {
    if input.is_empty() {
        return Err(corrupt("the input shape has a 0"));
    }
    if input.len() == usize::MAX {
        return Err(corrupt("the input shape's size overflows usize"));
    }
    let mut shape = input;
    let mut expect: usize = 0;
    for r in records.chunks_exact(RECORD) {
        let layer = decode_record(r).map_err(corrupt)?;
        shape = layer.out_shape(shape).map_err(|_| {
            corrupt(
                "the layers do not fit each other (a layer does not fit the shape the \
                 layers before it give: Net::new refuses them)",
            )
        })?;
        expect = expect
            .checked_add(layer.param_len())
            .ok_or(corrupt("parameter count of the layers overflows"))?;
    }
    Ok(expect)
}

/// What a saved blob holds, from [`Net::saved_info`] (or [`Mlp::saved_info`], the same):
/// enough to size the storage `from_saved` and `load` need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SavedInfo {
    /// The layer count `L`: [`Net::from_saved`] needs `L` layers of storage,
    /// [`Mlp::from_saved`] `L + 1` sizes and `L` activations.
    pub layers: usize,
    /// Whether the layers have biases: a version-1 blob's flag; for version 2, whether
    /// any layer adds one (every dense layer agrees in a blob [`Mlp::from_saved`] reads).
    pub bias: bool,
    /// The parameter count `P` ([`Net::param_len`], [`Mlp::param_len`]): the length of
    /// the `params` buffer `load` fills.
    pub param_len: usize,
    /// Bytes of the blob, checksum included (what `check_saved` returns); bytes after it
    /// are not part of it.
    pub blob_len: usize,
    /// The blob's format version: 1 ([`Mlp::save`]) or 2 ([`Net::save`]).
    pub version: u16,
    /// The shape of one input example ([`Net::input`]; `flat(d₀)` for version 1).
    pub input: Shape,
    /// Whether an [`Mlp`] can hold the network ([`Mlp::from_saved`] builds it): every
    /// layer dense, with one bias setting. Always, for version 1.
    pub mlp: bool,
}

impl SavedInfo {
    /// `L + 1`: the entries of the `sizes` storage [`Mlp::from_saved`] needs.
    pub const fn sizes_len(&self) -> usize {
        self.layers + 1
    }
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

/// Parses `bytes`, checks it against `net` and `params`' length, then fills `params`.
fn load_into<S: Stack>(net: &S, bytes: &[u8], params: &mut [f32]) -> Result<usize, Error> {
    step::check_param_count(net, net.names().params, params.len())?;
    let blob = Blob::parse(bytes)?;
    blob.check_matches(net)?;
    blob.read_params(params);
    Ok(blob.len)
}

impl<'s> Mlp<'s> {
    /// The network saved in `blob`, built in caller storage: writes its `L + 1` layer
    /// sizes to the start of `sizes` and its `L` activations to the start of `acts`, and
    /// returns an [`Mlp`] borrowing those prefixes (entries past them are left alone).
    /// Then [`Mlp::load`] reads the parameters. Allocates nothing.
    ///
    /// For firmware that does not know the network at compile time: storage for the
    /// largest network it accepts, or sized first with [`Mlp::saved_info`]. Reads a
    /// version-1 blob, or a version-2 blob of dense layers with one bias setting
    /// ([`SavedInfo::mlp`]; see [versions](crate::nn::save#versions)).
    ///
    /// # Errors
    /// `sizes` and `acts` are left exactly as they were on any error.
    /// * [`Error::Corrupt`], [`Error::NonFinite`]: as [`Mlp::check_saved`]; the whole blob,
    ///   checksum included, is checked before anything is written.
    /// * [`Error::WrongNetwork`]: an intact version-2 blob of a network an [`Mlp`] cannot
    ///   hold (a layer that is not dense, or dense layers with and without a bias): build
    ///   a [`Net`] with [`Net::from_saved`].
    /// * [`Error::BufferTooSmall`]: `sizes` shorter than `L + 1`
    ///   ([`SavedInfo::sizes_len`]), or `acts` shorter than `L` ([`SavedInfo::layers`]);
    ///   `what` names which, `needed` says how long it must be.
    ///
    /// ```
    /// use microprop::{Activation, Error, nn::Mlp};
    /// # let saved = Mlp::new(&[2, 3, 1], &[Activation::Relu, Activation::Sigmoid], false)?;
    /// # let mut blob = [0u8; Mlp::saved_len(&[2, 3, 1], false)];
    /// # saved.save(&[0.5; 9], &mut blob)?;
    /// let mut sizes = [0usize; 2]; // room for one layer only
    /// let mut acts = [Activation::Identity; 1];
    /// let e = Mlp::from_saved(&blob, &mut sizes, &mut acts).unwrap_err();
    /// assert!(matches!(e, Error::BufferTooSmall { needed: 3, len: 2, .. }));
    /// assert_eq!(sizes, [0, 0]); // untouched
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn from_saved(
        blob: &[u8],
        sizes: &'s mut [usize],
        acts: &'s mut [Activation],
    ) -> Result<Mlp<'s>, Error> {
        let b = Blob::parse(blob)?;
        if !b.is_mlp() {
            return Err(Error::WrongNetwork {
                what: "the blob holds a network an Mlp cannot hold (a layer that is not \
                       dense, or layers with and without a bias): build it with \
                       Net::from_saved",
            });
        }
        let layers = b.count;
        if sizes.len() < layers + 1 {
            return Err(Error::BufferTooSmall {
                what: "sizes (Mlp::from_saved needs SavedInfo::sizes_len = layers + 1 entries)",
                needed: layers + 1,
                len: sizes.len(),
            });
        }
        if acts.len() < layers {
            return Err(Error::BufferTooSmall {
                what: "acts (Mlp::from_saved needs SavedInfo::layers entries)",
                needed: layers,
                len: acts.len(),
            });
        }
        // `parse` checked every field, so nothing below can fail: the layers are dense
        // and fit each other (so the input is flat, each size is ≥ 1 and fits `usize`),
        // and their parameter count is below `usize::MAX` (its 4·P bytes are in the blob).
        sizes[0] = b.input.c;
        for (l, layer) in b.layer_iter().enumerate() {
            if let Layer::Dense(d) = layer {
                sizes[l + 1] = d.outputs;
                acts[l] = d.act;
            }
        }
        let bias = b.layer(0).has_bias();
        let sizes: &'s [usize] = sizes;
        let acts: &'s [Activation] = acts;
        Mlp::new(&sizes[..layers + 1], &acts[..layers], bias)
    }
}

impl Mlp<'_> {
    /// Checks that `blob` starts with an intact saved blob (as [`Mlp::check_saved`]) and
    /// returns what it holds: layer count, bias setting, parameter count and blob length,
    /// to size the storage of [`Mlp::from_saved`] and [`Mlp::load`] (and, for a version-2
    /// blob, whether an [`Mlp`] can hold it: [`SavedInfo::mlp`]). The same as
    /// [`Net::saved_info`].
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::NonFinite`], as [`Mlp::load`].
    ///
    /// ```
    /// use microprop::{Activation::*, nn::Mlp};
    /// const SIZES: [usize; 3] = [2, 3, 1];
    /// let net = Mlp::new(&SIZES, &[Tanh, Identity], true)?;
    /// let mut blob = [0u8; Mlp::saved_len(&SIZES, true)];
    /// net.save(&[0.25; Mlp::param_len(&SIZES, true)], &mut blob)?;
    /// let info = Mlp::saved_info(&blob)?;
    /// assert_eq!((info.layers, info.sizes_len(), info.bias), (2, 3, true));
    /// assert_eq!((info.param_len, info.blob_len), (13, blob.len()));
    /// assert_eq!((info.version, info.mlp), (1, true));
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn saved_info(blob: &[u8]) -> Result<SavedInfo, Error> {
        Blob::parse(blob).map(|b| b.info())
    }

    /// The first four bytes of every saved blob.
    pub const SAVE_MAGIC: [u8; 4] = *b"MPRP";
    /// The format version [`Mlp::save`] writes. [`Mlp::load`] reads it and
    /// [`Net::SAVE_VERSION`] (see [versions](crate::nn::save#versions)).
    pub const SAVE_VERSION: u16 = 1;

    /// Bytes [`Mlp::save`] writes for a network with these sizes: `24 + 5L + 4P` for `L`
    /// layers and `P = `[`Mlp::param_len`]`(sizes, bias)` parameters (see the
    /// [format](crate::nn::save#format-version-1)).
    ///
    /// `usize::MAX` if the length overflows `usize`, or the network cannot be saved
    /// because a layer size or `P` exceeds `u32::MAX`; a `static` buffer of that length
    /// fails to compile.
    ///
    /// ```
    /// use microprop::nn::Mlp;
    /// const SIZES: [usize; 3] = [2, 3, 1];
    /// static mut FLASH_IMAGE: [u8; Mlp::saved_len(&SIZES, true)] = [0; Mlp::saved_len(&SIZES, true)];
    /// assert_eq!(Mlp::saved_len(&SIZES, true), 24 + 5 * 2 + 4 * 13);
    /// ```
    pub const fn saved_len(sizes: &[usize], bias: bool) -> usize {
        let mut i = 0;
        while i < sizes.len() {
            if sizes[i] as u64 > u32::MAX as u64 {
                return usize::MAX;
            }
            i += 1;
        }
        let params = Self::param_len(sizes, bias);
        if params as u64 > u32::MAX as u64 {
            return usize::MAX;
        }
        let layers = sizes.len().saturating_sub(1);
        let Some(acts) = layers.checked_mul(5) else {
            return usize::MAX;
        };
        let Some(payload) = params.checked_mul(4) else {
            return usize::MAX;
        };
        let Some(len) = FIXED.checked_add(acts) else {
            return usize::MAX;
        };
        match len.checked_add(payload) {
            Some(len) => len,
            None => usize::MAX,
        }
    }

    /// Writes `params` to the start of `out` in the [saved format](crate::nn::save),
    /// version 1, and returns the number of bytes written, [`Mlp::saved_len`]. Bytes of
    /// `out` past that are left alone. Allocates nothing.
    ///
    /// # Errors
    /// Nothing is written to `out` on any error.
    /// * [`Error::Overflow`]: a layer size or the parameter count exceeds `u32::MAX`.
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Mlp::param_len`].
    /// * [`Error::NonFinite`]: a parameter is NaN or infinite ([`Mlp::load`] would reject
    ///   the blob, so it is refused here, before it replaces good weights).
    /// * [`Error::BufferTooSmall`]: `out` is shorter than [`Mlp::saved_len`].
    ///
    /// ```
    /// use microprop::{Activation::*, nn::Mlp};
    /// const SIZES: [usize; 3] = [2, 3, 1];
    /// let net = Mlp::new(&SIZES, &[Tanh, Identity], true)?;
    /// let params = [0.25f32; Mlp::param_len(&SIZES, true)];
    /// let mut flash = [0xFFu8; 256]; // e.g. an erased flash page
    /// let n = net.save(&params, &mut flash)?;
    /// assert_eq!(n, Mlp::saved_len(&SIZES, true));
    ///
    /// let mut restored = [0.0f32; Mlp::param_len(&SIZES, true)];
    /// net.load(&flash, &mut restored)?; // the rest of the page is ignored
    /// assert_eq!(restored, params);
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn save(&self, params: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        let len = Self::saved_len(self.sizes(), self.has_bias());
        if len == usize::MAX {
            return Err(Error::Overflow {
                what: "Mlp::save: a layer size or the parameter count exceeds u32::MAX",
            });
        }
        self.check_params(params)?;
        check_out("out (Mlp::save needs Mlp::saved_len bytes)", len, out)?;
        let mut w = Writer {
            out: &mut out[..len],
            pos: 0,
        };
        w.put(&Self::SAVE_MAGIC);
        w.put(&Self::SAVE_VERSION.to_le_bytes());
        let flags = if self.has_bias() { FLAG_BIAS } else { 0 };
        w.put(&flags.to_le_bytes());
        // The casts are exact: `saved_len` checked every size and the count fit in u32
        // (and the layer count is below the parameter count).
        w.u32(self.layers());
        for &d in self.sizes() {
            w.u32(d);
        }
        for &a in self.activations() {
            w.put(&[a.save_code()]);
        }
        w.finish(params);
        debug_assert_eq!(w.pos, len);
        Ok(len)
    }

    /// Reads parameters saved by [`Mlp::save`] (or [`Net::save`]) from the start of
    /// `bytes` into `params`, and returns the length of the blob (bytes after it are
    /// ignored). Allocates nothing.
    ///
    /// The whole blob is checked first: its structure, its CRC-32, that every weight is
    /// finite, and that it was saved from a network with this one's layer sizes,
    /// activations and bias setting (a version-2 blob: from the all-dense [`Net`] this
    /// network is). Only then are the parameters decoded into `params`.
    ///
    /// # Errors
    /// `params` is left exactly as it was (bit for bit) on any error.
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Mlp::param_len`].
    /// * [`Error::Corrupt`]: truncated, wrong magic or version, an invalid header field, or
    ///   a checksum mismatch (see [what is rejected](crate::nn::save#what-is-rejected)).
    /// * [`Error::NonFinite`]: a saved weight is NaN or infinite.
    /// * [`Error::WrongNetwork`]: an intact blob saved from a network of another shape.
    ///
    /// ```
    /// use microprop::{Activation::*, Error, nn::Mlp};
    /// const SIZES: [usize; 2] = [2, 1];
    /// let net = Mlp::new(&SIZES, &[Sigmoid], true)?;
    /// let mut blob = [0u8; Mlp::saved_len(&SIZES, true)];
    /// net.save(&[1.0, -2.0, 0.5], &mut blob)?;
    ///
    /// blob[26] ^= 0x10; // one flipped bit in the first weight
    /// let mut params = [7.0f32; 3];
    /// assert!(matches!(net.load(&blob, &mut params), Err(Error::Corrupt { .. })));
    /// assert_eq!(params, [7.0; 3]); // untouched
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn load(&self, bytes: &[u8], params: &mut [f32]) -> Result<usize, Error> {
        load_into(self, bytes, params)
    }

    /// Checks that `bytes` starts with an intact saved blob, for any network: structure,
    /// version, checksum and finite weights, everything [`Mlp::load`] checks except the
    /// match with a particular network. Returns the blob's length. The same as
    /// [`Net::check_saved`]: a version-2 blob of any network passes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::NonFinite`], as [`Mlp::load`].
    pub fn check_saved(bytes: &[u8]) -> Result<usize, Error> {
        Blob::parse(bytes).map(|b| b.len)
    }
}

impl<'s> Net<'s> {
    /// The network saved in `blob`, built in caller storage: writes its `L` layers to
    /// the start of `layers` and returns a [`Net`] on them (entries past them are left
    /// alone). Then [`Net::load`] reads the parameters. Allocates nothing.
    ///
    /// For firmware that does not know the network at compile time: storage for the
    /// largest network it accepts, or sized first with [`Net::saved_info`]. A
    /// version-1 blob gives its all-dense network (see
    /// [versions](crate::nn::save#versions)).
    ///
    /// # Errors
    /// `layers` is left exactly as it was on any error.
    /// * [`Error::Corrupt`], [`Error::NonFinite`]: as [`Net::check_saved`]; the whole blob,
    ///   checksum included, is checked before anything is written. That includes that
    ///   the layers fit each other, as [`Net::new`] checks them: layers it would refuse
    ///   are [`Error::Corrupt`] (see [what is rejected](crate::nn::save#what-is-rejected)),
    ///   never [`Error::Layer`].
    /// * [`Error::BufferTooSmall`]: `layers` shorter than [`SavedInfo::layers`].
    ///
    /// ```
    /// use microprop::{Error, layer::{Dense, Layer, Shape}, nn::Net};
    /// # const SAVED: [Layer; 2] = [Layer::Dense(Dense::new(2, 3)), Layer::Dense(Dense::new(3, 1))];
    /// # let saved = Net::new(Shape::flat(2), &SAVED)?;
    /// # let mut blob = vec![0u8; saved.saved_len()];
    /// # saved.save(&[0.5; 13], &mut blob)?;
    /// let mut layers = [Layer::Flatten; 1]; // room for one layer only
    /// let e = Net::from_saved(&blob, &mut layers).unwrap_err();
    /// assert!(matches!(e, Error::BufferTooSmall { needed: 2, len: 1, .. }));
    /// assert_eq!(layers, [Layer::Flatten]); // untouched
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn from_saved(blob: &[u8], layers: &'s mut [Layer]) -> Result<Net<'s>, Error> {
        let b = Blob::parse(blob)?;
        if layers.len() < b.count {
            return Err(Error::BufferTooSmall {
                what: "layers (Net::from_saved needs SavedInfo::layers entries)",
                needed: b.count,
                len: layers.len(),
            });
        }
        for (dst, layer) in layers.iter_mut().zip(b.layer_iter()) {
            *dst = layer;
        }
        let layers: &'s [Layer] = layers;
        // `parse` ran `Net::new`'s checks on these layers: this cannot fail.
        Net::new(b.input, &layers[..b.count])
    }
}

impl Net<'_> {
    /// The format version [`Net::save`] writes. [`Net::load`] reads it and
    /// [`Mlp::SAVE_VERSION`] (see [versions](crate::nn::save#versions)).
    pub const SAVE_VERSION: u16 = 2;

    /// Bytes [`Net::save`] writes for this network: `32 + 48L + 4P` for `L` layers and
    /// `P = `[`Net::param_len`] parameters (see the
    /// [format](crate::nn::save#format-version-2)). A `const fn`, so the buffer can be a
    /// `static`.
    ///
    /// `usize::MAX` if the length overflows `usize`, or the network cannot be saved
    /// because a field (an input dimension, a layer's size, kernel, stride, padding,
    /// dilation or groups), the layer count or `P` exceeds `u32::MAX`.
    ///
    /// ```
    /// use microprop::{Activation::Relu, layer::{Conv1d, Dense, Layer, Shape}, nn::Net};
    /// const LAYERS: [Layer; 3] = [
    ///     Layer::Conv1d(Conv1d::new(2, 4, 3).act(Relu)),
    ///     Layer::Flatten,
    ///     Layer::Dense(Dense::new(4 * 6, 3)),
    /// ];
    /// const NET: Net = match Net::new(Shape::seq(8, 2), &LAYERS) {
    ///     Ok(net) => net,
    ///     Err(_) => panic!("the layers do not fit"),
    /// };
    /// static mut FLASH_IMAGE: [u8; NET.saved_len()] = [0; NET.saved_len()];
    /// assert_eq!(NET.saved_len(), 32 + 48 * 3 + 4 * NET.param_len());
    /// ```
    pub const fn saved_len(&self) -> usize {
        const fn fits(v: usize) -> bool {
            v as u64 <= u32::MAX as u64
        }
        let (input, layers) = (self.input(), self.layers());
        if !fits(input.h) || !fits(input.w) || !fits(input.c) || !fits(layers.len()) {
            return usize::MAX;
        }
        let mut l = 0;
        while l < layers.len() {
            let f = layers[l].save_fields();
            let mut i = 0;
            while i < f.len() {
                if !fits(f[i]) {
                    return usize::MAX;
                }
                i += 1;
            }
            l += 1;
        }
        let params = self.param_len();
        if !fits(params) {
            return usize::MAX;
        }
        let Some(records) = layers.len().checked_mul(RECORD) else {
            return usize::MAX;
        };
        let Some(payload) = params.checked_mul(4) else {
            return usize::MAX;
        };
        let Some(len) = FIXED_V2.checked_add(records) else {
            return usize::MAX;
        };
        match len.checked_add(payload) {
            Some(len) => len,
            None => usize::MAX,
        }
    }

    /// Writes `params` to the start of `out` in the [saved format](crate::nn::save),
    /// version 2 (the input shape, each layer's kind and fields, the parameters), and
    /// returns the number of bytes written, [`Net::saved_len`]. Bytes of `out` past that
    /// are left alone. Allocates nothing.
    ///
    /// # Errors
    /// Nothing is written to `out` on any error.
    /// * [`Error::Overflow`]: a field, the layer count or the parameter count exceeds
    ///   `u32::MAX` ([`Net::saved_len`] is `usize::MAX`).
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Net::param_len`].
    /// * [`Error::NonFinite`]: a parameter is NaN or infinite ([`Net::load`] would reject
    ///   the blob, so it is refused here, before it replaces good weights).
    /// * [`Error::BufferTooSmall`]: `out` is shorter than [`Net::saved_len`].
    ///
    /// ```
    /// use microprop::{Activation::Relu, layer::{Conv2d, Dense, Layer, Pool2d, Shape}, nn::Net};
    /// const LAYERS: [Layer; 4] = [
    ///     Layer::Conv2d(Conv2d::new(1, 2, (3, 3)).padding((1, 1)).act(Relu)),
    ///     Layer::MaxPool2d(Pool2d::new((2, 2))),
    ///     Layer::Flatten,
    ///     Layer::Dense(Dense::new(2 * 2 * 2, 3)),
    /// ];
    /// let net = Net::new(Shape::image(4, 4, 1), &LAYERS)?;
    /// let params: Vec<f32> = (0..net.param_len()).map(|i| i as f32 / 8.0).collect();
    /// let mut flash = [0xFFu8; 512]; // e.g. an erased flash page
    /// let n = net.save(&params, &mut flash)?;
    /// assert_eq!(n, net.saved_len());
    ///
    /// let mut restored = vec![0.0f32; net.param_len()];
    /// net.load(&flash, &mut restored)?; // the rest of the page is ignored
    /// assert_eq!(restored, params);
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn save(&self, params: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        let len = self.saved_len();
        if len == usize::MAX {
            return Err(Error::Overflow {
                what: "Net::save: an input dimension, a layer's field, the layer count or \
                       the parameter count exceeds u32::MAX",
            });
        }
        self.check_params(params)?;
        check_out("out (Net::save needs Net::saved_len bytes)", len, out)?;
        let mut w = Writer {
            out: &mut out[..len],
            pos: 0,
        };
        w.put(&Mlp::SAVE_MAGIC);
        w.put(&Self::SAVE_VERSION.to_le_bytes());
        w.put(&0u16.to_le_bytes());
        // The casts are exact: `saved_len` checked that every value fits in u32.
        w.u32(self.layers().len());
        let input = self.input();
        for d in [input.h, input.w, input.c] {
            w.u32(d);
        }
        for layer in self.layers() {
            let act = layer.activation().save_code();
            w.put(&[layer.save_code(), act, u8::from(layer.has_bias()), 0]);
            for v in layer.save_fields() {
                w.u32(v);
            }
        }
        w.finish(params);
        debug_assert_eq!(w.pos, len);
        Ok(len)
    }

    /// Reads parameters saved by [`Net::save`] (or [`Mlp::save`]) from the start of
    /// `bytes` into `params`, and returns the length of the blob (bytes after it are
    /// ignored). Allocates nothing.
    ///
    /// The whole blob is checked first: its structure, its CRC-32, that every weight is
    /// finite, and that it was saved from this network (the same input shape, and the
    /// same layers: kinds, sizes and every other field, activations, biases; a version-1
    /// blob describes an all-dense network on a flat input). Only then are the
    /// parameters decoded into `params`.
    ///
    /// # Errors
    /// `params` is left exactly as it was (bit for bit) on any error.
    /// * [`Error::ShapeMismatch`]: `params.len() != `[`Net::param_len`].
    /// * [`Error::Corrupt`]: truncated, wrong magic or version, an invalid header field or
    ///   layer record, or a checksum mismatch (see
    ///   [what is rejected](crate::nn::save#what-is-rejected)).
    /// * [`Error::NonFinite`]: a saved weight is NaN or infinite.
    /// * [`Error::WrongNetwork`]: an intact blob saved from another network; `what` says
    ///   what differs first (layer count, kinds, input shape or sizes, bias, activations).
    pub fn load(&self, bytes: &[u8], params: &mut [f32]) -> Result<usize, Error> {
        load_into(self, bytes, params)
    }

    /// Checks that `bytes` starts with an intact saved blob, for any network: structure,
    /// version, checksum and finite weights, everything [`Net::load`] checks except the
    /// match with a particular network. Returns the blob's length. The same as
    /// [`Mlp::check_saved`].
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::NonFinite`], as [`Net::load`].
    pub fn check_saved(bytes: &[u8]) -> Result<usize, Error> {
        Blob::parse(bytes).map(|b| b.len)
    }

    /// Checks that `blob` starts with an intact saved blob (as [`Net::check_saved`]) and
    /// returns what it holds: format version, input shape, layer count, parameter count
    /// and blob length, to size the storage of [`Net::from_saved`] and [`Net::load`].
    /// The same as [`Mlp::saved_info`].
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::NonFinite`], as [`Net::load`].
    ///
    /// ```
    /// use microprop::{Activation::Relu, layer::{Conv1d, Layer, Shape}, nn::Net};
    /// const LAYERS: [Layer; 2] = [Layer::Conv1d(Conv1d::new(3, 2, 3).act(Relu)), Layer::GlobalAvgPool];
    /// let net = Net::new(Shape::seq(10, 3), &LAYERS)?;
    /// let mut blob = vec![0u8; net.saved_len()];
    /// net.save(&[0.25; 20], &mut blob)?;
    /// let info = Net::saved_info(&blob)?;
    /// assert_eq!((info.version, info.input, info.layers), (2, Shape::seq(10, 3), 2));
    /// assert_eq!((info.param_len, info.blob_len, info.mlp), (20, blob.len(), false));
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn saved_info(blob: &[u8]) -> Result<SavedInfo, Error> {
        Blob::parse(blob).map(|b| b.info())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn every_kind_round_trips_through_its_record() {
        use crate::layer::{Conv1d, Conv2d, Pool, Pool2d};
        let conv2 = Conv2d::new(4, 6, (3, 2))
            .stride((2, 1))
            .padding((1, 0))
            .dilation((1, 2))
            .groups(2)
            .act(Activation::Tanh)
            .bias(false);
        let layers = [
            Layer::Dense(Dense::new(7, 5).act(Activation::Sigmoid)),
            Layer::Conv1d(
                Conv1d::new(4, 8, 5)
                    .stride(2)
                    .padding(2)
                    .dilation(3)
                    .groups(4),
            ),
            Layer::Conv2d(conv2),
            Layer::MaxPool1d(Pool::new(3).stride(2)),
            Layer::AvgPool1d(Pool::new(2)),
            Layer::MaxPool2d(Pool2d::new((2, 3)).stride((1, 2))),
            Layer::AvgPool2d(Pool2d::new((3, 3))),
            Layer::GlobalAvgPool,
            Layer::Flatten,
        ];
        let mut codes = [0u8; 9];
        for (layer, code) in layers.iter().zip(&mut codes) {
            let mut r = [0u8; RECORD];
            r[0] = layer.save_code();
            r[1] = layer.activation().save_code();
            r[2] = u8::from(layer.has_bias());
            for (b, v) in r[4..].chunks_exact_mut(4).zip(layer.save_fields()) {
                b.copy_from_slice(&(v as u32).to_le_bytes());
            }
            assert_eq!(decode_record(&r), Ok(*layer));
            *code = layer.save_code();
        }
        assert_eq!(
            codes,
            [1, 2, 3, 4, 5, 6, 7, 8, 9],
            "layer kind codes changed"
        );
    }
}
