"""Design variants are parameters of the one template: resolving them is what every reader
(local runtime, simulator, diagrams, deployer) sees, so it is checked here once."""

from __future__ import annotations

import pytest

from pipeline.template import Template, resolve
from pipeline.variants import VARIANTS, parameters

CHOREOGRAPHY = {"PaymentRule", "InventoryRule", "ShippingRule", "NotificationRule"}


def test_the_default_is_the_orchestrated_saga_and_choreography_is_a_parameter_away():
    default = Template.load()
    rules = {rule.rule_id for rule in default.rule_targets()}
    assert rules == {"OrderSagaRule"}
    assert "PaymentStateMachine" not in default.resources
    choreography = default.with_parameters({"Coordination": "choreography"})
    assert {rule.rule_id for rule in choreography.rule_targets()} == CHOREOGRAPHY
    assert "OrderSagaStateMachine" not in choreography.resources
    assert choreography.source is default.source  # one document, two readings


def test_a_condition_false_removes_resources_and_fn_if_picks_a_branch():
    default = Template.load()
    role = default.properties("DlqRemediationFunctionRole")["Policies"][0]["PolicyDocument"]
    starts = [s for s in role["Statement"] if s.get("Action") == "states:StartExecution"]
    assert starts[0]["Resource"] == [{"Ref": "OrderSagaStateMachine"}]
    urls = default.function_environment("DlqRemediationFunction")["DLQ_URLS"]["Fn::Join"][1]
    assert {"Ref": "PaymentTargetDLQ"} not in urls and {"Ref": "OrderSagaTargetDLQ"} in urls
    assert "Conditions" not in default.body and "Conditions" in default.source


def test_parameter_values_reach_the_readers_as_cloudformation_gives_them():
    sized = Template.load(parameters={"PaymentConcurrency": 120, "PaymentWorkflowType": "STANDARD"})
    assert sized.function_setting("PaymentFunction", "ReservedConcurrentExecutions") == "120"
    assert sized.function_setting("ShippingFunction", "ReservedConcurrentExecutions") is None
    assert sized.body["Parameters"]["PaymentConcurrency"]["Default"] == 120
    chosen = sized.with_parameters({"Coordination": "choreography"})
    assert chosen.value(chosen.properties("PaymentStateMachine")["Type"]) == "STANDARD"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"Coordinaton": "choreography"}, "no parameter Coordinaton"),
        ({"Coordination": "mesh"}, "'mesh' is not one of"),
        ({"PaymentConcurrency": "-1"}, "outside"),
        ({"ApiThrottleRate": "fast"}, "not a number"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(given, message):
    with pytest.raises(ValueError, match=message):
        Template.load(parameters=given)


def test_no_value_drops_a_list_item_and_an_unknown_condition_is_an_error():
    source = {
        "Parameters": {"On": {"Type": "String", "Default": "no"}},
        "Conditions": {"IsOn": {"Fn::Equals": [{"Ref": "On"}, "yes"]}},
        "Resources": {
            "A": {
                "Type": "X",
                "Properties": {"L": [1, {"Fn::If": ["IsOn", 2, {"Ref": "AWS::NoValue"}]}]},
            },
            "B": {"Type": "X", "Condition": "IsOn"},
        },
    }
    assert resolve(source, {"On": "no"})["Resources"] == {
        "A": {"Type": "X", "Properties": {"L": [1]}}
    }
    assert set(resolve(source, {"On": "yes"})["Resources"]) == {"A", "B"}
    broken = {**source, "Resources": {"C": {"Type": "X", "Condition": "Missing"}}}
    with pytest.raises(ValueError, match="no condition 'Missing'"):
        resolve(broken, {"On": "no"})


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_resolves_and_its_machines_have_their_tasks(name):
    template = Template.load(parameters=parameters(name))
    machines = [m for m, _ in template.of_type("AWS::Serverless::StateMachine")]
    assert machines and all(template.state_machine_definition(m)["States"] for m in machines)
    targets = {rule.machine_id for rule in template.rule_targets()}
    assert targets == set(machines)  # every machine is started by a rule, none dangles


def test_an_unknown_variant_names_the_known_ones():
    with pytest.raises(KeyError, match="choose from default"):
        parameters("fastest")
