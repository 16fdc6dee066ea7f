//! The cached BigQuery access token, so a new invocation or a restarted
//! object reuses it instead of signing in again.

use super::sql::Sql;
use super::Store;
use crate::bigquery::credentials::AccessToken;
use crate::engine::error::StoreError;
use crate::params;

impl<S: Sql> Store<S> {
    /// The cached access token of this service account, if any.
    pub fn cached_token(&self, client_email: &str) -> Result<Option<AccessToken>, StoreError> {
        let rows = self.sql.query(
            "SELECT token, expires_at FROM access_token WHERE id = 1 AND client_email = ?",
            params![client_email],
        )?;
        rows.first()
            .map(|row| {
                Ok(AccessToken {
                    token: row.get("token")?,
                    expires_at: row.get("expires_at")?,
                })
            })
            .transpose()
    }

    pub fn save_token(&self, client_email: &str, token: &AccessToken) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO access_token (id, client_email, token, expires_at) VALUES (1, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET client_email = excluded.client_email,
               token = excluded.token, expires_at = excluded.expires_at",
            params![client_email, token.token, token.expires_at],
        )
    }
}
