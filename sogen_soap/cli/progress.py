"""A one-line progress display for batches, drawn only on a terminal."""

from __future__ import annotations

import shutil
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
        self.skipped = 0  # done in an earlier run: counted, but not in the rate

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def skip(self, outcome: str) -> None:
        """A row an earlier run finished."""
        with self._lock:
            self.skipped += 1
            self.counts[outcome] += 1

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
        rate = (done - self.skipped) / elapsed  # rows handled in this run only
        eta = (self.total - done) / rate if rate > 0 else 0.0
        failed = self.counts["failed"] + self.counts["unknown"] + self.counts["refused"]
        tail = (
            f" {done}/{self.total}  ok {self.counts['ok']}  dup {self.counts['duplicate']}  "
            f"invalid {self.counts['invalid']}  failed {failed}  {rate:.0f}/s  ETA {eta:.0f}s"
        )
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max(0, min(24, columns - len(tail) - 3))
        filled = int(width * done / self.total) if self.total else width
        line = (f"[{'=' * filled}{' ' * (width - filled)}]" if width >= 5 else "") + tail
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            with self._lock:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
