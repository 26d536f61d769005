"""The one error tree of sessiongraph. Every error a client can see is one of these; anything
else is masked as INTERNAL_SERVER_ERROR by the GraphQL layer.

    SessionGraphError                 (code, provider, retryable, retry_after → `extensions`)
    ├── UserInputError                BAD_USER_INPUT        the client's arguments are wrong
    ├── NotFoundError                 NOT_FOUND             no such node (or session to delete)
    ├── NotSupportedError             NOT_SUPPORTED         the vendor cannot do that (delete)
    ├── ForbiddenError                FORBIDDEN             the key's role may not do that
    ├── AuditUnavailableError         AUDIT_UNAVAILABLE     no index store to read audit from
    ├── ProviderNotConfiguredError    PROVIDER_NOT_CONFIGURED  vendor off, or missing scoping
    └── ProviderError                 (a vendor call failed; `provider` is always set)
        ├── UpstreamAuthError         UPSTREAM_UNAUTHENTICATED   401/403 for the credential
        ├── UpstreamRejectedError     UPSTREAM_BAD_REQUEST       400, Vonage's 401-for-parameters
        ├── UpstreamNotFoundError     UPSTREAM_NOT_FOUND         404 on a listing call
        ├── UpstreamRateLimitedError  UPSTREAM_RATE_LIMITED      429 (retry_after in seconds)
        ├── UpstreamUnavailableError  UPSTREAM_UNAVAILABLE       5xx, refused connection
        ├── UpstreamTimeoutError      UPSTREAM_TIMEOUT           no answer before the deadline
        └── UpstreamProtocolError     UPSTREAM_BAD_RESPONSE      a body we cannot read

Vendor failures are raised in exactly one place, `providers.transport`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from providers.records import Provider

__all__ = [
    "AuditUnavailableError",
    "ForbiddenError",
    "NotFoundError",
    "NotSupportedError",
    "ProviderError",
    "ProviderNotConfiguredError",
    "SessionGraphError",
    "UpstreamAuthError",
    "UpstreamNotFoundError",
    "UpstreamProtocolError",
    "UpstreamRateLimitedError",
    "UpstreamRejectedError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "UserInputError",
]


class SessionGraphError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: Provider | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retry_after = retry_after
        self.status = status  # the vendor's HTTP status, for logs and tests

    @property
    def extensions(self) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code}
        if self.provider is not None:
            extensions["provider"] = self.provider.name
            extensions["retryable"] = self.retryable
        if self.retry_after is not None:
            extensions["retryAfter"] = self.retry_after
        return extensions


class UserInputError(SessionGraphError):
    code = "BAD_USER_INPUT"


class NotFoundError(SessionGraphError):
    code = "NOT_FOUND"


class NotSupportedError(SessionGraphError):
    code = "NOT_SUPPORTED"


class ForbiddenError(SessionGraphError):
    code = "FORBIDDEN"


class AuditUnavailableError(SessionGraphError):
    code = "AUDIT_UNAVAILABLE"


class ProviderNotConfiguredError(SessionGraphError):
    code = "PROVIDER_NOT_CONFIGURED"


class ProviderError(SessionGraphError):
    code = "UPSTREAM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        provider: Provider,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, retry_after=retry_after, status=status)


class UpstreamAuthError(ProviderError):
    code = "UPSTREAM_UNAUTHENTICATED"


class UpstreamRejectedError(ProviderError):
    code = "UPSTREAM_BAD_REQUEST"


class UpstreamNotFoundError(ProviderError):
    code = "UPSTREAM_NOT_FOUND"


class UpstreamRateLimitedError(ProviderError):
    code = "UPSTREAM_RATE_LIMITED"
    retryable = True


class UpstreamUnavailableError(ProviderError):
    code = "UPSTREAM_UNAVAILABLE"
    retryable = True


class UpstreamTimeoutError(ProviderError):
    code = "UPSTREAM_TIMEOUT"
    retryable = True


class UpstreamProtocolError(ProviderError):
    code = "UPSTREAM_BAD_RESPONSE"
