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

// ---------------------------------------------------------------------------------------------
// Integer path: the query quantized to `i8`
// ---------------------------------------------------------------------------------------------

/// Codes per block of the 4-bit `i8` weight layout (64 packed bytes): see [`QueryI8`].
pub(crate) const I8_U4_BLOCK: usize = 128;

/// The `i8` weights of an 8-bit query are padded to a multiple of this many (one AVX-512 load).
pub(crate) const I8_U8_BLOCK: usize = 64;

/// A query quantized to `i8` for the integer kernels: `w[i] ≈ scale · weights[k(i)]`, so
/// `Σ w[i] · c[i] ≈ scale · dot_i8(query, codes)`. Built once per search by [`quantize_query`].
///
/// Layout of `weights` (`k(i)` above), chosen so the SIMD kernels load weights and codes at the
/// same offsets and never interleave:
///
/// - for 8-bit codes, natural order: `k(i) = i`, zero-padded to a multiple of 64;
/// - for 4-bit codes (two per byte, low nibble = even element), blocks of 128 codes (64 packed
///   bytes): a block holds first the 64 weights of its low nibbles (elements `0, 2, …, 126` of the
///   block), then the 64 weights of its high nibbles (`1, 3, …, 127`); zero-padded to a whole
///   block. So packed byte `j` of block `b` meets weights `128b + j` (low nibble) and
///   `128b + 64 + j` (high nibble): `k(i) = 128 · (i / 128) + (i % 128) / 2 + 64 · (i % 2)`.
///
/// The kernels check that `weights` covers the layout (and panic if not) but do not rely on the
/// padding being zero: they never use a weight past `len`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryI8 {
    /// The step of the quantization: `w[i] ≈ scale · weights[k(i)]`. `0.0` for an all-zero query.
    pub scale: f32,
    /// The quantized weights, each in `-127..=127`, padded and in kernel order (see above).
    pub weights: Vec<i8>,
    /// The number of query dimensions (weights before padding).
    pub len: usize,
}

/// The index in the 4-bit layout of [`QueryI8`] of the weight of element `i`.
#[inline(always)]
pub(crate) const fn u4_weight_index(i: usize) -> usize {
    (i & !(I8_U4_BLOCK - 1)) + ((i % I8_U4_BLOCK) >> 1) + ((i & 1) << 6)
}

/// Quantizes the prepared query `w` to `i8` for the `bits`-bit (8 or 4) integer kernels:
/// `scale = max|w| / 127`, `weights[k(i)] = round(w[i] / scale)` clamped to `-127..=127`, in the
/// layout of [`QueryI8`] for `bits`. An all-zero query (or one without finite non-zero weights)
/// gets `scale = 0` and zero weights. O(`w.len()`), one allocation.
///
/// The rounding error per weight is at most `scale / 2`, so `|Σ w·c − scale · dot_i8| ≤
/// (scale / 2) · Σ c`.
///
/// # Panics
/// When `bits` is neither 8 nor 4.
pub(crate) fn quantize_query(w: &[f32], bits: u32) -> QueryI8 {
    assert!(
        bits == 8 || bits == 4,
        "quantize_query: bits must be 8 or 4, got {bits}"
    );
    let len = w.len();
    let max = w
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, &x| m.max(x.abs()));
    let (block, index): (usize, fn(usize) -> usize) = if bits == 8 {
        (I8_U8_BLOCK, |i| i)
    } else {
        (I8_U4_BLOCK, u4_weight_index)
    };
    let mut weights = vec![0i8; len.next_multiple_of(block)];
    if max == 0.0 {
        return QueryI8 {
            scale: 0.0,
            weights,
            len,
        };
    }
    let scale = max / 127.0;
    for (i, &x) in w.iter().enumerate() {
        // `as` saturates (NaN → 0, ±inf → the clamp), and the clamp keeps -128 out.
        weights[index(i)] = ((x / scale).round() as i32).clamp(-127, 127) as i8;
    }
    QueryI8 {
        scale,
        weights,
        len,
    }
}

/// The number of codes an integer kernel reads: `min(q.len, available)`.
///
/// # Panics
/// When `q.weights` is shorter than the layout needs for those codes (`n` rounded up to `block`).
#[inline(always)]
pub(crate) fn i8_len(q: &QueryI8, available: usize, block: usize) -> usize {
    let n = q.len.min(available);
    assert!(
        q.weights.len() >= n.next_multiple_of(block),
        "QueryI8: {} weights do not cover {n} codes",
        q.weights.len()
    );
    n
}

/// The exact integer dot `Σ weights[i] · codes[i]` over `n = min(q.len, codes.len())` elements
/// (a wrapping `i32` sum: exact while `n · 127 · 255 < 2³¹`, i.e. `n` up to 66 000).
///
/// # Panics
/// When `q.weights` does not cover `n` rounded up to 64.
pub(crate) fn dot_i8_u8(q: &QueryI8, codes: &[u8]) -> i32 {
    let n = i8_len(q, codes.len(), I8_U8_BLOCK);
    q.weights[..n]
        .iter()
        .zip(&codes[..n])
        .fold(0i32, |s, (&x, &c)| {
            s.wrapping_add(i32::from(x) * i32::from(c))
        })
}

/// The exact integer dot `Σ weights[k(i)] · code(i)` of 4-bit codes packed two per byte, over
/// `n = min(q.len, 2 · packed.len())` elements, with `q` in the 4-bit layout of [`QueryI8`].
///
/// # Panics
/// When `q.weights` does not cover `n` rounded up to 128.
pub(crate) fn dot_i8_u4(q: &QueryI8, packed: &[u8]) -> i32 {
    let n = i8_len(q, 2 * packed.len(), I8_U4_BLOCK);
    let mut sum = 0i32;
    for i in 0..n {
        let code = (packed[i / 2] >> ((i & 1) * 4)) & 0x0F;
        let x = q.weights[u4_weight_index(i)];
        sum = sum.wrapping_add(i32::from(x) * i32::from(code));
    }
    sum
}
