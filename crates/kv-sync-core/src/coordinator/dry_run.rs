//! `POST /sync-kv-now?dry_run=true`: one invocation of the run that would
//! start now, read and planned by the real engine against the real source,
//! with KV and the store replaced by stand-ins that only record. Nothing is
//! written, no cursor moves, no lease is taken (nothing is written that a
//! lease would guard).

use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::coordinator::policy::decide::start_run;
use crate::coordinator::policy::lease::RunLease;
use crate::coordinator::policy::reply::Reply;
use crate::coordinator::policy::status::Trigger;
use crate::engine::error::StoreError;
use crate::engine::progress::RunMode;
use crate::engine::progress::RunProgress;
use crate::engine::recording::{Plan, PlannedOp, ReadOnlyStore, RecordingKv};
use crate::engine::run::{Engine, Outcome, Ports, Report};
use crate::engine::time::{to_rfc3339, Micros};
use crate::runtime::Runtime;
use crate::store::sql::Sql;
use serde::Serialize;

#[derive(Serialize)]
struct DryRunAnswer {
    success: bool,
    dry_run: bool,
    message: String,
    timestamp: String,
    /// `false` when the invocation budget ran out before the whole window
    /// was planned: the plan covers `rows_read` rows.
    complete: bool,
    full: bool,
    reason: Option<String>,
    since: String,
    plan: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl DryRunAnswer {
    fn new(
        report: &Report,
        sample: Vec<PlannedOp>,
        full: bool,
        reason: Option<String>,
        since: Micros,
        now: Micros,
    ) -> Self {
        let error = match &report.outcome {
            Outcome::Failed(e) => Some(e.to_string()),
            _ => None,
        };
        let complete = report.outcome == Outcome::Completed;
        let plan = Plan::new(&report.progress.counters, sample);
        let message = match (&error, complete) {
            (Some(_), _) => "Dry run failed; nothing was written".to_string(),
            (None, true) => format!("Dry run: {} rows read and planned; nothing was written", plan.rows_read),
            (None, false) => format!(
                "Dry run: only the first {} rows were planned within the invocation budget; nothing was written",
                plan.rows_read
            ),
        };
        DryRunAnswer {
            success: error.is_none(),
            dry_run: true,
            message,
            timestamp: to_rfc3339(now),
            complete,
            full,
            reason,
            since: to_rfc3339(since),
            plan,
            error,
        }
    }
}

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    pub(super) async fn dry_run(&self, request: RunMode) -> Result<Reply, StoreError> {
        let now = self.runtime.now();
        let state = self.store.state()?;
        let settings = self.settings();
        let start = start_run(&state, Trigger::Webhook, request, now, settings.sync());
        let limits = self.run_limits(&settings);
        let cx = self.context(&settings);
        let (mut warehouse, _) = match self.connection.open(cx, now + limits.budget) {
            Ok(opened) => opened,
            Err(e) => return Ok(Reply::error(502, &e.to_string())),
        };
        let real = &self.store;
        let mut store = ReadOnlyStore::new(&real);
        let mut kv = RecordingKv::default();
        let ports = Ports {
            warehouse: &mut warehouse,
            sink: &mut kv,
            store: &mut store,
            clock: &self.runtime,
        };
        let spec = settings.run_spec(&limits);
        // The plan is the next run's: its id and fence, neither stored (the
        // read-only store keeps every checkpoint in memory).
        let run_id = self.store.next_run_id()?;
        let fence = RunLease::next_fence(state.lease.as_ref());
        let report = Engine::new(ports, spec, fence)
            .run_invocation(RunProgress::new(run_id, start.since, start.mode, now))
            .await;
        self.connection.close(cx, &warehouse);
        let answer = DryRunAnswer::new(
            &report,
            kv.sample,
            start.mode.full,
            start.reason,
            start.since,
            now,
        );
        Ok(Reply::json(if answer.success { 200 } else { 502 }, &answer))
    }
}
