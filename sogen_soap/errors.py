"""The package's one exception tree.

Business outcomes (a declined enrolment, a duplicate card, a SOAP fault) are
*results*, not exceptions; see ``results``.  What is raised here is either bad
input caught before anything is sent, or plumbing that broke.  No message built
here ever carries a card number, a seal key or a raw message body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .redact import redact_text

if TYPE_CHECKING:
    from .results import WalletResult

__all__ = [
    "ConfigurationError",
    "ConnectionDropped",
    "ConnectionFailed",
    "HTTPStatusError",
    "InvalidFieldError",
    "OutcomeUnknown",
    "ResponseError",
    "ResponseTimeout",
    "ResponseTooLarge",
    "SealVerificationError",
    "SogenSoapError",
    "TLSError",
    "TransportError",
    "UnreadableOutcome",
    "UnverifiedOutcome",
    "WalletResponseError",
]


class SogenSoapError(Exception):
    """Base of every exception the package raises.

    Its text passes the package's one rule for cardholder data (``redact``):
    whatever a message was built from, a card number shows masked.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))


class InvalidFieldError(SogenSoapError, ValueError):
    """A request field broke a rule of the data dictionary; nothing was sent."""

    def __init__(self, field: str, parameter: str, rule: str) -> None:
        self.field = field
        self.parameter = parameter
        self.rule = redact_text(rule)  # "(got '...')" may quote a card in the wrong field
        name = field if parameter == field else f"{parameter} ({field})"
        super().__init__(f"{name}: {rule}")


class ConfigurationError(SogenSoapError, ValueError):
    """The client was set up with something it cannot work with."""


class TransportError(SogenSoapError):
    """The exchange with the service failed below the SOAP layer."""

    def __init__(self, message: str, *, operation: str = "", endpoint: str = "") -> None:
        self.operation = operation
        self.endpoint = endpoint
        super().__init__(message)


class ConnectionFailed(TransportError):
    """No connection was established (refused, DNS, connect timeout, proxy).

    The request never reached the service, so retrying is always safe.
    """


class ConnectionDropped(TransportError):
    """The connection broke after the request was sent.

    For a call that changes a wallet, whether it took effect is unknown.
    """


class ResponseTimeout(TransportError):
    """The request was sent but no response came in time.

    For a call that changes a wallet, whether it took effect is unknown.
    """


class OutcomeUnknown(TransportError):
    """A call that changes a wallet was sent, and its answer was lost.

    The read timed out or the connection broke after the request went out:
    the change may or may not have been made.  ``attempted`` says what was
    asked, masked (wallet id, masked PAN, expiry, payment mean id, alias);
    ``reason`` is ``"timeout"``, ``"dropped"``, ``"http_status"`` (a 5xx
    without a SOAP answer), ``"too_large"``, ``"unreadable"`` or
    ``"unverified"`` (an answer came that cannot be read or trusted: see
    ``UnreadableOutcome``), ``"fault"`` (a SOAP fault to ``addCard``, which a
    service may send after storing the card) or ``"unresolved"``.  For an
    enrolment, ``add_card(..., reconcile=True)`` settles it by sending again;
    for the other changes, read the wallet to see what it holds.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        attempted: Mapping[str, str],
        operation: str = "",
        endpoint: str = "",
    ) -> None:
        self.reason = reason
        self.attempted = dict(attempted)
        super().__init__(message, operation=operation, endpoint=endpoint)


class TLSError(TransportError):
    """The TLS handshake failed (untrusted or mismatched certificate, ...)."""


class HTTPStatusError(TransportError):
    """An HTTP error status without a SOAP body to explain it."""

    def __init__(
        self, message: str, *, status_code: int, operation: str = "", endpoint: str = ""
    ) -> None:
        self.status_code = status_code
        super().__init__(message, operation=operation, endpoint=endpoint)


class ResponseError(SogenSoapError):
    """A response came back but cannot be trusted or understood."""


class ResponseTooLarge(TransportError, ResponseError):
    """The answer was larger than ``max_response_bytes``; reading stopped at the cap.

    For a call that changes a wallet, whether it took effect is unknown
    (raised as ``OutcomeUnknown`` then).
    """


class SealVerificationError(ResponseError):
    """A response's seal is missing or wrong where it had to be right."""


class UnreadableOutcome(OutcomeUnknown, ResponseError):
    """A change's answer came but cannot be read (not XML or JSON, a DTD, a
    lone surrogate, ...): the change may have been made.

    Both what happened (``ResponseError``) and what it means
    (``OutcomeUnknown``), so code catching either sees it.
    """


class UnverifiedOutcome(UnreadableOutcome, SealVerificationError):
    """A change's answer came with a missing or wrong seal: the change may have been made."""


class WalletResponseError(SogenSoapError):
    """Raised by ``WalletResult.raise_for_code()`` for a result that is not 00."""

    def __init__(self, result: WalletResult) -> None:
        self.result = result
        self.response_code = result.response_code
        super().__init__(f"{result.operation}: {result.message}")
