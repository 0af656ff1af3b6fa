"""One set of seeded local runs shared by the security tests: the AWS calls each function made
(for the IAM comparison) and every line the handlers printed (for the PII search).

The scenarios together reach every path a function has in the pipeline: placing orders and
the happy path (``default``, which also declines some payments and injects throttles,
timeouts and duplicates), the saga's compensations (``carrier-outage``: every label fails, so
stock is released and payments refunded), and dead letters redriven by the remediation
function (``target-outage``). The order API's read routes, which the demo never calls, are
called once each on the same deployed stack.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aws_lambda_powertools import Logger
from factories import put_stock, wire_order_api
from shared_cloud import SharedCloud

import pipeline.demo as demo
from pipeline.faults import scenario as fault_scenario
from pipeline.local.apigw import proxy_event
from pipeline.local.cloud import LocalCloud
from pipeline.local.lambda_context import LambdaContext
from pipeline.template import Template
from security.recording import CallRecorder

SEED = 3
SCENARIOS = [("default", 20), ("carrier-outage", 6), ("target-outage", 6)]


@dataclass
class Runs:
    recorder: CallRecorder
    lines: list[str]  # every line the handlers printed: log records and EMF metrics
    reports: dict[str, demo.DemoReport] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _powertools_loggers() -> list[logging.Logger]:
    found: dict[int, logging.Logger] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("pipeline.") and isinstance(getattr(module, "logger", None), Logger):
            inner = module.logger._logger
            found[id(inner)] = inner
    return list(found.values())


@contextlib.contextmanager
def handler_output(level: str) -> Iterator[io.StringIO]:
    """Everything the handlers print (their loggers at ``level``, the template's LOG_LEVEL,
    metrics, and stderr), into one buffer. Powertools' stream handlers hold the stdout they
    were created with, so they are pointed at the buffer as well."""
    buffer = io.StringIO()
    saved = []
    for inner in _powertools_loggers():
        saved.append((inner, inner.level))
        inner.setLevel(level)
        for handler in inner.handlers:
            if isinstance(handler, logging.StreamHandler):
                saved.append((handler, handler.setStream(buffer)))
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for thing, value in saved:
            if isinstance(thing, logging.StreamHandler):
                thing.setStream(value)
            else:
                thing.setLevel(value)


def log_level(template: Template) -> str:
    return template.globals["Function"]["Environment"]["Variables"]["LOG_LEVEL"]


def call_read_routes(deployed: LocalCloud) -> None:
    """GET routes of the order API (the demo only posts), on the deployed stack."""
    from pipeline.handlers import order_api

    wire_order_api(deployed.client("dynamodb"), deployed.stack, shards=2, prefix="api")
    try:
        context = LambdaContext(function_name="OrderApiFunction")
        for path, query in [
            ("/orders/some-order", None),
            ("/orders", {"status": "CONFIRMED"}),
            ("/customers/cust-001/orders", {"status": "CANCELLED"}),
        ]:
            response = order_api.lambda_handler(proxy_event("GET", path, query=query), context)
            assert response["statusCode"] in (200, 404), response
    finally:
        order_api.wiring.configure(None)


@pytest.fixture(scope="session")
def pipeline_runs(template: Template, shared_cloud: SharedCloud) -> Runs:
    recorder = CallRecorder(template)
    runs = Runs(recorder, [])
    with pytest.MonkeyPatch.context() as patch:  # noqa: SIM117 (`patch` is used by the next)
        with recorder.installed(patch.setattr), handler_output(log_level(template)) as out:
            with shared_cloud.lend() as deployed:
                recorder.learn(deployed.stack.resources)
                for name, orders in SCENARIOS:
                    # Metrics on (the demo turns them off): their lines are searched too.
                    started = time.perf_counter()
                    runs.reports[name] = demo.run_demo(
                        orders=orders,
                        seed=SEED,
                        faults=fault_scenario(name, SEED),
                        environment={"POWERTOOLS_METRICS_DISABLED": "false"},
                        verbose=True,
                        cloud=deployed,
                    )
                    runs.seconds[name] = time.perf_counter() - started
                call_read_routes(deployed)
    runs.lines = out.getvalue().splitlines()
    return runs


@pytest.fixture
def api(aws, stack):
    """The order API handler wired to an in-process moto stack with one SKU in stock."""
    from pipeline.handlers import order_api

    dynamodb = aws.client("dynamodb")
    wire_order_api(dynamodb, stack, shards=2, prefix="api")
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-1", 10, "12.50")
    yield
    order_api.wiring.configure(None)
