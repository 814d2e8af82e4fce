"""The sans-I/O HTTP/1.1 reader, fed by hand: every framing, both caps at their
exact boundary, and each malformed answer with its words.

Pure-function tests (no socket): the senders that feed this reader are tested
against real servers in ``test_transport.py`` and ``test_hostile.py``.
"""

from __future__ import annotations

import pytest

from sogen_soap.http11 import MAX_HEAD_BYTES, AnswerTooLarge, HTTPProtocolError, ResponseParser

OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK + b"Transfer-Encoding: chunked\r\n\r\n"
NOT_A_NUMBER = "the answer's Content-Length is not a number"
NOT_HEX = "a chunk size is not hexadecimal"


def _parse(
    data: bytes, *, cap: int = 1000, method: str = "POST", bytewise: bool = False, eof: bool = False
) -> ResponseParser:
    parser = ResponseParser(cap, method=method)
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        parser.feed(piece)
    if eof:
        parser.feed_eof()
    return parser


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_content_length_answer(bytewise: bool) -> None:
    parser = _parse(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Twice: a\r\nx-twice: b\r\n"
        b"Content-Length: 5\r\n\r\nhello",
        bytewise=bytewise,
    )
    assert parser.done and parser.keep_alive and parser.got_bytes
    assert (parser.status, parser.reason, parser.body) == (200, "OK", b"hello")
    assert parser.headers == {"content-type": "text/xml", "x-twice": "a, b", "content-length": "5"}


def test_an_answer_is_not_done_until_its_last_byte() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell")
    assert not parser.done
    with pytest.raises(HTTPProtocolError) as caught:
        parser.feed_eof()
    assert str(caught.value) == "the connection closed before the answer was complete"
    parser.feed(b"o")
    assert parser.done and parser.body == b"hello"


def test_a_connection_closed_before_any_byte_is_told_apart() -> None:
    parser = ResponseParser(10)
    parser.feed(b"")
    assert not parser.got_bytes
    with pytest.raises(HTTPProtocolError) as caught:
        parser.feed_eof()
    assert str(caught.value) == "the connection closed without an answer"


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", True),
    ],
)
def test_whether_the_connection_can_be_reused(head: bytes, keep_alive: bool) -> None:
    parser = _parse(head + b"Content-Length: 2\r\n\r\nok")
    assert parser.done and parser.keep_alive is keep_alive


def test_bytes_after_the_answer_make_the_connection_unusable() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
    assert parser.done and parser.body == b"ok" and not parser.keep_alive


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_chunked_answer_with_extensions_and_trailers(bytewise: bool) -> None:
    parser = _parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\nA\r\n, 10 bytes\r\n0\r\nX-Trailer: yes\r\n\r\n",
        bytewise=bytewise,
    )
    assert parser.done and parser.keep_alive
    assert parser.body == b"hello, 10 bytes"


def test_another_transfer_coding_reads_until_the_connection_closes() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabc")
    assert not parser.done
    parser.feed_eof()
    assert parser.done and parser.body == b"abc" and not parser.keep_alive


def test_without_a_length_the_body_runs_until_close() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\n\r\nfirst ", eof=False)
    parser.feed(b"second")
    assert not parser.done
    parser.feed_eof()
    assert parser.done and parser.body == b"first second" and not parser.keep_alive


def test_an_interim_answer_is_skipped() -> None:
    parser = _parse(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    assert parser.done and parser.status == 201 and parser.reason == "Created"


def test_a_status_line_without_a_reason() -> None:
    parser = _parse(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
    assert parser.done and parser.status == 200 and parser.reason == ""


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", 200), ("POST", 204), ("POST", 304), ("CONNECT", 200)]
)
def test_answers_that_carry_no_body_end_with_their_head(method: str, status: int) -> None:
    parser = _parse(b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status, method=method)
    assert parser.done and parser.body == b"" and parser.status == status


def test_a_refused_connect_is_read_with_its_body() -> None:
    parser = _parse(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nno!",
        method="CONNECT",
    )
    assert not parser.done
    parser.feed(b"!")
    assert parser.done and parser.status == 407


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_one_byte_body_is_read(bytewise: bool) -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", bytewise=bytewise)
    assert parser.done and parser.body == b"x"


def test_an_empty_body_is_complete_at_once() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert parser.done and parser.body == b""
    parser.feed_eof()  # a close after a complete answer is no error


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "the answer does not start with an HTTP/1.x status line"),
        (b"HTTP/2 200 OK\r\n\r\n", "the answer does not start with an HTTP/1.x status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "the answer does not start with an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "the answer has a malformed header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "the answer has a malformed header line"),
        (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "the answer has a malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
         "the answer has conflicting Content-Length headers"),
        (OK + b"Content-Length: -1\r\n\r\n", NOT_A_NUMBER),
        (OK + b"Content-Length: 1e3\r\n\r\n", NOT_A_NUMBER),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", NOT_HEX),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", NOT_HEX),
        (CHUNKED + b"0" * 17 + b"1\r\n",
         NOT_HEX),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
         "a chunk does not end with CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\rX0\r\n\r\n",
         "a chunk does not end with CRLF"),  # a CR alone is not the end of a chunk
        (CHUNKED + b"1" * 4097,
         "a chunk size line is too long"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T" * 4097,
         "a trailer line is too long"),
    ],
)  # fmt: skip
def test_malformed_answers_are_named(data: bytes, message: str) -> None:
    with pytest.raises(HTTPProtocolError) as caught:
        _parse(data)
    assert str(caught.value) == message


