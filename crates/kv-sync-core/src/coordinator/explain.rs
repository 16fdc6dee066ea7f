//! `GET /keys/KEY`: what kv-sync knows of one key beside what KV holds now
//! (`policy::explanation` puts them together).

use percent_encoding::percent_decode_str;

use super::ports::{Alarm, Connect, Environment, KvNamespace};
use super::Coordinator;
use crate::coordinator::policy::explanation::explain;
use crate::coordinator::policy::reply::Reply;
use crate::engine::error::StoreError;
use crate::engine::record::MAX_KEY_BYTES;
use crate::runtime::Runtime;
use crate::store::sql::Sql;

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    /// Explains the key `encoded` (percent-encoded, without the prefix).
    pub(super) async fn explain_key(&self, encoded: &str) -> Result<Reply, StoreError> {
        let Ok(key) = percent_decode_str(encoded).decode_utf8() else {
            return Ok(Reply::error(
                400,
                "the key is not UTF-8 once percent-decoded",
            ));
        };
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Ok(Reply::error(
                400,
                &format!(
                    "a key is 1 to {MAX_KEY_BYTES} bytes; this one is {} (over-long keys are \
                     listed among the failed rows by their digest)",
                    key.len()
                ),
            ));
        }
        let settings = self.settings();
        let run = match settings.run() {
            Ok(run) => run,
            Err(e) => return Ok(Reply::error(503, &e.to_string())),
        };
        let prefix = &run.definition.key_prefix;
        let facts = self.store.key_facts(&key)?;
        let kv = match self.env.kv(&run.definition.kv_binding) {
            Ok(kv) => kv,
            Err(e) => {
                return Ok(Reply::error(
                    503,
                    &format!("the KV binding is missing: {e}"),
                ))
            }
        };
        let held = match kv.get(&format!("{prefix}{key}")).await {
            Ok(held) => held,
            Err(e) => return Ok(Reply::error(503, &format!("KV did not answer: {e}"))),
        };
        let explanation = explain(&key, &settings.name, prefix, facts, held.as_deref());
        Ok(Reply::json(200, &explanation))
    }
}
