"""Masking of card numbers and seals for anything a person or a log may see."""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

__all__ = [
    "LOGGERS",
    "RedactingFilter",
    "card_number_runs",
    "install_log_redaction",
    "mask_pan",
    "printable",
    "redact_text",
]

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

# The one rule for cardholder data in text: 12 to 19 digits, each pair of them
# separated by at most one space, dot, dash, underscore or slash (the ways people
# group a card number), not inside a longer run of digits.  Every message,
# journal, results file, log line and exception the package writes passes it.
_SEPARATOR: Final = r"[ ._/-]"
_PAN_IN_TEXT: Final = re.compile(rf"(?<![0-9])(?:[0-9]{_SEPARATOR}?){{11,18}}[0-9](?![0-9])")
_DIGIT_RUN: Final = re.compile(rf"[0-9](?:{_SEPARATOR}?[0-9])+")
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


_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from the other side, safe for a terminal: control characters (escape
    sequences among them) become ``?``; line breaks and tabs stay."""
    return _CONTROL.sub("?", text)


def _digits(text: str) -> str:
    return re.sub(_SEPARATOR, "", text)


def card_number_runs(text: str) -> list[str]:
    """The digit runs of ``text`` (separators as the masking rule allows them
    removed), for checks that look for a card number in a field."""
    return [_digits(match.group(0)) for match in _DIGIT_RUN.finditer(text)]


def redact_text(text: str) -> str:
    """Mask every run that could be a card number and hide every seal-shaped digest."""
    text = _PAN_IN_TEXT.sub(lambda m: mask_pan(_digits(m.group(0))), text)
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
