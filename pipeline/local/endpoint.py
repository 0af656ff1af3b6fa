"""The local cloud: moto, reached through one of two transports behind one switch.

* ``"inprocess"`` (:class:`InProcessEndpoint`): ``moto.mock_aws`` in this process. botocore
  still builds, signs and serialises every request and parses every response, as over HTTP;
  only the socket and the HTTP server go. For tests, the demo, notebooks and simulations.
* ``"http"`` (:class:`LocalEndpoint`): moto's server on a free loopback port, for clients
  outside the process (the AWS CLI, the deployer's ``--endpoint``, a long-running stack).

Both put the same gate in front of moto. moto's backends take no lock: a DynamoDB transaction
there checks conditions, writes, and on failure restores a copy of the table, so nothing but
the GIL's scheduling keeps two concurrent requests from interleaving. Real DynamoDB applies
each request atomically, so the gate serialises DynamoDB requests explicitly (and only those:
an SQS long poll must not block everything else). It also throttles DynamoDB data-plane calls
on request, hands Step Functions' StartExecution to the local runtime, and keeps statistics.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import io
import json
import logging
import os
import random
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from moto import mock_aws

# On import, moto registers its stubber for botocore's before-send event in every session
# made from then on (a session made earlier would call AWS itself, even "in process").
from moto.core.models import MockAWS, botocore_stubber
from werkzeug.serving import BaseWSGIServer, make_server

from pipeline.local import moto_fixes, moto_speedups

LOOPBACK = "127.0.0.1"

Transport = Literal["inprocess", "http"]
DEFAULT_TRANSPORT: Transport = "inprocess"

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
THROTTLED = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"

Reply = tuple[int, dict[str, str], bytes]  # status, headers, body
T = TypeVar("T")


def _json_reply(status: int, body: dict[str, Any]) -> Reply:
    payload = json.dumps(body, default=str).encode()
    return status, {"Content-Type": "application/x-amz-json-1.0"}, payload


class _Gate:
    """What the local cloud adds in front of moto, whichever the transport."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.start_execution: StartExecution | None = None
        self.busy_s = 0.0  # time spent inside moto (for the share-of-time benchmark)
        self.requests = 0
        self.by_operation: dict[str, list[float]] = {}  # operation -> [calls, seconds in moto]
        self.throttle_rate = 0.0
        self.throttle_rng = random.Random(0)
        self.throttled = 0

    def intercept(self, target: str, body: Callable[[], bytes]) -> Reply | None:
        """The answer when moto is not asked: a handed-off StartExecution or a throttle."""
        if target == START_EXECUTION and self.start_execution is not None:
            return self._start_execution(json.loads(body() or b"{}"))
        if target.split(".")[-1] in DATA_PLANE and self.throttle_rng.random() < self.throttle_rate:
            self.throttled += 1
            message = "Throughput exceeds the current capacity (injected)"
            return _json_reply(400, {"__type": THROTTLED, "message": message})
        return None

    def serve(self, target: str, operation: str, moto: Callable[[], T]) -> T:
        """``moto()``, one DynamoDB request at a time, timed."""
        started = time.perf_counter()
        try:
            if target.startswith(("DynamoDB_", "DynamoDBStreams_")):
                with self.lock:
                    return moto()
            return moto()
        finally:
            elapsed = time.perf_counter() - started
            self.busy_s += elapsed
            self.requests += 1
            tally = self.by_operation.setdefault(operation, [0, 0.0])
            tally[0] += 1
            tally[1] += elapsed

    def _start_execution(self, request: dict[str, Any]) -> Reply:
        assert self.start_execution is not None
        try:
            return _json_reply(200, self.start_execution(request))
        except LookupError as error:  # the runtime does not know that state machine
            return _json_reply(400, {"__type": "StateMachineDoesNotExist", "message": str(error)})
        except ValueError as error:  # same name, different input
            return _json_reply(400, {"__type": "ExecutionAlreadyExists", "message": str(error)})


def _operation(method: str, path: str, target: str) -> str:
    """``DynamoDB_20120810.Query``-style name, or method and first path segment for REST."""
    if target:
        return target
    return f"{method} /{path.strip('/').split('/', 1)[0]}"


