//! Reading and writing vector files, and seeded synthetic data.
//!
//! * TEXMEX `fvecs` / `ivecs` / `bvecs`: each row is a little-endian `i32` dimension followed by
//!   that many `f32` / `i32` / `u8` values.
//! * NumPy `.npy` (version 1.0–3.0), `float32` (`<f4`), C order, two dimensions.
//! * [`synthetic`]: a seeded Gaussian-mixture generator for the built-in default benchmark.

/// A dense row-major matrix: `len()` rows of `dim` values each.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    dim: usize,
    data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Wraps `data` as rows of `dim` values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `dim` is 0 or `data.len()` is not a multiple of it.
    pub fn from_vec(dim: usize, data: Vec<T>) -> crate::Result<Self> {
        if dim == 0 {
            return Err(crate::Error::invalid_parameter("dim", "must be at least 1"));
        }
        if data.len() % dim != 0 {
            return Err(crate::Error::invalid_parameter(
                "data",
                format!("length {} is not a multiple of dim {dim}", data.len()),
            ));
        }
        Ok(Matrix { dim, data })
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All rows in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.dim)
    }

    /// The values, row after row.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The first `n` rows (all when `n >= len()`).
    pub fn truncated(mut self, n: usize) -> Self {
        self.data.truncate(n.saturating_mul(self.dim));
        self
    }

    /// Gives back the values, row after row.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
}
