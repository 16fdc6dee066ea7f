#!/usr/bin/env bash
# `make demo`: the BigQuery emulator with demo leads and events, the Worker
# under `wrangler dev` (local KV, Durable Object, alarms) pointed at it, one
# sync, then the status, a few KV values and the dashboard URL. Both keep
# running until Ctrl-C, which stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

BQ_PORT=${BQ_PORT:-9050}
WORKER_PORT=${WORKER_PORT:-8787}
LEADS=${DEMO_LEADS:-2000}
STATE=.wrangler/demo
rm -rf "$STATE"  # the emulator starts empty, so KV and the cursor do too
mkdir -p "$STATE"
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
BQ_URL="http://127.0.0.1:$BQ_PORT"
WORKER_URL="http://127.0.0.1:$WORKER_PORT"
say() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  say "stopping the emulator and wrangler dev"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for port in "$BQ_PORT" "$WORKER_PORT"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use; stop what holds it or set BQ_PORT / WORKER_PORT" >&2
    exit 1
  fi
done

say "starting the BigQuery emulator on $BQ_URL"
BQEMU_ENABLE_FORMAT_EXTENSIONS=false .venv/bin/python tools/bqemu/launch.py \
  --rest-port "$BQ_PORT" --grpc-port 0 --project demo --log-level warning >"$STATE/bqemulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
  curl -sf "$BQ_URL/bigquery/v2/projects/demo/datasets" >/dev/null && break
  sleep 0.5
done

say "loading $LEADS demo leads and their site visits into outbound_sales"
.venv/bin/python tools/bqemu/seed.py --api "$BQ_URL" --project demo --reset --leads "$LEADS" --events-per-lead 3

say "starting the Worker with wrangler dev on $WORKER_URL"
printf 'EVENT_SIGNING_SECRET=%s\n' "$SECRET" >.dev.vars
WRANGLER_SEND_METRICS=false wrangler dev --port "$WORKER_PORT" --ip 127.0.0.1 \
  --persist-to "$STATE/state" --show-interactive-dev-session=false \
  --var "BIGQUERY_PROJECT_ID:demo" --var "BIGQUERY_API_BASE:$BQ_URL" \
  >"$STATE/wrangler.log" 2>&1 &
pids+=($!)
for _ in $(seq 240); do
  curl -s -o /dev/null "$WORKER_URL/dashboard" && break
  sleep 0.5
done

say "POST /sync-kv-now"
curl -s -X POST -H "Authorization: Bearer $SECRET" "$WORKER_URL/sync-kv-now" | python3 -m json.tool

say "GET /status (until the run has finished)"
status() { curl -s -H "Authorization: Bearer $SECRET" "$WORKER_URL/status"; }
for _ in $(seq 120); do
  [ "$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" != running ] && break
  sleep 0.5
done
status | python3 -c '
import json, sys
s = json.load(sys.stdin)
run, cursor = s["last_run"] or {}, s["cursor"]
print("state:     ", s["state"])
print("cursor:    ", cursor["updated_at"], cursor["key"])
print("last run:   #%s %s: %s read, %s written, %s unchanged, %s invocations, %.1f s" % (
    run.get("id"), run.get("status"), run.get("rows_read"), run.get("rows_written"),
    run.get("rows_unchanged"), run.get("invocations"), run.get("duration_seconds") or 0))
print("next sync: ", s["next_alarm_at"])'

say "a few KV values (wrangler kv key get --local)"
for key in lead-000001 lead-000002 lead-000003; do
  echo "$key:"
  WRANGLER_SEND_METRICS=false wrangler kv key get "$key" --binding IDENTITY_STORE --local \
    --persist-to "$STATE/state" 2>/dev/null | python3 -m json.tool || true
done

say "kv-sync is running"
cat <<INFO
  dashboard:  $WORKER_URL/dashboard   (token: $SECRET)
  status:     curl -H 'Authorization: Bearer $SECRET' $WORKER_URL/status
  sync now:   curl -X POST -H 'Authorization: Bearer $SECRET' $WORKER_URL/sync-kv-now
  more data:  .venv/bin/python tools/bqemu/seed.py --api $BQ_URL --project demo --update-fraction 0.05 --leads 0
  logs:       $STATE/wrangler.log, $STATE/bqemulator.log
The alarm syncs every 5 minutes. Press Ctrl-C to stop both.
INFO
wait -n "${pids[@]}"
