"""Mechanical bugs at every line of the package that no entry of ``realistic.py`` touches.

Hand-written bugs had come to find mostly what the list already held, so the lines
no entry touches are broken here the few ways a developer's slip takes, one bug per
line: a guard never taken (``if False:``), a call dropped (``pass``), a keyword
argument left to its default, a parameter's default or a module-level number
changed.  The bugs are made from the code as it stands (``generate``), not stored,
so a later session makes the same ones again from the same code; ``bugs/run.py
--mechanical`` meets them in a seeded order, and a bug worth keeping is written into
``realistic.py`` under a name that says what it breaks (after which its line is
touched, and it is made here no more).
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator
from pathlib import Path

from realistic import BUGS, Bug

_GUARD = re.compile(r"^(\s*)(if|elif) (.+):(\s*#.*)?$")


def touched(root: Path) -> dict[str, set[int]]:
    """The lines each list entry's ``old`` text spans, by file (stale entries touch nothing)."""
    found: dict[str, set[int]] = {}
    texts: dict[str, str] = {}
    for entry in BUGS:
        if entry.file not in texts:
            path = root / entry.file
            texts[entry.file] = path.read_text(encoding="utf-8") if path.exists() else ""
        text = texts[entry.file]
        if text.count(entry.old) != 1:
            continue
        start = text.count("\n", 0, text.index(entry.old)) + 1
        span = entry.old.count("\n") + (0 if entry.old.endswith("\n") else 1)
        found.setdefault(entry.file, set()).update(range(start, start + span))
    return found


def _unique(lines: list[str], first: int, last: int, text: str) -> tuple[str, int] | None:
    """Lines ``first..last`` (1-based), widened upwards until they occur once in ``text``;
    the text and how many lines were added above."""
    for above in range(0, 6):
        start = first - above
        if start < 1:
            return None
        old = "".join(lines[start - 1 : last])
        if text.count(old) == 1:
            return old, above
    return None


def _changed_number(value: object) -> object | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value * 2 if value else 1


def _number_changed(lines: list[str], value: ast.expr | None) -> tuple[str, str, str] | None:
    """For a one-line number constant: its line with the number changed, the line as it
    was, and the change (``2 to 4``); None for anything else."""
    if not isinstance(value, ast.Constant) or value.lineno != value.end_lineno:
        return None
    changed = _changed_number(value.value)
    if changed is None:
        return None
    row = lines[value.lineno - 1].rstrip("\n").encode("utf-8")
    start, end = value.col_offset, value.end_col_offset or 0
    new = (row[:start] + repr(changed).encode() + row[end:]).decode() + "\n"
    return new, row.decode(), f"{value.value!r} to {changed!r}"


def _candidates(text: str) -> Iterator[tuple[int, int, str, str, str]]:
    """(first line, last line, kind, old lines' replacement text, what) for each bug the
    file offers; the replacement covers exactly lines first..last."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            line = lines[node.lineno - 1]
            match = _GUARD.match(line.rstrip("\n"))
            if match and node.test.lineno == node.test.end_lineno == node.lineno:
                new = f"{match.group(1)}{match.group(2)} False:\n"
                yield node.lineno, node.lineno, "a guard never taken", new, line.strip()
        elif isinstance(node, ast.Expr):
            call = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(call, ast.Call):
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
                last = node.end_lineno or node.lineno
                if (
                    lines[last - 1].rstrip("\n").endswith(("\\", ";"))
                    or ";" in lines[node.lineno - 1]
                ):
                    continue
                segment = ast.get_source_segment(text, node) or ""
                yield node.lineno, last, "a call dropped", f"{indent}pass\n", segment.split("\n")[0]
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg is None or keyword.lineno != keyword.end_lineno:
                    continue
                if not isinstance(keyword.value, (ast.Constant, ast.Attribute)):
                    continue  # a setting, not a required value (which fails at once)
                row = lines[keyword.lineno - 1]
                body = row.rstrip("\n")
                start, end = keyword.col_offset, keyword.end_col_offset or 0
                # col offsets are UTF-8 byte offsets
                raw = body.encode("utf-8")
                head, tail = raw[:start].decode(), raw[end:].decode()
                if re.fullmatch(r"\s*", head) and re.fullmatch(r",?\s*(#.*)?", tail):
                    new = ""  # the keyword alone on its line: the line goes
                elif re.search(r",\s*$", head):
                    new = re.sub(r",\s*$", "", head) + tail + "\n"
                elif tail.startswith(", "):
                    new = head + tail[2:] + "\n"
                elif tail.startswith(","):
                    new = head + tail[1:].lstrip() + "\n"
                else:
                    continue
                what = f"{raw[start:end].decode()} in {ast.get_source_segment(text, node) or ''}"
                yield keyword.lineno, keyword.lineno, "a keyword left to its default", new, what
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
            for default in defaults:
                found = _number_changed(lines, default)
                if found is not None:
                    new, row, change = found
                    what = f"{row.strip()} ({change})"
                    yield default.lineno, default.lineno, "a default changed", new, what
    for statement in tree.body:
        value = statement.value if isinstance(statement, (ast.Assign, ast.AnnAssign)) else None
        found = _number_changed(lines, value)
        if value is not None and found is not None:
            new, row, _ = found
            yield value.lineno, value.lineno, "a module number changed", new, row.strip()


def generate(root: Path, seed: int = 64) -> list[Bug]:
    """One bug at each line no entry touches (where a line offers several, one drawn
    by ``seed``), in an order shuffled by ``seed``."""
    chance = random.Random(seed)  # noqa: S311 - a reproducible order, not a secret
    skip = touched(root)
    made: list[Bug] = []
    for path in sorted((root / "sogen_soap").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        by_line: dict[int, list[tuple[int, int, str, str, str]]] = {}
        for found in _candidates(text):
            if not skip.get(rel, set()) & set(range(found[0], found[1] + 1)):
                by_line.setdefault(found[0], []).append(found)
        for first in sorted(by_line):
            start, last, kind, new, what = chance.choice(by_line[first])
            widened = _unique(lines, start, last, text)
            if widened is None:
                continue
            old, above = widened
            new_text = "".join(lines[start - 1 - above : start - 1]) + new
            short = " ".join(what.split())[:70]
            name = f"{kind}: {short} ({rel.removeprefix('sogen_soap/')})"
            made.append(Bug(name, rel, old, new_text, ()))
    seen: dict[str, int] = {}
    for n, made_bug in enumerate(made):  # the same text twice in a file: named by its order
        seen[made_bug.name] = seen.get(made_bug.name, 0) + 1
        if seen[made_bug.name] > 1:
            made[n] = Bug(f"{made_bug.name} [{seen[made_bug.name]}]", made_bug.file,
                          made_bug.old, made_bug.new, ())  # fmt: skip
    chance.shuffle(made)
    return made


if __name__ == "__main__":
    import sys
    from collections import Counter

    bugs = generate(Path(__file__).resolve().parent.parent)
    print(len(bugs), "bugs;", dict(Counter(b.name.split(":")[0] for b in bugs)), file=sys.stderr)
    for b in bugs[: int(sys.argv[1]) if len(sys.argv) > 1 else 5]:
        print(b.name)
