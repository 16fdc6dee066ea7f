-- kv-sync coordinator schema, version 2: the cached BigQuery access token,
-- so a new invocation or a restarted object reuses it instead of signing in
-- again (Google's token endpoint is rate limited, and each sign-in costs a
-- round trip). Tied to the service account that minted it.
CREATE TABLE access_token (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  client_email TEXT NOT NULL,
  token        TEXT NOT NULL,
  expires_at   INTEGER NOT NULL
);
