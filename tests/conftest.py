"""Shared fixtures: moto-backed AWS, the template's resources, and helpers to snapshot stores."""

from __future__ import annotations

import os
from typing import Any

import boto3
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

from pipeline.local.lambda_context import LambdaContext
from pipeline.local.provision import Stack, provision
from pipeline.template import Template


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load()


@pytest.fixture
def aws():
    """An in-process moto account (boto3 unchanged, no network)."""
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def stack(aws, template) -> Stack:
    """The template's tables, buckets, queues, topics and bus, created in moto."""
    return provision(template, aws)


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
