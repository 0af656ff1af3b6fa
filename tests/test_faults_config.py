"""Fault configuration is typed: one frozen :class:`Faults` shared by the local runtime, its
handlers, the chaos suite and the simulator; an unknown knob or scenario, or a value that is
not a number in range, is an error naming what is valid, never a silent 0."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import re
from pathlib import Path

import pytest

from pipeline import chaos
from pipeline.demo import run_demo
from pipeline.faults import SCENARIOS, Faults, scenario
from pipeline.handlers.payment import gateway_from_env
from pipeline.handlers.shipping import carrier_availability
from pipeline.seeds import stream_seed
from pipeline.sim.failures import FailureModel

ROOT = Path(__file__).resolve().parent.parent
FAULTS_MODULES = {ROOT / "pipeline" / "faults.py", ROOT / "pipeline" / "local" / "faults.py"}
KNOBS = list(Faults.knobs())


def test_every_field_is_a_documented_knob_with_its_environment_name():
    assert len(KNOBS) == len(dataclasses.fields(Faults)) == 18
    assert all(k.startswith("FAKE_") for k in KNOBS if k != "AWS_MAX_ATTEMPTS")
    source = (ROOT / "pipeline" / "faults.py").read_text()
    body = next(
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "Faults"
    ).body
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign):
            documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            assert documented, f"{ast.unparse(node.target)} has no docstring"


def test_an_unknown_knob_raises_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown fault knob") as raised:
        Faults.from_knobs({"FAKE_GATEWAY_EROR_RATE": "0.5"})
    message = str(raised.value)
    assert "'FAKE_GATEWAY_EROR_RATE'" in message
    assert "did you mean FAKE_GATEWAY_ERROR_RATE?" in message
    assert all(knob in message for knob in KNOBS)
    # a mapping of knobs holds knobs only; reading an environment skips what is not FAKE_*
    with pytest.raises(ValueError, match="POWERTOOLS_METRICS_DISABLED"):
        Faults.from_knobs({"POWERTOOLS_METRICS_DISABLED": "false"})
    with pytest.raises(ValueError, match="FAKE_CARRIER_OUTAGE"):
        Faults.from_environment({"PATH": "/bin", "FAKE_CARRIER_OUTAGE": "30"})


def test_reading_an_environment_ignores_unrelated_variables():
    env = {
        "PATH": "/usr/bin",
        "EVENTS_TABLE": "events",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FAKE_GATEWAY_ERROR_RATE": "0.5",
        "AWS_MAX_ATTEMPTS": "2",
    }
    assert Faults.from_environment(env) == Faults(gateway_error_rate=0.5, aws_max_attempts=2)
    assert Faults.from_environment({}) == Faults()


def test_an_unknown_scenario_raises_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown scenario 'defualt'") as raised:
        scenario("defualt", 1)
    assert all(name in str(raised.value) for name in SCENARIOS)
    with pytest.raises(ValueError, match="unknown scenario"):
        FailureModel.from_scenario("defualt", 1)


@pytest.mark.parametrize(
    ("knob", "value", "why"),
    [
        ("FAKE_GATEWAY_ERROR_RATE", "lots", "not a number"),
        ("FAKE_GATEWAY_ERROR_RATE", "", "not a number"),
        ("FAKE_GATEWAY_ERROR_RATE", "1.5", "between 0 and 1"),
        ("FAKE_START_THROTTLE_RATE", "-0.1", "between 0 and 1"),
        ("FAKE_TASK_TIMEOUT_RATE", "nan", "not a finite number"),
        ("FAKE_CARRIER_OUTAGE_S", "-40", "cannot be negative"),
        ("FAKE_CARRIER_OUTAGE_S", "inf", "not a finite number"),
        ("FAKE_POISON_RECORDS", "1.5", "not a whole number"),
        ("FAKE_POISON_RECORDS", "-1", "cannot be negative"),
        ("AWS_MAX_ATTEMPTS", "0", "at least 1"),
        ("AWS_MAX_ATTEMPTS", "two", "not a whole number"),
        ("FAKE_GATEWAY_SEED", "0x1f", "not a whole number"),
    ],
)
def test_a_bad_value_raises_naming_the_knob(knob, value, why):
    with pytest.raises(ValueError, match=re.escape(f"{knob}={value!r}") + ".*" + why):
        Faults.from_knobs({knob: value})
    with pytest.raises(ValueError, match=knob):
        Faults.from_environment({knob: value})


def test_the_dataclass_checks_values_given_directly_and_is_frozen():
    with pytest.raises(ValueError, match="FAKE_GATEWAY_DECLINE_RATE=2: a rate is between 0 and 1"):
        Faults(gateway_decline_rate=2)
    with pytest.raises(ValueError, match="FAKE_POISON_RECORDS='2'"):
        Faults(poison_records="2")  # type: ignore[arg-type]
    faults = Faults(carrier_outage_s=40, poison_records=2.0)  # type: ignore[arg-type]
    assert faults.carrier_outage_s == 40.0 and isinstance(faults.carrier_outage_s, float)
    assert faults.poison_records == 2 and isinstance(faults.poison_records, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        faults.gateway_error_rate = 0.5  # type: ignore[misc]
    assert Faults.from_knobs({"FAKE_POISON_RECORDS": 2, "FAKE_GATEWAY_ERROR_RATE": 0.5}) == Faults(
        poison_records=2, gateway_error_rate=0.5
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_round_trips_through_the_environment(name):
    faults = scenario(name, 3)
    env = faults.to_environment()
    assert all(isinstance(v, str) for v in env.values())
    assert set(env) <= set(KNOBS)
    assert ("AWS_MAX_ATTEMPTS" in env) == (faults.aws_max_attempts is not None)
    assert Faults.from_environment(env) == faults
    assert Faults.from_environment({"HOME": "/root", **env}) == faults
    assert Faults.from_knobs(env) == faults


def test_scenarios_are_seeded_as_before():
    """The knobs and seeds the scenarios carried as strings before they were typed."""
    env = scenario("default", 3).to_environment()
    assert {k: v for k, v in env.items() if v not in ("0", "0.0", "60.0")} == {
        "FAKE_GATEWAY_DECLINE_RATE": "0.05",
        "FAKE_GATEWAY_ERROR_RATE": "0.05",
        "FAKE_CARRIER_FAILURE_RATE": "0.1",
        "FAKE_START_THROTTLE_RATE": "0.02",
        "FAKE_LAMBDA_THROTTLE_RATE": "0.02",
        "FAKE_DUPLICATE_DELIVERY_RATE": "0.05",
        "FAKE_TASK_TIMEOUT_RATE": "0.02",
        "FAKE_DYNAMODB_THROTTLE_RATE": "0.02",
        "FAKE_GATEWAY_SEED": str(stream_seed(3, "gateway")),
        "FAKE_CARRIER_SEED": str(stream_seed(3, "carrier")),
    }
    assert env["FAKE_DELIVERY_DELAY_S"] == "60.0"  # the default the local runtime had
    assert scenario("dynamodb-throttling", 0).aws_max_attempts == 2
    assert SCENARIOS["none"] == Faults()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_simulator_models_a_scenario_as_its_typed_faults(name):
    faults = scenario(name, 5)
    from_name = FailureModel.from_scenario(name, 5)
    from_faults = FailureModel.from_faults(faults, 5)
    assert from_name == from_faults
    assert from_name == FailureModel.from_faults(
        Faults.from_environment(faults.to_environment()), 5
    )
    assert _draws(from_name) == _draws(from_faults)  # and the same seeded draws


def _draws(model: FailureModel) -> list[tuple[bool, bool, str | None, str | None]]:
    return [
        (
            model.start_throttled(),
            model.delivered_twice(),
            model.error_for("gateway.authorize", n),
            model.error_for("carrier.create_label", n),
        )
        for n in range(200)
    ]


def test_the_simulator_reads_each_modelled_knob():
    model = FailureModel.from_faults(
        Faults(
            gateway_decline_rate=0.1,
            gateway_error_rate=0.2,
            carrier_failure_rate=0.3,
            carrier_outage_s=40,
            start_throttle_rate=0.4,
            lambda_throttle_rate=0.5,
            duplicate_delivery_rate=0.6,
            task_timeout_rate=0.7,
            dynamodb_throttle_rate=0.8,
            aws_max_attempts=2,
            firehose_duplicate_rate=0.9,
        )
    )
    assert dict(model.tasks["gateway.authorize"].rates) == {
        "GatewayUnavailable": 0.2,
        "PaymentDeclined": pytest.approx(0.8 * 0.1),
    }
    assert dict(model.tasks["carrier.create_label"].rates) == {"CarrierUnavailable": 0.3}
    assert model.outages["carrier.create_label"][0].length_s == 40.0
    assert (
        model.start_throttle,
        model.lambda_throttle,
        model.duplicate_delivery,
        model.task_timeout,
        model.dynamodb_throttle,
        model.dynamodb_attempts,
        model.lake_duplicate,
    ) == (0.4, 0.5, 0.6, 0.7, 0.8, 2, 0.9)
    assert FailureModel.from_faults(Faults()).dynamodb_attempts == 3  # the SDK's default


def test_the_handlers_read_their_faults_through_the_same_class():
    gateway = gateway_from_env({"FAKE_GATEWAY_ERROR_RATE": "0.5", "FAKE_GATEWAY_SEED": "9"})
    assert gateway.rates.error == 0.5 and gateway.rates.decline == 0.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="did you mean FAKE_GATEWAY_ERROR_RATE"):
        gateway_from_env({"FAKE_GATEWAY_EROR_RATE": "0.5"})
    with pytest.raises(ValueError, match="FAKE_CARRIER_FAILURE_RATE='often'"):
        carrier_availability({"FAKE_CARRIER_FAILURE_RATE": "often"})
    assert carrier_availability({"PATH": "/bin"}) is None


def test_the_local_runtime_refuses_a_misspelt_knob_before_starting():
    with pytest.raises(ValueError, match="did you mean FAKE_CARRIER_FAILURE_RATE"):
        run_demo(orders=1, faults={"FAKE_CARIER_FAILURE_RATE": "1.0"})


def test_chaos_scenarios_are_typed_and_seeded_like_the_none_scenario():
    for run in chaos.SCENARIOS:
        assert isinstance(run.faults, Faults)
        seeded = run.faults.seeded(4)
        none = scenario("none", 4)
        assert (seeded.gateway_seed, seeded.carrier_seed) == (none.gateway_seed, none.carrier_seed)


def test_no_module_reads_a_fault_knob_by_name_outside_the_faults_modules():
    """A knob is read in one place: ``float(knobs.get("FAKE_..."))`` and the like elsewhere
    would bring back the silent 0 of a misspelt name."""
    read = re.compile(r"""(?:\.get\(\s*|\[\s*)["']FAKE_""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "pipeline").rglob("*.py"))
        if path not in FAULTS_MODULES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if read.search(line) or re.search(r"""float\(.*get\(\s*["']FAKE_""", line)
    ]
    assert not offenders, offenders
