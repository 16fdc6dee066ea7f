//! The seam under the coordinator's storage: execute SQL with parameters,
//! read rows, and run statements as one transaction. The Durable Object's
//! `SqlStorage` implements it in production (the Workers shell), rusqlite in host
//! tests: both are SQLite, so the same statements mean the same there.
//!
//! Values cross it typed. SQLite has one integer type (i64) and JavaScript
//! holds integers exactly only up to 2^53, so unsigned counters and ids are
//! converted here, checked, in one place (`FromSql`, `ToSql`), and content
//! hashes travel as hex text.

use std::rc::Rc;

use crate::engine::error::StoreError;
use crate::engine::record::ContentHash;

/// One value bound to a statement or read from a row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Text(String),
}

/// SQL with parameters, answered in rows.
pub trait Sql {
    fn execute(&self, query: &str, params: &[SqlValue]) -> Result<(), StoreError>;

    fn query(&self, query: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, StoreError>;

    /// Runs several statements without parameters (a migration).
    fn run_script(&self, script: &str) -> Result<(), StoreError>;

    /// Runs `work` as one transaction: every statement it makes commits, or
    /// (when it returns an error) none does.
    fn transaction<T>(&self, work: impl FnOnce() -> Result<T, StoreError>)
        -> Result<T, StoreError>;

    /// The database's size in bytes, for `/status`.
    fn database_size(&self) -> u64;

    /// The rows read and written since the connection opened, as the
    /// storage counts them (Durable Objects bill by these).
    fn rows_counted(&self) -> RowCount;
}

/// Rows read and written, as the storage API counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RowCount {
    pub read: u64,
    pub written: u64,
}

impl std::ops::Sub for RowCount {
    type Output = RowCount;

    fn sub(self, earlier: RowCount) -> RowCount {
        RowCount {
            read: self.read.saturating_sub(earlier.read),
            written: self.written.saturating_sub(earlier.written),
        }
    }
}

/// One result row, read by column name through typed accessors: adding a
/// column to a query never shifts what another one reads.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlRow {
    /// The result's column names, shared by its rows.
    columns: Rc<[String]>,
    values: Vec<SqlValue>,
}

impl SqlRow {
    pub fn new(columns: Rc<[String]>, values: Vec<SqlValue>) -> Self {
        SqlRow { columns, values }
    }

    pub fn get<T: FromSql>(&self, column: &str) -> Result<T, StoreError> {
        let value = self
            .columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Storage(format!("the row has no column {column}")))?;
        T::from_sql(value).map_err(|e| StoreError::Storage(format!("column {column}: {e}")))
    }

    /// A column holding JSON text (or NULL), read back into `T`.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        column: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get::<Option<String>>(column)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Storage(format!("column {column} is unreadable: {e}")))
    }
}

/// A Rust value read from a SQL value.
pub trait FromSql: Sized {
    fn from_sql(value: &SqlValue) -> Result<Self, String>;
}

/// A Rust value bound as a SQL parameter.
pub trait ToSql {
    fn to_sql(&self) -> SqlValue;
}

impl FromSql for i64 {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        match value {
            SqlValue::Integer(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromSql for u64 {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        let n = i64::from_sql(value)?;
        u64::try_from(n).map_err(|_| format!("expected a count, found {n}"))
    }
}

impl FromSql for u32 {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        let n = i64::from_sql(value)?;
        u32::try_from(n).map_err(|_| format!("expected a small count, found {n}"))
    }
}

impl FromSql for bool {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        Ok(i64::from_sql(value)? != 0)
    }
}

impl FromSql for String {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        match value {
            SqlValue::Text(t) => Ok(t.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromSql for ContentHash {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        let text = String::from_sql(value)?;
        ContentHash::from_hex(&text).ok_or_else(|| format!("expected a hex hash, found {text:?}"))
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        match value {
            SqlValue::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl ToSql for i64 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(*self)
    }
}

/// Counts and ids never come near 2^63; were one to, it would be stored as
/// the largest integer rather than wrap to a negative one.
impl ToSql for u64 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for u32 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(i64::from(*self))
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Integer(i64::from(*self))
    }
}

impl ToSql for str {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.to_string())
    }
}

impl ToSql for String {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.clone())
    }
}

impl ToSql for ContentHash {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.to_hex())
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> SqlValue {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> SqlValue {
        self.as_ref().map_or(SqlValue::Null, ToSql::to_sql)
    }
}

/// Binds a statement's parameters: `params![a, b]` is `&[a.to_sql(), b.to_sql()]`.
#[macro_export]
macro_rules! params {
    ($($param:expr),* $(,)?) => {
        &[$($crate::store::sql::ToSql::to_sql(&$param)),*]
    };
}

/// Durable Object SQL refuses a bound value over 2 MB (and a statement over
/// 100 KB): lists of keys travel as JSON text parameters, cut to this size.
pub const MAX_PARAM_BYTES: usize = 1024 * 1024;

/// Splits `items` into JSON arrays of at most `MAX_PARAM_BYTES` each.
pub fn json_arrays<T: serde::Serialize>(items: &[T]) -> Result<Vec<String>, StoreError> {
    let mut arrays = Vec::new();
    let mut current = String::from("[");
    for item in items {
        let text = serde_json::to_string(item).map_err(|e| StoreError::Storage(e.to_string()))?;
        if current.len() + text.len() + 2 > MAX_PARAM_BYTES && current.len() > 1 {
            current.push(']');
            arrays.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&text);
    }
    if current.len() > 1 {
        current.push(']');
        arrays.push(current);
    }
    Ok(arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values_are_checked_on_the_way_in_and_out() {
        assert_eq!(u64::from_sql(&SqlValue::Integer(5)), Ok(5));
        assert!(u64::from_sql(&SqlValue::Integer(-1)).is_err());
        assert!(u32::from_sql(&SqlValue::Integer(1 << 40)).is_err());
        assert_eq!(u64::MAX.to_sql(), SqlValue::Integer(i64::MAX));
        assert_eq!(Option::<u64>::from_sql(&SqlValue::Null), Ok(None));
        assert_eq!(
            ContentHash(u64::MAX).to_sql(),
            SqlValue::Text("ffffffffffffffff".into())
        );
    }

    #[test]
    fn key_lists_are_cut_under_the_parameter_limit() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("{i:0>500}")).collect();
        let arrays = json_arrays(&keys).unwrap();
        assert!(
            arrays.len() >= 5,
            "5 MB of keys in {} parameters",
            arrays.len()
        );
        assert!(arrays.iter().all(|a| a.len() <= MAX_PARAM_BYTES));
        let back: Vec<String> = arrays
            .iter()
            .flat_map(|a| serde_json::from_str::<Vec<String>>(a).unwrap())
            .collect();
        assert_eq!(back, keys);
        assert!(json_arrays::<String>(&[]).unwrap().is_empty());
    }
}
