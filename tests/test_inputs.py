"""Reading a batch file: the whole-file refusals word for word, and each row's
values as they will be sent (or why the row is invalid, without its card)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TEST_PAN

from sogen_soap.cli.inputs import BadRow, FileFormat, InputError, Row, check_file, read_rows

HELP = (
    "columns: wallet, card, expiry (required; an empty expiry cell is allowed), "
    "and optional alias, brand, pan_type"
)


def _refusal(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError) as caught:
        check_file(path)
    return str(caught.value).replace(str(path), name)


def test_bytes_that_are_not_utf8_are_located_exactly(tmp_path: Path) -> None:
    early = "wallet,card,expiry\nw1,4100,203012,caf\xe9\n".encode("latin-1")
    assert _refusal(tmp_path, "a.csv", early) == (
        "a.csv is not UTF-8 text (byte 0xe9 at offset 37); save it as UTF-8 CSV "
        "(e.g. 'CSV UTF-8' in a spreadsheet)"
    )
    late = b"wallet,card,expiry\n" + b"w," * 40_000 + b"\xff\n"  # in the second 64 KB read
    assert _refusal(tmp_path, "b.csv", late).startswith(
        f"b.csv is not UTF-8 text (byte 0xff at offset {len(late) - 2});"
    )
    cut = b"wallet,card,expiry\nw,c,\xc3"  # a character cut off at the end
    assert _refusal(tmp_path, "c.csv", cut).startswith(
        f"c.csv is not UTF-8 text (byte 0xc3 at offset {len(cut) - 1});"
    )
    # a character split across two reads is fine; a bad one just after the split is found
    split = b"wallet,card,expiry\n" + b"w" * (65536 - 20) + "é".encode() + b"\xff"
    assert split[65535:65537] == "é".encode()
    assert _refusal(tmp_path, "d.csv", split).startswith(
        f"d.csv is not UTF-8 text (byte 0xff at offset {len(split) - 1});"
    )


@pytest.mark.parametrize("magic", [b"PK\x03\x04", b"\xd0\xcf\x11\xe0"])
def test_a_workbook_says_how_to_save_it(magic: bytes, tmp_path: Path) -> None:
    assert _refusal(tmp_path, "w.csv", magic + b"\x00" * 100) == (
        "w.csv is a spreadsheet workbook, not text; in your spreadsheet, save it as "
        "'CSV UTF-8 (comma delimited)' and give that file"
    )


def test_a_folder_and_a_missing_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        check_file(tmp_path)
    assert str(caught.value) == f"{tmp_path} is a folder; give the CSV or JSON Lines file itself"
    with pytest.raises(InputError) as caught:
        check_file(tmp_path / "gone.csv")
    assert str(caught.value) == f"no such file: {tmp_path / 'gone.csv'}"


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_the_delimiter_is_the_one_the_header_uses(delimiter: str, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    d = delimiter
    path.write_text(f"wallet{d}card{d}expiry\nw1{d}{TEST_PAN}{d}203012\n")
    assert check_file(path) == FileFormat(json_lines=False, delimiter=delimiter)
    (row,) = read_rows(path, check_file(path))
    assert isinstance(row, Row) and row.card == TEST_PAN


def test_a_header_mixing_delimiters_is_read_by_the_commoner_one_and_refused(
    tmp_path: Path,
) -> None:
    assert _refusal(tmp_path, "m.csv", "wallet;card,expiry;alias\nw;c,e;a\n") == (
        f"m.csv: the header row lacks column card, expiry (found: wallet, card,expiry, alias); "
        f"{HELP}"
    )


def test_a_header_with_as_many_of_two_delimiters_is_read_by_commas(tmp_path: Path) -> None:
    """A tie (one comma, one semicolon) goes to the comma, the format's own
    delimiter, before the semicolon and the tab."""
    assert _refusal(tmp_path, "t.csv", "wallet,card;expiry\nw,c;e\n") == (
        f"t.csv: the header row lacks column card, expiry (found: wallet, card;expiry); {HELP}"
    )


def test_a_card_number_as_a_column_name_is_shown_masked(tmp_path: Path) -> None:
    """The refusal is an exception an application may log: the file's own data (a
    row pasted over the header) is masked in it, not only on the command's stderr."""
    assert _refusal(tmp_path, "p.csv", f"wallet,card,expiry,{TEST_PAN}\nw,c,e,x\n") == (
        "p.csv: the header row has column 4100##########00, which sogen-soap does not use; "
        f"remove it so nothing is ignored silently ({HELP})"
    )


