"""The deployment files (Procfile, Dockerfile, docker-compose.yml) checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema as check-jsonschema
ships it, before and after variable interpolation; the Procfile goes through `honcho check`, and
(integration) `honcho start` runs it until an email is sent. The rest are the promises
docs/deployment.md makes about these files.
"""

from __future__ import annotations

import configparser
import importlib.resources
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import validators

from tests.support.net import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTRACT_FILE = ROOT.parent / "shared" / "CONTRACT.md"

# CONTRACT.md, "Configuration": names operators set, which never change.
CONTRACT_NAMES = frozenset(
    {
        "DATABASE_URL",
        "BROKER_URL",
        "EMAIL_PROVIDERS",
        "DEFAULT_FROM",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "SMTP_STARTTLS",
        "SMTP_SSL",
        "OUTBOX_DIR",
        "STORAGE_BACKEND",
        "STORAGE_LOCAL_ROOT",
        "MAX_ATTACHMENTS_BYTES",
    }
)
# Read by libraries rather than by our code: boto3, SendGrid's client, Flower, prometheus_client.
LIBRARY_NAMES = frozenset({"SENDGRID_API_KEY", "PROMETHEUS_MULTIPROC_DIR"})
LIBRARY_PREFIXES = ("AWS_", "FLOWER_")
PROCESSES = ("api", "worker", "sender", "callbacks", "beat", "flower")
APP_SERVICES = ("migrate", "api", "worker", "sender", "callbacks", "beat", "flower")
SECRETS = ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_BASIC_AUTH")
SAMPLE_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "RABBITMQ_PASSWORD": "mq-secret",
    "FLOWER_BASIC_AUTH": "admin:pw",
}


# --- helpers -------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _schema_validator() -> Any:
    """A validator for the Compose Specification schema that check-jsonschema vendors."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _schema_validator().iter_errors(document)
    ]


class MissingVariable(Exception):
    """A `${NAME:?message}` whose variable is unset, as compose would refuse it."""


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def _interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation: `$$`, `${NAME}`, `${NAME:-default}`, `${NAME:?error}`."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        if op is not None and op.endswith("-") and missing:
            return str(arg)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


def _healthcheck_text(service: Mapping[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def _procfile() -> dict[str, str]:
    """Process name to command, parsed the way honcho parses a Procfile."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            processes[match[1]] = match[2]
    return processes


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    return parser


def _names_in_our_source() -> set[str]:
    """Every upper-case string literal in the application's code: the settings it can read."""
    names: set[str] = set()
    files = [ROOT / "celeryconfig.py"]
    for package in ("mailroom", "api", "tasks", "providers", "storage", "models", "render"):
        files.extend((ROOT / package).rglob("*.py"))
    for path in files:
        names.update(re.findall(r"[\"']([A-Z][A-Z0-9_]{2,})[\"']", path.read_text()))
    return names


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    """Valid as written and as compose sees it once the required variables are set."""
    raw = _compose()
    assert _schema_errors(raw) == []
    assert _schema_errors(_interpolate(raw, SAMPLE_ENV)) == []


def test_the_schema_check_catches_mistakes() -> None:
    """A misspelt condition or an unknown key fails, so the check above is not vacuous."""
    broken = _compose()
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_completed"
    assert _schema_errors(broken)
    broken = _compose()
    broken["services"]["worker"]["healthcheck"]["tset"] = ["CMD", "true"]
    assert _schema_errors(broken)


@pytest.mark.parametrize("secret", SECRETS)
def test_compose_refuses_to_start_without_each_secret(secret: str) -> None:
    """No password has a default: interpolation fails naming the one that is missing."""
    env = {name: value for name, value in SAMPLE_ENV.items() if name != secret}
    with pytest.raises(MissingVariable, match=secret):
        _interpolate(_compose(), env)


def test_compose_has_every_process_and_service() -> None:
    """The broker, the database, the one-shot migration and Mailroom's four processes."""
    assert set(_services()) == {"rabbitmq", "postgres", "redis", *APP_SERVICES}


def test_every_long_running_service_has_a_healthcheck() -> None:
    """Everything but the one-shot migration is watched; the migration's check is switched off."""
    for name, service in _services().items():
        check = service.get("healthcheck", {})
        if name == "migrate":
            assert check in ({}, {"disable": True})
            continue
        assert not check.get("disable"), name
        assert check.get("test"), f"{name} has no healthcheck"


