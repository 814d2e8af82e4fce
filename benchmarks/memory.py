"""Peak memory of answers at the size cap: 16 concurrent calls, each answered with a
worst case (many tiny elements, many attributes, deep nesting, one huge text, a
JSON array of many tiny objects), measured in a fresh process per shape.

    python benchmarks/memory.py            # about 20 s on 2 cores

Prints, per shape, the answer's size, the peak RSS growth of the process for 16
answers at once, and that growth per answer as a multiple of the answer's size
(the target: at most about 10x).  Traffic stays on loopback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from typing import Final

CAP: Final = 4 * 1024 * 1024
CALLS: Final = 16
_HEAD: Final = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<ns:getWalletDataResponse xmlns:ns="urn:sips:cn:contract:office:wallet:v2"><ns:output>'
    b"<ns:walletResponseCode>00</ns:walletResponseCode><ns:x>"
)
_TAIL: Final = b"</ns:x></ns:output></ns:getWalletDataResponse></soap:Body></soap:Envelope>"


def _fill(piece: bytes, head: bytes = _HEAD, tail: bytes = _TAIL) -> bytes:
    room = CAP - 1024 - len(head) - len(tail)
    return head + piece * (room // len(piece)) + tail


def _nested() -> bytes:
    depth = 240
    block = b"<a>" * depth + b"</a>" * depth
    return _fill(block)


SHAPES: Final = {
    "elements": lambda: _fill(b"<a/>"),
    "attributes": lambda: _fill(b'<a ' + b" ".join(b'b%d=""' % i for i in range(200)) + b"/>"),
    "nesting": _nested,
    "text": lambda: _fill(b"x"),
    # the most nodes still parsed: 28,000 elements of 2 attributes, the rest text
    "at-the-limit": lambda: _fill(b'<a b="1" c="2">' + b"x" * 130 + b"</a>"),
    "json-objects": lambda: _fill(b"{},", b'{"walletResponseCode":"00","x":[', b"{}]}"),
}


def _serve(body: bytes, json_answer: bool) -> tuple[socket.socket, int]:
    kind = b"application/json" if json_answer else b"text/xml"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (kind, len(body))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(64)

    def one(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            length = int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            rest = data.split(b"\r\n\r\n", 1)[1]
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(head + body)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


def _peak_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(shape: str) -> dict[str, object]:
    """In this process: 16 concurrent calls against one answer of ``shape``."""
    import gc

    from sogen_soap import RetryPolicy, SogenSoapError, WalletClient

    json_answer = shape.startswith("json")
    body = SHAPES[shape]()
    listener, port = _serve(body, json_answer)
    url = f"http://127.0.0.1:{port}/services/v2/wallet"
    client = WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url,
                          transport="json" if json_answer else "soap",
                          retry=RetryPolicy(attempts=1), timeout=60)  # fmt: skip
    client.get_wallet_data("warm") if False else None
    gc.collect()
    before = _peak_kib()
    outcomes: list[str] = []

    def call() -> None:
        try:
            client.get_wallet_data("w")
            outcomes.append("read")
        except SogenSoapError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=call) for _ in range(CALLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    growth = (_peak_kib() - before) * 1024
    listener.close()
    return {
        "shape": shape,
        "answer_bytes": len(body),
        "peak_growth_mb": round(growth / 1e6, 1),
        "per_answer_x": round(growth / CALLS / len(body), 1),
        "outcomes": sorted(set(outcomes)),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])))
        return 0
    print(f"{CALLS} concurrent answers at the {CAP // 1024} KiB cap; target: at most ~10x")
    print(f"{'shape':<14}{'answer':>10}{'peak growth':>14}{'per answer':>12}  outcome")
    worst = 0.0
    for shape in SHAPES:
        done = subprocess.run([sys.executable, __file__, "--one", shape],
                              capture_output=True, text=True, check=True)  # fmt: skip
        row = json.loads(done.stdout)
        worst = max(worst, float(row["per_answer_x"]))
        print(f"{shape:<14}{row['answer_bytes']:>10}{row['peak_growth_mb']:>11} MB"
              f"{row['per_answer_x']:>11}x  {', '.join(row['outcomes'])}")  # fmt: skip
    print(f"worst: {worst}x the answer's size per answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
