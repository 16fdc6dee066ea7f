//! RS256 signatures with the runtime's WebCrypto (`crypto.subtle`).

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn describe(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown WebCrypto error".into())
}

fn call(subtle: &JsValue, method: &str, args: &[JsValue]) -> Result<Promise, String> {
    let function: Function = Reflect::get(subtle, &method.into())
        .map_err(describe)?
        .dyn_into()
        .map_err(|_| format!("crypto.subtle.{method} is not a function"))?;
    let array = args.iter().collect::<Array>();
    function
        .apply(subtle, &array)
        .map_err(describe)?
        .dyn_into()
        .map_err(describe)
}

/// Signs `data` with RSASSA-PKCS1-v1_5 / SHA-256 under a PKCS#8 DER key.
pub async fn sign_rs256(pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(describe)?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(describe)?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"RSASSA-PKCS1-v1_5".into()).map_err(describe)?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).map_err(describe)?;
    let key_data = Uint8Array::from(pkcs8_der);
    let usages = Array::of1(&"sign".into());
    let import = call(
        &subtle,
        "importKey",
        &[
            "pkcs8".into(),
            key_data.into(),
            algorithm.clone().into(),
            JsValue::FALSE,
            usages.into(),
        ],
    )?;
    let key = JsFuture::from(import)
        .await
        .map_err(|e| format!("the private key was refused by WebCrypto: {}", describe(e)))?;
    let signed = call(
        &subtle,
        "sign",
        &[algorithm.into(), key, Uint8Array::from(data).into()],
    )?;
    let buffer: ArrayBuffer = JsFuture::from(signed)
        .await
        .map_err(describe)?
        .dyn_into()
        .map_err(describe)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
