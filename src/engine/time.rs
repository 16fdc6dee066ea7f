//! Timestamps as the engine sees them: microseconds since the Unix epoch.
//!
//! BigQuery TIMESTAMPs have microsecond precision, and the cursor must keep
//! all of it: a cursor rounded to milliseconds or seconds skips or repeats the
//! rows that share the rounded value. `i64` microseconds cover years 1 to 9999
//! and stay below 2^53, so they cross into JavaScript and SQLite exactly.

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MILLI: i64 = 1_000;

/// BigQuery's smallest TIMESTAMP, 0001-01-01T00:00:00Z: the `@since` of a run
/// that must read the whole source.
pub const BEGINNING_OF_TIME: Micros = -62_135_596_800 * MICROS_PER_SECOND;

/// Formats as RFC 3339 with exactly six fractional digits and `Z`, the form
/// BigQuery accepts for TIMESTAMP query parameters and users read in `/status`.
pub fn to_rfc3339(micros: Micros) -> String {
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        None => format!("invalid timestamp ({micros} µs)"),
    }
}

/// Parses RFC 3339 (any fractional precision, any offset) into microseconds.
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_microseconds() {
        let t = 1_767_225_600_123_456;
        assert_eq!(to_rfc3339(t), "2026-01-01T00:00:00.123456Z");
        assert_eq!(parse_rfc3339(&to_rfc3339(t)), Some(t));
        assert_eq!(to_rfc3339(BEGINNING_OF_TIME), "0001-01-01T00:00:00.000000Z");
    }
}
