//! Quantized codes: 8-bit and 4-bit scalar codecs and the kernels that score a prepared query against them.

pub(crate) mod kernels;
