//! `POST /push`: one row Pub/Sub delivered, authenticated, typed as the
//! last pull typed its columns, and written to KV before it is
//! acknowledged.
//!
//! Every answer is Pub/Sub's instruction: `2xx` acknowledges the message
//! (written, unchanged, stale, or a bad row set aside among the failed
//! rows), anything else has it delivered again later (`401` a token that
//! does not pass, `400` a body that is not the envelope, `503` when the row
//! cannot be written yet). Nothing is written before the token passed.

use serde_json::json;

use super::ports::{Alarm, Connect, Environment};
use super::Coordinator;
use crate::bigquery::pushed_row::PushSchema;
use crate::coordinator::policy::reply::Reply;
use crate::engine::error::{SinkError, StoreError};
use crate::engine::kv_path::KvPath;
use crate::engine::plan::kv_op;
use crate::engine::ports::{KvSink, StateStore, Warehouse};
use crate::engine::record::{check, Change, Quarantined, SourceRecord};
use crate::engine::time::Micros;
use crate::push::envelope::PushMessage;
use crate::push::id_token::{Expected, IdToken, Refusal};
use crate::push::key_set::{Lookup, RsaKey};
use crate::push::verdict::{decide, PushOutcome, Verdict};
use crate::runtime::{HttpRequest, Method, Runtime};
use crate::settings::push::PushSettings;
use crate::store::sql::Sql;
use crate::store::PushedWrite;

