# Mailroom's commands. `make run` and `make test` are the two that matter (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint migrate api worker beat flower bench chaos clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install Mailroom with its dev tools

run: install ## migrate, create a dev key, start API + worker + beat + Flower (Ctrl-C stops all)
	./scripts/run.sh

test: install ## every test, against real RabbitMQ and PostgreSQL (started if installed but down)
	./scripts/ensure-services.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff, mypy and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

migrate: install ## apply the database migrations
	$(BIN)/mailroom db upgrade

api: install ## the API alone, under gunicorn
	$(BIN)/gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app

worker: install ## one Celery worker (prefork pool)
	$(BIN)/celery -A tasks.app worker --pool prefork --loglevel INFO

beat: install ## the scheduler that runs the sweeper
	$(BIN)/celery -A tasks.app beat --loglevel INFO

flower: install ## Flower, behind FLOWER_BASIC_AUTH
	$(BIN)/celery -A tasks.app flower --port=$${FLOWER_PORT:-5555} --basic-auth=$${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}

bench: install ## every benchmark, 3 runs each, beside its baseline; table + var/bench/results.json
	./scripts/ensure-services.sh
	$(PY) -m bench.run $(BENCH_ARGS)

chaos: install ## the fault-injection suite alone (private RabbitMQ and PostgreSQL)
	$(PY) -m pytest -m chaos tests/chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
