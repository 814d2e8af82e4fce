"""``sogen-soap keys check``: is every key version good, and for how long?

Each version of the configured key ring (or the one key) is listed with its
expiry and the days left, then proved against the service with a harmless
sealed read: ``getWalletData`` on a wallet id no shop uses.  The service checks
the seal before it looks for the wallet, so a sealed "unknown wallet" (01 or
25) proves the key is accepted, and a 34 that it is not.  Nothing is changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from ..client import WalletClient
from ..errors import ConfigurationError, SogenSoapError
from ..keys import EXPIRY_WARNINGS, KeyVersion
from ..results import UNKNOWN_WALLET_CODES, GetWalletDataResult
from .output import EXIT_CREDENTIALS, EXIT_OK, EXIT_TRANSPORT

__all__ = ["EXIT_EXPIRING", "PROBE_WALLET", "KeyCheck", "check_keys", "verdict"]

EXIT_EXPIRING: Final = 8  # every key accepted, one expires within the warning window
PROBE_WALLET: Final = "sogen-key-check-0000"
"""The wallet id the probe reads: 20 characters no shop's wallet ids look like."""

ACCEPTED: Final = "accepted"
REFUSED: Final = "refused"  # 34 (key or version), 03/40 (merchant)
EXPIRED: Final = "expired"  # not sent: the service refuses it
UNPROVEN: Final = "unproven"  # an answer came that proves nothing (unsealed, other code)
UNREACHABLE: Final = "unreachable"


@dataclass(frozen=True)
class KeyCheck:
    """What was found for one key version (no secret in it)."""

    version: int
    active: bool
    expires: str | None
    days_left: int | None
    state: str
    detail: str

    def line(self) -> str:
        expiry = (
            "no expiry given"
            if self.expires is None
            else f"expires {self.expires} ({_days(self.days_left)})"
        )
        marker = " (active)" if self.active else ""
        return f"key version {self.version}{marker}: {expiry}; {self.state}: {self.detail}"


def _days(left: int | None) -> str:
    if left is None:
        return "-"
    if left < 0:
        return f"{-left} day{'s' * (left != -1)} ago"
    return f"{left} day{'s' * (left != 1)} left"


def _probe(client: WalletClient, entry: KeyVersion) -> tuple[str, str]:
    if entry.expired():
        return EXPIRED, "not sent: the service refuses an expired key"
    client.activate_key(entry.version)
    try:
        result = client.get_wallet_data(PROBE_WALLET)
    except ConfigurationError as exc:
        return EXPIRED, str(exc)
    except SogenSoapError as exc:
        return UNREACHABLE, f"{type(exc).__name__}: {exc}"
    return verdict(result)


def verdict(result: GetWalletDataResult) -> tuple[str, str]:
    """What the answer to the probe says of the key that sealed it."""
    code = result.response_code
    if code == "34":
        return REFUSED, "34: the service does not accept this key or version (yet, or any more)"
    if code in ("03", "40"):
        return REFUSED, f"{code}: {result.message}"
    if result.seal_verified and (code in UNKNOWN_WALLET_CODES or code == "00"):
        return ACCEPTED, f"a sealed answer ({code}) verified with this key"
    return UNPROVEN, f"the answer ({result.message}) was not sealed with this key"


def check_keys(client: WalletClient) -> list[KeyCheck]:
    """Prove every version of ``client.keys``; the active one is active again after."""
    ring = client.keys
    active = ring.active.version
    checks = []
    try:
        for entry in ring.versions:
            state, detail = _probe(client, entry)
            checks.append(
                KeyCheck(
                    version=entry.version,
                    active=entry.version == active,
                    expires=None if entry.expires is None else str(entry.expires),
                    days_left=entry.days_left(),
                    state=state,
                    detail=detail,
                )
            )
    finally:
        if not ring[active].expired():
            ring.activate(active)
    return checks


def exit_status(checks: list[KeyCheck], warn_days: int = EXPIRY_WARNINGS[0]) -> int:
    """0 all accepted, none expiring within ``warn_days``; 8 all accepted, one expiring;
    7 one refused or expired; 5 the service could not be asked (or proved nothing)."""
    if any(c.state in (REFUSED, EXPIRED) for c in checks):
        return EXIT_CREDENTIALS
    if any(c.state in (UNREACHABLE, UNPROVEN) for c in checks):
        return EXIT_TRANSPORT
    if any(c.days_left is not None and c.days_left <= warn_days for c in checks):
        return EXIT_EXPIRING
    return EXIT_OK


def report(checks: list[KeyCheck], as_json: bool) -> str:
    if as_json:
        return json.dumps([c.__dict__ for c in checks])
    return "\n".join(c.line() for c in checks)
