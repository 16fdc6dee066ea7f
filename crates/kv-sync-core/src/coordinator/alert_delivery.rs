//! Raising and delivering alerts (`policy::alerting` decides which).
//! Alerting never fails the sync: every error here is logged and dropped,
//! and an alert that could not be delivered is tried again on later alarms.

use futures::future::{select, Either};
use serde_json::json;

use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::coordinator::policy::alerting::{self, Alert, AlertContext};
use crate::coordinator::policy::settle::RunEnd;
use crate::coordinator::policy::status::RunRecord;
use crate::coordinator::policy::sync_state::{AlertFlags, SyncState};
use crate::engine::error::StoreError;
use crate::engine::time::MICROS_PER_SECOND;
use crate::runtime::{HttpRequest, Method, Runtime};
use crate::store::sql::Sql;

/// How long one delivery may take before it is left for a later alarm.
const DELIVERY_TIMEOUT: i64 = 5 * MICROS_PER_SECOND;

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    fn alert_url(&self) -> Option<String> {
        self.settings().run().ok()?.alert_url.clone()
    }

    fn alert_context<'a>(&self, sync: &'a str, state: &SyncState) -> AlertContext<'a> {
        AlertContext {
            sync,
            last_success_at: state.last_success_at,
            now: self.runtime.now(),
        }
    }

    /// After an invocation ended: raise what it calls for, then deliver.
    pub(super) async fn alert_after_run(&self, end: &RunEnd, run: &RunRecord) {
        if self.alert_url().is_none() {
            return;
        }
        let settings = self.settings();
        let config = settings.sync();
        let raised = self.store.state().and_then(|state| {
            let context = self.alert_context(&settings.name, &state);
            let (mut raised, flags) = alerting::after_run(state.alerted, end, run, context, config);
            let (stale, flags) = alerting::stale(flags, context, config);
            raised.extend(stale);
            self.raise(flags, &raised, state.alerted != flags)
        });
        self.log_failure(raised);
        self.deliver_alerts().await;
    }

    /// On an alarm: a `stale` alert if KV lags too long, then deliveries.
    pub(super) async fn alert_on_alarm(&self) {
        if self.alert_url().is_none() {
            return;
        }
        let settings = self.settings();
        let raised = self.store.state().and_then(|state| {
            let context = self.alert_context(&settings.name, &state);
            let (stale, flags) = alerting::stale(state.alerted, context, settings.sync());
            let raised: Vec<Alert> = stale.into_iter().collect();
            self.raise(flags, &raised, state.alerted != flags)
        });
        self.log_failure(raised);
        self.deliver_alerts().await;
    }

    fn raise(&self, flags: AlertFlags, raised: &[Alert], changed: bool) -> Result<(), StoreError> {
        if raised.is_empty() && !changed {
            return Ok(());
        }
        let queued: Vec<(String, String)> = raised
            .iter()
            .map(|a| {
                let event = serde_json::to_value(a.kv_sync.event).map_or_else(
                    |_| String::new(),
                    |v| v.as_str().unwrap_or_default().to_string(),
                );
                (event, serde_json::to_string(a).unwrap_or_default())
            })
            .collect();
        for (event, _) in &queued {
            self.runtime
                .log(&json!({"event": "alert_raised", "alert": event}));
        }
        self.store.raise_alerts(flags, &queued, self.runtime.now())
    }

    fn log_failure(&self, result: Result<(), StoreError>) {
        if let Err(e) = result {
            self.runtime
                .log(&json!({"event": "alert_error", "error": e.to_string()}));
        }
    }

    /// Posts every pending alert, oldest first; stops at the first that
    /// fails (the receiver is likely down) and leaves the rest for later.
    async fn deliver_alerts(&self) {
        let Some(url) = self.alert_url() else {
            return;
        };
        let pending = match self.store.pending_alerts() {
            Ok(pending) => pending,
            Err(e) => return self.log_failure(Err(e)),
        };
        for alert in pending {
            let send = self.runtime.send(HttpRequest {
                method: Method::Post,
                url: &url,
                headers: &[("Content-Type", "application/json")],
                body: Some(&alert.body),
            });
            let timeout = self.runtime.sleep(DELIVERY_TIMEOUT);
            let status = match select(Box::pin(send), Box::pin(timeout)).await {
                Either::Left((Ok(answer), _)) => Some(answer.status),
                _ => None,
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            self.runtime.log(
                &json!({"event": "alert_delivery", "alert": alert.event, "status": status,
                                     "delivered": delivered, "attempt": alert.attempts + 1}),
            );
            self.log_failure(self.store.alert_attempted(alert.id, delivered));
            if !delivered {
                return;
            }
        }
    }
}
