//! An in-memory KV namespace, reached through the coordinator's
//! `KvNamespace` port as the binding reaches Workers KV, and shared with the
//! bulk API double: both write the same keys.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use kv_sync_core::coordinator::ports::KvNamespace;
use kv_sync_core::engine::record::Metadata;

/// Key → (value, metadata). Clones share the namespace.
#[derive(Clone, Default)]
pub struct MemoryKv {
    entries: Rc<RefCell<BTreeMap<String, (String, Value)>>>,
    /// Writes through the binding, over the namespace's life.
    pub binding_writes: Rc<RefCell<u64>>,
    /// The expiration TTL each key was last written with (0: none).
    ttls: Rc<RefCell<BTreeMap<String, u64>>>,
}

impl MemoryKv {
    pub fn insert(&self, key: &str, value: &str, metadata: Value) {
        self.entries
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), metadata));
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let entries = self.entries.borrow();
        let (value, _) = entries.get(key)?;
        Some(serde_json::from_str(value).expect("values are JSON"))
    }

    pub fn metadata(&self, key: &str) -> Option<Value> {
        self.entries.borrow().get(key).map(|(_, m)| m.clone())
    }

    pub fn ttl(&self, key: &str) -> Option<u64> {
        self.ttls.borrow().get(key).copied()
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }
}

impl KvNamespace for MemoryKv {
    async fn put(
        &self,
        key: &str,
        value: &str,
        metadata: Metadata,
        expiration_ttl: u64,
    ) -> Result<(), String> {
        // The binding refuses these keys with a TypeError, for good.
        if key == "." || key == ".." {
            return Err(format!("TypeError: \"{key}\" is not allowed as a key name"));
        }
        *self.binding_writes.borrow_mut() += 1;
        let metadata = serde_json::to_value(metadata).expect("metadata is JSON");
        self.insert(key, value, metadata);
        self.ttls
            .borrow_mut()
            .insert(key.to_string(), expiration_ttl);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        *self.binding_writes.borrow_mut() += 1;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.entries.borrow().get(key).map(|(v, _)| v.clone()))
    }

    async fn metadata(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.entries.borrow().get(key).map(|(_, m)| m.to_string()))
    }
}
