//! What the coordinator answers and logs about a run: the webhook's JSON
//! (SPEC "Routes") and the structured log lines `wrangler tail` shows.
//! Typed, so each shape is written once.

use crate::store::sql::RowCount;
use serde::Serialize;

use super::settle::RunEnd;
use super::status::{RunRecord, RunView};
use crate::engine::kv_path::KvPath;
use crate::engine::run::TimeSpent;
use crate::engine::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};

/// An HTTP answer: status and JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, body: &T) -> Reply {
        Reply {
            status,
            body: serde_json::to_string(body)
                .unwrap_or_else(|e| format!("{{\"success\":false,\"error\":\"{e}\"}}")),
        }
    }

    /// `{"success": false, "error": …}`.
    pub fn error(status: u16, error: &str) -> Reply {
        Reply::json(
            status,
            &Answer {
                success: false,
                error: Some(error),
                ..Answer::default()
            },
        )
    }
}

/// The webhook's answer (all routes share its `success`/`error` envelope).
#[derive(Debug, Default, Serialize)]
pub struct Answer<'a> {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<bool>,
}

fn about_run<'a>(
    message: &'static str,
    run: &RunRecord,
    now: Micros,
    timestamp: &'a str,
) -> Answer<'a> {
    Answer {
        success: true,
        message: Some(message),
        timestamp: Some(timestamp),
        run: Some(run.view(now)),
        ..Answer::default()
    }
}

/// The webhook's answer once an invocation of `run` ended this way.
pub fn after_invocation(end: &RunEnd, run: &RunRecord, now: Micros, timestamp: &str) -> Reply {
    match end {
        RunEnd::Completed(_) => {
            Reply::json(200, &about_run("KV sync completed", run, now, timestamp))
        }
        RunEnd::Paused(_) => started(run, now, timestamp),
        RunEnd::LeaseLost => Reply::json(
            202,
            &Answer {
                queued: Some(false),
                ..about_run("KV sync already running", run, now, timestamp)
            },
        ),
        RunEnd::Failed { .. } => Reply::json(
            502,
            &Answer {
                success: false,
                error: run.error.as_deref(),
                ..about_run("KV sync failed; it will be retried", run, now, timestamp)
            },
        ),
    }
}

/// A run started and goes on in the background.
pub fn started(run: &RunRecord, now: Micros, timestamp: &str) -> Reply {
    Reply::json(
        202,
        &about_run(
            "KV sync started; continuing in background",
            run,
            now,
            timestamp,
        ),
    )
}

/// A run was asked for while `run` works: one follow-up is queued.
pub fn queued(run: &RunRecord, now: Micros, timestamp: &str) -> Reply {
    Reply::json(
        202,
        &Answer {
            queued: Some(true),
            ..about_run("KV sync already running", run, now, timestamp)
        },
    )
}

/// Where an invocation's time went, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TimeLog {
    pub invocation_ms: Micros,
    pub bigquery_ms: Micros,
    pub kv_ms: Micros,
}

impl TimeLog {
    pub fn new(invocation: Micros, spent: &TimeSpent) -> Self {
        TimeLog {
            invocation_ms: invocation / MICROS_PER_MILLI,
            bigquery_ms: spent.warehouse / MICROS_PER_MILLI,
            kv_ms: spent.kv / MICROS_PER_MILLI,
        }
    }
}

/// The log line that says how an invocation of a run ended.
#[derive(Debug, Serialize)]
pub struct EndLog<'a> {
    pub event: &'static str,
    pub run: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocations: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub counters: Option<&'a crate::engine::progress::RunCounters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_seconds: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeLog>,
    /// Which way the run writes to KV, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_path: Option<KvPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_path_reason: Option<&'a str>,
    /// The size of the wasm memory after the invocation: it never shrinks,
    /// so this is the invocation's high-water mark (and the isolate's so
    /// far), to be kept well under the isolate's 128 MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm_memory_bytes: Option<u64>,
    /// The storage rows this invocation read and wrote (Durable Objects
    /// bill rows written), up to the line itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_rows: Option<RowCount>,
}

/// The log line for how an invocation of `run` ended.
pub fn log_line<'a>(
    end: &'a RunEnd,
    run: &'a RunRecord,
    wake_at: Option<Micros>,
    now: Micros,
    time: TimeLog,
) -> EndLog<'a> {
    let base = EndLog {
        event: "",
        run: run.id,
        reason: None,
        invocations: None,
        counters: None,
        total_rows: None,
        seconds: None,
        error: None,
        error_class: None,
        consecutive_failures: None,
        retry_in_seconds: None,
        time: Some(time),
        kv_path: run.kv_path,
        kv_path_reason: run.kv_path_reason.as_deref(),
        wasm_memory_bytes: None,
        storage_rows: None,
    };
    match end {
        RunEnd::Completed(_) => EndLog {
            event: "run_completed",
            invocations: Some(run.invocations),
            counters: Some(&run.counters),
            seconds: Some((now - run.started_at) as f64 / MICROS_PER_SECOND as f64),
            ..base
        },
        RunEnd::Paused(pause) => EndLog {
            event: "run_paused",
            reason: Some(format!("{pause:?}")),
            counters: Some(&run.counters),
            total_rows: run.total_rows,
            ..base
        },
        RunEnd::Failed {
            consecutive_failures,
            ..
        } => EndLog {
            event: "run_failed",
            error: run.error.as_deref(),
            error_class: run.error_class.as_deref(),
            consecutive_failures: Some(*consecutive_failures),
            retry_in_seconds: Some(wake_at.map_or(0, |at| (at - now) / MICROS_PER_SECOND)),
            ..base
        },
        RunEnd::LeaseLost => EndLog {
            event: "run_lease_lost",
            time: None,
            ..base
        },
    }
}
