"""A worker process of ``sogen-soap enrol --processes N``.

Started by the batch as ``python -m sogen_soap.cli.worker`` in a session of
its own, it reads JSON lines on standard input: first the client's options
(the secret key among them: a pipe to our own child, never the command
line), then chunks of rows; for each chunk it sends the rows on its threads
and writes one line of outcomes (with the retries its client has made so far,
which the batch's summary counts).  It keeps no state and writes no file: the
batch claims a chunk's rows in its journal before handing them over.

It ends when its input closes, and within half a second of its parent
ending, however that happens (a worker never outlives the batch).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Final

__all__ = ["main"]

_WATCH_EVERY: Final = 0.25


def _watch_parent(parent: int) -> None:
    """End this process once its parent is gone (re-parented: another ppid)."""
    while os.getppid() == parent:
        time.sleep(_WATCH_EVERY)
    os._exit(0)


def _client(options: dict[str, Any]) -> Any:
    from ..client import WalletClient
    from .config import key_ring

    options = dict(options)
    merchant_id = str(options.pop("merchant_id"))
    keys = key_ring(options.pop("keys"), int(str(options.pop("key_version"))))
    for name in ("timeout", "client_cert"):  # pairs come back from JSON as lists
        if isinstance(options.get(name), list):
            options[name] = tuple(options[name])
    return WalletClient(merchant_id, keys, **options)


def main() -> int:
    # The batch stops its workers itself: a signal meant for it is not theirs.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    from .enrol import send_row
    from .inputs import Row

    hello = json.loads(sys.stdin.readline())
    parent = int(hello["parent"])
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent went before the watch began
        return 0
    client = _client(hello["options"])
    pool = ThreadPoolExecutor(max_workers=int(hello["threads"]), thread_name_prefix="worker")
    for text in sys.stdin:
        rows = json.loads(text)["rows"]
        sent = [(Row(**{k: v for k, v in r.items() if k != "resumed"}), bool(r["resumed"]))
                for r in rows]  # fmt: skip
        outcomes = list(pool.map(lambda item: send_row(client, *item), sent))
        answer = {"outcomes": [asdict(o) for o in outcomes], "retries": client.retries_made}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - run by the batch as a process
    try:
        status = main()
    except BaseException:  # never a traceback on the batch's terminal
        os._exit(1)
    sys.exit(status)
