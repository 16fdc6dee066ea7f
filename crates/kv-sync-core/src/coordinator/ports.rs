//! What the coordinator needs from the platform beyond the store's SQL and
//! the `Runtime`: its one alarm, and the deployment's vars, secrets and KV
//! namespaces. The Workers shell implements them over `State` and `Env`;
//! host tests over a recorded alarm and an in-memory KV. `Connect` says
//! where a run reads and writes.
//!
//! Like every port in this crate, nothing here is `Send`: a Durable Object
//! is single-threaded wasm.
#![allow(async_fn_in_trait)]

use crate::engine::error::{RunError, StoreError};
use crate::engine::limits::RunLimits;
use crate::engine::ports::{KvSink, Warehouse};
use crate::engine::record::Metadata;
use crate::engine::time::Micros;
use crate::settings::deployment::Settings;
use crate::store::Store;

/// The Durable Object's alarm: at most one time at which the platform
/// calls `Coordinator::alarm`, kept across restarts of the object.
pub trait Alarm {
    /// When the alarm is set to fire, if it is set.
    async fn alarm_at(&self) -> Result<Option<Micros>, StoreError>;

    /// Sets the alarm to `at`, replacing any earlier setting.
    async fn set_alarm(&self, at: Micros) -> Result<(), StoreError>;
}

/// One KV namespace as a binding reaches it: one operation per key. An
/// error is the binding's own words (`classify` reads them).
pub trait KvNamespace {
    async fn put(
        &self,
        key: &str,
        value: &str,
        metadata: Metadata,
        expiration_ttl: u64,
    ) -> Result<(), String>;

    async fn delete(&self, key: &str) -> Result<(), String>;

    /// The value KV holds for `key` now, if any (`GET /keys/KEY` compares
    /// it with what kv-sync wrote).
    async fn get(&self, key: &str) -> Result<Option<String>, String>;

    /// The metadata (JSON text) of the value KV holds for `key`, if any.
    async fn metadata(&self, key: &str) -> Result<Option<String>, String>;
}

/// The deployment as the object sees it: fixed for the object's lifetime
/// (changing a var or a secret deploys a new version).
pub trait Environment {
    type Namespace: KvNamespace;

    /// A var, or a secret of the same name (wrangler passes both as strings;
    /// some users keep a long `SYNC_QUERY` as a secret).
    fn setting(&self, name: &str) -> Option<String>;

    /// A secret only (credentials are never read from vars).
    fn secret(&self, name: &str) -> Option<String>;

    /// The KV namespace bound as `binding`, or why it cannot be had.
    fn kv(&self, binding: &str) -> Result<Self::Namespace, String>;
}

/// What a connection is opened with: the coordinator's parts it may use.
pub struct Context<'a, S, R, E> {
    pub settings: &'a Settings,
    pub store: &'a Store<S>,
    pub runtime: &'a R,
    pub env: &'a E,
}

impl<S, R, E> Clone for Context<'_, S, R, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, R, E> Copy for Context<'_, S, R, E> {}

/// Where one invocation reads and writes: BigQuery and KV as the settings
/// say (`Configured`), or stand-ins that tests fault at will. The
/// coordinator's sequencing is the same whichever it is given.
pub trait Connect<S, R, E> {
    type Warehouse<'a>: Warehouse
    where
        Self: 'a,
        S: 'a,
        R: 'a,
        E: 'a;
    type Sink<'a>: KvSink
    where
        Self: 'a,
        S: 'a,
        R: 'a,
        E: 'a;

    /// The source and the sink for an invocation that must end by
    /// `deadline`, or why the settings cannot run, in words a person can
    /// act on.
    #[allow(clippy::type_complexity)]
    fn open<'a>(
        &'a self,
        cx: Context<'a, S, R, E>,
        deadline: Micros,
    ) -> Result<(Self::Warehouse<'a>, Self::Sink<'a>), RunError>;

    /// The sink alone, for a write outside any run (`POST /push`): the
    /// same KV, and the same faults in a test.
    fn open_sink<'a>(
        &'a self,
        cx: Context<'a, S, R, E>,
        deadline: Micros,
    ) -> Result<Self::Sink<'a>, RunError>;

    /// After the engine ran: keeps what the invocation learned for the next
    /// one (an access token, the bulk requests it sent).
    fn close<'a>(&'a self, cx: Context<'a, S, R, E>, warehouse: &Self::Warehouse<'a>);

    /// The limits an invocation works within, given those the settings
    /// make. A configured connection keeps them; a test's narrows them (a
    /// short lease, small batches) to reach every fault point quickly.
    fn limits(&self, configured: RunLimits) -> RunLimits {
        configured
    }
}
