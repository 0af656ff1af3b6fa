"""The local runtime's clock: virtual jumps, scaled sleeps, ordered steps, SDK backoff."""

from __future__ import annotations

import random
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from pipeline.asl import ExecutionRun, execute
from pipeline.local.clock import RuntimeClock, Scheduler, rate_seconds, sdk_backoff_on
from pipeline.local.endpoint import LocalEndpoint


class FakeTime:
    def __init__(self) -> None:
        self.t, self.slept = 100.0, []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_a_scaled_clock_sleeps_the_scaled_share_of_real_time():
    fake = FakeTime()
    clock = RuntimeClock(60, monotonic=fake.monotonic, sleep=fake.sleep)
    clock.sleep(120)  # two minutes of pipeline time
    assert fake.slept == [2.0]
    assert clock.now() == 120
    fake.t += 0.5  # half a real second of work is 30 s of pipeline time
    assert clock.now() == 150
    clock.wait_until(100)  # already past: no sleep
    assert fake.slept == [2.0]


def test_virtual_time_jumps_and_never_sleeps():
    fake = FakeTime()
    clock = RuntimeClock(None, monotonic=fake.monotonic, sleep=fake.sleep)
    clock.wait_until(300)
    clock.sleep(5)
    assert clock.now() == 305 and fake.slept == []
    clock.wait_until(10)  # time never goes back
    assert clock.now() == 305


def test_scheduler_runs_steps_in_time_order_ties_first_come():
    clock = RuntimeClock(None)
    scheduler = Scheduler(clock)
    ran: list[str] = []
    scheduler.after(5, lambda: ran.append("b"))
    scheduler.after(1, lambda: ran.append("a"))
    scheduler.after(5, lambda: ran.append("c"))
    assert scheduler.run_due() == 0
    clock.wait_until(scheduler.next_due())
    assert scheduler.run_due() == 1 and ran == ["a"]
    clock.wait_until(5)
    scheduler.run_due()
    assert ran == ["a", "b", "c"] and len(scheduler) == 0


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_expressions(expression, seconds):
    assert rate_seconds(expression) == seconds


def test_cron_is_refused_by_name():
    with pytest.raises(ValueError, match="cron"):
        rate_seconds("cron(0 12 * * ? *)")


WAITING = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Task", "Resource": "r", "ResultPath": "$.a", "Next": "Pause"},
        "Pause": {"Type": "Wait", "SecondsPath": "$.pause", "Next": "Second"},
        "Second": {"Type": "Task", "Resource": "r", "ResultPath": "$.b", "End": True},
    },
}


def test_executions_interleave_on_the_scheduler_and_end_as_alone():
    clock = RuntimeClock(None)
    scheduler = Scheduler(clock)
    calls: list[tuple[int, float]] = []

    def resource(payload):
        calls.append((payload["pause"], clock.now()))
        return clock.now()

    done = {}

    def advance(key, run):
        seconds = run.step()
        if seconds is None:
            done[key] = run.result
        else:
            scheduler.after(seconds, lambda: advance(key, run))

    for pause in (30, 10):
        advance(pause, ExecutionRun(WAITING, {"pause": pause}, {"r": resource}, clock=clock))
    while scheduler.next_due() is not None:
        clock.wait_until(scheduler.next_due())
        scheduler.run_due()
    # The 10 s execution finished its second task before the 30 s one.
    assert calls == [(30, 0), (10, 0), (10, 10), (30, 30)]
    alone = execute(WAITING, {"pause": 30}, {"r": lambda p: 0.0})
    assert done[30].status == alone.status == "SUCCEEDED"
    assert [e["type"] for e in done[30].history] == [e["type"] for e in alone.history]


@pytest.mark.system  # a local endpoint (moto server)
def test_sdk_retry_backoff_waits_on_the_runtime_clock():
    clock = RuntimeClock(None)
    with LocalEndpoint() as endpoint:
        dynamodb = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        ).client("dynamodb", endpoint_url=endpoint.url)
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        endpoint.throttle_dynamodb(1.0)
        with sdk_backoff_on(clock), pytest.raises(ClientError) as raised:
            dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    attempts = raised.value.response["ResponseMetadata"]["RetryAttempts"]
    assert attempts >= 2
    assert clock.now() > 0  # the backoff passed on virtual time, not in real sleeps


def test_sdk_backoff_jitter_comes_from_the_given_rng_and_is_restored():
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount
    context = SimpleNamespace(attempt_number=2, http_response=None, parsed_response={})
    delays = []
    for _ in range(2):
        clock = RuntimeClock()
        with sdk_backoff_on(clock, random.Random(5)):
            backoff = standard.ExponentialBackoff(random=lambda: 0.999)
            delays.append([backoff.delay_amount(context) for _ in range(3)])
    assert delays[0] == delays[1] and delays[0][0] != delays[0][1]
    assert standard.ExponentialBackoff.delay_amount is original
    assert backoff._random() == 0.999  # the instance keeps its own source afterwards
