"""The infrastructure template, parsed: the one place resource names and wiring live.

CloudFormation's short-form tags (``!Ref``, ``!GetAtt``, ``!Sub``...) are read into their
long JSON form (``{"Ref": ...}``), so callers see the same structure CloudFormation does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from pipeline.asl import check

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"
TEMPLATE_PATH = INFRA_DIR / "template.yaml"


class _CfnLoader(yaml.CSafeLoader):
    """A YAML loader that understands CloudFormation's intrinsic-function tags; on libyaml
    (PyYAML's wheels carry it), about 8 times faster than the pure-Python loader, with the
    same documents (``tests/test_template_loader.py``)."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse CloudFormation YAML (or JSON) text into its long form."""
    return yaml.load(text, Loader=_CfnLoader)


# EventBridge's defaults when a target names no RetryPolicy (EventBridge user guide).
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_AGE_S = 86_400

STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")  # a DefinitionSubstitutions ${Name}


@dataclass(frozen=True)
class ApiRoute:
    """A function's ``Api`` event: the method and resource path it answers on which API."""

    function_id: str
    method: str  # upper case
    path: str  # the resource path, ``/orders/{order_id}``
    api: str | None  # the logical id of its ``RestApiId`` (None: SAM's implicit API)


@dataclass(frozen=True)
class RuleTarget:
    """A pattern rule's state-machine target: where matching events go, how delivery is
    retried, and the dead-letter queue that takes what never got there."""

    rule_id: str
    pattern: Mapping[str, Any]
    machine_id: str
    max_attempts: int
    max_age_s: int
    dlq_id: str | None


@dataclass(frozen=True)
class Template:
    """A parsed template with the queries the rest of the package needs.

    ``source`` is the document as written, with its ``Parameters`` and ``Conditions``: the
    design variants (coordination, workflow types, concurrency, ...) are parameters of the
    one template. ``body`` is that document for one choice of ``parameters`` (the rest at
    their defaults), as CloudFormation would see it: each parameter's ``Default`` set to the
    chosen value, the resources and outputs whose ``Condition`` is false removed, every
    ``Fn::If`` replaced by its branch and ``AWS::NoValue`` dropped. Everything that reads the
    template (the local runtime, the simulator, the diagrams, the deployer) reads ``body``,
    so all of them see the same variant.
    """

    source: Mapping[str, Any]
    path: Path = field(default=TEMPLATE_PATH)
    parameters: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", parameter_values(self.source, self.parameters))
        object.__setattr__(self, "body", resolve(self.source, self.parameters))

    @classmethod
    def load(
        cls, path: Path | str = TEMPLATE_PATH, parameters: Mapping[str, Any] | None = None
    ) -> Template:
        """The template at ``path``, resolved for ``parameters`` (name -> value)."""
        path = Path(path)
        return cls(load_yaml(path.read_text()), path, dict(parameters or {}))

    def with_parameters(self, parameters: Mapping[str, Any]) -> Template:
        """This template with some parameters set (the others keep their current values);
        an unknown name or a value the parameter does not allow is a ``ValueError``."""
        return Template(self.source, self.path, {**self.parameters, **parameters})

    def value(self, value: Any) -> Any:
        """``value`` with a ``Ref`` to a parameter replaced by the parameter's value (a
        string, as CloudFormation gives it); anything else as it is."""
        if isinstance(value, Mapping) and set(value) == {"Ref"}:
            return self.parameters.get(value["Ref"], value)
        return value

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        return self.body.get("Resources", {})

    def of_type(self, *types: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Yield ``(logical_id, resource)`` for every resource of one of ``types``."""
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types:
                yield logical_id, resource

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def api_routes(self) -> list[ApiRoute]:
        """Every function's ``Api`` events, in template order."""
        out = []
        for function_id, function in self.of_type("AWS::Serverless::Function"):
            for event in (function.get("Properties", {}).get("Events") or {}).values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                api = props.get("RestApiId")
                api_id = api.get("Ref") if isinstance(api, Mapping) else None
                out.append(ApiRoute(function_id, props["Method"].upper(), props["Path"], api_id))
        return out

    def rule_targets(self) -> list[RuleTarget]:
        """Every pattern rule's state-machine targets, in rule order (schedules left out)."""
        out = []
        for rule_id, rule in self.of_type("AWS::Events::Rule"):
            props = rule["Properties"]
            if "EventPattern" not in props:
                continue
            for target in props["Targets"]:
                arn = target["Arn"]
                if not isinstance(arn, Mapping) or "Ref" not in arn:
                    continue
                policy = target.get("RetryPolicy", {})
                dlq = target.get("DeadLetterConfig", {}).get("Arn", {})
                out.append(
                    RuleTarget(
                        rule_id=rule_id,
                        pattern=props["EventPattern"],
                        machine_id=arn["Ref"],
                        max_attempts=int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS)),
                        max_age_s=int(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)),
                        dlq_id=dlq.get("Fn::GetAtt", [None])[0],
                    )
                )
        return sorted(out, key=lambda r: r.rule_id)

    @cached_property
    def globals(self) -> Mapping[str, Any]:
        return self.body.get("Globals", {})

    def function_setting(self, logical_id: str, key: str, default: Any = None) -> Any:
        """A function property as SAM resolves it: its own, else the Globals' Function value
        (a parameter's ``Ref`` read as the parameter's value)."""
        own = self.properties(logical_id)
        if key in own:
            return self.value(own[key])
        return self.value(self.globals.get("Function", {}).get(key, default))

    def function_environment(self, logical_id: str) -> dict[str, Any]:
        """A function's environment variables (SAM Globals merged under its own), unresolved."""
        merged: dict[str, Any] = dict(
            self.globals.get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        own = self.properties(logical_id).get("Environment", {}).get("Variables", {})
        merged.update(own)
        return merged

    def state_machine_definition(self, logical_id: str) -> dict[str, Any]:
        """The ASL document of a state machine (``DefinitionUri`` file or inline ``Definition``)."""
        props = self.properties(logical_id)
        if "Definition" in props:
            return dict(props["Definition"])
        return json.loads((self.path.parent / props["DefinitionUri"]).read_text())

    def with_definitions(self, definitions: Mapping[str, Mapping[str, Any]]) -> Template:
        """This template with some state machines' ASL replaced, everything else as it is.

        Each named machine gets the document inline (``Definition``, which SAM accepts in
        place of ``DefinitionUri``) and keeps its ``DefinitionSubstitutions``, type, role
        and rules, so the local runtime, the simulator, the diagrams and the deployer all
        run the replacement: e.g. ``Template.load(parameters={"Coordination":
        "choreography"}).with_definitions({"PaymentStateMachine":
        json.loads(Path("my-payment.asl.json").read_text())})`` for a JSONata variant of
        the payment machine. A machine must be one of this variant's (the payment machine is
        the choreography's). A ``${Name}`` the machine's substitutions do not define is
        refused here rather than left unresolved in the deployed definition.
        """
        body = copy.deepcopy(dict(self.source))
        for logical_id, definition in definitions.items():
            resource = body.get("Resources", {}).get(logical_id)
            if (
                resource is None
                or resource.get("Type") not in STATE_MACHINE_TYPES
                or logical_id not in self.resources
            ):
                machines = sorted(m for m, _ in self.of_type(*STATE_MACHINE_TYPES))
                why = ""
                if resource is not None and resource.get("Type") in STATE_MACHINE_TYPES:
                    condition = resource.get("Condition")
                    why = f" with these parameters (its condition {condition} is false)"
                raise KeyError(
                    f"{logical_id} is not a state machine of the template{why}: {machines}"
                )
            props = resource.setdefault("Properties", {})
            known = set(props.get("DefinitionSubstitutions", {}))
            unknown = set(_PLACEHOLDER.findall(json.dumps(definition))) - known
            if unknown:
                raise ValueError(
                    f"{logical_id}: no DefinitionSubstitutions for {sorted(unknown)} "
                    f"(it has {sorted(known)})"
                )
            check(definition)  # what CreateStateMachine would refuse, refused now
            props.pop("DefinitionUri", None)
            props.pop("DefinitionString", None)
            props["Definition"] = copy.deepcopy(dict(definition))
        return Template(body, self.path, self.parameters)

    def method_throttles(self) -> dict[tuple[str, str], Mapping[str, Any]]:
        """The API stages' ``MethodSettings`` entries that throttle, as written, by (resource
        path, method): ``/~1orders`` read as ``/orders``; ``/*`` and ``*`` for any."""
        found = {}
        for _, api in self.of_type("AWS::Serverless::Api", "AWS::ApiGateway::Stage"):
            for setting in api.get("Properties", {}).get("MethodSettings", []):
                if "ThrottlingRateLimit" not in setting:
                    continue
                path = str(setting.get("ResourcePath", "/*"))
                if path != "/*":  # after the leading "/", "~1" escapes a "/"
                    path = path[1:].replace("~1", "/")
                found[(path, str(setting.get("HttpMethod", "*")).upper())] = setting
        return found

    def throttle_limit(self, setting: Mapping[str, Any]) -> tuple[float, float]:
        """A throttling ``MethodSettings`` entry's (requests per second, burst), parameters
        read as their values; without a burst limit, the rate's."""
        rate = float(self.value(setting["ThrottlingRateLimit"]))
        return rate, float(self.value(setting.get("ThrottlingBurstLimit", rate)))

    def with_definition_files(self, files: Mapping[str, str | Path]) -> Template:
        """:meth:`with_definitions` from ASL files: ``{"PaymentStateMachine": "mine.asl.json"}``
        (what ``--definition PaymentStateMachine=mine.asl.json`` gives on the command line)."""
        definitions = {}
        for logical_id, file in files.items():
            try:
                definitions[logical_id] = json.loads(Path(file).read_text())
            except (OSError, ValueError) as error:
                raise ValueError(f"{logical_id}: cannot read {file}: {error}") from None
        return self.with_definitions(definitions)


def task_functions(template: Template, state_machine_id: str) -> dict[str, str]:
    """``${Substitution}`` placeholders of a state machine mapped to the function logical ids."""
    subs = template.properties(state_machine_id).get("DefinitionSubstitutions", {})
    mapping: dict[str, str] = {}
    for key, value in subs.items():
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical = value["Fn::GetAtt"][0]
            if template.resources.get(logical, {}).get("Type") == "AWS::Serverless::Function":
                mapping["${" + key + "}"] = logical
    return mapping


def most_specific(
    throttles: Mapping[tuple[str, str], Any], path: str, method: str
) -> tuple[str, str] | None:
    """The key of :meth:`Template.method_throttles` that throttles ``method path``, as API
    Gateway picks it: the path and method, the path for any method, any path for the method,
    any path and method; None when none does."""
    for key in ((path, method), (path, "*"), ("/*", method), ("/*", "*")):
        if key in throttles:
            return key
    return None


# ---------------------------------------------------------------- parameters and conditions

_NO_VALUE = object()  # where a Ref to AWS::NoValue was: the key or item is dropped


def parameter_values(source: Mapping[str, Any], chosen: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter's value (``chosen`` over the defaults), as strings, checked against
    its ``AllowedValues``, ``MinValue`` and ``MaxValue``."""
    declared = source.get("Parameters", {})
    unknown = set(chosen) - set(declared)
    if unknown:
        raise ValueError(
            f"the template has no parameter {', '.join(sorted(unknown))}; "
            f"it has {', '.join(sorted(declared))}"
        )
    values = {}
    for name, spec in declared.items():
        if name not in chosen and "Default" not in spec:
            raise ValueError(f"parameter {name} has no default: give it a value")
        value = str(chosen.get(name, spec.get("Default")))
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            raise ValueError(f"parameter {name}: {value!r} is not one of {allowed}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"parameter {name}: {value!r} is not a number") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < low) or (high is not None and number > high):
                raise ValueError(f"parameter {name}: {value} is outside [{low}, {high}]")
        values[name] = value
    return values


def _typed(spec: Mapping[str, Any], value: str) -> Any:
    return int(value) if spec.get("Type") == "Number" and value.isdigit() else value


def resolve(  # noqa: C901 — one branch per intrinsic a condition or an Fn::If may use
    source: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """``source`` as CloudFormation sees it for ``parameters`` (see :class:`Template`): a new
    document (``walk`` rebuilds every container it passes), ``source`` left as it is."""
    conditions = source.get("Conditions", {})
    held: dict[str, bool] = {}

    def holds(name: str) -> bool:
        if name not in held:
            if name not in conditions:
                raise ValueError(f"no condition {name!r} in the template")
            held[name] = bool(evaluate(conditions[name]))
        return held[name]

    def evaluate(node: Any) -> Any:
        if isinstance(node, Mapping) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and arg in parameters:
                return parameters[arg]
            if key == "Condition":
                return holds(arg)
            if key == "Fn::Equals":
                left, right = (str(evaluate(a)) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::And":
                return all(evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(evaluate(a) for a in arg)
        return node

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            if set(node) == {"Fn::If"}:
                name, then, otherwise = node["Fn::If"]
                return walk(then if holds(name) else otherwise)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            out = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (walk(item) for item in node) if v is not _NO_VALUE]
        return node

    body: dict[str, Any] = {}
    for section, content in source.items():
        if section == "Conditions":
            continue
        if section == "Parameters":  # new dicts: YAML aliases (``*concurrency``) share one
            body[section] = {
                name: {**walk(spec), "Default": _typed(spec, parameters[name])}
                for name, spec in content.items()
            }
        elif section in ("Resources", "Outputs"):
            body[section] = {
                logical_id: walk({k: v for k, v in item.items() if k != "Condition"})
                for logical_id, item in content.items()
                if "Condition" not in item or holds(item["Condition"])
            }
        else:
            body[section] = walk(content)
    return body
