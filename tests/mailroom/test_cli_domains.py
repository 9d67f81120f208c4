"""`mailroom domains check` as operators run it: a real process asking a DNS server on loopback
(dnslib) that serves fixed records."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.dkim import DkimSigner
from tests.mailroom.dns_testkit import FixedDns, free_udp_port

MAILROOM = str(Path(sys.executable).parent / "mailroom")
DOMAIN = "example.com"
SPF_BOTH = "v=spf1 include:amazonses.com include:sendgrid.net ~all"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROOM, "domains", "check", *args],
        env={**os.environ, "MAILROOM_ENV_FILE": "/dev/null", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_text(_key_pem())
    return path


@pytest.fixture(scope="module")
def signer(key_file: Path) -> DkimSigner:
    return DkimSigner.load("mailroom", DOMAIN, str(key_file))


@pytest.fixture
def env(tmp_path: Path, key_file: Path) -> dict[str, str]:
    """Every sending provider configured, smtp with DKIM."""
    return {
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "EMAIL_PROVIDERS": "ses,sendgrid,smtp",
        "SMTP_HOST": "relay.example.net",
        "SMTP_DKIM_SELECTOR": "mailroom",
        "SMTP_DKIM_DOMAIN": DOMAIN,
        "SMTP_DKIM_PRIVATE_KEY": str(key_file),
    }


def section(out: str, kind: str) -> list[str]:
    """The lines of one record's section: its heading and the indented lines under it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{kind} "))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines)
    )
    return lines[start:end]


def headings(out: str) -> list[str]:
    """The records reported, in order."""
    return [line.split()[0] for line in out.splitlines() if re.match(r"[A-Z]+ +TXT ", line)]


def test_complete_records_pass(env: dict[str, str], signer: DkimSigner) -> None:
    records = {
        DOMAIN: [SPF_BOTH, "google-site-verification=abc"],
        signer.record_name: [signer.record],
        f"_dmarc.{DOMAIN}": [DMARC],
    }
    with FixedDns(records) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.splitlines()[0] == "example.com, for EMAIL_PROVIDERS=ses,sendgrid,smtp"
    assert headings(out) == ["SPF", "DKIM", "DMARC"]
    assert section(out, "SPF") == [
        "SPF    TXT example.com",
        "  needs:    include:amazonses.com (ses), include:sendgrid.net (sendgrid)",
        f"  found:    {SPF_BOTH}",
        "  ok",
    ]
    dkim = section(out, "DKIM")
    assert dkim[0] == "DKIM   TXT mailroom._domainkey.example.com"
    assert dkim[1].startswith(f"  needs:    {signer.record} (smtp")
    assert dkim[2:] == [f"  found:    {signer.record}", "  ok"]
    assert section(out, "DMARC")[2:] == [f"  found:    {DMARC}", "  ok"]
    assert "note: ses signs with DKIM keys of its own" in out
    assert "note: smtp: SPF must also allow the addresses your relay (relay.example.net)" in out
    assert out.splitlines()[-1] == "all records in place"
    assert ("TXT", "mailroom._domainkey.example.com") in dns.asked
    assert ("TXT", "_dmarc.example.com") in dns.asked


def test_partial_records_say_what_is_missing_and_what_to_publish(
    env: dict[str, str], signer: DkimSigner
) -> None:
    other = DkimSigner.load("mailroom", DOMAIN, _key_pem())
    records = {
        DOMAIN: ["v=spf1 ip4:192.0.2.1 include:sendgrid.net -all"],
        signer.record_name: [other.record],
        f"_dmarc.{DOMAIN}": [DMARC],
    }
    with FixedDns(records) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address)

    assert done.returncode == 1
    out = done.stdout
    assert section(out, "SPF")[2:] == [
        "  found:    v=spf1 ip4:192.0.2.1 include:sendgrid.net -all",
        "  missing:  include:amazonses.com",
        "  publish:  v=spf1 ip4:192.0.2.1 include:sendgrid.net include:amazonses.com -all",
    ]
    assert section(out, "DKIM")[2:] == [
        f"  found:    {other.record}",
        "  missing:  a record with another key",
        f"  publish:  {signer.record}",
    ]
    assert section(out, "DMARC")[-1] == "  ok"
    assert out.splitlines()[-1] == "missing: SPF, DKIM"


