//! Plain scalar kernels for quantized codes: the reference every SIMD kernel is tested against, the
//! fallback on CPUs without a faster path, and the 4-bit packers.
//!
//! 4-bit layout: code `i` lives in byte `i / 2`, in the **low** nibble for even `i` and the **high**
//! nibble for odd `i`; an odd count leaves the last byte's high nibble 0.

/// The weighted dot product `Σ w[i] · codes[i]` over `min(w.len(), codes.len())` elements.
pub(crate) fn dot_u8(w: &[f32], codes: &[u8]) -> f32 {
    w.iter().zip(codes).map(|(&x, &c)| x * f32::from(c)).sum()
}

/// The weighted dot product `Σ w[i] · code(i)` of 4-bit codes packed two per byte (see the module
/// docs), over `min(w.len(), 2 · packed.len())` elements.
pub(crate) fn dot_u4(w: &[f32], packed: &[u8]) -> f32 {
    let n = w.len().min(2 * packed.len());
    let w = &w[..n];
    let mut sum = 0.0f32;
    for (pair, &b) in w.chunks_exact(2).zip(packed) {
        sum += pair[0] * f32::from(b & 0x0F);
        sum += pair[1] * f32::from(b >> 4);
    }
    if n % 2 == 1 {
        sum += w[n - 1] * f32::from(packed[n / 2] & 0x0F);
    }
    sum
}

/// The number of bytes `n` 4-bit codes take: `ceil(n / 2)`.
pub(crate) const fn packed_u4_len(n: usize) -> usize {
    n.div_ceil(2)
}

/// Packs `codes` (each `0..=15`) two per byte into the first `ceil(codes.len() / 2)` bytes of
/// `out`; the rest of `out` is left as it is. Only the low nibble of each code is kept (a code above
/// 15 is a caller bug, checked in debug builds).
///
/// # Panics
/// When `out` is shorter than `ceil(codes.len() / 2)`.
pub(crate) fn pack_u4(codes: &[u8], out: &mut [u8]) {
    let len = packed_u4_len(codes.len());
    assert!(
        out.len() >= len,
        "pack_u4: {} codes need {len} bytes, got {}",
        codes.len(),
        out.len()
    );
    debug_assert!(
        codes.iter().all(|&c| c <= 0x0F),
        "pack_u4: a code exceeds 15"
    );
    for (o, pair) in out[..len].iter_mut().zip(codes.chunks(2)) {
        let lo = pair[0] & 0x0F;
        let hi = pair.get(1).map_or(0, |&c| c & 0x0F);
        *o = lo | (hi << 4);
    }
}

/// Unpacks the first `out.len()` 4-bit codes of `packed` into `out`, one code (`0..=15`) per byte.
///
/// # Panics
/// When `packed` is shorter than `ceil(out.len() / 2)`.
#[cfg_attr(not(test), allow(dead_code))] // for the codecs (decode, re-encode) landing in `quant`
pub(crate) fn unpack_u4(packed: &[u8], out: &mut [u8]) {
    let len = packed_u4_len(out.len());
    assert!(
        packed.len() >= len,
        "unpack_u4: {} codes need {len} bytes, got {}",
        out.len(),
        packed.len()
    );
    for (i, o) in out.iter_mut().enumerate() {
        *o = (packed[i / 2] >> ((i & 1) * 4)) & 0x0F;
    }
}
