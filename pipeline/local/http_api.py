"""The order API over real HTTP on loopback, as `sam local start-api` serves it.

Each request becomes an API Gateway REST (v1) proxy event for the handler the template routes
it to; the handler's proxy response becomes the HTTP response. Routes come from the
template's ``Api`` events, so a new route needs no change here. The stage's throttling
(``MethodSettings``: a token bucket per method, ``ThrottlingRateLimit`` requests a second up
to ``ThrottlingBurstLimit``) answers 429 with the ``THROTTLED`` gateway response's headers
(``Retry-After``), as API Gateway does before the function is invoked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.local.apigw import proxy_event
from pipeline.local.lambda_context import LambdaContext
from pipeline.quotas import TokenBucket
from pipeline.template import Template, most_specific

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
LISTEN_BACKLOG = 1024  # connections waiting to be accepted (the kernel caps it at somaxconn)
MAX_THREADS = 512  # connections served at once; more wait, accepted, for a free thread
BODY_TIMEOUT_S = 10.0  # a body that stalls this long (shorter than its length) is a 400
IDLE_TIMEOUT_S = 60.0  # a kept-alive connection idle this long is closed
MAX_CHUNK_LINE = 4096  # a chunk-size line (with extensions) or a trailer field
MAX_TRAILERS = 100


def routes(template: Template) -> list[tuple[str, re.Pattern[str], str, str]]:
    """(method, path regex, resource path, function id) for every Api event in the template."""
    return [
        (route.method, _path_pattern(route.path), route.path, route.function_id)
        for route in template.api_routes()
    ]


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/orders/{order_id}`` as a regex matching one path segment per parameter."""
    return re.compile("^" + re.sub(r"\{([^}/]+)\}", r"(?P<\1>[^/]+)", path) + "$")


