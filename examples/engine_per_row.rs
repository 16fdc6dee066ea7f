//! Benchmark D: the engine's CPU per row, natively: a BigQuery result page
//! as JSON text → f/v decoding → typing → content hash → serialised value.
//! Prints one line: `engine_per_row_us <µs> parse_us <µs of it spent parsing
//! the page JSON> rows <n>`.
//!
//! Run with `cargo run --release --example engine_per_row [rows]`.

use std::time::Instant;

use kv_sync::engine::record::to_record;
use kv_sync::engine::row::Row;
use kv_sync::engine::typing::{decode_row, Schema};

/// The parts of a getQueryResults answer the engine reads, parsed the way
/// the BigQuery adapter parses them.
#[derive(serde::Deserialize)]
struct Page {
    schema: Schema,
    rows: Vec<Row>,
}
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

fn page(rows: usize) -> String {
    let fields: Vec<Value> = COLUMNS
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t, "mode": "NULLABLE"}))
        .collect();
    let rows: Vec<Value> = (0..rows)
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
    json!({"jobComplete": true, "schema": {"fields": fields}, "rows": rows, "totalRows": rows.len().to_string()}).to_string()
}

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let text = page(rows);
    let mut best = f64::MAX;
    let mut best_parse = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let body: Page = serde_json::from_str(&text).expect("page parses");
        best_parse = best_parse.min(start.elapsed().as_secs_f64());
        drop(std::hint::black_box(body));
    }
    for _ in 0..5 {
        let start = Instant::now();
        let body: Page = serde_json::from_str(&text).expect("page parses");
        let mut bytes = 0usize;
        let schema = &body.schema;
        for raw in &body.rows {
            let record =
                to_record(decode_row(schema, raw).expect("row decodes")).expect("row is valid");
            bytes += record.key().len() + record.hash.0 as usize % 2;
        }
        std::hint::black_box(bytes);
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per_row = |seconds: f64| seconds * 1e6 / rows as f64;
    println!(
        "engine_per_row_us {:.3} parse_us {:.3} rows {rows}",
        per_row(best),
        per_row(best_parse)
    );
}
