//! The dense bitmap a filter compiles into: one bit per row of a segment, bit `i % 64` of word
//! `i / 64` for row `i`. A search tests it once per node it meets; set operations are word by
//! word (a segment of 100,000 rows is 1,563 words).

/// A set of rows `0..len` as bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// The empty set over `len` rows.
    pub fn none(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Every row of `0..len`.
    pub fn all(len: usize) -> Bits {
        let mut b = Bits {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        b.clear_tail();
        b
    }

    /// The words (the bits past `len` are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Adds row `i`; rows at or past `len` are ignored (a hostile file may name them).
    #[inline]
    pub fn set(&mut self, i: u32) {
        if (i as usize) < self.len {
            self.words[i as usize / 64] |= 1 << (i % 64);
        }
    }

    /// Adds the rows of `words` (a bitmap over the same rows; words past ours are ignored).
    pub fn or_words(&mut self, words: impl IntoIterator<Item = u64>) {
        for (w, o) in self.words.iter_mut().zip(words) {
            *w |= o;
        }
        self.clear_tail();
    }

    /// Keeps the rows also in `other`.
    pub fn and(&mut self, other: &Bits) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w &= o;
        }
    }

    /// Adds the rows of `other`.
    pub fn or(&mut self, other: &Bits) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    /// Removes the rows set in `words` (a bitmap over the same rows, possibly shorter).
    pub fn and_not_words(&mut self, words: impl IntoIterator<Item = u64>) {
        for (w, o) in self.words.iter_mut().zip(words) {
            *w &= !o;
        }
    }

    /// The complement over `0..len`.
    pub fn invert(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.clear_tail();
    }

    /// Number of rows in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The rows in the set, ascending.
    #[cfg(test)]
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        ones(&self.words)
    }

    fn clear_tail(&mut self) {
        if !self.len.is_multiple_of(64) {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << (self.len % 64)) - 1;
            }
        }
    }
}

/// The set bits of bitmap `words`, ascending.
pub(crate) fn ones(words: &[u64]) -> impl Iterator<Item = u32> + '_ {
    words.iter().enumerate().flat_map(|(i, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let b = w.trailing_zeros();
                w &= w - 1;
                i as u32 * 64 + b
            })
        })
    })
}
