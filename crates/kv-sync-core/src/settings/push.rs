//! The settings of `POST /push`: the route exists only when
//! `PUSH_AUDIENCE` is set (the audience the push subscription's OIDC
//! tokens carry), and they are the deployment's, shared by every sync
//! (each sync's subscription names it with `?sync=`).

use super::table::default_text;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSettings {
    /// `PUSH_AUDIENCE`: a token's `aud` must equal it.
    pub audience: String,
    /// `PUSH_SERVICE_ACCOUNT`: when set, a token's verified `email`.
    pub service_account: Option<String>,
    /// `GOOGLE_OIDC_CERTS_URL`: where Google's signing keys are fetched.
    pub certs_url: String,
}

impl PushSettings {
    /// The push settings, or `None` when `PUSH_AUDIENCE` is not set.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let text = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Some(PushSettings {
            audience: text("PUSH_AUDIENCE")?,
            service_account: text("PUSH_SERVICE_ACCOUNT"),
            certs_url: text("GOOGLE_OIDC_CERTS_URL")
                .unwrap_or_else(|| default_text("GOOGLE_OIDC_CERTS_URL")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_is_off_without_an_audience_and_google_keys_are_the_default() {
        assert_eq!(PushSettings::read(|_| None), None);
        assert_eq!(PushSettings::read(|_| Some(" ".into())), None);
        let on = PushSettings::read(|n| (n == "PUSH_AUDIENCE").then(|| "https://a/push".into()))
            .unwrap();
        assert_eq!(on.certs_url, "https://www.googleapis.com/oauth2/v3/certs");
        assert_eq!(on.service_account, None);
    }
}