def test_the_same_content_length_twice_is_accepted() -> None:
    parser = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")
    assert parser.done and parser.body == b"ok"


def test_lines_at_the_limits_are_still_read() -> None:
    chunk_line = b"2;" + b"x" * (4096 - 2)  # 4096 bytes before its CRLF
    parser = _parse(CHUNKED)
    parser.feed(chunk_line)
    parser.feed(b"\r\nok\r\n0\r\n" + b"T: " + b"t" * 4093)
    parser.feed(b"\r\n\r\n")
    assert parser.done and parser.body == b"ok"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: %d\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n",
        b"\r\n",  # until close
    ],
)
def test_the_body_cap_holds_at_its_exact_boundary(framing: bytes) -> None:
    def answer(size: int) -> bytes:
        head = b"HTTP/1.1 200 OK\r\n" + (framing % size if b"%" in framing else framing)
        tail = b"\r\n0\r\n\r\n" if b"chunked" in framing else b""
        return head + b"a" * size + tail

    fits = _parse(answer(100), cap=100, eof=b"Length" not in framing and b"chunked" not in framing)
    assert fits.done and len(fits.body) == 100
    with pytest.raises(AnswerTooLarge) as caught:
        _parse(answer(101), cap=100)
    assert str(caught.value) in (
        "the answer is larger than 100 bytes",
        "the answer announces 101 bytes, more than 100",
    )
    if b"Length" in framing:
        assert str(caught.value) == "the answer announces 101 bytes, more than 100"


def test_chunks_adding_up_past_the_cap_are_refused_before_reading_them() -> None:
    parser = _parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + b"a" * 64 + b"\r\n"
    )
    assert parser.body == b"a" * 64
    with pytest.raises(AnswerTooLarge) as caught:
        _parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n"
            + b"a" * 64
            + b"\r\n1\r\n",
            cap=64,
        )
    assert str(caught.value) == "the answer is larger than 64 bytes"


def test_an_answer_with_many_headers_from_gateways_is_read() -> None:
    """Load balancers and gateways add cookies and tracing headers: 48 KiB of headers
    in 700 lines is still an answer (the cap is 64 KiB, kept on every path)."""
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-Trace-%03d: %s\r\n" % (n, b"t" * 64) for n in range(700)
    )
    assert 48 * 1024 < len(head) < MAX_HEAD_BYTES == 64 * 1024
    parsed = _parse(head + b"Content-Length: 2\r\n\r\nok")
    assert (parsed.status, parsed.body, len(parsed.headers)) == (200, b"ok", 701)


def test_the_head_cap_holds_whether_or_not_the_head_ends() -> None:
    endless = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD_BYTES
    with pytest.raises(AnswerTooLarge) as caught:
        _parse(endless)
    assert str(caught.value) == f"the answer's headers exceed {MAX_HEAD_BYTES} bytes"
    with pytest.raises(AnswerTooLarge) as caught:
        _parse(endless + b"\r\n\r\n")  # complete, but too long all the same
    assert str(caught.value) == f"the answer's headers exceed {MAX_HEAD_BYTES} bytes"
    at_limit = b"HTTP/1.1 200 OK\r\nX-Long: "
    at_limit += b"a" * (MAX_HEAD_BYTES - len(at_limit)) + b"\r\n\r\n"
    assert not _parse(at_limit).done  # exactly the cap: read, the body follows
    # byte by byte, the cap is passed before the blank line is complete: the same
    assert _parse(at_limit, bytewise=True).status == 200
    with pytest.raises(AnswerTooLarge):
        _parse(at_limit.replace(b": a", b": aa"), bytewise=True)  # one byte over
