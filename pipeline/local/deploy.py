"""Deploy ``infra/template.yaml`` into the local endpoint through the CloudFormation API.

The same steps as ``sam deploy``, offline: package the handlers into a zip in an artifact
bucket, translate the SAM template with aws-sam-translator, and create the stack with
CloudFormation (moto's). moto's CloudFormation does not implement every resource type of the
template; for each of those the deployer makes the local equivalent itself and says so in
:attr:`Deployment.equivalents`, never skipping a resource silently:

* types moto's CloudFormation lacks but whose API moto serves (bucket and queue policies,
  alarms, the Glue catalogue, Athena, Firehose, log streams) are created through that API;
* types the local runtime provides instead (the REST API, served by
  :mod:`pipeline.local.http_api`; stream event-source mappings, run by
  :mod:`pipeline.local.stream_mapping`, because moto would hand stream records to Docker).

References from deployed resources to the equivalents are resolved in the template before
it is sent, to the names the equivalents are then created with.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.local.provision import PhysicalResource, Stack, physical_name
from pipeline.template import INFRA_DIR, Template

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ARTIFACT_KEY = "lambda/handlers.zip"

# Types the local runtime serves itself, with the reason it does not deploy them to moto.
RUNTIME_PROVIDED = {
    "AWS::ApiGateway::RestApi": "served by the local HTTP API (pipeline.local.http_api); "
    "moto's CloudFormation cannot create a RestApi from an OpenAPI body",
    "AWS::ApiGateway::Deployment": "part of the local HTTP API",
    "AWS::ApiGateway::Stage": "part of the local HTTP API",
    "AWS::Lambda::EventSourceMapping": "run by the local stream mapping "
    "(pipeline.local.stream_mapping); moto would invoke the function in Docker",
}


# Json-typed properties moto's CloudFormation only reads as strings (AWS takes either).
JSON_AS_STRING = (("AWS::Events::Archive", "EventPattern"), ("AWS::KMS::Key", "KeyPolicy"))


class DeployError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE, or a resource is neither deployed nor local."""


@dataclass
class Deployment:
    """The deployed stack (as :class:`Stack`), and what was made locally instead, and why."""

    stack: Stack
    translated: dict[str, Any]
    deployed: dict[str, str] = field(default_factory=dict)  # logical id -> type, via CFN
    equivalents: dict[str, str] = field(default_factory=dict)  # logical id -> how
    environments: dict[str, dict[str, str]] = field(default_factory=dict)  # function -> env
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # machine -> ASL

    def summary(self) -> list[str]:
        """One line for the stack, one per kind of locally made resource."""
        by_how: dict[str, list[str]] = {}
        for logical, how in sorted(self.equivalents.items()):
            by_how.setdefault(how, []).append(logical)
        lines = [
            f"CloudFormation stack {self.stack.name}: {len(self.deployed)} resources created "
            f"by CloudFormation, {len(self.equivalents)} made locally:"
        ]
        lines += [f"  {len(ids)} x {how} ({', '.join(ids)})" for how, ids in by_how.items()]
        return lines


