"""Misbehaviour on demand, so tests can see how a client copes with it.

A profile maps a fault kind to the share of requests that get it; draws come
from one seeded generator, so a run is repeatable.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["FAULT_KINDS", "FaultProfile"]

FAULT_KINDS: Final = {
    "drop": "the connection closed before any processing, nothing stored",
    "commit_drop": "the card stored, then the connection closed without an answer",
    "delay": "the card stored, the answer held back longer than the client waits",
    "xxe": "an answer declaring an external entity (file:///etc/passwd)",
    "billion_laughs": "an answer declaring nested entities (entity expansion bomb)",
    "soap_fault": "HTTP 500 with a soap:Server fault, nothing stored",
    "http_503": "HTTP 503 with an HTML page, nothing stored",
    "garbage": "HTTP 200 with a body that is not XML, nothing stored",
    "wrong_seal": "the real answer (stored), with its seal altered",
    "no_seal": "the real answer (stored), with no seal",
    "tampered": "the real answer (stored), its last data field changed after sealing",
    "code_77": "walletResponseCode 77, a code no client knows, nothing stored",
    "code_99": "walletResponseCode 99, nothing stored",
    "doctype": "a response declaring a DTD with an entity, nothing stored",
}


class FaultProfile:
    """Which faults to inject, and how often (rates add up to at most 1)."""

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        seed: int = 0,
        delay: float = 2.0,
        sequence: Sequence[str | None] = (),
    ) -> None:
        """``sequence`` scripts the first requests exactly (None: no fault), then rates apply."""
        self.rates = dict(rates or {})
        self._sequence = list(sequence)
        self.delay = delay  # seconds the "delay" fault holds an answer back
        named = set(self.rates) | {kind for kind in self._sequence if kind is not None}
        unknown = sorted(named - set(FAULT_KINDS))
        if unknown:
            raise ValueError(
                f"unknown fault kind {', '.join(unknown)}; known: {sorted(FAULT_KINDS)}"
            )
        if any(not 0 <= r <= 1 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._next: dict[str, list[str]] = {}
        self.injected: Counter[str] = Counter()

    def fail_next(self, operation: str, kind: str, times: int = 1) -> None:
        """The next ``times`` requests of ``operation`` get ``kind``, before any other rule."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._next.setdefault(operation, []).extend([kind] * times)

    def clear(self) -> None:
        """Drop every scripted fault (rates stay)."""
        with self._lock:
            self._next.clear()
            self._sequence.clear()

    @classmethod
    def parse(cls, specs: list[str], seed: int = 0, delay: float = 2.0) -> FaultProfile:
        """From ``KIND=RATE`` strings, as the command line takes them."""
        rates: dict[str, float] = {}
        for spec in specs:
            kind, _, rate = spec.partition("=")
            try:
                rates[kind] = float(rate)
            except ValueError:
                raise ValueError(f"fault {spec!r}: expected KIND=RATE") from None
        return cls(rates, seed=seed, delay=delay)

    def draw(self, operation: str | None = None) -> str | None:
        """The fault for the next request (of ``operation``), or None."""
        with self._lock:
            queued = self._next.get(operation or "")
            if queued:
                scripted = queued.pop(0)
                self.injected[scripted] += 1
                return scripted
            if self._sequence:
                kind = self._sequence.pop(0)
                if kind is not None:
                    self.injected[kind] += 1
                return kind
            point = self._random.random()
            for kind, rate in self.rates.items():
                if point < rate:
                    self.injected[kind] += 1
                    return kind
                point -= rate
        return None
