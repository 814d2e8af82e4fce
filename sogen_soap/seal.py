"""The Office Server seal: the one place that knows how a message is signed.

Pure functions, no I/O, so the client and the simulator share exactly the same
rule and the rule can be checked against published vectors in isolation.

The rule (vendor's Office Server documentation, confirmed by every public SDK):
every field except ``keyVersion``, ``sealAlgorithm`` and ``seal``, sorted by
name, values only, concatenated without separators; containers are expanded in
place (their own fields sorted by name), lists item by item in order; absent
fields contribute nothing.  The digest is lowercase hex.

Lists of plain values: a request sends them as given.  An answer's seal is
accepted when it matches the values as received, or those lists sorted, as
Worldline's Java SDK seals them (its ``SealStringStyle`` sorts arrays before
concatenating; lists of containers it cannot sort, so they keep their order).
``verified_order`` says which matched.

Sort order: names are compared ignoring case, as Worldline's Java SDK does
(ties, which no real message has, fall back to the exact spelling).  For
every field name known today the case-insensitive and the case-sensitive
orders are the same (a test checks all of them), so the choice matters only
for a future field such as ``aB`` beside ``Ab``; following the vendor's own
SDK is the better bet there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from typing import Final

__all__ = [
    "DEFAULT_ALGORITHM",
    "EXCLUDED_FIELDS",
    "SEAL_ALGORITHMS",
    "compute_seal",
    "seal_string",
    "sort_key",
    "verified_order",
    "verify_seal",
]

DEFAULT_ALGORITHM: Final = "HMAC-SHA-256"
SEAL_ALGORITHMS: Final = frozenset({"HMAC-SHA-256", "HMAC-SHA-512", "SHA-256"})
EXCLUDED_FIELDS: Final = frozenset({"keyVersion", "sealAlgorithm", "seal"})


def seal_string(fields: Mapping[str, object], *, sorted_lists: bool = False) -> str:
    """The text the seal is computed over, for a message's top-level fields;
    ``sorted_lists``: lists of plain values sorted (the Java SDK's way)."""
    parts: list[str] = []
    for name in sorted(fields, key=sort_key):
        if name in EXCLUDED_FIELDS:
            continue
        value = fields[name]
        if type(value) is str:  # the common case, on every call: no recursion
            parts.append(value)
        else:
            parts.extend(_values(value, sorted_lists))
    return "".join(parts)


def sort_key(name: str) -> tuple[str, str]:
    """The seal's field order: ignoring case, then exact (see the module's docstring)."""
    return (name.lower(), name)


def _values(value: object, sorted_lists: bool = False) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for name in sorted(value, key=sort_key):
            yield from _values(value[name], sorted_lists)
    elif isinstance(value, (list, tuple)):
        plain = all(not isinstance(item, (Mapping, list, tuple)) for item in value)
        if sorted_lists and plain:
            yield from sorted("".join(_values(item)) for item in value)
            return
        for item in value:
            yield from _values(item, sorted_lists)
    elif isinstance(value, bool):
        # Java's Boolean.toString, which the vendor's services use.
        yield "true" if value else "false"
    else:
        yield str(value)


def compute_seal(
    fields: Mapping[str, object],
    secret_key: str,
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    sorted_lists: bool = False,
) -> str:
    """Seal ``fields`` with ``secret_key`` (used as UTF-8 text, not decoded)."""
    data = seal_string(fields, sorted_lists=sorted_lists).encode("utf-8")
    key = secret_key.encode("utf-8")
    if algorithm == "HMAC-SHA-256":
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    if algorithm == "HMAC-SHA-512":
        return hmac.new(key, data, hashlib.sha512).hexdigest()
    if algorithm == "SHA-256":
        return hashlib.sha256(data + key).hexdigest()
    raise ValueError(
        f"unknown seal algorithm {algorithm!r}; expected one of {sorted(SEAL_ALGORITHMS)}"
    )


def verify_seal(
    fields: Mapping[str, object],
    seal: str,
    secret_key: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> bool:
    """True when ``seal`` is the seal of ``fields``; constant-time.

    Hex case is ignored (the vendor sends lowercase, but case carries no
    information in a hex digest).
    """
    return verified_order(fields, seal, secret_key, algorithm) == "received"


def verified_order(
    fields: Mapping[str, object],
    seal: str,
    secret_key: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str | None:
    """Which order ``seal`` was computed in: ``"received"`` (lists as they came),
    ``"sorted"`` (lists of plain values sorted, as Worldline's Java SDK seals),
    or None when neither matches.  Constant-time comparisons."""
    received = seal.strip().lower().encode("utf-8", "replace")
    expected = compute_seal(fields, secret_key, algorithm).encode("ascii")
    if hmac.compare_digest(expected, received):
        return "received"
    if _has_list(fields):
        ordered = compute_seal(fields, secret_key, algorithm, sorted_lists=True)
        if hmac.compare_digest(ordered.encode("ascii"), received):
            return "sorted"
    return None


def _has_list(value: object) -> bool:
    if isinstance(value, Mapping):
        return any(_has_list(v) for v in value.values())
    return isinstance(value, (list, tuple))