def package(root: Path = PACKAGE_ROOT) -> bytes:
    """The Lambda deployment zip: the ``pipeline`` package's Python sources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*.py")):
            archive.write(path, Path("pipeline") / path.relative_to(root))
    return buffer.getvalue()


def translate(template: Template, code_uri: str, region: str) -> dict[str, Any]:
    """The SAM template as plain CloudFormation (state machine definitions inlined)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    body = copy.deepcopy(dict(template.body))
    for logical_id, resource in body["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props.pop("DefinitionUri")
            props["Definition"] = template.state_machine_definition(logical_id)
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = code_uri
    body.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = code_uri

    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    # The template names no managed policies, so none has to be looked up in IAM.
    return translator.translate(body, parameter_values={}, get_managed_policy_map=dict)


def deploy(
    template: Template,
    session: Any,
    endpoint_url: str,
    stack_name: str = "orders",
    say: Callable[[str], None] = lambda _line: None,
) -> Deployment:
    """Create the stack in the endpoint; return what was deployed and what was made locally."""
    from moto.cloudformation.parsing import get_model_map

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint_url)

    region = session.region_name or "us-east-1"
    account = "123456789012"
    bucket = f"{stack_name}-artifacts-{account}"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=ARTIFACT_KEY, Body=package())
    translated = translate(template, f"s3://{bucket}/{ARTIFACT_KEY}", region)
    say(f"Translated the SAM template: {len(translated['Resources'])} CloudFormation resources.")

    supported = get_model_map()
    local = {
        logical: resource
        for logical, resource in translated["Resources"].items()
        if resource["Type"] in RUNTIME_PROVIDED or resource["Type"] not in supported
    }
    stack = Stack(stack_name, region, account)
    stack.parameters = {
        name: str(spec["Default"])
        for name, spec in translated.get("Parameters", {}).items()
        if "Default" in spec
    }
    for logical, resource in local.items():  # names first: deployed resources refer to them
        stack.resources[logical] = _planned(stack, logical, resource)
    body = _moto_compatible(_without(translated, local, stack))

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body, default=str),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if status["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(
            f"{stack_name}: {status['StackStatus']} {status.get('StackStatusReason')}"
        )
    deployment = Deployment(stack, translated)
    created = {
        r["LogicalResourceId"]: r
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    }
    for logical, resource in body["Resources"].items():
        if logical not in created:
            raise DeployError(f"CloudFormation did not create {logical} ({resource['Type']})")
        deployment.deployed[logical] = resource["Type"]
        stack.resources[logical] = _physical(client, stack, resource, created[logical])
    say(f"CloudFormation created {len(created)} resources (stack {stack_name}).")

    for logical, resource in local.items():
        deployment.equivalents[logical] = _make_equivalent(client, stack, logical, resource)
    missing = set(translated["Resources"]) - set(deployment.deployed) - set(local)
    if missing:
        raise DeployError(f"neither deployed nor made locally: {sorted(missing)}")

    lambda_ = client("lambda")
    for logical, kind in deployment.deployed.items():
        if kind == "AWS::Lambda::Function":
            config = lambda_.get_function_configuration(FunctionName=stack.ref(logical))
            deployment.environments[logical] = config.get("Environment", {}).get("Variables", {})
        elif kind == "AWS::StepFunctions::StateMachine":
            described = client("stepfunctions").describe_state_machine(
                stateMachineArn=stack.ref(logical)
            )
            deployment.definitions[logical] = json.loads(described["definition"])
    return deployment


def _planned(stack: Stack, logical: str, resource: Mapping[str, Any]) -> PhysicalResource:
    """The name a local equivalent will have, so deployed resources can refer to it."""
    kind, props = resource["Type"], resource.get("Properties", {})
    name = physical_name(stack.name, logical, 64)
    arn = f"arn:aws:{{}}:{stack.region}:{stack.account}:{{}}"
    if kind == "AWS::KinesisFirehose::DeliveryStream":
        name = str(stack.resolve(props.get("DeliveryStreamName", name)))
        return PhysicalResource(name, {"Arn": arn.format("firehose", f"deliverystream/{name}")})
    if kind == "AWS::Glue::Database":
        name = props.get("DatabaseInput", {}).get("Name", name)
    elif kind == "AWS::Glue::Table":
        name = props.get("TableInput", {}).get("Name", name)
    elif kind == "AWS::Athena::WorkGroup":
        name = props.get("Name", name)
    name = str(stack.resolve(name))  # a !Sub of the stack name or a parameter
    if kind == "AWS::ApiGateway::RestApi":
        return PhysicalResource("local", {"RootResourceId": "root"})
    return PhysicalResource(name, {"Arn": arn.format(kind.split("::")[1].lower(), name)})


def _without(
    translated: Mapping[str, Any], local: Mapping[str, Any], stack: Stack
) -> dict[str, Any]:
    """The template minus the local resources, references to them replaced by their names."""
    body = copy.deepcopy(dict(translated))
    body["Resources"] = {k: v for k, v in body["Resources"].items() if k not in local}

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in local:
                return stack.resources[value["Ref"]].ref
            if set(value) == {"Fn::GetAtt"}:
                target, attribute = _getatt(value["Fn::GetAtt"])
                if target in local:
                    return stack.resources[target].attributes.get(attribute, target)
            if set(value) == {"Fn::Sub"}:
                return {"Fn::Sub": rewrite_sub(value["Fn::Sub"])}
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    def rewrite_sub(arg: Any) -> Any:
        text, extra = (arg, None) if isinstance(arg, str) else arg
        for logical in local:
            text = text.replace("${" + logical + "}", stack.resources[logical].ref)
            for attribute, attr_value in stack.resources[logical].attributes.items():
                text = text.replace("${" + f"{logical}.{attribute}" + "}", attr_value)
        return text if extra is None else [text, rewrite(extra)]

    for resource in body["Resources"].values():
        if "DependsOn" in resource:
            depends = resource["DependsOn"]
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d not in local]
        for key in ("Properties", "Metadata"):
            if key in resource:
                resource[key] = rewrite(resource[key])
    if "Outputs" in body:
        body["Outputs"] = rewrite(body["Outputs"])
    return body


