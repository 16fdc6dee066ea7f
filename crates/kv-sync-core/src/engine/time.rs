//! Timestamps as the engine sees them: microseconds since the Unix epoch.
//!
//! BigQuery TIMESTAMPs have microsecond precision, and the cursor must keep
//! all of it: a cursor rounded to milliseconds or seconds skips or repeats the
//! rows that share the rounded value. `i64` microseconds cover years 1 to 9999
//! and stay below 2^53, so they cross into JavaScript and SQLite exactly.

use chrono::{DateTime, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MILLI: i64 = 1_000;

/// BigQuery's smallest TIMESTAMP, 0001-01-01T00:00:00Z: the `@since` of a run
/// that must read the whole source.
pub const BEGINNING_OF_TIME: Micros = -62_135_596_800 * MICROS_PER_SECOND;

/// BigQuery's largest TIMESTAMP, 9999-12-31T23:59:59.999999Z.
pub const END_OF_TIME: Micros = 253_402_300_799_999_999;

/// Whether `micros` is a TIMESTAMP BigQuery (and RFC 3339) can hold.
pub fn in_range(micros: Micros) -> bool {
    (BEGINNING_OF_TIME..=END_OF_TIME).contains(&micros)
}

/// Formats as RFC 3339 with exactly six fractional digits and `Z`, the form
/// BigQuery accepts for TIMESTAMP query parameters and users read in `/status`.
pub fn to_rfc3339(micros: Micros) -> String {
    let mut out = String::with_capacity(27);
    write_rfc3339(&mut out, micros);
    out
}

/// Appends `to_rfc3339(micros)` to `out`. Every row of a sync formats
/// timestamps, so this writes digits directly instead of going through a
/// general date formatter (years 0001–9999, BigQuery's TIMESTAMP range).
pub fn write_rfc3339(out: &mut String, micros: Micros) {
    if !in_range(micros) {
        out.push_str(&format!("invalid timestamp ({micros} µs)"));
        return;
    }
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for slot in text[at..at + width].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, second_of_day / 3_600);
    put(14, 2, second_of_day / 60 % 60);
    put(17, 2, second_of_day % 60);
    put(20, 6, fraction);
    out.push_str(std::str::from_utf8(&text).expect("ASCII digits"));
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    use chrono::SecondsFormat;

    #[test]
    fn round_trips_microseconds() {
        let t = 1_767_225_600_123_456;
        assert_eq!(to_rfc3339(t), "2026-01-01T00:00:00.123456Z");
        assert_eq!(parse_rfc3339(&to_rfc3339(t)), Some(t));
        assert_eq!(to_rfc3339(BEGINNING_OF_TIME), "0001-01-01T00:00:00.000000Z");
        assert_eq!(to_rfc3339(END_OF_TIME), "9999-12-31T23:59:59.999999Z");
        assert_eq!(to_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn agrees_with_chrono_across_the_calendar() {
        let mut t = BEGINNING_OF_TIME;
        let step = 7_777_777_777_777; // about 90 days, never aligned
        while t <= END_OF_TIME {
            let expected = DateTime::<Utc>::from_timestamp_micros(t)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(to_rfc3339(t), expected, "{t}");
            t += step;
        }
    }
}
