//! One invocation of the active run: take the lease, arm the dead man's
//! alarm, drive the engine, then carry out how `policy::settle` says it
//! ends (store, log, alarm, alerts).

use super::policy::reply::{self, Reply};
use super::policy::settle::{settle, RunEnd};
use super::policy::status::RunRecord;
use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::engine::error::StoreError;
use crate::engine::limits::RunLimits;
use crate::engine::ports::{KvSink, Warehouse};
use crate::engine::progress::RunProgress;
use crate::engine::run::{Engine, Outcome, Ports, Report, RunSpec, TimeSpent};
use crate::engine::time::Micros;
use crate::runtime::Runtime;
use crate::store::sql::{RowCount, Sql};
use crate::store::Store;

/// How an invocation ended, for the webhook's answer.
pub(super) struct Ended {
    end: RunEnd,
    run: RunRecord,
    at: Micros,
}

impl Ended {
    pub(super) fn with_timestamp(&self, timestamp: &str) -> Reply {
        reply::after_invocation(&self.end, &self.run, self.at, timestamp)
    }
}

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    /// Works on run `run_id` for one invocation.
    pub(super) async fn invoke(&self, run_id: u64) -> Result<Ended, StoreError> {
        let started = self.runtime.now();
        let rows_before = self.store.sql().rows_counted();
        let settings = self.settings();
        let limits = self.run_limits(&settings);
        let Ok(lease) = self
            .store
            .acquire_lease(run_id, started, limits.lease_ttl)?
        else {
            return Ok(Ended {
                end: RunEnd::LeaseLost,
                run: self.store.run(run_id)?,
                at: started,
            });
        };
        // The dead man's switch: if this invocation dies, the alarm takes
        // the run over once the lease lapses.
        self.arm(lease.expires_at).await?;
        let progress = self.store.progress(run_id)?;
        // Only a run that rewrites every value can retire a key prefix.
        let retired = if progress.mode.rewrite {
            self.store.retired_prefixes(run_id)?
        } else {
            Vec::new()
        };
        let cx = self.context(&settings);
        let report = match self.connection.open(cx, started + limits.budget) {
            Ok((mut warehouse, mut sink)) => {
                let ports = Ports {
                    warehouse: &mut warehouse,
                    sink: &mut sink,
                    store: &mut &self.store,
                    clock: &self.runtime,
                };
                let mut report = self
                    .run_engine(ports, &limits, lease.fence, &retired, progress)
                    .await;
                report.progress.spend.kv_bulk_requests += sink.bulk_requests();
                self.keep_result_schema(&warehouse);
                self.connection.close(cx, &warehouse);
                report
            }
            Err(error) => Report {
                progress: RunProgress {
                    invocations: progress.invocations + 1,
                    ..progress
                },
                outcome: Outcome::Failed(error),
                time_spent: TimeSpent::default(),
                read_ahead: None,
            },
        };
        self.carry_out(report, lease.fence, started, rows_before)
            .await
    }

    async fn run_engine<W: Warehouse, K: KvSink>(
        &self,
        ports: Ports<'_, W, K, &Store<S>, R>,
        limits: &RunLimits,
        fence: u64,
        retired: &[String],
        progress: RunProgress,
    ) -> Report {
        if progress.invocations > 0 {
            self.runtime.log(
                &serde_json::json!({"event": "run_continued", "run": progress.run_id,
                "invocation": progress.invocations + 1, "rows_read": progress.counters.rows_read,
                "total_rows": progress.total_rows}),
            );
        }
        let settings = self.settings();
        let spec = RunSpec {
            retired_prefixes: retired,
            ..settings.run_spec(limits)
        };
        let mut report = Engine::new(ports, spec, fence)
            .with_read_ahead(self.read_ahead.take())
            .run_invocation(progress)
            .await;
        self.read_ahead.replace(report.read_ahead.take());
        report
    }

    /// Stores, logs and arms what the settlement of `report` says.
    async fn carry_out(
        &self,
        report: Report,
        fence: u64,
        started: Micros,
        rows_before: RowCount,
    ) -> Result<Ended, StoreError> {
        let state = self.store.state()?;
        let now = self.runtime.now();
        let settlement = settle(
            &report.outcome,
            &report.progress,
            &state,
            now,
            self.settings().sync(),
        );
        // The invocation's storage rows, up to the statements that record
        // its end (which cannot count themselves).
        let rows = self.store.sql().rows_counted() - rows_before;
        let mut progress = report.progress;
        progress.spend.storage_rows_read += rows.read;
        progress.spend.storage_rows_written += rows.written;
        let progress = &progress;
        self.store.record_end(fence, progress, &settlement, now)?;
        let run = self.store.run(progress.run_id)?;
        let time = reply::TimeLog::new(now - started, &report.time_spent);
        let mut line = reply::log_line(&settlement.end, &run, settlement.wake_at, now, time);
        line.wasm_memory_bytes = self.runtime.memory_bytes();
        // What this invocation's own statements cost in storage rows.
        line.storage_rows = Some(self.store.sql().rows_counted() - rows_before);
        self.runtime.log(&line);
        if let Some(at) = settlement.wake_at {
            self.arm(at).await?;
        }
        self.alert_after_run(&settlement.end, &run).await;
        Ok(Ended {
            end: settlement.end,
            run,
            at: now,
        })
    }
}