def _moto_compatible(body: dict[str, Any]) -> dict[str, Any]:
    """Equivalent spellings moto's CloudFormation handles: a Json property as a string, an
    event bus's ``Ref`` as ``GetAtt Name`` (what Ref returns; moto resolves the Ref to its
    model object), a state machine's ``DefinitionSubstitutions`` as a ``Fn::Sub``."""
    buses = {k for k, r in body["Resources"].items() if r["Type"] == "AWS::Events::EventBus"}

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in buses:
                return {"Fn::GetAtt": [value["Ref"], "Name"]}
            if set(value) == {"Fn::Sub"}:
                arg = value["Fn::Sub"]
                text, extra = (arg, None) if isinstance(arg, str) else arg
                for bus in buses:
                    text = text.replace("${" + bus + "}", "${" + bus + ".Name}")
                return {"Fn::Sub": text if extra is None else [text, rewrite(extra)]}
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    for resource in body["Resources"].values():
        props = resource.get("Properties", {})
        substitutions = props.get("DefinitionSubstitutions")
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and substitutions:
            # CloudFormation substitutes ${Name} in the definition; moto stores it as is.
            text = props["DefinitionString"]
            if isinstance(text, dict) and "Fn::Join" in text:
                separator, parts = text["Fn::Join"]
                text = separator.join(parts)
            props["DefinitionString"] = {"Fn::Sub": [text, props.pop("DefinitionSubstitutions")]}
        for kind, name in JSON_AS_STRING:
            if resource["Type"] == kind and isinstance(props.get(name), dict):
                props[name] = json.dumps(props[name])
        if props:
            resource["Properties"] = rewrite(props)
    if "Outputs" in body:
        body["Outputs"] = rewrite(body["Outputs"])
    return body


def _getatt(arg: Any) -> tuple[str, str]:
    target, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
    return target, attribute


def _physical(
    client: Callable[[str], Any], stack: Stack, resource: Mapping[str, Any], created: dict
) -> PhysicalResource:
    """Ref and GetAtt values of a resource CloudFormation created, read from its service."""
    kind, ref = resource["Type"], created.get("PhysicalResourceId", "")
    if kind == "AWS::DynamoDB::Table":
        table = client("dynamodb").describe_table(TableName=ref)["Table"]
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return PhysicalResource(ref, attributes)
    if kind == "AWS::SQS::Queue":
        sqs = client("sqs")
        url = ref if ref.startswith("http") else sqs.get_queue_url(QueueName=ref)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = arn["Attributes"]["QueueArn"]
        return PhysicalResource(
            url, {"Arn": arn, "QueueName": arn.rsplit(":", 1)[1], "QueueUrl": url}
        )
    if kind == "AWS::SNS::Topic":
        return PhysicalResource(ref, {"TopicArn": ref, "TopicName": ref.rsplit(":", 1)[1]})
    if kind == "AWS::S3::Bucket":
        return PhysicalResource(
            ref, {"Arn": f"arn:aws:s3:::{ref}", "DomainName": f"{ref}.s3.amazonaws.com"}
        )
    if kind == "AWS::Events::EventBus":
        ref = ref or str(stack.resolve(resource["Properties"]["Name"]))  # moto omits it
        arn = client("events").describe_event_bus(Name=ref)["Arn"]
        return PhysicalResource(ref, {"Arn": arn, "Name": ref})
    if kind == "AWS::Lambda::Function":
        arn = client("lambda").get_function_configuration(FunctionName=ref)["FunctionArn"]
        return PhysicalResource(ref, {"Arn": arn})
    if kind == "AWS::StepFunctions::StateMachine":
        return PhysicalResource(ref, {"Arn": ref, "Name": ref.rsplit(":", 1)[1]})
    if kind == "AWS::IAM::Role":
        arn = client("iam").get_role(RoleName=ref)["Role"]["Arn"]
        return PhysicalResource(ref, {"Arn": arn})
    if kind == "AWS::KMS::Key":
        arn = client("kms").describe_key(KeyId=ref)["KeyMetadata"]["Arn"]
        return PhysicalResource(ref, {"Arn": arn, "KeyId": ref})
    return PhysicalResource(ref, {"Arn": ref if ref.startswith("arn:") else ""})


