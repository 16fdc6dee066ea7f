//! The oracle: what must hold after every step of a lifetime.

use kv_sync_core::coordinator::policy::status::RunStatus;
use kv_sync_core::engine::time::Micros;

use crate::deployment::Sync;
use crate::support::fakes::warehouse::Lead;
use crate::{Coverage, LOOKBACK};

/// Whether KV can hold the row: it has a stamp and a key KV takes (under
/// a prefix, `.` is an ordinary key).
fn writable(prefix: &str, key: &str, row: &Lead) -> bool {
    row.updated_at.is_some() && !matches!(format!("{prefix}{key}").as_str(), "." | "..")
}

/// After a completed run: every row of its window is in KV as the source
/// has it; after a full read (that deleted what it found gone), exactly
/// the source, and the failed rows are exactly the source's failing ones.
fn check_completed_run(sync: &mut Sync, cov: &mut Coverage) -> Result<(), String> {
    let Some(run) = sync.world.store().recent_runs(1).unwrap().pop() else {
        return Ok(());
    };
    if run.id == sync.last_run_checked || run.status != RunStatus::Completed {
        return Ok(());
    }
    sync.last_run_checked = run.id;
    cov.runs_checked += 1;
    let since = match (&sync.idle_cursor, run.full) {
        (Some(c), false) => c.updated_at - LOOKBACK,
        _ => Micros::MIN,
    };
    let held = sync.kv_entries();
    let warehouse = sync.world.warehouse();
    let winners = warehouse.winners();
    for (key, row) in &winners {
        let Some(at) = row.updated_at.filter(|at| *at >= since) else {
            continue;
        };
        if !writable(&sync.prefix, key, row) {
            continue;
        }
        let expected = (!row.deleted).then(|| row.expected_value());
        if held.get(key) != expected.as_ref() {
            return Err(format!(
                "run {} ({}): {key} (updated {at}) is {:?} in KV, the source says {expected:?}",
                run.id,
                if run.full { "full" } else { "incremental" },
                held.get(key)
            ));
        }
    }
    if run.full && run.warning.is_none() {
        cov.full_reads_checked += 1;
        // A quarantined row keeps the value its key last had: KV is checked
        // on the keys the source can write.
        let quarantined = |k: &String| {
            winners
                .get(k)
                .is_some_and(|r| !writable(&sync.prefix, k, r))
        };
        let stray: Vec<&String> = held
            .keys()
            .filter(|k| !quarantined(k) && winners.get(*k).is_none_or(|r| r.deleted))
            .collect();
        if !stray.is_empty() {
            return Err(format!(
                "full run {}: KV still holds {stray:?}, which left the source",
                run.id
            ));
        }
        let failing = winners
            .iter()
            .filter(|(k, r)| !writable(&sync.prefix, k, r))
            .count() as u64;
        drop(warehouse);
        let state = sync.world.state();
        let counted = state.failed_listed + state.failed_pruned;
        if counted != failing {
            return Err(format!(
                "full run {}: {counted} failed rows counted, the source has {failing}",
                run.id
            ));
        }
    }
    Ok(())
}

/// The invariants that hold after every step.
pub fn check_step(sync: &mut Sync, cov: &mut Coverage) -> Result<(), String> {
    let state = sync.world.state();
    if let (Some(before), Some(now)) = (&sync.last_cursor, &state.cursor) {
        if now < before {
            return Err(format!("the cursor moved backwards: {before:?} → {now:?}"));
        }
    }
    sync.last_cursor = state.cursor.clone().or(sync.last_cursor.take());
    check_completed_run(sync, cov)?;
    let stored = sync.world.stored_keys() as usize;
    if stored > sync.keys_ever {
        return Err(format!(
            "storage holds {stored} keys, the source never had more than {}",
            sync.keys_ever
        ));
    }
    if state.active_run.is_none() {
        sync.idle_cursor = state.cursor;
    }
    Ok(())
}