class StageThrottle:
    """API Gateway's stage throttling: a token bucket per throttling ``MethodSettings`` entry
    (:meth:`Template.method_throttles`), the most specific one for each request."""

    def __init__(self, template: Template, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets = {
            key: TokenBucket(*template.throttle_limit(setting))
            for key, setting in template.method_throttles().items()
        }
        self.retry_after: dict[str, str] = {}
        for _, api in template.of_type("AWS::Serverless::Api"):
            throttled = api.get("Properties", {}).get("GatewayResponses", {}).get("THROTTLED", {})
            for name, value in throttled.get("ResponseParameters", {}).get("Headers", {}).items():
                self.retry_after[name] = str(value).strip("'")
        self._lock = threading.Lock()

    @property
    def limits(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(resource path, method) -> (requests per second, burst)."""
        return {key: (bucket.rate, bucket.burst) for key, bucket in self.buckets.items()}

    @property
    def throttled(self) -> int:
        return sum(bucket.throttled for bucket in self.buckets.values())

    def admit(self, resource: str, method: str) -> bool:
        """Take a token for one request, or count it throttled (False)."""
        key = most_specific(self.buckets, resource, method)
        if key is None:
            return True
        with self._lock:
            return self.buckets[key].try_take(self.clock())

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = _json(429, {"message": "Too Many Requests"})
        return status, {**headers, **self.retry_after}, body


class FramingError(Exception):
    """A request whose body cannot be read as its headers frame it: answered ``status`` with
    a JSON message, and the connection closed (where the next request starts is unknown)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


AdminRoute = Callable[[], tuple[int, Any]]


class _Server(ThreadingHTTPServer):
    """http.server's threading server with a listen backlog for hundreds of clients (its
    default is 5: the sixth simultaneous connect was reset) and at most ``max_threads``
    connections served at once (the others wait, accepted, for a free thread); it knows its
    open connections, to close the idle ones when it stops."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    block_on_close = False  # close() below waits for requests in progress, not idle sockets

    def __init__(self, address: tuple[str, int], handler: type, max_threads: int) -> None:
        self.slots = threading.BoundedSemaphore(max_threads)
        self.closing = threading.Event()
        self.connections: set[socket.socket] = set()
        self.busy = 0  # requests being answered (not idle kept-alive connections)
        self.idle = threading.Condition()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self.slots.acquire(timeout=0.05):
            if self.closing.is_set():
                self.shutdown_request(request)
                return
        with self.idle:
            self.connections.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread: give the slot back
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self.idle:
            self.connections.discard(request)
        self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written is not the server's error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def request_started(self) -> None:
        with self.idle:
            self.busy += 1

    def request_done(self) -> None:
        with self.idle:
            self.busy -= 1
            self.idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` for the requests in progress to be answered, then close
        every connection (idle kept-alive ones wake up and end); returns those still busy."""
        with self.idle:
            self.idle.wait_for(lambda: self.busy == 0, timeout)
            busy, open_now = self.busy, list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        return busy


class LocalApi:
    """An HTTP server on 127.0.0.1 dispatching to in-process handlers; a context manager.

    It answers as API Gateway does: headers reach the handler as sent (no Content-Type is
    made up), a body framed by ``Content-Length`` or sent chunked is read whole (at most
    ``MAX_BODY``: 413), and framing it cannot read (a length that is not a number, a body
    shorter than its length after ``body_timeout`` seconds, a malformed chunk) is a 4xx with a
    JSON message, never a dropped connection. A handler that raises is a 502. Up to
    ``max_threads`` connections are served at once, ``LISTEN_BACKLOG`` more wait to be
    accepted; a kept-alive connection idle for ``idle_timeout`` seconds is closed.
    ``admin`` routes (a path outside the stage, e.g. ``/health``) answer GETs with
    ``(status, JSON body)``; :meth:`mount` adds one later.
    """

    def __init__(
        self,
        template: Template,
        resolve: Callable[[str], Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_threads: int = MAX_THREADS,
        body_timeout: float = BODY_TIMEOUT_S,
        idle_timeout: float = IDLE_TIMEOUT_S,
        admin: Mapping[str, AdminRoute] | None = None,
    ) -> None:
        self.routes = routes(template)
        self.throttle = StageThrottle(template, clock)
        self.resolve = resolve
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.admin: dict[str, AdminRoute] = dict(admin or {})
        self._statuses: Counter[str] = Counter()  # "POST /orders 201": stage responses
        self._counting = threading.Lock()
        self._server = _Server((host, port), self._request_handler(), max_threads)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The stage's base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"{self.root}/v1"

    @property
    def root(self) -> str:
        """The server's URL, where admin routes are (``http://127.0.0.1:PORT``)."""
        host, port = self._server.server_address[:2]
        name = host if isinstance(host, str) else bytes(host).decode()  # bytes: never for TCP
        return f"http://{name}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def mount(self, path: str, route: AdminRoute) -> None:
        """Answer ``GET path`` (outside the stage) with ``route()``: (status, JSON body)."""
        self.admin[path] = route

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        attributes = {"api": self, "timeout": self.idle_timeout}
        return type("RequestHandler", (_RequestHandler,), attributes)

    def answer_admin(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            status, body = self.admin[path]()
        except Exception as error:  # an admin route that fails says why, as a 500
            status, body = 500, {"message": f"{type(error).__name__}: {error}"}
        return status, {"Content-Type": "application/json"}, json.dumps(body, default=str).encode()

    @property
    def statuses(self) -> Counter[str]:
        """Responses of the stage so far, by method, resource and status (a copy):
        ``"POST /orders 201"``; a path no route has counts as its method and ``?``."""
        with self._counting:
            return Counter(self._statuses)

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Route one request; returns (status, headers, body)."""
        resource, (status, response_headers, response_body) = self._dispatch(
            method, raw_path, headers, body
        )
        with self._counting:
            self._statuses[f"{method} {resource} {status}"] += 1
        return status, response_headers, response_body

    def _dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[str, tuple[int, dict[str, str], bytes]]:
        if body is not None and len(body) > MAX_BODY:
            return "?", _json(413, {"message": "Request Too Long"})
        url = urlsplit(raw_path)
        # Routes match the path as sent (an encoded "/" stays inside its segment); the event
        # carries it percent-decoded, path parameters too, as API Gateway passes them.
        path = url.path.removeprefix("/v1")
        for route_method, pattern, resource, function_id in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                if not self.throttle.admit(resource, method):
                    return resource, self.throttle.response()
                event = proxy_event(
                    method,
                    unquote(path),
                    None,
                    headers,
                    # `?limit=` reaches the handler as "" (as API Gateway passes it), not absent.
                    query=dict(parse_qsl(url.query, keep_blank_values=True)) or None,
                    raw_body=body if body is not None else None,
                    content_type=None,  # headers as sent: no Content-Type made up
                )
                event["resource"] = event["requestContext"]["resourcePath"] = resource
                event["pathParameters"] = {
                    name: unquote(value) for name, value in match.groupdict().items()
                } or None
                try:
                    response = self.resolve(function_id)(event, LambdaContext(function_id))
                    return resource, _from_proxy(response)
                except Exception:  # the function failed: API Gateway's answer to that
                    logging.getLogger(__name__).exception("%s failed", function_id)
                    return resource, _json(502, {"message": "Internal server error"})
        allowed = sorted({m for m, pattern, _, _ in self.routes if pattern.match(path)})
        if not allowed:
            return "?", _json(404, {"message": "Missing Authentication Token"})
        status, response_headers, response_body = _json(405, {"message": "Method Not Allowed"})
        return "?", (status, {**response_headers, "Allow": ", ".join(allowed)}, response_body)

    def __enter__(self) -> LocalApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-order-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self, grace_s: float = 10.0) -> int:
        """Stop accepting connections, let the requests in progress finish (up to ``grace_s``
        seconds), close the idle ones; returns how many requests were still in progress.
        Closing again does nothing more."""
        if self._server.closing.is_set():
            return 0
        self._server.closing.set()
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()  # the listening socket: new connections are refused
        return self._server.drain(grace_s)


def read_body(headers: Any, stream: Any) -> bytes | None:
    """A request's body as its headers (an ``email.message.Message``) frame it: chunked,
    ``Content-Length`` bytes, or none; :class:`FramingError` when that cannot be read."""
    codings = _tokens(headers.get_all("Transfer-Encoding") or [])
    lengths = _tokens(headers.get_all("Content-Length") or [])
    if codings and lengths:  # ambiguous framing (the shape of request smuggling)
        raise FramingError(400, "Content-Length and Transfer-Encoding together")
    if codings:
        if codings[-1] != "chunked":
            raise FramingError(400, "Transfer-Encoding must end with chunked")
        if codings != ["chunked"]:
            raise FramingError(501, f"Transfer-Encoding {', '.join(codings[:-1])} unsupported")
        return _read_chunked(stream)
    if not lengths:
        return None
    length = _content_length(lengths)
    if length > MAX_BODY:
        raise FramingError(413, "Request Too Long")
    return _read_exactly(stream, length) if length else None


def _tokens(values: list[str]) -> list[str]:
    """Comma-separated header values, each stripped and lowercased, from every copy."""
    return [token.strip().lower() for value in values for token in value.split(",")]


def _content_length(values: list[str]) -> int:
    """Content-Length as RFC 9112 allows it: digits, the same number in every copy."""
    if not all(re.fullmatch(r"[0-9]{1,18}", value) for value in values):
        raise FramingError(400, f"Content-Length must be a number of bytes, got {values[0]!r}")
    if len(set(map(int, values))) > 1:
        raise FramingError(400, "Content-Length given twice with different values")
    return int(values[0])


def _read_exactly(stream: Any, length: int) -> bytes:
    data = stream.read(length)
    if len(data) < length:  # the client closed its side before the length it announced
        raise FramingError(400, f"the body ended after {len(data)} of {length} bytes")
    return bytes(data)


def _read_chunked(stream: Any) -> bytes:
    """A chunked body (RFC 9112 7.1): hex sizes with optional extensions, then trailers."""
    body = bytearray()
    while True:
        line = stream.readline(MAX_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            raise FramingError(400, "a chunk size line is missing or too long")
        size_text = line.split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
            raise FramingError(400, f"malformed chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > MAX_BODY:
            raise FramingError(413, "Request Too Long")
        body += _read_exactly(stream, size)
        if stream.readline(3) not in (b"\r\n", b"\n"):
            raise FramingError(400, "a chunk is longer than its size")
    for _ in range(MAX_TRAILERS + 1):  # trailer fields (ignored), up to an empty line
        trailer = stream.readline(MAX_CHUNK_LINE + 1)
        if trailer in (b"\r\n", b"\n"):
            return bytes(body)
        if not trailer.endswith(b"\n"):
            raise FramingError(400, "the chunked body ended without its last line")
    raise FramingError(400, "too many trailer fields")


class _RequestHandler(BaseHTTPRequestHandler):
    """One connection of :class:`LocalApi`'s server: its requests, one after another."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body
    # back for the client's delayed ACK, 40 ms a response on a kept-alive connection.
    disable_nagle_algorithm = True
    api: LocalApi  # set by LocalApi for its server, with ``timeout`` (idle keep-alive)
    server: _Server

    def log_message(self, *_args: Any) -> None:  # quiet, like a Lambda proxy
        return

    counted = False  # this request is in progress (its request line has come)

    def parse_request(self) -> bool:
        self.counted = True
        self.server.request_started()
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            if self.counted:
                self.counted = False
                self.server.request_done()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a bad request line, headers too long) as API
        Gateway words them: JSON, not an HTML page; the connection then closes."""
        text = message or self.responses.get(code, ("Error",))[0]
        if self.request_version == "HTTP/0.9":  # a request line it could not read
            self.request_version = self.protocol_version  # answered with a status line
        self._respond(*_json(code, {"message": text}), close=True)

    def _serve(self) -> None:
        try:
            body = self._body()
        except FramingError as error:
            self._respond(*_json(error.status, {"message": error.message}), close=True)
            return
        if self.command == "GET" and urlsplit(self.path).path in self.api.admin:
            self._respond(*self.api.answer_admin(urlsplit(self.path).path))
            return
        self._respond(*self.api.dispatch(self.command, self.path, dict(self.headers.items()), body))

    def _respond(
        self, status: int, headers: dict[str, str], body: bytes, close: bool = False
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":  # a HEAD response has headers only
            self.wfile.write(body)

    def _body(self) -> bytes | None:
        """The body as the headers frame it, read whole (the socket waits at most
        ``body_timeout`` for each part of it)."""
        self.connection.settimeout(self.api.body_timeout)
        try:
            return read_body(self.headers, self.rfile)
        except TimeoutError:
            raise FramingError(
                400, f"the body did not arrive within {self.api.body_timeout:g} s"
            ) from None
        finally:
            self.connection.settimeout(self.api.idle_timeout)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method (HEAD, OPTIONS, TRACE, QUERY, ...) reaches dispatch too, so a
        # method the route lacks is a 405 with `Allow`, not http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _from_proxy(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    headers = dict(response.get("headers") or {})
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key] = ",".join(values)
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return response["statusCode"], headers, base64.b64decode(body)
    return response["statusCode"], headers, body.encode()


def _text_or_bytes(body: bytes | None) -> str | bytes | None:
    """Text bodies pass as text; anything not UTF-8 goes base64-encoded, as API Gateway does."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
