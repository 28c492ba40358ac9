//! Saving an [`Mlp`]'s parameters to bytes and loading them back, with no allocation.
//!
//! [`Mlp::save`] writes a self-describing blob into a caller byte buffer of
//! [`Mlp::saved_len`] bytes (a `const fn`, so the buffer can be a `static`);
//! [`Mlp::load`] checks a blob completely (its structure, checksum, that every weight is
//! finite, and that it was saved from a network of the same shape) before it writes a
//! single value, so a rejected blob leaves the parameters exactly as they were.
//! [`Mlp::check_saved`] runs the network-independent checks alone, e.g. to verify a blob
//! received over the air before erasing the old one.
//!
//! A blob describes itself: its header holds the layer sizes, activations and bias
//! setting. Firmware that did not declare the network at compile time reads them with
//! [`Mlp::saved_info`] (to size its storage) and [`Mlp::from_saved`] (to build the
//! [`Mlp`] in that storage), then loads the parameters with [`Mlp::load`]:
//!
//! ```
//! use microprop::{Activation, nn::Mlp};
//! # let net = Mlp::new(&[3, 4, 2], &[Activation::Tanh, Activation::Identity], true)?;
//! # let mut flash = [0xFFu8; 256];
//! # net.save(&[0.5; 26], &mut flash)?;
//! // Storage for networks of up to 4 layers, whatever the blob holds.
//! let mut sizes = [0usize; 5];
//! let mut acts = [Activation::Identity; 4];
//! let mut params = [0.0f32; 64];
//!
//! let info = Mlp::saved_info(&flash)?; // checks the whole blob
//! let params = &mut params[..info.param_len]; // (check it fits in real firmware)
//! let net = Mlp::from_saved(&flash, &mut sizes, &mut acts)?;
//! net.load(&flash, params)?;
//! assert_eq!(net.sizes(), &[3, 4, 2]);
//! assert_eq!(net.activations(), &[Activation::Tanh, Activation::Identity]);
//! # Ok::<(), microprop::Error>(())
//! ```
//!
//! No new format version was needed for this: version 1 always stored the shape.
//!
//! # Format (version 1)
//! All integers are little-endian, whatever the target. Fields follow each other with no
//! padding and are read byte by byte (`from_le_bytes`), so the blob needs no alignment:
//! it can sit at any address in flash or in a `[u8]` buffer.
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
//! The blob is `24 + 5L + 4P` bytes ([`Mlp::saved_len`]). The checksum is the common
//! CRC-32 (IEEE 802.3, as in zlib, PNG and Ethernet: reflected, polynomial `0xEDB88320`,
//! initial value and final XOR `0xFFFFFFFF`; `crc32(b"123456789") = 0xCBF43926`), so a
//! host tool can check a blob with any CRC library.
//!
//! A blob can be followed by other bytes (the rest of a flash sector, another blob):
//! [`Mlp::load`] and [`Mlp::check_saved`] read the blob's length from its header and
//! ignore what follows; both return that length.
//!
//! # What is rejected
//! [`Mlp::load`] returns an error, and writes nothing, for:
//! * a blob that is truncated, has the wrong magic, a version other than 1, unknown flag
//!   bits, a layer count or size of 0, an unknown activation code, a parameter count that
//!   does not match its sizes, or a wrong checksum: [`Error::Corrupt`];
//! * a NaN or infinite weight: [`Error::NonFinite`] (a healthy training run never
//!   produces one, and [`Mlp::save`] refuses to write one);
//! * an intact blob saved from a network with other layer sizes, activations or bias
//!   setting: [`Error::WrongNetwork`];
//! * a `params` buffer of the wrong length: [`Error::ShapeMismatch`].
//!
//! [`Mlp::saved_info`] and [`Mlp::from_saved`] check the blob as [`Mlp::check_saved`]
//! does (structure, checksum, finite weights) before they return or write anything;
//! [`Mlp::from_saved`] then returns [`Error::BufferTooSmall`] for storage too short for
//! the blob's network, also before writing.
//!
//! Over a blob whose header still gives its true length, CRC-32 detects every error burst
//! of up to 32 bits, and every error of up to 3 flipped bits in blobs of up to 11 KiB;
//! other corruptions pass with probability about 2⁻³². (A corrupt header is usually caught
//! by the structural checks first; the tests change every byte of small blobs to every
//! other value and all are rejected.) The checksum protects against flash wear, torn
//! writes and truncation, not against deliberate tampering.

