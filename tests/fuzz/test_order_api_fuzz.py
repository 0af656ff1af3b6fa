"""API fuzzing (issue 7, item 3): schemathesis against infra/openapi.yaml, over real HTTP.

The local HTTP API (pipeline.local.http_api) serves the order API on loopback against in-process
moto with the template's tables. schemathesis generates requests for every operation from the
spec: the schema's examples, the coverage phase (boundary and invalid values, missing parameters)
and hypothesis fuzzing in both generation modes (positive: valid by the spec; negative: violating
it). Every response must pass schemathesis' checks (no 5xx, documented status code, content type,
headers and body schema, invalid data rejected, valid data accepted, ...) and ours: every 4xx
body is the Error shape naming the offending field, and a rejected request writes nothing (the
server snapshots every table around each request; see `Ledger`).

Deterministic: a fixed seed and `generation.deterministic` (hypothesis' derandomize, no example
database), so `make test` sends the same requests every run. The last test asserts the whole
module sent at least 1,000 requests (`FUZZ_MAX_EXAMPLES`, default 250, is the fuzzing budget per
operation, positive and negative drawn together; raise it for a longer local run).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import schemathesis
from conftest import scan_all
from factories import put_stock, wire_order_api
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from pipeline.handlers import order_api
from pipeline.local.http_api import LocalApi

pytestmark = pytest.mark.system  # fuzzes the order API served over HTTP

SPEC = Path(__file__).resolve().parents[2] / "infra" / "openapi.yaml"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "250"))
MIN_REQUESTS = 1000
# The catalog the fuzzer orders from (SKU: unit price).
SKUS = {"SKU-1": "3.00", "000": "1.00", "AAA": "2.25", "A-1": "9.99", "ZZ-99": "0.50"}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240707,
        "generation": {
            "mode": "all",  # positive and negative (invalid) data
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # No Authorization header, sent or withheld: SigV4 is checked by API Gateway's
            # AWS_IAM authorizer before the function runs, and the local server, like `sam local
            # start-api`, has none. (Withheld, schemathesis would expect a 401; API Gateway
            # answers 403, so the check could not pass against the deployed API either.)
            "with-security-parameters": False,
        },
        # Half the order lines name a stocked SKU, so valid orders get placed (201), replayed
        # (200) and listed, as well as refused as unknown (422).
        "dictionaries": {"stocked-skus": {"values": sorted(SKUS)}},
        "parameters": {"body.lines[*].sku": {"dictionary": "stocked-skus", "probability": 0.5}},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},  # the spec declares no links
        },
        "checks": {
            # Authentication is API Gateway's (DefaultAuthorizer: AWS_IAM, SigV4), not the
            # handler's: the local server, like `sam local start-api`, has no authorizer, so a
            # request without Authorization is served. Nothing of ours to test here.
            "ignored_auth": {"enabled": False},
        },
        "operations": [
            {
                # A schema-valid order may name a SKU the catalog does not sell: the spec's 422
                # ("well-formed but not acceptable, e.g. an unknown SKU"), not a rejected valid
                # request. 409: a generated Idempotency-Key reused with another body.
                "include-operation-id": "placeOrder",
                "checks": {"positive_data_acceptance": {"expected-statuses": [200, 201, 409, 422]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    body: bytes
    written: dict[str, Any]


@dataclass
class Ledger:
    """Every request the server handled, and what each one changed in the tables."""

    snapshot: Any
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, handler: Any) -> Any:
        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.lock:  # one request at a time, so a diff is this request's own
                before = self.snapshot()
                response = handler(event, context)
                after = self.snapshot()
                self.exchanges.append(
                    Exchange(
                        event["httpMethod"],
                        event["path"],
                        response["statusCode"],
                        (response.get("body") or "").encode(),
                        _diff(before, after),
                    )
                )
            return response

        return handle


def snapshot(tables: dict[str, str]) -> dict[str, list[Any]]:
    """Every item of every table, as conftest.scan_all returns them, read from moto's memory.

    Taken twice per request, so it skips the DynamoDB API: a scan through botocore and moto's
    HTTP layer costs ~40 ms a snapshot under load, this well under 1 ms. The fixture checks it
    against scan_all before and after the run.
    """
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return {
        logical_id: sorted(
            (item.to_json()["Attributes"] for item in backend.get_table(name).all_items()),
            key=repr,
        )
        for logical_id, name in tables.items()
    }


def _diff(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> dict[str, Any]:
    out = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, []), after.get(table, [])
        if old != new:
            added = [item for item in new if item not in old]
            removed = [item for item in old if item not in new]
            out[table] = {"added": added, "removed": removed}
    return out


@dataclass
class Fuzz:
    url: str
    ledger: Ledger
    session: requests.Session
    scanned: Callable[[], bool]  # the fast snapshot agrees with scan_all
    sent: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def fuzz(template):
    with mock_aws():
        from pipeline.local.provision import provision

        session = boto3.Session(region_name="us-east-1")
        stack = provision(template, session)
        dynamodb = session.client("dynamodb")
        for sku, price in SKUS.items():
            put_stock(dynamodb, stack.ref("InventoryTable"), sku, 1_000_000, price)
        wire_order_api(dynamodb, stack)
        tables = {lid: stack.ref(lid) for lid, _ in template.of_type("AWS::DynamoDB::Table")}
        assert snapshot(tables) == scan_all(session, stack, template)
        ledger = Ledger(lambda: snapshot(tables))
        api = LocalApi(template, lambda _function_id: ledger.wrap(order_api.lambda_handler))
        try:
            with api, requests.Session() as http:
                yield Fuzz(
                    api.url,
                    ledger,
                    http,
                    lambda: snapshot(tables) == scan_all(session, stack, template),
                )
        finally:
            order_api.wiring.configure(None)


# --------------------------------------------------------------------------- our checks


def make_error_body_check(fuzz: Fuzz, first: int) -> Any:
    def error_body_names_the_field(ctx: Any, response: Any, case: Any) -> None:
        """A 4xx is JSON; the order API's own is {"error", "message", "field"} naming the field.

        A 4xx the gateway answers before any function runs (an undeclared method: 405 with
        `Allow`) has API Gateway's shape, {"message"}: it names no request field.
        """
        if not 400 <= response.status_code < 500:
            return
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), f"{content_type!r} error body"
        body = json.loads(response.content)
        assert isinstance(body, dict), f"error body is not an object: {body!r}"
        if not any(e.status == response.status_code for e in fuzz.ledger.exchanges[first:]):
            assert set(body) == {"message"} and body["message"], f"gateway error body: {body}"
            return
        assert set(body) == {"error", "message", "field"}, f"error body keys: {sorted(body)}"
        assert isinstance(body["error"], str) and body["error"], "error names no error"
        assert isinstance(body["message"], str) and body["message"], "error has no message"
        assert isinstance(body["field"], str) and body["field"], f"names no field: {body}"

    return error_body_names_the_field


def make_nothing_written_check(fuzz: Fuzz, first: int) -> Any:
    def rejected_request_wrote_nothing(ctx: Any, response: Any, case: Any) -> None:
        """Every request the server rejected (4xx) since this case was sent changed no table."""
        for exchange in fuzz.ledger.exchanges[first:]:
            if 400 <= exchange.status < 500:
                assert not exchange.written, (
                    f"{exchange.method} {exchange.path} -> {exchange.status} wrote "
                    f"{json.dumps(exchange.written, default=str)[:2000]}"
                )

    return rejected_request_wrote_nothing


# --------------------------------------------------------------------------- the fuzz run


@schema.parametrize()
def test_order_api_conforms_to_its_spec(case, fuzz):
    first = len(fuzz.ledger.exchanges)
    response = case.call(base_url=fuzz.url, session=fuzz.session)
    fuzz.sent[case.operation.label] += 1
    ours = [make_error_body_check(fuzz, first), make_nothing_written_check(fuzz, first)]
    case.validate_response(
        response,
        additional_checks=ours,
        transport_kwargs={"base_url": fuzz.url, "session": fuzz.session},
    )


def test_at_least_1000_requests_were_sent(fuzz):
    """Runs after the fuzz test above (pytest keeps a module's order)."""
    operations = {op.ok().label for op in schema.get_all_operations()}
    missing = operations - set(fuzz.sent)
    if missing:
        pytest.fail(f"run the whole module: no requests were sent for {sorted(missing)}")
    total = sum(fuzz.sent.values())
    statuses = Counter(exchange.status for exchange in fuzz.ledger.exchanges)
    print(f"\nfuzz: {total} generated requests sent {dict(fuzz.sent)}")
    print(f"fuzz: {len(fuzz.ledger.exchanges)} requests served, by status {dict(statuses)}")
    assert total >= MIN_REQUESTS
    assert not [e for e in fuzz.ledger.exchanges if e.status >= 500]
    assert fuzz.scanned(), "the in-memory snapshot disagrees with scan_all"
    assert not [e for e in fuzz.ledger.exchanges if 400 <= e.status < 500 and e.written]
