"""One POST to a caller's callback URL that cannot be turned against our own network.

A callback URL is written by a caller, and whatever answers it is whatever its name resolves to
*now*, not when the endpoint was registered. So each attempt resolves the host itself
(`resolve`, the one place names are looked up), refuses the attempt if any address is not a
public unicast one (loopback, private, link-local, multicast, reserved, unspecified, shared,
IPv4-mapped forms of those), and connects to the checked address itself, never to the name
again: a second lookup between the check and the connect could answer otherwise. https keeps
the host name for SNI and certificate checks. Redirects are not followed (http.client never
does). Errors say what kind of failure it was, never what answered or where it is: the caller
reads them back through the API.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 10.0
_DEFAULT_PORTS = {"http": 80, "https": 443}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(Exception):
    """The URL may not be called: its scheme, or where its name points now."""


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the HTTP status if one was read, else an error to store."""

    status: int | None
    error: str | None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (tests replace this one function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def forbidden(address: IpAddress, *, allow_loopback: bool = False) -> bool:
    """Whether a callback must not connect to `address`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return not allow_loopback
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
        or address.is_private
    )


def checked_address(url: str, *, allow_loopback: bool = False) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) for `url`; CallbackRefused if it may not be
    called. The host is resolved here, at call time."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise CallbackRefused("the URL is not valid") from err
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise CallbackRefused("only http and https URLs are called")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("URLs with credentials are not called")
    host = parts.hostname
    port = port or _DEFAULT_PORTS[parts.scheme]
    try:
        found = resolve(host, port)
    except (OSError, UnicodeError) as err:
        raise CallbackRefused("the host name does not resolve") from err
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    if not addresses:
        raise CallbackRefused("the host name does not resolve")
    # Any non-public answer refuses the attempt: a name that points both ways is not trusted.
    if any(forbidden(a, allow_loopback=allow_loopback) for a in addresses):
        raise CallbackRefused("the host resolves to a non-public address")
    return parts.scheme, host, port, str(addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a given, already checked address, whatever the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(_PinnedHTTP):
    """The same over TLS, verifying the certificate against the host name."""

    default_port = 443

    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_loopback: bool = False,
    timeout: float = TIMEOUT_SECONDS,
) -> Outcome:
    """POST `body` to `url` once, on a connection to the address checked for this attempt."""
    try:
        scheme, host, port, address = checked_address(url, allow_loopback=allow_loopback)
    except CallbackRefused as err:
        return Outcome(None, f"refused: {err}")
    kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address, timeout)
    path = urlsplit(url)._replace(scheme="", netloc="", fragment="").geturl() or "/"
    try:
        connection.request("POST", path, body=body, headers=headers)
        status = connection.getresponse().status
    except TimeoutError:
        return Outcome(None, "timed out")
    except ssl.SSLError:
        return Outcome(None, "TLS error")
    except (OSError, http.client.HTTPException):
        return Outcome(None, "connection failed")
    finally:
        connection.close()
    return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