def test_healthchecks_ask_the_right_question() -> None:
    """Each check exercises what the service is for."""
    services = _services()
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]
    assert "pg_isready" in _healthcheck_text(services["postgres"])
    assert "http://127.0.0.1:8000/health" in _healthcheck_text(services["api"])
    worker = _healthcheck_text(services["worker"])
    assert "inspect ping" in worker and "celery@$$HOSTNAME" in worker
    assert "/healthcheck" in _healthcheck_text(services["flower"])
    assert "celerybeat-schedule" in _healthcheck_text(services["beat"])


def test_depends_on_waits_for_health_and_for_the_migration() -> None:
    """Nothing starts on a broker or database that does not answer, or on an old schema."""
    services = _services()
    expected = {
        "migrate": {"postgres": "service_healthy"},
        "api": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
            "redis": "service_healthy",
        },
        "worker": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
        },
        "sender": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
        },
        "callbacks": {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
        },
        "beat": {"migrate": "service_completed_successfully", "rabbitmq": "service_healthy"},
        "flower": {"rabbitmq": "service_healthy"},
    }
    for name, wanted in expected.items():
        depends = services[name]["depends_on"]
        assert {dep: spec["condition"] for dep, spec in depends.items()} == wanted, name
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{name} -> {dep}"


def test_commands_run_the_documented_processes() -> None:
    """The same commands as the Procfile and the Makefile."""
    services = _services()
    api = _command(services["api"])
    assert api[0] == "gunicorn" and api[-1] == "mailroom.wsgi:app"
    if "-c" in api:
        module = api[api.index("-c") + 1].removeprefix("python:")
        assert importlib.util.find_spec(module) is not None, f"gunicorn config {module} missing"
    worker = " ".join(_command(services["worker"]))
    assert worker.startswith("celery -A tasks.app worker") and "--pool prefork" in worker
    assert "-Q mailroom,mailroom.bulk" in worker
    sender = " ".join(_command(services["sender"]))
    assert sender.startswith("celery -A tasks.app worker") and "--pool threads" in sender
    assert "-Q mailroom.send,mailroom.bulk.send" in sender
    callbacks = " ".join(_command(services["callbacks"]))
    assert "--pool threads" in callbacks and "-Q mailroom.callbacks" in callbacks
    assert " ".join(_command(services["beat"])).startswith("celery -A tasks.app beat")
    assert " ".join(_command(services["flower"])).startswith("celery -A tasks.app flower")
    assert _command(services["migrate"]) == ["mailroom", "db", "upgrade"]
    for name in APP_SERVICES:
        assert services[name]["image"] == services["api"]["image"], "one image for all"


def test_restart_policies() -> None:
    """Long-running services come back; the migration runs once."""
    for name, service in _services().items():
        wanted = {"no"} if name == "migrate" else {"always", "unless-stopped", "on-failure"}
        assert service.get("restart") in wanted, name


def test_environment_uses_the_contract_names() -> None:
    """Every contract setting passes through, and nothing is set that nobody reads."""
    services = _services()
    known = CONTRACT_NAMES | LIBRARY_NAMES | _names_in_our_source()
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert CONTRACT_NAMES <= set(env), f"{name} lacks {CONTRACT_NAMES - set(env)}"
        unknown = {var for var in env if var not in known and not var.startswith(LIBRARY_PREFIXES)}
        assert not unknown, f"{name} sets names nothing reads: {unknown}"
    env = _interpolate(services["api"]["environment"], SAMPLE_ENV)
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["BROKER_URL"].startswith("amqp://")
    assert "${FLOWER_BASIC_AUTH:?" in (ROOT / "docker-compose.yml").read_text()
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


# Set by the image (Dockerfile ENV) or read before the environment exists.
SET_BY_THE_IMAGE = {"MAILROOM_VAR_DIR", "MAILROOM_ENV_FILE", "API_BIND"}
# Read by one process only.
ONLY_FOR = {"FLOWER_BASIC_AUTH": "flower", "MAILROOM_WORKER_METRICS_PORT": "worker"}


def test_every_setting_reaches_every_mailroom_container() -> None:
    """Each setting `mailroom config example` documents is passed, and .env as a whole too."""
    from mailroom.config_example import names

    services = _services()
    for name in APP_SERVICES:
        wanted = {n for n in names() if ONLY_FOR.get(n, name) == name} - SET_BY_THE_IMAGE
        missing = wanted - set(services[name]["environment"])
        assert not missing, f"{name} does not pass {sorted(missing)}"
        assert services[name]["env_file"] == ".env", name
    assert "API_BIND" in services["api"]["environment"]