def test_a_one_column_file_falls_back_to_commas(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "one.csv", "wallet\nw1\n") == (
        f"one.csv: the header row lacks column card, expiry (found: wallet); {HELP}"
    )


def test_a_headerless_file_is_shown_masked_and_cut_to_six_cells(tmp_path: Path) -> None:
    content = f"w1,{TEST_PAN},203012,a,b,c,d,e\n"
    assert _refusal(tmp_path, "h.csv", content) == (
        "h.csv: the header row names none of the columns (it reads: w1, 4100##########00, "
        f"203012, a, b, c). The first line must be a header row: {HELP}"
    )


def test_column_mistakes_are_named(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "u.csv", "wallet,card,expiry,notes,colour\nw,c,e,n,c\n") == (
        "u.csv: the header row has column notes, colour, which sogen-soap does not use; "
        f"remove it so nothing is ignored silently ({HELP})"
    )
    doubled = "card_number,wallet,cardNumber,expiry,alias,paymentMeanAlias\n1,2,3,4,5,6\n"
    assert _refusal(tmp_path, "d.csv", doubled) == (
        "d.csv: the header row names column alias, card twice"
    )
    spaced = tmp_path / "s.csv"
    spaced.write_text(f" wallet , card ,expiry \nw,{TEST_PAN},203012\n")
    (row,) = read_rows(spaced, check_file(spaced))  # names are read without their spaces
    assert row == Row(2, "w", TEST_PAN, "203012")


def test_rows_of_the_wrong_length_are_listed_up_to_five(tmp_path: Path) -> None:
    rows = "\n".join(["w,c", "w,c,e", "w,c,e,x", "", "w", "w,c,e,1,2", "a", "b", "c"])
    assert _refusal(tmp_path, "n.csv", f"wallet,card,expiry\n{rows}\n") == (
        "n.csv: every row must have 3 fields like the header; line 2 has 2; line 4 has 4; "
        "line 6 has 1; line 7 has 5; line 8 has 1. Nothing was sent"
    )


def test_a_field_over_the_limit_names_its_line(tmp_path: Path) -> None:
    content = "wallet,card,expiry\nw,c,e\n" + "w" * 140_000 + ",c,e\n"
    assert _refusal(tmp_path, "big.csv", content) == (
        "big.csv: line 3: field larger than field limit (131072) (a field may hold at most "
        "128 KB; is a quote left open?)"
    )


def test_empty_files_say_what_was_expected(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "e.csv", "\n") == (
        f"e.csv is empty; expected a header row and rows ({HELP})"
    )
    assert _refusal(tmp_path, "h.csv", "wallet,card,expiry\n\n\n") == (
        "h.csv has a header row but no rows"
    )
    assert _refusal(tmp_path, "e.jsonl", "\n  \n") == (
        f"e.jsonl is empty; expected one JSON object per line ({HELP})"
    )


def test_json_lines_mistakes_name_the_line(tmp_path: Path) -> None:
    good = json.dumps({"wallet": "w", "card": TEST_PAN, "expiry": ""})
    assert _refusal(tmp_path, "a.jsonl", f"{good}\n\n{{wallet: 1}}\n") == (
        "a.jsonl: line 3: not JSON (Expecting property name enclosed in double quotes)"
    )
    assert _refusal(tmp_path, "b.jsonl", f"{good}\n[1]\n") == (
        "b.jsonl: line 2: a JSON array; give one JSON object per line (JSON Lines), not one "
        "array of them"
    )
    assert _refusal(tmp_path, "b2.jsonl", f"{good}\n5\n") == (
        "b2.jsonl: line 2: each line must be one JSON object"
    )
    nested = json.dumps({"wallet": ["w"], "card": {"n": 1}, "expiry": ""})
    assert _refusal(tmp_path, "c.ndjson", nested + "\n") == (
        'c.ndjson: line 1: wallet, card must be text, in quotes (e.g. "alias": "home", '
        '"expiry": "203012")'
    )
    assert _refusal(tmp_path, "d.json", json.dumps({"wallet": "w"}) + "\n").startswith(
        "d.json: line 1 lacks column card, expiry (found: wallet)"
    )


