//! Benchmark D: the engine's CPU per row, natively: a getQueryResults answer
//! as JSON text → f/v decoding → typing → serialised value (the BigQuery
//! adapter's `parse_response`) → KV limits and content hash (the engine's
//! `check`), through the same functions a run calls.
//! Rows come in pages of the default `BIGQUERY_PAGE_ROWS`, as the Worker
//! reads them. Prints one line: `engine_per_row_us <µs> json_scan_us <µs> rows <n>`,
//! where the second figure is the floor: serde_json skimming the same text
//! without building anything.
//!
//! Run with `cargo run --release --example engine_per_row [rows]`.

use std::time::Instant;

use kv_sync_core::bigquery::wire::{parse_response, Call};
use kv_sync_core::engine::record::check;
use serde_json::{json, Value};

/// The default query's output columns and types.
const COLUMNS: &[(&str, &str)] = &[
    ("key", "STRING"),
    ("updated_at", "TIMESTAMP"),
    ("person_name", "STRING"),
    ("email", "STRING"),
    ("company_name", "STRING"),
    ("company_website", "STRING"),
    ("job_title", "STRING"),
    ("seniority", "STRING"),
    ("industry", "STRING"),
    ("company_size", "STRING"),
    ("sessions", "INTEGER"),
    ("pageviews", "INTEGER"),
    ("last_visit_at", "TIMESTAMP"),
    ("pricing_page_visits", "INTEGER"),
    ("demo_page_visits", "INTEGER"),
    ("form_submits", "INTEGER"),
    ("intent_score", "INTEGER"),
    ("engagement_level", "STRING"),
];

/// The default `BIGQUERY_PAGE_ROWS`: the Worker decodes one page of this
/// many rows at a time and drops it before the next.
const PAGE_ROWS: usize = 10_000;

/// One getQueryResults answer holding rows `first..first + rows`.
fn page(first: usize, rows: usize, total: usize) -> String {
    let fields: Vec<Value> = COLUMNS
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t, "mode": "NULLABLE"}))
        .collect();
    let rows_len = rows;
    let rows: Vec<Value> = (first..first + rows)
        .map(|i| {
            let cells: Vec<Value> = COLUMNS
                .iter()
                .map(|(name, kind)| {
                    let v = match (*name, *kind) {
                        ("key", _) => format!("lead-{i:06}"),
                        (_, "TIMESTAMP") => (1_795_869_900_123_456i64 + i as i64).to_string(),
                        (_, "INTEGER") => (i % 97).to_string(),
                        ("email", _) => format!("person.{i}@example-company.com"),
                        _ => format!("{name} value {}", i % 13),
                    };
                    json!({ "v": v })
                })
                .collect();
            json!({ "f": cells })
        })
        .collect();
    // Written by hand to keep BigQuery's member order: schema before rows.
    format!(
        r#"{{"kind":"bigquery#getQueryResultsResponse","jobReference":{{"projectId":"bench","jobId":"job_1","location":"US"}},"jobComplete":true,"schema":{},"rows":{},"totalRows":"{total}","pageToken":"{}"}}"#,
        json!({ "fields": fields }),
        Value::Array(rows),
        first + rows_len,
    )
}

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let pages: Vec<String> = (0..rows)
        .step_by(PAGE_ROWS)
        .map(|first| page(first, PAGE_ROWS.min(rows - first), rows))
        .collect();
    let mut best = f64::MAX;
    let mut best_scan = f64::MAX;
    for _ in 0..10 {
        let start = Instant::now();
        for text in &pages {
            let skimmed: serde::de::IgnoredAny = serde_json::from_str(text).expect("page is JSON");
            std::hint::black_box(skimmed);
        }
        best_scan = best_scan.min(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let mut decoded = 0;
        for text in &pages {
            let page = parse_response(Call::Results, 200, text).expect("page parses");
            for row in page.rows {
                let record = check(row, "").expect("row is valid");
                std::hint::black_box(record.hash);
                decoded += 1;
            }
        }
        assert_eq!(decoded, rows);
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per_row = |seconds: f64| seconds * 1e6 / rows as f64;
    println!(
        "engine_per_row_us {:.3} json_scan_us {:.3} rows {rows}",
        per_row(best),
        per_row(best_scan)
    );
}
