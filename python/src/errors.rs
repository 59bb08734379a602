//! The exception classes of the `stratavec` module and the mapping from [`stratavec::Error`].
//!
//! Every class derives from `stratavec.StratavecError`; those that report a bad argument also
//! derive from `ValueError`, the unknown-id one from `KeyError`, so `except ValueError` and
//! `except StratavecError` both work. I/O failures are the standard `OSError` subclasses
//! (`FileNotFoundError`, `PermissionError`, …) with `errno` and `filename` set, as `open()` raises
//! them.
//!
//! The classes are created once per process with `type(name, bases, namespace)` (PyO3's
//! `create_exception!` allows a single base only).

use pyo3::exceptions::{PyException, PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use stratavec::Error;

/// The exception classes, created on first use.
pub struct Exceptions {
    /// `StratavecError(Exception)`: the base of all of them.
    pub base: Py<PyType>,
    /// `DimensionMismatchError(StratavecError, ValueError)`.
    pub dimension_mismatch: Py<PyType>,
    /// `InvalidVectorError(StratavecError, ValueError)`.
    pub invalid_vector: Py<PyType>,
    /// `InvalidParameterError(StratavecError, ValueError)`.
    pub invalid_parameter: Py<PyType>,
    /// `DuplicateIdError(StratavecError, ValueError)`.
    pub duplicate_id: Py<PyType>,
    /// `UnknownIdError(StratavecError, KeyError)`.
    pub unknown_id: Py<PyType>,
    /// `CapacityExceededError(StratavecError)`.
    pub capacity_exceeded: Py<PyType>,
    /// `MalformedFileError(StratavecError, ValueError)`.
    pub malformed_file: Py<PyType>,
    /// `RerankError(StratavecError)`.
    pub rerank: Py<PyType>,
    /// `CorruptFileError(StratavecError)`.
    pub corrupt: Py<PyType>,
    /// `UnsupportedVersionError(StratavecError)`.
    pub unsupported_version: Py<PyType>,
    /// `LockedError(StratavecError)`.
    pub locked: Py<PyType>,
    /// `ReadOnlyError(StratavecError)`.
    pub read_only: Py<PyType>,
    /// `ClosedError(StratavecError, ValueError)`: raised by the binding itself (a `Collection`
    /// used after `close()`), not mapped from a crate error.
    pub closed: Py<PyType>,
    /// `UnreachableRecallError(StratavecError, ValueError)`.
    pub unreachable_recall: Py<PyType>,
    /// `InvalidPayloadError(StratavecError, ValueError)`.
    pub invalid_payload: Py<PyType>,
    /// `FieldTypeMismatchError(StratavecError, ValueError)`.
    pub field_type_mismatch: Py<PyType>,
    /// `InvalidFilterError(StratavecError, ValueError)`.
    pub invalid_filter: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// The exception classes (created on first call).
pub fn exceptions(py: Python<'_>) -> PyResult<&'static Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || create(py))
}

/// `(Python name, docstring)` of every class, in the order of [`Exceptions::all`].
const DOCS: [(&str, &str); 18] = [
    ("StratavecError", "Base class of every error stratavec raises (except OSError for I/O)."),
    ("DimensionMismatchError", "A vector's or an array's length does not match the index's dimension. Also a ValueError."),
    ("InvalidVectorError", "A vector holds NaN or infinity, or is zero under cosine. Also a ValueError."),
    ("InvalidParameterError", "A parameter is out of range (k = 0, m < 2, threads = 0, ...). Also a ValueError."),
    ("DuplicateIdError", "An id was added that the index already holds (ids are never replaced). Also a ValueError."),
    ("UnknownIdError", "An id was asked for that the index does not hold. Also a KeyError."),
    ("CapacityExceededError", "The index cannot hold more vectors (at most 2**32 - 1)."),
    ("MalformedFileError", "A data file (fvecs, ivecs, npy, METRIC) is malformed. Also a ValueError."),
    ("RerankError", "A reranker failed without a Python exception of its own (a reranker's own exception propagates unchanged)."),
    ("CorruptFileError", "A stratavec file fails a check: bad magic, checksum mismatch, out-of-bounds offset."),
    ("UnsupportedVersionError", "A stratavec file was written in a format version this build cannot read."),
    ("LockedError", "Another writer holds the collection's lock."),
    ("ReadOnlyError", "A write was asked of something opened read-only."),
    ("ClosedError", "A Collection was used after close() (or after its with block). Also a ValueError."),
    ("UnreachableRecallError", "A recall target that no calibrated beam reaches; the message gives the best recall the calibration saw. Also a ValueError."),
    ("InvalidPayloadError", "A payload is refused: a bad field name, a value of no payload type, NaN, too long, too many fields or bytes. Also a ValueError."),
    ("FieldTypeMismatchError", "A payload value's type is not its field's type (values are never converted). Also a ValueError."),
    ("InvalidFilterError", "A filter is refused: syntax, an unknown field, a value of the wrong type, too deep or too large. Also a ValueError."),
];

impl Exceptions {
    /// Every class with its Python name, base first.
    pub fn all(&self) -> [(&'static str, &Py<PyType>); 18] {
        let classes = [
            &self.base,
            &self.dimension_mismatch,
            &self.invalid_vector,
            &self.invalid_parameter,
            &self.duplicate_id,
            &self.unknown_id,
            &self.capacity_exceeded,
            &self.malformed_file,
            &self.rerank,
            &self.corrupt,
            &self.unsupported_version,
            &self.locked,
            &self.read_only,
            &self.closed,
            &self.unreachable_recall,
            &self.invalid_payload,
            &self.field_type_mismatch,
            &self.invalid_filter,
        ];
        let mut i = 0;
        classes.map(|c| {
            let name = DOCS[i].0;
            i += 1;
            (name, c)
        })
    }
}

fn create(py: Python<'_>) -> PyResult<Exceptions> {
    let type_ = py.get_type::<PyType>();
    let make = |i: usize, bases: Vec<Bound<'_, PyType>>| -> PyResult<Py<PyType>> {
        let (name, doc) = DOCS[i];
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "stratavec")?;
        namespace.set_item("__doc__", doc)?;
        let bases = PyTuple::new(py, bases)?;
        Ok(type_
            .call1((name, bases, namespace))?
            .cast_into::<PyType>()?
            .unbind())
    };
    let base = make(0, vec![py.get_type::<PyException>()])?;
    let b = || base.bind(py).clone();
    let value = || py.get_type::<PyValueError>();
    Ok(Exceptions {
        dimension_mismatch: make(1, vec![b(), value()])?,
        invalid_vector: make(2, vec![b(), value()])?,
        invalid_parameter: make(3, vec![b(), value()])?,
        duplicate_id: make(4, vec![b(), value()])?,
        unknown_id: make(5, vec![b(), py.get_type::<PyKeyError>()])?,
        capacity_exceeded: make(6, vec![b()])?,
        malformed_file: make(7, vec![b(), value()])?,
        rerank: make(8, vec![b()])?,
        corrupt: make(9, vec![b()])?,
        unsupported_version: make(10, vec![b()])?,
        locked: make(11, vec![b()])?,
        read_only: make(12, vec![b()])?,
        closed: make(13, vec![b(), value()])?,
        unreachable_recall: make(14, vec![b(), value()])?,
        invalid_payload: make(15, vec![b(), value()])?,
        field_type_mismatch: make(16, vec![b(), value()])?,
        invalid_filter: make(17, vec![b(), value()])?,
        base,
    })
}

