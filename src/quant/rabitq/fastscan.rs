//! Fast scan: the 1-bit codes of 32 vectors transposed so that a 4-bit lookup table in a SIMD
//! register scores all 32 at once, and the query's lookup table.
//!
//! **Groups and nibbles.** Dimensions `4g … 4g+3` form group `g` (`G = D / 4` groups); a vector's
//! nibble in group `g` has bit `j` = code bit `4g + j`, i.e. it is the low (even `g`) or high (odd
//! `g`) nibble of code byte `g / 2`. The query's table for group `g` has 16 entries,
//! `T_g[n] = Σ_{j : bit j of n} q'[4g + j]`, so `⟨bits, q'⟩ = Σ_g T_g[nibble_g]`.
//!
//! **A batch** ([`batch_bytes`]) holds up to 32 vectors: `16 · G = 4D` code bytes, then 32 `add`,
//! 32 `rescale`, 32 `error` (little-endian `f32`, slot order). The code bytes are `G / 2` columns
//! of 32 bytes, one per code byte: column `p` holds group `2p` in its first 16 bytes and group
//! `2p + 1` in its last 16. In each 16-byte half, byte `j` holds the nibble of slot `π(j)` (low
//! nibble) and of slot `π(j) + 16` (high nibble), `π = [0, 8, 1, 9, …, 7, 15]`. The order lets a
//! `u16` lane `m` of the shuffled bytes carry slots `m` (low byte) and `m + 8` (high byte), so the
//! kernels' sums come out in slot order without a final permutation. Slots past the batch's count
//! have zero codes and `add = +∞`, so their estimate and lower bound are `+∞`.
//!
//! **The table** ([`QueryLut`]) is 16 bytes per group at offset `16g`, matching the codes: a
//! 16-byte lane of codes meets its group's table in the same lane (`vpshufb` shuffles within
//! lanes). Entries are `⌊(T_g[n] − min_n T_g) / Δ + ½⌋` with one step `Δ = max_g range_g / 255`,
//! so `⟨bits, q'⟩ ≈ Δ · S + Σ_g min_n T_g` where `S` is the kernels' exact integer sum.
//!
//! The kernels ([`accumulate_scalar`] and the SIMD twins in `x86.rs`) add table entries in `u16`
//! lanes for at most [`CHUNK_GROUPS`] groups (`256 · 255 < 2¹⁶`), then widen into `u32`: every
//! kernel returns the same exact integers.

use super::binary::{code_bytes, Factors};

/// Vectors per fast-scan batch.
pub(crate) const BATCH: usize = 32;

/// Groups summed in `u16` lanes before the kernels widen to `u32`.
pub(crate) const CHUNK_GROUPS: usize = 256;

/// The slot held by the low nibble of byte `j` of a 16-byte half (the high nibble holds `π(j) + 16`).
pub(crate) const PERM: [usize; 16] = [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];

/// Code bytes of a batch: `4 · padded`.
pub(crate) fn batch_code_bytes(padded: usize) -> usize {
    4 * padded
}

/// Bytes of a batch: codes, then 3 × 32 factors.
pub(crate) fn batch_bytes(padded: usize) -> usize {
    batch_code_bytes(padded) + 3 * 4 * BATCH
}

/// Packs up to 32 compact codes (each `padded / 8` bytes) and their factors into one batch.
///
/// # Panics
/// When more than 32 codes are given, `codes` and `factors` differ in length, a code is not
/// `padded / 8` bytes or `out` is not `batch_bytes(padded)` bytes.
pub(crate) fn pack_batch(padded: usize, codes: &[&[u8]], factors: &[Factors], out: &mut [u8]) {
    assert!(codes.len() <= BATCH, "pack_batch: more than {BATCH} codes");
    assert_eq!(codes.len(), factors.len(), "pack_batch: codes and factors");
    assert_eq!(out.len(), batch_bytes(padded), "pack_batch: batch length");
    let cb = code_bytes(padded);
    assert!(
        codes.iter().all(|c| c.len() == cb),
        "pack_batch: code length"
    );
    let code_byte = |slot: usize, p: usize| codes.get(slot).map_or(0, |c| c[p]);
    let (packed, tail) = out.split_at_mut(batch_code_bytes(padded));
    for (p, column) in packed.chunks_exact_mut(32).enumerate() {
        for (half, shift) in [(0usize, 0u32), (1, 4)] {
            for j in 0..16 {
                let lo = (code_byte(PERM[j], p) >> shift) & 0x0F;
                let hi = (code_byte(PERM[j] + 16, p) >> shift) & 0x0F;
                column[16 * half + j] = lo | (hi << 4);
            }
        }
    }
    for slot in 0..BATCH {
        let f = factors.get(slot).copied().unwrap_or(Factors {
            add: f32::INFINITY,
            rescale: 0.0,
            error: 0.0,
        });
        tail[4 * slot..4 * slot + 4].copy_from_slice(&f.add.to_le_bytes());
        tail[4 * (BATCH + slot)..4 * (BATCH + slot) + 4].copy_from_slice(&f.rescale.to_le_bytes());
        tail[4 * (2 * BATCH + slot)..4 * (2 * BATCH + slot) + 4]
            .copy_from_slice(&f.error.to_le_bytes());
    }
}

