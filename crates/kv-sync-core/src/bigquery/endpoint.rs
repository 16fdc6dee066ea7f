//! Where the BigQuery jobs run: the adapter's own settings.

use crate::settings::table::default_text;
use crate::settings::{ConfigError, Vars};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigQueryConfig {
    /// The project that runs the query jobs; without it, the service
    /// account's own project.
    pub project_id: Option<String>,
    pub location: String,
    pub api_base: String,
}

impl Default for BigQueryConfig {
    fn default() -> Self {
        BigQueryConfig {
            project_id: None,
            location: default_text("BIGQUERY_LOCATION"),
            api_base: default_text("BIGQUERY_API_BASE"),
        }
    }
}

impl BigQueryConfig {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(var);
        let d = BigQueryConfig::default();
        let api_base = vars.text("BIGQUERY_API_BASE").unwrap_or(d.api_base);
        if !api_base.starts_with("https://") && !api_base.starts_with("http://") {
            return Err(ConfigError::invalid(
                "BIGQUERY_API_BASE",
                api_base,
                "must be an http(s) URL, e.g. \"https://bigquery.googleapis.com\"",
            ));
        }
        Ok(BigQueryConfig {
            project_id: vars.text("BIGQUERY_PROJECT_ID"),
            location: vars.text("BIGQUERY_LOCATION").unwrap_or(d.location),
            api_base: api_base.trim_end_matches('/').to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            BigQueryConfig::from_vars(|_| None).unwrap(),
            BigQueryConfig::default()
        );
        let c = BigQueryConfig::from_vars(|name| match name {
            "BIGQUERY_API_BASE" => Some("http://127.0.0.1:9050/".into()),
            "BIGQUERY_PROJECT_ID" => Some("demo".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.api_base, "http://127.0.0.1:9050");
        assert_eq!(c.project_id.as_deref(), Some("demo"));
        let e = BigQueryConfig::from_vars(|_| Some("localhost:9050".into())).unwrap_err();
        assert_eq!(e.var, "BIGQUERY_API_BASE");
    }
}
