//! The coordinator's `Environment` over the Worker's `Env`: vars, secrets,
//! and KV namespaces through their bindings.

use kv_sync_core::coordinator::ports::{Environment, KvNamespace};
use kv_sync_core::engine::record::Metadata;
use worker::kv::KvStore;
use worker::Env;

pub struct WorkerEnv(pub Env);

impl Environment for WorkerEnv {
    type Namespace = BoundNamespace;

    fn setting(&self, name: &str) -> Option<String> {
        self.0
            .var(name)
            .map(|v| v.to_string())
            .or_else(|_| self.0.secret(name).map(|v| v.to_string()))
            .ok()
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.0.secret(name).ok().map(|v| v.to_string())
    }

    fn kv(&self, binding: &str) -> Result<BoundNamespace, String> {
        self.0
            .kv(binding)
            .map(BoundNamespace)
            .map_err(|e| e.to_string())
    }
}

/// A KV namespace through its binding; errors are the binding's words.
pub struct BoundNamespace(KvStore);

impl KvNamespace for BoundNamespace {
    async fn put(
        &self,
        key: &str,
        value: &str,
        metadata: Metadata,
        expiration_ttl: u64,
    ) -> Result<(), String> {
        // As bytes: `put` of a `String` goes through serde, which copies the
        // value back into wasm memory once more only to check it became a
        // string. KV keeps bytes either way.
        let mut put = self
            .0
            .put_bytes(key, value.as_bytes())
            .map_err(|e| e.to_string())?
            .metadata(metadata)
            .map_err(|e| e.to_string())?;
        if expiration_ttl > 0 {
            put = put.expiration_ttl(expiration_ttl);
        }
        put.execute().await.map_err(|e| e.to_string())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        self.0.delete(key).await.map_err(|e| e.to_string())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.0.get(key).text().await.map_err(|e| e.to_string())
    }

    async fn metadata(&self, key: &str) -> Result<Option<String>, String> {
        let read = self.0.get(key).text_with_metadata::<serde_json::Value>();
        let (_, metadata) = read.await.map_err(|e| e.to_string())?;
        Ok(metadata.map(|m| m.to_string()))
    }
}
