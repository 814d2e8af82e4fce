"""When a failed call may be sent again, and how long to wait first.

Only what cannot enrol a card twice is retried: a connection that was never
established (refused, DNS, TLS handshake: no byte of the request left) and
the service's own "temporary problem" (99).  For the read-only operations a
lost answer and an HTTP 502/503/504 without a SOAP answer are retried too,
since reading twice changes nothing.  For a change, anything after the
request may have left (a timeout, a dropped connection, a cut or oversized
answer, a 5xx from a gateway that may have forwarded it) is never retried
blindly: that is ``OutcomeUnknown``, settled by ``reconcile``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from .errors import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    HTTPStatusError,
    ResponseTimeout,
    SogenSoapError,
)

__all__ = ["READ_ONLY_OPERATIONS", "RetryPolicy", "retryable"]  # and NO_RETRY, made on use

READ_ONLY_OPERATIONS: Final = frozenset(
    {"getWalletData", "getPaymentMeanData", "getTransactionData"}
)
_GATEWAY_STATUSES: Final = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all (1: no retry); exponential backoff with full jitter.

    The n-th retry waits a random time up to ``min(cap, base_delay * 2**(n-1))``
    seconds, so many clients that failed together do not come back together.
    """

    attempts: int = 3
    base_delay: float = 0.2
    cap: float = 5.0
    jitter: bool = True
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:  # pragma: no mutate block
        if self.attempts < 1 or self.base_delay < 0 or self.cap < 0:
            raise ConfigurationError("retry: attempts >= 1, delays >= 0")

    def delay(self, retry_number: int) -> float:
        ceiling = float(min(self.cap, self.base_delay * 2 ** (retry_number - 1)))
        return self._random.uniform(0, ceiling) if self.jitter else ceiling


def __getattr__(name: str) -> RetryPolicy:  # pragma: no mutate block
    # NO_RETRY (one attempt) is made on first use, not at import: nothing of
    # this module runs before it is called (mutation testing relies on that).
    if name == "NO_RETRY":
        return RetryPolicy(attempts=1)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def retryable(error: SogenSoapError, operation: str) -> bool:
    """Whether sending the same request again is safe after ``error``."""
    if isinstance(error, ConnectionFailed):
        return True
    if isinstance(error, HTTPStatusError):
        return error.status_code in _GATEWAY_STATUSES and operation in READ_ONLY_OPERATIONS
    if isinstance(error, (ResponseTimeout, ConnectionDropped)):
        return operation in READ_ONLY_OPERATIONS
    return False
