//! What starts work: the alarm (continue the run in progress, start a due
//! one, or sleep) and the webhook (start a run now, or queue a follow-up
//! behind the one in progress).

use serde_json::json;

use super::policy::decide::{on_alarm, on_webhook, AlarmAction, RunStart, WebhookAction};
use super::policy::reply::{self, Reply};
use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::engine::error::StoreError;
use crate::engine::progress::RunMode;
use crate::engine::time::to_rfc3339;
use crate::runtime::Runtime;
use crate::store::sql::Sql;

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    /// Records a new run (emptying the follow-up queue when it is the
    /// follow-up) and logs its start.
    fn begin(&self, start: &RunStart) -> Result<u64, StoreError> {
        let progress = self.store.create_run(start, self.runtime.now())?;
        self.runtime.log(
            &json!({"event": "run_started", "run": progress.run_id, "trigger": start.trigger,
                    "since": to_rfc3339(start.since), "full": start.mode.full,
                    "rewrite": start.mode.rewrite, "reason": start.reason}),
        );
        Ok(progress.run_id)
    }

    pub(super) async fn on_alarm(&self) -> Result<(), StoreError> {
        self.alert_on_alarm().await;
        let state = self.store.state()?;
        let now = self.runtime.now();
        match on_alarm(&state, now, self.settings().sync()) {
            AlarmAction::Sleep { until } | AlarmAction::WaitForLease { until } => {
                self.arm(until).await
            }
            AlarmAction::Continue { run_id } => self.invoke(run_id).await.map(drop),
            AlarmAction::Start(start) => {
                let run_id = self.begin(&start)?;
                self.invoke(run_id).await.map(drop)
            }
        }
    }

    /// `POST /sync-kv-now`: with `wait`, works on the run inside the
    /// request and answers how it went; without, answers at once and lets
    /// the alarm work.
    pub(super) async fn sync_now(&self, wait: bool, mode: RunMode) -> Result<Reply, StoreError> {
        let now = self.runtime.now();
        let timestamp = to_rfc3339(now);
        let state = self.store.state()?;
        match on_webhook(&state, mode, now, self.settings().sync()) {
            WebhookAction::Queue(follow_up) => {
                self.store.queue_follow_up(follow_up)?;
                let run_id = state.active_run.unwrap_or_default();
                let run = self.store.run(run_id)?;
                self.runtime
                    .log(&json!({"event": "run_queued", "behind": run_id, "full": follow_up.full}));
                Ok(reply::queued(&run, now, &timestamp))
            }
            WebhookAction::Start(start) => {
                let run_id = self.begin(&start)?;
                if !wait {
                    self.arm(now).await?;
                    let run = self.store.run(run_id)?;
                    return Ok(reply::started(&run, now, &timestamp));
                }
                Ok(self.invoke(run_id).await?.with_timestamp(&timestamp))
            }
        }
    }
}
