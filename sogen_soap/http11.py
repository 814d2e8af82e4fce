"""Reading an HTTP/1.1 response from bytes, without doing any I/O.

The sync and the async sender feed it what their sockets return and stop when
it says the answer is complete, so both read an answer the same way (h11's
sans-I/O design).  It enforces the two bounds a hostile peer must not get
round: a size cap on the head and on the body, checked as bytes arrive, so
an endless or enormous answer costs at most the cap in memory.  (The deadline
is the sender's: it stops feeding when time is up.)
"""

from __future__ import annotations

import re
from typing import Final

from .redact import printable

__all__ = ["MAX_HEAD_BYTES", "AnswerTooLarge", "HTTPProtocolError", "ResponseParser"]

MAX_HEAD_BYTES: Final = 64 * 1024
_MAX_CHUNK_LINE: Final = 4096
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?")
_TOKEN: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS: Final = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes '²' too


class HTTPProtocolError(Exception):
    """What came back is not a well-formed HTTP/1.1 response."""


class AnswerTooLarge(Exception):
    """The answer (head or body) is larger than the reader accepts."""


class ResponseParser:
    """One HTTP/1.1 response, fed bytes as they arrive.

    ``done`` turns true when the answer is complete; ``keep_alive`` then says
    whether the connection can carry another request.  ``got_bytes`` says
    whether the peer sent anything at all (a connection closed before any
    byte of the answer is the peer hanging up, not a malformed answer).
    """

    def __init__(self, max_body: int, *, method: str = "POST") -> None:
        self._max_body = max_body
        self._method = method
        self._buffer = bytearray()
        self._body = bytearray()
        self._state = "head"
        self._remaining = 0
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.done = False
        self.got_bytes = False

    @property
    def body(self) -> bytes:
        return bytes(self._body)

    @property
    def leftover(self) -> bool:
        """Whether bytes came after the complete answer (nothing may follow a
        proxy's answer to CONNECT before the TLS handshake)."""
        return self.done and bool(self._buffer)

    def feed(self, data: bytes) -> None:
        """Take the next bytes read from the connection."""
        if data:
            self.got_bytes = True
            self._buffer += data
        self._advance()

    def feed_eof(self) -> None:
        """The peer closed the connection."""
        if self._state == "until_close":
            self._finish(keep_alive=False)
            return
        if not self.done:
            raise HTTPProtocolError(
                "the connection closed before the answer was complete"
                if self.got_bytes
                else "the connection closed without an answer"
            )

    # ----------------------------------------------------------------- states

    def _finish(self, *, keep_alive: bool | None = None) -> None:
        if keep_alive is not None:
            self.keep_alive = keep_alive
        if self._buffer:  # bytes after the answer: the connection is not reusable
            self.keep_alive = False
        self._state = "done"
        self.done = True

    def _take_body(self, data: bytes | bytearray) -> None:
        if len(self._body) + len(data) > self._max_body:
            raise AnswerTooLarge(f"the answer is larger than {self._max_body} bytes")
        self._body += data

    def _take_remaining(self) -> bool:
        """Move up to the bytes still owed (a length or a chunk) into the body;
        True once all of them came."""
        take = min(self._remaining, len(self._buffer))
        self._take_body(self._buffer[:take])
        del self._buffer[:take]
        self._remaining -= take
        return not self._remaining

    def _advance(self) -> None:
        while not self.done:
            state = self._state
            buffer = self._buffer
            if state == "head":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    # A blank line may still start within the cap (its 3 first bytes
                    # already here): however the bytes arrive, the same head is read.
                    if len(buffer) > MAX_HEAD_BYTES + 3:
                        raise AnswerTooLarge(f"the answer's headers exceed {MAX_HEAD_BYTES} bytes")
                    return
                if end > MAX_HEAD_BYTES:
                    raise AnswerTooLarge(f"the answer's headers exceed {MAX_HEAD_BYTES} bytes")
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                self._read_head(head)
            elif state == "length":
                if not self._take_remaining():
                    return
                self._finish()
            elif state == "until_close":
                self._take_body(buffer)
                buffer.clear()
                return
            elif state == "chunk_size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > _MAX_CHUNK_LINE:
                        raise HTTPProtocolError("a chunk size line is too long")
                    return
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[: end + 2]
                if not _HEX.fullmatch(size_text):
                    raise HTTPProtocolError("a chunk size is not hexadecimal")
                size = int(size_text, 16)
                if size == 0:
                    self._state = "trailer"
                    continue
                if len(self._body) + size > self._max_body:
                    raise AnswerTooLarge(f"the answer is larger than {self._max_body} bytes")
                self._remaining = size
                self._state = "chunk_data"
            elif state == "chunk_data":
                if not self._take_remaining():
                    return
                self._state = "chunk_end"
            elif state == "chunk_end":
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise HTTPProtocolError("a chunk does not end with CRLF")
                del buffer[:2]
                self._state = "chunk_size"
            elif state == "trailer":
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > _MAX_CHUNK_LINE:
                        raise HTTPProtocolError("a trailer line is too long")
                    return
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                if not line:
                    self._finish()
            else:  # pragma: no cover - no other state exists
                raise AssertionError(state)

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status = _STATUS_LINE.fullmatch(lines[0])
        if status is None:
            raise HTTPProtocolError("the answer does not start with an HTTP/1.x status line")
        minor, code = status.group(1), int(status.group(2))
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HTTPProtocolError("the answer has a malformed header line")
            key = name.decode("ascii").lower()
            text = value.strip().decode("latin-1")
            if key in headers:
                if key == "content-length" and headers[key] != text:
                    raise HTTPProtocolError("the answer has conflicting Content-Length headers")
                headers[key] = f"{headers[key]}, {text}" if key != "content-length" else text
            else:
                headers[key] = text
        if 100 <= code < 200 and code != 101:
            return  # an interim answer (100 Continue): the real one follows
        self.status = code
        # a reason phrase is printed: no escape sequence of the server's reaches a terminal
        self.reason = printable((status.group(3) or b"").decode("latin-1"))
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = "keep-alive" in connection if minor == b"0" else "close" not in connection
        if (
            self._method == "HEAD"
            or code in (204, 304)
            or (self._method == "CONNECT" and 200 <= code < 300)
        ):
            self._finish()
            return
        coding = headers.get("transfer-encoding", "").lower()
        if coding:
            if coding.rsplit(",", 1)[-1].strip() == "chunked":
                self._state = "chunk_size"
            else:
                self._state = "until_close"
            return
        length_text = headers.get("content-length")
        if length_text is None:
            self._state = "until_close"
            return
        if not _DIGITS.fullmatch(length_text):
            raise HTTPProtocolError("the answer's Content-Length is not a number")
        length = int(length_text)
        if length > self._max_body:
            raise AnswerTooLarge(f"the answer announces {length} bytes, more than {self._max_body}")
        self._remaining = length
        self._state = "length"
        if length == 0:
            self._finish()
