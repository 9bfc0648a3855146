"""A loopback reverse proxy that counts requests (stdlib only).

Every request is forwarded unchanged (method, raw path+query, headers except hop-by-hop, body,
and the client's own Host header) to the upstream; the response is relayed. Each request is
recorded *before* the response is written, so a reader right after its reply sees it.

Fault knobs (for tests that prove a client survives a hostile network):

* ``fail_next(status, times, body, headers)`` answers without forwarding (as before); with
  ``after=N`` the first N requests still go through; ``delay=S`` waits S seconds before answering;
  ``mode`` cuts the answer: ``"reset"`` sends the headers and half the body, then resets the
  connection (RST); ``"truncate"`` declares a Content-Length larger than the bytes it sends, then
  closes; ``"close"`` closes the connection without answering at all. A cut answer with an empty
  ``body`` forwards the request and cuts the upstream's real response.
* ``clear_failures()`` drops whatever is still queued.
* ``stop()`` also closes every open keep-alive connection, so a stopped proxy is really down
  (connection refused); ``start()`` again listens on the same port: the server is back.
* ``tls=(certfile, keyfile)`` serves HTTPS (``url`` is then ``https://``).
* ``methods_seen`` counts every method ever received; ``reset()`` does not clear it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str  # raw path, without the query
    query: list[tuple[str, str]]
    status: int
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    forwarded: bool = field(default=True, compare=False)

    @property
    def op(self) -> str:
        return op_name(self.method, self.path, self.query)


def op_name(method: str, path: str, query: list[tuple[str, str]]) -> str:
    """'list_containers' for Azure List Containers (comp=list, no restype, on the account
    root: '/', '/<account>' or '/<account>/'), 'list_blobs' (restype=container&comp=list),
    'get_block_list' (comp=blocklist); otherwise '<METHOD> <path>'."""
    names = {k: v for k, v in query}
    segments = [s for s in path.split("/") if s]
    if names.get("comp") == "list" and "restype" not in names and len(segments) <= 1:
        return "list_containers"
    if names.get("comp") == "list" and names.get("restype") == "container":
        return "list_blobs"
    if names.get("comp") == "blocklist":
        return "get_block_list"
    return f"{method} {path}"


MODES = ("respond", "reset", "truncate", "close")


@dataclass
class _Failure:
    status: int
    times: int
    body: bytes
    headers: dict[str, str]
    mode: str = "respond"
    after: int = 0
    delay: float = 0.0

    @property
    def forwards(self) -> bool:
        """A cut answer without a body of its own cuts the upstream's response."""
        return self.mode in ("reset", "truncate") and not self.body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up, resets we caused, failed TLS handshakes: not errors of the proxy.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class CountingProxy:
    def __init__(
        self,
        upstream_url: str,
        *,
        delay: float = 0.0,
        timeout: float = 60.0,
        tls: tuple[str, str] | None = None,
    ):
        u = urllib.parse.urlsplit(upstream_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"upstream must be http(s)://host[:port], got {upstream_url!r}")
        self.upstream_url = upstream_url
        self._scheme = u.scheme
        self._host = u.hostname
        self._port = u.port or (443 if u.scheme == "https" else 80)
        self._prefix = u.path.rstrip("/")  # prepended to every forwarded path if set
        self.delay = delay
        self.timeout = timeout
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []
        self._failures: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.methods_seen: Counter[str] = Counter()
        self.tls_context: ssl.SSLContext | None = None
        if tls is not None:
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*tls)
        self.port = 0

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> CountingProxy:
        """Listen (again): on a free port the first time, on the same port after `stop()`."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"proxy": self})
        server = _Server(("127.0.0.1", self.port), handler)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"CountingProxy:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # keep-alive connections must not outlive the server
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- records ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[ProxiedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(self, method: str | None = None, path: str | None = None, **query_equals) -> int:
        """Requests matching method (case-insensitive), exact raw path, and query values."""
        n = 0
        for r in self.requests:
            if method is not None and r.method.upper() != method.upper():
                continue
            if path is not None and r.path != path:
                continue
            q = dict(r.query)
            if any(q.get(k) != str(v) for k, v in query_equals.items()):
                continue
            n += 1
        return n

    def count_op(self, name: str) -> int:
        return sum(1 for r in self.requests if r.op == name)

    def ops(self) -> list[str]:
        return [r.op for r in self.requests]

    # -- faults -----------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        times: int = 1,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        mode: str = "respond",
        after: int = 0,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests with `status` without forwarding them.

        `after`: let that many requests through first. `delay`: wait before answering. `mode`:
        "respond" (whole answer), "reset" (half the body, then RST), "truncate" (Content-Length
        larger than what is sent, then close), "close" (no answer). "reset" and "truncate"
        with an empty `body` forward the request and cut the upstream's answer (`status` unused).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        with self._lock:
            self._failures.append(
                _Failure(status, times, body, dict(headers or {}), mode, max(0, after), delay)
            )

    def clear_failures(self) -> None:
        """Forget every queued failure: from now on every request is forwarded."""
        with self._lock:
            self._failures.clear()

    @property
    def failures_pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._failures)

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            while self._failures:
                f = self._failures[0]
                if f.times <= 0:
                    self._failures.pop(0)
                    continue
                if f.after > 0:
                    f.after -= 1
                    return None
                f.times -= 1
                if f.times == 0:
                    self._failures.pop(0)
                return f
        return None

    def _record(self, rec: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(rec)
            self.methods_seen[rec.method] += 1

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)


class _Handler(BaseHTTPRequestHandler):
    proxy: CountingProxy  # set on the bound subclass
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    timeout = 120  # idle keep-alive connections are dropped after this

    def log_message(self, format, *args):  # silence the default stderr log
        pass

    def setup(self) -> None:
        context = self.proxy.tls_context
        if context is not None:
            self.request.settimeout(10)  # a client that never finishes the handshake
            self.request = context.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()
        self.proxy._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the connection was reset (by us or the client)
        finally:
            self.proxy._track(self.connection, False)

    def _read_body(self) -> bytes | None:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        return None

    def _handle(self) -> None:
        proxy = self.proxy
        raw = self.path
        path, _, qs = raw.partition("?")
        query = urllib.parse.parse_qsl(qs, keep_blank_values=True)
        hdrs = {k: v for k, v in self.headers.items()}
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        body = self._read_body()

        failure = proxy._take_failure()
        if failure is not None and failure.delay > 0:
            time.sleep(failure.delay)
        if failure is not None and not failure.forwards:
            proxy._record(ProxiedRequest(self.command, path, query, failure.status, hdrs, False))
            if failure.mode == "close":
                self._drop(reset=False)
            elif failure.mode in ("reset", "truncate"):
                self._cut(failure.mode, failure.status, list(failure.headers.items()), failure.body)
            else:
                self._respond(failure.status, list(failure.headers.items()), failure.body)
            return

        if proxy.delay > 0:
            time.sleep(proxy.delay)

        conn = proxy._connect()
        try:
            conn.putrequest(self.command, proxy._prefix + raw, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP_BY_HOP or lk == "content-length" or lk == "expect":
                    continue
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            resp_body = resp.read()
            resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            status = 502
            resp_body = f"CountingProxy: upstream error: {e!r}\n".encode()
            resp_headers = [("Content-Type", "text/plain")]
            proxy._record(ProxiedRequest(self.command, path, query, status, hdrs, False))
            self._respond(status, resp_headers, resp_body)
            return
        finally:
            conn.close()

        proxy._record(ProxiedRequest(self.command, path, query, status, hdrs, True))
        if failure is not None:  # a cut of the upstream's real answer
            self._cut(failure.mode, status, resp_headers, resp_body)
            return
        self._respond(status, resp_headers, resp_body, keep_upstream_length=True)

    def _cut(self, mode: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Headers promising the whole body, then only part of it and the end of the connection."""
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection"):
                self.send_header(k, v)
        if mode == "reset":
            declared, sent = len(body), body[: len(body) // 2]
        else:
            declared, sent = len(body) + max(64, len(body)), body
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(sent)
        self.wfile.flush()
        self._drop(reset=mode == "reset")

    def _drop(self, reset: bool) -> None:
        """End the connection now: with a TCP reset (RST), or a plain close (FIN)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        if reset:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.wfile, self.rfile):
            with contextlib.suppress(OSError):
                stream.close()
        # http.server still flushes and closes these after the handler returns.
        self.wfile, self.rfile = io.BytesIO(), io.BytesIO()
        with contextlib.suppress(OSError):
            self.connection.close()

    def _respond(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        keep_upstream_length: bool = False,
    ) -> None:
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.send_response_only(status)
        has_length = False
        for k, v in headers:
            if k.lower() == "content-length":
                if not (keep_upstream_length and no_body):
                    continue  # recomputed below
                has_length = True
            self.send_header(k, v)
        if not has_length and not (no_body and status in (204, 304)):
            self.send_header("Content-Length", str(0 if no_body else len(body)))
        self.end_headers()
        if not no_body and body:
            self.wfile.write(body)
        self.wfile.flush()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = _handle
