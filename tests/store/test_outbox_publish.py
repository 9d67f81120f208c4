"""A status change's callback deliveries are published when its transaction commits, in
whichever process made the change: the API (cancels, provider webhooks) as well as a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Run as the API runs: a process that imported what gunicorn imports (mailroom.wsgi) and
# nothing else. It cancels a scheduled email through the API with an endpoint registered.
API_PROCESS = textwrap.dedent(
    """
    from datetime import timedelta

    import mailroom.wsgi
    from api.keys import create_key
    from models import Email, EmailStatus, WebhookEndpoint, utcnow
    from models.db import make_engine, make_session_factory

    app = mailroom.wsgi.app
    sessions = make_session_factory(make_engine(app.config["DATABASE_URL"]))
    with sessions() as session, session.begin():
        _, key = create_key(session, "test", ["send"])
        session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", events=[], secret="s"))
        email = Email(
            status=EmailStatus.SCHEDULED, from_addr="a@example.com", to_addrs=["b@example.com"],
            cc_addrs=[], bcc_addrs=[], subject="s", html="<p>x</p>", variables={},
            attachment_keys=[], headers={}, message_id="<x@example.com>",
            send_at=utcnow() + timedelta(hours=1),
        )
        session.add(email)
    answer = app.test_client().delete(
        f"/emails/{email.id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.json
    """
)


def test_the_api_publishes_the_callbacks_of_its_status_changes(
    sqlite_url: str, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "MAILROOM_VAR_DIR": str(var),
        "MAILROOM_ENV_FILE": "/dev/null",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("BROKER_URL", None)  # the filesystem broker, under `var`
    subprocess.run(
        [sys.executable, "-c", API_PROCESS], env=env, check=True, timeout=120, cwd=os.getcwd()
    )
    queue = var / "broker" / "queue"
    messages = [p.read_text() for p in queue.iterdir()] if queue.exists() else []
    published = [m for m in messages if "mailroom.deliver_callback" in m]
    assert len(published) == 1, "the cancel's callback must be published at commit"
