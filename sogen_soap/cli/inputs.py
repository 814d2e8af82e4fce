"""Reading and checking a batch file: refused whole, up front, or read row by row.

A mistake in the file itself (not UTF-8, a workbook, no header, a missing
column, an unknown one, rows of the wrong length, a field over the size
limit, JSON nested too deep) refuses the whole file before any client exists:
exit 2, nothing sent, one message naming the file, the line and the fix.  A
mistake in a row's values (a bad expiry, a short card number) makes that row
``invalid``, reported by line number, and the other rows go on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Final

from ..errors import InvalidFieldError
from ..redact import mask_pan, redact_text
from ..validation import check_card_number, check_field

__all__ = [
    "COLUMNS",
    "ENROL_COLUMNS",
    "BadRow",
    "Columns",
    "InputError",
    "Row",
    "Source",
    "StandardInput",
    "check_file",
    "read_rows",
    "records",
    "results_suffix",
]


@dataclass(frozen=True)
class Columns:
    """The columns a batch file has: each one's accepted names (CSV header or JSON
    key; the vendor's field names work too), which are required, and the help line
    every refusal ends with."""

    names: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    help: str
    example: str

    @property
    def by_name(self) -> dict[str, str]:
        return {name: column for column, names in self.names.items() for name in names}


# Accepted column names (CSV header or JSON key) for each input of ``enrol``.
COLUMNS: Final = {
    "wallet": ("wallet", "merchantWalletId", "merchant_wallet_id"),
    "card": ("card", "cardNumber", "card_number"),
    "expiry": ("expiry", "cardExpiryDate", "card_expiry_date"),
    "alias": ("alias", "paymentMeanAlias", "payment_mean_alias"),
    "brand": ("brand", "paymentMeanBrand", "payment_mean_brand"),
    "pan_type": ("pan_type", "panType"),
}
REQUIRED: Final = ("wallet", "card", "expiry")
ENROL_COLUMNS: Final = Columns(
    COLUMNS,
    REQUIRED,
    "columns: wallet, card, expiry (required; an empty expiry cell is allowed), "
    "and optional alias, brand, pan_type",
    '(e.g. "alias": "home", "expiry": "203012")',
)
_JSON_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")
_FIELD_LIMIT: Final = 128 * 1024
_MAX_REPORTED: Final = 5


class InputError(ValueError):
    """The file as a whole cannot be used; nothing was sent."""


@dataclass(frozen=True)
class Row:
    """One valid input row, ready to send; the card never shows in a repr."""

    line: int
    wallet: str
    card: str = field(repr=False)
    expiry: str
    alias: str | None = None
    brand: str | None = None
    pan_type: str | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.card)


@dataclass(frozen=True)
class BadRow:
    line: int
    wallet: str | None
    masked_pan: str | None
    message: str
    raw: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class FileFormat:
    json_lines: bool
    delimiter: str = ","


class StandardInput:
    """``enrol -``: standard input, read once into memory and then read like a file
    (the file is checked whole before anything is sent, so it is read twice).  It is
    never written anywhere: it holds card numbers.  CSV or JSON Lines is told by its
    first character (``{``: JSON Lines)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        first = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        self.suffix = ".jsonl" if first == b"{" else ".csv"
        self.name = "standard input"

    def __str__(self) -> str:
        return "standard input"

    def is_dir(self) -> bool:
        return False

    def exists(self) -> bool:
        return True

    def open(self, mode: str = "r", **text: Any) -> IO[Any]:
        raw = io.BytesIO(self._data)
        return raw if "b" in mode else io.TextIOWrapper(raw, **text)


Source = Path | StandardInput


def _is_json_lines(path: Source) -> bool:
    return path.suffix.lower() in _JSON_SUFFIXES


def results_suffix(source: Source) -> str:
    """The results file's kind follows the input's, as it is read: ``.jsonl`` for
    JSON Lines (``.jsonl``, ``.ndjson``, ``.json``, or standard input starting
    with ``{``), else ``.csv``."""
    return ".jsonl" if _is_json_lines(source) else ".csv"


def _check_bytes(path: Source) -> None:
    """A folder, a workbook, or bytes that are not UTF-8: say which, and the fix."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the CSV or JSON Lines file itself")
    if not path.exists():
        raise InputError(f"no such file: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
                raise InputError(
                    f"{path} is a spreadsheet workbook, not text; in your spreadsheet, "
                    "save it as 'CSV UTF-8 (comma delimited)' and give that file"
                )
            handle.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")()  # a BOM is UTF-8 too
            offset = 0  # bytes read so far
            try:
                while chunk := handle.read(1 << 16):
                    offset += len(chunk)
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)  # a character cut off at the end
            except UnicodeDecodeError as exc:
                # exc.object is what the decoder held: the bytes it kept back, then the chunk
                at = offset - len(exc.object) + exc.start
                raise InputError(
                    f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                    f"{at}); save it as UTF-8 CSV (e.g. 'CSV UTF-8' in a spreadsheet)"
                ) from None
    except OSError as exc:
        if exc.strerror is None:  # a pipe or a terminal: read once, it cannot be read again
            raise InputError(
                f"cannot read {path}: it is not a file that can be read twice (a pipe?); the "
                "file is checked whole before anything is sent, so save it to a file and give that"
            ) from None
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(names: list[str], path: Source, where: str, columns: Columns) -> None:
    help_line = columns.help
    by_name = columns.by_name
    known = [by_name.get(name.strip()) for name in names]
    if not any(known):
        shown = redact_text(", ".join(n.strip() for n in names[:6]))  # data: mask cards
        raise InputError(
            f"{path}: {where} names none of the columns (it reads: {shown}). "
            f"The first line must be a header row: {help_line}"
        )
    missing = [c for c in columns.required if c not in known]
    if missing:
        raise InputError(
            f"{path}: {where} lacks column {', '.join(missing)} (found: "
            f"{redact_text(', '.join(n.strip() for n in names))}); {help_line}"
        )
    unknown = [n.strip() for n, k in zip(names, known, strict=True) if k is None]
    if unknown and not any(unknown):
        raise InputError(
            f"{path}: {where} ends in {len(unknown)} column(s) with no name (a spreadsheet's "
            "empty columns after the data); delete those columns in the spreadsheet, or "
            "remove the trailing delimiters from the file"
        )
    if unknown:
        raise InputError(
            f"{path}: {where} has column {redact_text(', '.join(unknown))}, which sogen-soap "
            f"does not use; remove it so nothing is ignored silently ({help_line})"
        )
    doubled = sorted({k for k in known if k and known.count(k) > 1})
    if doubled:
        raise InputError(f"{path}: {where} names column {', '.join(doubled)} twice")


def check_file(path: Source, columns: Columns = ENROL_COLUMNS) -> FileFormat:
    """Refuse the file as a whole if it cannot be read as asked; its format if it can."""
    _check_bytes(path)
    if _is_json_lines(path):
        _check_json_lines(path, columns)
        return FileFormat(json_lines=True)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
    if not header.strip():
        raise InputError(f"{path} is empty; expected a header row and rows ({columns.help})")
    delimiter = _delimiter(header)
    _check_csv(path, delimiter, columns)
    return FileFormat(json_lines=False, delimiter=delimiter)


def _reader(handle: Iterator[str], delimiter: str) -> Any:  # csv's reader type is private
    csv.field_size_limit(_FIELD_LIMIT)
    return csv.reader(handle, delimiter=delimiter)


def _open_quote(path: Source) -> int | None:
    """The line where a quote opens and is never closed, or None.  (A quoted field may
    hold line breaks: a quote only counts as left open when the file ends inside it.)"""
    opened: int | None = None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if line.count('"') % 2:
                opened = number if opened is None else None
    return opened


def _check_csv(path: Source, delimiter: str, columns: Columns) -> None:
    opened = _open_quote(path)
    if opened is not None:  # else the reader blames whatever line the file ends on
        raise InputError(
            f'{path}: line {opened}: a quote (") opens there and is never closed; close it '
            "or remove it"
        )
    wrong: list[str] = []
    rows = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = _reader(handle, delimiter)
        try:
            header = next(reader)
            _columns(header, path, "the header row", columns)
            for record in reader:
                if not record or record == [""]:
                    continue
                rows += 1
                if len(record) != len(header) and len(wrong) < _MAX_REPORTED:
                    wrong.append(f"line {reader.line_num} has {len(record)}")
        except csv.Error as exc:
            raise InputError(
                f"{path}: line {reader.line_num}: {exc} (a field may hold at most "
                f"{_FIELD_LIMIT // 1024} KB; is a quote left open?)"
            ) from None
    if wrong:
        raise InputError(
            f"{path}: every row must have {len(header)} fields like the header; "
            f"{'; '.join(wrong)}. Nothing was sent"
        )
    if not rows:
        raise InputError(f"{path} has a header row but no rows")


def _pairs_once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose keys are each given once (the last would win silently)."""
    record: dict[str, object] = {}
    for key, value in pairs:
        if key in record:
            raise _TwiceError(key)
        record[key] = value
    return record


class _TwiceError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _json_record(text: str, path: Source, number: int) -> Mapping[str, object]:
    if text.lstrip().startswith("["):
        raise InputError(
            f"{path}: line {number}: a JSON array; give one JSON object per line (JSON Lines), "
            "not one array of them"
        )
    try:
        record = json.loads(text, object_pairs_hook=_pairs_once)
    except _TwiceError as twice:
        raise InputError(
            f"{path}: line {number}: the key {twice.key!r} is given twice; keep one"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: line {number}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {number}: not JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: line {number}: each line must be one JSON object")
    for key, value in record.items():
        for text in (key, value):
            if isinstance(text, str) and not _encodable(text):
                raise InputError(
                    f"{path}: line {number}: {key!r} holds a lone surrogate (a \\ud800-style "
                    "escape without its pair), which is not text; fix the line"
                )
    return record


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_json_lines(path: Source, columns: Columns) -> None:
    rows = 0
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            rows += 1
            record = _json_record(text, path, number)
            _columns(list(record), path, f"line {number}", columns)
            not_text = [k for k, v in record.items() if v is not None and not isinstance(v, str)]
            if not_text:  # true would be sent as "True", 030012 read as 30012
                raise InputError(
                    f"{path}: line {number}: {', '.join(not_text)} must be text, in quotes "
                    f"{columns.example}"
                )
    if not rows:
        raise InputError(f"{path} is empty; expected one JSON object per line ({columns.help})")


def records(
    path: Source, form: FileFormat, columns: Columns = ENROL_COLUMNS
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row of a checked file as (line, {column: text}), by the columns' own names."""
    by_name = columns.by_name
    if form.json_lines:
        with path.open(encoding="utf-8-sig") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    record = _json_record(text, path, number)
                    yield (
                        number,
                        {by_name[k]: ("" if v is None else str(v)) for k, v in record.items()},
                    )
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = _reader(handle, form.delimiter)
        header = [by_name[name.strip()] for name in next(reader)]
        for cells in reader:
            if cells and cells != [""]:
                yield reader.line_num, dict(zip(header, cells, strict=True))


EXPIRY_YEARS_AHEAD: Final = 20
"""Cards are issued for a few years: an expiry further ahead is a typo (or 9999)."""


def check_expiry_window(expiry: str, parameter: str, today: date | None = None) -> None:
    """Refuse an expiry in the past or more than ``EXPIRY_YEARS_AHEAD`` years ahead (the
    field rule has checked it is ``YYYYMM`` or empty; empty is a card without one)."""
    if not expiry:
        return
    now = today or date.today()
    month = int(expiry[:4]) * 12 + int(expiry[4:]) - 1
    current = now.year * 12 + now.month - 1
    if month < current:
        raise InvalidFieldError(
            "cardExpiryDate", parameter,
            f"{expiry} is in the past: an expired card cannot be enrolled (--any-expiry to "
            "send it all the same)",
        )  # fmt: skip
    if month > current + 12 * EXPIRY_YEARS_AHEAD:
        raise InvalidFieldError(
            "cardExpiryDate", parameter,
            f"{expiry} is more than {EXPIRY_YEARS_AHEAD} years ahead, which no card is "
            "(--any-expiry to send it all the same)",
        )  # fmt: skip


def read_rows(
    path: Source, form: FileFormat, *, any_expiry: bool = False
) -> Iterator[Row | BadRow]:
    """Every input row, validated; the reason for each bad one, without its card number.

    Messages name the column (``expiry``), as the file does.
    """
    for line, record in records(path, form):
        wallet = record["wallet"].strip()  # required columns: checked for the whole file
        card = record["card"].strip()
        masked = mask_pan(card) if card else None
        empty = "wallet" if not wallet else "card" if not card else None
        try:
            if empty is not None:
                raise InvalidFieldError(empty, empty, "missing")
            pan_type = record.get("pan_type", "").strip() or None
            alias = record.get("alias", "").strip() or None
            brand = record.get("brand", "").strip() or None
            expiry = check_field("cardExpiryDate", record.get("expiry", "").strip(), "expiry")
            if not any_expiry:
                check_expiry_window(expiry, "expiry")
            yield Row(
                line=line,
                wallet=check_field("merchantWalletId", wallet, "wallet"),
                pan_type=None if pan_type is None else check_field("panType", pan_type, "pan_type"),
                card=check_card_number(card, pan_type, "card"),
                expiry=expiry,
                alias=None if alias is None else check_field("paymentMeanAlias", alias, "alias"),
                brand=None if brand is None else check_field("paymentMeanBrand", brand, "brand"),
            )
        except InvalidFieldError as exc:
            message = f"{exc.parameter}: {exc.rule}"
            shown = redact_text(wallet) or None  # a card number in the wallet column: masked
            yield BadRow(line, shown, masked, message, raw=(wallet, card))
