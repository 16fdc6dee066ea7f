//! The result schema, and how one BigQuery cell becomes typed JSON.
//!
//! The REST API sends every scalar as a string (`{"v":"42"}`); `row` walks
//! RECORDs and REPEATED fields. The KV value must carry real JSON types, so
//! each scalar is converted by its schema type:
//! INT64 → number when exactly representable in a double (|n| ≤ 2^53), else a
//! string, so no reader silently gets a rounded id; NUMERIC/BIGNUMERIC stay
//! strings for the same reason; TIMESTAMP (int64 µs with
//! `useInt64Timestamp`, or float seconds without) → RFC 3339; JSON → parsed.

use serde::Deserialize;

use crate::engine::excerpt::excerpt;
use crate::engine::record::ContentHash;
use crate::engine::time::{in_range, write_rfc3339, Micros, END_OF_TIME, MICROS_PER_SECOND};

/// The largest integer a JavaScript number (f64) holds exactly.
const MAX_EXACT_INT: u64 = 1 << 53;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct Schema {
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl Schema {
    /// A digest of the columns' names, types and modes, nested fields
    /// included: it changes exactly when the result's shape does.
    pub(crate) fn digest(&self) -> ContentHash {
        fn describe(fields: &[Field], out: &mut String) {
            for f in fields {
                out.push_str(&f.name);
                out.push(':');
                out.push_str(&f.type_name);
                if f.repeated {
                    out.push_str("[]");
                }
                if !f.fields.is_empty() {
                    out.push('{');
                    describe(&f.fields, out);
                    out.push('}');
                }
                out.push(',');
            }
        }
        let mut text = String::new();
        describe(&self.fields, &mut text);
        ContentHash::of(text.as_bytes())
    }

    /// Why the result cannot be synced as it is shaped, if it cannot: a
    /// `deleted` column that is not a BOOL would otherwise be ignored and
    /// every row it marks written as live.
    pub(crate) fn unusable(&self) -> Option<String> {
        let deleted = self.fields.iter().find(|f| f.name == "deleted")?;
        let type_name = if deleted.repeated {
            format!("ARRAY<{}>", deleted.type_name)
        } else {
            deleted.type_name.clone()
        };
        (deleted.cell != CellKind::Boolean || deleted.repeated).then(|| {
            format!(
                "the column `deleted` must be BOOL, and the query gives it {type_name}: \
                 cast it in the query (e.g. `status = 'deleted' AS deleted`)"
            )
        })
    }
}

/// One column (or RECORD sub-field), with its type sorted into the kind of
/// cell that decides how a value is written: once per page, not per cell.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "WireField")]
pub(crate) struct Field {
    pub name: String,
    /// BigQuery's type name, as error messages show it.
    pub type_name: String,
    pub cell: CellKind,
    pub repeated: bool,
    pub fields: Vec<Field>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CellKind {
    Integer,
    Float,
    Boolean,
    Timestamp,
    Json,
    Record,
    /// STRING, BYTES (base64), NUMERIC, BIGNUMERIC, DATE, DATETIME, TIME,
    /// GEOGRAPHY, INTERVAL, RANGE: BigQuery's own text is the right JSON.
    Text,
}

#[derive(Deserialize)]
struct WireField {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    fields: Vec<Field>,
}

impl From<WireField> for Field {
    fn from(w: WireField) -> Self {
        let cell = match w.kind.as_str() {
            "INTEGER" | "INT64" => CellKind::Integer,
            "FLOAT" | "FLOAT64" => CellKind::Float,
            "BOOLEAN" | "BOOL" => CellKind::Boolean,
            "TIMESTAMP" => CellKind::Timestamp,
            "JSON" => CellKind::Json,
            "RECORD" | "STRUCT" => CellKind::Record,
            _ => CellKind::Text,
        };
        Field {
            name: w.name,
            type_name: w.kind,
            cell,
            repeated: w.mode.as_deref() == Some("REPEATED"),
            fields: w.fields,
        }
    }
}

/// A cell that does not match its schema type: the row is quarantined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

/// How much of a bad cell a quarantine reason quotes: enough to recognise
/// it, never a person's data in bulk.
const CELL_QUOTE_BYTES: usize = 64;

/// A cell's text, quoted short.
pub(crate) fn quote(text: &str) -> String {
    format!("{:?}", excerpt(text, CELL_QUOTE_BYTES))
}

/// `"<cell>" is not a valid <TYPE>`.
pub(crate) fn not_valid(text: &str, type_name: &str) -> DecodeError {
    DecodeError(format!("{} is not a valid {type_name}", quote(text)))
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes one scalar cell's BigQuery text as JSON of its field's type.
pub(crate) fn write_text(out: &mut String, field: &Field, text: &str) -> Result<(), DecodeError> {
    use std::fmt::Write as _;
    let bad = || not_valid(text, &field.type_name);
    match field.cell {
        CellKind::Integer => {
            let n: i64 = text.parse().map_err(|_| bad())?;
            let canonical = !text.starts_with('+')
                && (text.len() == 1 || !text.trim_start_matches('-').starts_with('0'));
            // `unsigned_abs`: `abs` of INT64's smallest value overflows.
            let exact = n.unsigned_abs() <= MAX_EXACT_INT;
            if exact && canonical {
                out.push_str(text);
            } else if exact {
                let _ = write!(out, "{n}");
            } else {
                write_string(out, text);
            }
        }
        CellKind::Float => {
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
        CellKind::Boolean => match text {
            "true" | "false" => out.push_str(text),
            _ => return Err(bad()),
        },
        CellKind::Timestamp => {
            let micros = timestamp_from_text(text).ok_or_else(bad)?;
            out.push('"');
            write_rfc3339(out, micros);
            out.push('"');
        }
        CellKind::Json => {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| bad())?;
            out.push_str(text.trim());
        }
        // A RECORD's text is refused before it gets here.
        CellKind::Text | CellKind::Record => write_string(out, text),
    }
    Ok(())
}

/// A string this long gets room of its own in the value.
const LARGE_STRING: usize = 16 * 1024;

/// Room a value keeps after a large string for the rest of its row.
const ROW_REST: usize = 1024;

/// Makes room in a value for a string literal of `len` bytes, when it is a
/// large one, and for the rest of the row: left to grow by doubling, a
/// value holding a 20 MiB string would take 40 MiB, and 60 MiB while it
/// moved.
pub(crate) fn room_for_string(out: &mut String, len: usize) {
    if len >= LARGE_STRING {
        out.reserve(len + 2 + ROW_REST);
    }
}

/// Writes `text` as a JSON string literal.
pub(crate) fn write_string(out: &mut String, text: &str) {
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let escapes = text.bytes().any(needs_escape);
    room_for_string(out, text.len() + if escapes { text.len() / 8 } else { 0 });
    out.push('"');
    if !escapes {
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

/// `useInt64Timestamp` gives integer microseconds; without it BigQuery sends
/// float seconds such as `1.767225600123456E9`, which loses nothing at µs
/// precision for present-day dates once rounded. A time outside BigQuery's
/// TIMESTAMP range (years 1 to 9999) is not a timestamp.
pub(crate) fn timestamp_from_text(text: &str) -> Option<Micros> {
    let micros = match text.parse::<i64>() {
        Ok(micros) => micros,
        Err(_) => {
            let seconds: f64 = text.parse().ok()?;
            let micros = seconds * MICROS_PER_SECOND as f64;
            if !micros.is_finite() || micros.abs() > END_OF_TIME as f64 {
                return None;
            }
            micros.round() as Micros
        }
    };
    in_range(micros).then_some(micros)
}