def test_rate_limits_are_shared_through_redis() -> None:
    """The API processes count requests in one Redis, which is up before the API starts."""
    services = _services()
    env = _interpolate(services["api"]["environment"], SAMPLE_ENV)
    assert env["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert "redis-cli" in _healthcheck_text(services["redis"])
    limiter = [r for r in _setup_cfg()["options"]["install_requires"].split("\n") if "limiter" in r]
    assert limiter and limiter[0].startswith("flask-limiter[redis]"), limiter


def test_workers_serve_their_metrics() -> None:
    """Each worker container serves its own processes' samples for Prometheus to scrape."""
    env = _interpolate(_services()["worker"]["environment"], SAMPLE_ENV)
    assert env["MAILROOM_WORKER_METRICS_PORT"] == "9808"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/metrics"


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="Debian's docker-compose is not installed: apt-get install -y docker-compose",
)
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """`docker-compose config` (Debian's, Compose v1) parses and resolves the file.

    v1 predates the top-level `name`, so it gets the project name from `-p` instead.
    """
    compose = _compose()
    assert compose.pop("name") == "mailroom"
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    (tmp_path / ".env").write_text("# all settings commented out, as .env.example has them\n")
    done = subprocess.run(
        ["docker-compose", "-p", "mailroom", "config", "-q"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **SAMPLE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(
        ["docker-compose", "-p", "mailroom", "config", "-q"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD" in missing.stderr


def test_state_lives_in_named_volumes() -> None:
    """Broker and database data survive a re-creation; RabbitMQ's node name stays fixed."""
    compose = _compose()
    services = compose["services"]
    declared = set(compose["volumes"])
    assert services["rabbitmq"]["hostname"]
    assert any(v.endswith(":/var/lib/rabbitmq") for v in services["rabbitmq"]["volumes"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith((".", "/")) or source in declared, volume


@pytest.mark.skipif(not CONTRACT_FILE.exists(), reason=f"{CONTRACT_FILE} is not beside the repo")
def test_contract_names_are_the_contracts() -> None:
    """This file's copy of the Configuration table's names is the table's."""
    text = CONTRACT_FILE.read_text().split("## Configuration", 1)[1]
    rows = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    assert set(re.findall(r"`([A-Z][A-Z0-9_]+)`", " ".join(rows))) == CONTRACT_NAMES


# --- Procfile --------------------------------------------------------------------------------


def test_honcho_accepts_the_procfile() -> None:
    """`honcho check` parses it and finds the four processes."""
    honcho = BIN / "honcho"
    assert honcho.exists(), "honcho is in the dev extra: run `make install`"
    result = subprocess.run(
        [str(honcho), "check", "-f", "Procfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Valid procfile detected ({', '.join(PROCESSES)})" in result.stderr + result.stdout
    assert tuple(_procfile()) == PROCESSES


def test_procfile_commands() -> None:
    """gunicorn on $PORT, the prefork pool, one beat, Flower on $FLOWER_PORT."""
    processes = _procfile()
    assert "gunicorn" in processes["api"] and processes["api"].endswith("mailroom.wsgi:app")
    assert "${PORT:-" in processes["api"]
    assert "celery -A tasks.app worker --pool prefork" in processes["worker"]
    assert "celery -A tasks.app worker --pool threads" in processes["sender"]
    assert ".send,${MAILROOM_QUEUE:-mailroom}.bulk.send" in processes["sender"]
    assert '-Q "${MAILROOM_QUEUE:-mailroom}.callbacks"' in processes["callbacks"]
    assert "celery -A tasks.app beat" in processes["beat"]
    assert "celery -A tasks.app flower" in processes["flower"]
    assert "${FLOWER_PORT:-" in processes["flower"]


def test_procfile_flower_needs_its_password() -> None:
    """Without FLOWER_BASIC_AUTH the flower line stops before Flower starts, and says why."""
    env = {key: value for key, value in os.environ.items() if key != "FLOWER_BASIC_AUTH"}
    env["PATH"] = "/nonexistent"  # would celery run, the shell could not even find it
    result = subprocess.run(
        ["/bin/sh", "-c", _procfile()["flower"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "set FLOWER_BASIC_AUTH=user:password" in result.stderr


def _get(url: str, auth: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", f"Basic {b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _post_json(url: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert isinstance(answer, dict)
    return answer


@pytest.fixture
def honcho_env(tmp_path: Path) -> dict[str, str]:
    """The embedded setup (SQLite, filesystem broker, outbox) in a scratch folder, migrated."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "BROKER_URL", "EMAIL_PROVIDERS", "PROMETHEUS_MULTIPROC_DIR"}
    }
    env.update(
        MAILROOM_VAR_DIR=str(tmp_path / "var"),
        MAILROOM_ENV_FILE="/dev/null",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
        FLOWER_BASIC_AUTH="ops:s3cret",
        WORKER_CONCURRENCY="1",
    )
    subprocess.run([str(BIN / "mailroom"), "db", "upgrade"], env=env, cwd=ROOT, check=True)
    return env


@pytest.fixture
def honcho(honcho_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """`honcho start` on the Procfile; stopped, with every process it started, afterwards."""
    log = (tmp_path / "honcho.log").open("w")
    no_dotenv = tmp_path / "empty.env"  # a developer's .env must not leak in
    no_dotenv.touch()
    proc = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile", "-e", str(no_dotenv), "--no-colour"],
        cwd=ROOT,
        env=honcho_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield honcho_env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            # honcho puts each process in a group of its own; none may outlive the test.
            text = (tmp_path / "honcho.log").read_text()
            for pid in map(int, re.findall(r"started \(pid=(\d+)\)", text)):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


@pytest.mark.integration
def test_honcho_start_runs_mailroom(honcho: dict[str, str]) -> None:
    """The six processes come up from the Procfile and an email goes all the way to sent."""
    api = f"http://127.0.0.1:{honcho['PORT']}"
    flower = f"http://127.0.0.1:{honcho['FLOWER_PORT']}"
    wait_for_port(int(honcho["PORT"]), timeout=60)
    wait_for_port(int(honcho["FLOWER_PORT"]), timeout=60)
    code, answer = _get(f"{api}/health")
    assert (code, json.loads(answer)) == (200, {"status": "ok"})
    # Flower took its password from the environment.
    assert _get(f"{flower}/tasks")[0] == 401
    assert _get(f"{flower}/tasks", auth=honcho["FLOWER_BASIC_AUTH"])[0] == 200

    key = subprocess.run(
        [str(BIN / "mailroom"), "keys", "create", "--name", "honcho", "--scopes", "send,read"],
        env=honcho,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    body = {"from": "ops@example.com", "to": "you@example.com", "subject": "Hi", "text": "Hi"}
    email_id = _post_json(f"{api}/send", body, key)["data"]["emailId"]

    request = urllib.request.Request(
        f"{api}/emails/{email_id}", headers={"Authorization": f"Bearer {key}"}
    )
    deadline, status = time.monotonic() + 60, ""
    while time.monotonic() < deadline and status != "sent":
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.loads(response.read())["data"]["status"]
        time.sleep(0.5)
    assert status == "sent"


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_runs_the_api_as_a_non_root_user_with_a_healthcheck() -> None:
    """python:3.11-slim, a USER that is not root, HEALTHCHECK on /health, gunicorn by default."""
    instructions = _dockerfile()
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)
    final = instructions[max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM") :]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    checks = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/health" in checks[0] and "CMD" in checks[0]
    cmd = json.loads(next(args for keyword, args in final if keyword == "CMD"))
    assert cmd[0] == "gunicorn" and cmd[-1] == "mailroom.wsgi:app"


def test_dockerfile_bakes_in_no_secret() -> None:
    """ENV and ARG set no password, key or token; settings come at run time."""
    for keyword, args in _dockerfile():
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY|BASIC_AUTH", args), args


def test_image_gets_every_package_and_nothing_else() -> None:
    """Each package setup.cfg installs is copied, and .dockerignore lets in only what is copied."""
    options = _setup_cfg()
    top_level = {
        name.strip()
        for name in options["options.packages.find"]["include"].split()
        if "." not in name and "*" not in name
    }
    modules = {f"{name.strip()}.py" for name in options["options"]["py_modules"].split()}
    sources: set[str] = set()
    for keyword, args in _dockerfile():
        if keyword == "COPY" and not args.startswith("--from"):
            sources.update(part.rstrip("/") for part in args.split()[:-1])
    assert top_level | modules | {"setup.cfg", "pyproject.toml"} <= sources
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", "the context starts empty"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert sources <= allowed, f"copied but ignored: {sources - allowed}"
    assert not allowed & {".env", "var", ".venv", ".git"}


# --- docs --------------------------------------------------------------------------------------


def test_deployment_guide_covers_the_settings_that_matter() -> None:
    """The guide names what an operator has to get right."""
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for needle in (
        "honcho start",
        "docker compose up",
        "EMAIL_PROVIDERS=ses,sendgrid,smtp",
        "SENDGRID_API_KEY",
        "AWS_",
        "SMTP_",
        "MAILROOM_QUEUE_TYPE=quorum",
        "MAILROOM_SWEEP_LEASE_SECONDS",
        "FLOWER_BASIC_AUTH",
        "/metrics",
        "/health",
        "/ready",
        "flower.png",
    ):
        assert needle in guide, needle
    assert (ROOT / "docs" / "flower.png").read_bytes().startswith(b"\x89PNG")
