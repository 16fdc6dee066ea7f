//! Reading a result page's `rows` array straight into source records.
//!
//! BigQuery sends each row as `{"f":[{"v":…},…]}`. Building that tree first
//! (a string per cell, a vector per row) and then walking it against the
//! schema cost more than everything else the engine does with a row. Here the
//! schema drives the reading instead: each cell's text is borrowed from the
//! response body, typed, and written into the row's value JSON as it is read,
//! so a row costs two allocations, its key and its value.
//!
//! A cell that contradicts its schema type does not fail the page: the row
//! is read to its end and comes back quarantined, naming the column. Text
//! that is not JSON of this shape fails the page.

use super::json::{Reader, SyntaxError};
use super::typing::{not_valid, timestamp_from_text, write_string, DecodeError, Field, Schema};
use crate::engine::record::{ContentHash, PageRow, SourceRow, Unreadable};

mod value;
pub(crate) use value::scalar_text;
use value::{null_of, read_value, Scalar};

/// Decodes a whole `rows` array (`[{"f":[…]},…]`, or `null`).
pub(crate) fn decode_rows(schema: &Schema, rows_json: &str) -> Result<Vec<PageRow>, SyntaxError> {
    let mut reader = Reader::new(rows_json);
    let rows = read_rows(&mut reader, schema)?;
    reader.end()?;
    Ok(rows)
}

/// The most a row's value starts with room for, whatever the row before.
const CAPACITY_HINT_MAX: usize = 64 * 1024;

/// Unused room a finished value may keep.
const SPARE_MAX: usize = 4 * 1024;

/// Reads a `rows` array at the reader's position, for a caller that reads
/// the page around it (see `bigquery::page`).
pub(crate) fn read_rows(r: &mut Reader<'_>, schema: &Schema) -> Result<Vec<PageRow>, SyntaxError> {
    let layout = Layout::of(schema);
    let mut rows = Vec::new();
    if r.eat_null() {
        return Ok(rows);
    }
    // Rows of one query are alike in size: size each value like the last,
    // within reason (a large value reserves its own room; see
    // `typing::write_string`).
    let mut capacity = 64;
    r.list(|r| {
        r.skip_whitespace();
        let start = r.offset();
        let row = read_row(r, &layout, capacity)?;
        capacity = (row.row.value.len() + 1).min(CAPACITY_HINT_MAX);
        // Only a bad row pays for hashing its text.
        rows.push(row.finish().map_err(|(key, e)| Unreadable {
            key,
            reason: e.0,
            digest: ContentHash::of(r.text_since(start).as_bytes()),
        }));
        Ok(())
    })?;
    Ok(rows)
}

/// What a top-level column is to kv-sync.
enum Column<'s> {
    Key,
    UpdatedAt,
    Deleted,
    /// A value field, with its `"name":` prefix escaped once per page.
    Value {
        field: &'s Field,
        prefix: String,
    },
}

struct Layout<'s> {
    columns: Vec<Column<'s>>,
}

impl<'s> Layout<'s> {
    fn of(schema: &'s Schema) -> Self {
        let columns = schema
            .fields
            .iter()
            .map(|field| match field.name.as_str() {
                "key" => Column::Key,
                "updated_at" => Column::UpdatedAt,
                "deleted" => Column::Deleted,
                name => {
                    let mut prefix = String::with_capacity(name.len() + 3);
                    write_string(&mut prefix, name);
                    prefix.push(':');
                    Column::Value { field, prefix }
                }
            })
            .collect();
        Layout { columns }
    }
}

/// A row while its cells are read.
struct RowState {
    row: SourceRow,
    error: Option<DecodeError>,
}

impl RowState {
    fn fail(&mut self, e: DecodeError) {
        self.error.get_or_insert(e);
    }

    /// The decoded row, or its key (all a quarantine can show) and why not.
    fn finish(mut self) -> Result<SourceRow, (Option<String>, DecodeError)> {
        match self.error {
            Some(e) => Err((self.row.key, e)),
            None => {
                let value = &mut self.row.value;
                value.push('}');
                // Room reserved for a large cell and not used is given back:
                // the value lives until KV acknowledges it.
                if value.capacity() - value.len() > SPARE_MAX {
                    value.shrink_to_fit();
                }
                Ok(self.row)
            }
        }
    }
}

