"""A JSONata variant of one of our machines, run the way ours are: one interpreter everywhere.

``tests/fixtures/statemachines/payment.jsonata.asl.json`` is the payment machine translated
to JSONata (``Arguments``, ``Output``, ``Condition``, ``$states``): same states, same Retry
and Catch, the same task payloads and outputs. The payment machine is the choreography's
(``Coordination=choreography``; the default orchestrates one saga instead), so the template
here is that variant's. It is not copied: the test swaps the one definition in with
:meth:`Template.with_definitions`, then

* runs both definitions through ``pipeline.asl`` on the same inputs and task outcomes and
  compares what the handlers and the next states see;
* deploys the variant in the local cloud and runs a seeded batch of orders through it
  (declines, gateway errors, contention and carrier failures, so refunds run), with the
  chaos suite's invariants and a replay of every payment execution on the JSONPath machine;
* simulates the same seeded run with either machine: the same counts, to the unit.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline import chaos
from pipeline.asl import Execution, ExecutionRun, Invoke, TaskFailed, VirtualClock
from pipeline.demo import run_demo
from pipeline.faults import Faults
from pipeline.sim.engine import envelope
from pipeline.sim.replay import replayable
from pipeline.sim.run import RunSpec, build
from pipeline.sim.summary import summarize
from pipeline.template import Template
from pipeline.variants import VARIANTS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/statemachines/payment.jsonata.asl.json"
MACHINE = "PaymentStateMachine"
PLACEHOLDER = "${PaymentFunctionArn}"
EVENT_TYPES = ("OrderPlaced", "InventoryReservationFailed", "InventoryReleased", "LabelCreated")
ERRORS = (  # what the payment handler and Lambda raise, retried, caught or neither
    "PaymentDeclined",
    "GatewayUnavailable",
    "StoreUnavailable",
    "ConcurrencyConflict",
    "NotifierUnavailable",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
    "ValidationFailed",
)


@pytest.fixture(scope="module")
def template() -> Template:
    """The choreography's template: the one with a payment machine (conftest's is the
    default's)."""
    return Template.load(parameters=VARIANTS["choreography"])


@pytest.fixture(scope="module")
def jsonata_payment() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def variant(template: Template, jsonata_payment: dict[str, Any]) -> Template:
    return template.with_definitions({MACHINE: jsonata_payment})


# -- the seam -------------------------------------------------------------------------------


def test_the_variant_replaces_one_definition_and_keeps_the_rest(template, variant):
    definition = variant.state_machine_definition(MACHINE)
    assert definition["QueryLanguage"] == "JSONata"
    assert "QueryLanguage" not in template.state_machine_definition(MACHINE)  # untouched
    props, original = variant.properties(MACHINE), template.properties(MACHINE)
    assert "DefinitionUri" not in props and "DefinitionUri" in original
    assert {k: v for k, v in props.items() if k != "Definition"} == {
        k: v for k, v in original.items() if k != "DefinitionUri"
    }
    for machine_id, _ in template.of_type("AWS::Serverless::StateMachine"):
        if machine_id != MACHINE:
            assert variant.state_machine_definition(
                machine_id
            ) == template.state_machine_definition(machine_id)
    assert variant.rule_targets() == template.rule_targets()


def test_the_seam_refuses_what_would_not_deploy(template, jsonata_payment):
    with pytest.raises(KeyError, match="not a state machine"):
        template.with_definitions({"PaymentFunction": jsonata_payment})
    stray = json.loads(json.dumps(jsonata_payment).replace(PLACEHOLDER, "${NoSuchFunctionArn}"))
    with pytest.raises(ValueError, match="NoSuchFunctionArn"):
        template.with_definitions({MACHINE: stray})


# -- the same semantics, state by state -------------------------------------------------------


def drive(definition: Mapping[str, Any], input: Any, answer: Callable[[Invoke], Any]) -> Execution:
    """Run ``definition`` to its end, each task's outcome from ``answer`` (a result, or a
    TaskFailed to fail it); time stands still."""
    run = ExecutionRun(definition, input, None, clock=VirtualClock(), rng=random.Random(0))
    while (effect := run.step()) is not None:
        if isinstance(effect, Invoke):
            outcome = answer(effect)
            if isinstance(outcome, TaskFailed):
                run.resume(failure=outcome)
            else:
                run.resume(outcome)
    assert run.result is not None
    return run.result


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


