"""Send through an SMTP relay, over one connection kept open between messages.

The transaction is driven command by command (MAIL, RCPT, DATA, then the message) rather than
with `sendmail`, because what a failure means depends on where it happened: until the final
dot of the message is written the server cannot have accepted anything and any failure is safe
to retry elsewhere, while a silence after it may hide a delivery (an `AmbiguousError`).
"""

from __future__ import annotations

import re
import smtplib
import ssl as ssl_module
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from providers.addresses import split_address
from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    TransientError,
)
from providers.mime import message_bytes

if TYPE_CHECKING:  # dkimpy and its DNS library load only where DKIM is configured
    from providers.dkim import DkimSigner

# Replies that mean "authenticate first" or "your credentials are wrong", in any phase.
_AUTH_CODES = frozenset({530, 534, 535, 538})
_LEADING_DOT = re.compile(rb"(?m)^\.")


class _StaleConnection(Exception):
    """A kept-open connection turned out dead before anything of the message was sent."""


class SmtpProvider(Provider):
    """An SMTP relay; thread-safe, with sends serialized over a single lazily opened connection."""

    name = "smtp"

    # `ssl` is the setting's name in the configuration, hence the module is imported as
    # `ssl_module` throughout.
    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        *,
        tls_context: ssl_module.SSLContext | None = None,
        dkim: DkimSigner | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose either STARTTLS or implicit SSL, not both")
        if timeout <= 0:
            raise ValueError("an SMTP timeout must be positive: a send must never block forever")
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password go together")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_ssl = ssl
        self.timeout = timeout
        self.local_hostname = local_hostname
        # A private CA or a test certificate; by default the system's trust store.
        self.tls_context = tls_context
        # Signs every message for its domain; None sends them as built.
        self.dkim = dkim
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def send(self, message: OutboundEmail) -> SendResult:
        """Relay the message; partial recipient refusals come back in `SendResult.rejected`."""
        try:
            payload = message_bytes(message)
            if self.dkim is not None:
                payload = self.dkim.sign(payload)
        except ValueError as err:
            raise RejectedError(str(err), provider=self.name) from err
        recipients = _unique(message.recipients)
        if not recipients:
            raise RejectedError("the message has no recipients", provider=self.name)
        with self._lock:
            try:
                rejected = self._transaction(message.from_addr, recipients, payload)
            except _StaleConnection:
                # The server closed the idle connection; the retry runs on a fresh one.
                rejected = self._transaction(message.from_addr, recipients, payload)
        # Our own Message-ID, not the server's queue id, so the id is the same on every attempt.
        return SendResult(
            provider=self.name, message_id=message.message_id[1:-1], rejected=rejected
        )

    def close(self) -> None:
        """Say QUIT and drop the connection; the next send opens a new one."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.quit()
            except OSError:
                conn.close()

    # -- one transaction ------------------------------------------------------------------------

    def _transaction(
        self, from_addr: str, recipients: Sequence[str], payload: bytes
    ) -> dict[str, str]:
        reused = self._conn is not None
        conn = self._conn if self._conn is not None else self._open()
        self._conn = conn
        self._mail(conn, from_addr, len(payload), reused)
        rejected = self._rcpt(conn, recipients)
        self._data(conn, payload)
        return rejected

    def _mail(self, conn: smtplib.SMTP, from_addr: str, size: int, reused: bool) -> None:
        # Declaring the size lets the server refuse an oversized message before it is sent.
        options = [f"SIZE={size}"] if conn.has_extn("size") else []
        try:
            code, resp = conn.mail(from_addr, options)
        except OSError as err:
            self._discard()
            if reused:
                raise _StaleConnection from err
            raise self._network_error("MAIL FROM", err) from err
        if code == 421 and reused:
            # Servers often answer the first command after an idle timeout with 421 and hang up.
            self._discard()
            raise _StaleConnection
        if code != 250:
            self._abandon(conn, code)
            raise self._reply_error("MAIL FROM", code, resp)

    def _rcpt(self, conn: smtplib.SMTP, recipients: Sequence[str]) -> dict[str, str]:
        rejected: dict[str, str] = {}
        first_code = 0
        for addr in recipients:
            try:
                code, resp = conn.rcpt(addr)
            except OSError as err:
                self._discard()
                raise self._network_error("RCPT TO", err) from err
            if code in (250, 251):
                continue
            if not 500 <= code < 600 or code in _AUTH_CODES:
                # A deferred recipient fails the whole transaction: sending to the others now
                # would leave no way to reach this one later without duplicating theirs.
                self._abandon(conn, code)
                raise self._reply_error(f"RCPT TO {addr}", code, resp)
            rejected[addr] = f"{code} {_text(resp)}"
            first_code = first_code or code
        if len(rejected) == len(recipients):
            self._abandon(conn, 550)
            detail = "; ".join(f"{addr}: {reason}" for addr, reason in rejected.items())
            raise RejectedError(
                f"every recipient was refused: {detail}",
                provider=self.name,
                status_code=first_code,
                response=detail,
            )
        return rejected

    def _data(self, conn: smtplib.SMTP, payload: bytes) -> None:
        try:
            conn.putcmd("data")
            code, resp = conn.getreply()
        except OSError as err:
            self._discard()
            raise self._network_error("DATA", err) from err
        if code != 354:
            self._abandon(conn, code)
            raise self._reply_error("DATA", code, resp)
        try:
            conn.send(_dot_stuffed(payload))
        except OSError as err:
            # The terminating dot is the last thing written, so a failed write means the server
            # never saw the end of the message and cannot have accepted it.
            self._discard()
            raise self._network_error("message content", err) from err
        try:
            code, resp = conn.getreply()
        except OSError as err:
            self._discard()
            raise AmbiguousError(
                f"no reply after the message was sent; it may have been accepted: {err}",
                provider=self.name,
            ) from err
        if code == 250:
            return
        if code == -1:
            self._discard()
            raise AmbiguousError(
                "unreadable reply after the message was sent; it may have been accepted",
                provider=self.name,
                response=_text(resp),
            )
        if code == 421:
            self._discard()
        raise self._reply_error("end of DATA", code, resp)

    # -- the connection -------------------------------------------------------------------------

    def _open(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        try:
            conn = self._connect()
        except ssl_module.SSLCertVerificationError as err:
            raise self._config_error(f"TLS certificate of {where} not trusted: {err}") from err
        except smtplib.SMTPConnectError as err:
            # The greeting was not 220 (typically 421 or 554): the server will not talk now.
            text = _text(err.smtp_error)
            raise TransientError(
                f"{where} refused the session: {err.smtp_code} {text}",
                provider=self.name,
                status_code=err.smtp_code,
                response=text,
            ) from err
        except OSError as err:
            raise TransientError(f"cannot connect to {where}: {err}", provider=self.name) from err
        try:
            self._handshake(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> smtplib.SMTP:
        # The timeout applies to the TCP connect, the TLS handshake and every later read/write.
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        return smtplib.SMTP(
            self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def _handshake(self, conn: smtplib.SMTP) -> None:
        try:
            conn.ehlo_or_helo_if_needed()
            if self.starttls:
                if not conn.has_extn("starttls"):
                    raise self._config_error("STARTTLS is required; the server does not offer it")
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.username is not None and self.password is not None:
                if not conn.has_extn("auth"):
                    raise self._config_error("credentials are set but the server offers no AUTH")
                conn.login(self.username, self.password)
        except smtplib.SMTPResponseException as err:
            # Refusals of our greeting, of TLS or of our credentials are for good unless 4xx.
            text = _text(err.smtp_error)
            cls = TransientError if 400 <= err.smtp_code < 500 else ConfigurationError
            raise cls(
                f"SMTP session setup refused: {err.smtp_code} {text}",
                provider=self.name,
                status_code=err.smtp_code,
                response=text,
            ) from err
        except ssl_module.SSLCertVerificationError as err:
            raise self._config_error(f"TLS certificate not trusted: {err}") from err
        except smtplib.SMTPServerDisconnected as err:
            raise self._network_error("session setup", err) from err
        except smtplib.SMTPException as err:
            # What remains is smtplib's own verdict, e.g. "No suitable authentication method".
            raise self._config_error(f"SMTP session setup failed: {err}") from err
        except OSError as err:
            raise self._network_error("session setup", err) from err

    def _context(self) -> ssl_module.SSLContext:
        return self.tls_context or ssl_module.create_default_context()

    def _abandon(self, conn: smtplib.SMTP, code: int) -> None:
        """Leave the failed transaction so the connection can carry the next message."""
        if code == 421:  # the server is closing the connection
            self._discard()
            return
        try:
            ok = conn.rset()[0] == 250
        except OSError:
            ok = False
        if not ok:
            self._discard()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- errors ---------------------------------------------------------------------------------

    def _reply_error(self, phase: str, code: int, resp: bytes) -> ProviderError:
        text = _text(resp)
        cls: type[ProviderError]
        if code in _AUTH_CODES:
            cls = ConfigurationError
        elif 500 <= code < 600:
            cls = RejectedError  # 550/553 sender or recipient refused, 552 too large, 554 ...
        else:
            cls = TransientError  # 4xx, and replies too garbled to read a code from
        return cls(f"{phase}: {code} {text}", provider=self.name, status_code=code, response=text)

    def _network_error(self, phase: str, err: OSError) -> TransientError:
        return TransientError(f"connection lost during {phase}: {err}", provider=self.name)

    def _config_error(self, message: str) -> ConfigurationError:
        return ConfigurationError(message, provider=self.name)


def _dot_stuffed(payload: bytes) -> bytes:
    # RFC 5321 4.5.2: a line starting with "." gets another one; CRLF.CRLF ends the data.
    stuffed = _LEADING_DOT.sub(b"..", payload)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _unique(addresses: Sequence[str]) -> list[str]:
    # The same mailbox in To and Cc must get one RCPT, or some servers deliver it twice.
    seen: set[str] = set()
    unique = []
    for addr in addresses:
        key = split_address(addr)[1] or addr
        if key not in seen:
            seen.add(key)
            unique.append(addr)
    return unique


def _text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp
