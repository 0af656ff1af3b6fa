"""The local endpoint as a deployment target: what moto's CloudFormation cannot create.

:func:`pipeline.deploy.flow.deploy` runs the same flow against moto as against AWS
(package, translate, change set, execute, follow, outputs). moto's CloudFormation does not
implement every resource type of the template; :class:`LocalAdapter` sends it the rest and
makes each missing resource itself, saying how in :attr:`Deployment.equivalents`, never
skipping one silently:

* types moto's CloudFormation lacks but whose API moto serves (bucket and queue policies,
  alarms, the Glue catalogue, Athena, Firehose, log streams) are made through that API;
* types the local runtime provides instead (the REST API, served by
  :mod:`pipeline.local.http_api`; stream event-source mappings, run by
  :mod:`pipeline.local.stream_mapping`, because moto would hand stream records to Docker).

References from deployed resources to those are resolved in the template before it is
sent, to the names they are then made with; an update remakes the ones that changed and a
delete removes them. :func:`deploy` is what the local runtime (the demo) calls.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.deploy import changes, flow
from pipeline.deploy.target import LOCAL_ACCOUNT, LOCAL_ENDPOINT, Target
from pipeline.local.provision import PhysicalResource, Stack, physical_name
from pipeline.template import Template

LOCAL_KEY = "pipeline:local"  # template Metadata: the resources made locally, as translated

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


class LocalAdapter:
    """Feeds moto's CloudFormation the resources it can create and makes the rest itself.

    The resources made locally travel in the sent template's ``Metadata`` (as translated),
    so a later update or delete, from another process, knows what was made and how.
    """

    def __init__(self) -> None:
        self.translated: dict[str, Any] = {}
        self.stack: Stack | None = None
        self.deployed: dict[str, str] = {}  # logical id -> type, created by CloudFormation

    def adapt(
        self, body: dict, target: Target, stack_name: str, parameters: dict
    ) -> dict[str, Any]:
        from moto.cloudformation.parsing import get_model_map

        self.translated = body
        supported = get_model_map()
        local = {
            logical: resource
            for logical, resource in body["Resources"].items()
            if resource["Type"] in RUNTIME_PROVIDED or resource["Type"] not in supported
        }
        stack = _stack(target, stack_name, body, parameters)
        for logical, resource in local.items():  # names first: deployed resources refer to them
            stack.resources[logical] = _planned(stack, logical, resource)
        sent = _moto_compatible(_without(body, local, stack))
        sent.setdefault("Metadata", {})[LOCAL_KEY] = local
        return sent

    def local_changes(
        self, previous: Mapping | None, sent: Mapping, plan: changes.Plan
    ) -> list[changes.Change]:
        """Changes to the resources made locally; and, because moto's change sets list no
        resource a parameter change reaches (AWS's do), the resources reading one."""
        old, new = _local(previous), _local(sent)
        found = [
            changes.Change(
                "Add" if logical not in old else "Modify", logical, r["Type"], origin="local"
            )
            for logical, r in new.items()
            if old.get(logical) != r
        ]
        found += [
            changes.Change("Remove", logical, r["Type"], origin="local")
            for logical, r in old.items()
            if logical not in new
        ]
        if plan.kind != "UPDATE":
            return found
        listed = {c.logical_id for c in plan.changes} | {c.logical_id for c in found}
        parameters = set(plan.changed_parameters())
        resources = {**sent["Resources"], **new}
        found += [
            changes.Change("Modify", logical, resource["Type"], origin="inferred")
            for logical, resource in resources.items()
            if logical not in listed and _reads(resource, parameters)
        ]
        return found

    def after_execute(
        self, target: Target, stack_name: str, previous: Mapping | None, sent: Mapping
    ) -> dict[str, str]:
        """Make, remake or remove the local resources the change touched; say how each is made."""
        stack = self._resolved(target, stack_name, sent)
        old, new = _local(previous), _local(sent)
        for logical, resource in reversed(list(old.items())):
            if new.get(logical) != resource:
                _remove_equivalent(target.client, stack, logical, resource)
        return {
            logical: (
                _make_equivalent(target.client, stack, logical, resource)
                if old.get(logical) != resource
                else _how(resource["Type"], stack.resolve_deep(resource.get("Properties", {})))
            )
            for logical, resource in new.items()
        }

    def before_delete(self, target: Target, stack_name: str, sent: Mapping) -> None:
        stack = self._resolved(target, stack_name, sent)
        for logical, resource in reversed(list(_local(sent).items())):
            _remove_equivalent(target.client, stack, logical, resource)

    def _resolved(self, target: Target, stack_name: str, sent: Mapping) -> Stack:
        """The live stack's physical names and attributes, read from its services."""
        cfn = target.client("cloudformation")
        live = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        given = {p["ParameterKey"]: str(p["ParameterValue"]) for p in live.get("Parameters", [])}
        stack = _stack(target, stack_name, sent, given)
        for logical, resource in _local(sent).items():
            stack.resources[logical] = _planned(stack, logical, resource)
        created = {
            r["LogicalResourceId"]: r
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        }
        self.deployed = {}
        for logical, resource in sent["Resources"].items():
            if logical not in created:
                raise DeployError(f"CloudFormation did not create {logical} ({resource['Type']})")
            self.deployed[logical] = resource["Type"]
            stack.resources[logical] = _physical(target.client, stack, resource, created[logical])
        self.stack = stack
        return stack


@dataclass
class _LocalTarget(Target):
    """A local target that makes one client per service: a client takes ~8 ms to make, and
    a deployment asks for ~90 (one per resource it reads or makes)."""

    _clients: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = super().client(name)
        return self._clients[name]


def local_target(
    endpoint_url: str | None = LOCAL_ENDPOINT, region: str = "us-east-1", session: Any = None
) -> Target:
    """The local cloud as a deployment target: at ``endpoint_url``, or in-process when it is
    None; with the placeholder credentials moto accepts unless ``session`` is given."""
    if session is None:
        import boto3

        session = boto3.Session(
            region_name=region, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return _LocalTarget(
        session,
        endpoint_url,
        _account=LOCAL_ACCOUNT,
        in_process=endpoint_url is None,
        adapter=LocalAdapter(),
    )


def deploy(
    template: Template,
    session: Any,
    endpoint_url: str | None,
    stack_name: str = "orders",
    say: Callable[[str], None] = lambda _line: None,
) -> Deployment:
    """Create the stack in the local cloud (approved without asking, the change set shown
    as a count); return what was deployed and what was made locally. ``endpoint_url`` None
    is the local cloud in-process (moto inside this process)."""
    target = local_target(endpoint_url, session=session)
    adapter = target.adapter
    result = flow.deploy(target, template, stack_name, say=say, adapter=adapter, show_plan=False)
    if result.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE") or adapter.stack is None:
        raise DeployError(f"{stack_name}: {result.status}")
    deployment = Deployment(
        adapter.stack, adapter.translated, dict(adapter.deployed), result.equivalents
    )
    missing = set(adapter.translated["Resources"]) - set(adapter.deployed) - set(result.equivalents)
    if missing:
        raise DeployError(f"neither deployed nor made locally: {sorted(missing)}")
    client = target.client
    for logical, kind in deployment.deployed.items():
        if kind == "AWS::Lambda::Function":
            config = client("lambda").get_function_configuration(
                FunctionName=deployment.stack.ref(logical)
            )
            deployment.environments[logical] = config.get("Environment", {}).get("Variables", {})
        elif kind == "AWS::StepFunctions::StateMachine":
            described = client("stepfunctions").describe_state_machine(
                stateMachineArn=deployment.stack.ref(logical)
            )
            deployment.definitions[logical] = json.loads(described["definition"])
    return deployment


def _reads(value: Any, parameters: set[str]) -> bool:
    """Whether a resource refers to any of ``parameters`` (``Ref`` or ``${...}`` in a Sub)."""
    if not parameters:
        return False
    if isinstance(value, Mapping):
        if value.get("Ref") in parameters:
            return True
        sub = value.get("Fn::Sub")
        text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) else ""
        if any("${" + name + "}" in text for name in parameters):
            return True
        return any(_reads(v, parameters) for v in value.values())
    if isinstance(value, list):
        return any(_reads(v, parameters) for v in value)
    return False


def _local(template: Mapping | None) -> dict[str, Any]:
    return dict((template or {}).get("Metadata", {}).get(LOCAL_KEY, {}))


def _stack(target: Target, stack_name: str, body: Mapping, parameters: Mapping) -> Stack:
    stack = Stack(stack_name, target.region, target.account())
    stack.parameters = {
        name: str(spec["Default"])
        for name, spec in body.get("Parameters", {}).items()
        if "Default" in spec
    } | dict(parameters)
    return stack


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
    for resource in body["Resources"].values():
        if "DependsOn" in resource:
            depends = resource["DependsOn"]
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d not in local]
        for key in ("Properties", "Metadata"):
            if key in resource:
                resource[key] = _inline(resource[key], local, stack)
    if "Outputs" in body:
        body["Outputs"] = _inline(body["Outputs"], local, stack)
    return body


def _inline(value: Any, local: Mapping[str, Any], stack: Stack) -> Any:
    """``value`` with its references to the ``local`` resources replaced by their names."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in local:
            return stack.resources[value["Ref"]].ref
        if set(value) == {"Fn::GetAtt"}:
            target, attribute = _getatt(value["Fn::GetAtt"])
            if target in local:
                return stack.resources[target].attributes.get(attribute, target)
        if set(value) == {"Fn::Sub"}:
            return {"Fn::Sub": _inline_sub(value["Fn::Sub"], local, stack)}
        return {k: _inline(v, local, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline(v, local, stack) for v in value]
    return value


def _inline_sub(arg: Any, local: Mapping[str, Any], stack: Stack) -> Any:
    """An ``Fn::Sub`` argument with ``${Local}`` and ``${Local.Attribute}`` filled in."""
    text, extra = (arg, None) if isinstance(arg, str) else arg
    for logical in local:
        text = text.replace("${" + logical + "}", stack.resources[logical].ref)
        for attribute, attr_value in stack.resources[logical].attributes.items():
            text = text.replace("${" + f"{logical}.{attribute}" + "}", attr_value)
    return text if extra is None else [text, _inline(extra, local, stack)]


def _moto_compatible(body: dict[str, Any]) -> dict[str, Any]:
    """Equivalent spellings moto's CloudFormation handles: a Json property as a string, an
    event bus's ``Ref`` as ``GetAtt Name`` (what Ref returns; moto resolves the Ref to its
    model object), a state machine's ``DefinitionSubstitutions`` as a ``Fn::Sub``."""
    buses = {k for k, r in body["Resources"].items() if r["Type"] == "AWS::Events::EventBus"}
    for resource in body["Resources"].values():
        props = resource.get("Properties", {})
        substitutions = props.get("DefinitionSubstitutions")
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and substitutions:
            _substitute_in_definition(props)
        for kind, name in JSON_AS_STRING:
            if resource["Type"] == kind and isinstance(props.get(name), dict):
                props[name] = json.dumps(props[name])
        if props:
            resource["Properties"] = _bus_names(props, buses)
    if "Outputs" in body:
        body["Outputs"] = _bus_names(body["Outputs"], buses)
    return body


