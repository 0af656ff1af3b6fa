"""The template obeys the house rules: linted, scanned, and checked for what reviews forget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from pipeline.template import INFRA_DIR, Template
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # runs checkov and cfn-lint

BIN = Path(sys.executable).parent
RULE = "AWS::Events::Rule"
FUNCTION = "AWS::Serverless::Function"
MACHINE = "AWS::Serverless::StateMachine"

GLUE_COLUMNS = [
    ("event_id", "string"),
    ("order_id", "string"),
    ("sequence", "bigint"),
    ("event_type", "string"),
    ("schema_version", "int"),
    ("occurred_at", "timestamp"),
    ("recorded_at", "timestamp"),
    ("customer_id", "string"),
    ("amount", "decimal(12,2)"),
    ("currency", "string"),
    ("lines", "array<struct<sku:string,quantity:int,unit_price:decimal(12,2)>>"),
    ("reason", "string"),
    ("correlation_id", "string"),
    ("causation_id", "string"),
    ("source", "string"),
    ("payload", "string"),
    ("prev_hash", "string"),
    ("hash", "string"),
]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False)


def test_cfn_lint_reports_no_errors():
    result = run(str(BIN / "cfn-lint"), str(INFRA_DIR / "template.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_state_machine_definition_passes_cfn_lint(template, tmp_path):
    """cfn-lint does not open DefinitionUri files, so each ASL is linted inline."""
    resources = {}
    for machine_id, _ in template.of_type(MACHINE):
        text = json.dumps(template.state_machine_definition(machine_id))
        for key in template.properties(machine_id).get("DefinitionSubstitutions", {}):
            arn = f"arn:aws:lambda:us-east-1:123456789012:function:{key}"
            text = text.replace("${" + key + "}", arn)
        resources[machine_id] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": "arn:aws:iam::123456789012:role/machine",
                "Definition": json.loads(text),
            },
        }
    path = tmp_path / "machines.yaml"
    path.write_text(
        yaml.safe_dump({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
    )
    result = run(str(BIN / "cfn-lint"), str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def checkov(framework: str) -> dict:
    result = run(
        str(BIN / "checkov"),
        "-d",
        str(INFRA_DIR),
        "--framework",
        framework,
        "--quiet",
        "--compact",
        "--skip-download",
        "-o",
        "json",
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    return checkov("cloudformation")


def test_checkov_finds_nothing_in_the_openapi_contract():
    """`make lint` runs every framework; the API contract is checked here as well."""
    report = checkov("openapi")
    assert report["results"]["failed_checks"] == [] and report["summary"]["passed"] > 0


def test_checkov_has_no_failed_check(checkov_report):
    failed = checkov_report["results"]["failed_checks"]
    assert not failed, [(f["check_id"], f["resource"]) for f in failed]
    assert checkov_report["summary"]["passed"] > 100


def test_every_checkov_suppression_carries_a_reason(template):
    for logical_id, resource in template.resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{logical_id} skips {skip['id']} silently"


def test_every_rule_target_has_a_retry_policy_and_a_dead_letter_queue(template):
    for rule_id, rule in template.of_type(RULE):
        for target in rule["Properties"]["Targets"]:
            if rule["Properties"].get("ScheduleExpression"):
                continue
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, rule_id
            dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            assert template.resources[dlq]["Type"] == "AWS::SQS::Queue", rule_id


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_queue_is_alarmed_into_the_alerts_topic(variant):
    template = Template.load(parameters=VARIANTS[variant])
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for _, alarm in template.of_type("AWS::CloudWatch::Alarm")
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
    }
    queues = {q for q, _ in template.of_type("AWS::SQS::Queue")}
    assert queues == alarmed
    for _, alarm in template.of_type("AWS::CloudWatch::Alarm"):
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_state_machine_has_a_failed_executions_alarm(variant):
    template = Template.load(parameters=VARIANTS[variant])
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for _, alarm in template.of_type("AWS::CloudWatch::Alarm")
        if alarm["Properties"].get("MetricName") == "ExecutionsFailed"
    }
    assert alarmed == {m for m, _ in template.of_type(MACHINE)}


def test_express_executions_that_time_out_are_alarmed_too(template):
    """An Express execution stops at 5 minutes, mid-saga: that is alarmed on its own."""
    timed_out = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for _, alarm in template.of_type("AWS::CloudWatch::Alarm")
        if alarm["Properties"].get("MetricName") == "ExecutionsTimedOut"
    }
    assert timed_out == {m for m, _ in template.of_type(MACHINE)}


def test_the_intake_alarm_fires_at_90_percent_of_the_stage_throttle(template):
    (alarm,) = [
        a["Properties"]
        for logical, a in template.of_type("AWS::CloudWatch::Alarm")
        if logical == "OrderIntakeAtCapacityAlarm"
    ]
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert expression == {"Fn::Sub": "requests / (60 * ${ApiThrottleRate})"}
    assert alarm["Threshold"] == 0.9


def test_everything_that_stores_data_is_encrypted_at_rest(template):
    checks = {
        "AWS::DynamoDB::Table": lambda p: p["SSESpecification"]["SSEEnabled"] is True,
        "AWS::SQS::Queue": lambda p: "KmsMasterKeyId" in p,
        "AWS::SNS::Topic": lambda p: "KmsMasterKeyId" in p,
        "AWS::S3::Bucket": lambda p: bool(
            p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ),
        "AWS::Logs::LogGroup": lambda p: "KmsKeyId" in p,
        "AWS::KinesisFirehose::DeliveryStream": lambda p: (
            "DeliveryStreamEncryptionConfigurationInput" in p
        ),
    }
    for kind, encrypted in checks.items():
        found = list(template.of_type(kind))
        assert found, kind
        for logical_id, resource in found:
            assert encrypted(resource.get("Properties", {})), f"{logical_id} is not encrypted"


def test_every_bucket_refuses_plain_http(template):
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for _, p in template.of_type("AWS::S3::BucketPolicy")
    }
    for bucket, _ in template.of_type("AWS::S3::Bucket"):
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policies[bucket]
        ), bucket


def _statements(template: Template):
    for logical_id, resource in template.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield logical_id, policy["PolicyDocument"]["Statement"]
        elif resource["Type"] in (FUNCTION, MACHINE):
            for policy in props.get("Policies", []):
                if isinstance(policy, dict) and "Statement" in policy:
                    yield logical_id, policy["Statement"]


# Actions AWS defines without resource-level permissions (IAM service authorization reference).
NO_RESOURCE_ARN = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # Tracing: Active - the Lambda service sends the function's segments with its role.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
)


def test_iam_names_its_actions_and_resources(template):
    checked = {logical_id for logical_id, _ in _statements(template)}
    roles = {role_id for role_id, _ in template.of_type("AWS::IAM::Role")}
    assert roles <= checked, f"roles without inline policies: {roles - checked}"
    for logical_id, statements in _statements(template):
        for statement in statements:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            for action in actions:
                assert "*" not in action, f"{logical_id} grants wildcard action {action}"
            if statement.get("Resource") == "*":
                assert set(actions) <= set(NO_RESOURCE_ARN), f"{logical_id} grants {actions} on *"


def test_every_function_has_its_own_explicit_role_without_managed_policies(template):
    """A function with `Policies` gets a SAM-generated role with AWS managed policies attached
    (basic execution, X-Ray, stream reading: all on `*`); an explicit role gets none."""
    roles = dict(template.of_type("AWS::IAM::Role"))
    used = []
    for function_id, _ in template.of_type(FUNCTION):
        props = template.properties(function_id)
        assert "Policies" not in props, f"{function_id} lets SAM generate its role"
        role_id = props["Role"]["Fn::GetAtt"][0]
        assert props["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}, function_id
        role = roles[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ], role_id
        used.append(role_id)
    assert len(used) == len(set(used)), "functions share a role"
    for role_id, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), f"{role_id} has managed policies"


def test_no_resource_has_a_hard_coded_physical_name(template):
    names = {
        "TableName",
        "BucketName",
        "QueueName",
        "TopicName",
        "FunctionName",
        "StateMachineName",
    }
    for logical_id, resource in template.resources.items():
        if resource["Type"].startswith(
            (
                "AWS::DynamoDB",
                "AWS::S3",
                "AWS::SQS",
                "AWS::SNS",
                "AWS::Serverless",
                "AWS::StepFunctions",
            )
        ):
            assert not names & set(resource.get("Properties", {})), logical_id


def test_function_environments_reference_resources_never_literal_names(template):
    for function_id, _ in template.of_type(FUNCTION):
        for key, value in template.function_environment(function_id).items():
            if key.endswith(("_TABLE", "_BUCKET", "_ARN", "_URL", "_URLS", "_NAME")):
                assert isinstance(value, dict), f"{function_id}.{key} is a literal"


def test_every_task_has_retry_catch_and_timeout_and_a_known_function(template):
    for machine_id, _ in template.of_type(MACHINE):
        substitutions = template.properties(machine_id)["DefinitionSubstitutions"]
        for name, state in template.state_machine_definition(machine_id)["States"].items():
            if state["Type"] != "Task":
                continue
            where = f"{machine_id}.{name}"
            assert state["Retry"] and state["Catch"] and state["TimeoutSeconds"], where
            for retrier in state["Retry"]:
                assert retrier["BackoffRate"] > 1 and retrier["JitterStrategy"] == "FULL", where
                assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"], where
            key = state["Resource"].removeprefix("${").removesuffix("}")
            assert key in substitutions, where


def test_glue_table_has_the_audit_schema(template):
    table = template.properties("AuditGlueTable")["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == GLUE_COLUMNS
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day", "hour"]


def test_firehose_prefix_is_the_hive_layout_the_glue_table_projects(template):
    s3 = template.properties("AuditDeliveryStream")["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"].startswith("events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/")
    conversion = s3["DataFormatConversionConfiguration"]
    assert (
        conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"]
        == "SNAPPY"
    )


def test_named_queries_and_query_files_match_one_to_one(template):
    referenced = set()
    for logical_id, query in template.of_type("AWS::Athena::NamedQuery"):
        text = query["Properties"]["QueryString"]
        assert text.startswith("-- file: queries/"), logical_id
        path = INFRA_DIR / text.removeprefix("-- file: ")
        assert path.is_file(), f"{logical_id} points at missing {path}"
        referenced.add(path.name)
    assert referenced == {p.name for p in (INFRA_DIR / "queries").glob("*.sql")}


def test_openapi_document_is_valid():
    validate(yaml.safe_load((INFRA_DIR / "openapi.yaml").read_text()))


def test_openapi_routes_are_the_api_events_of_the_template(template):
    spec = yaml.safe_load((INFRA_DIR / "openapi.yaml").read_text())
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    deployed = {
        (event["Properties"]["Path"], event["Properties"]["Method"])
        for event in template.properties("OrderApiFunction")["Events"].values()
        if event["Type"] == "Api"
    }
    assert documented == deployed
