//! RS256 signatures with the runtime's WebCrypto (`crypto.subtle`).
//!
//! The runtime already carries a vetted RSA implementation; a Rust RSA stack
//! would add about 200 KB of wasm for one signature an hour.

use js_sys::{Array, ArrayBuffer, Uint8Array};
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

/// Signs `data` with RSASSA-PKCS1-v1_5 / SHA-256 under a PKCS#8 DER key.
pub async fn sign_rs256(pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let subtle = subtle()?;
    let algorithm = Algorithm::new(ALGORITHM);
    algorithm
        .unchecked_ref::<RsaHashedImportParams>()
        .set_hash_str("SHA-256");
    let usages = Array::of1(&"sign".into());
    let import = subtle
        .import_key_with_object(
            "pkcs8",
            &Uint8Array::from(pkcs8_der),
            &algorithm,
            false,
            &usages,
        )
        .map_err(describe)?;
    let key: CryptoKey = JsFuture::from(import)
        .await
        .map_err(|e| format!("the private key was refused by WebCrypto: {}", describe(e)))?
        .unchecked_into();
    let signed = subtle
        .sign_with_str_and_u8_array(ALGORITHM, &key, data)
        .map_err(describe)?;
    let buffer: ArrayBuffer = JsFuture::from(signed)
        .await
        .map_err(describe)?
        .unchecked_into();
    Ok(Uint8Array::new(&buffer).to_vec())
}
