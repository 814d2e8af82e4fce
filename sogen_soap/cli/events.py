"""What the command says on standard error: one line of text, or one JSON object.

``--log-format json`` (or ``SOGEN_LOG_FORMAT=json``) makes every message the
command writes on stderr, and every warning the library logs (a key about to
expire, a hook that raised), one JSON object per line: ``time``, ``level``,
``event``, ``message``, and the event's own fields.  No card data: messages go
through the same redaction as everything else the command prints.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Final

from ..redact import redact_text

__all__ = ["FORMATS", "configure", "say"]

FORMATS: Final = ("text", "json")
_state = {"format": "text"}


def _redacted(message: str, clear: tuple[str, ...]) -> str:
    """``redact_text``, but the ``clear`` values (a merchant id, the simulator's public
    demo key: configuration, never a card) kept as they are, though they are digits
    enough to be masked as a card number."""
    kept = {f"\x00{'k' * (n + 1)}\x00": value for n, value in enumerate(clear) if value}
    for token, value in kept.items():
        message = message.replace(value, token)
    message = redact_text(message)
    for token, value in kept.items():
        message = message.replace(token, value)
    return message


def _line(
    level: str,
    event: str,
    message: str,
    fields: dict[str, object],
    prefix: bool = True,
    clear: tuple[str, ...] = (),
) -> str:
    message = _redacted(message, clear)
    if _state["format"] == "json":
        return json.dumps(
            {
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "level": level,
                "event": event,
                "message": message.strip(),
                **{k: redact_text(v) if isinstance(v, str) else v for k, v in fields.items()},
            },
            ensure_ascii=False,
        )
    if not prefix:
        return message
    kind = "warning: " if level == "warning" else ""
    lead = "\n" if message.startswith("\n") else ""
    return f"{lead}sogen-soap: {kind}{message.lstrip(chr(10))}"


def say(
    message: str,
    *,
    event: str = "error",
    level: str = "error",
    prefix: bool = True,
    clear: tuple[str, ...] = (),
    **fields: object,
) -> None:
    """One message on stderr, in the chosen format (as text: after ``sogen-soap:``
    unless ``prefix`` is false), card numbers masked except the ``clear`` values."""
    print(_line(level, event, message, fields, prefix, clear), file=sys.stderr, flush=True)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad log call must not end the command
            text = str(record.msg)
        level = record.levelname.lower()
        print(_line(level, record.name, text, {}), file=sys.stderr, flush=True)


_HANDLER: Final = _Handler()


def configure(log_format: str | None) -> None:
    """Choose the format, and route the library's warnings through it."""
    if log_format not in (None, *FORMATS):
        raise ValueError(f"--log-format: text or json, not {log_format!r}")
    _state["format"] = log_format or "text"
    library = logging.getLogger("sogen_soap")
    if _HANDLER not in library.handlers:
        library.addHandler(_HANDLER)
    _HANDLER.setLevel(logging.WARNING)
