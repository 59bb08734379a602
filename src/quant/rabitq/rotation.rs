//! The random orthogonal rotation `P` applied once to every stored vector, centroid and query.
//!
//! `P` is a product of [`ROUNDS`] rounds on the padded dimension `D` (a multiple of 64, at least the
//! vector's dimension; the vector is extended with zeros):
//!
//! 1. flip the sign of each coordinate whose bit is set in this round's random sign mask;
//! 2. a fast Walsh–Hadamard transform on a power-of-two block of `B` coordinates, `B` the largest
//!    power of two `≤ D`: the first `B` coordinates in even rounds, the last `B` in odd rounds (the
//!    same block when `B = D`);
//! 3. when `B < D`, a Kac-walk step that mixes the two halves with a fixed rotation by π/4:
//!    `(xᵢ, xᵢ₊D/2) ← ((xᵢ + xᵢ₊D/2)/√2, (xᵢ − xᵢ₊D/2)/√2)`.
//!
//! Each step is orthogonal, so `P` is. The normalisations of full transforms (`1/√D` each) and of
//! the Kac steps (`1/√2` each) are folded into one exact power-of-two scale at the end; a
//! transform of a block is scaled by `1/√B` on that block right away. The cost is `O(D log D)` and the
//! whole transform is described by the seed and `D`: [`Rotation::to_bytes`] writes 20 bytes.
//!
//! **Why a multiple of 64 and not the next power of two.** The padded dimension is also the length
//! of every code, so padding costs bytes in every block: 784 → 832 (+6 %) here against 1024
//! (+31 %), 384 → 384 against 512 (+33 %), 768 → 768 against 1024. The Kac step makes the
//! non-power-of-two case mix all coordinates for the price of one extra pass per round, and the
//! estimator's measured accuracy with it matches the power-of-two padding (tests below and
//! `docs/rabitq.md`). [`Rotation::with_padded_dim`] still accepts any multiple of 64 (a power of two
//! included) so the choice can be revisited per file.
//!
//! The sign masks come from SplitMix64 seeded with the seed: a fixed, documented generator, so a
//! file's 20 bytes give the same rotation on every platform and in every later version.

use crate::error::{Error, Result};

/// Rounds of sign flip + Hadamard transform (+ Kac step when the dimension is not a power of two).
pub(crate) const ROUNDS: usize = 4;

/// The padded dimension is a multiple of this (one `u64` of code bits; 16 fast-scan groups).
pub(crate) const PAD_MULTIPLE: usize = 64;

/// The largest dimension a rotation accepts (a guard for sizes read from files).
pub(crate) const MAX_DIM: usize = 1 << 16;

/// Bytes of [`Rotation::to_bytes`].
pub(crate) const ROTATION_BYTES: usize = 20;

/// Version byte of the serialised rotation.
const ROTATION_VERSION: u8 = 1;

/// The padded dimension for `dim`: the next multiple of 64.
pub(crate) fn padded_dim(dim: usize) -> usize {
    dim.div_ceil(PAD_MULTIPLE) * PAD_MULTIPLE
}

/// One step of SplitMix64 (Steele, Lea, Flood 2014): the generator of the sign masks.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded random orthogonal transform of `dim`-dimensional vectors into `padded_dim` dimensions.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rotation {
    dim: usize,
    padded: usize,
    seed: u64,
    /// The power-of-two block each Hadamard transform covers.
    block: usize,
    /// `ROUNDS × padded / 64` sign masks: bit `i % 64` of word `round · padded/64 + i / 64` flips
    /// coordinate `i` in that round.
    signs: Vec<u64>,
    /// The same masks expanded to one `u32` per coordinate and round (`0` or the sign bit), so
    /// the flip is one vectorised XOR.
    flips: Vec<u32>,
    /// `1/√block`, applied to the block after each transform when `block < padded`.
    block_scale: f32,
    /// The normalisations applied once at the end: `1/block²` when `block = padded` (four full
    /// transforms), `1/4` otherwise (four Kac steps).
    scale: f32,
}

