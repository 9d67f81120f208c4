#!/usr/bin/env bash
# `make run`: migrate, create a development API key, then run the API (gunicorn), one worker,
# beat and Flower in the foreground. Ctrl-C stops them all. With no DATABASE_URL / BROKER_URL
# this is the embedded setup: SQLite and a filesystem broker under var/, the outbox provider.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export MAILROOM_VAR_DIR=${MAILROOM_VAR_DIR:-$PWD/var}
mkdir -p "$MAILROOM_VAR_DIR"
API_HOST=${API_HOST:-127.0.0.1}
API_PORT=${API_PORT:-8000}
FLOWER_PORT=${FLOWER_PORT:-5555}
if [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  FLOWER_BASIC_AUTH="admin:$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')"
fi
export FLOWER_BASIC_AUTH
# Open and click tracking on the local API: a signing secret made once and kept under var/, so
# links in mail already sent keep working across runs.
export MAILROOM_TRACKING_URL=${MAILROOM_TRACKING_URL:-http://$API_HOST:$API_PORT}
if [ -z "${MAILROOM_TRACKING_SECRET:-}" ]; then
  secret_file="$MAILROOM_VAR_DIR/tracking-secret"
  [ -s "$secret_file" ] ||
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$secret_file")
  MAILROOM_TRACKING_SECRET=$(cat "$secret_file")
fi
export MAILROOM_TRACKING_SECRET

"$BIN/mailroom" db upgrade
key=$("$BIN/mailroom" keys create --name "make run $(date -u +%FT%TZ)" \
        --scopes send,read,templates,admin | tail -n 1)

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping Mailroom..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

mkdir -p "$MAILROOM_VAR_DIR/log"
# Prometheus multiprocess files belong to one run of the processes.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$MAILROOM_VAR_DIR/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
API_BIND="$API_HOST:$API_PORT" "$BIN/gunicorn" -c python:mailroom.gunicorn_conf \
  mailroom.wsgi:app >"$MAILROOM_VAR_DIR/log/api.log" 2>&1 &
pids+=($!)
QUEUE=${MAILROOM_QUEUE:-mailroom}
# Rendering on prefork processes, sending on a threads pool (many sends in flight).
"$BIN/celery" -A tasks.app worker --pool prefork --concurrency "${WORKER_CONCURRENCY:-2}" \
  -Q "$QUEUE,$QUEUE.bulk" --hostname "worker@%h" \
  --loglevel INFO >"$MAILROOM_VAR_DIR/log/worker.log" 2>&1 &
pids+=($!)
"$BIN/celery" -A tasks.app worker --pool threads --concurrency "${MAILROOM_SEND_CONCURRENCY:-50}" \
  -Q "$QUEUE.send,$QUEUE.bulk.send" --hostname "sender@%h" \
  --loglevel INFO >"$MAILROOM_VAR_DIR/log/sender.log" 2>&1 &
pids+=($!)
# Status callbacks on a lane of their own: a slow endpoint never holds a send.
"$BIN/celery" -A tasks.app worker --pool threads --concurrency "${MAILROOM_CALLBACK_CONCURRENCY:-10}" \
  -Q "$QUEUE.callbacks" --hostname "callbacks@%h" \
  --loglevel INFO >"$MAILROOM_VAR_DIR/log/callbacks.log" 2>&1 &
pids+=($!)
"$BIN/celery" -A tasks.app beat --loglevel INFO \
  --schedule "$MAILROOM_VAR_DIR/celerybeat-schedule" >"$MAILROOM_VAR_DIR/log/beat.log" 2>&1 &
pids+=($!)
# Flower reads FLOWER_BASIC_AUTH from the environment: a password on the command line would be
# readable by every user of the machine (ps).
"$BIN/celery" -A tasks.app flower --address=127.0.0.1 --port="$FLOWER_PORT" \
  >"$MAILROOM_VAR_DIR/log/flower.log" 2>&1 &
pids+=($!)

cat <<MSG

Mailroom is running (logs in $MAILROOM_VAR_DIR/log/):
  API      http://$API_HOST:$API_PORT        (docs: http://$API_HOST:$API_PORT/docs, metrics: /metrics)
  Console  http://$API_HOST:$API_PORT/console  (sign in with the development key below)
  Flower   http://127.0.0.1:$FLOWER_PORT       (login ${FLOWER_BASIC_AUTH%%:*} / ${FLOWER_BASIC_AUTH#*:})
  Database ${DATABASE_URL:-sqlite under $MAILROOM_VAR_DIR}
  Broker   ${BROKER_URL:-filesystem under $MAILROOM_VAR_DIR/broker}
  Outbox   ${OUTBOX_DIR:-$MAILROOM_VAR_DIR/outbox}  (providers: ${EMAIL_PROVIDERS:-outbox})

Development API key (all scopes):
  $key

Send a first email:
  curl -s http://$API_HOST:$API_PORT/send -H 'Authorization: Bearer $key' \\
       -H 'Content-Type: application/json' \\
       -d '{"from": "dev@example.com", "to": "you@example.com", "subject": "Hello {{ name }}", "html": "<p>Hi {{ name }}!</p>", "variables": {"name": "Ada"}}'

Press Ctrl-C to stop everything.
MSG
# Stop everything as soon as one process dies, rather than half-running.
wait -n "${pids[@]}" || true
echo "a Mailroom process exited; see $MAILROOM_VAR_DIR/log/" >&2
