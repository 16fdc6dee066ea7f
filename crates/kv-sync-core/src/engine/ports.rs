//! The engine's view of the world: four small traits, implemented by the
//! adapters in production and by in-memory fakes in tests.
//!
//! Durable Object code is single-threaded wasm without tokio, so nothing here
//! asks for `Send`, and nothing sleeps: the engine returns when it wants to be
//! woken and the coordinator turns that into an alarm.
#![allow(async_fn_in_trait)]

use serde::{Deserialize, Serialize};

use super::cursor::Cursor;
use super::error::{SinkError, StoreError, WarehouseError};
use super::key_walk::Stretch;
use super::kv_path::KvPath;
use super::progress::RunProgress;
use super::record::{ContentHash, Metadata, PageRow, Quarantined};
use super::source_query::SourceQuery;
use super::spend::JobCost;
use super::time::Micros;

/// Where "now" comes from, so tests can move time.
pub trait Clock {
    fn now(&self) -> Micros;
}

/// A query job, identified the way the warehouse needs to find it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    pub project_id: String,
    pub job_id: String,
    #[serde(default)]
    pub location: Option<String>,
}

/// One page of a job's results, its rows decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultPage {
    pub job: JobRef,
    /// `false` while the job runs; then `rows` is empty.
    pub complete: bool,
    pub rows: Vec<PageRow>,
    pub total_rows: Option<u64>,
    pub next_page_token: Option<String>,
    /// A digest of the result's columns (names and types), when the page
    /// says: a change of it makes the next run a full one.
    pub schema: Option<ContentHash>,
    /// What BigQuery reported the job cost, on the answer that says it is
    /// complete (later pages repeat it).
    pub cost: JobCost,
    /// The result's columns as BigQuery described them (its `schema`
    /// JSON), when the page says: pushed rows are typed by them.
    pub schema_fields: Option<String>,
    /// The size of the page as it arrived, in bytes: pages are sized by
    /// bytes as well as rows, so large values do not fill the memory.
    pub bytes: usize,
}

/// The source of truth. One run makes one job and reads it page by page.
pub trait Warehouse {
    /// Starts the run's query job and returns its first page (which may say
    /// the job is not complete yet).
    async fn start_query(&mut self, query: &SourceQuery) -> Result<ResultPage, WarehouseError>;

    /// Asks the warehouse to stop `job`, once: a job the run gave up waiting
    /// for would otherwise run on, and be billed, unread.
    async fn cancel(&mut self, _job: &JobRef) -> Result<(), WarehouseError> {
        Ok(())
    }

    /// The digest and the JSON of the last result schema read, so pushed
    /// rows can be typed as the pull types them.
    fn result_schema(&self) -> Option<(ContentHash, String)> {
        None
    }

    /// Reads one page of a job's results (`page_token` `None` = the first).
    async fn read_page(
        &mut self,
        job: &JobRef,
        page_token: Option<&str>,
        max_rows: u32,
    ) -> Result<ResultPage, WarehouseError>;
}

/// One KV operation, on the key as KV knows it (the sync's prefix included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    Put {
        key: String,
        value: String,
        metadata: Metadata,
    },
    Delete {
        key: String,
    },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Put { key, .. } | KvOp::Delete { key } => key,
        }
    }
}

/// Workers KV, through the binding or the bulk REST API.
pub trait KvSink {
    /// How many operations one request to KV carries: one through the
    /// binding, thousands through the bulk API. The write budget of an
    /// invocation counts requests.
    fn ops_per_request(&self) -> usize;

    /// Whether this sink can write through the bulk API as well as the
    /// binding, so a run chooses (`kv_path::choose`). Until it has chosen,
    /// such a sink counts requests as the bulk path does: the first page is
    /// read before the run's size is known, and is sized for the larger path.
    fn offers_bulk(&self) -> bool {
        false
    }

    /// Writes through `path` from now on (for a sink that offers both).
    fn use_path(&mut self, _path: KvPath) {}

    /// Applies the operations and answers for each, in order. `Ok` must mean
    /// KV acknowledged that write: the cursor moves past a row on this word.
    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>>;

    /// Why the bulk path refused a request as a whole since the last call
    /// (its configuration is wrong), if it did: none of that batch was
    /// written, the sink has turned to the binding, and the run must stay
    /// there.
    fn take_bulk_refusal(&mut self) -> Option<String> {
        None
    }

    /// Requests sent to the bulk API so far (a run's cost counts them).
    fn bulk_requests(&self) -> u64 {
        0
    }

    /// When kv-sync wrote the value KV holds for each of `keys` (its
    /// metadata's `synced_at`), `None` for a key KV does not hold. A sync
    /// sharing its keys with another asks before deleting one: a key written
    /// after it last wrote it is another sync's now. A sink that cannot read
    /// answers `None` for each.
    async fn synced_at(&mut self, keys: &[String]) -> Vec<Result<Option<Micros>, SinkError>> {
        vec![Ok(None); keys.len()]
    }
}

