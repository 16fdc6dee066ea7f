//! A BigQuery result row as it arrives: `{"f":[{"v":…},…]}`, parsed straight
//! into cells.
//!
//! Parsing a page into `serde_json::Value` builds a map for every `{"v":…}`
//! cell, several allocations each; a 10,000-row page of 18 columns is then
//! half a million allocations before any real work. These types keep only
//! what a cell holds: nothing, text, a nested record or a repeated list.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One row: its cells in schema order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub Vec<Cell>);

/// One cell's `v`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    /// Every scalar: BigQuery sends numbers, booleans and times as text.
    Text(String),
    /// A RECORD / STRUCT value: `{"f":[…]}`.
    Record(Row),
    /// A REPEATED value: `[{"v":…},…]`.
    Repeated(Vec<Cell>),
}

impl Cell {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Text(t) => write!(f, "{t:?}"),
            Cell::Record(_) => f.write_str("a RECORD"),
            Cell::Repeated(_) => f.write_str("a REPEATED list"),
        }
    }
}

/// The two object keys a row uses; anything else is skipped.
enum Key {
    F,
    V,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "f" => Key::F,
                    "v" => Key::V,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row {\"f\":[…]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                let mut cells = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::F => cells = Some(map.next_value::<Vec<Wrapped>>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let cells = cells.ok_or_else(|| de::Error::missing_field("f"))?;
                Ok(Row(cells.into_iter().map(|w| w.0).collect()))
            }
        }
        d.deserialize_map(RowVisitor)
    }
}

/// A `{"v":…}` wrapper around a cell.
struct Wrapped(Cell);

impl<'de> Deserialize<'de> for Wrapped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct WrappedVisitor;
        impl<'de> Visitor<'de> for WrappedVisitor {
            type Value = Wrapped;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cell {\"v\":…}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wrapped, A::Error> {
                let mut cell = Cell::Null;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::V => cell = map.next_value::<Cell>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Wrapped(cell))
            }
        }
        d.deserialize_map(WrappedVisitor)
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, a string, a record or a list")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Text(v))
            }
            // Not BigQuery's form, but a number or boolean is unambiguous.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(Wrapped(cell)) = seq.next_element::<Wrapped>()? {
                    items.push(cell);
                }
                Ok(Cell::Repeated(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
                Row::deserialize(de::value::MapAccessDeserializer::new(map)).map(Cell::Record)
            }
        }
        d.deserialize_any(CellVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scalars_records_and_lists() {
        let row: Row = serde_json::from_str(
            r#"{"f":[{"v":"a"},{"v":null},{"v":{"f":[{"v":"1"}]}},{"v":[{"v":"x"},{"v":"y"}]},{}]}"#,
        )
        .unwrap();
        assert_eq!(
            row,
            Row(vec![
                Cell::Text("a".into()),
                Cell::Null,
                Cell::Record(Row(vec![Cell::Text("1".into())])),
                Cell::Repeated(vec![Cell::Text("x".into()), Cell::Text("y".into())]),
                Cell::Null,
            ])
        );
        assert!(serde_json::from_str::<Row>(r#"{"g":[]}"#).is_err());
    }
}