def query_text(query_string: str) -> str:
    """A named query's SQL: the template points at ``infra/queries/*.sql`` (one copy of each
    query, run by DuckDB locally), which deployment inlines."""
    marker = "-- file: "
    if query_string.startswith(marker):
        return (INFRA_DIR / query_string.removeprefix(marker).strip()).read_text()
    return query_string


def _tls_only(document: Mapping[str, Any]) -> bool:
    """True when every statement only denies requests made without TLS."""
    return all(
        statement.get("Effect") == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in document.get("Statement", [])
    )


def _make_equivalent(
    client: Callable[[str], Any], stack: Stack, logical: str, resource: Mapping[str, Any]
) -> str:
    """Create one resource moto's CloudFormation cannot, through its API; say how."""
    kind = resource["Type"]
    if kind in RUNTIME_PROVIDED:
        return f"{kind}: {RUNTIME_PROVIDED[kind]}"
    props = stack.resolve_deep(resource.get("Properties", {}))
    name = stack.resources[logical].ref
    if kind == "AWS::S3::BucketPolicy":
        if _tls_only(props["PolicyDocument"]):
            return (
                f"{kind}: recorded, not enforced: the endpoint is plain HTTP on loopback and "
                "moto reads aws:SecureTransport as absent, so this TLS-only policy would deny "
                "every request"
            )
        client("s3").put_bucket_policy(
            Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"])
        )
    elif kind == "AWS::SQS::QueuePolicy":
        for url in props["Queues"]:
            client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
    elif kind == "AWS::CloudWatch::Alarm":
        alarm = {k: v for k, v in props.items() if k != "AlarmName"}
        client("cloudwatch").put_metric_alarm(AlarmName=props.get("AlarmName", name), **alarm)
    elif kind == "AWS::Logs::LogStream":
        client("logs").create_log_stream(
            logGroupName=props["LogGroupName"], logStreamName=props.get("LogStreamName", name)
        )
    elif kind == "AWS::Glue::Database":
        client("glue").create_database(
            CatalogId=props.get("CatalogId", stack.account),
            DatabaseInput={**props["DatabaseInput"], "Name": name},
        )
    elif kind == "AWS::Glue::Table":
        client("glue").create_table(
            DatabaseName=props["DatabaseName"], TableInput={**props["TableInput"], "Name": name}
        )
    elif kind == "AWS::Athena::WorkGroup":
        work_group = {"Name": name, "Description": props.get("Description", "")}
        if "WorkGroupConfiguration" in props:
            work_group["Configuration"] = props["WorkGroupConfiguration"]
        client("athena").create_work_group(**work_group)
    elif kind == "AWS::Athena::NamedQuery":
        props = {**props, "QueryString": query_text(props["QueryString"])}
        query_id = client("athena").create_named_query(
            **{
                k: props[k]
                for k in ("Name", "Database", "QueryString", "WorkGroup", "Description")
                if k in props
            }
        )["NamedQueryId"]
        stack.resources[logical] = PhysicalResource(query_id, {"NamedQueryId": query_id})
    elif kind == "AWS::KinesisFirehose::DeliveryStream":
        config = {k: v for k, v in props.items() if k != "DeliveryStreamName"}
        client("firehose").create_delivery_stream(DeliveryStreamName=name, **config)
        return (
            f"{kind}: created through the Firehose API; records are delivered as Parquet by "
            "the local Firehose (pipeline.local.firehose)"
        )
    else:
        raise DeployError(f"{logical}: no local equivalent for {kind}")
    return f"{kind}: created through its service API (moto's CloudFormation lacks the type)"
