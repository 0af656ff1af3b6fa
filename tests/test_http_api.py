"""The order API over real HTTP on loopback: routes from the template, proxy events both ways."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest
from factories import put_stock, wire_order_api

from pipeline.handlers import order_api
from pipeline.local.http_api import LocalApi, routes

pytestmark = pytest.mark.system  # the order API served over HTTP


@pytest.fixture
def api(aws, stack, template):
    dynamodb = aws.client("dynamodb")
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-1", 5, "3.00")
    wire_order_api(dynamodb, stack)
    with LocalApi(template, lambda _function_id: order_api.lambda_handler) as running:
        yield running
    order_api.wiring.configure(None)


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


ORDER = json.dumps({"customer_id": "c-1", "lines": [{"sku": "SKU-1", "quantity": 2}]}).encode()
HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "http-key-0001"}


def test_routes_come_from_the_template(template):
    assert {(m, r) for m, _, r, _ in routes(template)} == {
        ("POST", "/orders"),
        ("GET", "/orders"),
        ("GET", "/orders/{order_id}"),
        ("GET", "/customers/{customer_id}/orders"),
    }


def test_place_and_read_an_order_over_http(api):
    status, headers, body = call(f"{api.url}/orders", "POST", ORDER, HEADERS)
    assert (status, body["total"], body["status"]) == (201, "6.00", "PLACED")
    assert headers["Location"] == f"/orders/{body['order_id']}"
    again = call(f"{api.url}/orders", "POST", ORDER, HEADERS)
    assert (again[0], again[2]) == (200, body)
    status, _, fetched = call(f"{api.url}/orders/{body['order_id']}")
    assert (status, fetched) == (200, body)
    status, _, listed = call(f"{api.url}/customers/c-1/orders?status=PLACED")
    assert [o["order_id"] for o in listed["orders"]] == [body["order_id"]]


def test_errors_keep_their_status_and_named_field(api):
    status, _, body = call(f"{api.url}/orders", "POST", b"{not json", HEADERS)
    assert (status, body["field"]) == (400, "body")
    status, _, body = call(f"{api.url}/orders", "POST", b"\xff\xfe", HEADERS)
    assert (status, body["field"]) == (400, "body")
    status, _, body = call(f"{api.url}/orders?status=NOPE")
    assert (status, body["field"]) == (400, "status")


def test_unknown_routes_and_methods(api):
    assert call(f"{api.url}/nothing")[0] == 404
    assert call(f"{api.url}/orders/abc", "POST", b"{}", HEADERS)[0] == 405


# ---------------------------------------------------------------- the server as API Gateway
# These run against LocalApi with a trivial handler that echoes what it was given: no moto.


@pytest.fixture
def echo(template):
    """LocalApi whose function answers with the event's headers and body it received."""
    seen: list[dict] = []

    def resolve(_function_id: str):
        def handler(event, _context):
            seen.append(event)
            text = event["body"]
            if event["isBase64Encoded"]:
                text = base64.b64decode(text).decode()
            body = {"headers": event["headers"], "body": text}
            return {"statusCode": 201, "body": json.dumps(body)}

        return handler

    with LocalApi(template, resolve, body_timeout=0.5) as running:
        running.seen = seen
        yield running


def raw(api: LocalApi, request: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send bytes as they are on one connection; (status, headers, body) of the answer, read
    until the server closes or the length it gave is in."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=timeout) as connection:
        connection.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed with no answer after {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("Content-Length", 0)):
            body += connection.recv(65536)
        return int(lines[0].split()[1]), headers, body


def post(headers: str, body: bytes = b"") -> bytes:
    return f"POST /v1/orders HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


@pytest.mark.unit
def test_two_hundred_concurrent_clients_are_each_answered_on_their_first_connection(echo):
    """http.server's default backlog (5) reset most of 200 simultaneous connects."""
    clients = 200
    barrier = threading.Barrier(clients)
    outcomes: list[str] = []

    def client() -> None:
        barrier.wait()
        try:
            status, _, _ = raw(echo, b"GET /v1/orders/o-1 HTTP/1.1\r\nHost: x\r\n\r\n", 30)
            outcomes.append(str(status))
        except (OSError, AssertionError) as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"201": clients}