def test_rows_are_read_with_their_values_as_they_will_be_sent(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "\ufeffmerchantWalletId;cardNumber;cardExpiryDate;alias;brand;pan_type\n"
        f" w1 ; 4100 0000-0000 0000 ; 203012 ; my card ; VISA ;\n"
        "\n"
        f"w2;{TEST_PAN};;;;PAN\n"
        "w3;tok-123;203012;;;TOKEN_PAN\n"
    )
    form = check_file(path)
    assert form == FileFormat(json_lines=False, delimiter=";")
    rows = list(read_rows(path, form))
    assert rows == [
        Row(2, "w1", TEST_PAN, "203012", alias="my card", brand="VISA", pan_type=None),
        Row(4, "w2", TEST_PAN, "", pan_type="PAN"),
        Row(5, "w3", "tok-123", "203012", pan_type="TOKEN_PAN"),
    ]
    assert TEST_PAN not in repr(rows[0])
    assert rows[0].masked_pan == "4100##########00"


@pytest.mark.parametrize(
    "header",
    [
        "merchantWalletId,cardNumber,cardExpiryDate,paymentMeanAlias,paymentMeanBrand,panType",
        "merchant_wallet_id,card_number,card_expiry_date,payment_mean_alias,payment_mean_brand,"
        "pan_type",
    ],
)
def test_a_header_of_the_vendor_s_or_snake_case_names_reads_every_column(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\nw1,tok-123,203012,home,VISA,TOKEN_PAN\n")
    rows = list(read_rows(path, check_file(path)))
    assert rows == [Row(2, "w1", "tok-123", "203012", "home", "VISA", "TOKEN_PAN")]


def test_json_values_are_read_as_text_and_null_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"wallet": "w1", "card_number": TEST_PAN, "expiry": "203012", "alias": None})
        + "\n\n"
        + json.dumps({"wallet": "w1", "card": TEST_PAN, "card_expiry_date": None})
        + "\n"
    )
    rows = list(read_rows(path, check_file(path)))
    assert rows == [Row(1, "w1", TEST_PAN, "203012"), Row(3, "w1", TEST_PAN, "")]


def test_a_row_missing_both_wallet_and_card_names_the_wallet_first(tmp_path: Path) -> None:
    """Missing cells are named in the file's column order: the wallet, then the card."""
    path = tmp_path / "in.csv"
    path.write_text("wallet,card,expiry\n ,,203012\n")
    (row,) = read_rows(path, check_file(path))
    assert isinstance(row, BadRow)
    assert (row.line, row.wallet, row.masked_pan, row.message) == (2, None, None, "wallet: missing")


def test_a_bad_row_says_why_without_its_card(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "wallet,card,expiry,alias,brand,pan_type\n"
        f",{TEST_PAN},203012,,,\n"
        "w,,203012,,,\n"
        f"w,{TEST_PAN}X,203012,,,\n"
        f"w,{TEST_PAN},2030-12,,,\n"
        f"w,{TEST_PAN},203012,{'a' * 60},,\n"
        f"w,{TEST_PAN},203012,,NOPE,\n"
        f"w,{TEST_PAN},203012,,,CARD\n"
    )
    rows = list(read_rows(path, check_file(path)))
    assert all(isinstance(r, BadRow) for r in rows)
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [(r.line, r.wallet, r.masked_pan) for r in bad] == [
        (2, None, "4100##########00"),
        (3, "w", None),
        (4, "w", "4100###########0X"),
        (5, "w", "4100##########00"),
        (6, "w", "4100##########00"),
        (7, "w", "4100##########00"),
        (8, "w", "4100##########00"),
    ]
    messages = [r.message for r in bad]
    assert messages[0] == "wallet: missing"
    assert messages[1] == "card: missing"
    assert messages[2] == "card: a clear card number must contain digits only"
    assert messages[3].startswith("expiry: must be YYYYMM")
    assert messages[4].startswith("alias: ")
    assert messages[5].startswith("brand: is not one of the 51 names this field takes")
    assert messages[6].startswith("pan_type: must be one of")
    assert all(TEST_PAN not in m for m in messages)
    assert bad[0].raw == ("", TEST_PAN)  # kept out of the repr, used only for the row's key
    assert TEST_PAN not in repr(bad[0])


