//! A row as BigQuery's `TO_JSON_STRING` renders it (what a continuous
//! query's `EXPORT DATA` to Pub/Sub sends), typed by the result schema of
//! the sync's last pull into exactly the value the pull writes.
//!
//! `TO_JSON_STRING` already gives JSON types, but not the pull's: INT64 is
//! a number only within ±2^53 and a string beyond, NUMERIC a number when it
//! has no fraction, TIMESTAMP RFC 3339 text, JSON and STRUCT objects. Each
//! cell is turned back into the text the REST API would have sent for it
//! and written by the same `typing` functions as a pulled cell, so a row
//! that arrives by push hashes the same as when the pull reads it, and the
//! pull does not write it again.
//!
//! The reserved columns are read as the pull reads them; `_CHANGE_TYPE`
//! `"DELETE"` (from `CHANGES()`) deletes, and no `_CHANGE_*` column reaches
//! the value. A column of the schema the row lacks is null; a column the
//! schema lacks is ignored (the pull would not write it either).

use std::collections::HashMap;

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::json::Reader;
use super::row;
use super::typing::{write_string, write_text, CellKind, DecodeError, Field, Schema};
use crate::engine::record::{ContentHash, PageRow, SourceRow, Unreadable};
use crate::engine::time::parse_rfc3339;

/// A result schema as kept for pushes: the JSON of BigQuery's `schema`.
pub(crate) struct PushSchema(Schema);

impl PushSchema {
    pub(crate) fn parse(fields_json: &str) -> Result<Self, String> {
        serde_json::from_str(fields_json)
            .map(PushSchema)
            .map_err(|e| format!("the kept result schema is unreadable: {e}"))
    }

    /// Types one pushed row. A row that is not an object, or a cell that
    /// contradicts its column's type, comes back unreadable (quarantined).
    pub(crate) fn type_row(&self, data: &[u8]) -> PageRow {
        let unreadable = |key: Option<String>, reason: String| Unreadable {
            key,
            reason,
            digest: ContentHash::of(data),
        };
        let cells: HashMap<String, &RawValue> = serde_json::from_slice(data)
            .map_err(|e| unreadable(None, format!("the pushed data is not a JSON object ({e})")))?;
        let key = cells.get("key").and_then(|c| scalar_text(c));
        let updated_at = match cells.get("updated_at").map(|c| scalar_text(c)) {
            None | Some(None) => None,
            Some(Some(text)) => Some(parse_rfc3339(&text).ok_or_else(|| {
                unreadable(
                    key.clone(),
                    format!("column `updated_at`: {text:?} is not a valid TIMESTAMP"),
                )
            })?),
        };
        let deleted = is_true(cells.get("deleted"))
            || cells
                .get("_CHANGE_TYPE")
                .and_then(|c| scalar_text(c))
                .is_some_and(|t| t == "DELETE");
        let value = self
            .value(&cells)
            .map_err(|e| unreadable(key.clone(), e.0))?;
        Ok(SourceRow {
            key,
            updated_at,
            deleted,
            value,
        })
    }

    /// The value object: every column of the schema but the reserved ones,
    /// in the schema's order.
    fn value(&self, cells: &HashMap<String, &RawValue>) -> Result<String, DecodeError> {
        let mut out = String::from("{");
        let columns = self
            .0
            .fields
            .iter()
            .filter(|f| !matches!(f.name.as_str(), "key" | "updated_at" | "deleted"));
        for field in columns {
            if out.len() > 1 {
                out.push(',');
            }
            write_string(&mut out, &field.name);
            out.push(':');
            write_cell(&mut out, field, cells.get(&field.name).copied(), false)
                .map_err(|e| DecodeError(format!("column `{}`: {}", field.name, e.0)))?;
        }
        out.push('}');
        Ok(out)
    }
}

/// A scalar cell's text: a string's contents, a number's or boolean's
/// literal; `None` for null or a list or object. Read as a page's cells
/// are (`row::scalar_text`), without building a JSON value per cell.
fn scalar_text(cell: &RawValue) -> Option<String> {
    let text = cell.get().trim();
    if text.starts_with(['[', '{']) {
        return None;
    }
    row::scalar_text(&mut Reader::new(text))
        .ok()
        .flatten()
        .map(Cow::into_owned)
}

fn is_true(cell: Option<&&RawValue>) -> bool {
    cell.is_some_and(|c| c.get().trim() == "true")
}

fn is_null(cell: Option<&RawValue>) -> bool {
    cell.is_none_or(|c| c.get().trim() == "null")
}

/// Writes one cell typed by `field` (`element`: one item of a REPEATED
/// field), as `row::value` writes a pulled one.
fn write_cell(
    out: &mut String,
    field: &Field,
    cell: Option<&RawValue>,
    element: bool,
) -> Result<(), DecodeError> {
    let list = field.repeated && !element;
    if is_null(cell) {
        out.push_str(if list { "[]" } else { "null" });
        return Ok(());
    }
    let cell = cell.expect("not null");
    if list {
        let items: Vec<&RawValue> = serde_json::from_str(cell.get())
            .map_err(|_| DecodeError("REPEATED value is not a list".into()))?;
        out.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_cell(out, field, Some(item), true)?;
        }
        out.push(']');
        return Ok(());
    }
    match field.cell {
        CellKind::Record => write_record(out, &field.fields, cell),
        CellKind::Json => {
            out.push_str(cell.get().trim());
            Ok(())
        }
        CellKind::Timestamp => {
            let text = scalar_text(cell).unwrap_or_default();
            let micros = parse_rfc3339(&text)
                .ok_or_else(|| DecodeError(format!("{:?} is not a valid TIMESTAMP", cell.get())))?;
            write_text(out, field, &micros.to_string())
        }
        _ => {
            let text = scalar_text(cell).ok_or_else(|| {
                DecodeError(format!("{} value is a list or an object", field.type_name))
            })?;
            write_text(out, field, &text)
        }
    }
}

fn write_record(out: &mut String, fields: &[Field], cell: &RawValue) -> Result<(), DecodeError> {
    let cells: HashMap<String, &RawValue> = serde_json::from_str(cell.get())
        .map_err(|_| DecodeError("RECORD value is not an object".into()))?;
    out.push('{');
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, &field.name);
        out.push(':');
        write_cell(out, field, cells.get(&field.name).copied(), false)
            .map_err(|e| DecodeError(format!("column `{}`: {}", field.name, e.0)))?;
    }
    out.push('}');
    Ok(())
}

#[cfg(test)]
#[path = "pushed_row_tests.rs"]
mod tests;
