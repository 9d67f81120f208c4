#!/usr/bin/env bash
# Make sure PostgreSQL, RabbitMQ and Redis answer on this machine, starting them when they are installed
# but down. Used by `make test`; harmless when they already run.
set -euo pipefail

pg_host=${PGHOST:-127.0.0.1}
pg_port=${PGPORT:-5432}

wait_for() { # name, tries, command...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $name did not come up" >&2
  return 1
}

if ! pg_isready -h "$pg_host" -p "$pg_port" >/dev/null 2>&1; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "ensure-services: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL 30 pg_isready -h "$pg_host" -p "$pg_port"
  else
    echo "ensure-services: PostgreSQL is not running on $pg_host:$pg_port and not installed here" >&2
    exit 1
  fi
fi

rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/"${RABBITMQ_PORT:-5672}") 2>/dev/null; }
if ! rabbit_up; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "ensure-services: starting RabbitMQ" >&2
    rabbitmq-server -detached || true
    wait_for RabbitMQ 60 rabbit_up
    # The port opens before the node accepts work; wait for the application too.
    command -v rabbitmqctl >/dev/null 2>&1 && rabbitmqctl -q await_startup >/dev/null 2>&1 || true
  else
    echo "ensure-services: RabbitMQ is not running and not installed here" >&2
    exit 1
  fi
fi
# Redis backs the shared rate-limit test (tests/api/test_limits_redis.py).
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/"${REDIS_PORT:-6379}") 2>/dev/null; }
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "ensure-services: starting Redis" >&2
    redis-server --daemonize yes --save "" --appendonly no >/dev/null || true
    wait_for Redis 30 redis_up
  else
    echo "ensure-services: Redis is not running and not installed here" >&2
    exit 1
  fi
fi
# Debian's Compose v1 validates docker-compose.yml in tests/deploy (no engine needed); the
# browser-free way to check the file as far as this machine allows. Root on these machines.
if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-services: installing Debian's docker-compose" >&2
  (apt-get install -y -q docker-compose >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q docker-compose >/dev/null 2>&1; }) ||
    echo "ensure-services: docker-compose could not be installed; its test will skip" >&2
fi
# Debian's chromium for the console's browser tests (tests/console/test_browser.py), driven by
# Playwright's Python package; Playwright's own browser download is never used.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-services: installing Debian's chromium" >&2
  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }) ||
    echo "ensure-services: chromium could not be installed; the browser tests will skip" >&2
fi
echo "ensure-services: PostgreSQL, RabbitMQ and Redis are up" >&2
