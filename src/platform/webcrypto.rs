//! RS256 signatures, made and checked with the runtime's WebCrypto
//! (`crypto.subtle`).
//!
//! The runtime already carries a vetted RSA implementation; a Rust RSA stack
//! would add about 200 KB of wasm for one signature an hour.

use js_sys::{Array, ArrayBuffer, Uint8Array};
use kv_sync_core::runtime::RsaKey;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Algorithm, CryptoKey, RsaHashedImportParams, SubtleCrypto, WorkerGlobalScope};

const ALGORITHM: &str = "RSASSA-PKCS1-v1_5";

fn describe(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "unknown WebCrypto error".into())
}

fn subtle() -> Result<SubtleCrypto, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(scope.crypto().map_err(describe)?.subtle())
}

/// RSASSA-PKCS1-v1_5 with SHA-256, as WebCrypto's import takes it.
fn rs256() -> Algorithm {
    let algorithm = Algorithm::new(ALGORITHM);
    algorithm
        .unchecked_ref::<RsaHashedImportParams>()
        .set_hash_str("SHA-256");
    algorithm
}

/// Imports a key in `format` for the one `usage`.
async fn import(
    subtle: &SubtleCrypto,
    format: &str,
    key: &js_sys::Object,
    usage: &str,
) -> Result<CryptoKey, String> {
    let usages = Array::of1(&usage.into());
    let import = subtle
        .import_key_with_object(format, key, &rs256(), false, &usages)
        .map_err(describe)?;
    Ok(JsFuture::from(import)
        .await
        .map_err(|e| format!("the key was refused by WebCrypto: {}", describe(e)))?
        .unchecked_into())
}

/// Signs `data` with RSASSA-PKCS1-v1_5 / SHA-256 under a PKCS#8 DER key.
pub async fn sign_rs256(pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let subtle = subtle()?;
    let key = import(&subtle, "pkcs8", &Uint8Array::from(pkcs8_der), "sign").await?;
    let signed = subtle
        .sign_with_str_and_u8_array(ALGORITHM, &key, data)
        .map_err(describe)?;
    let buffer: ArrayBuffer = JsFuture::from(signed)
        .await
        .map_err(describe)?
        .unchecked_into();
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Verifies an RSASSA-PKCS1-v1_5 / SHA-256 signature under a JWK's public
/// key (Google's OIDC certificates).
pub async fn verify_rs256(key: &RsaKey, data: &[u8], signature: &[u8]) -> Result<bool, String> {
    let subtle = subtle()?;
    let jwk =
        serde_json::json!({"kty": "RSA", "n": key.n, "e": key.e, "alg": "RS256", "ext": true});
    let jwk: js_sys::Object = js_sys::JSON::parse(&jwk.to_string())
        .map_err(describe)?
        .unchecked_into();
    let key = import(&subtle, "jwk", &jwk, "verify").await?;
    let verified = subtle
        .verify_with_str_and_u8_array_and_u8_array(ALGORITHM, &key, signature, data)
        .map_err(describe)?;
    Ok(JsFuture::from(verified)
        .await
        .map_err(describe)?
        .as_bool()
        .unwrap_or(false))
}