def _substitute_in_definition(props: dict[str, Any]) -> None:
    """A state machine's ``DefinitionSubstitutions`` as a ``Fn::Sub`` of its definition:
    CloudFormation substitutes ${Name} in the definition; moto stores it as is."""
    text = props["DefinitionString"]
    if isinstance(text, dict) and "Fn::Join" in text:
        separator, parts = text["Fn::Join"]
        text = separator.join(parts)
    props["DefinitionString"] = {"Fn::Sub": [text, props.pop("DefinitionSubstitutions")]}


def _bus_names(value: Any, buses: set[str]) -> Any:
    """``value`` with each event bus's ``Ref`` (in a ``Fn::Sub`` too) as its ``GetAtt Name``."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in buses:
            return {"Fn::GetAtt": [value["Ref"], "Name"]}
        if set(value) == {"Fn::Sub"}:
            arg = value["Fn::Sub"]
            text, extra = (arg, None) if isinstance(arg, str) else arg
            for bus in buses:
                text = text.replace("${" + bus + "}", "${" + bus + ".Name}")
            return {"Fn::Sub": text if extra is None else [text, _bus_names(extra, buses)]}
        return {k: _bus_names(v, buses) for k, v in value.items()}
    if isinstance(value, list):
        return [_bus_names(v, buses) for v in value]
    return value


def _getatt(arg: Any) -> tuple[str, str]:
    target, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
    return target, attribute


def _physical(  # noqa: C901 — one branch per resource type, each read from its own service
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


def _tls_only(document: Mapping[str, Any]) -> bool:
    """True when every statement only denies requests made without TLS."""
    return all(
        statement.get("Effect") == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in document.get("Statement", [])
    )


def _make_equivalent(  # noqa: C901 — one branch per type moto's CloudFormation lacks
    client: Callable[[str], Any], stack: Stack, logical: str, resource: Mapping[str, Any]
) -> str:
    """Create one resource moto's CloudFormation cannot, through its API; say how."""
    kind = resource["Type"]
    props = stack.resolve_deep(resource.get("Properties", {}))
    how = _how(kind, props)
    name = stack.resources[logical].ref
    if kind in RUNTIME_PROVIDED or how.startswith(f"{kind}: recorded"):
        return how
    if kind == "AWS::S3::BucketPolicy":
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
    elif kind == "AWS::Athena::NamedQuery":  # its SQL was inlined by the translation
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
    else:
        raise DeployError(f"{logical}: no local equivalent for {kind}")
    return how


