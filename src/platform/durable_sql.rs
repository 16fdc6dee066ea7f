//! The coordinator's storage port over the Durable Object's storage: `Sql`
//! over its SQLite database, `Alarm` over its alarm.
//!
//! Statements made without an `await` between them are coalesced into one
//! write, but one that fails does not undo those before it; a checkpoint
//! must be all or nothing, so `transaction` uses the storage's
//! `transactionSync`, which rolls back everything when its callback throws.
//! workers-rs does not bind it, so it is declared here.

use kv_sync_core::coordinator::ports::Alarm;
use kv_sync_core::engine::error::StoreError;
use kv_sync_core::engine::excerpt::first_line;
use kv_sync_core::engine::time::{Micros, MICROS_PER_MILLI};
use kv_sync_core::store::sql::{RowCount, Sql, SqlRow, SqlValue};
use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use worker::{SqlCursor, SqlStorage, SqlStorageValue, Storage};

#[wasm_bindgen]
extern "C" {
    /// `ctx.storage`, for the one method workers-rs does not bind.
    pub type TransactionalStorage;

    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &TransactionalStorage,
        work: &mut dyn FnMut() -> Result<JsValue, JsValue>,
    ) -> Result<JsValue, JsValue>;
}

pub struct DurableSql {
    sql: SqlStorage,
    /// What the storage counted for every statement so far.
    counted: Cell<RowCount>,
    storage: Storage,
    transactional: TransactionalStorage,
}

impl DurableSql {
    /// `storage` is the object's `ctx.storage`; `raw` the same object, for
    /// `transactionSync`.
    pub fn new(storage: Storage, raw: JsValue) -> Self {
        DurableSql {
            sql: storage.sql(),
            counted: Cell::new(RowCount::default()),
            storage,
            transactional: raw.unchecked_into(),
        }
    }

    /// The one non-generic home of the JavaScript round trip, so each
    /// transaction's result type does not get a copy of it.
    fn run_transaction(
        &self,
        work: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut failure = None;
        let mut callback = || -> Result<JsValue, JsValue> {
            work().map(|()| JsValue::UNDEFINED).map_err(|e| {
                // Throwing is what makes transactionSync roll back.
                let thrown = JsValue::from_str(&e.to_string());
                failure = Some(e);
                thrown
            })
        };
        let committed = self.transactional.transaction_sync(&mut callback);
        match (failure, committed) {
            (Some(e), _) => Err(e),
            (None, Ok(_)) => Ok(()),
            (None, Err(thrown)) => Err(StoreError::Storage(format!(
                "transaction failed: {}",
                thrown.as_string().unwrap_or_else(|| format!("{thrown:?}"))
            ))),
        }
    }

    /// Adds what a finished statement's cursor counted.
    fn count(&self, cursor: &SqlCursor) {
        let mut counted = self.counted.get();
        counted.read += cursor.rows_read() as u64;
        counted.written += cursor.rows_written() as u64;
        self.counted.set(counted);
    }
}

impl Alarm for DurableSql {
    async fn alarm_at(&self) -> Result<Option<Micros>, StoreError> {
        let at = self.storage.get_alarm().await.map_err(storage_error)?;
        Ok(at.map(|ms| ms * MICROS_PER_MILLI))
    }

    async fn set_alarm(&self, at: Micros) -> Result<(), StoreError> {
        let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
        self.storage.set_alarm(at).await.map_err(storage_error)
    }
}

fn storage_error(e: worker::Error) -> StoreError {
    StoreError::Storage(first_line(&e.to_string()))
}

fn bind(params: &[SqlValue]) -> Vec<SqlStorageValue> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => SqlStorageValue::Null,
            SqlValue::Integer(n) => SqlStorageValue::Integer(*n),
            SqlValue::Text(t) => SqlStorageValue::String(t.clone()),
        })
        .collect()
}

fn read(value: SqlStorageValue) -> Result<SqlValue, StoreError> {
    Ok(match value {
        SqlStorageValue::Null => SqlValue::Null,
        SqlStorageValue::Integer(n) => SqlValue::Integer(n),
        SqlStorageValue::Boolean(b) => SqlValue::Integer(i64::from(b)),
        SqlStorageValue::String(s) => SqlValue::Text(s),
        // kv-sync stores neither; one would be another program's row.
        SqlStorageValue::Float(_) | SqlStorageValue::Blob(_) => {
            return Err(StoreError::Storage("unexpected REAL or BLOB value".into()))
        }
    })
}

impl Sql for DurableSql {
    fn execute(&self, query: &str, params: &[SqlValue]) -> Result<(), StoreError> {
        let cursor = self.sql.exec(query, bind(params)).map_err(storage_error)?;
        self.count(&cursor);
        Ok(())
    }

    fn query(&self, query: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, StoreError> {
        let cursor = self.sql.exec(query, bind(params)).map_err(storage_error)?;
        let names: Rc<[String]> = cursor.column_names().into();
        let rows = cursor
            .raw()
            .map(|row| {
                let values = row.map_err(storage_error)?;
                let values = values.into_iter().map(read).collect::<Result<_, _>>()?;
                Ok(SqlRow::new(names.clone(), values))
            })
            .collect();
        self.count(&cursor);
        rows
    }

    fn run_script(&self, script: &str) -> Result<(), StoreError> {
        self.sql.exec(script, None).map(drop).map_err(storage_error)
    }

    fn transaction<T>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut work = Some(work);
        let mut value = None;
        self.run_transaction(&mut || {
            let work = work
                .take()
                .ok_or_else(|| StoreError::Storage("transaction callback called twice".into()))?;
            value = Some(work()?);
            Ok(())
        })?;
        value.ok_or_else(|| StoreError::Storage("transaction callback never ran".into()))
    }

    fn database_size(&self) -> u64 {
        self.sql.database_size() as u64
    }

    fn rows_counted(&self) -> RowCount {
        self.counted.get()
    }
}
