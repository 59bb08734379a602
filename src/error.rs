//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in stratavec, each variant with enough context for a user to act.
///
/// The enum is `#[non_exhaustive]`: later versions add variants (storage, corruption, locking).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length does not match the index's dimension.
    #[error("dimension mismatch: expected {expected} components, got {got}")]
    DimensionMismatch {
        /// The dimension the index was created with.
        expected: usize,
        /// The length of the vector that was passed.
        got: usize,
    },

    /// A vector holds a NaN or an infinite component, or cannot be normalised (zero vector under
    /// cosine).
    #[error("invalid vector: {reason}")]
    InvalidVector {
        /// What is wrong with it, e.g. "component 3 is NaN".
        reason: String,
    },

    /// A parameter is outside its allowed range (k = 0, m < 2, dim = 0, …).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the API spells it.
        name: &'static str,
        /// Why the value was refused.
        reason: String,
    },

    /// A search asked for a recall target that no beam reaches: the index's calibration never
    /// saw it (a graph or codec that tops out lower, or a filter that keeps too little). Ask for
    /// at most `best`, or give a beam width (`ef`) instead.
    #[error(
        "recall target {target} is out of reach: the calibration reaches at most {best:.4} \
         (at beam {beam}, oversample {oversample}); ask for at most that, or give ef"
    )]
    UnreachableRecall {
        /// The target asked for.
        target: f64,
        /// The best recall the calibration measured.
        best: f64,
        /// The beam that reached it.
        beam: usize,
        /// The oversampling factor that reached it.
        oversample: usize,
    },

    /// An id was added that the index already holds.
    #[error("id {id} is already in the index")]
    DuplicateId {
        /// The user id.
        id: u64,
    },

    /// An id was asked for that the index does not hold.
    #[error("id {id} is not in the index")]
    UnknownId {
        /// The user id.
        id: u64,
    },

    /// The index cannot hold more vectors (internal ids are `u32`).
    #[error("capacity exceeded: an index holds at most {max} vectors")]
    CapacityExceeded {
        /// The maximum number of vectors.
        max: usize,
    },

    /// A data file (fvecs, ivecs, bvecs, npy, METRIC) is malformed.
    #[error("malformed {format} file {path}: {reason}")]
    MalformedFile {
        /// The format that was expected (`"fvecs"`, `"npy"`, …).
        format: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset or row where it helps.
        reason: String,
    },

    /// A custom [`crate::rerank::Reranker`] failed.
    #[error("reranker failed: {source}")]
    Rerank {
        /// The reranker's error (a [`crate::rerank::RerankError`]).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A payload is refused: a bad field name, a value out of range (NaN, a keyword too long),
    /// too many fields or too many bytes. Nothing of the write is stored.
    #[error("invalid payload field `{field}`: {reason}")]
    InvalidPayload {
        /// The field concerned.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A payload value's type is not its field's type (fixed by the field's first value, or
    /// declared). Values are never converted silently. Nothing of the write is stored.
    #[error("payload field `{field}` holds {expected} values, got {got}")]
    FieldTypeMismatch {
        /// The field.
        field: String,
        /// The field's type (`int`, `float`, `bool`, `keyword`, `keywords`, `timestamp`,
        /// `bytes`).
        expected: &'static str,
        /// The type of the value given.
        got: &'static str,
    },

    /// A filter expression is refused: a syntax error, an unknown field, a value of the wrong
    /// type for its field, an operator the field's type does not support, or an expression too
    /// deep or too large. The reason names the field where there is one.
    #[error("invalid filter: {reason}")]
    InvalidFilter {
        /// What is wrong, naming the field.
        reason: String,
    },

    /// A stratavec file (segment, write-ahead log, manifest) fails a check: bad magic, a checksum
    /// mismatch, a size or offset out of bounds, a link to a node that does not exist.
    #[error("corrupt file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What check failed, with the byte offset or section where it helps.
        reason: String,
    },

    /// A stratavec file was written in a format version this build cannot read.
    #[error("unsupported format version {found} in {path} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version the file declares.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// Another writer (this process or another) holds the collection's lock.
    #[error("collection {path} is locked by another writer")]
    Locked {
        /// The collection's directory.
        path: PathBuf,
    },

    /// A write was asked of something opened read-only (a memory-mapped index, a read-only
    /// collection).
    #[error("read-only: {what}")]
    ReadOnly {
        /// What was refused and why, e.g. "a memory-mapped index cannot be added to".
        what: String,
    },

    /// An operating-system I/O error, with the file it concerns where known.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an [`std::io::Error`] with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_filter(reason: impl Into<String>) -> Self {
        Error::InvalidFilter {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_parameter(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_readable() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        let e = Error::DimensionMismatch {
            expected: 128,
            got: 3,
        };
        assert_eq!(
            e.to_string(),
            "dimension mismatch: expected 128 components, got 3"
        );
    }
}
