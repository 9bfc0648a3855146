"""A hostile loopback HTTP server (stdlib only) that plays a QingStor GET Service listing.

By default every GET answers a valid one-page bucket listing (`BUCKETS`). `play(fault, times)`
queues faults for the next requests (`path="/"`: for the next requests of that path only):

* ``gzip_bomb``: a 200 whose gzip body (about 1 MB) decodes to 1 GiB of zeros.
* ``gzip_bomb_one_stream``: the same in one gzip member (64 MiB decoded), for the decoder's bound.
* ``deflate_bomb``: 64 MiB of zeros as one zlib stream, `Content-Encoding: deflate`.
* ``huge``: a 600 MB body that says so in its Content-Length.
* ``huge_unsized``: a 600 MB body without Content-Length, ended by closing the connection.
* ``trickle``: headers at once, then the body one byte every `trickle_interval` seconds.
* ``trickle_headers``: the status line and headers one byte every `trickle_interval` seconds.
* ``retry_after:<value>``: a 503 with that Retry-After header.
* ``error_code:<json string>``: a 400 whose JSON `code` is that string.
* ``huge_error``: a 404 with a 600 MB body (a QingStor error object, padded).
* ``close``: the connection closed without an answer (a client retries that).

`requests` records every request (method, path, time); `ended` records when the server saw a
faulty answer's connection end (the client hung up) or finish, by fault name.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

BUCKETS = ["alpha", "bravo", "charlie"]
MB = 1000 * 1000
MIB = 1024 * 1024
HUGE = 600 * MB


def bucket_listing(names: list[str] = BUCKETS) -> bytes:
    buckets = [
        {
            "name": n,
            "location": "pek3a",
            "url": f"https://{n}.pek3a.qingstor.com",
            "created": "2015-07-11T04:45:57Z",
        }
        for n in names
    ]
    return json.dumps({"count": len(buckets), "buckets": buckets}).encode()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    at: float


_BOMBS: dict[str, bytes] = {}


def gzip_bomb() -> bytes:
    """About 1 MB of gzip that decodes to 1 GiB of zeros (1,024 members of 1 MiB each)."""
    if "multi" not in _BOMBS:
        _BOMBS["multi"] = gzip.compress(bytes(MIB), compresslevel=9, mtime=0) * 1024
    return _BOMBS["multi"]


def gzip_bomb_one_stream() -> bytes:
    """One gzip member that decodes to 64 MiB of zeros."""
    if "one" not in _BOMBS:
        _BOMBS["one"] = gzip.compress(bytes(64 * MIB), compresslevel=9, mtime=0)
    return _BOMBS["one"]


def deflate_bomb() -> bytes:
    """One zlib stream that decodes to 64 MiB of zeros."""
    if "deflate" not in _BOMBS:
        _BOMBS["deflate"] = zlib.compress(bytes(64 * MIB), 9)
    return _BOMBS["deflate"]


class HostileServer:
    def __init__(self, trickle_interval: float = 0.5) -> None:
        self.trickle_interval = trickle_interval
        self.requests: list[Seen] = []
        self.ended: dict[str, list[float]] = {}
        self._faults: list[tuple[str, str | None]] = []  # (fault, the only path it is for)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, fault: str, times: int = 1, path: str | None = None) -> None:
        with self._lock:
            self._faults += [(fault, path)] * times

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            for index, (fault, only) in enumerate(self._faults):
                if only in (None, path):
                    del self._faults[index]
                    return fault
            return None

    def _ended(self, fault: str) -> None:
        with self._lock:
            self.ended.setdefault(fault, []).append(time.monotonic())

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server._lock:
                    server.requests.append(Seen("GET", path, time.monotonic()))
                fault = server._next_fault(path)
                if fault is None:
                    self._answer(200, bucket_listing())
                    return
                try:
                    server._play(self, fault)
                except OSError:
                    pass  # the client hung up: what a bounded client does
                finally:
                    server._ended(fault.split(":")[0])

            do_HEAD = do_GET

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # resets and hang-ups are the point of this server

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="hostile-server", daemon=True).start()
        return self

    def _play(self, handler: BaseHTTPRequestHandler, fault: str) -> None:
        name, _, arg = fault.partition(":")
        wfile = handler.wfile
        if name in ("gzip_bomb", "gzip_bomb_one_stream", "deflate_bomb"):
            bombs = {"gzip_bomb": gzip_bomb, "gzip_bomb_one_stream": gzip_bomb_one_stream}
            body = bombs.get(name, deflate_bomb)()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Encoding", "deflate" if name == "deflate_bomb" else "gzip")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            wfile.write(body)
        elif name in ("huge", "huge_unsized"):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            if name == "huge":
                handler.send_header("Content-Length", str(HUGE))
            else:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            block = b" " * MIB
            for _ in range(HUGE // MIB):
                wfile.write(block)
        elif name == "trickle":
            body = bucket_listing()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            wfile.flush()
            self._trickle(handler.connection, body)
        elif name == "trickle_headers":
            body = bucket_listing()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"X-Padding: {'x' * 200}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            self._trickle(handler.connection, head + body)
            handler.close_connection = True
        elif name == "retry_after":
            body = json.dumps({"code": "service_unavailable", "message": "busy"}).encode()
            handler._answer(503, body, {"Retry-After": arg})  # type: ignore[attr-defined]
        elif name == "huge_error":
            handler.send_response(404)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(HUGE))
            handler.end_headers()
            head = b'{"code": "bucket_not_exists", "padding": "'
            wfile.write(head)
            block = b" " * MIB
            for _ in range((HUGE - len(head)) // MIB):
                wfile.write(block)
        elif name == "close":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif name == "error_code":
            body = json.dumps({"code": json.loads(arg), "message": "no"}).encode()
            handler._answer(400, body)  # type: ignore[attr-defined]
        else:
            raise ValueError(fault)

    def _trickle(self, connection: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            connection.sendall(data[i : i + 1])
            time.sleep(self.trickle_interval)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
