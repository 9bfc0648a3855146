"""A loopback reverse proxy that counts requests (stdlib only).

Every request is forwarded unchanged (method, raw path+query, headers except hop-by-hop, body,
and the client's own Host header) to the upstream; the response is relayed. Each request is
recorded *before* the response is written, so a reader right after its reply sees it.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
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
    root: '/', '/<account>' or '/<account>/'); otherwise '<METHOD> <path>'."""
    names = {k: v for k, v in query}
    segments = [s for s in path.split("/") if s]
    if names.get("comp") == "list" and "restype" not in names and len(segments) <= 1:
        return "list_containers"
    return f"{method} {path}"


@dataclass
class _Failure:
    status: int
    times: int
    body: bytes
    headers: dict[str, str]


class CountingProxy:
    def __init__(self, upstream_url: str, *, delay: float = 0.0, timeout: float = 60.0):
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
        self.port = 0

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CountingProxy:
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"proxy": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
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
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

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
    ) -> None:
        """Answer the next `times` requests with `status` without forwarding them."""
        with self._lock:
            self._failures.append(_Failure(status, times, body, dict(headers or {})))

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            while self._failures:
                f = self._failures[0]
                if f.times <= 0:
                    self._failures.pop(0)
                    continue
                f.times -= 1
                if f.times == 0:
                    self._failures.pop(0)
                return f
        return None

    def _record(self, rec: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

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
        if failure is not None:
            proxy._record(ProxiedRequest(self.command, path, query, failure.status, hdrs, False))
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
        self._respond(status, resp_headers, resp_body, keep_upstream_length=True)

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
