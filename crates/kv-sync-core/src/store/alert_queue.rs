//! Alerts waiting to be delivered, and which episodes were alerted. An
//! alert is queued in the same transaction as the flags that say it was
//! raised, so it is raised once; it leaves the queue only once delivered.

use super::sql::Sql;
use super::Store;
use crate::coordinator::policy::sync_state::AlertFlags;
use crate::engine::error::StoreError;
use crate::engine::time::Micros;
use crate::params;

/// Undelivered alerts kept at most (the oldest go first): a receiver that is
/// down for days must not grow the store without bound.
const PENDING_KEPT: u64 = 50;

/// An alert waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAlert {
    pub id: u64,
    pub event: String,
    /// The JSON to post.
    pub body: String,
    pub attempts: u32,
}

impl<S: Sql> Store<S> {
    /// Stores the alert flags and queues the alerts they raised.
    pub fn raise_alerts(
        &self,
        flags: AlertFlags,
        alerts: &[(String, String)],
        now: Micros,
    ) -> Result<(), StoreError> {
        self.sql.transaction(|| {
            self.sql.execute(
                "UPDATE sync_state SET alerted_failing = ?, alerted_stale = ?, alerted_reconcile = ?,
                   alerted_degraded = ? WHERE id = 1",
                params![flags.failing, flags.stale, flags.reconcile, flags.degraded],
            )?;
            for (event, body) in alerts {
                self.sql.execute(
                    "INSERT INTO pending_alerts (event, body, created_at) VALUES (?, ?, ?)",
                    params![event, body, now],
                )?;
            }
            self.sql.execute(
                "DELETE FROM pending_alerts WHERE id NOT IN (SELECT id FROM pending_alerts ORDER BY id DESC LIMIT ?)",
                params![PENDING_KEPT],
            )
        })
    }

    /// The alerts waiting for delivery, oldest first.
    pub fn pending_alerts(&self) -> Result<Vec<PendingAlert>, StoreError> {
        self.sql
            .query(
                "SELECT id, event, body, attempts FROM pending_alerts ORDER BY id",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(PendingAlert {
                    id: row.get("id")?,
                    event: row.get("event")?,
                    body: row.get("body")?,
                    attempts: row.get("attempts")?,
                })
            })
            .collect()
    }

    /// Records one delivery attempt: a delivered alert leaves the queue.
    pub fn alert_attempted(&self, id: u64, delivered: bool) -> Result<(), StoreError> {
        if delivered {
            self.sql
                .execute("DELETE FROM pending_alerts WHERE id = ?", params![id])
        } else {
            self.sql.execute(
                "UPDATE pending_alerts SET attempts = attempts + 1 WHERE id = ?",
                params![id],
            )
        }
    }
}
