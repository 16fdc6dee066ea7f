use super::*;
use crate::bigquery::test_keys::{armour, random_bytes, service_account_json};

/// A service-account key around `der`, made at run time.
fn key_json(der: &[u8]) -> String {
    service_account_json(
        der,
        "sync@proj.iam.gserviceaccount.com",
        "http://127.0.0.1:1/token",
    )
}

#[test]
fn the_jwt_carries_the_claims_google_checks() {
    let der = random_bytes(32);
    let key = ServiceAccountKey::parse(&key_json(&der)).unwrap();
    assert_eq!(key.private_key_der().unwrap(), der);
    let input = key.jwt_signing_input(1_700_000_000 * MICROS_PER_SECOND + 123);
    let (header, claims) = input.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
    assert_eq!(claims["iss"], "sync@proj.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], "http://127.0.0.1:1/token");
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_003_600);
    let token = jwt(&input, &[1, 2, 3]);
    assert!(token.ends_with(".AQID"), "{token}");
    assert!(token_request_body(&token).starts_with(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
    ));
}

#[test]
fn bad_keys_are_auth_errors_that_do_not_quote_the_secret() {
    let e = ServiceAccountKey::parse("{\"client_email\": \"x\", \"private_key\": \"SECRETSTUFF\"}")
        .unwrap_err();
    assert!(
        matches!(&e, WarehouseError::Auth(m) if !m.contains("SECRETSTUFF")),
        "{e:?}"
    );
    let e = ServiceAccountKey::parse("not json SECRETSTUFF").unwrap_err();
    assert!(
        matches!(&e, WarehouseError::Auth(m) if !m.contains("SECRETSTUFF")),
        "{e:?}"
    );
    let key = ServiceAccountKey::parse(&key_json(&random_bytes(32))).unwrap();
    assert!(!format!("{key:?}").contains(PKCS8_LABEL));
    let pkcs1 = armour("RSA PRIVATE KEY", &random_bytes(32));
    let pkcs1 = json!({"client_email": "x", "private_key": pkcs1}).to_string();
    let e = ServiceAccountKey::parse(&pkcs1).unwrap_err();
    assert!(
        matches!(&e, WarehouseError::Auth(m) if m.contains("\"RSA PRIVATE KEY\"")),
        "{e:?}"
    );
}

#[test]
fn tokens_are_reused_until_shortly_before_they_expire() {
    let now = 1_000 * MICROS_PER_SECOND;
    let t = parse_token_response(
        200,
        r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
        now,
    )
    .unwrap();
    assert_eq!(t.expires_at, now + 3_599 * MICROS_PER_SECOND);
    assert!(t.usable(now + 3_000 * MICROS_PER_SECOND));
    assert!(!t.usable(now + 3_400 * MICROS_PER_SECOND));
    assert!(!format!("{t:?}").contains("ya29"));
    assert!(
        matches!(parse_token_response(400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#, now),
        Err(WarehouseError::Auth(m)) if m.contains("Invalid JWT Signature"))
    );
    assert!(matches!(
        parse_token_response(503, "{}", now),
        Err(WarehouseError::Backend(_))
    ));
}
