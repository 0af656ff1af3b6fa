"""The deployment flow: package, upload, translate, change set, approve, execute, follow,
outputs; and the teardown. The same steps for the local endpoint and for AWS: only the
target, and the adapter for what the local endpoint's CloudFormation cannot create, differ.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.deploy import artifacts, changes, progress
from pipeline.deploy.sam import translate
from pipeline.deploy.target import Target, redact
from pipeline.template import Template


class Adapter(Protocol):
    """How a target's CloudFormation is fed: AWS takes the template as it is."""

    def adapt(self, body: dict, target: Target, stack_name: str, parameters: dict) -> dict: ...

    def local_changes(
        self, previous: Mapping | None, sent: Mapping, plan: changes.Plan
    ) -> list[changes.Change]: ...

    def after_execute(
        self, target: Target, stack_name: str, previous: Mapping | None, sent: Mapping
    ) -> dict[str, str]: ...

    def before_delete(self, target: Target, stack_name: str, sent: Mapping) -> None: ...


class AsIs:
    """The template unchanged, for a target whose CloudFormation creates every type."""

    def adapt(self, body: dict, target: Target, stack_name: str, parameters: dict) -> dict:
        return body

    def local_changes(self, previous, sent, plan) -> list[changes.Change]:
        return []

    def after_execute(self, target, stack_name, previous, sent) -> dict[str, str]:
        return {}

    def before_delete(self, target, stack_name, sent) -> None:
        return None


@dataclass
class Result:
    target: str
    stack_name: str
    plan: changes.Plan | None = None
    artifact: artifacts.Artifact | None = None
    executed: bool = False
    status: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    equivalents: dict[str, str] = field(default_factory=dict)  # made by the adapter, and how
    retained: dict[str, str] = field(default_factory=dict)  # on delete: logical -> physical
    sent: dict[str, Any] = field(default_factory=dict)  # the template CloudFormation got


def adapter_for(target: Target) -> Adapter:
    """The target's own adapter (a local target carries one, see
    :func:`pipeline.local.deploy.local_target`), else the template as it is, for AWS."""
    if target.adapter is not None:
        adapter: Adapter = target.adapter
        return adapter
    if target.is_aws:
        return AsIs()
    raise ValueError(
        "a local target carries its adapter: make it with pipeline.local.deploy.local_target"
    )


def deploy(
    target: Target,
    template: Template | None = None,
    stack_name: str = "orders",
    parameters: Mapping[str, str] | None = None,
    approve: Callable[[changes.Plan], bool] = lambda plan: True,
    keep_unapproved: bool = False,
    say: Callable[[str], None] = print,
    adapter: Adapter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    show_plan: bool = True,
) -> Result:
    """Create or update the stack through a change set that ``approve`` sees first
    (``show_plan=False`` prints only its counts)."""
    template = template or Template.load()
    parameters = {k: str(v) for k, v in (parameters or {}).items()}
    adapter = adapter or adapter_for(target)
    show = _shower(target, say)
    result = Result(target.describe(), stack_name)
    show(f"Target: {result.target}, stack {stack_name}.")

    s3, cfn = target.client("s3"), target.client("cloudformation")
    # The variant the parameters choose is the one sent (resources whose Condition they make
    # false are left out): the ones given, over the live stack's for those not given (an
    # update keeps them), over the defaults. An unknown name is refused with the change set.
    declared = template.source.get("Parameters", {})
    chosen = {**_live_parameters(cfn, stack_name), **parameters}
    template = template.with_parameters({k: v for k, v in chosen.items() if k in declared})
    bucket = artifacts.bucket_name(stack_name, target.account(), target.region)
    if artifacts.ensure_bucket(s3, bucket, target.region):
        show(f"Created the artifact bucket {bucket} (private, encrypted).")
    artifact = artifacts.upload(s3, bucket, artifacts.package())
    result.artifact = artifact
    show(
        f"Handlers zip ({artifact.size / 1024:.0f} KiB) "
        + (f"uploaded to {artifact.uri}." if artifact.uploaded else f"unchanged: {artifact.uri}.")
    )
    body = translate(template, artifact.uri, target.region)
    show(f"Translated the SAM template: {len(body['Resources'])} CloudFormation resources.")

    sent = adapter.adapt(body, target, stack_name, parameters)
    result.sent = sent
    previous = _deployed_template(cfn, stack_name)
    text = json.dumps(sent, default=str, separators=(",", ":")).encode()
    url = artifacts.upload_template(s3, bucket, text, target.region, stack_name)
    plan = changes.create(cfn, stack_name, sent, parameters, template_url=url, sleep=sleep)
    plan.changes += adapter.local_changes(previous, sent, plan)
    result.plan = plan
    for line in changes.render(plan, detail=show_plan):
        show(line)
    if plan.empty:
        show("Nothing to deploy: the stack already matches the template.")
        result.status = "UNCHANGED"
        result.outputs = _outputs(cfn, stack_name)
        return result
    if not approve(plan):
        if keep_unapproved:
            show(f"Change set left for review: {plan.change_set_id}")
        else:
            changes.discard(cfn, plan)
            show("Not approved: change set discarded, nothing deployed.")
        result.status = "NOT_EXECUTED"
        return result

    stack_id = plan.stack_id or cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    before = progress.latest(cfn, stack_id)
    cfn.execute_change_set(ChangeSetName=plan.change_set_id, StackName=stack_name)
    result.status = progress.follow(cfn, stack_id, show, before, sleep=sleep)
    result.executed = True
    result.equivalents = adapter.after_execute(target, stack_name, previous, sent)
    result.outputs = _outputs(cfn, stack_name)
    show(f"Stack {stack_name}: {result.status}. Outputs:")
    for key, value in sorted(result.outputs.items()):
        show(f"  {key:<22} {value}")
    return result


