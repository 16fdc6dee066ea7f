//! Builds the Status object of `GET /status` from the coordinator's storage.

use worker::{Response, Result};

use super::{json_response, now, store_error, SyncCoordinator};
use crate::engine::status::{CursorView, FailedRowView, FailedRows, RunStatus, State, Status};
use crate::engine::time::{to_rfc3339, MICROS_PER_SECOND};

const RECENT_RUNS: u32 = 20;
const RECENT_FAILED_ROWS: u32 = 20;

impl SyncCoordinator {
    pub(super) async fn status(&self) -> Result<Response> {
        let at = now();
        let state = self.store.state().map_err(store_error)?;
        let runs = self.store.recent_runs(RECENT_RUNS).map_err(store_error)?;
        let (failed_count, failed) = self
            .store
            .failed_rows(RECENT_FAILED_ROWS)
            .map_err(store_error)?;
        let cursor = state.cursor();
        let current_run = match state.active_run_id {
            Some(id) => Some(self.store.run(id as u64).map_err(store_error)?.view(at)),
            None => None,
        };
        let last_run = runs.iter().find(|r| r.status != RunStatus::Running);
        let status = Status {
            state: if current_run.is_some() {
                State::Running
            } else if state.consecutive_failures > 0 {
                State::Failing
            } else {
                State::Idle
            },
            lag_seconds: cursor
                .as_ref()
                .map(|c| ((at - c.updated_at) as f64 / MICROS_PER_SECOND as f64).max(0.0)),
            cursor: CursorView {
                updated_at: cursor.as_ref().map(|c| to_rfc3339(c.updated_at)),
                key: cursor.map(|c| c.key),
            },
            interval_seconds: (self.interval() / MICROS_PER_SECOND) as u64,
            next_alarm_at: self.next_alarm().await?.map(to_rfc3339),
            queued: state.queued != 0,
            current_run,
            last_error: runs
                .iter()
                .find(|r| r.status == RunStatus::Failed)
                .filter(|_| state.consecutive_failures > 0)
                .and_then(|r| r.error.clone()),
            last_run: last_run.map(|r| r.view(at)),
            recent_runs: runs.iter().map(|r| r.view(at)).collect(),
            failed_rows: FailedRows {
                count: failed_count,
                recent: failed
                    .into_iter()
                    .map(|f| FailedRowView {
                        key: f.key,
                        reason: f.reason,
                        at: to_rfc3339(f.at),
                    })
                    .collect(),
            },
            totals: state.totals(),
            consecutive_failures: state.consecutive_failures as u32,
            now: to_rfc3339(at),
        };
        json_response(
            200,
            &serde_json::to_value(status).map_err(|e| worker::Error::RustError(e.to_string()))?,
        )
    }
}
