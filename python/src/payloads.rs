//! Payloads and payload filters between Python and stratavec: `dict` ⇄ `stratavec::Payload`,
//! and the `filter=` argument as a `dict` (or the text form, a `str`) → `stratavec::Filter`.
//!
//! Values: `bool` → bool, `int` → int, `float` → float, `str` → keyword, a `list`/`tuple` of
//! `str` → keywords, `datetime.datetime` → timestamp (a naive one is taken as UTC), `bytes` →
//! bytes; timestamps come back as UTC-aware `datetime`s. Anything else is an
//! `InvalidPayloadError` naming the field.
//!
//! Filters: `{"tenant": 7}` is `tenant = 7`; `{"date": {"gte": d, "lt": e}}` is two ranges;
//! operators `eq`, `ne`, `in`, `nin`, `lt`, `lte`, `gt`, `gte`, `exists`; `{"$and": [...]}`,
//! `{"$or": [...]}`, `{"$not": {...}}`; several keys in one dict are all required.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use stratavec::{Cmp, Error, Filter, Payload, Value, MAX_FILTER_DEPTH};

use crate::errors::IntoPy;

/// Microseconds since the epoch of a `datetime.datetime` (naive: UTC).
fn datetime_micros(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = obj.py();
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    let aware = if obj.getattr("tzinfo")?.is_none() {
        obj.call_method1("replace", ())?.call_method(
            "replace",
            (),
            Some(&[("tzinfo", utc.clone())].into_py_dict(py)?),
        )?
    } else {
        obj.clone()
    };
    let epoch = dt
        .getattr("datetime")?
        .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
    let delta = aware.call_method1("__sub__", (epoch,))?;
    let days: i64 = delta.getattr("days")?.extract()?;
    let secs: i64 = delta.getattr("seconds")?.extract()?;
    let micros: i64 = delta.getattr("microseconds")?.extract()?;
    Ok((days * 86_400 + secs) * 1_000_000 + micros)
}

use pyo3::types::IntoPyDict;

/// The `datetime.datetime` (UTC) of microseconds since the epoch.
fn micros_datetime<'py>(py: Python<'py>, t: i64) -> PyResult<Bound<'py, PyAny>> {
    let dt = py.import("datetime")?;
    let utc = dt.getattr("timezone")?.getattr("utc")?;
    let epoch = dt
        .getattr("datetime")?
        .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
    let delta = dt
        .getattr("timedelta")?
        .call((), Some(&[("microseconds", t)].into_py_dict(py)?))?;
    epoch.call_method1("__add__", (delta,))
}

fn is_datetime(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let dt = obj.py().import("datetime")?.getattr("datetime")?;
    obj.is_instance(&dt)
}

/// A Python value as a payload value of field `field`.
pub fn value(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let bad = |what: String| {
        Err(Error::InvalidPayload {
            field: field.to_owned(),
            reason: what,
        })
        .py()
    };
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => bad("an int outside the 64-bit signed range".into()),
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Float(obj.extract()?));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(Value::Keyword(obj.extract()?));
    }
    if obj.is_instance_of::<PyBytes>() {
        return Ok(Value::Bytes(obj.extract()?));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut list = Vec::new();
        for item in obj.try_iter()? {
            let item = item?;
            if !item.is_instance_of::<PyString>() {
                return bad("a list value holds strings only (a keyword list)".into());
            }
            list.push(item.extract()?);
        }
        return Ok(Value::Keywords(list));
    }
    if is_datetime(obj)? {
        return Ok(Value::Timestamp(datetime_micros(obj)?));
    }
    bad(format!(
        "a {} is not a payload value (bool, int, float, str, list of str, datetime, bytes)",
        obj.get_type().name()?
    ))
}

/// A `dict` of field → value as a payload (checked by the library when stored).
pub fn payload(obj: &Bound<'_, PyAny>) -> PyResult<Payload> {
    if obj.is_none() {
        return Ok(Payload::new());
    }
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("a payload is a dict of field name to value"))?;
    let mut p = Payload::new();
    for (k, v) in dict.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("payload field names are strings"))?;
        let value = value(&name, &v)?;
        p.insert(name, value);
    }
    Ok(p)
}