/// What a write through the binding came to.
enum Written {
    Done(PushOutcome),
    /// KV refused the key or value for good.
    Refused(String),
    /// KV did not acknowledge it: Pub/Sub delivers it again.
    NotNow(String),
}

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    pub(super) async fn push(
        &self,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<Reply, StoreError> {
        let settings = self.settings();
        let Some(push) = settings.push.as_ref() else {
            return Ok(Reply::error(
                404,
                "POST /push is off: set PUSH_AUDIENCE to turn it on",
            ));
        };
        if let Err(refusal) = self.authenticate(authorization, push).await {
            self.runtime
                .log(&json!({"event": "push_refused", "error": refusal.to_string()}));
            return Ok(Reply::error(refusal.status(), &refusal.to_string()));
        }
        let message = match PushMessage::read(body) {
            Ok(message) => message,
            Err(e) => return Ok(Reply::error(400, &e.to_string())),
        };
        let (schema, prefix) = match self.typing()? {
            Ok(typing) => typing,
            Err(refused) => return Ok(refused),
        };
        let row = check(schema.type_row(&message.data), &prefix);
        let now = self.runtime.now();
        let record = match row {
            Ok(record) => record,
            Err(bad) => return self.set_aside(&bad, now),
        };
        let stored = (&self.store)
            .stored_hashes(&[record.key()])?
            .pop()
            .flatten();
        let run_active = self.store.state()?.active_run.is_some();
        match decide(&record, stored.as_ref(), run_active, now) {
            Verdict::Skip(outcome) => {
                self.store.count_push(outcome, now)?;
                Ok(answer(outcome, record.key()))
            }
            Verdict::Defer(why) => {
                self.runtime
                    .log(&json!({"event": "push_deferred", "key": record.key(), "why": why}));
                Ok(Reply::error(
                    503,
                    &format!("{why}; Pub/Sub delivers it again"),
                ))
            }
            Verdict::Apply => self.apply(record, &prefix, now).await,
        }
    }

    /// How a pushed row is typed and keyed: the result schema of the last
    /// completed pull and the sync's key prefix, or the answer that says
    /// why it cannot be yet.
    fn typing(&self) -> Result<Result<(PushSchema, String), Reply>, StoreError> {
        let Some(schema) = self.store.pull_schema()? else {
            return Ok(Err(Reply::error(
                503,
                "no pull has completed yet: a pushed row is typed by the columns of the last \
                 completed pull, so it waits for the first (Pub/Sub delivers it again)",
            )));
        };
        let schema = match PushSchema::parse(&schema) {
            Ok(schema) => schema,
            Err(e) => return Ok(Err(Reply::error(500, &e))),
        };
        Ok(match self.settings().run() {
            Ok(run) => Ok((schema, run.definition.key_prefix.clone())),
            Err(e) => Err(Reply::error(503, &e.to_string())),
        })
    }

    /// Writes (or deletes) the key and records it, or says why not.
    async fn apply(
        &self,
        record: SourceRecord,
        prefix: &str,
        now: Micros,
    ) -> Result<Reply, StoreError> {
        let key = record.key().to_string();
        let (hash, updated_at) = (record.hash, record.position.updated_at);
        let position = record.position.clone();
        self.store.note_push_unconfirmed(&key, now)?;
        match self.write(record, prefix, now).await {
            Written::Done(outcome) => {
                let write = PushedWrite {
                    key: &key,
                    hash,
                    updated_at,
                    now,
                };
                self.store.record_push(&write, outcome)?;
                self.runtime
                    .log(&json!({"event": "push_written", "key": key, "outcome": outcome}));
                Ok(answer(outcome, &key))
            }
            Written::Refused(why) => {
                let bad = Quarantined {
                    key: Some(key),
                    position: Some(position),
                    reason: format!("KV refused it: {why}"),
                    digest: None,
                };
                self.set_aside(&bad, now)
            }
            Written::NotNow(why) => Ok(Reply::error(
                503,
                &format!("KV did not acknowledge the write ({why}); Pub/Sub delivers it again"),
            )),
        }
    }

    /// Writes through the binding (one key: the bulk API would only add a
    /// round trip), the sink a run of this sync writes through.
    async fn write(&self, record: SourceRecord, prefix: &str, now: Micros) -> Written {
        let settings = self.settings();
        let budget = self.run_limits(&settings).budget;
        let mut sink = match self
            .connection
            .open_sink(self.context(&settings), now + budget)
        {
            Ok(sink) => sink,
            Err(e) => return Written::NotNow(e.to_string()),
        };
        sink.use_path(KvPath::Binding);
        let outcome = match record.change {
            Change::Put { .. } => PushOutcome::Written,
            Change::Delete => PushOutcome::Deleted,
        };
        let answer = sink.apply(vec![kv_op(record, prefix, now)]).await;
        match answer.into_iter().next() {
            Some(Ok(())) => Written::Done(outcome),
            Some(Err(SinkError::Rejected(why))) => Written::Refused(why),
            Some(Err(e)) => Written::NotNow(e.to_string()),
            None => Written::NotNow("no answer".into()),
        }
    }

    /// A row that can never be written: among the failed rows, and
    /// acknowledged (Pub/Sub would only deliver it again).
    fn set_aside(&self, bad: &Quarantined, now: Micros) -> Result<Reply, StoreError> {
        self.store.record_push_failure(bad, now)?;
        self.runtime
            .log(&json!({"event": "push_failed", "key": bad.identity(), "reason": bad.reason}));
        Ok(Reply::json(
            200,
            &json!({"success": true, "outcome": PushOutcome::Failed, "key": bad.key,
                    "reason": bad.reason}),
        ))
    }

    /// Keeps the result schema a run read, once per schema: a pushed row is
    /// typed by the one of the last completed pull.
    pub(super) fn keep_result_schema(&self, warehouse: &impl Warehouse) {
        let Some((digest, fields)) = warehouse.result_schema() else {
            return;
        };
        if self.kept_schema.get() == Some(digest) {
            return;
        }
        match self.store.keep_result_schema(digest, &fields) {
            Ok(()) => self.kept_schema.set(Some(digest)),
            Err(e) => self
                .runtime
                .log(&json!({"event": "schema_keep_error", "error": e.to_string()})),
        }
    }

    /// Checks the push's OIDC token: signed by Google with RS256 under a
    /// key it publishes, and for this deployment.
    async fn authenticate(
        &self,
        authorization: Option<&str>,
        push: &PushSettings,
    ) -> Result<(), Refusal> {
        let token = IdToken::read(authorization)?;
        let now = self.runtime.now();
        let key = self.signing_key(&token.kid, &push.certs_url, now).await?;
        let verified = self
            .runtime
            .verify_rs256(&key, token.signed.as_bytes(), &token.signature)
            .await
            .map_err(|e| Refusal::Malformed(format!("its key cannot be used: {e}")))?;
        if !verified {
            return Err(Refusal::BadSignature);
        }
        let expected = Expected {
            audience: &push.audience,
            service_account: push.service_account.as_deref(),
        };
        token.check_claims(&expected, now)
    }

    /// The key `kid` names, from the kept set or a fresh fetch of it.
    async fn signing_key(&self, kid: &str, url: &str, now: Micros) -> Result<RsaKey, Refusal> {
        let lookup = self.key_set.borrow().lookup(kid, now);
        match lookup {
            Lookup::Found(key) => return Ok(key),
            Lookup::Unknown => return Err(Refusal::UnknownKey(kid.into())),
            Lookup::Fetch => {}
        }
        let fetched = self.fetch_keys(url).await;
        let mut set = self.key_set.borrow_mut();
        match fetched.and_then(|(body, max_age)| set.replace(&body, max_age.as_deref(), now)) {
            Ok(()) => set
                .stale(kid)
                .ok_or_else(|| Refusal::UnknownKey(kid.into())),
            Err(e) => {
                set.fetch_failed(now);
                set.stale(kid).ok_or(Refusal::KeysUnavailable(e))
            }
        }
    }

    /// Google's certificates and their `Cache-Control`.
    async fn fetch_keys(&self, url: &str) -> Result<(String, Option<String>), String> {
        let answer = self
            .runtime
            .send(HttpRequest {
                method: Method::Get,
                url,
                headers: &[("Accept", "application/json")],
                body: None,
            })
            .await
            .map_err(|e| e.0)?;
        self.runtime
            .log(&json!({"event": "oidc_keys_fetched", "status": answer.status}));
        if answer.status != 200 {
            return Err(format!("{url} answered HTTP {}", answer.status));
        }
        Ok((answer.body, answer.cache_control))
    }
}

fn answer(outcome: PushOutcome, key: &str) -> Reply {
    Reply::json(
        200,
        &json!({"success": true, "outcome": outcome, "key": key}),
    )
}