/// The compact code of `slot` in a packed batch (the inverse of [`pack_batch`], for tests and
/// `verify`).
pub(crate) fn unpack_code(padded: usize, batch: &[u8], slot: usize, out: &mut [u8]) {
    assert!(slot < BATCH);
    let (half_slot, shift) = (slot % 16, if slot < 16 { 0 } else { 4 });
    let j = PERM
        .iter()
        .position(|&s| s == half_slot)
        .expect("perm covers 0..16");
    for (p, column) in batch[..batch_code_bytes(padded)]
        .chunks_exact(32)
        .enumerate()
    {
        let lo = (column[j] >> shift) & 0x0F;
        let hi = (column[16 + j] >> shift) & 0x0F;
        out[p] = lo | (hi << 4);
    }
}

/// The factors of `slot` in a packed batch.
pub(crate) fn batch_factors(padded: usize, batch: &[u8], slot: usize) -> Factors {
    let t = &batch[batch_code_bytes(padded)..];
    let f = |i: usize| f32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Factors {
        add: f(4 * slot),
        rescale: f(4 * (BATCH + slot)),
        error: f(4 * (2 * BATCH + slot)),
    }
}

/// The query's fast-scan table: `16 · G` bytes and the constants that undo its quantization.
#[derive(Clone, Debug)]
pub(crate) struct QueryLut {
    /// 16 entries per group, group `g` at `[16g, 16g + 16)`.
    pub(crate) table: Vec<u8>,
    /// `Δ`: `⟨bits, q'⟩ ≈ Δ · S + offset`.
    pub(crate) scale: f32,
    /// `Σ_g min_n T_g[n]`.
    pub(crate) offset: f32,
}

impl QueryLut {
    /// The table of `q_rot` (length a multiple of 64).
    pub(crate) fn new(q_rot: &[f32]) -> Self {
        debug_assert_eq!(q_rot.len() % 64, 0);
        let groups = q_rot.len() / 4;
        // A group's smallest entry is the sum of its negative coordinates, its range the sum of
        // their magnitudes: the step is known before any entry is built.
        let range = q_rot
            .chunks_exact(4)
            .map(|q| q.iter().map(|v| v.abs()).sum::<f32>())
            .fold(0f32, f32::max);
        let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
        let inv = 1.0 / scale;
        let mut table = vec![0u8; 16 * groups];
        let mut mins = vec![0f32; groups];
        for ((q, out), min) in q_rot
            .chunks_exact(4)
            .zip(table.chunks_exact_mut(16))
            .zip(mins.iter_mut())
        {
            let lo: f32 = q.iter().map(|&v| v.min(0.0)).sum();
            let mut t = [0f32; 16];
            for n in 1..16usize {
                t[n] = t[n & (n - 1)] + q[n.trailing_zeros() as usize];
            }
            // Round half up by truncation: the values are ≥ 0 up to rounding, and `as u8`
            // saturates at 0 and 255 (no call to `roundf` on the baseline target).
            for (o, &v) in out.iter_mut().zip(&t) {
                *o = ((v - lo) * inv + 0.5) as u8;
            }
            *min = lo;
        }
        let offset = mins.iter().map(|&m| f64::from(m)).sum::<f64>() as f32;
        Self {
            table,
            scale,
            offset,
        }
    }
}

