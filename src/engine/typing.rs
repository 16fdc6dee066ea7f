//! Decoding BigQuery's `f`/`v` rows into typed JSON, driven by the schema.
//!
//! The REST API sends every scalar as a string (`{"v":"42"}`), nests RECORDs
//! as `{"f":[…]}` and REPEATED fields as `[{"v":…}]`. The KV value must carry
//! real JSON types, so each cell is converted by its schema type:
//! INT64 → number when exactly representable in a double (|n| ≤ 2^53), else a
//! string, so no reader silently gets a rounded id; NUMERIC/BIGNUMERIC stay
//! strings for the same reason; TIMESTAMP (int64 µs with
//! `useInt64Timestamp`, or float seconds without) → RFC 3339; JSON → parsed.

use super::row::{Cell, Row};
use serde::Deserialize;

use super::time::{write_rfc3339, Micros, MICROS_PER_SECOND};

/// The largest integer a JavaScript number (f64) holds exactly.
const MAX_EXACT_INT: i64 = 1 << 53;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Schema {
    #[serde(default)]
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl Field {
    fn repeated(&self) -> bool {
        self.mode.as_deref() == Some("REPEATED")
    }
}

/// A cell that does not match its schema type: the row is quarantined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One source row: the reserved columns, and the KV value as JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedRow {
    pub key: Option<String>,
    pub updated_at: Option<Micros>,
    pub deleted: bool,
    /// The non-reserved columns as one JSON object, written in schema order
    /// in a single pass (no intermediate map, no second serialisation).
    pub value: String,
}

/// Decodes one `{"f":[…]}` row against the top-level schema.
pub fn decode_row(schema: &Schema, row: &Row) -> Result<DecodedRow, DecodeError> {
    let cells = &row.0;
    if cells.len() != schema.fields.len() {
        return Err(DecodeError(format!(
            "row has {} cells but the schema has {} fields",
            cells.len(),
            schema.fields.len()
        )));
    }
    let mut out = DecodedRow {
        key: None,
        updated_at: None,
        deleted: false,
        value: String::with_capacity(64 + 24 * cells.len()),
    };
    out.value.push('{');
    for (field, cell) in schema.fields.iter().zip(cells) {
        let raw = cell;
        match field.name.as_str() {
            "key" => out.key = raw.as_text().map(str::to_owned),
            "updated_at" => {
                out.updated_at = match raw {
                    Cell::Null => None,
                    v => Some(timestamp_micros(v).map_err(|e| in_field("updated_at", e))?),
                }
            }
            "deleted" => out.deleted = raw.as_text() == Some("true"),
            name => {
                if out.value.len() > 1 {
                    out.value.push(',');
                }
                write_string(&mut out.value, name);
                out.value.push(':');
                write_field(&mut out.value, field, raw).map_err(|e| in_field(name, e))?;
            }
        }
    }
    out.value.push('}');
    Ok(out)
}

fn in_field(name: &str, e: DecodeError) -> DecodeError {
    DecodeError(format!("column `{name}`: {}", e.0))
}

fn write_field(out: &mut String, field: &Field, raw: &Cell) -> Result<(), DecodeError> {
    if *raw == Cell::Null {
        out.push_str(if field.repeated() { "[]" } else { "null" });
        return Ok(());
    }
    if field.repeated() {
        let Cell::Repeated(items) = raw else {
            return Err(DecodeError(format!("REPEATED value is {raw}, not a list")));
        };
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_scalar(out, field, item)?;
        }
        out.push(']');
        return Ok(());
    }
    write_scalar(out, field, raw)
}

fn write_scalar(out: &mut String, field: &Field, raw: &Cell) -> Result<(), DecodeError> {
    if *raw == Cell::Null {
        out.push_str("null");
        return Ok(());
    }
    match field.kind.as_str() {
        "RECORD" | "STRUCT" => {
            let Cell::Record(Row(cells)) = raw else {
                return Err(DecodeError(format!("RECORD value is {raw}")));
            };
            out.push('{');
            for (i, (sub, cell)) in field.fields.iter().zip(cells).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, &sub.name);
                out.push(':');
                write_field(out, sub, cell).map_err(|e| in_field(&sub.name, e))?;
            }
            out.push('}');
            Ok(())
        }
        kind => {
            let text = raw
                .as_text()
                .ok_or_else(|| DecodeError(format!("{kind} value is {raw}, not text")))?;
            write_text(out, kind, text)
        }
    }
}

fn write_text(out: &mut String, kind: &str, text: &str) -> Result<(), DecodeError> {
    use std::fmt::Write as _;
    let bad = || DecodeError(format!("{text:?} is not a valid {kind}"));
    match kind {
        "INTEGER" | "INT64" => {
            let n: i64 = text.parse().map_err(|_| bad())?;
            let canonical = !text.starts_with('+')
                && (text.len() == 1 || !text.trim_start_matches('-').starts_with('0'));
            if n.abs() <= MAX_EXACT_INT && canonical {
                out.push_str(text);
            } else if n.abs() <= MAX_EXACT_INT {
                let _ = write!(out, "{n}");
            } else {
                write_string(out, text);
            }
        }
        "FLOAT" | "FLOAT64" => {
            let f: f64 = text.parse().map_err(|_| bad())?;
            if f.is_finite() {
                let start = out.len();
                let _ = write!(out, "{f}");
                // Keep it a float in JSON ("2" would read back as an integer).
                if !out[start..].contains(['.', 'e', 'E']) {
                    out.push_str(".0");
                }
            } else {
                // JSON has no NaN or infinity: keep BigQuery's spelling.
                write_string(out, text);
            }
        }
        "BOOLEAN" | "BOOL" => match text {
            "true" | "false" => out.push_str(text),
            _ => return Err(bad()),
        },
        "TIMESTAMP" => {
            let micros = timestamp_from_text(text).ok_or_else(bad)?;
            out.push('"');
            write_rfc3339(out, micros);
            out.push('"');
        }
        "JSON" => {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| bad())?;
            out.push_str(text.trim());
        }
        // STRING, BYTES (base64), NUMERIC, BIGNUMERIC, DATE, DATETIME, TIME,
        // GEOGRAPHY, INTERVAL, RANGE: BigQuery's own text is the right JSON.
        _ => write_string(out, text),
    }
    Ok(())
}

/// Writes `text` as a JSON string literal.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if !text.bytes().any(needs_escape) {
        out.push_str(text);
    } else {
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn timestamp_micros(raw: &Cell) -> Result<Micros, DecodeError> {
    raw.as_text()
        .and_then(timestamp_from_text)
        .ok_or_else(|| DecodeError(format!("{raw} is not a valid TIMESTAMP")))
}

/// `useInt64Timestamp` gives integer microseconds; without it BigQuery sends
/// float seconds such as `1.767225600123456E9`, which loses nothing at µs
/// precision for present-day dates once rounded.
fn timestamp_from_text(text: &str) -> Option<Micros> {
    if let Ok(micros) = text.parse::<i64>() {
        return Some(micros);
    }
    let seconds: f64 = text.parse().ok()?;
    seconds
        .is_finite()
        .then(|| (seconds * MICROS_PER_SECOND as f64).round() as Micros)
}

#[cfg(test)]
#[path = "typing_tests.rs"]
mod tests;
