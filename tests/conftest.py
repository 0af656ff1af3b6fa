"""Shared fixtures: moto-backed AWS, the template's resources, and helpers to snapshot stores."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

# Credentials and region for moto; set before any client exists. Tracing off in tests.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineTests",
        "POWERTOOLS_SERVICE_NAME": "order-pipeline-tests",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from moto import mock_aws
from shared_cloud import SharedCloud

from pipeline.local.cloud import LocalCloud
from pipeline.local.lambda_context import LambdaContext
from pipeline.local.provision import Stack, provision
from pipeline.template import Template
from pipeline.variants import VARIANTS

# One loader of botocore's service models for every session the tests make (a fixture's, a
# handler's, the local endpoint's): each new session would parse the models' JSON again,
# most of the cost of provisioning a stack. The models are read-only, as within one session.
botocore.session.create_loader = functools.cache(botocore.session.create_loader)

SYSTEM_MODULE = "pytestmark = pytest.mark.system"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m unit` skips importing a module marked `system` as a whole (every test of it would
    be deselected anyway): the unit tier starts seconds sooner."""
    if config.option.markexpr.strip() != "unit" or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix != ".py" or not collection_path.is_file():
        return None
    lines = collection_path.read_text().splitlines()
    return True if any(line.startswith(SYSTEM_MODULE) for line in lines) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests on the session's deployed stack run one after another (see
    :class:`SharedCloud`). Then two tiers. A test is `system` when its module says so
    (``pytestmark = pytest.mark.system``: it deploys or serves a local stack, runs the demo or
    chaos, starts a subprocess or runs a long simulation) or it is a notebook cell (nbval);
    every other test is `unit` (in-process, moto in memory), the tier `make check` runs."""
    tests = Path(__file__).resolve().parent
    for item in items:
        if item.get_closest_marker("system") is None and tests not in item.path.parents:
            item.add_marker(pytest.mark.system)  # a notebook run by nbval
        if item.get_closest_marker("system") is None:
            item.add_marker(pytest.mark.unit)
    _shared_cloud_tests_together(items)


def _uses_shared_cloud(item: pytest.Item) -> bool:
    """Whether the test's fixtures include the session's stack (`cloud` asks for it; a
    module's own fixture named `cloud`, as in the saga properties, does not)."""
    return "shared_cloud" in getattr(item, "fixturenames", ())


def _shared_cloud_tests_together(items: list[pytest.Item]) -> None:
    """The tests that use the shared cloud, one after another, where the first of them was;
    then the other tests of their modules (which may reset moto: a mock or an endpoint of
    their own). Between two loans nothing else runs, so one deployment serves them all.
    Correctness never depends on this order, only speed."""
    users = [item for item in items if _uses_shared_cloud(item)]
    if not users:
        return
    users.sort(key=_variant)  # stable: one deployment per variant
    modules, lent = {item.path for item in users}, set(users)
    first = next(n for n, item in enumerate(items) if item.path in modules)
    neighbours = [item for item in items if item.path in modules and item not in lent]
    rest = [item for item in items if item.path not in modules]
    items[:] = rest[:first] + users + neighbours + rest[first:]


def _variant(item: pytest.Item) -> str:
    """The design variant a test of the shared stack runs on (its ``variant`` parameter)."""
    callspec = getattr(item, "callspec", None)
    return "default" if callspec is None else str(callspec.params.get("variant", "default"))


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load()


@pytest.fixture
def aws():
    """An in-process moto account (boto3 unchanged, no network)."""
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


class _OneClientPerService:
    """A session that makes each service's client once: provisioning asks for one per
    resource, and making a client costs more than creating the resource in moto. moto
    answers a client in whichever test's mock is on, so one set serves every test."""

    def __init__(self, session: boto3.Session) -> None:
        self._session = session
        self._clients: dict[tuple[str, Any], Any] = {}

    def client(self, service: str, **kwargs: Any) -> Any:
        key = (service, tuple(sorted(kwargs.items())))
        if key not in self._clients:
            self._clients[key] = self._session.client(service, **kwargs)
        return self._clients[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


@pytest.fixture(scope="session")
def provisioning() -> _OneClientPerService:
    return _OneClientPerService(boto3.Session(region_name="us-east-1"))


@pytest.fixture
def stack(aws, template, provisioning) -> Stack:
    """The template's tables, buckets, queues, topics and bus, created in this test's moto."""
    return provision(template, provisioning)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(function_name="test-function")


def scan_all(session: boto3.Session, stack: Stack, template: Template) -> dict[str, list[Any]]:
    """Every item of every table of the stack (for 'nothing was written' assertions)."""
    dynamodb = session.client("dynamodb")
    result: dict[str, list[Any]] = {}
    for logical_id, _ in template.of_type("AWS::DynamoDB::Table"):
        items = dynamodb.scan(TableName=stack.ref(logical_id)).get("Items", [])
        result[logical_id] = sorted(items, key=repr)
    return result


SHARED = pytest.StashKey[SharedCloud]()


@pytest.fixture(scope="session")
def shared_cloud(pytestconfig: pytest.Config) -> Iterator[SharedCloud]:
    """The session's deployment of ``infra/template.yaml`` on the in-process local cloud."""
    shared = pytestconfig.stash[SHARED] = SharedCloud()
    yield shared
    shared.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """How many times the shared stack was deployed for how many tests (a worker's own
    session under xdist does not report here)."""
    shared = config.stash.get(SHARED, None)
    if shared is not None:
        terminalreporter.write_line(
            f"shared local stack: {shared.loans} loans, {shared.deploys} deployment(s)"
        )


@pytest.fixture
def cloud(shared_cloud: SharedCloud) -> Iterator[LocalCloud]:
    """The session's deployed local stack, emptied, for this test alone."""
    with shared_cloud.lend() as deployed:
        yield deployed


@pytest.fixture
def variant_cloud(shared_cloud: SharedCloud, variant: str) -> Iterator[LocalCloud]:
    """The session's local stack of design ``variant`` (``pipeline.variants``; a test
    parametrizes ``variant``), emptied, for this test alone."""
    with shared_cloud.lend(VARIANTS[variant]) as deployed:
        yield deployed