class _AtomicDynamoDB:
    """WSGI middleware: the gate in front of moto's server app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.gate = _Gate()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        reply = self.gate.intercept(
            target, lambda: environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        )
        if reply is not None:
            status, headers, payload = reply
            reason = "OK" if status == 200 else "Bad Request"
            start_response(
                f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(payload)))]
            )
            return [payload]
        operation = _operation(
            environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "/"), target
        )
        # Materialise the body inside the lock: the backend runs while it is produced.
        return self.gate.serve(target, operation, lambda: list(self.app(environ, start_response)))


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

    class KeepAliveHandler(handler):
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


class Endpoint(ABC):
    """The local cloud's interface, whichever the transport; use as a context manager.

    Entering starts a new, empty cloud (moto's backends are reset: they live in this process,
    not in the server). Make clients with :meth:`client`, and give in-process Lambda handlers
    :attr:`environment`.
    """

    transport: Transport

    def __init__(self) -> None:
        self._gate: _Gate | None = None

    @property
    def url(self) -> str | None:
        """The ``endpoint_url`` clients need: None when there is nothing to point them at."""
        return None

    @property
    def environment(self) -> dict[str, str]:
        """Variables a handler's ``boto3.client(...)`` needs to reach this cloud."""
        return {} if self.url is None else {"AWS_ENDPOINT_URL": self.url}

    def client(self, session: Any, service: str, **kwargs: Any) -> Any:
        """``session.client(service)`` reaching this cloud."""
        return session.client(service, endpoint_url=self.url, **kwargs)

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def stats(self) -> tuple[int, float]:
        """(requests served, seconds spent serving them inside moto)."""
        if self._gate is None:
            return 0, 0.0
        return self._gate.requests, self._gate.busy_s

    @property
    def operations(self) -> dict[str, tuple[int, float]]:
        """Per operation: (requests served, seconds inside moto)."""
        if self._gate is None:
            return {}
        return {op: (int(n), s) for op, (n, s) in self._gate.by_operation.items()}

    @property
    def throttled(self) -> int:
        return self._gate.throttled if self._gate else 0

    def throttle_dynamodb(self, rate: float, seed: int = 0) -> None:
        """Answer this share of DynamoDB data-plane calls with ProvisionedThroughputExceeded."""
        gate = self._started()
        gate.throttle_rate = rate
        gate.throttle_rng = random.Random(seed)

    def suspend(self) -> None:
        """Let other local clouds of this process run meanwhile."""
        return  # a server on loopback serves alongside them: nothing to step aside from

    def resume(self) -> None:
        """Serve again after :meth:`suspend`."""
        return

    def take_start_execution(self, handler: StartExecution | None) -> None:
        """Route Step Functions StartExecution calls to ``handler`` (the local runtime)."""
        self._started().start_execution = handler

    def reset(self) -> None:
        """Forget every resource."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def _started(self) -> _Gate:
        if self._gate is None:
            raise RuntimeError("endpoint not started")
        return self._gate

    def __enter__(self) -> Self:
        self.start()
        self.reset()  # a new endpoint is a new, empty cloud
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalEndpoint(Endpoint):
    """moto's server on ``127.0.0.1`` and a free port; resources outlive :meth:`stop` (in
    this process) until the next endpoint starts."""

    transport: Transport = "http"

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("endpoint not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> Self:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        # moto.moto_server has no __init__.py: imported by name, so mypy need not resolve it.
        werkzeug_app = importlib.import_module("moto.moto_server.werkzeug_app")
        moto_speedups.install()
        moto_fixes.install()
        app = _AtomicDynamoDB(
            werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
        )
        self._gate = app.gate
        self._server = make_server(
            self.host,
            self.port,
            app,
            threaded=True,
            request_handler=_keep_alive(werkzeug_app.MotoRequestHandler),
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for a poll: not half a second
            name="local-aws-endpoint",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"  # and AWS_ENDPOINT_URL_<SERVICE>: a prefix
_active: list[InProcessEndpoint] = []  # at most one: moto's stubber is process-wide


class InProcessEndpoint(Endpoint):
    """moto in this process (``mock_aws``): no socket, no server, no ``endpoint_url``.

    Every boto3 client of the process reaches moto through the one stubber moto registers for
    botocore's ``before-send`` event (in ``BUILTIN_HANDLERS``, so in every session made after
    this module is imported). The gate wraps that stubber's dispatch while the endpoint runs:
    clients made before it started, by the caller or by Lambda handlers with
    ``boto3.client(...)``, all pass through it.

    While it runs, ``AWS_ENDPOINT_URL*`` is unset (a client given an endpoint URL would leave
    moto: such a request fails loudly) and moto's fake credentials are in the environment.
    Leaving forgets every resource (moto's ``mock_aws`` removes its data) and restores both.
    One at a time per process; :meth:`suspend` steps aside for another and keeps the data.
    """

    transport: Transport = "inprocess"

    def __init__(self) -> None:
        super().__init__()
        self._mock: MockAWS | None = None
        self._saved: dict[str, str] = {}

    def start(self) -> Self:
        return self._attach(reset=True)

    def stop(self) -> None:
        self._detach(remove_data=True)

    def suspend(self) -> None:
        """Step aside, keeping every resource: until :meth:`resume`, other in-process mocks
        (``mock_aws``, another endpoint) may run. One that starts resets moto, so whoever
        resumes checks that what they left is still there."""
        self._detach(remove_data=False)

    def resume(self) -> None:
        """Serve again what :meth:`suspend` left (as it is now), through the same gate."""
        self._attach(reset=False)

    def _attach(self, reset: bool) -> Self:
        if _active:
            raise RuntimeError("an in-process endpoint is already running")
        moto_speedups.install()
        moto_fixes.install()
        self._saved = {
            name: os.environ.pop(name)
            for name in list(os.environ)
            if name.startswith(_ENDPOINT_VARIABLE)
        }
        self._mock = mock_aws()
        self._mock.start(reset=reset)
        if reset or self._gate is None:
            self._gate = _Gate()
        gate, moto = self._gate, botocore_stubber.process_request

        def process_request(request: Any) -> Any:
            headers = request.headers
            target = (headers.get("X-Amz-Target") or b"").decode()
            reply = gate.intercept(target, lambda: _bytes(request.body))
            if reply is not None:
                return reply
            operation = _operation(request.method, urlsplit(request.url).path, target)
            response = gate.serve(target, operation, lambda: moto(request))
            if response is None:
                raise RuntimeError(
                    f"{request.url} is not an AWS endpoint: with the in-process transport, "
                    "clients take no endpoint_url and AWS_ENDPOINT_URL is unset"
                )
            return response

        # An instance attribute shadows the method: moto's __call__ (its before-send handler)
        # and its `responses` callback both dispatch through it.
        botocore_stubber.process_request = process_request  # type: ignore[method-assign]
        _active.append(self)
        return self

    def _detach(self, remove_data: bool) -> None:
        if self not in _active:
            return
        _active.remove(self)
        vars(botocore_stubber).pop("process_request", None)
        try:
            if self._mock is not None:
                self._mock.stop(remove_data=remove_data)
        finally:
            os.environ.update(self._saved)
            self._mock = None


def _bytes(body: bytes | str | None) -> bytes:
    return body if isinstance(body, bytes) else (body or "").encode()


_HTTP_PORT: contextvars.ContextVar[int] = contextvars.ContextVar("http_port", default=0)


@contextlib.contextmanager
def http_port(port: int) -> Iterator[None]:
    """HTTP endpoints made inside (by :func:`local_endpoint`, so by a local cloud or runtime
    deployed meanwhile) listen on ``port`` instead of a free one: a long-running stack's
    fixed address (``python -m pipeline serve --aws-port``)."""
    token = _HTTP_PORT.set(port)
    try:
        yield
    finally:
        _HTTP_PORT.reset(token)


def local_endpoint(transport: Transport = DEFAULT_TRANSPORT) -> Endpoint:
    """The local cloud over ``transport``: ``"inprocess"`` or ``"http"`` (on a free port,
    or the one :func:`http_port` sets)."""
    if transport == "inprocess":
        return InProcessEndpoint()
    if transport == "http":
        return LocalEndpoint(port=_HTTP_PORT.get())
    raise ValueError(f"unknown transport {transport!r}: 'inprocess' or 'http'")
