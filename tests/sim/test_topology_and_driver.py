"""The simulator reads its topology from the template and drives the ASL on SimPy time."""

from __future__ import annotations

import pytest
import simpy
from simpy_driver import execution

from pipeline.asl import Invoke, TaskFailed, execute
from pipeline.domain.bus import SOURCE, matches
from pipeline.sim.topology import Topology
from pipeline.template import Template
from pipeline.variants import VARIANTS


def test_rules_targets_and_policies_come_from_the_template(template):
    topology = Topology.from_template(template)
    declared = {
        rule_id: rule["Properties"]
        for rule_id, rule in template.of_type("AWS::Events::Rule")
        if "EventPattern" in rule["Properties"]
    }
    assert {r.rule_id for r in topology.rules} == set(declared)
    for rule in topology.rules:
        (target,) = declared[rule.rule_id]["Targets"]
        assert rule.machine_id == target["Arn"]["Ref"]
        assert rule.max_attempts == target["RetryPolicy"]["MaximumRetryAttempts"]
        assert rule.dlq_id == target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    for machine in topology.machines.values():
        tasks = _task_resources(machine.definition)
        assert tasks and tasks <= set(machine.functions)  # every Task calls a known function


def _task_resources(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        if node.get("Type") == "Task":
            found.add(node["Resource"])
        for value in node.values():
            found |= _task_resources(value)
    elif isinstance(node, list):
        for value in node:
            found |= _task_resources(value)
    return found


@pytest.mark.parametrize(
    ("variant", "routes"),
    [
        (
            "choreography",
            {
                "OrderConfirmed": {"InventoryStateMachine", "NotificationStateMachine"},
                "OrderPlaced": {"PaymentStateMachine"},
                "LabelCreated": set(),
            },
        ),
        (  # the orchestrated saga: placed orders start it, it calls every step itself
            "default",
            {
                "OrderConfirmed": set(),
                "OrderPlaced": {"OrderSagaStateMachine"},
                "LabelCreated": set(),
            },
        ),
    ],
)
def test_events_route_by_the_deployed_patterns(variant, routes):
    topology = Topology.from_template(Template.load(parameters=VARIANTS[variant]))

    def routed(detail_type: str) -> set[str]:
        event = {"source": SOURCE, "detail-type": detail_type, "detail": {}}
        return {rule.machine_id for rule in topology.targets_of(event)}

    assert {detail_type: routed(detail_type) for detail_type in routes} == routes
    assert not matches({"source": ["other"]}, {"source": SOURCE})
    assert matches({"detail": {"kind": [{"prefix": "Order"}]}}, {"detail": {"kind": "OrderX"}})


FLAKY = {
    "StartAt": "T",
    "States": {
        "T": {
            "Type": "Task",
            "Resource": "fn",
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 2.0}],
            "End": True,
        }
    },
}


def test_retries_wait_on_simpy_time_and_tasks_spend_their_modelled_latency():
    calls = []

    def task(effect: Invoke):
        calls.append(effect.resource)
        yield env.timeout(0.5)  # modelled latency of every attempt
        if len(calls) <= 2:
            raise TaskFailed("Boom", f"attempt {len(calls)}")
        return {"ok": effect.payload}

    env = simpy.Environment()
    process = env.process(execution(env, FLAKY, {"n": 1}, task))
    env.run()
    result = process.value
    # three attempts of 0.5 s, backoffs of 2 s and 4 s between them
    assert env.now == 3 * 0.5 + 2 + 4
    assert (result.status, result.output) == ("SUCCEEDED", {"ok": {"n": 1}})

    attempts = iter([TaskFailed("Boom", "1"), TaskFailed("Boom", "2"), None])

    def same_task(payload):
        failure = next(attempts)
        if failure:
            raise failure
        return {"ok": payload}

    reference = execute(FLAKY, {"n": 1}, {"fn": same_task})
    assert [e["type"] for e in result.history] == [e["type"] for e in reference.history]


def test_many_executions_interleave_on_one_clock():
    env = simpy.Environment()

    def task(effect: Invoke):
        yield env.timeout(1.0)
        return effect.payload

    single = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "f", "End": True}}}
    runs = [env.process(execution(env, single, {"i": i}, task)) for i in range(50)]
    env.run()
    assert env.now == 1.0  # concurrent, not one after another
    assert [r.value.output for r in runs] == [{"i": i} for i in range(50)]


def test_a_task_failure_survives_being_copied():
    """SimPy hands a failed process's exception on; pickling does the same across processes."""
    import pickle

    copy = pickle.loads(pickle.dumps(TaskFailed("Boom", "why")))
    assert (copy.error, copy.cause, str(copy)) == ("Boom", "why", "Boom: why")
