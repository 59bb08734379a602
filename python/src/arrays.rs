//! Reading NumPy arrays without copying them, and making result arrays.
//!
//! A C-contiguous, aligned `float32` array is read in place: the Rust code borrows NumPy's buffer
//! (`PyReadonlyArray` + `as_slice`) for the duration of the call. Anything else — another dtype,
//! Fortran order, a strided view, a list — is converted once with
//! `numpy.require(x, dtype=float32, requirements="CA")` and the copy is read.

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAnyMethods;
use stratavec::Error;

use crate::errors::{invalid_parameter, to_py_err};

static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `numpy` module.
pub fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    NUMPY
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("numpy")?.unbind()))
        .map(|m| m.bind(py))
}

/// Rows of `dim` float32 values borrowed from a NumPy array (1-d: one row; 2-d: `shape[0]` rows).
pub struct F32Rows<'py> {
    array: PyReadonlyArrayDyn<'py, f32>,
    /// Number of rows.
    pub rows: usize,
    /// Whether the input was one vector (1-d) rather than a matrix.
    pub one_d: bool,
}

impl F32Rows<'_> {
    /// The values, row after row (NumPy's own buffer when no conversion was needed).
    pub fn as_slice(&self) -> &[f32] {
        // Checked C-contiguous and aligned in `f32_rows`, so this cannot fail.
        self.array.as_slice().unwrap_or(&[])
    }
}

/// Borrows `obj` as rows of `dim` float32 values (`dim` = `None`: any width, taken from the
/// array). Copies once when it is not a C-contiguous aligned float32 array.
///
/// # Errors
/// `DimensionMismatchError` (a `ValueError`) naming the expected shape when the last axis is not
/// `dim`; `InvalidParameterError` when the array is not 1- or 2-dimensional; NumPy's own error
/// when `obj` cannot be converted to float32.
pub fn f32_rows<'py>(
    obj: &Bound<'py, PyAny>,
    dim: Option<usize>,
    what: &'static str,
) -> PyResult<F32Rows<'py>> {
    let py = obj.py();
    let array: Bound<'py, PyArrayDyn<f32>> = match obj.cast::<PyArrayDyn<f32>>() {
        Ok(a) if a.is_c_contiguous() && a.is_aligned() => a.clone(),
        _ => numpy(py)?
            .call_method1("require", (obj, "float32", "CA"))?
            .cast_into::<PyArrayDyn<f32>>()?,
    };
    if !(array.is_c_contiguous() && array.is_aligned()) {
        return Err(invalid_parameter(what, "could not be made C-contiguous"));
    }
    let shape = array.shape().to_vec();
    let expected = |d: usize| {
        format!(
            "expected shape (n, {d}) or ({d},), got {}",
            shape_tuple(&shape)
        )
    };
    let (rows, width, one_d) = match shape.as_slice() {
        [n] => (1, *n, true),
        [r, n] => (*r, *n, false),
        _ => {
            let want = dim.map_or_else(|| format!("got shape {}", shape_tuple(&shape)), expected);
            return Err(invalid_parameter(
                what,
                format!("must be a 1-d or 2-d array: {want}"),
            ));
        }
    };
    if let Some(d) = dim {
        if width != d {
            let e = to_py_err(Error::DimensionMismatch {
                expected: d,
                got: width,
            });
            let msg = format!("{what}: {}; {}", e.value(py), expected(d));
            return Err(PyErr::from_type(e.get_type(py), msg));
        }
    } else if width == 0 {
        return Err(invalid_parameter(what, "has 0 columns"));
    }
    let array = array
        .try_readonly()
        .map_err(|e| invalid_parameter(what, format!("cannot be read: {e}")))?;
    Ok(F32Rows { array, rows, one_d })
}

/// A shape as Python prints it: `(3,)`, `(2, 3)`.
fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Ids as `u64`: a C-contiguous `uint64` array is borrowed; any other integer array, sequence or
/// scalar is converted once. Negative ids and non-integer dtypes are refused.
pub enum Ids<'py> {
    /// NumPy's buffer.
    Borrowed(numpy::PyReadonlyArray1<'py, u64>),
    /// A converted copy.
    Owned(Vec<u64>),
}