def delete(
    target: Target,
    stack_name: str = "orders",
    say: Callable[[str], None] = print,
    adapter: Adapter | None = None,
    remove_artifacts: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Delete the stack, say which resources its DeletionPolicy keeps, remove the artifacts."""
    adapter = adapter or adapter_for(target)
    show = _shower(target, say)
    cfn = target.client("cloudformation")
    result = Result(target.describe(), stack_name)
    stack = changes.stack_status(cfn, stack_name)
    if stack is None:
        show(f"No stack {stack_name} at {result.target}.")
        result.status = "ABSENT"
        return result
    sent = _deployed_template(cfn, stack_name) or {}
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    }
    result.retained = {
        logical: physical.get(logical, "")
        for logical, resource in sent.get("Resources", {}).items()
        if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    }
    show(f"Deleting stack {stack_name} from {result.target}.")
    adapter.before_delete(target, stack_name, sent)
    before = progress.latest(cfn, stack["StackId"])
    cfn.delete_stack(StackName=stack_name)
    result.status = progress.follow(cfn, stack["StackId"], show, before, sleep=sleep)
    for logical, name in sorted(result.retained.items()):
        show(f"  kept by its DeletionPolicy: {logical} ({name}); delete it by hand if unwanted")
    if remove_artifacts:
        s3 = target.client("s3")
        bucket = artifacts.bucket_name(stack_name, target.account(), target.region)
        if artifacts.remove_bucket(s3, bucket):
            show(f"Removed the artifact bucket {bucket}.")
    show(f"Stack {stack_name}: {result.status}.")
    return result


def outputs(target: Target, stack_name: str = "orders") -> dict[str, str]:
    """The stack's outputs ({} when there is no stack)."""
    cfn = target.client("cloudformation")
    if changes.stack_status(cfn, stack_name) is None:
        return {}
    return _outputs(cfn, stack_name)


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs") or []}


def _live_parameters(cfn: Any, stack_name: str) -> dict[str, str]:
    """The live stack's parameter values (none when there is no stack yet)."""
    stack = changes.stack_status(cfn, stack_name)
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return {}
    return {
        p["ParameterKey"]: str(p["ParameterValue"])
        for p in stack.get("Parameters", [])
        if "ParameterValue" in p
    }


def _deployed_template(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The template the live stack was last deployed with (None when there is no stack)."""

    stack = changes.stack_status(cfn, stack_name)
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return None
    body = cfn.get_template(StackName=stack_name)["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else dict(body)


def _shower(target: Target, say: Callable[[str], None]) -> Callable[[str], None]:
    secrets = target.secrets()
    return lambda line: say(redact(line, secrets))
