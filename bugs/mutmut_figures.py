"""Per-module figures of a mutmut run, as ``tests/mutation-equivalents.md`` shows them.

    python bugs/mutmut_figures.py [MUTANTS_DIR_PARENT]

Reads ``mutmut results --all true`` in the given folder (where ``mutants/`` is; by
default this repository) and prints one Markdown row per module: mutants, killed,
survived, no tests, timeouts, not yet checked, and killed / (killed + survived).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

_LINE = re.compile(r"^\s*(sogen_soap(?:\.[a-z_0-9]+)*?)\.x[_ǁ].*?: (.+)$")


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    mutmut = shutil.which("mutmut") or str(folder / ".tox/mutation/bin/mutmut")
    done = subprocess.run([mutmut, "results", "--all", "true"], cwd=folder,
                          capture_output=True, text=True, check=True)  # fmt: skip
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            module = match.group(1).removeprefix("sogen_soap.") or "sogen_soap"
            by_module[module][match.group(2).strip()] += 1
    kinds = ("killed", "survived", "no tests", "timeout", "not checked")
    print("| module | mutants | " + " | ".join(kinds) + " | killed / (killed + survived) |")
    print("|---" * (len(kinds) + 3) + "|")
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        print(_row(module, counts, kinds))
    print(_row("**all**", total, kinds))
    return 0


def _row(name: str, counts: Counter[str], kinds: tuple[str, ...]) -> str:
    decided = counts["killed"] + counts["survived"]
    share = f"{counts['killed'] / decided:.1%}" if decided else "-"
    cells = " | ".join(str(counts[k]) for k in kinds)
    return f"| {name} | {sum(counts.values())} | {cells} | {share} |"


if __name__ == "__main__":
    raise SystemExit(main())
