//! Heap bytes on an 8-byte boundary: what [`super::Segment::load`] reads a file into, so the
//! typed sections can be viewed in place as they are in a memory map.

/// Bytes in memory starting on an 8-byte boundary (what [`Segment::load`] reads a file into).
pub(crate) struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// An aligned copy of `data`.
    pub(crate) fn copy(data: &[u8]) -> AlignedBytes {
        let mut b = AlignedBytes::zeroed(data.len());
        b.as_mut().copy_from_slice(data);
        b
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `words` holds `8 · words.len() >= len` initialised bytes; u64 has no padding.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

impl AsMut<[u8]> for AlignedBytes {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`; `&mut self` makes the view unique, and any byte pattern is a
        // valid u64.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}
