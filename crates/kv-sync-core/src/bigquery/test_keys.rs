//! Service-account keys for host tests, made at run time: the scripted
//! runtime's signer never looks inside a key, so random bytes in PKCS#8
//! armour are enough to parse, and no key material sits in the repository.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::credentials::PKCS8_LABEL;

/// `len` random bytes, different on every run.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let state = RandomState::new();
    (0..len)
        .map(|i| state.hash_one(i).to_le_bytes()[0])
        .collect()
}

/// PEM armour around `bytes` with the given label.
pub fn armour(label: &str, bytes: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(bytes)
    )
}

/// A service-account JSON key around `der` (in PKCS#8 armour).
pub fn service_account_json(der: &[u8], client_email: &str, token_uri: &str) -> String {
    json!({
        "type": "service_account", "client_email": client_email,
        "private_key": armour(PKCS8_LABEL, der), "token_uri": token_uri, "project_id": "proj"
    })
    .to_string()
}
