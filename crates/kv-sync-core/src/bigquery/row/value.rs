//! One cell's `v`, typed by its schema field and written as JSON as it is
//! read: text is borrowed from the response, never copied into a cell.

use std::borrow::Cow;

use super::in_field;
use crate::bigquery::json::{Reader, SyntaxError};
use crate::bigquery::typing::{
    quote, room_for_string, write_string, write_text, CellKind, DecodeError, Field,
};

/// A reserved column's cell: its text, or what it was instead.
pub(super) enum Scalar<'a> {
    Null,
    Text(Cow<'a, str>),
    Other(&'static str),
}

impl<'a> Scalar<'a> {
    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, SyntaxError> {
        Ok(match r.peek() {
            Some(b'[') => {
                r.skip()?;
                Scalar::Other("a REPEATED list")
            }
            Some(b'{') => {
                r.skip()?;
                Scalar::Other("a RECORD")
            }
            _ => match scalar_text(r)? {
                Some(text) => Scalar::Text(text),
                None => Scalar::Null,
            },
        })
    }
}

/// A value that is neither a list nor an object: its text, or `None` for
/// null.
pub(crate) fn scalar_text<'a>(r: &mut Reader<'a>) -> Result<Option<Cow<'a, str>>, SyntaxError> {
    Ok(match r.peek() {
        Some(b'"') => Some(r.string()?),
        _ if r.eat_null() => None,
        // Not BigQuery's form, but a number or boolean is unambiguous.
        _ => Some(Cow::Borrowed(r.skip()?)),
    })
}

/// The outcome of typing one cell: `Err` quarantines the row.
pub(super) type Typed = Result<(), DecodeError>;

/// What a null is written as: an empty list for a REPEATED field.
pub(super) fn null_of(field: &Field, element: bool) -> &'static str {
    if field.repeated && !element {
        "[]"
    } else {
        "null"
    }
}

/// Reads one cell's value at the reader and appends it to `out`, typed by
/// `field` (`element`: one item of a REPEATED field). The outer `Result` is
/// the reader's (the page is unreadable), the inner one the typing's.
pub(super) fn read_value(
    r: &mut Reader<'_>,
    field: &Field,
    element: bool,
    out: &mut String,
) -> Result<Typed, SyntaxError> {
    let list_expected = field.repeated && !element;
    let is_record = field.cell == CellKind::Record;
    let kind = &field.type_name;
    match r.peek() {
        Some(b'[') if list_expected => read_list(r, field, out),
        Some(b'[') => {
            r.skip()?;
            Ok(Err(DecodeError(format!("{kind} value is a list"))))
        }
        Some(b'{') if is_record && !list_expected => read_record(r, &field.fields, out),
        Some(b'{') => {
            r.skip()?;
            let what = if list_expected {
                "REPEATED value is a RECORD, not a list".to_string()
            } else {
                format!("{kind} value is a RECORD, not text")
            };
            Ok(Err(DecodeError(what)))
        }
        _ => {
            let text = match scalar_text(r)? {
                None => {
                    out.push_str(null_of(field, element));
                    return Ok(Ok(()));
                }
                // The reader borrows only strings without escapes, so
                // without quotes, backslashes or control characters: they
                // are already a JSON string's contents.
                Some(Cow::Borrowed(text)) if field.cell == CellKind::Text && !list_expected => {
                    room_for_string(out, text.len());
                    out.push('"');
                    out.push_str(text);
                    out.push('"');
                    return Ok(Ok(()));
                }
                Some(text) => text,
            };
            Ok(if list_expected {
                Err(DecodeError(format!(
                    "REPEATED value is {}, not a list",
                    quote(&text)
                )))
            } else if is_record {
                Err(DecodeError(format!("RECORD value is {}", quote(&text))))
            } else {
                write_text(out, field, &text)
            })
        }
    }
}

/// A REPEATED value: `[{"v":…},…]`.
fn read_list(r: &mut Reader<'_>, field: &Field, out: &mut String) -> Result<Typed, SyntaxError> {
    let mut typed = Ok(());
    out.push('[');
    let mut first = true;
    r.list(|r| {
        if !first {
            out.push(',');
        }
        first = false;
        let item = super::read_wrapped(r, |r, present| {
            if present {
                read_value(r, field, true, out)
            } else {
                out.push_str("null");
                Ok(Ok(()))
            }
        })?;
        // The first error is the one reported.
        if typed.is_ok() {
            typed = item;
        }
        Ok(())
    })?;
    out.push(']');
    Ok(typed)
}

/// A RECORD value: `{"f":[{"v":…},…]}`, written as an object of its
/// sub-fields; cells beyond the sub-fields are ignored.
fn read_record(
    r: &mut Reader<'_>,
    fields: &[Field],
    out: &mut String,
) -> Result<Typed, SyntaxError> {
    let mut typed = Err(DecodeError("RECORD value has no \"f\" list".into()));
    out.push('{');
    r.object(|r, name| {
        if name == "f" {
            typed = read_record_cells(r, fields, out)?;
            Ok(())
        } else {
            r.skip().map(drop)
        }
    })?;
    out.push('}');
    Ok(typed)
}

fn read_record_cells(
    r: &mut Reader<'_>,
    fields: &[Field],
    out: &mut String,
) -> Result<Typed, SyntaxError> {
    let mut typed = Ok(());
    let mut fields = fields.iter();
    let mut first = true;
    r.list(|r| {
        // Cells beyond the sub-fields are skipped.
        let Some(field) = fields.next() else {
            return r.skip().map(drop);
        };
        if !first {
            out.push(',');
        }
        first = false;
        write_string(out, &field.name);
        out.push(':');
        let cell = super::read_wrapped(r, |r, present| {
            if present {
                read_value(r, field, false, out)
            } else {
                out.push_str(null_of(field, false));
                Ok(Ok(()))
            }
        })?;
        if typed.is_ok() {
            typed = cell.map_err(|e| in_field(&field.name, e));
        }
        Ok(())
    })?;
    Ok(typed)
}
