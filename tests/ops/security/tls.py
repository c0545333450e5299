"""A TLS server on loopback serving a certificate we choose (made with trustme): it
completes handshakes and closes, enough for a client to read the peer certificate."""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator

import trustme

HOST = "127.0.0.1"


class TlsServer:
    def __init__(self, cert: trustme.LeafCert) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.context)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-server", daemon=True)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(timeout=0.05):
                    continue
                with contextlib.suppress(BlockingIOError):
                    conn, _ = self._listener.accept()
                    self._handshake(conn)

    def _handshake(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(3)
        try:
            with self.context.wrap_socket(conn, server_side=True):
                self.handshakes += 1
        except (ssl.SSLError, OSError):
            pass  # the client refused our certificate: that is what some tests want
        finally:
            conn.close()

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


@contextlib.contextmanager
def serving(cert: trustme.LeafCert) -> Iterator[TlsServer]:
    with TlsServer(cert) as server:
        yield server
