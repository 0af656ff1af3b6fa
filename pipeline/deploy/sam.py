"""SAM to plain CloudFormation, offline: what ``sam deploy`` sends, with nothing left to fetch.

Each state machine's ``DefinitionUri`` is inlined as its ``Definition``, each function's
``CodeUri`` points at the uploaded zip, and each named query's ``-- file:`` reference is
replaced by the SQL of ``infra/queries`` (one copy of each query, also run by DuckDB locally).
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.template import INFRA_DIR, Template

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
FILE_MARKER = "-- file: "


def query_text(query_string: str) -> str:
    """A named query's SQL, read from the file its ``-- file:`` reference names."""
    if query_string.startswith(FILE_MARKER):
        return (INFRA_DIR / query_string.removeprefix(FILE_MARKER).strip()).read_text()
    return query_string


def translate(template: Template, code_uri: str, region: str) -> dict[str, Any]:
    """The SAM template as plain CloudFormation, ready to send."""
    import logging

    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

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

    # The translator warns that its usage metrics were never published: they are not meant to be.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    # The template names no managed policies, so none has to be looked up in IAM.
    return translator.translate(body, parameter_values={}, get_managed_policy_map=dict)
