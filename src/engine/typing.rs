//! Decoding BigQuery's `f`/`v` rows into typed JSON, driven by the schema.
//!
//! The REST API sends every scalar as a string (`{"v":"42"}`), nests RECORDs
//! as `{"f":[…]}` and REPEATED fields as `[{"v":…}]`. The KV value must carry
//! real JSON types, so each cell is converted by its schema type:
//! INT64 → number when exactly representable in a double (|n| ≤ 2^53), else a
//! string, so no reader silently gets a rounded id; NUMERIC/BIGNUMERIC stay
//! strings for the same reason; TIMESTAMP (int64 µs with
//! `useInt64Timestamp`, or float seconds without) → RFC 3339; JSON → parsed.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::time::{to_rfc3339, Micros, MICROS_PER_SECOND};

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

/// One source row, split into the reserved columns and the value's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedRow {
    pub key: Option<String>,
    pub updated_at: Option<Micros>,
    pub deleted: bool,
    pub fields: Map<String, Value>,
}

/// Decodes one `{"f":[…]}` row against the top-level schema.
pub fn decode_row(schema: &Schema, row: &Value) -> Result<DecodedRow, DecodeError> {
    let cells = cells_of(row)?;
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
        fields: Map::with_capacity(cells.len()),
    };
    for (field, cell) in schema.fields.iter().zip(cells) {
        let raw = cell_value(cell);
        match field.name.as_str() {
            "key" => out.key = scalar_text(raw).map(str::to_owned),
            "updated_at" => {
                out.updated_at = match raw {
                    Value::Null => None,
                    v => Some(timestamp_micros(v).map_err(|e| in_field("updated_at", e))?),
                }
            }
            "deleted" => out.deleted = scalar_text(raw) == Some("true"),
            name => {
                let v = decode_field(field, raw).map_err(|e| in_field(name, e))?;
                out.fields.insert(name.to_owned(), v);
            }
        }
    }
    Ok(out)
}

fn in_field(name: &str, e: DecodeError) -> DecodeError {
    DecodeError(format!("column `{name}`: {}", e.0))
}

fn cells_of(row: &Value) -> Result<&Vec<Value>, DecodeError> {
    row.get("f")
        .and_then(Value::as_array)
        .ok_or_else(|| DecodeError("row is not an {\"f\":[…]} object".into()))
}

fn cell_value(cell: &Value) -> &Value {
    cell.get("v").unwrap_or(&Value::Null)
}

fn scalar_text(v: &Value) -> Option<&str> {
    v.as_str()
}

fn decode_field(field: &Field, raw: &Value) -> Result<Value, DecodeError> {
    if raw.is_null() {
        return Ok(if field.repeated() {
            Value::Array(Vec::new())
        } else {
            Value::Null
        });
    }
    if field.repeated() {
        let items = raw
            .as_array()
            .ok_or_else(|| DecodeError("REPEATED value is not an array".into()))?;
        return items
            .iter()
            .map(|item| decode_scalar(field, cell_value(item)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    decode_scalar(field, raw)
}

fn decode_scalar(field: &Field, raw: &Value) -> Result<Value, DecodeError> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    match field.kind.as_str() {
        "RECORD" | "STRUCT" => {
            let cells = cells_of(raw)?;
            let mut object = Map::with_capacity(field.fields.len());
            for (sub, cell) in field.fields.iter().zip(cells) {
                let v = decode_field(sub, cell_value(cell)).map_err(|e| in_field(&sub.name, e))?;
                object.insert(sub.name.clone(), v);
            }
            Ok(Value::Object(object))
        }
        kind => {
            let text = raw
                .as_str()
                .ok_or_else(|| DecodeError(format!("{kind} value is not a string: {raw}")))?;
            decode_text(kind, text)
        }
    }
}

fn decode_text(kind: &str, text: &str) -> Result<Value, DecodeError> {
    let bad = || DecodeError(format!("{text:?} is not a valid {kind}"));
    Ok(match kind {
        "INTEGER" | "INT64" => {
            let n: i64 = text.parse().map_err(|_| bad())?;
            if n.abs() <= MAX_EXACT_INT {
                Value::Number(n.into())
            } else {
                Value::String(text.to_owned())
            }
        }
        "FLOAT" | "FLOAT64" => {
            let f: f64 = text.parse().map_err(|_| bad())?;
            // JSON has no NaN or infinity: keep BigQuery's spelling.
            Number::from_f64(f).map_or_else(|| Value::String(text.to_owned()), Value::Number)
        }
        "BOOLEAN" | "BOOL" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        "TIMESTAMP" => Value::String(to_rfc3339(timestamp_from_text(text).ok_or_else(bad)?)),
        "JSON" => serde_json::from_str(text).map_err(|_| bad())?,
        // STRING, BYTES (base64), NUMERIC, BIGNUMERIC, DATE, DATETIME, TIME,
        // GEOGRAPHY, INTERVAL, RANGE: BigQuery's own text is the right JSON.
        _ => Value::String(text.to_owned()),
    })
}

fn timestamp_micros(raw: &Value) -> Result<Micros, DecodeError> {
    raw.as_str()
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
