use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_780_000_000;
const EXPECTED: Expected<'static> = Expected {
    audience: "https://kv-sync.example/push",
    service_account: Some("push@p.iam.gserviceaccount.com"),
};

fn claims() -> Value {
    json!({"iss": "https://accounts.google.com", "aud": EXPECTED.audience,
           "email": "push@p.iam.gserviceaccount.com", "email_verified": true,
           "iat": NOW - 10, "exp": NOW + 3590})
}

fn token(header: Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode(b"sig")
    )
}

fn bearer(claims: &Value) -> String {
    format!(
        "Bearer {}",
        token(json!({"alg": "RS256", "kid": "k1"}), claims)
    )
}

fn check(claims: &Value) -> Result<(), Refusal> {
    let header = bearer(claims);
    IdToken::read(Some(&header))?.check_claims(&EXPECTED, NOW * MICROS_PER_SECOND)
}

#[test]
fn a_token_is_taken_apart_into_its_key_signed_bytes_and_signature() {
    let header = bearer(&claims());
    let token = IdToken::read(Some(&header)).unwrap();
    assert_eq!(token.kid, "k1");
    assert_eq!(token.signature, b"sig");
    assert_eq!(token.signed.matches('.').count(), 1);
    assert!(header.contains(token.signed));
    assert_eq!(
        token.check_claims(&EXPECTED, NOW * MICROS_PER_SECOND),
        Ok(())
    );
}

#[test]
fn only_rs256_with_a_key_id_is_read() {
    for alg in ["HS256", "none", "RS512"] {
        let header = format!(
            "Bearer {}",
            token(json!({"alg": alg, "kid": "k1"}), &claims())
        );
        assert_eq!(
            IdToken::read(Some(&header)).err(),
            Some(Refusal::Algorithm(alg.into()))
        );
    }
    let no_kid = format!("Bearer {}", token(json!({"alg": "RS256"}), &claims()));
    assert!(matches!(
        IdToken::read(Some(&no_kid)),
        Err(Refusal::Malformed(_))
    ));
    for header in ["Bearer a.b", "Bearer a.b.c.d", "Bearer !!.??.**", "Basic x"] {
        assert!(IdToken::read(Some(header)).is_err(), "{header}");
    }
    assert!(matches!(IdToken::read(None), Err(Refusal::Missing)));
}

#[test]
fn the_claims_are_checked_with_a_minute_of_skew() {
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        check(&c)
    };
    assert_eq!(with("iss", json!("accounts.google.com")), Ok(()));
    assert!(matches!(
        with("iss", json!("https://evil.example")),
        Err(Refusal::Issuer(_))
    ));
    assert!(matches!(
        with("aud", json!("https://other")),
        Err(Refusal::Audience(_))
    ));
    assert_eq!(with("exp", json!(NOW - 59)), Ok(()));
    assert_eq!(with("exp", json!(NOW - 61)), Err(Refusal::Expired));
    assert_eq!(with("iat", json!(NOW + 59)), Ok(()));
    assert_eq!(with("iat", json!(NOW + 61)), Err(Refusal::NotYetIssued));
    assert!(matches!(
        with("email", json!("other@p.iam")),
        Err(Refusal::Email(_))
    ));
    assert_eq!(
        with("email_verified", json!(false)),
        Err(Refusal::EmailUnverified)
    );
    assert_eq!(with("email_verified", json!("true")), Ok(()));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(check(&c), Err(Refusal::Expired));
}

#[test]
fn without_a_service_account_any_verified_google_token_for_the_audience_passes() {
    let mut c = claims();
    c["email"] = json!("someone@else");
    c["email_verified"] = json!(false);
    let header = bearer(&c);
    let open = Expected {
        service_account: None,
        ..EXPECTED
    };
    let token = IdToken::read(Some(&header)).unwrap();
    assert_eq!(token.check_claims(&open, NOW * MICROS_PER_SECOND), Ok(()));
}
