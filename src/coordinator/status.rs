//! `GET /status`: the stored facts, put together by
//! `coordination::status::status`.

use worker::{Response, Result};

use super::{json_response, SyncCoordinator};
use crate::coordination::reply::Reply;
use crate::coordination::status::{status, FailedRowView, StatusFacts};
use crate::engine::time::to_rfc3339;
use crate::runtime::Runtime;

const RECENT_RUNS: u32 = 20;
const RECENT_FAILED_ROWS: u32 = 20;

impl SyncCoordinator {
    pub(super) async fn status(&self) -> Result<Response> {
        let now = self.runtime.now();
        let state = self.store.state()?;
        let runs = self.store.recent_runs(RECENT_RUNS)?;
        let failed = self.store.recent_failures(RECENT_FAILED_ROWS)?;
        let current = match state.active_run {
            Some(id) => Some(self.store.run(id)?),
            None => None,
        };
        let facts = StatusFacts {
            state: &state,
            recent_runs: &runs,
            current_run: current.as_ref(),
            failed_recent: failed
                .into_iter()
                .map(|f| FailedRowView {
                    key: f.key,
                    reason: f.reason,
                    at: to_rfc3339(f.at),
                })
                .collect(),
            next_alarm_at: self.next_alarm().await?,
            interval_seconds: self.settings.sync().interval_seconds,
            now,
        };
        json_response(Reply::json(200, &status(facts)))
    }
}
