"""A tiny TF Serving stand-in on loopback (stdlib http.server in a thread).

It answers with exactly the documented TF Serving JSON shapes, or with whatever fault a
test scripts (500s, garbage, slow answers), and records every request it gets.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from triage_core.result import DEFAULT_CATEGORIES

Reply = tuple[int, bytes]

TF_STATUS_AVAILABLE = {
    "model_version_status": [
        {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}


def crc_scores(text: str, n: int = len(DEFAULT_CATEGORIES)) -> list[float]:
    """Deterministic, text-dependent probabilities: a stand-in model."""
    rng = random.Random(zlib.crc32(text.encode("utf-8", "replace")))
    raw = [rng.random() + 0.01 for _ in range(n)]
    total = sum(raw)
    return [r / total for r in raw]


def row_format(body: dict[str, Any]) -> Reply:
    texts = [inst["text"] for inst in body["instances"]]
    return 200, json.dumps({"predictions": [crc_scores(t) for t in texts]}).encode()


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class FakeTFServing:
    predict: Callable[[dict[str, Any]], Reply] = row_format
    status: Callable[[], Reply] = lambda: (200, json.dumps(TF_STATUS_AVAILABLE).encode())
    metadata: Callable[[], Reply] = lambda: (200, b'{"model_spec": {"name": "email-classifier"}}')
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def predicts(self) -> int:
        return sum(1 for r in self.requests if r.path.endswith(":predict"))


def _handler(fake: FakeTFServing) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(self, reply: Reply) -> None:
            status, payload = reply
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            fake.requests.append(Recorded("GET", self.path, None))
            if self.path == "/v1/models/email-classifier":
                self._reply(fake.status())
            elif self.path == "/v1/models/email-classifier/metadata":
                self._reply(fake.metadata())
            else:
                self._reply((404, b'{"error": "Could not find any versions of model"}'))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = json.loads(raw)
            fake.requests.append(Recorded("POST", self.path, body))
            if self.path == "/v1/models/email-classifier:predict":
                self._reply(fake.predict(body))
            else:
                self._reply((404, b'{"error": "Servable not found"}'))

    return Handler


@contextmanager
def serve(fake: FakeTFServing) -> Iterator[FakeTFServing]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_listener() -> Iterator[str]:
    """A socket that accepts connections (the kernel does, from the backlog) and never
    says a word: the hung server case."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port_url() -> str:
    """A loopback port nobody listens on: connection refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
