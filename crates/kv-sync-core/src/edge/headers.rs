//! The headers every response carries, and the dashboard's content policy.

/// What kind of body a response has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// `/status`, the webhook's answers and every error: never cached, so
    /// a token's view of a sync never lingers in a shared cache.
    Json,
    /// The dashboard page (its script's nonce changes every time).
    Dashboard,
}

/// The security headers for a response with `body`.
pub fn security_headers(body: Body, nonce: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("X-Content-Type-Options", "nosniff".to_string())];
    match body {
        Body::Json => headers.push(("Cache-Control", "no-store".into())),
        Body::Dashboard => {
            headers.push(("Cache-Control", "no-store".into()));
            headers.push(("Referrer-Policy", "no-referrer".into()));
            headers.push((
                "Content-Security-Policy",
                dashboard_policy(nonce.unwrap_or_default()),
            ));
        }
    }
    headers
}

/// Nothing from other origins, no framing; the page's one inline script and
/// one inline style run by their nonce; it talks only to this Worker.
pub fn dashboard_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The dashboard with its nonce in place.
pub fn dashboard_page(template: &str, nonce: &str) -> String {
    template.replace("{{CSP_NONCE}}", nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_never_cached_and_the_dashboard_allows_nothing_from_elsewhere() {
        let json = security_headers(Body::Json, None);
        assert!(json.contains(&("X-Content-Type-Options", "nosniff".into())));
        assert!(json.contains(&("Cache-Control", "no-store".into())));
        let page = security_headers(Body::Dashboard, Some("abc"));
        let csp = &page
            .iter()
            .find(|(n, _)| *n == "Content-Security-Policy")
            .unwrap()
            .1;
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(
            csp.contains("script-src 'nonce-abc'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
        assert!(page.contains(&("Referrer-Policy", "no-referrer".into())));
        let html = dashboard_page("<script nonce=\"{{CSP_NONCE}}\"></script>", "abc");
        assert_eq!(html, "<script nonce=\"abc\"></script>");
    }
}
