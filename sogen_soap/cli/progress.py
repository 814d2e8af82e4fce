"""A one-line progress display for batches, drawn only on a terminal."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts outcomes; on a TTY, redraws ``done/total, rate, ETA, counts`` at most 10x/s."""

    def __init__(
        self, total: int, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._drawn = 0.0

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def add(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1
            now = time.monotonic()
            if self.enabled and now - self._drawn >= 0.1:
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        done = self.done
        elapsed = max(now - self._started, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate else 0.0
        width = 24
        filled = int(width * done / self.total) if self.total else width
        bar = "=" * filled + " " * (width - filled)
        failed = self.counts["failed"] + self.counts["unknown"] + self.counts["refused"]
        self.stream.write(
            f"\r[{bar}] {done}/{self.total}  ok {self.counts['ok']}  "
            f"duplicate {self.counts['duplicate']}  failed {failed}  "
            f"{rate:.0f}/s  ETA {eta:.0f}s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            with self._lock:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
