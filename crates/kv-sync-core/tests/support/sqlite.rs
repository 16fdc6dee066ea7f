//! rusqlite behind the store's `Sql` seam, so the coordinator's real SQL
//! runs in host tests. SQLite semantics are the same as the Durable
//! Object's; what differs is only how a transaction is spelled.
//!
//! Faults: a transaction can be made to fail at its end (a statement after
//! all of its own), or any statement whose text contains a marker can be
//! made to fail, to prove that a failed transaction leaves nothing behind.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection};

use kv_sync_core::coordinator::ports::Alarm;
use kv_sync_core::engine::error::StoreError;
use kv_sync_core::engine::time::Micros;
use kv_sync_core::store::sql::{RowCount, Sql, SqlRow, SqlValue};

use super::fakes::Faults;

pub struct Sqlite {
    conn: Connection,
    in_transaction: Cell<bool>,
    /// Fails whole transactions (at their end) with `Faults`' odds.
    pub faults: RefCell<Faults>,
    /// Fails every statement whose text contains this.
    pub fail_statements_containing: RefCell<Option<String>>,
    pub transactions: Cell<u64>,
    /// The alarm the coordinator set (the platform clears it as it fires).
    pub alarm: Cell<Option<Micros>>,
    /// Rows changed and rows returned: SQLite's own counts, close to (not
    /// the same as) what Durable Object storage bills.
    counted: Cell<RowCount>,
}

impl Default for Sqlite {
    fn default() -> Self {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.set_prepared_statement_cache_capacity(256);
        Sqlite {
            conn,
            in_transaction: Cell::new(false),
            faults: RefCell::new(Faults::default()),
            fail_statements_containing: RefCell::new(None),
            transactions: Cell::new(0),
            alarm: Cell::new(None),
            counted: Cell::new(RowCount::default()),
        }
    }
}

fn error(e: rusqlite::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn to_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(n) => Value::Integer(*n),
        SqlValue::Text(t) => Value::Text(t.clone()),
    }
}

fn from_value(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Integer(n),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        other => panic!("the store never stores {other:?}"),
    }
}

impl Sqlite {
    fn add(&self, read: usize, written: usize) {
        let mut counted = self.counted.get();
        counted.read += read as u64;
        counted.written += written as u64;
        self.counted.set(counted);
    }

    fn check_statement(&self, query: &str) -> Result<(), StoreError> {
        match self.fail_statements_containing.borrow().as_deref() {
            Some(marker) if query.contains(marker) => Err(StoreError::Storage(format!(
                "injected failure of a statement with {marker:?}"
            ))),
            _ => Ok(()),
        }
    }
}

impl Sql for Sqlite {
    fn execute(&self, query: &str, params: &[SqlValue]) -> Result<(), StoreError> {
        self.check_statement(query)?;
        // Cached, as the Durable Object's SQL caches what it prepared.
        self.conn
            .prepare_cached(query)
            .and_then(|mut statement| {
                statement.execute(params_from_iter(params.iter().map(to_value)))
            })
            .map(|changed| self.add(0, changed))
            .map_err(error)
    }

    fn query(&self, query: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, StoreError> {
        self.check_statement(query)?;
        let mut statement = self.conn.prepare_cached(query).map_err(error)?;
        let names: Rc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let rows = statement
            .query_map(params_from_iter(params.iter().map(to_value)), |row| {
                (0..names.len())
                    .map(|i| row.get_ref(i).map(from_value))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|values| SqlRow::new(names.clone(), values))
            })
            .map_err(error)?;
        let rows: Vec<SqlRow> = rows.collect::<Result<_, _>>().map_err(error)?;
        self.add(rows.len(), 0);
        Ok(rows)
    }

    fn run_script(&self, script: &str) -> Result<(), StoreError> {
        self.check_statement(script)?;
        self.conn.execute_batch(script).map_err(error)
    }

    fn transaction<T>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        assert!(
            !self.in_transaction.get(),
            "the store never nests transactions"
        );
        self.in_transaction.set(true);
        self.conn.execute_batch("BEGIN").map_err(error)?;
        let result = work().and_then(|value| {
            if self.faults.borrow_mut().strikes() {
                return Err(StoreError::Storage(
                    "injected crash at the end of a transaction".into(),
                ));
            }
            Ok(value)
        });
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        self.conn.execute_batch(end).map_err(error)?;
        self.in_transaction.set(false);
        self.transactions.set(self.transactions.get() + 1);
        result
    }

    fn database_size(&self) -> u64 {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap_or(0);
        let size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap_or(0);
        (pages * size) as u64
    }

    fn rows_counted(&self) -> RowCount {
        self.counted.get()
    }
}

/// The Durable Object's alarm, as a recorded time.
impl Alarm for Sqlite {
    async fn alarm_at(&self) -> Result<Option<Micros>, StoreError> {
        Ok(self.alarm.get())
    }

    async fn set_alarm(&self, at: Micros) -> Result<(), StoreError> {
        self.alarm.set(Some(at));
        Ok(())
    }
}
