//! Filter expressions over payload fields, and their checks against a schema.

use std::fmt;

use super::{numeric_key, FieldType, Payload, Schema, Value};
use crate::error::{Error, Result};

/// Deepest nesting of `and`, `or` and `not` a filter may have.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most terms a filter may have: comparisons, `exists`, `and`/`or`/`not` nodes and the values
/// of `in` lists, all counted.
pub const MAX_FILTER_TERMS: usize = 4096;

/// A comparison of a [`Filter::Range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// The operator as the filter syntax writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// Which rows a search may return, by their payload fields.
///
/// Build one with the constructors and the operators `&` (and), `|` (or) and `!` (not), or parse
/// the text form with [`Filter::parse`]. A row without the field never matches a comparison,
/// an `in` or an `exists` on it; `!` is the complement, so `!Filter::eq("lang", "en")` keeps
/// rows without a `lang` too. On a [`Value::Keywords`] field, `eq` matches a row whose list
/// contains the value (and `in`, one that contains any of them).
///
/// Types are strict: a comparison's value must have the field's type, except that a float field
/// also takes integers (compared as floats; they must be exactly representable). Ranges apply to
/// `int`, `float` and `timestamp` fields; `bytes` fields only to `exists`.
///
/// ```
/// use stratavec::{Filter, Value};
///
/// let f = Filter::eq("tenant", 7)
///     & Filter::gte("date", Value::timestamp("2026-01-01")?)
///     & !Filter::eq("status", "draft");
/// assert_eq!(
///     f.to_string(),
///     "tenant = 7 and date >= @2026-01-01T00:00:00Z and not status = \"draft\""
/// );
/// assert_eq!(Filter::parse(&f.to_string())?, f);
/// # Ok::<(), stratavec::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// The field equals the value (or, for a keyword list, contains it).
    Eq {
        /// The field.
        field: String,
        /// The value.
        value: Value,
    },
    /// The field equals one of the values (for a keyword list: contains one of them).
    In {
        /// The field.
        field: String,
        /// The values.
        values: Vec<Value>,
    },
    /// The field compares with the value as `op` says (numbers and timestamps).
    Range {
        /// The field.
        field: String,
        /// The comparison: field `op` value.
        op: Cmp,
        /// The value.
        value: Value,
    },
    /// The row has the field.
    Exists {
        /// The field.
        field: String,
    },
    /// Every one of the filters matches (no filter: every row).
    And(Vec<Filter>),
    /// At least one of the filters matches (no filter: no row).
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
}

