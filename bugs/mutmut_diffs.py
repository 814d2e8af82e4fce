"""Every mutant of one mutated module, as the lines it changes, without running it.

    python bugs/mutmut_diffs.py mutants/sogen_soap/simulator/server.py [NAME_PART]

``mutmut show`` starts the whole tool for one mutant (about a second each); reading
the hundreds a module has, to pick those worth applying by hand before mutmut has
checked them, needs them all at once.  mutmut keeps each mutant as a copy of its
function named ``<function>__mutmut_<n>`` beside ``<function>__mutmut_orig``: this
prints, for each, its name and the lines that differ from the original.
"""

from __future__ import annotations

import ast
import difflib
import sys
from pathlib import Path


def mutants(source: str) -> dict[str, list[str]]:
    """Each mutated function's body lines, by its name (``__mutmut_orig`` included)."""
    lines = source.splitlines()
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            found[node.name] = lines[node.lineno : node.end_lineno]  # without the def line
    return found


def changes(functions: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """(name, the lines removed and added) for every numbered mutant."""
    out = []
    for name, body in functions.items():
        base, _, number = name.rpartition("__mutmut_")
        original = functions.get(f"{base}__mutmut_orig")
        if not number.isdigit() or original is None:
            continue
        diff = difflib.unified_diff(original, body, lineterm="", n=0)
        out.append((name, [d for d in diff if d[:1] in "+-" and d[:3] not in ("+++", "---")]))
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    wanted = argv[1] if len(argv) > 1 else ""
    for name, lines in changes(mutants(Path(argv[0]).read_text(encoding="utf-8"))):
        if wanted in name:
            print(f"=== {name}", *lines, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
