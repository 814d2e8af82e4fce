"""How results look: a readable table for people, one JSON object for scripts.

Exit statuses are part of the interface: scripts branch on them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

from ..redact import redact_text
from ..results import GetPaymentMeanDataResult, GetWalletDataResult, PaymentMean, WalletResult

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CREDENTIALS",
    "EXIT_FAULT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_TERMINATED",
    "EXIT_TRANSPORT",
    "EXIT_UNTRUSTED",
    "exit_status",
    "print_result",
    "table",
]

EXIT_OK: Final = 0  # walletResponseCode 00
EXIT_BAD_INPUT: Final = 2  # bad input or configuration: nothing was sent
EXIT_REFUSED: Final = 3  # the service answered with a code other than 00 (94, 25, ...)
EXIT_FAULT: Final = 4  # the service answered with a SOAP fault
EXIT_TRANSPORT: Final = 5  # no usable answer: connection, timeout, TLS, HTTP error
EXIT_UNTRUSTED: Final = 6  # an answer came but is not trusted (seal, not XML)
EXIT_INTERNAL: Final = 1  # a bug in sogen-soap: one line, no traceback; please report
EXIT_INTERRUPTED: Final = 130  # Ctrl-C (SIGINT); a batch resumes when run again
EXIT_TERMINATED: Final = 143  # SIGTERM; a batch resumes when run again
EXIT_CREDENTIALS: Final = 7  # a batch stopped: answers in a row said the credentials are wrong

_MEAN_COLUMNS: Final = (
    ("id", "payment_mean_id"),
    ("masked pan", "masked_pan"),
    ("expiry", "pan_expiry_date"),
    ("brand", "payment_mean_brand"),
    ("alias", "payment_mean_alias"),
)


def exit_status(result: WalletResult) -> int:
    if result.ok:
        return EXIT_OK
    return EXIT_FAULT if result.fault is not None else EXIT_REFUSED


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain aligned columns; ``-`` for empty cells."""
    cells = [[str(h) for h in headers]] + [
        ["-" if value in (None, "") else str(value) for value in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _means_table(means: Sequence[PaymentMean]) -> str:
    return table(
        [title for title, _ in _MEAN_COLUMNS],
        [[getattr(mean, name) for _, name in _MEAN_COLUMNS] for mean in means],
    )


def print_result(result: WalletResult, *, as_json: bool, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    data: dict[str, Any] = result.as_dict()
    if as_json:
        print(redact_text(json.dumps(data, ensure_ascii=False)), file=stream)
        return
    code = result.fault.code if result.fault else result.response_code
    rows: list[tuple[str, object]] = [
        ("operation", result.operation),
        ("response", f"{code} {result.message}"),
    ]
    skip = {"response_code", "fault", "operation", "ok", "message", "payment_means", "payment_mean"}
    skip |= {"extra"} | {
        name for name in ("recovered", "reconciliation", "hint") if not data.get(name)
    }
    rows += [(name.replace("_", " "), value) for name, value in data.items() if name not in skip]
    rows += [  # fields the client does not type, as the service sent them
        (f"{name} (extra)", value if isinstance(value, str) else json.dumps(value))
        for name, value in data.get("extra", {}).items()
    ]
    print(redact_text(table(["field", "value"], rows).split("\n", 1)[1]), file=stream)
    if isinstance(result, GetWalletDataResult) and result.ok:
        print(file=stream)
        print(
            _means_table(result.payment_means) if result.payment_means else "(no payment means)",
            file=stream,
        )
    if isinstance(result, GetPaymentMeanDataResult) and result.payment_mean is not None:
        print(file=stream)
        print(_means_table([result.payment_mean]), file=stream)
