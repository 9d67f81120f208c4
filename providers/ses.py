"""Send through Amazon SES (API v2) as raw MIME, so the message is byte for byte what SMTP carries.

The raw form keeps attachments, Cc and Reply-To exactly as the shared MIME builder made them;
Bcc recipients are named only in the envelope (`Destination`), never in the headers.

Retries are ours, not botocore's: a retried request after a read timeout could deliver the
message twice, so the client makes exactly one attempt and the error says what happened.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    TransientError,
)
from providers.mime import message_bytes

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client

# SES v2 refuses raw messages above 40 MB; refusing here saves uploading them.
MAX_MESSAGE_BYTES = 40 * 1024 * 1024

# Error codes, from the SES v2 API reference and the AWS common errors, by what they mean for us.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_CONFIGURATION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AccountSuspendedException",
        "ConfigurationSetDoesNotExist",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MailFromDomainNotVerifiedException",
        "MissingAuthenticationToken",
        "NotFoundException",  # the configuration set named in the settings does not exist
        "SendingPausedException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_REJECTED_CODES = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
# MessageRejected also covers identities SES will not send from (sandbox, unverified sender):
# that is this account's configuration, and another provider may well carry the message.
_UNVERIFIED_HINTS = ("not verified", "did not have authority")
# Raised before anything is sent, by credentials or by settings botocore finds invalid.
_SETUP_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ParamValidationError,
)


class SesProvider(Provider):
    """Amazon SES v2 `SendEmail` with raw content; one lazily created client per instance."""

    name = "ses"

    def __init__(
        self,
        region: str | None = None,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        configuration_set: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_connections: int = 10,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("SES timeouts must be positive: a send must never block forever")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("an AWS access key id and its secret go together")
        # None everywhere lets boto3 find its usual AWS_* variables, profile or instance role.
        self.region = region
        self.access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session_token = session_token
        self.configuration_set = configuration_set
        self.endpoint_url = endpoint_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_message_bytes = max_message_bytes
        # The client is shared by every sending thread (boto3 clients are thread-safe); its
        # HTTP pool keeps this many keep-alive connections.
        self.max_connections = max_connections
        self._client: SESV2Client | None = None
        self._lock = threading.Lock()

    def send(self, message: OutboundEmail) -> SendResult:
        """Hand the raw message to SES; its MessageId becomes the provider message id."""
        try:
            raw = message_bytes(message)
        except ValueError as err:
            raise RejectedError(str(err), provider=self.name) from err
        if not message.recipients:
            raise RejectedError("the message has no recipients", provider=self.name)
        if len(raw) > self.max_message_bytes:
            raise RejectedError(
                f"message of {len(raw)} bytes exceeds the SES limit of {self.max_message_bytes}",
                provider=self.name,
            )
        request: dict[str, Any] = {
            "FromEmailAddress": message.from_addr,
            "Destination": _destination(message),
            "Content": {"Raw": {"Data": raw}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        client = self._get_client()
        try:
            response = client.send_email(**request)
        except ClientError as err:
            raise self._client_error(err) from err
        except (BotoCoreError, ResponseParserError) as err:
            raise self._botocore_error(err) from err
        return SendResult(provider=self.name, message_id=response["MessageId"])

    def close(self) -> None:
        """Drop the client and its connection pool; the next send creates a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- the client -----------------------------------------------------------------------------

    def _get_client(self) -> SESV2Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> SESV2Client:
        config = Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            # One attempt in all: botocore would otherwise retry read timeouts, and a retry of
            # a request SES may already have accepted is a duplicate email.
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=self.max_connections,
        )
        # A session of our own: boto3's default session is shared and not thread-safe to use
        # while clients are being created elsewhere.
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self._secret_access_key,
            aws_session_token=self._session_token,
            region_name=self.region,
        )
        try:
            return session.client("sesv2", endpoint_url=self.endpoint_url, config=config)
        except (NoRegionError, ValueError) as err:
            # ValueError: botocore's verdict on a malformed endpoint URL or region name.
            raise ConfigurationError(
                f"cannot set up the SES client: {err}", provider=self.name
            ) from err

    # -- errors ---------------------------------------------------------------------------------

    def _client_error(self, err: ClientError) -> ProviderError:
        error = err.response.get("Error", {})
        code = error.get("Code", "")
        text = error.get("Message", "") or str(err)
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        cls: type[ProviderError]
        if code in _TRANSIENT_CODES or (status is not None and status >= 500):
            cls = TransientError
        elif code in _CONFIGURATION_CODES:
            cls = ConfigurationError
        elif code == "MessageRejected" and any(h in text.lower() for h in _UNVERIFIED_HINTS):
            cls = ConfigurationError
        elif code in _REJECTED_CODES:
            cls = RejectedError
        else:
            # A code we do not know: letting failover try the next provider, and the task retry
            # later, costs less than failing for good an email that may be perfectly fine.
            cls = TransientError
        return cls(
            f"SES answered {code}: {text}", provider=self.name, status_code=code, response=text
        )

    def _botocore_error(self, err: BotoCoreError | ResponseParserError) -> ProviderError:
        if isinstance(err, BotoConnectionError):
            # Connect refused or timed out, DNS, proxy, TLS handshake: SES never saw the request.
            return TransientError(f"cannot reach SES: {err}", provider=self.name)
        if isinstance(err, (HTTPClientError, ResponseParserError)):
            # ReadTimeoutError, ConnectionClosedError (a reset while waiting) and unreadable
            # answers all come after the request was written: SES may have accepted it.
            return AmbiguousError(
                f"no usable answer from SES after the request was sent; it may have been "
                f"accepted: {err}",
                provider=self.name,
            )
        if isinstance(err, _SETUP_ERRORS):
            return ConfigurationError(f"SES is not configured: {err}", provider=self.name)
        return TransientError(f"SES request failed: {err}", provider=self.name)


def _destination(message: OutboundEmail) -> dict[str, list[str]]:
    destination = {
        "ToAddresses": list(message.to),
        "CcAddresses": list(message.cc),
        "BccAddresses": list(message.bcc),
    }
    return {key: addresses for key, addresses in destination.items() if addresses}
