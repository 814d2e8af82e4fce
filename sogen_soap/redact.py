"""Masking of card numbers and seals for anything a person or a log may see."""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

__all__ = ["LOGGERS", "RedactingFilter", "install_log_redaction", "mask_pan", "redact_text"]

# Every logger that may see a message body: ours, zeep's, and the HTTP stack's.
LOGGERS: Final = (
    "sogen_soap",
    "sogen_soap.wire",
    "sogen_soap.cli",
    "zeep",
    "zeep.transports",
    "zeep.wsdl.bindings.soap",
    "zeep.xsd",
    "urllib3",
    "urllib3.connectionpool",
    "requests",
)

# 12 to 19 digits, optionally grouped by spaces or dashes, not inside a longer
# run of digits: the shape of a clear PAN in free text.
_PAN_IN_TEXT: Final = re.compile(r"(?<![0-9])(?:[0-9][ -]?){11,18}[0-9](?![0-9])")
_HEX_DIGEST: Final = re.compile(
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?:[0-9a-fA-F]{64})?(?![0-9a-fA-F])"
)


def mask_pan(card_number: str) -> str:
    """The vendor's mask: first 4 and last 2 characters clear, the rest ``#``.

    Values too short to mask that way are hidden completely.
    """
    if len(card_number) < 10:
        return "#" * len(card_number)
    return card_number[:4] + "#" * (len(card_number) - 6) + card_number[-2:]


def redact_text(text: str) -> str:
    """Mask every PAN-shaped digit run and hide every seal-shaped digest."""
    text = _PAN_IN_TEXT.sub(lambda m: mask_pan(re.sub(r"[ -]", "", m.group(0))), text)
    return _HEX_DIGEST.sub("[seal]", text)


class RedactingFilter(logging.Filter):
    """Masks PANs and hides seals in a record's message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = redact_text(text)
        if cleaned != text:
            record.msg, record.args = cleaned, None
        return True


_FILTER: Final = RedactingFilter()
_installed = False
_lock = threading.Lock()


def install_log_redaction() -> None:
    """Put the filter on every logger in ``LOGGERS`` (once per process).

    A logger's filters only see records logged on that very logger, so each
    one that may carry a body gets its own.
    """
    global _installed
    with _lock:
        if _installed:
            return
        for name in LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)
        _installed = True
