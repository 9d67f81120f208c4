"""The SPF, DKIM and DMARC records a sending domain needs, compared with what DNS holds.

What each provider needs: SES and SendGrid send from their own servers, which the domain's SPF
must include (`include:amazonses.com`, `include:sendgrid.net`); the smtp provider with DKIM
settings signs with a key whose public half must be published under its selector. DMARC ties
them to the From domain, so any provider that sends mail out needs a DMARC record.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver

from providers.dkim import DkimSigner

SPF_INCLUDES = {"ses": "amazonses.com", "sendgrid": "sendgrid.net"}
# Providers that hand mail to the outside world (outbox and test keep it on the machine).
SENDING = frozenset({"ses", "sendgrid", "smtp"})
# RFC 7208 section 4.6.4: an SPF check may make at most 10 DNS lookups, includes included.
MAX_SPF_LOOKUPS = 10

_ALL = re.compile(r"^[-~?+]?all$", re.IGNORECASE)


class LookupFailed(Exception):
    """DNS gave no answer (a timeout, SERVFAIL, no reachable server): nothing can be said."""


class Dns:
    """TXT lookups through one resolver: the system's, or one server given as HOST[:PORT]."""

    def __init__(self, nameserver: str | None = None, timeout: float = 5.0) -> None:
        if nameserver is None:
            self.resolver = dns.resolver.Resolver()
        else:
            host, port = parse_nameserver(nameserver)
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
        self.resolver.timeout = self.resolver.lifetime = timeout

    def txt(self, name: str) -> list[str]:
        """Every TXT record at `name`, each record's strings joined; [] when there is none."""
        try:
            answer = self.resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as err:
            raise LookupFailed(f"TXT {name}: {err}") from err
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


def parse_nameserver(value: str) -> tuple[str, int]:
    """`(address, port)` of HOST, HOST:PORT, [IPv6]:PORT or a bare IPv6 address; a host name is
    resolved once. ValueError for anything else."""
    host, port = value.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST[:PORT]: {value!r}")
    try:
        address = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)[0][4][0]
    except OSError as err:
        raise ValueError(f"cannot resolve the name server {host!r}: {err}") from err
    return str(address), int(port)


@dataclass(frozen=True)
class Verdict:
    """One record: where it lives, what is needed, what DNS holds, what is missing (None when
    nothing is) and the record to publish to fix it."""

    kind: str
    name: str
    needs: str
    found: tuple[str, ...]
    missing: str | None = None
    publish: str | None = None


def check_spf(dns_: Dns, domain: str, providers: Sequence[str]) -> Verdict | None:
    """The SPF includes SES and SendGrid need; None when no configured provider needs one."""
    needed = [(SPF_INCLUDES[p], p) for p in providers if p in SPF_INCLUDES]
    if not needed:
        return None
    needs = ", ".join(f"include:{include} ({provider})" for include, provider in needed)
    records = _spf_records(dns_.txt(domain))
    if not records:
        terms = " ".join(f"include:{include}" for include, _ in needed)
        return Verdict("SPF", domain, needs, (), "no SPF record", f"v=spf1 {terms} ~all")
    reachable = _spf_includes(dns_, records[0])
    absent = [include for include, _ in needed if include not in reachable]
    publish = _with_includes(records[0], absent) if absent else None
    if len(records) > 1:
        # RFC 7208 section 3.2: more than one SPF record is a permanent error.
        return Verdict(
            "SPF", domain, needs, tuple(records), f"{len(records)} SPF records: merge them", publish
        )
    missing = " ".join(f"include:{include}" for include in absent) or None
    return Verdict("SPF", domain, needs, tuple(records), missing, publish)


def check_dkim(dns_: Dns, domain: str, signer: DkimSigner) -> Verdict:
    """The smtp provider's public key under its selector, and a signing domain that DMARC
    counts for `domain` (the same organizational domain, approximated as a suffix)."""
    needs = f"{signer.record} (smtp, the public half of SMTP_DKIM_PRIVATE_KEY)"
    records = dns_.txt(signer.record_name)
    if not _aligned(domain, signer.domain):
        return Verdict(
            "DKIM",
            signer.record_name,
            needs,
            tuple(records),
            f"SMTP_DKIM_DOMAIN is {signer.domain}: DMARC does not count it for {domain}",
        )
    keys = [_tags(r).get("p", "") for r in records if _tags(r).get("v", "DKIM1") == "DKIM1"]
    if any(re.sub(r"\s+", "", key) == signer.public_key for key in keys):
        return Verdict("DKIM", signer.record_name, needs, tuple(records))
    missing = "a record with another key" if keys else "no DKIM record"
    return Verdict("DKIM", signer.record_name, needs, tuple(records), missing, signer.record)


def check_dmarc(dns_: Dns, domain: str) -> Verdict:
    """A DMARC record for `domain`, or for a parent domain, whose policy covers subdomains."""
    needs = "a v=DMARC1 record"
    labels = domain.split(".")
    for start in range(max(len(labels) - 1, 1)):
        name = "_dmarc." + ".".join(labels[start:])
        records = [r for r in dns_.txt(name) if re.match(r"v\s*=\s*DMARC1\b", r, re.IGNORECASE)]
        if len(records) == 1:
            return Verdict("DMARC", name, needs, tuple(records))
        if records:  # RFC 7489 section 6.6.3: then no policy applies at all
            return Verdict("DMARC", name, needs, tuple(records), f"{len(records)} DMARC records")
    suggestion = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"
    return Verdict("DMARC", f"_dmarc.{domain}", needs, (), "no DMARC record", suggestion)


def _spf_records(records: list[str]) -> list[str]:
    return [r for r in records if re.fullmatch(r"v=spf1(\s.*)?", r, re.IGNORECASE | re.DOTALL)]


def _spf_includes(dns_: Dns, record: str) -> set[str]:
    """Every domain `record` includes, directly or through the records it includes or
    redirects to, within SPF's budget of lookups."""
    reached: set[str] = set()
    queue = [record]
    lookups = 0
    while queue:
        for term in queue.pop(0).split()[1:]:
            name = re.sub(r"^([-~?+]?include:|redirect=)", "", term, flags=re.IGNORECASE).lower()
            if name == term.lower() or name in reached:
                continue
            reached.add(name)
            lookups += 1
            if lookups <= MAX_SPF_LOOKUPS:
                queue.extend(_spf_records(dns_.txt(name))[:1])
    return reached


def _with_includes(record: str, includes: list[str]) -> str:
    """`record` with the includes added before its `all` or `redirect=` term."""
    terms = record.split()
    at = next(
        (i for i, t in enumerate(terms) if _ALL.match(t) or t.lower().startswith("redirect=")),
        len(terms),
    )
    return " ".join(terms[:at] + [f"include:{i}" for i in includes] + terms[at:])


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


def _aligned(domain: str, signing_domain: str) -> bool:
    a, b = domain.lower().rstrip("."), signing_domain.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)
