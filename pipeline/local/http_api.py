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
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.local.apigw import proxy_event
from pipeline.local.lambda_context import LambdaContext
from pipeline.quotas import TokenBucket
from pipeline.template import Template, most_specific

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def routes(template: Template) -> list[tuple[str, re.Pattern[str], str, str]]:
    """(method, path regex, resource path, function id) for every Api event in the template."""
    out = []
    for function_id, function in template.of_type("AWS::Serverless::Function"):
        for event in function.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            path = event["Properties"]["Path"]
            pattern = re.compile("^" + re.sub(r"\{([^}/]+)\}", r"(?P<\1>[^/]+)", path) + "$")
            out.append((event["Properties"]["Method"].upper(), pattern, path, function_id))
    return out


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


class LocalApi:
    """An HTTP server on 127.0.0.1 dispatching to in-process handlers; a context manager."""

    def __init__(
        self,
        template: Template,
        resolve: Callable[[str], Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes(template)
        self.throttle = StageThrottle(template, clock)
        self.resolve = resolve
        self._server = ThreadingHTTPServer((host, port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host if isinstance(host, str) else bytes(host).decode()  # bytes: never for TCP
        return f"http://{name}:{port}/v1"

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body
            # back for the client's delayed ACK, 40 ms a response on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:  # quiet, like a Lambda proxy
                return

            def _serve(self) -> None:
                status, headers, body = api.dispatch(
                    self.command, self.path, dict(self.headers.items()), self._body()
                )
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD response has headers only
                    self.wfile.write(body)

            def _body(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(min(length, MAX_BODY + 1)) if length else None

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def __getattr__(self, name: str) -> Any:
                # Any other method (HEAD, OPTIONS, TRACE, QUERY, ...) reaches dispatch too, so a
                # method the route lacks is a 405 with `Allow`, not http.server's HTML 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

        return RequestHandler

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Route one request; returns (status, headers, body)."""
        if body is not None and len(body) > MAX_BODY:
            return _json(413, {"message": "Request Too Long"})
        url = urlsplit(raw_path)
        # Routes match the path as sent (an encoded "/" stays inside its segment); the event
        # carries it percent-decoded, path parameters too, as API Gateway passes them.
        path = url.path.removeprefix("/v1")
        for route_method, pattern, resource, function_id in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                if not self.throttle.admit(resource, method):
                    return self.throttle.response()
                event = proxy_event(
                    method,
                    unquote(path),
                    None,
                    headers,
                    # `?limit=` reaches the handler as "" (as API Gateway passes it), not absent.
                    query=dict(parse_qsl(url.query, keep_blank_values=True)) or None,
                    raw_body=body if body is not None else None,
                )
                event["resource"] = event["requestContext"]["resourcePath"] = resource
                event["pathParameters"] = {
                    name: unquote(value) for name, value in match.groupdict().items()
                } or None
                response = self.resolve(function_id)(event, LambdaContext(function_id))
                return _from_proxy(response)
        allowed = sorted({m for m, pattern, _, _ in self.routes if pattern.match(path)})
        if not allowed:
            return _json(404, {"message": "Missing Authentication Token"})
        status, response_headers, response_body = _json(405, {"message": "Method Not Allowed"})
        return status, {**response_headers, "Allow": ", ".join(allowed)}, response_body

    def __enter__(self) -> LocalApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


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
