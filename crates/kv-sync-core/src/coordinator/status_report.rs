//! `GET /status`: the stored facts, put together by
//! `coordination::status::status`.

use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::coordinator::policy::cost::CostView;
use crate::coordinator::policy::decide::full_read_due;
use crate::coordinator::policy::reply::Reply;
use crate::coordinator::policy::status::{status, AlertsView, FailedRowView, StatusFacts};
use crate::engine::error::StoreError;
use crate::engine::time::to_rfc3339;
use crate::runtime::Runtime;
use crate::store::sql::Sql;

const RECENT_RUNS: u32 = 20;
const RECENT_FAILED_ROWS: u32 = 20;

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    pub(super) async fn status(&self) -> Result<Reply, StoreError> {
        let now = self.runtime.now();
        let settings = self.settings();
        let config = settings.sync();
        let state = self.store.state()?;
        let runs = self.store.recent_runs(RECENT_RUNS)?;
        let failed = self.store.recent_failures(RECENT_FAILED_ROWS)?;
        let current = match state.active_run {
            Some(id) => Some(self.store.run(id)?),
            None => None,
        };
        let facts = StatusFacts {
            sync: &settings.name,
            config_error: settings.run().err().map(|e| e.to_string()),
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
            next_alarm_at: self.store.sql().alarm_at().await?,
            interval_seconds: config.interval_seconds,
            storage_bytes: self.store.sql().database_size(),
            push: self.store.push_counters()?,
            cost: CostView::of(self.store.cost_last_24h(now)?),
            next_run_full_reason: full_read_due(&state, now, config),
            alerts: AlertsView {
                configured: settings.run().is_ok_and(|s| s.alert_url.is_some()),
                after_failures: config.alert_after_failures,
                staleness_seconds: config.alert_staleness_seconds,
                pending: self.store.pending_alerts()?.len() as u64,
                ..AlertsView::default()
            },
            now,
        };
        Ok(Reply::json(200, &status(facts)))
    }
}