/// The scalar twin of the fast-scan kernels: adds, for each of the 32 slots, the table entry its
/// nibble selects in every group. Reads `n = min(codes.len(), table.len())` rounded down to a
/// multiple of 256 bytes (64 dimensions) of both.
pub(crate) fn accumulate_scalar(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    let n = codes.len().min(table.len()) & !255;
    *sums = [0; BATCH];
    for (column, lut) in codes[..n].chunks_exact(32).zip(table[..n].chunks_exact(32)) {
        for half in 0..2 {
            let t = &lut[16 * half..16 * half + 16];
            for j in 0..16 {
                let b = column[16 * half + j];
                sums[PERM[j]] += u32::from(t[usize::from(b & 0x0F)]);
                sums[PERM[j] + 16] += u32::from(t[usize::from(b >> 4)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// `Σ_g T_g[nibble_g(code)]` straight from a compact code and the byte table.
    fn by_hand(code: &[u8], table: &[u8]) -> u32 {
        let groups = code.len() * 2;
        (0..groups)
            .map(|g| {
                let nib = (code[g / 2] >> (4 * (g % 2))) & 0x0F;
                u32::from(table[16 * g + usize::from(nib)])
            })
            .sum()
    }

    #[test]
    fn pack_and_unpack_are_inverse_on_full_and_partial_batches() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        for padded in [64, 128, 832] {
            for count in [1, 7, 16, 17, 31, 32] {
                let codes: Vec<Vec<u8>> = (0..count)
                    .map(|_| (0..padded / 8).map(|_| rng.random()).collect())
                    .collect();
                let factors: Vec<Factors> = (0..count)
                    .map(|i| Factors {
                        add: i as f32,
                        rescale: -(i as f32),
                        error: 0.5 * i as f32,
                    })
                    .collect();
                let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
                let mut batch = vec![0u8; batch_bytes(padded)];
                pack_batch(padded, &refs, &factors, &mut batch);
                let mut back = vec![0u8; padded / 8];
                for slot in 0..BATCH {
                    unpack_code(padded, &batch, slot, &mut back);
                    let f = batch_factors(padded, &batch, slot);
                    if slot < count {
                        assert_eq!(back, codes[slot]);
                        assert_eq!(f, factors[slot]);
                    } else {
                        assert!(back.iter().all(|&b| b == 0));
                        assert_eq!(f.add, f32::INFINITY);
                    }
                }
            }
        }
    }

    /// Every kernel set gives the exact integer sums of the table lookups, on every padded
    /// dimension that dims 1–130 and the large ones produce, including dimensions past the `u16`
    /// chunk, with extreme tables (all 255) and full and partial batches.
    #[test]
    fn kernels_are_bit_exact_on_every_dimension() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut paddeds: Vec<usize> = (1..=130).map(super::super::rotation::padded_dim).collect();
        paddeds.extend([256, 384, 768, 832, 1024, 1088, 1536, 2048, 4160]);
        paddeds.dedup();
        for &padded in &paddeds {
            for (count, saturate) in [(32, false), (5, false), (32, true)] {
                let codes: Vec<Vec<u8>> = (0..count)
                    .map(|_| (0..padded / 8).map(|_| rng.random()).collect())
                    .collect();
                let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
                let factors = vec![Factors::default(); count];
                let mut batch = vec![0u8; batch_bytes(padded)];
                pack_batch(padded, &refs, &factors, &mut batch);
                let table: Vec<u8> = (0..4 * padded)
                    .map(|_| if saturate { 255 } else { rng.random() })
                    .collect();
                let mut want = [0u32; BATCH];
                accumulate_scalar(&batch[..batch_code_bytes(padded)], &table, &mut want);
                for (slot, &sum) in want.iter().enumerate() {
                    let code = codes.get(slot).cloned().unwrap_or(vec![0; padded / 8]);
                    assert_eq!(sum, by_hand(&code, &table), "padded {padded} slot {slot}");
                }
                for k in kernels::supported() {
                    let mut got = [u32::MAX; BATCH];
                    (k.fastscan)(&batch[..batch_code_bytes(padded)], &table, &mut got);
                    assert_eq!(got, want, "{}: padded {padded} count {count}", k.name);
                }
            }
        }
    }

    #[test]
    fn kernels_read_only_whole_64_dimension_steps() {
        // A short or ragged slice is cut to whole 256-byte steps, never read past.
        let codes = vec![0xFFu8; 300];
        let table = vec![1u8; 600];
        for k in kernels::supported() {
            let mut got = [0u32; BATCH];
            (k.fastscan)(&codes, &table, &mut got);
            // 256 bytes = 16 groups: each slot adds 16 entries of 1.
            assert_eq!(got, [16; BATCH], "{}", k.name);
            (k.fastscan)(&codes[..255], &table, &mut got);
            assert_eq!(got, [0; BATCH], "{}", k.name);
        }
    }

    #[test]
    fn table_undoes_its_quantization() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let d = 256;
        let q: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let lut = QueryLut::new(&q);
        for _ in 0..50 {
            let code: Vec<u8> = (0..d / 8).map(|_| rng.random()).collect();
            let exact: f32 = (0..d)
                .filter(|&i| code[i / 8] >> (i % 8) & 1 == 1)
                .map(|i| q[i])
                .sum();
            let approx = lut.scale * by_hand(&code, &lut.table) as f32 + lut.offset;
            // Each of the 64 groups rounds by at most Δ/2.
            assert!(
                (approx - exact).abs() <= 0.5 * lut.scale * 64.0 + 1e-4,
                "{approx} vs {exact}"
            );
        }
    }
}