impl Ids<'_> {
    /// The ids.
    pub fn as_slice(&self) -> &[u64] {
        match self {
            Ids::Borrowed(a) => a.as_slice().unwrap_or(&[]),
            Ids::Owned(v) => v,
        }
    }
}

/// Reads `obj` as a flat array of ids (see [`Ids`]).
///
/// # Errors
/// `InvalidParameterError` for a non-integer dtype, a negative id or more than one dimension.
pub fn u64_ids<'py>(obj: &Bound<'py, PyAny>, what: &'static str) -> PyResult<Ids<'py>> {
    if let Ok(a) = obj.cast::<PyArray1<u64>>() {
        if a.is_c_contiguous() && a.is_aligned() {
            if let Ok(r) = a.try_readonly() {
                return Ok(Ids::Borrowed(r));
            }
        }
    }
    let np = numpy(obj.py())?;
    let is_set = obj.is_instance_of::<pyo3::types::PySet>()
        || obj.is_instance_of::<pyo3::types::PyFrozenSet>();
    let array = if is_set {
        np.call_method1("fromiter", (obj, "int64"))?
    } else {
        np.call_method1("asarray", (obj,))?
    };
    let kind: String = array.getattr("dtype")?.getattr("kind")?.extract()?;
    let ndim: usize = array.getattr("ndim")?.extract()?;
    let size: usize = array.getattr("size")?.extract()?;
    if ndim > 1 {
        return Err(invalid_parameter(what, "must be a 1-d array of ids"));
    }
    match kind.as_str() {
        "u" => {}
        "i" => {
            if size > 0 && array.call_method0("min")?.extract::<i64>()? < 0 {
                return Err(invalid_parameter(what, "ids must be non-negative"));
            }
        }
        // An empty list comes out as float64: it holds no id, so that is fine.
        _ if size == 0 => return Ok(Ids::Owned(Vec::new())),
        _ => {
            return Err(invalid_parameter(
                what,
                format!("must hold integers, got dtype kind {kind:?}"),
            ))
        }
    }
    let converted = np
        .call_method1("ascontiguousarray", (array, "uint64"))?
        .call_method1("reshape", (-1,))?
        .cast_into::<PyArray1<u64>>()?;
    let ids = converted
        .try_readonly()
        .map_err(|e| invalid_parameter(what, format!("cannot be read: {e}")))?
        .as_slice()
        .map(<[u64]>::to_vec)
        .map_err(|e| invalid_parameter(what, e.to_string()))?;
    Ok(Ids::Owned(ids))
}

/// `(ids, distances)` NumPy arrays of shape `(rows, k)`, or `(k,)` when `one_d`; no copy.
pub fn result_arrays<'py>(
    py: Python<'py>,
    ids: Vec<u64>,
    distances: Vec<f32>,
    rows: usize,
    k: usize,
    one_d: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if one_d {
        return Ok((
            PyArray1::from_vec(py, ids).into_any(),
            PyArray1::from_vec(py, distances).into_any(),
        ));
    }
    Ok((
        matrix(py, ids, rows, k)?.into_any(),
        matrix(py, distances, rows, k)?.into_any(),
    ))
}

/// A `(rows, cols)` NumPy array owning `data` (no copy).
pub fn matrix<T: numpy::Element>(
    py: Python<'_>,
    data: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'_, PyArray2<T>>> {
    let array = Array2::from_shape_vec((rows, cols), data)
        .map_err(|e| invalid_parameter("shape", e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// A vector of `n` copies of `value`, or `MemoryError` when it cannot be allocated.
pub fn try_filled<T: Clone>(n: usize, value: T) -> PyResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        pyo3::exceptions::PyMemoryError::new_err(format!("cannot allocate {n} result elements"))
    })?;
    v.resize(n, value);
    Ok(v)
}
