# Mailroom's commands. `make run` and `make test` are the two that matter (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
UV := $(BIN)/uv
# Every dependency, runtime and dev, pinned: `make install` and the Dockerfile install these.
CONSTRAINTS := requirements/constraints.txt
# The tests that need no service (see the markers in setup.cfg).
UNIT_TESTS := not postgres and not rabbitmq and not integration and not chaos
FLOORS_VENV := var/floors-venv
RUNTIME_VENV := var/runtime-venv
# Licences that may be combined with Mailroom's Apache-2.0, spelt as the packages declare them
# (a package passes when one of its licences is listed). A new spelling fails until reviewed.
ALLOWED_LICENSES := Apache-2.0;Apache Software License;Apache-2.0 OR BSD-2-Clause;\
  Apache-2.0 OR BSD-3-Clause;Apache-2.0 AND BSD-2-Clause;MIT;MIT License;MIT-0;MIT AND PSF-2.0;\
  BSD License;BSD-2-Clause;BSD-3-Clause;3-Clause BSD License;ISC;ISC License (ISCL);PSF-2.0;\
  Python Software Foundation License;The Unlicense (Unlicense);Unlicense;MPL-2.0;\
  Mozilla Public License 2.0 (MPL 2.0)
# Reviewed exceptions: psycopg is LGPL-3.0, which allows an Apache-2.0 program to use the library
# unmodified, as Mailroom does (it is imported, never copied or changed). dkimpy is under the
# zlib licence (its LICENSE file), which its metadata only calls "DFSG approved".
LICENSE_EXCEPTIONS := psycopg psycopg-binary dkimpy
NPM := npm --prefix clients --no-audit --no-fund
NODE_STAMP := clients/node_modules/.package-lock.json

.PHONY: install lock lock-check run test test-floors lint licenses clients clients-check \
  migrate api worker beat flower bench bench-purge chaos clean

# uv installs in seconds what pip takes minutes for; it is pinned like everything else.
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) uv

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS) | $(UV)
	$(UV) pip install --quiet --python $(PY) -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install Mailroom with its dev tools, as pinned

lock: $(UV) ## re-pin every dependency to its newest allowed version in requirements/constraints.txt
	$(UV) pip compile --quiet --universal --python-version 3.11 --extra dev --upgrade \
	  --custom-compile-command "make lock" setup.cfg -o $(CONSTRAINTS)

lock-check: $(UV) ## the pins still satisfy setup.cfg, and every dependency is pinned
	mkdir -p var
	cp $(CONSTRAINTS) var/constraints-check.txt
	$(UV) pip compile --quiet --universal --python-version 3.11 --extra dev \
	  --custom-compile-command "make lock" setup.cfg -o var/constraints-check.txt
	diff -u $(CONSTRAINTS) var/constraints-check.txt || \
	  { echo "$(CONSTRAINTS) is out of date with setup.cfg: run make lock"; exit 1; }

run: install ## migrate, create a dev key, start API + worker + beat + Flower (Ctrl-C stops all)
	./scripts/run.sh

test: install ## every test, against real RabbitMQ and PostgreSQL (started if installed but down)
	./scripts/ensure-services.sh
	$(PY) -m pytest $(PYTEST_ARGS)

test-floors: $(UV) ## the unit tests against the lowest version setup.cfg allows of each dependency
	rm -rf $(FLOORS_VENV)
	$(UV) venv --quiet --python $(PYTHON) $(FLOORS_VENV)
	$(UV) pip install --quiet --python $(FLOORS_VENV)/bin/python --resolution lowest-direct \
	  -e '.[dev]'
	$(FLOORS_VENV)/bin/python -m pytest -m "$(UNIT_TESTS)" -p no:cacheprovider $(PYTEST_ARGS)

lint: install ## ruff, mypy and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

licenses: install ## every runtime dependency, as pinned, has an Apache-2.0-compatible licence
	rm -rf $(RUNTIME_VENV)
	$(UV) venv --quiet --python $(PYTHON) $(RUNTIME_VENV)
	$(UV) pip install --quiet --python $(RUNTIME_VENV)/bin/python -c $(CONSTRAINTS) -r setup.cfg
	$(BIN)/pip-licenses --python $(RUNTIME_VENV)/bin/python --from mixed \
	  --ignore-packages $(LICENSE_EXCEPTIONS) --allow-only "$(ALLOWED_LICENSES)"

$(NODE_STAMP): clients/package.json clients/package-lock.json
	$(NPM) ci --silent

clients: install $(NODE_STAMP) ## regenerate clients/: the OpenAPI document and its TypeScript types
	$(PY) -c "from api.openapi import main; main()" > clients/openapi.json
	$(NPM) run --silent generate -- openapi.json --output mailroom-api.ts

clients-check: install $(NODE_STAMP) ## clients/ matches the app's document and compiles (tsc --strict)
	mkdir -p var/clients
	$(PY) -c "from api.openapi import main; main()" > var/clients/openapi.json
	diff -u clients/openapi.json var/clients/openapi.json || \
	  { echo "the OpenAPI document changed: run make clients"; exit 1; }
	$(NPM) run --silent generate -- openapi.json --output ../var/clients/mailroom-api.ts
	diff -u clients/mailroom-api.ts var/clients/mailroom-api.ts || \
	  { echo "clients/mailroom-api.ts is stale: run make clients"; exit 1; }
	$(NPM) run --silent typecheck

migrate: install ## apply the database migrations
	$(BIN)/mailroom db upgrade

api: install ## the API alone, under gunicorn
	$(BIN)/gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app

worker: install ## one Celery worker (prefork pool)
	$(BIN)/celery -A tasks.app worker --pool prefork --loglevel INFO

beat: install ## the scheduler that runs the sweeper
	$(BIN)/celery -A tasks.app beat --loglevel INFO

flower: install ## Flower, behind FLOWER_BASIC_AUTH
	@: $${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}
	$(BIN)/celery -A tasks.app flower --port=$${FLOWER_PORT:-5555}  # reads FLOWER_BASIC_AUTH itself

bench: install ## every benchmark, 3 runs each, beside its baseline; table + var/bench/results.json
	./scripts/ensure-services.sh
	$(PY) -m bench.run $(BENCH_ARGS)

bench-purge: install ## the retention purge of 1,000,000 old emails while sends go on, beside sends alone
	./scripts/ensure-services.sh
	$(PY) -m bench.run --only purge --runs 1 $(BENCH_ARGS)

chaos: install ## the fault-injection suite alone (private RabbitMQ and PostgreSQL)
	$(PY) -m pytest -m chaos tests/chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info clients/node_modules
