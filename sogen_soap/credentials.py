"""The merchant's secret key, kept out of reprs, logs and tracebacks.

The key is read from the environment or a file, never from a command line,
where ``ps`` would show it to every user of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigurationError

__all__ = ["SecretKey", "secret_key_from_env", "secret_key_from_file"]


def secret_key_from_file(path: str | os.PathLike[str], source: str = "the key file") -> SecretKey:
    """The first line of a key file, as people save them: UTF-8 with or without a
    byte-order mark, CRLF or LF, surrounding white space removed.  The path is
    never echoed (it may be a key typed where a path was expected)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first = handle.readline().strip()
    except (OSError, ValueError):
        raise ConfigurationError(
            f"{source}: the file given cannot be read (not shown here, in case a key was "
            "typed instead of a path); give the path of a file whose first line is the "
            "secret key"
        ) from None
    if not first:
        raise ConfigurationError(f"{source}: the file is empty")
    return SecretKey(first)


class SecretKey:
    """A secret that shows as ``'***'`` anywhere it could be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigurationError("secret_key must be a non-empty string")
        if value != value.strip() or "\ufeff" in value:
            # every seal would be wrong (34) with no other hint: say it now
            raise ConfigurationError(
                "secret_key starts or ends with white space, a line end or a byte-order mark "
                "(a key file read with open().read() keeps its line end; one saved by Notepad "
                "starts with a BOM); strip it, or read it with secret_key_from_file()"
            )
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
    if env.get("SOGEN_SECRET_KEY") and env.get("SOGEN_SECRET_KEY_FILE"):
        raise ConfigurationError(
            "both SOGEN_SECRET_KEY and SOGEN_SECRET_KEY_FILE are set; keep one"
        )
    if env.get("SOGEN_SECRET_KEY"):
        return SecretKey(env["SOGEN_SECRET_KEY"])
    path = env.get("SOGEN_SECRET_KEY_FILE")
    if path:
        return secret_key_from_file(path, "SOGEN_SECRET_KEY_FILE")
    raise ConfigurationError("set SOGEN_SECRET_KEY or SOGEN_SECRET_KEY_FILE")
