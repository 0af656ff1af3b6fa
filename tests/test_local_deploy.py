"""The template deployed through CloudFormation into the local endpoint: nothing skipped."""

from __future__ import annotations

import json

import boto3
import pytest

from pipeline.local.deploy import RUNTIME_PROVIDED, deploy
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.event_delivery import deployed_routes

pytestmark = pytest.mark.system  # deploys the stack to a local endpoint


@pytest.fixture(scope="module")
def deployed(template):
    with LocalEndpoint() as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        lines: list[str] = []
        deployment = deploy(template, session, endpoint.url, say=lines.append)
        yield deployment, (lambda name: session.client(name, endpoint_url=endpoint.url)), lines


def test_every_resource_is_deployed_or_made_locally_and_said(deployed):
    deployment, _, _ = deployed
    translated = set(deployment.translated["Resources"])
    assert set(deployment.deployed) | set(deployment.equivalents) == translated
    assert not set(deployment.deployed) & set(deployment.equivalents)
    assert all(how for how in deployment.equivalents.values())
    summary = "\n".join(deployment.summary())
    for logical in deployment.equivalents:
        assert logical in summary
    # What CloudFormation (moto's) can create, it creates.
    assert {"EventsTable", "OrderEventBus", "OrderSagaStateMachine", "OrderSagaRule"} <= set(
        deployment.deployed
    )
    runtime = {k for k, v in deployment.equivalents.items() if v.split(": ")[0] in RUNTIME_PROVIDED}
    assert "OrderApi" in runtime


def test_function_environments_name_the_deployed_resources(deployed, template):
    deployment, _, _ = deployed
    stack = deployment.stack
    functions = [f for f, _ in template.of_type("AWS::Serverless::Function")]
    assert set(deployment.environments) == set(functions)
    for function_id in functions:
        expected = template.function_environment(function_id)
        environment = deployment.environments[function_id]
        assert set(expected) <= set(environment), function_id
        for value in environment.values():
            assert "Fn::" not in str(value) and "{'Ref'" not in str(value)
    assert deployment.environments["PaymentFunction"]["EVENTS_TABLE"] == stack.ref("EventsTable")
    stream = deployment.environments["StreamProcessorFunction"]
    assert stream["EVENT_BUS_NAME"] == stack.ref("OrderEventBus")


def test_state_machines_run_the_template_asl_with_function_arns(deployed, template):
    deployment, _, _ = deployed
    for machine_id, definition in deployment.definitions.items():
        assert "${" not in json.dumps(definition)
        expected = json.dumps(template.state_machine_definition(machine_id))
        for key in template.properties(machine_id)["DefinitionSubstitutions"]:
            function = key.removesuffix("Arn")
            arn = deployment.stack.resources[function].attributes["Arn"]
            expected = expected.replace("${" + key + "}", arn)
        assert definition == json.loads(expected)


def test_equivalents_exist_in_their_services(deployed, template):
    deployment, client, _ = deployed
    stack = deployment.stack
    alarms = client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert len(alarms) == len(list(template.of_type("AWS::CloudWatch::Alarm")))
    athena = client("athena")
    ids = athena.list_named_queries(WorkGroup=stack.ref("AthenaWorkGroup"))["NamedQueryIds"]
    assert len(ids) == len(list(template.of_type("AWS::Athena::NamedQuery")))
    for query_id in ids:  # the SQL of infra/queries, inlined
        query = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
        assert "SELECT" in query["QueryString"].upper()
        assert not query["QueryString"].startswith("-- file:")
    table = client("glue").get_table(
        DatabaseName=stack.ref("AuditGlueDatabase"), Name=stack.ref("AuditGlueTable")
    )["Table"]
    assert {c["Name"] for c in table["StorageDescriptor"]["Columns"]} >= {"order_id", "sequence"}
    client("firehose").describe_delivery_stream(DeliveryStreamName=stack.ref("AuditDeliveryStream"))
    policy = client("sqs").get_queue_attributes(
        QueueUrl=stack.ref("OrderSagaTargetDLQ"), AttributeNames=["Policy"]
    )["Attributes"]["Policy"]
    assert "events.amazonaws.com" in policy


def test_deployed_rules_carry_the_template_patterns_retry_policies_and_dlqs(deployed, template):
    deployment, client, _ = deployed
    stack = deployment.stack
    machines = {stack.ref(m): m for m in deployment.definitions}
    routes = deployed_routes(client("events"), client("sqs"), stack.ref("OrderEventBus"), machines)
    assert len(routes) == len(list(template.of_type("AWS::Events::Rule")))
    for route in routes:
        rule_id = route.rule_name.split("-")[1]
        props = template.properties(rule_id)
        (target,) = props["Targets"]
        assert route.pattern == props["EventPattern"]
        assert route.machine_id == target["Arn"]["Ref"]
        assert route.max_attempts == target["RetryPolicy"]["MaximumRetryAttempts"]
        dlq = stack.ref(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
        assert route.dlq_url.rsplit("/", 1)[1] == dlq.rsplit("/", 1)[1]  # hosts differ
