"""What the ``wallet_simulator`` fixture costs a test, after the first.

    python benchmarks/fixture_overhead.py

Runs two generated test files of 200 tests each in fresh pytest processes:
one whose tests take ``wallet_simulator``, one whose tests take nothing, and
prints the difference per test.  A measurement, not a test.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = 200


def _seconds(folder: Path, uses_fixture: bool) -> float:
    argument = "wallet_simulator" if uses_fixture else ""
    body = "".join(f"def test_{n}({argument}):\n    pass\n\n" for n in range(TESTS))
    # one warm-up test first, so the session's simulator start is not counted
    warm = "def test_0000_warm(wallet_simulator):\n    pass\n\n"
    (folder / "test_generated.py").write_text(warm + body)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # both files start the session's simulator once (the warm-up test): the
    # difference between them is what the fixture costs the other tests
    return float(re.findall(r"passed in ([0-9.]+)s", done.stdout)[-1])


def main() -> int:
    runs = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            runs.append((_seconds(Path(a), True), _seconds(Path(b), False)))
    with_fixture = min(r[0] for r in runs)
    without = min(r[1] for r in runs)
    per_test = (with_fixture - without) / TESTS * 1e3
    print(f"  wallet_simulator, per test after the first: {per_test:.2f} ms   target < 20 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
