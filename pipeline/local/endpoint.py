"""An AWS-compatible endpoint on loopback: moto's server on a free port, started and stopped here.

moto's backends take no lock: a DynamoDB transaction there checks conditions, writes, and
on failure restores a copy of the table, so nothing but the GIL's scheduling keeps two
concurrent requests from interleaving. Real DynamoDB applies each request atomically, so this
endpoint serialises DynamoDB requests explicitly (and only those: an SQS long poll must not
block everything else). On moto 5.2.5 the 200-thread reservation test passes either way; the
lock makes the guarantee a property of the endpoint rather than of thread timing.
"""

from __future__ import annotations

import io
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from pipeline.local import moto_fixes, moto_speedups

LOOPBACK = "127.0.0.1"


StartExecution = Callable[[dict[str, Any]], dict[str, Any]]
START_EXECUTION = "AWSStepFunctions.StartExecution"
# DynamoDB operations a throttle can hit (control-plane calls are left alone).
DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)


def _error(start_response: Any, status: str, kind: str, message: str) -> list[bytes]:
    payload = json.dumps({"__type": kind, "message": message}).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


class _AtomicDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, as the service guarantees atomicity;
    and Step Functions' StartExecution handed to the local runtime when it takes them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.start_execution: StartExecution | None = None
        self.busy_s = 0.0  # time spent inside moto (for the share-of-time benchmark)
        self.requests = 0
        self.by_operation: dict[str, list[float]] = {}  # operation -> [calls, seconds in moto]
        self.throttle_rate = 0.0
        self.throttle_rng = random.Random(0)
        self.throttled = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == START_EXECUTION and self.start_execution is not None:
            return self._start_execution(environ, start_response)
        if target.split(".")[-1] in DATA_PLANE and self.throttle_rng.random() < self.throttle_rate:
            self.throttled += 1
            return _error(
                start_response,
                "400 Bad Request",
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "Throughput exceeds the current capacity (injected)",
            )
        started = time.perf_counter()
        try:
            if target.startswith(("DynamoDB_", "DynamoDBStreams_")):
                with self.lock:
                    # Materialise the body inside the lock: the backend runs while it is produced.
                    return list(self.app(environ, start_response))
            return list(self.app(environ, start_response))
        finally:
            elapsed = time.perf_counter() - started
            self.busy_s += elapsed
            self.requests += 1
            tally = self.by_operation.setdefault(_operation(environ, target), [0, 0.0])
            tally[0] += 1
            tally[1] += elapsed

    def _start_execution(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        assert self.start_execution is not None
        try:
            status, body = "200 OK", self.start_execution(request)
        except LookupError as error:  # the runtime does not know that state machine
            status, body = (
                "400 Bad Request",
                {"__type": "StateMachineDoesNotExist", "message": str(error)},
            )
        except ValueError as error:  # same name, different input
            status, body = (
                "400 Bad Request",
                {"__type": "ExecutionAlreadyExists", "message": str(error)},
            )
        payload = json.dumps(body, default=str).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _read_body_whole(environ: dict[str, Any]) -> None:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)


def _keep_alive(handler: type) -> type:
    """moto's request handler, serving many requests per connection.

    Werkzeug's development server answers every request with ``Connection: close`` (then
    drains the socket, waiting up to 10 ms for stray bytes), because http.server cannot skip
    an unread body before the next request line. Here the body is read whole before the app
    runs and every response carries a length, so botocore's pooled connections are reused:
    no TCP connect and no new server thread per API call.
    """

    class KeepAliveHandler(handler):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; with Nagle's algorithm the second waits
            # for the client's delayed ACK (~40 ms) on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.environ = self.make_environ()
            _read_body_whole(environ)
            started: list[Any] = []

            def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
                started[:] = [status, headers]
                return lambda data: None  # the legacy write() callable: unused by moto

            try:
                body = b"".join(self.server.app(environ, start_response))
            except Exception:  # a 500, as werkzeug would, and keep serving
                logging.getLogger(__name__).exception("endpoint error")
                started[:] = ["500 Internal Server Error", [("Content-Type", "text/plain")]]
                body = b"internal error in the local endpoint"
            status, headers = started
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for key, value in headers:
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            if environ["REQUEST_METHOD"] != "HEAD" or not any(
                key.lower() == "content-length" for key, _ in headers
            ):
                self.send_header("Content-Length", str(len(body)))
            else:  # HEAD: the length the GET would have
                self.send_header(
                    "Content-Length", dict((k.lower(), v) for k, v in headers)["content-length"]
                )
            self.end_headers()
            if environ["REQUEST_METHOD"] != "HEAD" and body:
                self.wfile.write(body)

    return KeepAliveHandler


def _operation(environ: dict[str, Any], target: str) -> str:
    """``DynamoDB_20120810.Query``-style name, or method and first path segment for REST."""
    if target:
        return target
    path = environ.get("PATH_INFO", "/").strip("/").split("/", 1)[0]
    return f"{environ.get('REQUEST_METHOD', '?')} /{path}"


class LocalEndpoint:
    """moto's server on ``127.0.0.1`` and a free port; use as a context manager."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: _AtomicDynamoDB | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("endpoint not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LocalEndpoint:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        moto_speedups.install()
        moto_fixes.install()
        app = self._app = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self.host,
            self.port,
            app,
            threaded=True,
            request_handler=_keep_alive(MotoRequestHandler),
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-aws-endpoint", daemon=True
        )
        self._thread.start()
        return self

    @property
    def stats(self) -> tuple[int, float]:
        """(requests served, seconds spent serving them inside moto)."""
        if self._app is None:
            return 0, 0.0
        return self._app.requests, self._app.busy_s

    @property
    def operations(self) -> dict[str, tuple[int, float]]:
        """Per operation: (requests served, seconds inside moto)."""
        if self._app is None:
            return {}
        return {op: (int(n), s) for op, (n, s) in self._app.by_operation.items()}

    @property
    def throttled(self) -> int:
        return self._app.throttled if self._app else 0

    def throttle_dynamodb(self, rate: float, seed: int = 0) -> None:
        """Answer this share of DynamoDB data-plane calls with ProvisionedThroughputExceeded."""
        if self._app is None:
            raise RuntimeError("endpoint not started")
        self._app.throttle_rate = rate
        self._app.throttle_rng = random.Random(seed)

    def take_start_execution(self, handler: StartExecution | None) -> None:
        """Route Step Functions StartExecution calls to ``handler`` (the local runtime)."""
        if self._app is None:
            raise RuntimeError("endpoint not started")
        self._app.start_execution = handler

    def reset(self) -> None:
        """Forget every resource: moto's backends live in the process, not in the server."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LocalEndpoint:
        self.start()
        self.reset()  # a new endpoint is a new, empty cloud
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
