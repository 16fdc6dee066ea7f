//! The coordinator's platform ports for host tests: the object's storage
//! (SQLite with the alarm, kept across a restart) and its environment
//! (vars, secrets, one KV binding).

use std::collections::HashMap;
use std::rc::Rc;

use kv_sync_core::coordinator::ports::{Alarm, Connect, Environment};
use kv_sync_core::coordinator::Coordinator;
use kv_sync_core::engine::error::StoreError;
use kv_sync_core::engine::time::Micros;
use kv_sync_core::runtime::scripted::ScriptedRuntime;
use kv_sync_core::store::sql::{RowCount, Sql, SqlRow, SqlValue};

use super::block_on;
use super::memory_kv::MemoryKv;
use super::sqlite::Sqlite;

pub fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Vars, secrets and the one KV binding, `IDENTITY_STORE`.
pub struct TestEnv {
    pub vars: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
    pub kv: MemoryKv,
}

impl Environment for TestEnv {
    type Namespace = MemoryKv;

    fn setting(&self, name: &str) -> Option<String> {
        self.vars.get(name).or(self.secrets.get(name)).cloned()
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }

    fn kv(&self, binding: &str) -> Result<MemoryKv, String> {
        match binding {
            "IDENTITY_STORE" => Ok(self.kv.clone()),
            other => Err(format!("no KV namespace is bound as {other}")),
        }
    }
}

/// The object's storage, kept across a restart of the object.
pub struct Storage(pub Rc<Sqlite>);

impl Sql for Storage {
    fn execute(&self, query: &str, params: &[SqlValue]) -> Result<(), StoreError> {
        self.0.execute(query, params)
    }

    fn query(&self, query: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, StoreError> {
        self.0.query(query, params)
    }

    fn run_script(&self, script: &str) -> Result<(), StoreError> {
        self.0.run_script(script)
    }

    fn transaction<T>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.0.transaction(work)
    }

    fn database_size(&self) -> u64 {
        self.0.database_size()
    }

    fn rows_counted(&self) -> RowCount {
        self.0.rows_counted()
    }
}

impl Alarm for Storage {
    async fn alarm_at(&self) -> Result<Option<Micros>, StoreError> {
        self.0.alarm_at().await
    }

    async fn set_alarm(&self, at: Micros) -> Result<(), StoreError> {
        self.0.set_alarm(at).await
    }
}

/// The platform fires the object's alarm: at its time (or now, if that
/// passed), clearing it first as the platform does. An error is what the
/// platform would retry the alarm for.
pub fn fire_alarm<C: Connect<Storage, ScriptedRuntime, TestEnv>>(
    storage: &Sqlite,
    coordinator: &Coordinator<Storage, ScriptedRuntime, TestEnv, C>,
) -> Result<(), StoreError> {
    let at = storage.alarm.get().expect("an alarm is armed");
    let clock = &coordinator.runtime().clock;
    clock.set(clock.get().max(at));
    storage.alarm.set(None);
    block_on(coordinator.alarm())
}
