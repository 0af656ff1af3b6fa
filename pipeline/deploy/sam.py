"""SAM to plain CloudFormation, offline: what ``sam deploy`` sends, with nothing left to fetch.

Each state machine's ``DefinitionUri`` is inlined as its ``Definition``, each function's
``CodeUri`` points at the uploaded zip, and each named query's ``-- file:`` reference is
replaced by the SQL of ``infra/queries`` (one copy of each query, also run by DuckDB locally).

The translation is a pure function of that inlined template and the region, so each is
translated once per process (every local run deploys the same template) and every caller gets
its own copy of the result.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from typing import Any

from pipeline.template import INFRA_DIR, Template

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
FILE_MARKER = "-- file: "
_TRANSLATED: OrderedDict[str, dict[str, Any]] = OrderedDict()  # cache key -> translation
_CACHED = 16  # translations kept (the template and a few variants of it)


def query_text(query_string: str) -> str:
    """A named query's SQL, read from the file its ``-- file:`` reference names."""
    if query_string.startswith(FILE_MARKER):
        return (INFRA_DIR / query_string.removeprefix(FILE_MARKER).strip()).read_text()
    return query_string


def translate(template: Template, code_uri: str, region: str) -> dict[str, Any]:
    """The SAM template as plain CloudFormation, ready to send."""
    body = copy.deepcopy(dict(template.body))
    for logical_id, resource in body["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props.pop("DefinitionUri")
            props["Definition"] = template.state_machine_definition(logical_id)
        elif resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = code_uri
        elif resource["Type"] == "AWS::Athena::NamedQuery":
            props["QueryString"] = query_text(props["QueryString"])
    body.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = code_uri

    key = _cache_key(body, region)
    if key is not None and key in _TRANSLATED:
        _TRANSLATED.move_to_end(key)
        return copy.deepcopy(_TRANSLATED[key])
    translated = _translate(body, region)
    if key is not None:
        _TRANSLATED[key] = copy.deepcopy(translated)  # the caller may change its own copy
        while len(_TRANSLATED) > _CACHED:
            _TRANSLATED.popitem(last=False)
    return translated


def _cache_key(body: dict[str, Any], region: str) -> str | None:
    """The inlined template and region as JSON (key order kept: it orders the output), or
    None when the translation is not a function of them: a value JSON would not tell apart
    (a non-string key, a date), or an API with ``AlwaysDeploy`` (a new id every second)."""
    if not _plain(body):
        return None
    key = json.dumps([region, body], separators=(",", ":"))
    return None if '"AlwaysDeploy"' in key else key


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def _translate(body: dict[str, Any], region: str) -> dict[str, Any]:
    import logging

    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The translator warns that its usage metrics were never published: they are not meant to be.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    # The template names no managed policies, so none has to be looked up in IAM.
    return translator.translate(body, parameter_values={}, get_managed_policy_map=dict)