def test_missing_records_are_all_listed(env: dict[str, str], signer: DkimSigner) -> None:
    with FixedDns({DOMAIN: ["some-other=txt"]}) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address)

    assert done.returncode == 1
    out = done.stdout
    assert section(out, "SPF")[2:] == [
        "  found:    nothing",
        "  missing:  no SPF record",
        "  publish:  v=spf1 include:amazonses.com include:sendgrid.net ~all",
    ]
    assert section(out, "DKIM")[-1] == f"  publish:  {signer.record}"
    assert section(out, "DMARC") == [
        "DMARC  TXT _dmarc.example.com",
        "  needs:    a v=DMARC1 record",
        "  found:    nothing",
        "  missing:  no DMARC record",
        "  publish:  v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com",
    ]
    assert out.splitlines()[-1] == "missing: SPF, DKIM, DMARC"


def test_nested_includes_and_a_parents_dmarc_count(tmp_path: Path) -> None:
    records = {
        "mail.example.com": ["v=spf1 include:_spf.example.com -all"],
        "_spf.example.com": ["v=spf1 include:amazonses.com ~all"],
        "_dmarc.example.com": [DMARC],
    }
    env = {"MAILROOM_VAR_DIR": str(tmp_path), "EMAIL_PROVIDERS": "ses,outbox"}
    with FixedDns(records) as dns:
        done = run({**env, "MAILROOM_DNS_NAMESERVER": dns.address}, "mail.example.com")

    assert done.returncode == 0, done.stdout
    assert section(done.stdout, "SPF")[-1] == "  ok"
    assert section(done.stdout, "DMARC")[0] == "DMARC  TXT _dmarc.example.com"
    assert headings(done.stdout) == ["SPF", "DMARC"]  # no smtp: no DKIM record
    assert ("TXT", "_spf.example.com") in dns.asked


def test_two_spf_records_are_an_error(tmp_path: Path) -> None:
    records = {
        DOMAIN: ["v=spf1 include:amazonses.com ~all", "v=spf1 include:sendgrid.net ~all"],
        f"_dmarc.{DOMAIN}": [DMARC],
    }
    env = {"MAILROOM_VAR_DIR": str(tmp_path), "EMAIL_PROVIDERS": "ses"}
    with FixedDns(records) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address)

    assert done.returncode == 1
    assert "  missing:  2 SPF records: merge them" in done.stdout


def test_smtp_without_dkim_needs_only_dmarc(tmp_path: Path) -> None:
    env = {"MAILROOM_VAR_DIR": str(tmp_path), "EMAIL_PROVIDERS": "smtp"}
    with FixedDns({f"_dmarc.{DOMAIN}": [DMARC]}) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address)

    assert done.returncode == 0, done.stdout
    assert headings(done.stdout) == ["DMARC"]
    assert "note: smtp signs nothing (SMTP_DKIM_SELECTOR" in done.stdout


def test_outbox_only_needs_nothing(tmp_path: Path) -> None:
    done = run({"MAILROOM_VAR_DIR": str(tmp_path), "EMAIL_PROVIDERS": "outbox"}, DOMAIN)

    assert done.returncode == 0
    assert (
        done.stdout.splitlines()[-1] == "no configured provider sends mail out: no records needed"
    )


def test_a_dns_server_that_fails_is_a_failure(env: dict[str, str]) -> None:
    with FixedDns({}, servfail=True) as dns:
        done = run(env, DOMAIN, "--nameserver", dns.address, "--timeout", "2")

    assert done.returncode == 1
    assert "FAILED: DNS did not answer: TXT example.com" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("missing: an answer from DNS")


def test_a_bad_nameserver_or_dkim_setting_is_refused(env: dict[str, str]) -> None:
    done = run(env, DOMAIN, "--nameserver", "127.0.0.1:notaport")
    assert done.returncode == 2
    assert "not HOST[:PORT]: '127.0.0.1:notaport'" in done.stderr

    port = free_udp_port()
    done = run({**env, "SMTP_DKIM_PRIVATE_KEY": "/nonexistent/dkim.pem"}, DOMAIN,
               "--nameserver", f"127.0.0.1:{port}")  # fmt: skip
    assert done.returncode == 1
    assert "FAILED: SMTP_DKIM_PRIVATE_KEY: neither a PEM nor a readable file" in done.stdout
