"""A black-holed dependency: a TCP server on loopback that accepts every connection and
never sends a byte.

This is the fault that timeouts exist for. A stopped server refuses at once; a black hole
completes the handshake (the client's connect succeeds), then the client waits for an
answer that never comes: a Postgres whose postmaster hangs, a Redis behind a load balancer
with a dead backend, an HTTP service stuck in a GC pause. Connections are accepted (not
left in the listen backlog) so any number of clients see the same thing, and held open
until the block ends, so a client can't mistake a close for an answer.

    with black_hole() as port:
        config = OpsConfig(redis_url=f"redis://127.0.0.1:{port}/0")
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator

HOST = "127.0.0.1"


class BlackHole:
    """Listens on `HOST`, on a free port; `connections` counts the accepted ones."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> BlackHole:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self._held:
            with contextlib.suppress(OSError):
                sock.close()
        self._held.clear()
        self._listener.close()

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(timeout=0.05):
                    continue
                with contextlib.suppress(BlockingIOError, OSError):
                    conn, _ = self._listener.accept()
                    self._held.append(conn)  # held, never read from, never written to
                    self.connections += 1

    def __enter__(self) -> BlackHole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """The port of a running black hole, closed when the block ends."""
    with BlackHole() as hole:
        yield hole.port
