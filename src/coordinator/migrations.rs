//! Applies `migrations/*.sql` to the coordinator's SQLite, in order, once.
//!
//! A deployed Durable Object keeps its storage across Worker upgrades, so a
//! schema change must be a new numbered file here, never an edit of an old
//! one: the object records which versions it has and applies only the rest.

use worker::{Result, SqlStorage, SqlStorageValue};

/// Every migration, in order. Append; never edit or reorder.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_access_token",
        include_str!("../../migrations/0002_access_token.sql"),
    ),
    (
        3,
        "0003_failed_row_identity",
        include_str!("../../migrations/0003_failed_row_identity.sql"),
    ),
];

pub fn apply(sql: &SqlStorage, now_micros: i64) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS kv_sync_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        None,
    )?;
    #[derive(serde::Deserialize)]
    struct Applied {
        version: i64,
    }
    let applied: Vec<Applied> = sql
        .exec("SELECT version FROM kv_sync_migrations", None)?
        .to_array()?;
    for (version, name, script) in MIGRATIONS {
        if applied.iter().any(|a| a.version == *version) {
            continue;
        }
        // Durable Object SQL runs a multi-statement script in one exec, and
        // writes with no await between them commit together.
        sql.exec(script, None)?;
        sql.exec(
            "INSERT INTO kv_sync_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            vec![
                SqlStorageValue::Integer(*version),
                SqlStorageValue::from(*name),
                SqlStorageValue::Integer(now_micros),
            ],
        )?;
    }
    Ok(())
}