use super::Mlp;
use crate::{Activation, Error};

/// Bytes present for every network: magic, version, flags, layer count, `d₀`, parameter
/// count and checksum.
const FIXED: usize = 4 + 2 + 2 + 4 + 4 + 4 + 4;
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
}

/// A blob that passed every network-independent check.
struct Blob<'b> {
    bias: bool,
    /// `L + 1` sizes, 4 bytes each.
    sizes: &'b [u8],
    /// `L` activation codes.
    acts: &'b [u8],
    /// `P` parameters, 4 bytes each.
    payload: &'b [u8],
    /// Bytes of the whole blob, checksum included.
    len: usize,
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
        if r.u16(header)? != Mlp::SAVE_VERSION {
            return Err(corrupt(
                "unsupported format version: this build reads version 1",
            ));
        }
        let flags = r.u16(header)?;
        if flags & !FLAG_BIAS != 0 {
            return Err(corrupt("unknown flag bits set"));
        }
        let bias = flags & FLAG_BIAS != 0;
        let layers = r.u32(header)?;
        if layers == 0 {
            return Err(corrupt("layer count is 0"));
        }
        // A blob longer than memory cannot be complete; `take` reports it as truncated.
        let layers = usize::try_from(layers).unwrap_or(usize::MAX);
        let sizes = r.take(
            layers.saturating_add(1).saturating_mul(4),
            "truncated (or a corrupt layer count): the blob ends inside the layer sizes",
        )?;
        let acts = r.take(
            layers,
            "truncated: the blob ends inside the activation codes",
        )?;
        let count = r.u32("truncated: the blob ends before the parameter count")?;
        let mut expect: usize = 0;
        let mut prev = None;
        for s in sizes.chunks_exact(4) {
            let d = usize::try_from(le_u32(s)).unwrap_or(usize::MAX);
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
        if usize::try_from(count).ok() != Some(expect) {
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
            bias,
            sizes,
            acts,
            payload,
            len: r.pos,
        })
    }

    /// [`Error::WrongNetwork`] unless the blob was saved from a network shaped like `net`.
    fn check_matches(&self, net: &Mlp<'_>) -> Result<(), Error> {
        let wrong = |what| Err(Error::WrongNetwork { what });
        if self.acts.len() != net.layers() {
            return wrong("its layer count differs");
        }
        let same_sizes = self
            .sizes
            .chunks_exact(4)
            .zip(net.sizes())
            .all(|(b, &d)| usize::try_from(le_u32(b)) == Ok(d));
        if !same_sizes {
            return wrong("its layer sizes differ");
        }
        if self.bias != net.has_bias() {
            return wrong("its bias setting differs");
        }
        let same_acts = self
            .acts
            .iter()
            .zip(net.activations())
            .all(|(&c, &a)| c == a.save_code());
        if !same_acts {
            return wrong("its activations differ");
        }
        Ok(())
    }
}

/// The shape of the network a saved blob holds, from [`Mlp::saved_info`]: enough to size
/// the storage [`Mlp::from_saved`] and [`Mlp::load`] need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SavedInfo {
    /// The layer count `L`: [`Mlp::from_saved`] needs `L + 1` sizes and `L` activations.
    pub layers: usize,
    /// Whether the layers have biases.
    pub bias: bool,
    /// The parameter count `P = `[`Mlp::param_len`]`(sizes, bias)`: the length of the
    /// `params` buffer [`Mlp::load`] fills.
    pub param_len: usize,
    /// Bytes of the blob, checksum included (what [`Mlp::check_saved`] returns); bytes
    /// after it are not part of it.
    pub blob_len: usize,
}

impl SavedInfo {
    /// `L + 1`: the entries of the `sizes` storage [`Mlp::from_saved`] needs.
    pub const fn sizes_len(&self) -> usize {
        self.layers + 1
    }
}

