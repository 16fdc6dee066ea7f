use super::*;
use std::collections::HashMap;

/// Every sync's definition, as the routes and each coordinator read them.
fn read(pairs: &[(&str, &str)]) -> Result<Vec<SyncDefinition>, ConfigError> {
    let vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = |name: &str| vars.get(name).cloned();
    sync_names(var)?
        .iter()
        .map(|name| read_sync(var, name).map(|d| d.expect("a listed sync is found")))
        .collect()
}

#[test]
fn without_syncs_there_is_the_default_one() {
    let syncs = read(&[("SYNC_INTERVAL_SECONDS", "60"), ("KV_NAMESPACE_ID", "ns1")]).unwrap();
    assert_eq!(syncs.len(), 1);
    let d = &syncs[0];
    assert_eq!(
        (
            d.name.as_str(),
            d.kv_binding.as_str(),
            d.key_prefix.as_str()
        ),
        ("default", "IDENTITY_STORE", "")
    );
    assert_eq!(d.kv_namespace_id.as_deref(), Some("ns1"));
    assert_eq!(d.config.interval_seconds, 60);
    assert_eq!(
        coordinator_name("default"),
        "kv-sync",
        "the default sync keeps its state"
    );
    assert_eq!(coordinator_name("companies"), "sync:companies");
}

#[test]
fn syncs_add_named_syncs_with_their_own_settings_over_the_vars() {
    let syncs = read(&[
        ("SYNC_LOOKBACK_SECONDS", "120"),
        (
            "SYNCS",
            r#"[{"name": "companies", "query": "SELECT 1", "kv_binding": "COMPANY_STORE", "key_prefix": "co:",
                 "interval_seconds": 900, "kv_namespace_id": "ns2", "kv_expiration_ttl_seconds": "3600"},
                {"name": "accounts_2", "query": "SELECT 2"}]"#,
        ),
    ])
    .unwrap();
    assert_eq!(
        syncs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["default", "companies", "accounts_2"]
    );
    let c = &syncs[1];
    assert_eq!(
        (
            c.kv_binding.as_str(),
            c.key_prefix.as_str(),
            c.kv_namespace_id.as_deref()
        ),
        ("COMPANY_STORE", "co:", Some("ns2"))
    );
    assert_eq!(c.config.query, "SELECT 1");
    assert_eq!(c.config.interval_seconds, 900);
    assert_eq!(c.config.kv_expiration_ttl_seconds, 3_600);
    assert_eq!(c.config.lookback_seconds, 120, "not given: the var's value");
    assert_eq!(
        (syncs[2].kv_binding.as_str(), syncs[2].key_prefix.as_str()),
        ("IDENTITY_STORE", "")
    );
}

#[test]
fn a_bad_syncs_names_the_entry_and_the_field() {
    let err = |syncs: &str| read(&[("SYNCS", syncs)]).unwrap_err().to_string();
    assert!(err("{not json").contains("SYNCS"), "{}", err("{not json"));
    assert!(err(r#"[{"name": "Bad Name", "query": "x"}]"#).contains("SYNCS[0] (Bad Name).name"));
    assert!(
        err(r#"[{"name": "x", "query": "q"}, {"name": "x", "query": "q"}]"#)
            .contains("SYNCS[1] (x).name is used twice")
    );
    assert!(err(r#"[{"name": "default", "query": "q"}]"#).contains("used twice"));
    assert!(err(r#"[{"name": "a"}]"#).contains("SYNCS[0] (a).query is required"));
    assert!(
        err(r#"[{"name": "a", "query": "q", "intervall_seconds": 5}]"#)
            .contains("SYNCS[0] (a).intervall_seconds is not a setting")
    );
    let e = err(r#"[{"name": "a", "query": "q", "interval_seconds": "5m"}]"#);
    assert!(
        e.contains("SYNCS[0] (a).interval_seconds") && e.contains("\"5m\""),
        "{e}"
    );
    assert!(err(r#"[{"name": "a", "query": "q", "key_prefix": 7}]"#)
        .contains("(a).key_prefix must be a string"));
    assert!(err(r#"[3]"#).contains("SYNCS[0]"));
    assert!(!valid_name(&"x".repeat(33)) && valid_name("a-b_9"));
}

#[test]
fn routing_needs_only_the_names_so_a_bad_setting_does_not_hide_status() {
    let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ok = vars(&[
        ("SYNC_INTERVAL_SECONDS", "5m"),
        (
            "SYNCS",
            r#"[{"name": "companies", "query": "SELECT 1", "interval_seconds": "soon"}]"#,
        ),
    ]);
    assert_eq!(
        sync_names(|n| ok.get(n).cloned()).unwrap(),
        ["default", "companies"]
    );
    let twice = vars(&[("SYNCS", r#"[{"name": "default", "query": "SELECT 1"}]"#)]);
    let e = sync_names(|n| twice.get(n).cloned()).unwrap_err();
    assert_eq!(e.var, "SYNCS[0] (default).name");
    let nameless = vars(&[("SYNCS", r#"[{"query": "SELECT 1"}]"#)]);
    assert!(sync_names(|n| nameless.get(n).cloned()).is_err());
}

#[test]
fn a_bad_setting_is_its_own_syncs_error_and_stops_no_other() {
    let vars: HashMap<String, String> = [(
        "SYNCS",
        r#"[{"name": "ok", "query": "SELECT 1"}, {"name": "bad", "query": "SELECT 1", "interval_seconds": "5m"}]"#,
    )]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let var = |name: &str| vars.get(name).cloned();
    assert_eq!(read_sync(var, "default").unwrap().unwrap().name, "default");
    assert_eq!(read_sync(var, "ok").unwrap().unwrap().name, "ok");
    let e = read_sync(var, "bad").unwrap_err();
    assert_eq!(e.var, "SYNCS[1] (bad).interval_seconds");
    assert_eq!(read_sync(var, "gone").unwrap(), None);
}

#[test]
fn syncs_under_one_prefix_in_one_namespace_know_each_other() {
    let syncs = r#"[
        {"name": "a", "query": "SELECT 1", "key_prefix": "p:"},
        {"name": "b", "query": "SELECT 1", "key_prefix": "p:"},
        {"name": "c", "query": "SELECT 1", "key_prefix": "q:"},
        {"name": "d", "query": "SELECT 1", "key_prefix": "p:", "kv_binding": "OTHER"},
        {"name": "e", "query": "SELECT 1", "kv_binding": "OTHER", "kv_namespace_id": "ns1"}
    ]"#;
    let vars = [("SYNCS", syncs), ("KV_NAMESPACE_ID", "ns1")];
    let var = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let sharers = |name: &str| {
        let sync = read_sync(var, name).unwrap().unwrap();
        key_sharers(var, &sync)
    };
    assert_eq!(sharers("a"), vec!["b"]);
    assert!(sharers("c").is_empty());
    assert!(sharers("d").is_empty(), "another binding, no namespace id");
    assert_eq!(
        sharers("default"),
        vec!["e"],
        "the same namespace id, no prefix"
    );
}