impl Filter {
    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: impl Into<Value>) -> Filter {
        Filter::Eq {
            field: field.into(),
            value: value.into(),
        }
    }

    /// `field in [values…]`.
    pub fn is_in<V: Into<Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::In {
            field: field.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// `field op value`.
    pub fn range(field: impl Into<String>, op: Cmp, value: impl Into<Value>) -> Filter {
        Filter::Range {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// `field < value`.
    pub fn lt(field: impl Into<String>, value: impl Into<Value>) -> Filter {
        Filter::range(field, Cmp::Lt, value)
    }

    /// `field <= value`.
    pub fn lte(field: impl Into<String>, value: impl Into<Value>) -> Filter {
        Filter::range(field, Cmp::Le, value)
    }

    /// `field > value`.
    pub fn gt(field: impl Into<String>, value: impl Into<Value>) -> Filter {
        Filter::range(field, Cmp::Gt, value)
    }

    /// `field >= value`.
    pub fn gte(field: impl Into<String>, value: impl Into<Value>) -> Filter {
        Filter::range(field, Cmp::Ge, value)
    }

    /// `low <= field and field < high`, as two ranges.
    pub fn between(
        field: impl Into<String>,
        low: impl Into<Value>,
        high: impl Into<Value>,
    ) -> Filter {
        let field = field.into();
        Filter::And(vec![
            Filter::gte(field.clone(), low),
            Filter::lt(field, high),
        ])
    }

    /// The row has `field`.
    pub fn exists(field: impl Into<String>) -> Filter {
        Filter::Exists {
            field: field.into(),
        }
    }

    /// All of `filters`.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::And(filters.into_iter().collect())
    }

    /// Any of `filters`.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::Or(filters.into_iter().collect())
    }

    /// Parses the text form of a filter:
    ///
    /// ```text
    /// expr   := term ("or" term)*
    /// term   := factor ("and" factor)*
    /// factor := "not" factor | "(" expr ")" | "exists" "(" field ")" | "all" | "none"
    ///         | field ("=" | "==" | "!=" | "<" | "<=" | ">" | ">=") value
    ///         | field "in" "[" value ("," value)* "]"
    /// value  := integer | float (with "." or an exponent) | "string" | true | false
    ///         | @timestamp (RFC 3339: @2026-01-01, @2026-01-01T08:30:00Z)
    /// ```
    ///
    /// Strings take the escapes `\"`, `\\`, `\n`, `\t`, `\r` and `\u{hex}`. `a != v` is
    /// `not a = v`. Field names are as in [`crate::Payload`]. [`Filter`]'s `Display` writes this
    /// form, and parsing it gives the same filter back.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] for a syntax error (with the byte offset), a text longer than
    /// 64 KiB, or a filter deeper than [`MAX_FILTER_DEPTH`] or larger than [`MAX_FILTER_TERMS`].
    pub fn parse(text: &str) -> Result<Filter> {
        super::parse::parse_filter(text)
    }

    /// Checks the filter against `schema`: every field known, every value of its field's type,
    /// every operator supported by it, the size within the limits.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] naming the field.
    pub fn check(&self, schema: &Schema) -> Result<()> {
        self.check_limits()?;
        self.check_types(&|field| {
            schema.get(field).ok_or_else(|| {
                let known: Vec<&str> = schema.iter().map(|(n, _)| n).collect();
                Error::invalid_filter(format!(
                    "unknown field `{field}` (the schema has {})",
                    if known.is_empty() {
                        "no fields".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })
        })
    }

    /// Whether `payload` matches, evaluated on the payload alone — the meaning the field
    /// indexes implement (a filter that passes [`Filter::check`] gets the same rows from a
    /// search). A comparison with a value of another type than the field's matches nothing.
    pub fn matches(&self, payload: &Payload) -> bool {
        let value = |field: &str, v: &Value| -> Option<(Value, Value)> {
            let got = payload.get(field)?;
            let want = literal(field, got.field_type(), v).ok()?;
            Some((got.clone(), want))
        };
        let eq = |field: &str, v: &Value| match value(field, v) {
            Some((Value::Keywords(list), Value::Keyword(k))) => list.contains(&k),
            Some((got, want)) => numeric_key(&got)
                .zip(numeric_key(&want))
                .map_or(got == want, |(a, b)| a == b),
            None => false,
        };
        match self {
            Filter::Eq { field, value } => eq(field, value),
            Filter::In { field, values } => values.iter().any(|v| eq(field, v)),
            Filter::Range {
                field,
                op,
                value: v,
            } => value(field, v)
                .and_then(|(got, want)| Some((numeric_key(&got)?, numeric_key(&want)?)))
                .is_some_and(|(a, b)| match op {
                    Cmp::Lt => a < b,
                    Cmp::Le => a <= b,
                    Cmp::Gt => a > b,
                    Cmp::Ge => a >= b,
                }),
            Filter::Exists { field } => payload.get(field).is_some(),
            Filter::And(list) => list.iter().all(|f| f.matches(payload)),
            Filter::Or(list) => list.iter().any(|f| f.matches(payload)),
            Filter::Not(f) => !f.matches(payload),
        }
    }

    /// Checks depth and size only.
    pub(crate) fn check_limits(&self) -> Result<()> {
        let mut terms = 0;
        self.measure(1, &mut terms)
    }

    fn measure(&self, depth: usize, terms: &mut usize) -> Result<()> {
        if depth > MAX_FILTER_DEPTH {
            return Err(Error::invalid_filter(format!(
                "the expression is nested deeper than {MAX_FILTER_DEPTH}"
            )));
        }
        *terms += match self {
            Filter::In { values, .. } => 1 + values.len(),
            _ => 1,
        };
        if *terms > MAX_FILTER_TERMS {
            return Err(Error::invalid_filter(format!(
                "the expression has more than {MAX_FILTER_TERMS} terms"
            )));
        }
        match self {
            Filter::And(list) | Filter::Or(list) => {
                list.iter().try_for_each(|f| f.measure(depth + 1, terms))
            }
            Filter::Not(f) => f.measure(depth + 1, terms),
            _ => Ok(()),
        }
    }

    /// Checks every comparison against the field types `type_of` gives (which may refuse
    /// fields).
    pub(crate) fn check_types(&self, type_of: &dyn Fn(&str) -> Result<FieldType>) -> Result<()> {
        match self {
            Filter::Eq { field, value } => literal(field, type_of(field)?, value).map(|_| ()),
            Filter::In { field, values } => {
                let ty = type_of(field)?;
                values
                    .iter()
                    .try_for_each(|v| literal(field, ty, v).map(|_| ()))
            }
            Filter::Range { field, op, value } => {
                let ty = type_of(field)?;
                if !ty.is_numeric() {
                    return Err(Error::invalid_filter(format!(
                        "`{field} {} …`: field `{field}` holds {ty} values, which have no order \
                         (ranges apply to int, float and timestamp fields)",
                        op.symbol()
                    )));
                }
                literal(field, ty, value).map(|_| ())
            }
            Filter::Exists { field } => type_of(field).map(|_| ()),
            Filter::And(list) | Filter::Or(list) => {
                list.iter().try_for_each(|f| f.check_types(type_of))
            }
            Filter::Not(f) => f.check_types(type_of),
        }
    }
}

/// The value a comparison on a field of type `ty` compares with: `v` itself, or an integer
/// taken as a float for a float field.
///
/// # Errors
/// [`Error::InvalidFilter`] naming the field when `v` does not fit `ty`.
pub(crate) fn literal(field: &str, ty: FieldType, v: &Value) -> Result<Value> {
    let bad = |why: &str| {
        Err(Error::invalid_filter(format!(
            "field `{field}` holds {ty} values, the filter compares it with {} `{v}`{why}",
            v.field_type()
        )))
    };
    match (ty, v) {
        (FieldType::Float, Value::Float(x)) if !x.is_finite() => bad(" (not finite)"),
        (FieldType::Float, Value::Int(i)) => {
            let x = *i as f64;
            if x as i64 != *i || x.abs() >= 9.007_199_254_740_992e15 {
                return bad(" (not exactly a float)");
            }
            Ok(Value::Float(x))
        }
        (FieldType::Keywords, Value::Keyword(_)) => Ok(v.clone()),
        (FieldType::Bytes, _) => Err(Error::invalid_filter(format!(
            "field `{field}` holds bytes, which filters cannot compare (only `exists({field})`)"
        ))),
        (FieldType::Keywords, _) => bad(" (a keyword list matches one keyword)"),
        (t, v) if v.field_type() == t => Ok(v.clone()),
        _ => bad(""),
    }
}

impl std::ops::BitAnd for Filter {
    type Output = Filter;

    /// Both filters; `a & b & c` is one `And` of three.
    fn bitand(self, rhs: Filter) -> Filter {
        match self {
            Filter::And(mut list) if !list.is_empty() => {
                list.push(rhs);
                Filter::And(list)
            }
            f => Filter::And(vec![f, rhs]),
        }
    }
}

impl std::ops::BitOr for Filter {
    type Output = Filter;

    /// Either filter; `a | b | c` is one `Or` of three.
    fn bitor(self, rhs: Filter) -> Filter {
        match self {
            Filter::Or(mut list) if !list.is_empty() => {
                list.push(rhs);
                Filter::Or(list)
            }
            f => Filter::Or(vec![f, rhs]),
        }
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;

    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl fmt::Display for Filter {
    /// The text form [`Filter::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nested = |f: &mut fmt::Formatter<'_>, x: &Filter| match x {
            Filter::And(_) | Filter::Or(_) => write!(f, "({x})"),
            _ => write!(f, "{x}"),
        };
        let join = |f: &mut fmt::Formatter<'_>, list: &[Filter], op: &str, empty: &str| {
            if list.is_empty() {
                return f.write_str(empty);
            }
            for (i, x) in list.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                nested(f, x)?;
            }
            Ok(())
        };
        match self {
            Filter::Eq { field, value } => write!(f, "{field} = {value}"),
            Filter::In { field, values } => {
                write!(f, "{field} in [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Filter::Range { field, op, value } => write!(f, "{field} {} {value}", op.symbol()),
            Filter::Exists { field } => write!(f, "exists({field})"),
            Filter::And(list) => join(f, list, "and", "all"),
            Filter::Or(list) => join(f, list, "or", "none"),
            Filter::Not(x) => {
                f.write_str("not ")?;
                nested(f, x)
            }
        }
    }
}