/// The Python exception for a stratavec error.
///
/// A reranker's own Python exception (carried through [`Error::Rerank`]) comes back unchanged;
/// [`Error::Io`] becomes the `OSError` subclass of its `errno` (or of its kind), with `filename`.
pub fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| convert(py, err))
}

fn convert(py: Python<'_>, err: Error) -> PyErr {
    let exc = match exceptions(py) {
        Ok(exc) => exc,
        Err(e) => return e,
    };
    let msg = err.to_string();
    let class = match err {
        Error::DimensionMismatch { .. } => &exc.dimension_mismatch,
        Error::InvalidVector { .. } => &exc.invalid_vector,
        Error::InvalidParameter { .. } => &exc.invalid_parameter,
        Error::DuplicateId { .. } => &exc.duplicate_id,
        Error::UnknownId { .. } => &exc.unknown_id,
        Error::CapacityExceeded { .. } => &exc.capacity_exceeded,
        Error::MalformedFile { .. } => &exc.malformed_file,
        Error::Rerank { source } => match source.downcast::<PyErr>() {
            Ok(original) => return *original,
            Err(_) => &exc.rerank,
        },
        Error::Corrupt { .. } => &exc.corrupt,
        Error::UnsupportedVersion { .. } => &exc.unsupported_version,
        Error::Locked { .. } => &exc.locked,
        Error::ReadOnly { .. } => &exc.read_only,
        Error::UnreachableRecall { .. } => &exc.unreachable_recall,
        Error::InvalidPayload { .. } => &exc.invalid_payload,
        Error::FieldTypeMismatch { .. } => &exc.field_type_mismatch,
        Error::InvalidFilter { .. } => &exc.invalid_filter,
        Error::Io { path, source } => return io_error(&path, source, &msg),
        // `Error` is non-exhaustive: a variant added later is still a StratavecError.
        _ => &exc.base,
    };
    PyErr::from_type(class.bind(py).clone(), msg)
}

/// `OSError(errno, strerror, filename)`, which Python turns into the subclass of that errno
/// (`FileNotFoundError` for ENOENT, …); without an errno, the subclass of the error's kind.
fn io_error(path: &std::path::Path, source: std::io::Error, msg: &str) -> PyErr {
    match source.raw_os_error() {
        Some(errno) => {
            let text = source.to_string();
            let strerror = text
                .strip_suffix(&format!(" (os error {errno})"))
                .unwrap_or(&text)
                .to_string();
            PyOSError::new_err((errno, strerror, path.display().to_string()))
        }
        None => PyErr::from(std::io::Error::new(source.kind(), msg.to_string())),
    }
}

/// An [`Error::InvalidParameter`] as its Python exception.
pub fn invalid_parameter(name: &'static str, reason: impl Into<String>) -> PyErr {
    to_py_err(Error::InvalidParameter {
        name,
        reason: reason.into(),
    })
}

/// Converts a stratavec result.
pub trait IntoPy<T> {
    /// The value, or the error as its Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for stratavec::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}
