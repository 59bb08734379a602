//! TEMPORARY scalar-only kernels (the SIMD versions are on the `quantk` branch).

/// The weighted-dot kernels of one instruction set.
pub(crate) struct QuantKernels {
    /// Name of the set.
    #[allow(dead_code)]
    pub name: &'static str,
    /// `Σ w[i]·c[i]` over 8-bit codes.
    pub dot_u8: fn(&[f32], &[u8]) -> f32,
    /// `Σ w[i]·c[i]` over packed 4-bit codes (low nibble first).
    pub dot_u4: fn(&[f32], &[u8]) -> f32,
}

static SCALAR: QuantKernels = QuantKernels {
    name: "scalar",
    dot_u8,
    dot_u4,
};

/// The kernels for this CPU.
pub(crate) fn active() -> &'static QuantKernels {
    &SCALAR
}

fn dot_u8(w: &[f32], c: &[u8]) -> f32 {
    w.iter().zip(c).map(|(w, &c)| w * c as f32).sum()
}

fn dot_u4(w: &[f32], packed: &[u8]) -> f32 {
    w.iter()
        .enumerate()
        .take(packed.len() * 2)
        .map(|(i, w)| w * ((packed[i / 2] >> ((i % 2) * 4)) & 0xF) as f32)
        .sum()
}

/// Packs codes 0..=15 two per byte, low nibble first.
pub(crate) fn pack_u4(codes: &[u8], out: &mut [u8]) {
    for (i, pair) in codes.chunks(2).enumerate() {
        out[i] = pair[0] | (pair.get(1).copied().unwrap_or(0) << 4);
    }
}
