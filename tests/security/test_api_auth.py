"""The order API is behind IAM: every route, as declared and as SAM translates it."""

from __future__ import annotations

import pytest
import yaml

from pipeline.deploy.sam import translate
from pipeline.template import INFRA_DIR, Template

FUNCTION = "AWS::Serverless::Function"


def api_events(template: Template):
    for function_id, _ in template.of_type(FUNCTION):
        for name, event in template.properties(function_id).get("Events", {}).items():
            if event["Type"] == "Api":
                yield f"{function_id}.{name}", event["Properties"]


def test_every_api_uses_iam_as_its_default_authorizer(template):
    apis = list(template.of_type("AWS::Serverless::Api"))
    assert apis
    for api_id, api in apis:
        assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM", api_id


def test_no_route_opts_out_of_the_default_authorizer(template):
    events = list(api_events(template))
    assert events
    apis = {api_id for api_id, _ in template.of_type("AWS::Serverless::Api")}
    for where, props in events:
        assert props["RestApiId"]["Ref"] in apis, f"{where} is on an implicit API without auth"
        authorizer = props.get("Auth", {}).get("Authorizer", "AWS_IAM")
        assert authorizer == "AWS_IAM", f"{where} sets Authorizer: {authorizer}"


@pytest.fixture(scope="module")
def translated(template):
    return translate(template, "s3://b/k.zip", "us-east-1")


def test_every_deployed_method_requires_sigv4(template, translated):
    """After SAM: each route is a method of the API's Swagger body with the IAM security
    scheme, and none is left without one."""
    (api,) = [
        r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"
    ]
    body = api["Properties"]["Body"]
    schemes = body["securityDefinitions"]
    methods = [
        (path, method, op)
        for path, ops in body["paths"].items()
        for method, op in ops.items()
        if method != "options"
    ]
    deployed = {(path, method) for path, method, _ in methods}
    declared = {(p["Path"], p["Method"]) for _, p in api_events(template)}
    assert deployed == declared
    for path, method, op in methods:
        names = [name for requirement in op.get("security", []) for name in requirement]
        assert names, f"{method.upper()} {path} has no authorizer"
        for name in names:
            assert schemes[name]["x-amazon-apigateway-authtype"] == "awsSigv4", (path, method)


def test_the_contract_documents_sigv4_on_every_operation():
    spec = yaml.safe_load((INFRA_DIR / "openapi.yaml").read_text())
    assert spec["security"] == [{"sigv4": []}]
    scheme = spec["components"]["securitySchemes"]["sigv4"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("security", spec["security"]) == spec["security"], (path, method)