def trace(execution: Execution) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """What handlers and states saw: each state's name, input and output, each task's
    payload and outcome, in order; then the execution's status, error and output."""
    seen: list[tuple[Any, ...]] = []
    for event in execution.history:
        kind = event["type"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            seen.append((kind, details["name"], details.get("input")))
        elif kind.endswith("StateExited"):
            seen.append((kind, details["name"], details.get("output")))
        elif kind == "TaskScheduled":
            seen.append((kind, details["resource"], details["parameters"]))
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            seen.append((kind, details.get("output"), details.get("error"), details.get("cause")))
    return seen, (execution.status, execution.error, execution.cause, execution.output)


def random_answers(seed: int) -> Callable[[Invoke], Any]:
    """Seeded task outcomes: half succeed with a result naming the call, half fail."""
    rng, calls = random.Random(seed), iter(range(1_000))

    def answer(effect: Invoke) -> Any:
        n = next(calls)
        if rng.random() < 0.5:
            return {"action": effect.payload["action"], "call": n, "events": ["E"]}
        error = rng.choice(ERRORS)
        return TaskFailed(error, json.dumps({"errorType": error, "errorMessage": f"call {n}"}))

    return answer


def failing_first(count: int, error: str) -> Callable[[Invoke], Any]:
    """The first ``count`` tasks fail with ``error``, the rest succeed: every retry budget
    exhausted, or not, by one attempt."""
    calls = iter(range(1_000))

    def answer(effect: Invoke) -> Any:
        n = next(calls)
        if n < count:
            return TaskFailed(error, json.dumps({"errorType": error, "errorMessage": f"call {n}"}))
        return {"action": effect.payload["action"], "call": n}

    return answer


def test_both_definitions_send_the_same_payloads_and_pass_the_same_data(template, jsonata_payment):
    """Every event type, seeded and systematic sequences of task outcomes: the JSONata machine
    enters the same states with the same inputs, sends the same payloads, and ends the same
    way. Its Retry, Catch and timeouts are the JSONPath machine's, field for field."""
    jsonpath = template.state_machine_definition(MACHINE)
    assert list(jsonata_payment["States"]) == list(jsonpath["States"])
    for name, state in jsonpath["States"].items():
        same = ("Type", "Resource", "TimeoutSeconds", "Retry", "Next", "Default", "End")
        assert {k: jsonata_payment["States"][name].get(k) for k in same} == {
            k: state.get(k) for k in same
        }, name
        catches = [(c["ErrorEquals"], c["Next"]) for c in state.get("Catch", [])]
        assert [
            (c["ErrorEquals"], c["Next"]) for c in jsonata_payment["States"][name].get("Catch", [])
        ] == catches, name
    answers = [(f"seed {seed}", lambda seed=seed: random_answers(seed)) for seed in range(60)]
    answers += [
        (f"{error} x{count}", lambda count=count, error=error: failing_first(count, error))
        for error in ERRORS
        for count in range(9)
    ]
    entered: Counter[str] = Counter()
    for event_type in EVENT_TYPES:
        given = envelope(event_type)
        for case, answer in answers:
            ours = trace(drive(jsonpath, given, answer()))
            theirs = trace(drive(jsonata_payment, given, answer()))
            assert theirs == ours, (event_type, case)
            entered.update(s[1] for s in theirs[0] if s[0].endswith("StateEntered"))
    assert set(entered) == set(jsonata_payment["States"])  # every state was compared


# -- the local cloud ------------------------------------------------------------------------

ORDERS, SEED = 30, 4


def _payment_states(report) -> Counter[str]:
    """How often each state of the payment machine was entered in the run."""
    return Counter(
        _details(event)["name"]
        for machine, execution in report.runs
        if machine == MACHINE
        for event in execution.history
        if event["type"].endswith("StateEntered")
    )


JSONATA_PAYMENT_RUN = chaos.Chaos(
    "jsonata-payment",
    "the payment machine in JSONata: declines, gateway 5xx, contention and carrier failures",
    Faults(gateway_decline_rate=0.2, gateway_error_rate=0.2, carrier_failure_rate=0.2),
    # declined, retried, captured and refunded (after a reservation or a label failure)
    lambda r: (
        {"RecordDecline", "Capture", "Refund"} <= set(_payment_states(r))
        and sum(e.retries for m, e in r.runs if m == MACHINE) > 0
        and any(m["compensated"] for m in r.per_order.values())
    ),
    hot_share=0.5,
)


def recorded_outcomes(execution: Execution) -> Callable[[Invoke], Any]:
    """The task outcomes of a finished execution, handed back in the order they happened."""
    outcomes: list[Any] = []
    for event in execution.history:
        if event["type"] == "TaskSucceeded":
            outcomes.append(event["taskSucceededEventDetails"]["output"])
        elif event["type"] in ("TaskFailed", "TaskTimedOut"):
            details = _details(event)
            outcomes.append(TaskFailed(details["error"], details["cause"]))
    pending = iter(outcomes)
    return lambda _effect: next(pending)


@pytest.mark.system  # runs the demo on a deployed local stack
def test_orders_run_through_the_jsonata_payment_machine_in_the_local_cloud(
    template, variant, jsonata_payment
):
    chaos_run = JSONATA_PAYMENT_RUN
    faults = chaos_run.faults.seeded(SEED)
    report = run_demo(ORDERS, SEED, faults=faults, hot_share=chaos_run.hot_share, template=variant)
    assert report.orders == ORDERS
    failed = chaos.check(chaos_run, report)  # the invariants every chaos run ends with
    assert not any(failed.values()), chaos.Outcome(chaos_run, report, failed).failed()
    assert report.by_status["CONFIRMED"] > 0 and report.by_status["CANCELLED"] > 0

    # What was deployed, and so run, is the fixture with its ARN substituted; only payment.
    deployed = report.definitions[MACHINE]
    function_arn = deployed["States"]["Authorize"]["Resource"]
    assert function_arn.startswith("arn:aws:lambda:")
    assert deployed == json.loads(json.dumps(jsonata_payment).replace(PLACEHOLDER, function_arn))
    assert [m for m, d in report.definitions.items() if "QueryLanguage" in d] == [MACHINE]

    # Every payment execution, replayed on the JSONPath machine with the outcomes its tasks
    # had, sends the handler the same payloads and hands the next states the same data.
    jsonpath = json.loads(
        json.dumps(template.state_machine_definition(MACHINE)).replace(PLACEHOLDER, function_arn)
    )
    payments = [execution for machine, execution in report.runs if machine == MACHINE]
    assert len(payments) >= ORDERS
    for execution in payments:
        given = execution.history[0]["executionStartedEventDetails"]["input"]
        assert trace(drive(jsonpath, given, recorded_outcomes(execution))) == trace(execution)
    assert report.executions[f"{MACHINE}:SUCCEEDED"] > 0


# -- the simulator ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["default", "payment-outage", "carrier-outage"])
def test_the_simulator_gives_the_same_run_with_either_payment_machine(template, variant, scenario):
    """Same seed, same counts: the simulator records the interpreter's decisions per path,
    and the two machines decide the same, so every count of the summary agrees."""
    spec = RunSpec(rate_per_min=600, duration_s=60, drain_s=1_800, seed=5, scenario=scenario)
    summaries = {}
    for name, source in (("JSONPath", template), ("JSONata", variant)):
        sim = build(spec, source)
        language = sim.topology.machines[MACHINE].definition.get("QueryLanguage", "JSONPath")
        assert language == name
        assert MACHINE not in sim._interpreted_machines  # replayed from its path cache
        sim.run()
        summaries[name] = summarize(sim)
    jsonpath, jsonata = summaries["JSONPath"], summaries["JSONata"]
    assert jsonata["orders"]["finished"] == jsonata["orders"]["accepted"] > 300
    assert jsonata["orders"] == jsonpath["orders"]
    assert jsonata["executions"] == jsonpath["executions"]
    assert jsonata == jsonpath


# -- replayable -------------------------------------------------------------------------------


def _with_expression(definition: dict[str, Any], expression: str) -> dict[str, Any]:
    """The definition with Authorize's order id computed by ``expression`` (JSONata)."""
    changed = json.loads(json.dumps(definition))
    changed["States"]["Authorize"]["Arguments"]["order_id"] = "{% " + expression + " %}"
    return changed


@pytest.mark.parametrize(
    "expression",
    [
        "$states.context.Execution.Id",
        "$states.context.Execution.StartTime & $states.input.detail.order_id",
        "$now()",
        "$string($millis())",
        "$string($random())",
        "$uuid()",
        "$string($floor($random () * 10))",
        "$map([1], $random)",
    ],
)
def test_a_jsonata_definition_reading_time_context_or_randomness_is_not_replayed(
    jsonata_payment, expression
):
    assert replayable(jsonata_payment)
    assert not replayable(_with_expression(jsonata_payment, expression))


def test_jsonata_expressions_that_only_read_the_input_stay_replayable(jsonata_payment):
    for expression in (
        "$states.input.detail.order_id",
        "$string($states.input.detail.sequence)",
        "$nowhere",  # a variable, not $now
        "$states.input.contextual",
    ):
        assert replayable(_with_expression(jsonata_payment, expression)), expression


def test_the_jsonpath_markers_still_refuse(template):
    payment = template.state_machine_definition(MACHINE)
    assert replayable(payment)
    authorize = payment["States"]["Authorize"]
    for key, value in (
        ("order_id.$", "$$.Execution.Id"),
        ("order_id.$", "States.Format('{}', $$.Execution.Name)"),  # $$ inside an intrinsic
        ("order_id.$", "States.UUID()"),
        ("order_id.$", "States.Format('{}', States.MathRandom(1, 9))"),
    ):
        changed = {
            **payment,
            "States": {
                **payment["States"],
                "Authorize": {**authorize, "Parameters": {**authorize["Parameters"], key: value}},
            },
        }
        assert not replayable(changed), value
    assert not replayable({**payment, "TimeoutSeconds": 60})
    waits = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "x", "End": True}}}
    assert not replayable(waits)
    assert not replayable({**waits, "QueryLanguage": "JSONata"})
