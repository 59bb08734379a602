//! The codec of a quantized index, whichever family it is: scalar quantization ([`SqCodec`]) or
//! RaBitQ ([`RqCodec`]). Training, encoding and the parameters' bytes go through here (cold
//! paths); a search matches on the family once, in [`super::Traversal`].

use super::rq::RqCodec;
use super::sq::SqCodec;
use crate::base::bytes::{ByteReader, ByteWriter};
use crate::base::options::{IndexOptions, Quantization};

/// A trained codec.
#[derive(Debug)]
pub(crate) enum Codec {
    /// 8- or 4-bit scalar codes.
    Sq(SqCodec),
    /// RaBitQ codes.
    Rq(RqCodec),
}

impl Codec {
    /// Trains the codec the options name on `rows` (row after row, `dim` each; normalised under
    /// cosine); `None` for an f32 index.
    pub(crate) fn train(options: &IndexOptions, rows: &[f32]) -> Option<Codec> {
        match options.quantization {
            Quantization::None => None,
            Quantization::Sq8 | Quantization::Sq4 => SqCodec::train(
                options.quantization,
                options.quant_scheme,
                options.metric,
                options.dim,
                rows,
            )
            .map(Codec::Sq),
            Quantization::RaBitQ { .. } => RqCodec::train(options, rows).map(Codec::Rq),
        }
    }

    /// Bytes of one code row for these options (before rounding to 16); 0 when the index keeps
    /// none (f32, or RaBitQ's block layout, whose codes live in the blocks).
    pub(crate) fn row_bytes(options: &IndexOptions) -> usize {
        match options.quantization {
            Quantization::None => 0,
            Quantization::Sq8 | Quantization::Sq4 => options
                .quantization
                .bits()
                .map_or(0, |b| SqCodec::row_bytes(b, options.dim)),
            Quantization::RaBitQ { .. } => RqCodec::row_bytes(options),
        }
    }

    /// Encodes `v` (`dim` values) into a code row.
    pub(crate) fn encode(&self, v: &[f32], row: &mut [u8]) {
        match self {
            Codec::Sq(c) => c.encode(v, row),
            Codec::Rq(c) => c.encode(v, row),
        }
    }

    /// Writes the trained parameters (the family follows from the options stored beside them).
    pub(crate) fn write_params(&self, w: &mut ByteWriter) {
        match self {
            Codec::Sq(c) => c.write_params(w),
            Codec::Rq(c) => c.write_params(w),
        }
    }

    /// Reads parameters written by [`Codec::write_params`] for an index with these options;
    /// `None` when they do not fit.
    pub(crate) fn read_params(r: &mut ByteReader<'_>, options: &IndexOptions) -> Option<Codec> {
        match options.quantization {
            Quantization::None => None,
            Quantization::Sq8 | Quantization::Sq4 => {
                SqCodec::read_params(r, options).map(Codec::Sq)
            }
            Quantization::RaBitQ { .. } => RqCodec::read_params(r, options).map(Codec::Rq),
        }
    }

    /// Whether a search's distances are exact without reranking.
    pub(crate) fn exact_results(&self) -> bool {
        match self {
            Codec::Sq(_) => false,
            Codec::Rq(c) => c.exact_results(),
        }
    }
}
