"""One DynamoDB GetItem and PutItem through each transport of the local cloud.

In process (``mock_aws``, botocore unchanged but no socket) against moto's server on loopback:
our endpoint (kept-alive connections) and moto's own ``ThreadedMotoServer`` (a connection per
call), with bare ``mock_aws`` (no gate) for the cost of the gate itself.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3

from pipeline.local.endpoint import Transport, local_endpoint

CALLS = 1_000
ROUNDS = 10
TABLE = "bench"


def _session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@contextlib.contextmanager
def _bare_mock() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield _session().client("dynamodb")


@contextlib.contextmanager
def _gated(transport: Transport) -> Iterator[Any]:
    with local_endpoint(transport) as endpoint:
        yield endpoint.client(_session(), "dynamodb")


@contextlib.contextmanager
def _moto_server() -> Iterator[Any]:
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    moto_api_backend.reset()  # the tables of the endpoint before: backends are per process
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield _session().client("dynamodb", endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


TRANSPORTS: dict[str, Callable[[], contextlib.AbstractContextManager[Any]]] = {
    "in process (mock_aws + gate)": lambda: _gated("inprocess"),
    "in process (bare mock_aws)": _bare_mock,
    "http (our endpoint, keep-alive)": lambda: _gated("http"),
    "http (moto's ThreadedMotoServer)": _moto_server,
}


def _per_call(call: Callable[[int], Any], calls: int) -> list[float]:
    times = []
    for n in range(calls):
        started = time.perf_counter()
        call(n)
        times.append(time.perf_counter() - started)
    return times


def _get_and_put(dynamodb: Any, calls: int) -> tuple[list[float], list[float]]:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    body = {"body": {"S": "x" * 200}}
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "k"}, **body})  # models loaded, pool open

    def put(n: int) -> None:
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"k{n % 100}"}, **body})

    def get(n: int) -> None:
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"k{n % 100}"}})

    return _per_call(get, calls), _per_call(put, calls)


def measure(calls: int = CALLS, rounds: int = ROUNDS) -> dict[str, tuple[float, float]]:
    """Per transport: median milliseconds of one (GetItem, PutItem). The transports take
    turns, ``rounds`` times, so a busy machine slows them alike."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in TRANSPORTS}
    for _ in range(rounds):
        for name, transport in TRANSPORTS.items():
            with transport() as dynamodb:
                gets, puts = _get_and_put(dynamodb, calls // rounds)
            times[name][0].extend(gets)
            times[name][1].extend(puts)
    return {
        name: (1000 * statistics.median(gets), 1000 * statistics.median(puts))
        for name, (gets, puts) in times.items()
    }


def report(calls: int = CALLS) -> None:
    medians = measure(calls)
    base_get, base_put = medians["in process (mock_aws + gate)"]
    print(f"local cloud transports: median of {calls:,} calls each")
    for name, (get, put) in medians.items():
        print(
            f"    {name:<34} GetItem {get:6.2f} ms ({get / base_get:4.1f}x)"
            f"   PutItem {put:6.2f} ms ({put / base_put:4.1f}x)"
        )


if __name__ == "__main__":
    report()
