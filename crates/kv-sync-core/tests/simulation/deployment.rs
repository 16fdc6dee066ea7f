//! The simulated deployment: its syncs, their sources, and one step of the
//! schedule.

use std::collections::BTreeMap;

use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::time::Micros;
use kv_sync_core::settings::SyncConfig;
use serde_json::Value;

use crate::oracle::check_step;
use crate::pushes::{push_a_row, PushHistory};
use crate::support::fakes::warehouse::Lead;
use crate::support::fakes::Faults;
use crate::support::pubsub::PUSH_VARS;
use crate::support::rng::Rng;
use crate::support::world::World;
use crate::{Coverage, S};

/// One sync of the deployment, and what the oracle remembers of it.
pub struct Sync {
    pub world: World,
    pub prefix: String,
    /// Every key its source ever had (storage may hold no more).
    pub keys_ever: usize,
    /// The cursor when it was last seen idle: a run started after it
    /// reads from this less the lookback.
    pub idle_cursor: Option<Cursor>,
    pub last_cursor: Option<Cursor>,
    pub last_run_checked: u64,
    /// What the source had, for Pub/Sub to push.
    pub pushes: PushHistory,
}

impl Sync {
    pub fn idle(&self) -> bool {
        self.world.state().active_run.is_none()
    }

    /// Whether the source may change now: no run is reading it, and no
    /// failed read waits to be resumed from a job over the source as it was
    /// (the oracle knows what a run read only while the source holds still).
    pub fn source_may_change(&self) -> bool {
        let state = self.world.state();
        state.active_run.is_none() && state.suspended_read.is_none()
    }

    /// Whether KV takes `key` under this sync's prefix.
    pub fn accepts(&self, key: &str) -> bool {
        !matches!(format!("{}{key}", self.prefix).as_str(), "." | "..")
    }

    /// A stamp for a new version of `key`: never before what was pushed of
    /// it (per key the newest `updated_at` wins, so a version stamped
    /// before a pushed one would never reach KV, by design).
    fn stamp_after_pushes(&self, key: &str, at: Micros) -> Micros {
        self.pushes
            .pushed_at
            .get(key)
            .map_or(at, |pushed| at.max(pushed + S))
    }

    /// KV's entries under every other prefix: what this sync must not
    /// touch.
    fn others_keys(&self) -> BTreeMap<String, Value> {
        let kv = self.world.kv();
        kv.data
            .iter()
            .filter(|(k, _)| !k.starts_with(&self.prefix))
            .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
            .collect()
    }

    /// KV's entries under this sync's prefix, by source key.
    pub fn kv_entries(&self) -> BTreeMap<String, Value> {
        let kv = self.world.kv();
        kv.data
            .keys()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(|s| (s, k)))
            .map(|(key, full)| (key.to_string(), kv.value(full).unwrap()))
            .collect()
    }
}

fn limits(rng: &mut Rng) -> RunLimits {
    RunLimits {
        page_rows: rng.range(1, 30) as u32,
        batch_rows: rng.range(1, 12) as usize,
        max_kv_requests: rng.range(1, 25) as u32,
        ..RunLimits::from_config(&SyncConfig::default())
    }
}

pub fn deployment(rng: &mut Rng, seed: u64) -> Vec<Sync> {
    let n = rng.range(1, 3) as usize;
    let p = [0.0, 0.01, 0.05][rng.range(0, 2) as usize];
    let mut syncs: Vec<Sync> = Vec::new();
    for i in 0..n {
        let prefix = format!("s{i}:");
        let mut world = World::named(limits(rng), &format!("s{i}"), &prefix);
        world.deploy(PUSH_VARS);
        if let Some(first) = syncs.first() {
            world.share_kv_with(&first.world);
        }
        let salt = seed.wrapping_mul(7).wrapping_add(i as u64 * 3);
        world.warehouse().faults = Faults::new(salt + 1, p);
        *world.storage.faults.borrow_mut() = Faults::new(salt + 3, p);
        syncs.push(Sync {
            world,
            prefix,
            keys_ever: 0,
            idle_cursor: None,
            last_cursor: None,
            last_run_checked: 0,
            pushes: PushHistory::default(),
        });
    }
    // One namespace, one set of KV faults.
    syncs[0].world.kv().faults = Faults::new(seed.wrapping_mul(7) + 2, p);
    syncs
}

