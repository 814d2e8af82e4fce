"""The merchant's secret key, kept out of reprs, logs and tracebacks.

The key is read from the environment or a file, never from a command line,
where ``ps`` would show it to every user of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["SecretKey", "secret_key_from_env"]


class SecretKey:
    """A secret that shows as ``'***'`` anywhere it could be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigurationError("secret_key must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretKey('***')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a SecretKey cannot be pickled")


def secret_key_from_env(environ: Mapping[str, str] | None = None) -> SecretKey:
    """``SOGEN_SECRET_KEY``, or the first line of the file ``SOGEN_SECRET_KEY_FILE`` names."""
    env = os.environ if environ is None else environ
    if env.get("SOGEN_SECRET_KEY"):
        return SecretKey(env["SOGEN_SECRET_KEY"])
    path = env.get("SOGEN_SECRET_KEY_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read SOGEN_SECRET_KEY_FILE {path}: {exc.strerror}"
            ) from None
        lines = text.splitlines()
        return SecretKey(lines[0].strip() if lines else "")
    raise ConfigurationError("set SOGEN_SECRET_KEY or SOGEN_SECRET_KEY_FILE")
