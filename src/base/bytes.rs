//! The byte encoding shared by stratavec's files (segment metadata, manifest, write-ahead log).
//!
//! Everything is little-endian and fixed-width: `u8`, `u32`, `u64`, `f32` as their LE bytes; a
//! byte string or UTF-8 string as a `u32` length then the bytes; an `f32` array as a `u32` length
//! then the values. No self-description, no varints: the layout of each record is written down in
//! `docs/file-format.md`, and a reader checks every length against what is left before it reads.
//!
//! [`ByteReader`] never panics on hostile input: every read is bounds-checked and a short or
//! inconsistent buffer yields `None`, which the caller turns into [`crate::Error::Corrupt`] with
//! the file's path.

use super::options::{IndexOptions, Layout, QuantScheme, Quantization, MAX_M};
use crate::distance::Metric;

/// Appends little-endian values to a byte buffer.
#[derive(Default)]
pub(crate) struct ByteWriter {
    pub buf: Vec<u8>,
}

impl ByteWriter {
    pub fn new() -> Self {
        ByteWriter::default()
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `u32` length, then the bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(u32::try_from(v.len()).expect("byte string longer than 4 GiB"));
        self.buf.extend_from_slice(v);
        self
    }

    /// A `u32` length, then the UTF-8 bytes.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// A `u32` count, then the values.
    pub fn f32s(&mut self, v: &[f32]) -> &mut Self {
        self.u32(u32::try_from(v.len()).expect("array longer than 4 G elements"));
        for &x in v {
            self.f32(x);
        }
        self
    }

    /// The index options: dim u32, metric u8, m u32, ef_construction u32, seed u64,
    /// quantization u8, quant scheme u8 (tags in [`metric_tag`], [`quantization_tag`],
    /// [`scheme_tag`]).
    pub fn options(&mut self, o: &IndexOptions) -> &mut Self {
        self.u32(o.dim as u32)
            .u8(metric_tag(o.metric))
            .u32(o.m as u32)
            .u32(o.ef_construction as u32)
            .u64(o.seed)
            .u8(quantization_tag(o.quantization))
            .u8(scheme_tag(o.quant_scheme))
    }
}

/// Reads little-endian values from a byte slice; every read is bounds-checked.
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|b| b.try_into().expect("length checked"))
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|b| b[0])
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub fn f32(&mut self) -> Option<f32> {
        self.array().map(f32::from_le_bytes)
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    pub fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.u32()? as usize;
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("chunk of 4")))
                .collect(),
        )
    }

    /// Index options as written by [`ByteWriter::options`]; `None` on an unknown tag or a value
    /// no index accepts (dim 0, m outside 2..=MAX_M, ef_construction 0).
    pub fn options(&mut self) -> Option<IndexOptions> {
        let dim = self.u32()? as usize;
        let metric = metric_from_tag(self.u8()?)?;
        let m = self.u32()? as usize;
        let ef_construction = self.u32()? as usize;
        let seed = self.u64()?;
        let quantization = quantization_from_tag(self.u8()?)?;
        let quant_scheme = scheme_from_tag(self.u8()?)?;
        if dim == 0 || !(2..=MAX_M).contains(&m) || ef_construction == 0 {
            return None;
        }
        Some(IndexOptions {
            dim,
            metric,
            m,
            ef_construction,
            seed,
            quantization,
            quant_scheme,
            // Not stored with the options: a segment's sections say which it has.
            layout: Layout::Auto,
        })
    }
}

/// The stable tag of a metric in files: L2 0, inner product 1, cosine 2.
pub(crate) fn metric_tag(m: Metric) -> u8 {
    match m {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
    }
}

pub(crate) fn metric_from_tag(t: u8) -> Option<Metric> {
    Some(match t {
        0 => Metric::L2,
        1 => Metric::InnerProduct,
        2 => Metric::Cosine,
        _ => return None,
    })
}

/// The stable tag of a quantization in files: none 0, sq8 1, sq4 2, RaBitQ with `b` extended
/// bits `16 + b` (format version 3 on).
pub(crate) fn quantization_tag(q: Quantization) -> u8 {
    match q {
        Quantization::None => 0,
        Quantization::Sq8 => 1,
        Quantization::Sq4 => 2,
        Quantization::RaBitQ { bits } => 16 + bits,
    }
}

pub(crate) fn quantization_from_tag(t: u8) -> Option<Quantization> {
    let q = match t {
        0 => Quantization::None,
        1 => Quantization::Sq8,
        2 => Quantization::Sq4,
        16..=24 => Quantization::RaBitQ { bits: t - 16 },
        _ => return None,
    };
    q.check().ok()?;
    Some(q)
}

/// The stable tag of a quantization scheme in files: per-dimension 0, per-vector 1.
pub(crate) fn scheme_tag(s: QuantScheme) -> u8 {
    match s {
        QuantScheme::PerDimension => 0,
        QuantScheme::PerVector => 1,
    }
}

pub(crate) fn scheme_from_tag(t: u8) -> Option<QuantScheme> {
    Some(match t {
        0 => QuantScheme::PerDimension,
        1 => QuantScheme::PerVector,
        _ => return None,
    })
}

/// CRC-32C (Castagnoli) of `bytes`, hardware-accelerated where the CPU has it.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_input_is_none() {
        let mut o = IndexOptions::new(7, Metric::Cosine);
        o.quantization = Quantization::Sq4;
        o.m = 12;
        let mut w = ByteWriter::new();
        w.u8(9)
            .u32(1 << 30)
            .u64(u64::MAX - 1)
            .f32(-1.5)
            .str("seg-1")
            .f32s(&[1.0, 2.0])
            .options(&o);
        let mut r = ByteReader::new(&w.buf);
        assert_eq!(r.u8(), Some(9));
        assert_eq!(r.u32(), Some(1 << 30));
        assert_eq!(r.u64(), Some(u64::MAX - 1));
        assert_eq!(r.f32(), Some(-1.5));
        assert_eq!(r.str(), Some("seg-1"));
        assert_eq!(r.f32s(), Some(vec![1.0, 2.0]));
        assert_eq!(r.options(), Some(o));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.u8(), None);
        for cut in 0..w.buf.len() {
            let mut r = ByteReader::new(&w.buf[..cut]);
            let full = (|| {
                r.u8()?;
                r.u32()?;
                r.u64()?;
                r.f32()?;
                r.str()?;
                r.f32s()?;
                r.options()
            })();
            assert!(full.is_none(), "a cut at {cut} read as complete");
        }
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let mut w = ByteWriter::new();
        w.u32(u32::MAX);
        assert_eq!(ByteReader::new(&w.buf).f32s(), None);
        assert_eq!(ByteReader::new(&w.buf).bytes(), None);
        let mut w = ByteWriter::new();
        w.u32(3).u8(7).u32(16).u32(100).u64(0).u8(0).u8(0);
        assert_eq!(ByteReader::new(&w.buf).options(), None, "metric tag 7");
    }
}
