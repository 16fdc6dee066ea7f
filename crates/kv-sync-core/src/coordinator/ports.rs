//! What the coordinator needs from the platform beyond the store's SQL and
//! the `Runtime`: its one alarm, and the deployment's vars, secrets and KV
//! namespaces. The Workers shell implements them over `State` and `Env`;
//! host tests over a recorded alarm and an in-memory KV.
//!
//! Like every port in this crate, nothing here is `Send`: a Durable Object
//! is single-threaded wasm.
#![allow(async_fn_in_trait)]

use crate::engine::error::StoreError;
use crate::engine::record::Metadata;
use crate::engine::time::Micros;

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
