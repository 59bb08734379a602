//! CPU instruction-set levels and the loop skeleton every SIMD kernel shares.
//!
//! A kernel family (`distance`'s f32 kernels, `quant`'s code kernels) is a trait implemented for
//! each level type below. A level value is a zero-sized *proof* that the CPU supports the level:
//! the x86 types have a private field, and the only way to get one is [`Level::best`] /
//! [`Level::supported`], which check the CPU first. A search asks for the level once and is then
//! compiled for it (generic over the level type), so the hot loop calls its kernels directly —
//! no function pointer, no per-distance dispatch (the "multiversioning" of the house plan).
//!
//! | level | instructions | used for |
//! |---|---|---|
//! | [`Avx512Vnni`] | AVX-512 F, BW, VL, VNNI (+ AVX2, FMA) | f32 16 lanes; `vpdpbusd` for i8 × u8/u4 |
//! | [`Avx512`] | AVX-512 F, BW, VL (+ AVX2, FMA) | f32 16 lanes; i8 kernels of AVX2 |
//! | [`Avx2`] | AVX2, FMA | f32 8 lanes; `vpmaddubsw` / `vpmaddwd` |
//! | [`Scalar`] | none | the reference every SIMD kernel is tested against |

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use std::sync::OnceLock;

/// A CPU level a kernel family is implemented for. Values are proofs of CPU support (see the
/// module docs), so a kernel may rely on the instructions its level names.
pub(crate) trait Isa: Copy + Send + Sync + 'static {
    /// The level's name in reports and benchmarks.
    const NAME: &'static str;

    /// The proof value, without checking the CPU.
    ///
    /// # Safety
    /// The CPU must support the level: the caller got a value of it from [`Level`] before (this
    /// serves plain function pointers, which cannot carry the value themselves).
    unsafe fn assume_supported() -> Self;
}

/// Plain Rust, on every CPU.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scalar;

/// AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _proof: (),
}

/// AVX-512 F, BW and VL, plus AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _proof: (),
}

/// [`Avx512`] plus VNNI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512Vnni {
    _proof: (),
}

impl Isa for Scalar {
    const NAME: &'static str = "scalar";

    unsafe fn assume_supported() -> Self {
        Scalar
    }
}
impl Isa for Avx2 {
    const NAME: &'static str = "avx2+fma";

    unsafe fn assume_supported() -> Self {
        Avx2 { _proof: () }
    }
}
impl Isa for Avx512 {
    const NAME: &'static str = "avx512";

    unsafe fn assume_supported() -> Self {
        Avx512 { _proof: () }
    }
}
impl Isa for Avx512Vnni {
    const NAME: &'static str = "avx512+vnni";

    unsafe fn assume_supported() -> Self {
        Avx512Vnni { _proof: () }
    }
}

/// One supported level, as its proof value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level {
    Avx512Vnni(Avx512Vnni),
    Avx512(Avx512),
    Avx2(Avx2),
    Scalar(Scalar),
}

impl Level {
    /// The best level of this CPU, found on the first call and cached for the process.
    pub(crate) fn best() -> Level {
        #[cfg(test)]
        if let Some(level) = OVERRIDE.with(std::cell::Cell::get) {
            return level;
        }
        static BEST: OnceLock<Level> = OnceLock::new();
        *BEST.get_or_init(|| Level::supported()[0])
    }

    /// Every level this CPU supports, best first; the last is [`Scalar`]. For tests and
    /// benchmarks (a few CPU-feature queries and an allocation).
    pub(crate) fn supported() -> Vec<Level> {
        let mut out = Vec::with_capacity(4);
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            let avx512 = avx2
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl");
            if avx512 && is_x86_feature_detected!("avx512vnni") {
                out.push(Level::Avx512Vnni(Avx512Vnni { _proof: () }));
            }
            if avx512 {
                out.push(Level::Avx512(Avx512 { _proof: () }));
            }
            if avx2 {
                out.push(Level::Avx2(Avx2 { _proof: () }));
            }
        }
        out.push(Level::Scalar(Scalar));
        out
    }

    /// The level's name.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Avx512Vnni(_) => Avx512Vnni::NAME,
            Level::Avx512(_) => Avx512::NAME,
            Level::Avx2(_) => Avx2::NAME,
            Level::Scalar(_) => Scalar::NAME,
        }
    }
}

#[cfg(test)]
thread_local! {
    static OVERRIDE: std::cell::Cell<Option<Level>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with [`Level::best`] answering `level` on this thread (tests run whole searches on
/// every level this CPU has).
#[cfg(test)]
pub(crate) fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
    let before = OVERRIDE.with(|o| o.replace(Some(level)));
    let out = f();
    OVERRIDE.with(|o| o.set(before));
    out
}

/// The skeleton of a SIMD reduction over `n` elements, `lanes` per step: four independent
/// accumulators over `4 · lanes` elements at a time (they hide the latency of the multiply-add),
/// then one step at a time, then one `tail` call for the last `n % lanes` elements; the four are
/// combined with `add`.
///
/// `step(acc, i)` must fold elements `i..i + lanes` into `acc` and is only called with
/// `i + lanes <= n`; `tail(acc, i, rem)` folds the `rem` (`1..lanes`) elements from `i` on and
/// must read nothing past them (masked loads or a stack copy). Inlined into each kernel, where
/// the closures inherit the kernel's `#[target_feature]`s.
#[inline(always)]
pub(crate) fn unrolled_sum<T: Copy>(
    n: usize,
    lanes: usize,
    zero: T,
    mut step: impl FnMut(T, usize) -> T,
    tail: impl FnOnce(T, usize, usize) -> T,
    add: impl Fn(T, T) -> T,
) -> T {
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    let mut i = 0;
    while i + 4 * lanes <= n {
        a0 = step(a0, i);
        a1 = step(a1, i + lanes);
        a2 = step(a2, i + 2 * lanes);
        a3 = step(a3, i + 3 * lanes);
        i += 4 * lanes;
    }
    while i + lanes <= n {
        a0 = step(a0, i);
        i += lanes;
    }
    if i < n {
        a1 = tail(a1, i, n - i);
    }
    add(add(a0, a1), add(a2, a3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_end_with_scalar_and_best_is_first() {
        let levels = Level::supported();
        assert_eq!(levels.last().map(|l| l.name()), Some("scalar"));
        assert_eq!(Level::best().name(), levels[0].name());
    }

    #[test]
    fn unrolled_sum_visits_every_element_once() {
        for n in 0..200 {
            for lanes in [1, 4, 8, 16] {
                let mut seen = vec![0u32; n];
                let mut mark = |from: usize, len: usize| {
                    (from..from + len).for_each(|i| seen[i] += 1);
                };
                let total = unrolled_sum(
                    n,
                    lanes,
                    0usize,
                    |acc, i| {
                        mark(i, lanes);
                        acc + lanes
                    },
                    |acc, _, rem| acc + rem,
                    |a, b| a + b,
                );
                assert_eq!(total, n, "n={n} lanes={lanes}");
                // The tail is not marked by the closure above (it cannot borrow `mark` twice);
                // every element before it was visited exactly once.
                let full = n - n % lanes;
                assert!(seen[..full].iter().all(|&c| c == 1), "n={n} lanes={lanes}");
            }
        }
    }
}