impl Rotation {
    /// A rotation of `dim`-dimensional vectors, padded to the next multiple of 64.
    ///
    /// # Errors
    /// `InvalidParameter` when `dim` is 0 or above 65 536.
    pub(crate) fn new(dim: usize, seed: u64) -> Result<Self> {
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::InvalidParameter {
                name: "dim",
                reason: format!("a rotation needs 1 to {MAX_DIM} dimensions, got {dim}"),
            });
        }
        Self::with_padded_dim(dim, padded_dim(dim), seed)
    }

    /// A rotation of `dim`-dimensional vectors into `padded` dimensions (a multiple of 64, at least
    /// `dim`; a power of two makes every round a full Hadamard transform).
    ///
    /// # Errors
    /// `InvalidParameter` when `dim` is 0, `padded` is not a multiple of 64, is below `dim` or is
    /// above 65 536.
    pub(crate) fn with_padded_dim(dim: usize, padded: usize, seed: u64) -> Result<Self> {
        if dim == 0 || padded < dim || !padded.is_multiple_of(PAD_MULTIPLE) || padded > MAX_DIM {
            return Err(Error::InvalidParameter {
                name: "padded_dim",
                reason: format!(
                    "the padded dimension must be a multiple of {PAD_MULTIPLE}, at least the \
                     dimension ({dim}, which must be at least 1) and at most {MAX_DIM}; got {padded}"
                ),
            });
        }
        let block = 1usize << (usize::BITS - 1 - padded.leading_zeros());
        let words = padded / 64;
        let mut state = seed;
        let signs: Vec<u64> = (0..ROUNDS * words)
            .map(|_| splitmix64(&mut state))
            .collect();
        let flips = (0..ROUNDS * padded)
            .map(|k| {
                let (round, i) = (k / padded, k % padded);
                (((signs[round * words + i / 64] >> (i % 64)) & 1) as u32) << 31
            })
            .collect();
        // A full transform multiplies norms by √block, a Kac step by √2: ROUNDS = 4 of them give
        // block² or 4, exact powers of two applied once. A partial transform is scaled at once.
        let block_scale = 1.0 / (block as f32).sqrt();
        let scale = if block < padded {
            0.25
        } else {
            1.0 / (block as f32 * block as f32)
        };
        debug_assert_eq!(ROUNDS, 4, "the scale assumes four rounds");
        Ok(Self {
            dim,
            padded,
            seed,
            block,
            signs,
            flips,
            block_scale,
            scale,
        })
    }

    /// The input dimension.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// The output (padded) dimension: the length of every rotated vector and code.
    pub(crate) fn padded_dim(&self) -> usize {
        self.padded
    }

    /// The seed the sign masks were drawn from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// The rotation as 20 little-endian bytes: version (1), rounds (4), two zero bytes, `dim`
    /// (`u32`), padded dimension (`u32`), seed (`u64`).
    pub(crate) fn to_bytes(&self) -> [u8; ROTATION_BYTES] {
        let mut out = [0u8; ROTATION_BYTES];
        out[0] = ROTATION_VERSION;
        out[1] = ROUNDS as u8;
        out[4..8].copy_from_slice(&(self.dim as u32).to_le_bytes());
        out[8..12].copy_from_slice(&(self.padded as u32).to_le_bytes());
        out[12..20].copy_from_slice(&self.seed.to_le_bytes());
        out
    }

    /// Reads [`Rotation::to_bytes`] back.
    ///
    /// # Errors
    /// `InvalidParameter` (name `rotation`) when the bytes are not 20, the version or the rounds
    /// are unknown, the reserved bytes are not zero, or the dimensions are invalid.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::InvalidParameter {
            name: "rotation",
            reason,
        };
        let bytes: &[u8; ROTATION_BYTES] = bytes.try_into().map_err(|_| {
            bad(format!(
                "a serialised rotation is {ROTATION_BYTES} bytes, got {}",
                bytes.len()
            ))
        })?;
        if bytes[0] != ROTATION_VERSION {
            return Err(bad(format!(
                "unknown rotation version {} (this build reads {ROTATION_VERSION})",
                bytes[0]
            )));
        }
        if usize::from(bytes[1]) != ROUNDS || bytes[2] != 0 || bytes[3] != 0 {
            return Err(bad(format!(
                "expected {ROUNDS} rounds and zero reserved bytes, got {:?}",
                &bytes[1..4]
            )));
        }
        let dim = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let padded = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&bytes[12..20]);
        Self::with_padded_dim(dim, padded, u64::from_le_bytes(seed)).map_err(|e| bad(e.to_string()))
    }

    /// Writes `P · [x, 0…]` into `out`, on the fastest kernel this CPU has (bit-identical to
    /// [`Rotation::rotate_scalar`]: the same operations in the same order).
    ///
    /// # Panics
    /// When `x.len() != dim` or `out.len() != padded_dim`.
    pub(crate) fn rotate(&self, x: &[f32], out: &mut [f32]) {
        (super::kernels::active().rotate)(self, x, out)
    }

    /// `P · [x, 0…]` into a new vector.
    ///
    /// # Panics
    /// When `x.len() != dim`.
    pub(crate) fn rotate_vec(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.padded];
        self.rotate(x, &mut out);
        out
    }

    /// The scalar twin of [`Rotation::rotate`].
    ///
    /// # Panics
    /// As [`Rotation::rotate`].
    pub(crate) fn rotate_scalar(&self, x: &[f32], out: &mut [f32]) {
        rotate_impl(self, x, out)
    }
}

