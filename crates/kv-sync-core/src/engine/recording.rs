//! A dry run: the engine reads and plans exactly as a run would, through
//! stand-ins for KV and the store that record what would happen instead of
//! doing it. Nothing is written and no cursor moves; what it would have
//! read and decided is the plan.

use std::cell::RefCell;
use std::collections::HashSet;

use serde::Serialize;

use super::error::{SinkError, StoreError};
use super::ports::{Census, Checkpoint, KvOp, KvSink, Orphan, StateStore, StoredHash};
use super::progress::RunCounters;
use super::time::Micros;

/// How many planned operations the answer shows.
pub(crate) const SAMPLE_SIZE: usize = 10;

/// One planned operation, as the answer shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct PlannedOp {
    pub key: String,
    pub action: &'static str,
    /// The value a put would write (as JSON, not text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// KV as a dry run sees it: every operation is acknowledged and recorded.
#[derive(Default)]
pub(crate) struct RecordingKv {
    pub sample: Vec<PlannedOp>,
}

impl KvSink for RecordingKv {
    fn ops_per_request(&self) -> usize {
        1
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        let n = ops.len();
        for op in ops
            .into_iter()
            .take(SAMPLE_SIZE.saturating_sub(self.sample.len()))
        {
            self.sample.push(match op {
                KvOp::Put { key, value, .. } => PlannedOp {
                    key,
                    action: "put",
                    value: serde_json::from_str(&value).ok(),
                },
                KvOp::Delete { key } => PlannedOp {
                    key,
                    action: "delete",
                    value: None,
                },
            });
        }
        vec![Ok(()); n]
    }
}

/// The store as a dry run sees it: hashes are read from the real one,
/// checkpoints are kept in memory only, so the plan of a full run can still
/// tell which keys it did not read.
pub(crate) struct ReadOnlyStore<'a, S> {
    real: &'a S,
    read: RefCell<HashSet<String>>,
}

impl<'a, S: StateStore> ReadOnlyStore<'a, S> {
    pub(crate) fn new(real: &'a S) -> Self {
        ReadOnlyStore {
            real,
            read: RefCell::default(),
        }
    }

    /// A page of the keys kv-sync holds after `after` that the dry run did
    /// not read, and the last key of the page (`None`: no more keys). The
    /// real store holds no mark of the dry run (nothing of it is stored),
    /// so the keys it holds are compared with what the run read here.
    fn unread(&self, after: Option<&str>) -> Result<(Vec<Orphan>, Option<String>), StoreError> {
        let page = self.real.held_keys(after, PAGE)?;
        let last = (page.len() == PAGE).then(|| page[PAGE - 1].key.clone());
        let read = self.read.borrow();
        let unread = page
            .into_iter()
            .filter(|o| !read.contains(&o.key))
            .collect();
        Ok((unread, last))
    }
}

const PAGE: usize = 1_000;

impl<S: StateStore> StateStore for ReadOnlyStore<'_, S> {
    fn stored_hashes(&self, keys: &[&str]) -> Result<Vec<Option<StoredHash>>, StoreError> {
        self.real.stored_hashes(keys)
    }

    fn note_unconfirmed(
        &mut self,
        _fence: u64,
        _keys: &[&str],
        _now: Micros,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn commit(&mut self, c: Checkpoint<'_>) -> Result<(), StoreError> {
        let read = self.read.get_mut();
        read.extend(c.seen.iter().cloned());
        read.extend(c.written.iter().map(|w| w.key.clone()));
        Ok(())
    }

    fn census(&self, run_id: u64) -> Result<Census, StoreError> {
        let all = self.real.census(run_id)?;
        let mut census = Census {
            held: all.held,
            orphans: 0,
            stale_tombstones: 0,
        };
        let mut after: Option<String> = None;
        loop {
            let (unread, last) = self.unread(after.as_deref())?;
            for orphan in unread {
                if orphan.live {
                    census.orphans += 1;
                } else {
                    census.stale_tombstones += 1;
                }
            }
            if last.is_none() {
                return Ok(census);
            }
            after = last;
        }
    }

    fn orphans(
        &self,
        _run_id: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Orphan>, StoreError> {
        let mut found = Vec::new();
        let mut after = after.map(str::to_owned);
        while found.len() < limit {
            let (unread, last) = self.unread(after.as_deref())?;
            found.extend(unread);
            if last.is_none() {
                break;
            }
            after = last;
        }
        found.truncate(limit);
        Ok(found)
    }

    fn held_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<Orphan>, StoreError> {
        self.real.held_keys(after, limit)
    }
}

/// What a dry run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Plan {
    pub would_write: u64,
    pub would_delete: u64,
    pub would_fail: u64,
    pub rows_read: u64,
    pub sample: Vec<PlannedOp>,
}

impl Plan {
    pub(crate) fn new(counters: &RunCounters, sample: Vec<PlannedOp>) -> Self {
        Plan {
            would_write: counters.rows_written,
            would_delete: counters.rows_deleted + counters.rows_orphaned,
            would_fail: counters.rows_failed,
            rows_read: counters.rows_read,
            sample,
        }
    }
}