def _how(kind: str, props: Mapping[str, Any]) -> str:
    """How the local endpoint has a resource of ``kind`` that its CloudFormation lacks."""
    if kind in RUNTIME_PROVIDED:
        return f"{kind}: {RUNTIME_PROVIDED[kind]}"
    if kind == "AWS::S3::BucketPolicy" and _tls_only(props["PolicyDocument"]):
        return (
            f"{kind}: recorded, not enforced: the endpoint is plain HTTP on loopback and "
            "moto reads aws:SecureTransport as absent, so this TLS-only policy would deny "
            "every request"
        )
    if kind == "AWS::KinesisFirehose::DeliveryStream":
        return (
            f"{kind}: created through the Firehose API; records are delivered as Parquet by "
            "the local Firehose (pipeline.local.firehose)"
        )
    return f"{kind}: created through its service API (moto's CloudFormation lacks the type)"


_GONE = frozenset(
    {
        "ResourceNotFoundException",
        "EntityNotFoundException",
        "NoSuchBucket",
        "InvalidRequestException",
    }
)


def _remove_equivalent(  # noqa: C901 — _make_equivalent's branches, undone one by one
    client: Callable[[str], Any], stack: Stack, logical: str, resource: Mapping[str, Any]
) -> None:
    """Undo :func:`_make_equivalent` (for an update that changed or dropped it, or a delete)."""
    from botocore.exceptions import ClientError

    kind = resource["Type"]
    try:
        props = stack.resolve_deep(resource.get("Properties", {}))
    except KeyError:  # what it refers to left with the same change (another variant's)
        if kind == "AWS::CloudWatch::Alarm":  # the only one that outlives its subject
            client("cloudwatch").delete_alarms(AlarmNames=[_planned(stack, logical, resource).ref])
        return  # a queue policy or log stream went with its queue or log group
    if kind in RUNTIME_PROVIDED or _how(kind, props).startswith(f"{kind}: recorded"):
        return
    name = _planned(stack, logical, resource).ref
    try:
        if kind == "AWS::S3::BucketPolicy":
            client("s3").delete_bucket_policy(Bucket=props["Bucket"])
        elif kind == "AWS::SQS::QueuePolicy":
            for url in props["Queues"]:
                client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        elif kind == "AWS::CloudWatch::Alarm":
            client("cloudwatch").delete_alarms(AlarmNames=[props.get("AlarmName", name)])
        elif kind == "AWS::Logs::LogStream":
            client("logs").delete_log_stream(
                logGroupName=props["LogGroupName"], logStreamName=props.get("LogStreamName", name)
            )
        elif kind == "AWS::Glue::Database":
            client("glue").delete_database(Name=name)
        elif kind == "AWS::Glue::Table":
            client("glue").delete_table(DatabaseName=props["DatabaseName"], Name=name)
        elif kind == "AWS::Athena::WorkGroup":
            client("athena").delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
        elif kind == "AWS::Athena::NamedQuery":
            athena = client("athena")
            work_group = props.get("WorkGroup", "primary")
            ids = athena.list_named_queries(WorkGroup=work_group)["NamedQueryIds"]
            for query_id in ids:
                query = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
                if query["Name"] == props["Name"]:
                    athena.delete_named_query(NamedQueryId=query_id)
        elif kind == "AWS::KinesisFirehose::DeliveryStream":
            client("firehose").delete_delivery_stream(DeliveryStreamName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] not in _GONE:
            raise