/// The rotation, written so that the compiler vectorises it; the SIMD kernels are this function
/// compiled with wider instruction sets (`kernels.rs`), the scalar twin is it as is.
#[inline(always)]
pub(super) fn rotate_impl(rot: &Rotation, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), rot.dim, "rotate: input length");
    assert_eq!(out.len(), rot.padded, "rotate: output length");
    out[..rot.dim].copy_from_slice(x);
    out[rot.dim..].fill(0.0);
    let kac = rot.block < rot.padded;
    for round in 0..ROUNDS {
        let flips = &rot.flips[round * rot.padded..(round + 1) * rot.padded];
        for (v, &f) in out.iter_mut().zip(flips) {
            *v = f32::from_bits(v.to_bits() ^ f);
        }
        if !kac {
            fht(out);
        } else {
            // A transform of part of the vector must be normalised on that part at once.
            let start = if round % 2 == 0 {
                0
            } else {
                rot.padded - rot.block
            };
            let part = &mut out[start..start + rot.block];
            fht(part);
            for v in part.iter_mut() {
                *v *= rot.block_scale;
            }
            let (a, b) = out.split_at_mut(rot.padded / 2);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*u + *v, *u - *v);
                *u = s;
                *v = d;
            }
        }
    }
    for v in out.iter_mut() {
        *v *= rot.scale;
    }
}