/// What kv-sync last wrote for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHash {
    pub hash: ContentHash,
    pub written_at: Micros,
    /// The source `updated_at` of the row written (none for keys written
    /// before kv-sync kept it).
    pub updated_at: Option<Micros>,
    /// Whether `POST /push` wrote it, rather than a run.
    pub by_push: bool,
}

/// A key whose write (or delete) KV acknowledged in this batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenKey {
    pub key: String,
    pub hash: ContentHash,
    pub written_at: Micros,
    /// The source `updated_at` of the row written.
    pub updated_at: Micros,
}

/// Everything one acknowledged batch changes, committed as one unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<'a> {
    /// The fencing number of the lease this invocation holds.
    pub fence: u64,
    /// The run's progress after the batch.
    pub progress: &'a RunProgress,
    /// The sync's cursor after the batch: the run's position, but never past
    /// the present plus a small clock skew (a row stamped in the future
    /// must not hide the rows that change after it).
    pub cursor: Option<&'a Cursor>,
    pub written: &'a [WrittenKey],
    /// Keys a full run read (written or not): they are still in the source.
    pub seen: &'a [String],
    /// The stretch of the key space a full run's read passed with this
    /// batch: the stored keys in it that `seen` lacks left the source.
    pub stretch: Option<Stretch<'a>>,
    /// Keys read unchanged in a newer version (`updated_at`) than the one
    /// recorded: a push older than it must not win.
    pub restamped: &'a [Cursor],
    /// Keys that left the source and whose deletion KV acknowledged (or
    /// tombstones of keys gone from the source): kv-sync forgets them.
    pub forgotten: &'a [String],
    pub quarantined: &'a [Quarantined],
    /// The lease is extended to this time: a live holder keeps it.
    pub lease_expires_at: Micros,
    pub now: Micros,
}

/// A key kv-sync wrote that a full run did not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub key: String,
    /// `false` for a tombstone (kv-sync deleted it already): it is only
    /// forgotten, never deleted again.
    pub live: bool,
    /// When kv-sync last wrote it.
    pub written_at: Micros,
}

/// How many keys a full run would delete, out of how many kv-sync holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    /// Live keys the run did not read.
    pub orphans: u64,
    /// Tombstones of keys the run did not read (forgotten, not deleted).
    pub stale_tombstones: u64,
    /// Live keys kv-sync holds.
    pub held: u64,
}

/// The coordinator's durable state, as the engine needs it.
///
/// Contract for implementations:
/// - `commit` is atomic: all of a checkpoint is stored, or none of it.
/// - `commit` is fenced: if `fence` no longer holds the run lease, it stores
///   nothing and returns `StoreError::LeaseLost`.
/// - the global cursor never moves backward: `commit` sets it to the later of
///   itself and `checkpoint.cursor`.
/// - a key in `written` is no longer a failed row; a key in `forgotten` has
///   no stored hash afterwards; a key in `restamped` has at least that
///   `updated_at` stored (never lowered).
/// - a key in `stretch`, not in `seen` and not written (and confirmed)
///   after its `written_until`, is marked absent in the checkpoint's run; a key in `written` or
///   `seen` is not marked absent afterwards (by any run). Nothing else is
///   written for the keys a full run reads unchanged.
/// - only keys kv-sync recorded in `written` are ever orphans.
pub trait StateStore {
    /// The hashes kv-sync recorded for these keys, in the same order.
    fn stored_hashes(&self, keys: &[&str]) -> Result<Vec<Option<StoredHash>>, StoreError>;

    fn commit(&mut self, checkpoint: Checkpoint<'_>) -> Result<(), StoreError>;

    /// Remembers `keys` as `ContentHash::UNCONFIRMED` before they are
    /// written or deleted: a write can land while its answer, or its
    /// checkpoint, is lost, and then what kv-sync remembers is not what KV
    /// holds (a key it does not know it holds is never deleted; a value it
    /// believes written is never written again). The checkpoint that
    /// confirms the write stores the real hash. Fails with `LeaseLost`
    /// unless `fence` still holds the lease.
    fn note_unconfirmed(
        &mut self,
        fence: u64,
        keys: &[&str],
        now: Micros,
    ) -> Result<(), StoreError>;

    /// The orphans of the full read run `run_id` began (keys marked absent
    /// in it or a later run) and the live keys held.
    fn census(&self, run_id: u64) -> Result<Census, StoreError>;

    /// Up to `limit` orphans of the full read run `run_id` began, in key
    /// order, after `after`.
    fn orphans(
        &self,
        run_id: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Orphan>, StoreError>;

    /// Up to `limit` keys kv-sync holds, tombstones included (not live), in
    /// key order, after `after`: what a full read that read none of them
    /// would find absent (a dry run compares them with what it read).
    fn held_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<Orphan>, StoreError>;
}