/// A change to the source while its sync is idle (a run reads a source
/// that holds still, so the oracle knows what it must have read).
fn change_source(sync: &mut Sync, rng: &mut Rng, now: Micros, cov: &mut Coverage) {
    let keys: Vec<String> = sync.world.warehouse().rows.keys().cloned().collect();
    for _ in 0..rng.range(1, 8) {
        let existing =
            (!keys.is_empty()).then(|| keys[rng.range(0, keys.len() as u64 - 1) as usize].clone());
        let fresh = format!("k{:03}", rng.range(0, 199));
        let key = match (rng.range(0, 3), existing) {
            (0, Some(k)) => {
                sync.world.warehouse().remove(&k);
                continue;
            }
            (1, Some(k)) => k,
            _ => fresh,
        };
        let late = rng.chance(0.1);
        cov.late_rows += late as u64;
        let updated_at = match rng.range(0, 19) {
            0 => None,
            _ if late => Some(now - S * rng.range(700, 5_000) as i64),
            _ => Some(now - S * rng.range(0, 500) as i64),
        };
        let key = if rng.chance(0.02) {
            ".".to_string()
        } else {
            key
        };
        // Stamped for the key it ends up with (`.` can have been pushed too).
        let updated_at = updated_at.map(|at| sync.stamp_after_pushes(&key, at));
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("TRACE {} upsert {key} at {updated_at:?}", sync.prefix);
        }
        let mut row = Lead::new(
            &key,
            updated_at.unwrap_or(0),
            "Ada",
            rng.range(0, 99) as i64,
        );
        row.updated_at = updated_at;
        row.deleted = rng.chance(0.15);
        sync.pushes
            .versions
            .entry(key.clone())
            .or_default()
            .push(row.clone());
        sync.world.warehouse().upsert(row);
    }
    sync.keys_ever = sync.keys_ever.max(sync.world.warehouse().rows.len()) + 8;
}

pub fn step(
    syncs: &mut [Sync],
    rng: &mut Rng,
    now: &mut Micros,
    cov: &mut Coverage,
) -> Result<(), String> {
    let i = rng.range(0, syncs.len() as u64 - 1) as usize;
    let others = syncs[i].others_keys();
    let sync = &mut syncs[i];
    sync.world.runtime().clock.set((*now).max(sync.world.now()));
    let action = rng.range(0, 10);
    if std::env::var("SIM_TRACE").is_ok() {
        eprintln!(
            "TRACE {} action {action} idle {} may change {} suspended {:?} cursor {:?} runs {:?}",
            sync.prefix,
            sync.idle(),
            sync.source_may_change(),
            sync.world.state().suspended_read.map(|s| (
                s.progress.since,
                s.progress.position,
                s.progress.job.map(|j| j.job.job_id)
            )),
            sync.world.state().cursor,
            sync.world
                .store()
                .recent_runs(1)
                .unwrap()
                .pop()
                .map(|r| (r.id, r.status, r.full))
        );
    }
    match action {
        0..=2 if sync.source_may_change() => change_source(sync, rng, *now, cov),
        0..=5 if sync.world.storage.alarm.get().is_none() => {
            cov.crons += 1;
            sync.world.cron();
        }
        0..=5 => {
            cov.invocations += sync.world.fire_alarm().is_some() as u64;
            if rng.chance(0.15) {
                cov.duplicate_alarms += 1;
                sync.world.storage.alarm.set(Some(sync.world.now()));
                cov.invocations += sync.world.fire_alarm().is_some() as u64;
            }
        }
        6 => {
            cov.webhooks += 1;
            sync.world.start_run_with(RunMode {
                full: rng.chance(0.2),
                ..RunMode::default()
            });
        }
        7 => {
            cov.deploys += 1;
            let interval = ["10", "60", "300"][rng.range(0, 2) as usize];
            sync.world.deploy(&[("SYNC_INTERVAL_SECONDS", interval)]);
        }
        8 => {
            cov.evictions += 1;
            sync.world.deploy(&[]);
        }
        9 => push_a_row(sync, rng, cov),
        _ => *now += S * rng.range(1, 600) as i64,
    }
    *now = (*now).max(sync.world.now());
    let after = sync.others_keys();
    if after != others {
        let changed: Vec<&String> = after
            .keys()
            .chain(others.keys())
            .filter(|k| after.get(*k) != others.get(*k))
            .collect();
        return Err(format!(
            "sync {} changed another sync's keys: {changed:?}",
            sync.prefix
        ));
    }
    check_step(sync, cov)
}