/// The unnormalised fast Walsh–Hadamard transform of `x` (length a power of two), in place.
///
/// The first three levels run on registers, eight values at a time; the others on contiguous
/// halves of at least eight, which the compiler vectorises.
#[inline(always)]
fn fht(x: &mut [f32]) {
    let n = x.len();
    debug_assert!(n.is_power_of_two() && n >= 8);
    for c in x.chunks_exact_mut(8) {
        let a: [f32; 8] = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
        let b = [
            a[0] + a[1],
            a[0] - a[1],
            a[2] + a[3],
            a[2] - a[3],
            a[4] + a[5],
            a[4] - a[5],
            a[6] + a[7],
            a[6] - a[7],
        ];
        let d = [
            b[0] + b[2],
            b[1] + b[3],
            b[0] - b[2],
            b[1] - b[3],
            b[4] + b[6],
            b[5] + b[7],
            b[4] - b[6],
            b[5] - b[7],
        ];
        c[0] = d[0] + d[4];
        c[1] = d[1] + d[5];
        c[2] = d[2] + d[6];
        c[3] = d[3] + d[7];
        c[4] = d[0] - d[4];
        c[5] = d[1] - d[5];
        c[6] = d[2] - d[6];
        c[7] = d[3] - d[7];
    }
    let mut h = 8;
    while h < n {
        for chunk in x.chunks_exact_mut(2 * h) {
            let (a, b) = chunk.split_at_mut(h);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*u + *v, *u - *v);
                *u = s;
                *v = d;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn random_vec(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn dot64(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    /// Norms and inner products are preserved, padded coordinates are filled (the transform
    /// mixes), and every kernel set gives the scalar twin's bits.
    fn check_dim(dim: usize, padded: usize) {
        let rot = Rotation::with_padded_dim(dim, padded, 0xC0FFEE ^ dim as u64).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(dim as u64);
        let a = random_vec(&mut rng, dim);
        let b = random_vec(&mut rng, dim);
        let mut ra = vec![0.0; padded];
        let mut rb = vec![0.0; padded];
        rot.rotate_scalar(&a, &mut ra);
        rot.rotate_scalar(&b, &mut rb);
        let (na, nra) = (dot64(&a, &a), dot64(&ra, &ra));
        assert!(
            (na - nra).abs() <= 1e-5 * na,
            "dim {dim}: norm {na} vs {nra}"
        );
        let (ab, rab) = (dot64(&a, &b), dot64(&ra, &rb));
        assert!(
            (ab - rab).abs() <= 1e-5 * (na * dot64(&b, &b)).sqrt(),
            "dim {dim}: inner product {ab} vs {rab}"
        );
        // A unit basis vector lands on a vector spread over (nearly) every coordinate.
        let mut e = vec![0.0; dim];
        e[dim - 1] = 1.0;
        let re = rot.rotate_vec(&e);
        let nonzero = re.iter().filter(|v| v.abs() > 1e-9).count();
        assert!(
            nonzero * 2 >= padded,
            "dim {dim}: only {nonzero} of {padded} nonzero"
        );
        for k in super::super::kernels::supported() {
            let mut out = vec![f32::NAN; padded];
            (k.rotate)(&rot, &a, &mut out);
            assert_eq!(
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                ra.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "dim {dim}: kernel set {} differs from the scalar twin",
                k.name
            );
        }
    }

    #[test]
    fn orthogonal_on_small_and_large_dims() {
        for dim in 1..=130 {
            check_dim(dim, padded_dim(dim));
        }
        for dim in [255, 256, 384, 768, 784, 1024, 1536] {
            check_dim(dim, padded_dim(dim));
            check_dim(dim, padded_dim(dim).next_power_of_two());
        }
    }

    #[test]
    fn seeded_deterministic_and_serialisable() {
        let rot = Rotation::new(300, 42).unwrap();
        assert_eq!(rot.padded_dim(), 320);
        let again = Rotation::from_bytes(&rot.to_bytes()).unwrap();
        assert_eq!(rot, again);
        let x: Vec<f32> = (0..300).map(|i| (i as f32).sin()).collect();
        assert_eq!(rot.rotate_vec(&x), again.rotate_vec(&x));
        let other = Rotation::new(300, 43).unwrap();
        assert_ne!(rot.rotate_vec(&x), other.rotate_vec(&x));
        // The generator is fixed: the first sign word of seed 42 is a constant of the format.
        assert_eq!(rot.signs[0], {
            let mut s = 42u64;
            splitmix64(&mut s)
        });
        assert_eq!(rot.to_bytes()[..4], [1, 4, 0, 0]);
    }

    #[test]
    fn bad_parameters_and_bytes_are_errors() {
        assert!(Rotation::new(0, 1).is_err());
        assert!(Rotation::new(MAX_DIM + 1, 1).is_err());
        assert!(Rotation::with_padded_dim(100, 96, 1).is_err());
        assert!(Rotation::with_padded_dim(100, 100, 1).is_err());
        assert!(Rotation::with_padded_dim(100, 64, 1).is_err());
        let good = Rotation::new(100, 7).unwrap().to_bytes();
        assert!(Rotation::from_bytes(&good[..19]).is_err());
        for (at, value) in [(0, 2u8), (1, 3), (2, 1), (4, 0), (8, 65), (8, 0)] {
            let mut bad = good;
            bad[at] = value;
            if at == 4 {
                bad[4..8].fill(0);
            }
            assert!(Rotation::from_bytes(&bad).is_err(), "byte {at} = {value}");
        }
        let mut huge = good;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Rotation::from_bytes(&huge).is_err());
    }
}
