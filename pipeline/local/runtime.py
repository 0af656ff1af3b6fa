"""The local runtime: the template deployed on the local cloud and run, on one clock.

:class:`LocalRuntime` is what AWS would be for the pipeline, in one process: moto's AWS
(in-process, or an HTTP endpoint on loopback) with ``infra/template.yaml`` deployed through
its CloudFormation API (:mod:`pipeline.local.deploy`); the functions, each with its own
environment (:class:`~pipeline.local.functions.LocalFunctions`); the order API over HTTP
(:mod:`pipeline.local.http_api`); the event store's stream read by event-source mappings with
Lambda's retry semantics (:mod:`pipeline.local.stream_mapping`); the deployed rules, matched
by moto's EventBridge and delivered to their state machines with each target's retry policy
and DLQ (:mod:`pipeline.local.event_delivery`); the deployed ASL definitions run by
:mod:`pipeline.asl`, calling the functions; the audit forwarder feeding a local Firehose
that writes Parquet into the lake bucket; the DLQ remediation function on its schedule.
Every wait runs on one clock, virtual or sped-up wall time (:mod:`pipeline.local.clock`);
faults come from :class:`pipeline.faults.Faults`.

Nothing here runs by itself: :meth:`LocalRuntime.pump` moves everything one round, and
:meth:`LocalRuntime.run_until_quiet` until nothing moves and nothing waits.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import signal
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO
from unittest import mock

from pipeline.asl import Execution, ExecutionRun, Invoke, TaskFailed
from pipeline.faults import Faults
from pipeline.handlers import audit_forwarder, shipping
from pipeline.local.clock import RuntimeClock, Scheduler, schedule_period, sdk_backoff_on
from pipeline.local.cloud import LocalCloud
from pipeline.local.endpoint import DEFAULT_TRANSPORT, Transport
from pipeline.local.event_delivery import Delivery, DeliveryFailed, Route
from pipeline.local.firehose import LocalFirehose
from pipeline.local.functions import RUNTIME_VARIABLES, LocalFunctions
from pipeline.local.http_api import LocalApi
from pipeline.local.stream_mapping import MappingConfig, StreamMapping
from pipeline.seeds import EPOCH, stream_seed
from pipeline.template import Template

# What Lambda's runtime process sets and powertools reads from the process environment at
# each call (not per function): tracing off (no X-Ray daemon here), metrics not printed,
# logs at WARNING. A run's ``environment`` may override them; they are restored afterwards.
PROCESS_DEFAULTS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
MAX_REMEDIATION_TICKS = 5


class LocalRuntime:
    """The pipeline deployed and running locally; a context manager.

    ``faults`` are injected (none by default), their randomness seeded from ``seed``.
    ``time_scale`` None runs every wait on virtual time (reproducible for a seed); a number
    runs them on the wall clock sped up that many times. ``transport`` is how boto3 reaches
    the local cloud: ``"inprocess"`` (no socket) or ``"http"`` (a moto server on loopback,
    for clients outside the process). ``environment`` adds variables to every function's
    environment (after the template's and the faults'); ``say`` gets progress lines.
    Functions log structured JSON to stdout as in Lambda; ``quiet`` swallows it meanwhile.
    ``cloud`` is a :class:`~pipeline.local.cloud.LocalCloud` to run on (emptied first, and
    left running after), instead of deploying one of the run's own. ``api_port`` is the
    order API's port (0: a free one); ``log_sink`` is where swallowed output goes (kept in
    memory unless given: a long-running stack passes a file or ``os.devnull``).
    ``started_at`` is the pipeline clock's zero as a date (the fixed epoch, so a seeded run's
    histories repeat; a long-running stack on the wall clock passes now).

    Functions run one invocation at a time (:attr:`invocations`, a lock held by the order
    API's server threads and by :meth:`pump` around each call): a handler module keeps
    per-invocation state in module globals (powertools' resolver, logger keys and metrics),
    so two calls at once would mix them, as two events never mix in one Lambda sandbox.
    """

    def __init__(
        self,
        template: Template | None = None,
        *,
        faults: Faults | None = None,
        seed: int = 0,
        time_scale: float | None = None,
        transport: Transport = DEFAULT_TRANSPORT,
        environment: Mapping[str, str] | None = None,
        say: Callable[[str], None] | None = None,
        quiet: bool = True,
        cloud: LocalCloud | None = None,
        api_port: int = 0,
        log_sink: TextIO | None = None,
        started_at: datetime = EPOCH,
    ) -> None:
        self.template = template or (cloud.template if cloud else Template.load())
        self.injected = faults or Faults()
        self.seed = seed
        self.transport = transport
        self.environment = dict(environment or {})
        self.say = say or (lambda _text: None)
        self.quiet = quiet
        self.shared = cloud
        self.api_port = api_port
        self.log_sink = log_sink
        self.invocations = threading.RLock()  # one function invocation at a time
        self.clock = RuntimeClock(time_scale, start=started_at)
        self.scheduler = Scheduler(self.clock)
        self.faults = random.Random(stream_seed(seed, "faults"))
        self.walks: list[tuple[str, Execution]] = []  # (machine, execution), as they ended
        self.waiting: dict[int, tuple[str, ExecutionRun]] = {}  # executions in a wait
        self.pending: list[tuple[str, dict[str, Any]]] = []  # started, not yet run
        # (state machine ARN, execution name) -> input: names are unique per state machine
        self.started: dict[tuple[str, str], str] = {}
        self.duplicates = 0  # deliveries made twice (at-least-once)
        self.delayed = 0  # deliveries held back (out of order with later events)
        self.remediation: Counter[str] = Counter()
        self.remediation_period = schedule_period(self.template, "DlqRemediationFunction")
        self.next_remediation = self.remediation_period
        self.stop_requested = False  # Ctrl-C pressed: stop at the next step boundary
        self._fed = True  # the stream had records the rule queues and audit may not have had
        self._exit = contextlib.ExitStack()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        process = {**PROCESS_DEFAULTS, **_powertools_switches(self.environment)}
        self._exit.enter_context(mock.patch.dict(os.environ, process))
        if self.quiet:
            self._exit.enter_context(swallowed_output(self.log_sink))
        # A function that emits no metric on an invocation (a quiet remediation pass) makes
        # powertools warn on every call; in Lambda that goes to its log, here to the console.
        self._exit.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if self.shared is None:
            self.cloud = self._exit.enter_context(
                LocalCloud(self.template, self.transport, self.say)
            )
        else:  # a stack an earlier run used: emptied, its streams read from their end
            if self.shared.template.body != self.template.body:
                raise ValueError("a shared LocalCloud runs the template it was deployed with")
            self.cloud = self.shared
            self.cloud.reset()
        self.endpoint, self.url = self.cloud.endpoint, self.cloud.url
        self.session, self.deployment = self.cloud.session, self.cloud.deployment
        self.stack, self.inbox = self.cloud.stack, self.cloud.inbox
        self._calls_before = self.endpoint.stats
        self.firehose = self._local_firehose()
        self.functions = LocalFunctions(
            self.template,
            self._environments(),
            {
                "ShippingFunction": lambda env: shipping.ShippingDeps.from_env(
                    env, now=self.clock.now
                ),
                "AuditForwarderFunction": lambda _env: audit_forwarder.ForwarderDeps(
                    self.firehose, "AuditDeliveryStream", "local"
                ),
            },
        )
        self._exit.callback(self.functions.close)
        self.endpoint.throttle_dynamodb(
            self.injected.dynamodb_throttle_rate, stream_seed(self.seed, "dynamodb-throttle")
        )
        self.machines = {  # deployed ARN -> logical id
            self.stack.ref(machine): machine for machine in self.deployment.definitions
        }
        self.function_arns = {  # deployed function ARN -> logical id (a Task's Resource)
            self.stack.resources[logical].attributes["Arn"]: logical
            for logical, kind in self.deployment.deployed.items()
            if kind == "AWS::Lambda::Function"
        }
        self.stream = self._stream_mapping("StreamProcessorFunction")
        self.audit = self._stream_mapping("AuditForwarderFunction")
        if self.shared is not None:
            self.stream.skip_to_latest()
            self.audit.skip_to_latest()
        self._exit.callback(self.endpoint.take_start_execution, None)
        self._exit.callback(self.endpoint.throttle_dynamodb, 0.0)
        self.delivery = self._rule_delivery()
        self.endpoint.take_start_execution(self.start_execution)
        self._inject_poison(self.injected.poison_records)
        rng = random.Random(stream_seed(self.seed, "sdk-backoff"))
        self._exit.enter_context(sdk_backoff_on(self.clock, rng))
        self._exit.enter_context(stop_between_steps(self))
        self.api = self._exit.enter_context(
            LocalApi(self.template, self._api_handler, port=self.api_port)
        )
        self.say(f"Order API on {self.api.url} (HTTP, API Gateway proxy events).")

    def client(self, service: str) -> Any:
        """A boto3 client of the local cloud."""
        return self.cloud.client(service)

    def call(self, function_id: str, payload: Any) -> Any:
        """Invoke a function (as Lambda does), one invocation at a time."""
        with self.invocations:
            return self.functions.invoke(function_id, payload)

    def _api_handler(self, function_id: str) -> Callable[[Any, Any], Any]:
        """What the order API's server threads call: the handler, under the same lock."""

        def locked(event: Any, context: Any) -> Any:
            with self.invocations:
                return self.functions.handler(function_id)(event, context)

        return locked

    @property
    def calls(self) -> tuple[int, float]:
        """AWS API calls of this run and the seconds moto spent on them."""
        (calls, seconds), (calls_before, seconds_before) = self.endpoint.stats, self._calls_before
        return calls - calls_before, seconds - seconds_before

    def _environments(self) -> dict[str, dict[str, str]]:
        """Each function's variables: the runtime's, the deployed ones, the injected faults
        (which win over the template's), then the run's ``environment``."""
        runtime = dict(RUNTIME_VARIABLES)
        if self.url:
            runtime["AWS_ENDPOINT_URL"] = self.url
        faults = self.injected.to_environment()
        return {
            function: {
                **runtime,
                **{name: str(value) for name, value in variables.items()},
                **faults,
                **self.environment,
            }
            for function, variables in self.deployment.environments.items()
        }

    def _local_firehose(self) -> LocalFirehose:
        """The audit lake's delivery stream: Parquet into the lake bucket, storing some records
        twice when ``firehose_duplicate_rate`` is injected."""
        rate = self.injected.firehose_duplicate_rate
        rng = random.Random(stream_seed(self.seed, "firehose"))
        return LocalFirehose(
            self.client("s3"),
            self.stack.ref("AuditLakeBucket"),
            self.template,
            redelivered=(lambda: rng.random() < rate) if rate else None,
        )

    def _inject_poison(self, count: int) -> None:
        """Store ``count`` items no consumer can parse (a writer's bug, a hand edit): the
        stream's consumers fail on them, retry, bisect, and hand them to the on-failure queue."""
        dynamodb = self.client("dynamodb")
        for n in range(count):
            dynamodb.put_item(
                TableName=self.stack.ref("EventsTable"),
                Item={
                    "order_id": {"S": f"poison-{n:03d}"},
                    "sequence": {"N": "1"},
                    "event_id": {"S": f"poison-{n:03d}-1"},
                    "event_type": {"S": "OrderPlaced"},
                    "payload": {"S": "{not json"},
                },
            )

    def _stream_mapping(self, function_id: str) -> StreamMapping:
        config = MappingConfig.from_template(self.template, function_id)
        return StreamMapping(
            config,
            lambda event: self.call(function_id, event),
            self.client("dynamodbstreams"),
            self.stack.resources["EventsTable"].attributes["StreamArn"],
            self.client("sqs"),
            self.stack.ref(config.on_failure["Fn::GetAtt"][0]),
        )

    def _rule_delivery(self) -> Delivery:
        """The template's rules routed to their state machines (delivery with retry and DLQ),
        with the injected faults of delivery: throttled starts, duplicates, late arrivals."""
        injected, faults = self.injected, self.faults

        def execute(machine_id: str, event: dict[str, Any]) -> None:
            """Now, or (a delayed delivery) later, after events that came after it."""
            if injected.delivery_delay_rate and faults.random() < injected.delivery_delay_rate:
                self.delayed += 1
                delay = faults.uniform(1.0, injected.delivery_delay_s)
                self.scheduler.after(delay, lambda: self._execute(machine_id, event))
            else:
                self._execute(machine_id, event)

        def start(route: Route, event: dict[str, Any]) -> None:
            if faults.random() < injected.start_throttle_rate:
                raise DeliveryFailed("THROTTLING", "StartExecution was throttled (injected)")
            execute(route.machine_id, event)
            if faults.random() < injected.duplicate_delivery_rate:  # at-least-once
                self.duplicates += 1
                execute(route.machine_id, event)

        bus = self.stack.ref("OrderEventBus")
        routes = self.cloud.routes(self.machines)
        delivery = Delivery(
            self.client("events"),
            self.client("sqs"),
            bus,
            routes,
            start,
            later=self.scheduler.after,
        )
        delivery.connect()
        return delivery

    # ------------------------------------------------------------------ running
    def start_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        """Step Functions StartExecution, as the local runtime serves it (queued, then run)."""
        arn = request["stateMachineArn"]
        machine_id = self.machines.get(arn)
        if machine_id is None:
            raise LookupError(f"State Machine Does Not Exist: '{arn}'")
        name = request.get("name") or f"exec-{len(self.started) + 1}"
        text = request.get("input", "{}")
        execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{name}"
        if (arn, name) in self.started:
            if self.started[arn, name] != text:
                raise ValueError(f"Execution Already Exists: '{execution_arn}'")
        else:
            self.started[arn, name] = text
            self.pending.append((machine_id, json.loads(text)))
        return {"executionArn": execution_arn, "startDate": 0}

    def remediate(self) -> dict[str, int]:
        """One tick of the DLQ remediation schedule (the template's rate), on the clock."""
        self.next_remediation = self.clock.now() + self.remediation_period
        summary: dict[str, int] = self.call("DlqRemediationFunction", {"source": "aws.events"})
        self.remediation.update(summary)
        return summary

    def pump(self) -> int:
        """One round: the schedule if due, the stream mappings feed their functions, routed
        and redriven events start executions, waits that are over resume."""
        self.check_stop()
        moved = 0
        if self.clock.now() >= self.next_remediation:
            moved += self.remediate()["received"]
        relayed = self.stream.poll()
        # Only the stream processor puts events on the bus, and it relays what the stream
        # had: when it read nothing, the rule queues and the audit stream have nothing new
        # (each is drained whenever it was fed), so this round skips their polls.
        self._fed = self._fed or relayed > 0
        if self._fed:
            moved += relayed + self.delivery.pump()
        while self.pending:
            machine_id, event = self.pending.pop(0)
            self._execute(machine_id, event)
            moved += 1
        moved += self.scheduler.run_due()  # executions and deliveries whose wait is over
        if self._fed:
            self.audit.poll()
        self._fed = False
        return moved

    def check_stop(self) -> None:
        """Stop here if Ctrl-C was pressed (see :func:`stop_between_steps`)."""
        if self.stop_requested:
            raise KeyboardInterrupt

    def run_until_quiet(self, max_rounds: int = 100_000) -> None:
        """Pump until nothing moves and nothing waits; waits pass on the clock."""
        for _ in range(max_rounds):
            if self.pump():
                continue
            due = self.scheduler.next_due()
            if due is None:
                return
            self.clock.wait_until(due)
        raise RuntimeError("the pipeline did not settle")

    def settle(self) -> None:
        """Between batches of work: on virtual time, run everything (waits cost nothing);
        on the scaled wall clock, run what is due and let the rest wait."""
        if self.clock.virtual:
            self.run_until_quiet()
        else:
            self.pump()

    def finish(self, max_ticks: int = MAX_REMEDIATION_TICKS) -> None:
        """Run until quiet, then the remediation schedule until the DLQs are empty (at most
        ``max_ticks`` ticks), running what each tick redrives."""
        self.run_until_quiet()
        for _tick in range(max_ticks):
            self.clock.wait_until(self.next_remediation)
            if not self.remediate()["received"]:
                break
            self.run_until_quiet()

    def interrupted(self) -> list[str]:
        """After Ctrl-C: the audit trail gets every stored event (each write was one request,
        so nothing is half-written); returns what was still in flight."""
        self.audit.poll()
        return self.in_flight()

    def in_flight(self) -> list[str]:
        """Executions started or queued but not finished, for an interrupted run."""
        queued = [f"{m} {e['detail'].get('order_id')} (not started)" for m, e in self.pending]
        waiting = [
            f"{m} {run.name} (waiting, {len(run.history.events)} history events)"
            for m, run in self.waiting.values()
        ]
        undelivered = []
        for route, depth in self.queue_depths(route.queue_url for route in self.delivery.routes):
            if depth:
                undelivered.append(f"{route}: {depth} events not yet delivered")
        retries = len(self.scheduler) - len(self.waiting)
        later = [f"{retries} delivery retries scheduled"] if retries > 0 else []
        return queued + waiting + undelivered + later

    def queue_depths(self, urls: Iterator[str] | list[str]) -> list[tuple[str, int]]:
        """(queue name, messages waiting) of each queue URL."""
        sqs = self.client("sqs")
        depths = []
        for url in urls:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths.append((url.rsplit("/", 1)[-1], int(attributes["ApproximateNumberOfMessages"])))
        return depths

    def _invoke(self, function_id: str, payload: Any) -> Any:
        """Lambda.Invoke for a task: throttled before the handler runs, or timed out after its
        side effects but before its response, when those faults are injected."""
        if self.faults.random() < self.injected.lambda_throttle_rate:
            raise TaskFailed("Lambda.TooManyRequestsException", "Rate exceeded (injected)")
        result = self.call(function_id, payload)
        if self.faults.random() < self.injected.task_timeout_rate:
            raise TaskFailed("States.Timeout", "Task timed out after its work was done (injected)")
        return result

    def _execute(self, machine: str, envelope: dict[str, Any]) -> None:
        definition = self.deployment.definitions[machine]  # as deployed, ARNs substituted
        resources = {
            arn: (lambda payload, f=function_id: self._invoke(f, payload))
            for arn, function_id in self.function_arns.items()
        }
        run = ExecutionRun(definition, envelope, resources, clock=self.clock, rng=self.faults)
        self._advance(machine, run)

    def _advance(self, machine: str, run: ExecutionRun) -> None:
        """Run an execution to its next wait (then resume it when the clock says) or end."""
        self.waiting.pop(id(run), None)
        seconds = run.step()
        assert not isinstance(seconds, Invoke)  # resources given: tasks run inside step()
        if seconds is None:
            assert run.result is not None
            self.walks.append((machine, run.result))
            return
        self.waiting[id(run)] = (machine, run)
        self.scheduler.after(seconds, lambda: self._advance(machine, run))


@contextlib.contextmanager
def stop_between_steps(
    runtime: LocalRuntime, signals: tuple[int, ...] = (signal.SIGINT,)
) -> Iterator[None]:
    """Ctrl-C (or another of ``signals``: a long-running stack adds SIGTERM) stops the run
    between two steps (an order posted, a pump round), never inside one: Python raises
    KeyboardInterrupt wherever the main thread is, and one raised inside a finaliser or a
    garbage-collection callback is printed and lost. A second signal stops at once. Outside
    the main thread (no signal handlers there) the signals behave as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        if runtime.stop_requested:
            raise KeyboardInterrupt
        runtime.stop_requested = True

    previous = {signum: signal.signal(signum, on_signal) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def swallowed_output(sink: TextIO | None = None) -> Iterator[None]:
    """Handlers' stdout (their JSON logs) kept out of the report: stdout is redirected, and
    log handlers made earlier with a reference to the real stdout (a module-level
    powertools Logger) write to the same sink meanwhile (in memory unless ``sink``)."""
    sink = sink if sink is not None else io.StringIO()
    streams = (sys.stdout, sys.__stdout__)
    moved = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in streams:
                moved.append((handler, handler.setStream(sink)))
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


def _powertools_switches(environment: Mapping[str, str]) -> dict[str, str]:
    """The process-level powertools settings a run's ``environment`` overrides."""
    return {k: v for k, v in environment.items() if k in PROCESS_DEFAULTS}
