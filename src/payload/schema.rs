//! The field types of an index or collection.

use std::collections::BTreeMap;

use super::{check_field_name, FieldType, Payload};
use crate::error::{Error, Result};

/// Most fields a schema holds.
pub const MAX_SCHEMA_FIELDS: usize = 1024;

/// The type of each payload field an index or collection knows. A field gets its type from the
/// first value stored in it, or from [`Schema::declare`] beforehand (a collection's declared
/// schema is [`crate::CollectionOptions::schema`]); from then on a value of another type is an
/// error ([`Error::FieldTypeMismatch`]) and a filter on a field the schema does not hold is an
/// error too ([`Error::InvalidFilter`]).
///
/// ```
/// use stratavec::{FieldType, Schema};
///
/// let schema = Schema::new()
///     .declare("tenant", FieldType::Int)?
///     .declare("tags", FieldType::Keywords)?;
/// assert_eq!(schema.get("tenant"), Some(FieldType::Int));
/// # Ok::<(), stratavec::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    fields: BTreeMap<String, FieldType>,
}

impl Schema {
    /// An empty schema: every field is inferred on first use.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// This schema with `field` declared as `ty`.
    ///
    /// # Errors
    /// [`Error::InvalidPayload`] for a bad name or too many fields; [`Error::FieldTypeMismatch`]
    /// when `field` is already declared with another type.
    pub fn declare(mut self, field: &str, ty: FieldType) -> Result<Schema> {
        self.add(field, ty)?;
        Ok(self)
    }

    /// The type of `field`.
    pub fn get(&self, field: &str) -> Option<FieldType> {
        self.fields.get(field).copied()
    }

    /// The fields and their types, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether it knows no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Adds `field` as `ty`; `Ok(false)` when it was there with that type already.
    pub(crate) fn add(&mut self, field: &str, ty: FieldType) -> Result<bool> {
        match self.fields.get(field) {
            Some(&t) if t == ty => Ok(false),
            Some(&t) => Err(Error::FieldTypeMismatch {
                field: field.to_owned(),
                expected: t.name(),
                got: ty.name(),
            }),
            None => {
                check_field_name(field)?;
                if self.fields.len() >= MAX_SCHEMA_FIELDS {
                    return Err(Error::InvalidPayload {
                        field: field.to_owned(),
                        reason: format!("a schema holds at most {MAX_SCHEMA_FIELDS} fields"),
                    });
                }
                self.fields.insert(field.to_owned(), ty);
                Ok(true)
            }
        }
    }

    /// Every field of `other` added (as [`Schema::add`]).
    pub(crate) fn merge(&mut self, other: &Schema) -> Result<()> {
        for (name, ty) in other.iter() {
            self.add(name, ty)?;
        }
        Ok(())
    }

    /// Checks `payloads` (each within the limits, each value of its field's type) and returns the
    /// schema they extend this one to. Nothing is changed: the caller adopts the result once
    /// the write is accepted.
    ///
    /// # Errors
    /// [`Error::InvalidPayload`], [`Error::FieldTypeMismatch`], naming the field.
    pub(crate) fn extended<'p>(
        &self,
        payloads: impl IntoIterator<Item = &'p Payload>,
    ) -> Result<Option<Schema>> {
        let mut next: Option<Schema> = None;
        for p in payloads {
            p.check()?;
            for (name, value) in p.iter() {
                let ty = value.field_type();
                let known = next.as_ref().unwrap_or(self).get(name);
                match known {
                    Some(t) if t == ty => {}
                    Some(t) => {
                        return Err(Error::FieldTypeMismatch {
                            field: name.to_owned(),
                            expected: t.name(),
                            got: ty.name(),
                        })
                    }
                    None => {
                        next.get_or_insert_with(|| self.clone()).add(name, ty)?;
                    }
                }
            }
        }
        Ok(next)
    }
}
