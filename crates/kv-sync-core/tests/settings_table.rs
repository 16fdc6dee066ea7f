//! The README's variables table and its `SYNCS` field list say what the
//! settings table says: every setting, with its default, and every per-sync
//! field. A setting added to one and not the other fails here.

use std::collections::BTreeMap;

use kv_sync_core::settings::table::SETTINGS;

const README: &str = include_str!("../../../README.md");

/// `| `VAR` | default | meaning |` rows: var → default (backticks dropped).
fn readme_variables() -> BTreeMap<String, String> {
    README
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let var = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let uppercase = var.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            (uppercase && cells.len() >= 4).then(|| (var.to_string(), cells[2].replace('`', "")))
        })
        .collect()
}

#[test]
fn the_readme_lists_every_setting_with_its_default() {
    let readme = readme_variables();
    let table: BTreeMap<String, String> = SETTINGS
        .iter()
        .map(|s| (s.var.to_string(), s.default.to_string()))
        .collect();
    assert_eq!(
        readme, table,
        "README.md's variables table vs settings::table"
    );
}

#[test]
fn the_readme_names_every_per_sync_field() {
    let section = README
        .split("## Several syncs")
        .nth(1)
        .expect("the README has a section on several syncs");
    for field in SETTINGS.iter().filter_map(|s| s.field) {
        assert!(
            section.contains(&format!("`{field}`")),
            "the README's SYNCS fields lack `{field}`"
        );
    }
}