def test_quoted_cells_keep_their_line_breaks_and_lone_empty_cells_are_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"wallet,card,expiry,alias\r\n"
        b'w1,4100000000000000,203012,"two\r\nlines"\r\n'
        b'""\r\n'
        b"w2,4100000000000000,203012,\r\n"
    )
    rows = list(read_rows(path, check_file(path)))
    assert [(r.line, r.wallet) for r in rows] == [(3, "w1"), (5, "w2")]
    assert isinstance(rows[0], Row) and rows[0].alias == "two\r\nlines"


def test_values_too_long_are_named_by_their_column(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f"wallet,card,expiry\n{'w' * 22},{TEST_PAN},203012\n")
    (row,) = read_rows(path, check_file(path))
    assert isinstance(row, BadRow)
    assert row.message == "wallet: must be at most 21 characters (got 22)"


def test_a_bad_row_with_a_card_number_in_its_wallet_column_keeps_it_masked(
    tmp_path: Path,
) -> None:
    """A bad row is reported (and journalled) by its wallet: a card number typed there
    by mistake is masked in the row the reader gives back, not left to the writers."""
    path = tmp_path / "in.csv"
    path.write_text(f"wallet,card,expiry\n{TEST_PAN},,203012\n")
    (row,) = read_rows(path, check_file(path))
    assert isinstance(row, BadRow)
    assert (row.wallet, row.masked_pan, row.message) == ("4100##########00", None, "card: missing")
    assert TEST_PAN not in repr(row)


def test_standard_input_is_read_as_its_file_would_be() -> None:
    """``enrol -``: the same bytes as a file give the same rows: a byte-order mark
    dropped, quoted line breaks kept, JSON Lines told by its first character (after
    a mark or blank lines), and mistakes named as standard input's."""
    from sogen_soap.cli.inputs import StandardInput

    csv_bytes = (b"\xef\xbb\xbfwallet,card,expiry,alias\r\n"
                 b'w1,4100000000000000,203012,"two\r\nlines"\r\n')  # fmt: skip
    source = StandardInput(csv_bytes)
    assert (source.suffix, source.name, str(source)) == (".csv", "standard input", "standard input")
    rows = list(read_rows(source, check_file(source)))
    assert [(r.line, r.wallet) for r in rows] == [(3, "w1")]  # as a file: where it ends
    assert isinstance(rows[0], Row) and rows[0].alias == "two\r\nlines"
    record = json.dumps({"wallet": "w2", "card": TEST_PAN, "expiry": "203012"})
    for lead in (b"", b"\xef\xbb\xbf", b"\r\n \t\n"):
        lines = StandardInput(lead + record.encode() + b"\n")
        assert lines.suffix == ".jsonl", lead
        assert check_file(lines) == FileFormat(json_lines=True)
        assert [r.wallet for r in read_rows(lines, check_file(lines))] == ["w2"]
    with pytest.raises(InputError) as refused:
        check_file(StandardInput(b"wallet,card\nw,1\n"))
    assert str(refused.value).startswith("standard input")


def test_a_json_array_is_named_even_after_leading_spaces(tmp_path: Path) -> None:
    good = json.dumps({"wallet": "w", "card": TEST_PAN, "expiry": ""})
    assert _refusal(tmp_path, "s.jsonl", f"{good}\n   [1]\n") == (
        "s.jsonl: line 2: a JSON array; give one JSON object per line (JSON Lines), not one "
        "array of them"
    )