impl<'s> Mlp<'s> {
    /// The network saved in `blob`, built in caller storage: writes its `L + 1` layer
    /// sizes to the start of `sizes` and its `L` activations to the start of `acts`, and
    /// returns an [`Mlp`] borrowing those prefixes (entries past them are left alone).
    /// Then [`Mlp::load`] reads the parameters. Allocates nothing.
    ///
    /// For firmware that does not know the network at compile time: storage for the
    /// largest network it accepts, or sized first with [`Mlp::saved_info`].
    ///
    /// # Errors
    /// `sizes` and `acts` are left exactly as they were on any error.
    /// * [`Error::Corrupt`], [`Error::NonFinite`]: as [`Mlp::check_saved`]; the whole blob,
    ///   checksum included, is checked before anything is written.
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
        let layers = b.acts.len();
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
        // `parse` checked every field, so nothing below can fail: each size is ≥ 1 and
        // fits `usize` (their parameter count did not overflow), each code is known, and
        // the parameter count is below `usize::MAX` (its 4·P bytes are in the blob).
        for (d, bytes) in sizes.iter_mut().zip(b.sizes.chunks_exact(4)) {
            *d = usize::try_from(le_u32(bytes)).unwrap_or(usize::MAX);
        }
        for (a, &code) in acts.iter_mut().zip(b.acts) {
            if let Some(act) = Activation::from_save_code(code) {
                *a = act;
            }
        }
        let sizes: &'s [usize] = sizes;
        let acts: &'s [Activation] = acts;
        Mlp::new(&sizes[..layers + 1], &acts[..layers], b.bias)
    }
}

impl Mlp<'_> {
    /// Checks that `blob` starts with an intact saved blob (as [`Mlp::check_saved`]) and
    /// returns the shape it holds: layer count, bias setting, parameter count and blob
    /// length, to size the storage of [`Mlp::from_saved`] and [`Mlp::load`].
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
    /// # Ok::<(), microprop::Error>(())
    /// ```
    pub fn saved_info(blob: &[u8]) -> Result<SavedInfo, Error> {
        let b = Blob::parse(blob)?;
        Ok(SavedInfo {
            layers: b.acts.len(),
            bias: b.bias,
            param_len: b.payload.len() / 4,
            blob_len: b.len,
        })
    }

    /// The first four bytes of every saved blob.
    pub const SAVE_MAGIC: [u8; 4] = *b"MPRP";
    /// The format version [`Mlp::save`] writes and [`Mlp::load`] reads.
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

    /// Writes `params` to the start of `out` in the [saved format](crate::nn::save), and
    /// returns the number of bytes written, [`Mlp::saved_len`]. Bytes of `out` past that
    /// are left alone. Allocates nothing.
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
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                what: "out (Mlp::save needs Mlp::saved_len bytes)",
                needed: len,
                len: out.len(),
            });
        }
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
        w.put(&(self.layers() as u32).to_le_bytes());
        for &d in self.sizes() {
            w.put(&(d as u32).to_le_bytes());
        }
        for &a in self.activations() {
            w.put(&[a.save_code()]);
        }
        w.put(&(params.len() as u32).to_le_bytes());
        for p in params {
            w.put(&p.to_le_bytes());
        }
        let body = w.pos;
        let crc = crc32(&w.out[..body]);
        w.put(&crc.to_le_bytes());
        debug_assert_eq!(w.pos, len);
        Ok(len)
    }

    /// Reads parameters saved by [`Mlp::save`] from the start of `bytes` into `params`,
    /// and returns the length of the blob (bytes after it are ignored). Allocates nothing.
    ///
    /// The whole blob is checked first: its structure, its CRC-32, that every weight is
    /// finite, and that it was saved from a network with this one's layer sizes,
    /// activations and bias setting. Only then are the parameters decoded into `params`.
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
        self.check_param_len(params.len())?;
        let blob = Blob::parse(bytes)?;
        blob.check_matches(self)?;
        for (p, b) in params.iter_mut().zip(blob.payload.chunks_exact(4)) {
            *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(blob.len)
    }

    /// Checks that `bytes` starts with an intact saved blob, for any network: structure,
    /// version, checksum and finite weights, everything [`Mlp::load`] checks except the
    /// match with a particular network. Returns the blob's length.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::NonFinite`], as [`Mlp::load`].
    pub fn check_saved(bytes: &[u8]) -> Result<usize, Error> {
        Blob::parse(bytes).map(|b| b.len)
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
}
