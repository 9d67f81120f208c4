#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on this machine, starting them when they are installed
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
echo "ensure-services: PostgreSQL and RabbitMQ are up" >&2