/// A payload as a `dict`.
pub fn to_dict<'py>(py: Python<'py>, p: &Payload) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, v) in p.iter() {
        match v {
            Value::Int(i) => d.set_item(name, i)?,
            Value::Float(x) => d.set_item(name, x)?,
            Value::Bool(b) => d.set_item(name, b)?,
            Value::Keyword(s) => d.set_item(name, s)?,
            Value::Keywords(list) => d.set_item(name, list)?,
            Value::Timestamp(t) => d.set_item(name, micros_datetime(py, *t)?)?,
            Value::Bytes(b) => d.set_item(name, PyBytes::new(py, b))?,
            _ => d.set_item(name, py.None())?,
        }
    }
    Ok(d)
}

fn filter_error(reason: String) -> PyErr {
    crate::errors::to_py_err(Error::InvalidFilter { reason })
}

/// The `filter=` argument as a payload filter: a `dict` (see the module docs) or its text form.
pub fn filter(obj: &Bound<'_, PyAny>) -> PyResult<Filter> {
    if obj.is_instance_of::<PyString>() {
        let text: String = obj.extract()?;
        return Filter::parse(&text).py();
    }
    dict_filter(obj, 1)
}

fn dict_filter(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Filter> {
    if depth > MAX_FILTER_DEPTH {
        return Err(filter_error(format!(
            "the expression is nested deeper than {MAX_FILTER_DEPTH}"
        )));
    }
    let dict = obj.cast::<PyDict>().map_err(|_| {
        filter_error("a filter is a dict ({\"field\": value, \"$or\": [...]}) or a str".into())
    })?;
    let mut all = Vec::new();
    for (k, v) in dict.iter() {
        let key: String = k
            .extract()
            .map_err(|_| filter_error("filter keys are strings".into()))?;
        match key.as_str() {
            "$and" | "$or" => {
                let mut list = Vec::new();
                for item in v
                    .try_iter()
                    .map_err(|_| filter_error(format!("{key} takes a list")))?
                {
                    list.push(dict_filter(&item?, depth + 1)?);
                }
                all.push(if key == "$and" {
                    Filter::And(list)
                } else {
                    Filter::Or(list)
                });
            }
            "$not" => all.push(!dict_filter(&v, depth + 1)?),
            field => match v.cast::<PyDict>() {
                Ok(ops) => {
                    for (op, arg) in ops.iter() {
                        let op: String = op
                            .extract()
                            .map_err(|_| filter_error("operators are strings".into()))?;
                        all.push(operator(field, &op, &arg)?);
                    }
                }
                Err(_) => all.push(Filter::eq(field, value(field, &v)?)),
            },
        }
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one")
    } else {
        Filter::And(all)
    })
}

fn operator(field: &str, op: &str, arg: &Bound<'_, PyAny>) -> PyResult<Filter> {
    let values = |arg: &Bound<'_, PyAny>| -> PyResult<Vec<Value>> {
        arg.try_iter()
            .map_err(|_| filter_error(format!("`{field}`: {op} takes a list")))?
            .map(|v| value(field, &v?))
            .collect()
    };
    Ok(match op {
        "eq" => Filter::eq(field, value(field, arg)?),
        "ne" => !Filter::eq(field, value(field, arg)?),
        "in" => Filter::is_in(field, values(arg)?),
        "nin" => !Filter::is_in(field, values(arg)?),
        "lt" => Filter::range(field, Cmp::Lt, value(field, arg)?),
        "lte" => Filter::range(field, Cmp::Le, value(field, arg)?),
        "gt" => Filter::range(field, Cmp::Gt, value(field, arg)?),
        "gte" => Filter::range(field, Cmp::Ge, value(field, arg)?),
        "exists" => {
            let f = Filter::exists(field);
            if arg.is_truthy()? {
                f
            } else {
                !f
            }
        }
        _ => {
            return Err(filter_error(format!(
                "`{field}`: unknown operator {op:?} (eq, ne, in, nin, lt, lte, gt, gte, exists)"
            )))
        }
    })
}