/// `{"f":[cell,…]}`.
fn read_row(
    r: &mut Reader<'_>,
    layout: &Layout<'_>,
    capacity: usize,
) -> Result<RowState, SyntaxError> {
    let mut value = String::with_capacity(capacity);
    value.push('{');
    let mut row = RowState {
        row: SourceRow {
            key: None,
            updated_at: None,
            deleted: false,
            value,
        },
        error: Some(DecodeError("the row has no \"f\" list".into())),
    };
    r.object(|r, name| {
        if name == "f" {
            row.error = None;
            read_cells(r, layout, &mut row)
        } else {
            r.skip().map(drop)
        }
    })?;
    Ok(row)
}

/// The row's `[{"v":…},…]`, one cell per schema field.
fn read_cells(
    r: &mut Reader<'_>,
    layout: &Layout<'_>,
    row: &mut RowState,
) -> Result<(), SyntaxError> {
    let columns = &layout.columns;
    let mut cells = 0;
    r.list(|r| {
        match columns.get(cells) {
            Some(column) => read_wrapped(r, |r, v| top_cell(r, v, column, row))?,
            None => {
                r.skip()?;
            }
        }
        cells += 1;
        Ok(())
    })?;
    if cells != columns.len() {
        // A cell count that disagrees with the schema outranks any cell
        // error: every column name in the row would be a guess.
        row.error = Some(DecodeError(format!(
            "row has {cells} cells but the schema has {} fields",
            columns.len()
        )));
    }
    Ok(())
}

/// `{"v":…}` around a cell: calls `cell` with the reader at the value and
/// `true`, or with `false` when the wrapper has no `v` (a null).
fn read_wrapped<'a, T>(
    r: &mut Reader<'a>,
    cell: impl FnOnce(&mut Reader<'a>, bool) -> Result<T, SyntaxError>,
) -> Result<T, SyntaxError> {
    // `Err` holds the reader of the cell until `v` is met, `Ok` its result.
    r.skip_whitespace();
    let (mut cell, mut more) = if r.eat_literal(br#"{"v":"#) {
        // BigQuery's own form, read without looking at member names.
        (Ok(cell(r, true)?), r.next_in(b'}')?)
    } else {
        r.expect(b'{')?;
        (Err(cell), !r.eat(b'}'))
    };
    while more {
        cell = match (r.member_name()?.as_ref(), cell) {
            ("v", Err(read)) => Ok(read(r, true)?),
            (_, cell) => {
                r.skip()?;
                cell
            }
        };
        more = r.next_in(b'}')?;
    }
    match cell {
        Ok(result) => Ok(result),
        Err(read) => read(r, false),
    }
}

/// A top-level cell: a reserved column, or a field of the value. `present`
/// is false for a wrapper without `v`.
fn top_cell<'a>(
    r: &mut Reader<'a>,
    present: bool,
    column: &Column<'_>,
    row: &mut RowState,
) -> Result<(), SyntaxError> {
    let scalar = |r: &mut Reader<'a>| -> Result<Scalar<'a>, SyntaxError> {
        if present {
            Scalar::read(r)
        } else {
            Ok(Scalar::Null)
        }
    };
    match column {
        Column::Key => {
            if let Scalar::Text(key) = scalar(r)? {
                row.row.key = Some(key.into_owned());
            }
        }
        Column::UpdatedAt => match scalar(r)? {
            Scalar::Null => row.row.updated_at = None,
            Scalar::Text(t) => match timestamp_from_text(&t) {
                Some(micros) => row.row.updated_at = Some(micros),
                None => row.fail(in_field("updated_at", not_valid(&t, "TIMESTAMP"))),
            },
            Scalar::Other(what) => row.fail(in_field(
                "updated_at",
                DecodeError(format!("{what} is not a valid TIMESTAMP")),
            )),
        },
        Column::Deleted => row.row.deleted = matches!(scalar(r)?, Scalar::Text(t) if t == "true"),
        Column::Value { field, prefix } => {
            let out = &mut row.row.value;
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(prefix);
            if !present {
                out.push_str(null_of(field, false));
                return Ok(());
            }
            if let Err(e) = read_value(r, field, false, out)? {
                row.fail(in_field(&field.name, e));
            }
        }
    }
    Ok(())
}

fn in_field(name: &str, e: DecodeError) -> DecodeError {
    DecodeError(format!("column `{name}`: {}", e.0))
}

#[cfg(test)]
mod tests;