@pytest.mark.unit
def test_headers_reach_the_function_as_sent_with_no_content_type_made_up(echo):
    status, _, body = raw(echo, post("Idempotency-Key: k-00000001\r\nContent-Length: 2\r\n", b"{}"))
    received = json.loads(body)
    assert status == 201 and received["body"] == "{}"
    assert not any(name.lower() == "content-type" for name in received["headers"])
    assert received["headers"]["Idempotency-Key"] == "k-00000001"
    status, _, body = raw(echo, post("content-type: text/plain\r\nContent-Length: 2\r\n", b"hi"))
    assert [k for k in json.loads(body)["headers"] if k.lower() == "content-type"] == [
        "content-type"
    ]


@pytest.mark.unit
def test_a_chunked_body_is_decoded_whole(echo):
    chunks = b'4;ext=1\r\n{"a"\r\n5\r\n: [1]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n'
    status, _, body = raw(echo, post("Transfer-Encoding: chunked\r\n", chunks))
    assert (status, json.loads(body)["body"]) == (201, '{"a": [1]}')


@pytest.mark.unit
@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ("Content-Length: abc\r\n", b"{}", 400),  # was a ValueError and a dropped connection
        ("Content-Length: -2\r\n", b"{}", 400),
        ("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}", 400),
        ("Content-Length: 10\r\n", b"{}", 400),  # shorter than announced: the read times out
        (f"Content-Length: {10 * 1024 * 1024 + 1}\r\n", b"", 413),
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding: chunked\r\n", b"2\r\n{}", 400),  # never finished: times out
        ("Transfer-Encoding: chunked\r\n", b"1\r\n{}\r\n0\r\n\r\n", 400),  # longer than said
        ("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"{}", 400),
        ("Transfer-Encoding: gzip\r\n", b"{}", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", 501),
    ],
)
def test_malformed_framing_is_answered_with_json_and_the_connection_closed(
    echo, headers, body, status
):
    answered, response_headers, response_body = raw(echo, post(headers, body))
    assert answered == status
    assert response_headers["Connection"] == "close"
    assert json.loads(response_body)["message"]
    assert echo.seen == []  # the function never ran


@pytest.mark.unit
def test_http_servers_own_errors_are_json_too(echo):
    status, headers, body = raw(echo, b"NOT A REQUEST LINE AT ALL\r\n\r\n")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["message"]


@pytest.mark.unit
def test_a_function_that_raises_is_a_502_and_the_server_keeps_serving(template):
    def resolve(_function_id: str):
        def handler(event, _context):
            if event["httpMethod"] == "POST":
                raise RuntimeError("boom")
            return {"statusCode": 200, "body": "{}"}

        return handler

    with LocalApi(template, resolve) as api:
        status, _, body = raw(api, post("Content-Length: 2\r\n", b"{}"))
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
        assert raw(api, b"GET /v1/orders/o-1 HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200
        assert api.statuses == Counter({"POST /orders 502": 1, "GET /orders/{order_id} 200": 1})


@pytest.mark.unit
def test_admin_routes_answer_outside_the_stage_and_close_stops_accepting(template):
    api = LocalApi(template, lambda _f: lambda _e, _c: {"statusCode": 200, "body": "{}"})
    api.mount("/health", lambda: (200, {"status": "ok"}))
    with api:
        assert call(f"{api.root}/health")[::2] == (200, {"status": "ok"})
        assert call(f"{api.url}/health")[0] == 404  # the stage has no such route
        idle = socket.create_connection(("127.0.0.1", api.port))  # kept open, idle
        assert api.close() == 0
        with contextlib.suppress(ConnectionResetError):  # reset: closed before accepted
            assert idle.recv(10) == b""  # closed by the server
        idle.close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", api.port), timeout=2)
