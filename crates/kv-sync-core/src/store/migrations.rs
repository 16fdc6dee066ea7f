//! Applies `migrations/*.sql` to the coordinator's SQLite, in order, once.
//!
//! A deployed Durable Object keeps its storage across Worker upgrades, so a
//! schema change must be a new numbered file here, never an edit of an old
//! one: the object records which versions it has and applies only the rest,
//! each in one transaction with its record.

use super::sql::Sql;
use crate::engine::error::StoreError;
use crate::params;

/// Every migration, in order. Append; never edit or reorder.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../../../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_access_token",
        include_str!("../../../../migrations/0002_access_token.sql"),
    ),
    (
        3,
        "0003_failed_row_identity",
        include_str!("../../../../migrations/0003_failed_row_identity.sql"),
    ),
    (
        4,
        "0004_exact_mirror",
        include_str!("../../../../migrations/0004_exact_mirror.sql"),
    ),
    (
        5,
        "0005_operations",
        include_str!("../../../../migrations/0005_operations.sql"),
    ),
    (
        6,
        "0006_named_syncs",
        include_str!("../../../../migrations/0006_named_syncs.sql"),
    ),
    (
        7,
        "0007_kv_path",
        include_str!("../../../../migrations/0007_kv_path.sql"),
    ),
    (
        8,
        "0008_error_class",
        include_str!("../../../../migrations/0008_error_class.sql"),
    ),
    (
        9,
        "0009_suspended_read",
        include_str!("../../../../migrations/0009_suspended_read.sql"),
    ),
    (
        10,
        "0010_mirror_under_change",
        include_str!("../../../../migrations/0010_mirror_under_change.sql"),
    ),
    (
        11,
        "0011_live_sync",
        include_str!("../../../../migrations/0011_live_sync.sql"),
    ),
    (
        12,
        "0012_cost_and_explanation",
        include_str!("../../../../migrations/0012_cost_and_explanation.sql"),
    ),
    (
        13,
        "0013_orphans_without_marks",
        include_str!("../../../../migrations/0013_orphans_without_marks.sql"),
    ),
    (
        14,
        "0014_retired_prefixes",
        include_str!("../../../../migrations/0014_retired_prefixes.sql"),
    ),
];

/// Brings the schema up to date; returns the versions it applied.
pub fn apply(sql: &impl Sql, now: i64) -> Result<Vec<u32>, StoreError> {
    sql.run_script(
        "CREATE TABLE IF NOT EXISTS kv_sync_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let applied: Vec<u32> = sql
        .query("SELECT version FROM kv_sync_migrations", &[])?
        .iter()
        .map(|row| row.get("version"))
        .collect::<Result<_, _>>()?;
    let mut done = Vec::new();
    for (version, name, script) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sql.transaction(|| {
            sql.run_script(script)?;
            sql.execute(
                "INSERT INTO kv_sync_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                params![version, name, now],
            )
        })
        .map_err(|e| StoreError::Storage(format!("migration {name}: {e}")))?;
        done.push(*version);
    }
    Ok(done)
}
