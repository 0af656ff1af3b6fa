"""The order pipeline on SimPy time: the template's topology under load, faults and quotas.

An order arrives (workload), passes API Gateway and the order API (throttles, Lambda
concurrency), and its ``OrderPlaced`` is appended. Every appended event travels the stream to
the stream processor and PutEvents to the bus; each rule whose pattern matches delivers it to
its state machine (EventBridge invocation and StartExecution quotas, the target's RetryPolicy,
its DLQ, the DLQ remediation schedule). Executions take the interpreter's paths
(``pipeline.sim.replay``) and spend Step Functions transitions; each Task invokes its function
(reserved concurrency, cold starts, injected throttles and timeouts), whose action
(``pipeline.sim.orders``) calls its dependency (payment gateway, carrier, inventory with
per-partition capacity and conditional stock) and appends the next events, which travel on.

The pipeline's shape comes from ``infra/``: rules, patterns, retry policies, DLQs,
machines, Retry/Catch and function settings. Two names are written here: the order API's
function (``OrderApiFunction``, where the workload enters) and, in ``pipeline.sim.orders``,
which compensation each step function records when it fails.

Why one module of about 850 lines: its processes (arrivals, deliveries, executions, tasks,
remediation) share one SimPy environment and the run's mutable state (fleets, quotas, tables,
orders, stats) and call each other at every step; split up, each part would reach into the
others' internals.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import simpy
from simpy.core import NORMAL

from pipeline.asl import ExecutionRun, Invoke
from pipeline.domain import bus
from pipeline.domain.bus import retry_after
from pipeline.domain.order import TERMINAL, TRANSITIONS, Status
from pipeline.domain.remediation import Remedy
from pipeline.domain.saga import Call
from pipeline.seeds import EPOCH, stream_seed
from pipeline.sim.concurrency import LambdaFleet
from pipeline.sim.dynamodb import PartitionedTable, Stock
from pipeline.sim.failures import FailureModel
from pipeline.sim.lake import SimLake, money
from pipeline.sim.latency import HOPS, HopSampler, LogNormal
from pipeline.sim.orders import COMPENSATION_STEP, Plan, SimOrder, plan, status_after
from pipeline.sim.regions import Bucket, RegionProfile
from pipeline.sim.replay import OK, Node, PathCache, replayable, resume_with
from pipeline.sim.stats import UNATTRIBUTED, Settling, Stats
from pipeline.sim.timeline import WINDOW_S, Timeline
from pipeline.sim.topology import RuleTarget, SimMachine, Topology
from pipeline.sim.workloads import Workload

STANDARD, EXPRESS = "STANDARD", "EXPRESS"
EXPRESS_MAX_S = 300.0  # an Express execution runs at most 5 minutes
PUT_EVENTS_RETRY_S = 1.0  # the stream processor's batch comes back after a throttled PutEvents
# The ERROR_CODE EventBridge dead-letters an event with when its target's StartExecution is
# throttled, and the error a throttled redrive's StartExecution raises.
DELIVERY_THROTTLED, START_THROTTLED = "THROTTLING", "ThrottlingException"
SDK_BACKOFF_S = 0.05  # botocore's first backoff between throttled DynamoDB attempts (about)
# Hops always spent one after another, drawn as one sum: an API request (gateway, the order
# API's invoke, its CPU, the outbox write) and a task's handler up to its dependency call
# (invoke, CPU, loading the order's events).
COMPOUND_HOPS = {
    "api_warm": ("api_gateway", "lambda_warm", "handler_cpu", "dynamodb"),
    "api_cold": ("api_gateway", "lambda_cold", "handler_cpu", "dynamodb"),
    "task_warm": ("lambda_warm", "handler_cpu", "dynamodb"),
    "task_cold": ("lambda_cold", "handler_cpu", "dynamodb"),
}
# The dependency call an action makes, and the latency hop it spends.
CALL_HOPS = {
    "gateway": "payment_gateway",
    "carrier": "carrier_api",
    "notifier": "sns_publish",
    "alerts": "sns_publish",
}


class _Due(simpy.Event):
    """A timeout that calls ``then(*args)`` when it is due: the simulator's one kind of
    scheduled step (a SimPy event; no process or closure per step)."""

    def __init__(
        self, env: simpy.Environment, delay: float, then: Callable[..., None], args: tuple
    ) -> None:
        self.env = env
        self.callbacks = [_call_due]
        self._value = None
        self._ok = True
        self.then, self.args = then, args
        env.schedule(self, NORMAL, delay)


def _call_due(event: _Due) -> None:
    event.then(*event.args)


_NOWHERE = Node("start")  # where an execution is before its first node


class _Execution:
    """One execution under way: the order, its machine, where on its path it is."""

    __slots__ = (
        "cache",
        "cause",
        "error",
        "machine",
        "node",
        "order",
        "standard",
        "started",
        "waiter",
    )

    def __init__(
        self, order: SimOrder, machine: SimMachine, standard: bool, cause: int, started: float
    ) -> None:
        self.order, self.machine, self.standard = order, machine, standard
        self.cause, self.started = cause, started
        self.cache: PathCache | None = None  # None: the interpreter runs it step by step
        self.node: Node = _NOWHERE
        self.waiter: simpy.Event | None = None  # the interpreted execution waits on this
        self.error: str | None = None  # the last task's error, until the next step shows
        # whether a Retry took it (then it is forgotten) or not (the order keeps it)


@dataclass(frozen=True)
class Catalogue:
    """The SKUs orders draw from: ``skus`` regular ones, ``hot`` in-demand ones with little
    stock (``hot_stock`` each). Prices in cents."""

    skus: int = 1_000
    hot: int = 3
    stock: int = 1_000_000
    hot_stock: int = 500
    max_lines: int = 3

    def sku(self, index: int) -> str:
        return f"SKU-{index:05d}"

    def hot_sku(self, index: int) -> str:
        return f"HOT-{index:03d}"

    def share(self, count: int) -> Catalogue:
        """One of ``count`` shards' catalogue: the same SKUs, each with its share of stock."""
        return dataclasses.replace(
            self, stock=-(-self.stock // count), hot_stock=-(-self.hot_stock // count)
        )

    def initial_stock(self) -> dict[str, int]:
        stock = {self.sku(i): self.stock for i in range(self.skus)}
        stock.update({self.hot_sku(i): self.hot_stock for i in range(self.hot)})
        return stock

    def lines(self, rng: random.Random, hot: bool) -> tuple[tuple[str, int, int], ...]:
        """An order's lines: one hot SKU when ``hot``, else 1..max_lines regular ones."""
        if hot and self.hot:
            return ((self.hot_sku(rng.randrange(self.hot)), 1, 4_999),)
        count = rng.randint(1, self.max_lines)
        picked = sorted({rng.randrange(self.skus) for _ in range(count)})
        return tuple((self.sku(i), rng.randint(1, 3), self.price(i)) for i in picked)

    def price(self, index: int) -> int:
        """A regular SKU's unit price in cents: 5.00 to 54.00, fixed per SKU."""
        return 500 + 100 * (index * 7919 % 50)


@dataclass
class SimConfig:
    workload: Workload
    duration_s: float
    seed: int = 0
    workflow_type: str | None = None  # STANDARD or EXPRESS for every machine; None: template's
    catalogue: Catalogue = field(default_factory=Catalogue)
    drain_s: float = 3_600.0  # after arrivals stop, run on until in-flight orders finish
    hops: dict[str, LogNormal] = field(default_factory=lambda: dict(HOPS))
    # False: a handler loads the order when it starts and appends when it ends, so executions
    # running at once on one order conflict (ConcurrencyConflict, retried), as in AWS. True:
    # load and append happen at one instant, as in the local cloud, which runs one handler at
    # a time (what the validation against it compares).
    atomic_steps: bool = False
    order_numbers: tuple[int, int] = (1, 1)  # the first order number and the step (shards)
    window_s: float = WINDOW_S  # the timeline's window of simulated seconds


class Simulation:
    """One seeded run. :meth:`run` returns the :class:`Stats`."""

    def __init__(
        self,
        topology: Topology,
        config: SimConfig,
        failures: FailureModel,
        profile: RegionProfile,
        lake: SimLake | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.topology, self.config, self.failures = topology, config, failures
        self.profile, self.lake, self.progress = profile, lake, progress
        self.env = simpy.Environment()
        self.rng = random.Random(stream_seed(config.seed, "jitter"))
        self.arrival_rng = random.Random(stream_seed(config.seed, "arrivals"))
        self._sample = HopSampler(
            config.hops, stream_seed(config.seed, "latency"), sums=COMPOUND_HOPS
        )
        self.api_limit, self.api_limit_source = intake_limit(profile, topology)
        self.stats = Stats(
            timeline=Timeline(config.window_s, limits=_quota_limits(profile, self.api_limit)),
            settling=Settling(config.window_s),
        )
        self.orders: dict[int, SimOrder] = {}
        self.api = self.api_limit.make()
        self.put_events = profile.eventbridge_put_events.make()
        self.invocations = profile.eventbridge_invocations.make()
        self.transitions = profile.sfn_state_transitions.make()
        self.starts = {
            STANDARD: profile.sfn_start_execution.make(),
            EXPRESS: profile.sfn_express_start_execution.make(),
        }
        self.fleet = LambdaFleet(
            {f: fn.reserved_concurrency for f, fn in topology.functions.items()},
            profile.lambda_concurrency,
            profile.lambda_scale_step,
            profile.lambda_scale_every_s,
        )
        self.partitions = PartitionedTable(profile.dynamodb_partition_wcu)
        self.stock = Stock(config.catalogue.initial_stock())
        self.initial_stock = dict(self.stock.available)
        self.machines: dict[str, tuple[SimMachine, str, dict[str, PathCache]]] = {
            m: (
                machine,
                config.workflow_type or machine.workflow_type,
                {},  # detail-type -> PathCache
            )
            for m, machine in topology.machines.items()
        }
        # Machines whose path can depend on time or context run through the interpreter.
        self._interpreted_machines = {
            m for m, machine in topology.machines.items() if not replayable(machine.definition)
        }
        self._routes: dict[str, list[RuleTarget]] = {}
        # (route, order, event type, causing version, since, redrive attempts)
        self.dlq: list[tuple[RuleTarget, SimOrder, str, int, float, int]] = []
        self._next_order, self._order_step = config.order_numbers

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Stats:
        self.env.process(self._arrivals())
        every = self.topology.remediation_every_s
        if every:
            self.env.process(self._remediation(every))
        self.env.process(self._windows(self.config.window_s))
        end = self.config.duration_s + self.config.drain_s
        step = max(1.0, self.config.duration_s / 100)
        while self.env.now < end:
            target = min(end, self.env.now + step)
            self.env.run(until=target)
            if self.progress:
                self.progress(min(1.0, self.env.now / self.config.duration_s))
            if self.env.now >= self.config.duration_s and not self.orders and not self.dlq:
                break
        self._close_window()
        self.stats.sim_seconds = self.env.now
        self.stats.simpy_events = next(self.env._eid)  # SimPy's count of scheduled events
        self.stats.unfinished = len(self.orders)
        self.stats.dlq_left = len(self.dlq)
        self.stats.unfinished_by_status = Counter(str(o.status) for o in self.orders.values())
        self._settle_books()
        if self.lake:
            self.lake.close()
            self.stats.lake_rows = self.lake.rows_written
        return self.stats

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        workload, rng = self.config.workload, self.arrival_rng
        for at in workload.arrivals(self.config.duration_s, rng):
            yield self.env.timeout(at - self.env.now)
            hot = rng.random() < workload.hot_share(at)
            self._arrive(self.config.catalogue.lines(rng, hot), rng.randrange(1_000_000))

    def _later(self, delay: float, then: Callable[..., None], *args: Any) -> None:
        _Due(self.env, delay, then, args)

    def _windows(self, every_s: float) -> Generator[simpy.Event, Any, None]:
        """Close the timeline's window at each multiple of ``every_s``."""
        closes = 1
        while True:
            yield self.env.timeout(closes * every_s - self.env.now)
            self._close_window()
            closes += 1

    def _close_window(self) -> None:
        stats, starts = self.stats, self.starts
        totals = {
            "arrived": stats.arrived,
            "accepted": stats.accepted,
            "rejected_429": stats.rejected,
            "finished": stats.finished_orders,
            "compensated": stats.compensated,
            "dead_lettered": sum(stats.dead_lettered.values()),
            "demand:api_gateway": stats.arrived,
            "demand:put_events": self.put_events.admitted + self.put_events.throttled,
            "demand:invocations": self.invocations.admitted
            + stats.throttles["eventbridge:invocations (delayed)"],
            "demand:state_transitions": int(stats.units["sfn_standard_transitions"]),
            **{
                f"demand:start_execution_{workflow.lower()}": bucket.admitted + bucket.throttled
                for workflow, bucket in starts.items()
            },
            **{f"throttled:{name}": n for name, n in stats.throttles.items()},
        }
        now = self.env.now
        stats.timeline.close(now, totals, self.fleet.window_peaks(now))

    # -- the API ---------------------------------------------------------------------------

    def _arrive(self, lines: tuple[tuple[str, int, int], ...], customer: int) -> None:
        stats, now = self.stats, self.env.now
        stats.arrived += 1
        stats.units["api_gateway_requests"] += 1
        if not self.api.try_take(now):
            stats.throttles["api_gateway"] += 1
            stats.rejected += 1  # 429 to the client
            return
        cold = self.fleet.acquire("OrderApiFunction", now)
        if cold is None:
            stats.throttles["lambda:OrderApiFunction"] += 1
            stats.rejected += 1
            return
        latency = self._sample("api_cold" if cold else "api_warm")
        self._bill_lambda("OrderApiFunction", latency)
        self._later(latency, self._placed, lines, customer, latency)

    def _placed(self, lines: tuple[tuple[str, int, int], ...], customer: int, latency: float):
        self.fleet.release("OrderApiFunction")
        number = self._next_order
        self._next_order += self._order_step
        total = sum(q * price for _, q, price in lines)
        order = SimOrder(number, customer, lines, total, self.env.now - latency)
        self.orders[order.number] = order
        self.stats.accepted += 1
        self.stats.settling.placed(order.placed_at)
        self.stats.units["dynamodb_wru"] += 2 * 2  # the outbox: order row + event, transactional
        if self.failures.is_poison():
            order.poisoned = True
        self._append(order, ("OrderPlaced",), None, None)

    # -- events: store, stream, bus --------------------------------------------------------

    def _append(
        self, order: SimOrder, events: tuple[str, ...], cause: int | None, kind: str | None
    ) -> None:
        """Append ``events`` to the order's stream (``cause``: the version of the event that
        led to them); each then travels the stream to the bus."""
        now, stats, lake = self.env.now, self.stats, self.lake
        refund = 0
        for event_type in events:
            order.status = TRANSITIONS[(order.status, event_type)]
            order.version += 1
            order.applied.add(event_type)
            if event_type == "PaymentCaptured":
                order.captured = order.total
            elif event_type == "PaymentRefunded":
                refund = order.captured - order.refunded
                order.refunded += refund
            elif event_type == "CustomerNotified":
                order.notified.add(kind or "")
            if lake is not None:
                order.last_hash = lake.add(
                    order.order_id,
                    f"cust-{order.customer:06d}",
                    order.version,
                    event_type,
                    now,
                    order.order_id,
                    None if cause is None else f"{order.order_id}-{cause:03d}",
                    order.last_hash,
                    self._fields(order, event_type, kind, refund),
                    copies=2 if self.failures.lake_redelivered() else 1,
                )
            stats.events[event_type] += 1
            if order.ended_at is None and order.status in TERMINAL:
                order.ended_at = now
                stats.ended(order, now)
                if order.status is Status.CANCELLED:
                    order.cancel_cause = order.last_error or UNATTRIBUTED
            order.in_flight += 1
            self._later(
                self._sample("stream_to_lambda"), self._publish, order, event_type, order.version, 0
            )
        units, count = stats.units, len(events)
        units["dynamodb_wru"] += 2 * count  # each event item in the append transaction
        units["eventbridge_events"] += count
        units["firehose_records"] += count

    @staticmethod
    def _fields(order: SimOrder, event_type: str, kind: str | None, refund: int) -> dict:
        """An event's own fields (the event schema's), for the lake."""
        oid = order.order_id
        if event_type == "OrderPlaced":
            lines = [
                {"sku": sku, "quantity": q, "unit_price": money(price)}
                for sku, q, price in order.lines
            ]
            return {"lines": lines, "currency": "USD", "total": money(order.total)}
        if event_type in ("PaymentAuthorized", "PaymentCaptured"):
            return {"payment_id": f"pay_{oid}", "amount": money(order.total)}
        if event_type == "PaymentRefunded":
            return {"refund_id": f"pay_{oid}:refund", "amount": money(refund)}
        if event_type in ("InventoryReserved", "InventoryReleased", "InventoryShipped"):
            return {"reservation_id": oid}
        if event_type == "LabelCreated":
            return {
                "tracking_number": f"1Z{order.number:016d}",
                "label_uri": f"s3://labels/labels/{oid}.json",
            }
        if event_type == "CustomerNotified":
            return {"kind": kind, "message_id": f"msg-{oid}-{kind}"}
        if event_type == "CompensationFailed":
            return {"step": kind or "refund", "reason": f"{kind} failed (simulated)"}
        if event_type == "InventoryReservationFailed":
            sku = order.lines[0][0] if kind == "OutOfStock" else None
            return {"reason": f"{kind or 'reservation failed'} (simulated)", "sku": sku}
        if event_type in ("PaymentDeclined", "PaymentFailed", "LabelFailed", "OrderCancelled"):
            return {"reason": f"{kind or event_type} (simulated)"}
        return {}

    def _routes_for(self, event_type: str) -> list[RuleTarget]:
        routes = self._routes.get(event_type)
        if routes is None:
            routes = self._routes[event_type] = bus.routes_of(self.topology.rules, event_type)
        return routes

    def _publish(self, order: SimOrder, event_type: str, cause: int, attempt: int) -> None:
        now = self.env.now
        if not self.put_events.try_take(now):
            self.stats.throttles["eventbridge:PutEvents"] += 1
            self._later(
                PUT_EVENTS_RETRY_S * 2 ** min(attempt, 6),
                self._publish,
                order,
                event_type,
                cause,
                attempt + 1,
            )
            return
        for route in self._routes_for(event_type):
            order.in_flight += 1
            self._later(
                self._sample("eventbridge_delivery"),
                self._deliver,
                order,
                route,
                event_type,
                cause,
                0,
                0.0,
            )
        self._done(order)

    def _deliver(
        self,
        order: SimOrder,
        route: RuleTarget,
        event_type: str,
        cause: int,
        attempt: int,
        age: float,
    ) -> None:
        now, stats = self.env.now, self.stats
        _, workflow, _ = self.machines[route.machine_id]
        delay = self.invocations.take_or_wait(now)
        if delay > 0:  # over the invocations quota, EventBridge delays (it does not drop)
            stats.throttles["eventbridge:invocations (delayed)"] += 1
            self._later(delay, self._deliver, order, route, event_type, cause, attempt, age + delay)
            return
        failed = None
        if not self.starts[workflow].try_take(now):
            failed = f"stepfunctions:StartExecution:{workflow}"
        elif self.failures.start_throttled():
            failed = "injected:StartExecution"
        if failed is None:
            stats.deliveries[route.rule_id] += 1
            self._start(order, route.machine_id, event_type, cause)
            if self.failures.delivered_twice():
                stats.duplicates += 1
                order.in_flight += 1
                self._start(order, route.machine_id, event_type, cause)
            return
        stats.throttles[failed] += 1
        retry = retry_after(attempt, age, route.max_attempts, route.max_age_s, self.rng)
        if retry is None:
            stats.dead_lettered[route.rule_id] += 1
            order.measure("dead_lettered")
            self.dlq.append((route, order, event_type, cause, now, 0))
            return
        stats.delivery_retries[route.rule_id] += 1
        self._later(retry, self._deliver, order, route, event_type, cause, attempt + 1, age + retry)

    def _remediation(self, every_s: float) -> Generator[simpy.Event, Any, None]:
        """The DLQ remediation function on its schedule, by its policy: redrive to the same
        target a bounded number of times (requeued with a delay when the start is
        throttled), park the rest."""
        policy = self.topology.remediation
        while True:
            yield self.env.timeout(every_s)
            now, waiting, self.dlq = self.env.now, self.dlq, []
            for route, order, event_type, cause, since, attempts in waiting:
                if since > now:  # requeued with a delay that has not passed
                    self.dlq.append((route, order, event_type, cause, since, attempts))
                    continue
                self.stats.dlq_ages.add(now - since)
                _, workflow, _ = self.machines[route.machine_id]
                remedy = policy.for_dead_letter(DELIVERY_THROTTLED, attempts)
                if remedy is Remedy.REDRIVE and self.starts[workflow].try_take(now):
                    self.stats.redriven += 1
                    self._start(order, route.machine_id, event_type, cause)
                    continue
                if remedy is Remedy.REDRIVE:
                    self.stats.throttles[f"stepfunctions:StartExecution:{workflow}"] += 1
                    remedy = policy.for_start_error(START_THROTTLED)
                if remedy is Remedy.REQUEUE:
                    later = now + policy.requeue_delay(attempts)
                    self.dlq.append((route, order, event_type, cause, later, attempts + 1))
                else:
                    self.stats.parked += 1
                    self._done(order)

    # -- executions ------------------------------------------------------------------------

    def _start(self, order: SimOrder, machine_id: str, event_type: str, cause: int) -> None:
        machine, workflow, paths = self.machines[machine_id]
        self.stats.units["sfn_express_requests" if workflow == EXPRESS else "sfn_executions"] += 1
        run = _Execution(order, machine, workflow == STANDARD, cause, self.env.now)
        if machine.machine_id in self._interpreted_machines:
            self.env.process(self._interpreted(run, event_type))
            return
        cache = paths.get(event_type)
        if cache is None:
            cache = paths[event_type] = PathCache(machine.definition, envelope(event_type))
        run.cache = cache
        self._advance(run, cache.root())

    # An execution is a chain of callbacks on SimPy timeouts (no process per execution): each
    # node of its path spends its state transitions (Standard's token bucket), Step Functions'
    # own time, then its effect: a task, a wait, or the end.

    def _advance(self, run: _Execution, node: Node) -> None:
        if run.error is not None:  # the last task failed: retried, or caught (or fatal)?
            if node.reason != "retry":
                run.order.last_error = run.error
            run.error = None
        run.node = node
        transitions = node.transitions
        if transitions and run.standard:
            self.stats.units["sfn_standard_transitions"] += transitions
            wait = self.transitions.take_or_wait(self.env.now, transitions)
            if wait > 0:  # throttled: the transitions happen when the bucket has the tokens
                self.stats.throttles["stepfunctions:StateTransition"] += 1
                self._later(wait, self._throttled_transitions, run)
                return
        self._transitioned(run)

    def _throttled_transitions(self, run: _Execution) -> None:
        self.transitions.try_take(self.env.now, run.node.transitions)
        self._transitioned(run)

    def _transitioned(self, run: _Execution) -> None:
        node, now, stats = run.node, self.env.now, self.stats
        overhead = self._sample("sfn_transition") if node.transitions else 0.0
        machine_id = run.machine.machine_id
        if not run.standard and now - run.started > EXPRESS_MAX_S:
            stats.executions[(machine_id, "TIMED_OUT", "States.Timeout")] += 1
            run.order.failed_executions += 1
            run.order.last_error = "States.Timeout"
            self._finish(run, overhead)
            return
        kind = node.kind
        if kind == "invoke":
            stats.tasks[(machine_id, node.state)] += 1
            stats.units["lambda_requests"] += 1
            if overhead:
                self._later(overhead, self._invoke, run)
            else:
                self._invoke(run)
        elif kind == "wait":
            seconds = node.seconds if node.ceiling is None else self.rng.uniform(0, node.ceiling)
            if node.reason == "retry":
                stats.retries[(machine_id, node.state)] += 1
                run.order.measure(f"retries:{machine_id}.{node.state}")
                if run.standard:
                    stats.units["sfn_standard_transitions"] += 1  # a retry is billed
            self._later(seconds + overhead, self._waited, run)
        else:
            stats.executions[(machine_id, node.status, node.error)] += 1
            if node.status != "SUCCEEDED":
                run.order.failed_executions += 1
            self._finish(run, overhead)

    def _waited(self, run: _Execution) -> None:
        if run.waiter is not None:
            self._resume(run, None)
        else:
            assert run.cache is not None
            self._advance(run, run.cache.after(run.node))

    def _finish(self, run: _Execution, overhead: float) -> None:
        if not run.standard:
            # Express bills duration in 100 ms steps at the 64 MB minimum memory.
            duration = math.ceil((self.env.now + overhead - run.started) * 10) / 10
            self.stats.units["sfn_express_gb_s"] += duration * 64 / 1024
        self._done(run.order)

    def _invoke(self, run: _Execution) -> None:
        """A Task's Lambda invocation starts: throttled at once, or its handler runs."""
        failures, node, now = self.failures, run.node, self.env.now
        function = run.machine.functions[node.resource]
        if failures.lambda_throttled():
            self.stats.throttles["injected:Lambda.TooManyRequestsException"] += 1
            self._outcome(run, "Lambda.TooManyRequestsException")
            return
        cold = self.fleet.acquire(function, now)
        if cold is None:
            self.stats.throttles[f"lambda:{function}"] += 1
            self._outcome(run, "Lambda.TooManyRequestsException")
            return
        decided = plan(run.order, node.action or "", node.kind_arg)
        latency = self._sample("task_cold" if cold else "task_warm")  # up to the loaded order
        call = decided.call
        if call and call != "carrier.cancel_label":
            hop = CALL_HOPS.get(call.split(".")[0])
            latency += self._sample(hop) if hop else self._sample("dynamodb")
        if decided.events:
            latency += self._sample("dynamodb")  # the append
        self._later(latency, self._invoked, run, function, decided, run.order.version, latency)

    def _invoked(
        self, run: _Execution, function: str, decided: Plan, version: int, latency: float
    ) -> None:
        """The handler returns (or its response is lost): the task's outcome."""
        order, node, failures = run.order, run.node, self.failures
        kind = node.kind_arg
        if self.config.atomic_steps:  # load, decide and append at one instant
            decided, version = plan(order, node.action or "", kind), order.version
        self.fleet.release(function)
        self._bill_lambda(function, latency)
        self.stats.units["dynamodb_rru"] += 1
        if order.poisoned:
            outcome = "ValidationFailed"
        else:
            outcome = self._act(order, decided, version, function, kind, run.cause)
        timeout = node.timeout_s
        if timeout is not None and latency > timeout:
            outcome = "States.Timeout"
        elif outcome == OK and failures.timed_out():
            self.stats.injected_timeouts += 1
            outcome = "States.Timeout"
        self._outcome(run, outcome)

    def _outcome(self, run: _Execution, outcome: str) -> None:
        if outcome != OK:
            run.error = outcome
        if run.waiter is not None:
            self._resume(run, outcome)
        else:
            assert run.cache is not None
            self._advance(run, run.cache.after(run.node, outcome))

    @staticmethod
    def _resume(run: _Execution, outcome: str | None) -> None:
        waiter, run.waiter = run.waiter, None
        assert waiter is not None
        waiter.succeed(outcome)

    def _interpreted(self, run: _Execution, event_type: str) -> Generator[simpy.Event, Any, None]:
        """An execution of a definition whose path is not a function of its outcomes (see
        ``replayable``): the interpreter runs it step by step on SimPy time, with its own
        clock, and the same task, wait and transition models as a replayed one."""
        env, machine = self.env, run.machine
        execution = ExecutionRun(
            machine.definition,
            envelope(event_type),
            None,
            clock=lambda: EPOCH + timedelta(seconds=env.now),
            rng=self.rng,
        )
        entered = 0
        while True:
            effect = execution.step()
            now_entered = sum(1 for e in execution.history.events if e["type"].endswith("Entered"))
            transitions, entered = now_entered - entered, now_entered
            if effect is None:
                result = execution.result
                assert result is not None
                node = Node("end", status=result.status, error=result.error)
            elif isinstance(effect, Invoke):
                node = Node(
                    "invoke",
                    state=effect.state,
                    resource=effect.resource,
                    payload=effect.payload,
                    timeout_s=effect.timeout_s,
                )
            else:
                wait = execution.wait
                assert wait is not None
                node = Node("wait", state=wait.state, seconds=effect, reason=wait.reason)
            node.transitions = transitions
            if effect is None:
                self._advance(run, node)  # the end: billed, counted, the order told
                return
            waiter = run.waiter = env.event()
            self._advance(run, node)  # may settle at once (a throttled invoke)
            resume_with(execution, effect, (yield waiter))

    def _act(
        self,
        order: SimOrder,
        decided: Plan,
        version: int,
        function: str,
        kind: str | None,
        cause: int,
    ) -> str:
        """Carry out a planned action at the end of its task: call, then append."""
        if decided.duplicate:
            self.stats.duplicate_steps += 1
            return OK
        if self.failures.dynamodb_fails():  # loading the order
            return "StoreUnavailable"
        if decided.call and not decided.call_after:
            error = self._call(decided.call, order)
            if error:
                return error
        if decided.error:
            return decided.error
        if not decided.events:
            return OK
        return self._record(order, decided, version, _detail(order, decided, function, kind), cause)

    def _record(
        self, order: SimOrder, decided: Plan, version: int, detail: str | None, cause: int
    ) -> str:
        """Append the planned events (then make a call that follows them)."""
        if order.version != version:
            return "ConcurrencyConflict"  # another execution appended since the load
        if self.failures.dynamodb_fails():
            return "StoreUnavailable"
        if status_after(order, decided.events) is None:  # the order moved on since the load
            return "InvalidTransition"
        self._append(order, decided.events, cause, detail)
        if decided.call_after and decided.call:  # record_payment_failure's void, ...
            return self._call(decided.call, order) or OK
        return OK

    def _call(self, call: str, order: SimOrder) -> str | None:
        """A dependency call's error name, or None; each is idempotent per order, as the real
        ones are (gateway keys, the reservation record, label objects)."""
        if call.startswith("gateway."):
            return self._gateway(call, order)
        if call == Call.CREATE_LABEL:
            return self.failures.error_for(call, self.env.now)
        if call == Call.CANCEL_LABEL:
            order.label_void = True
        elif call.startswith("inventory."):
            return self._inventory(call[10:], order)
        elif call == Call.ALERT:
            self.stats.alerts += 1
        return None

    def _gateway(self, call: str, order: SimOrder) -> str | None:
        op = call[8:]
        done = {
            "authorize": order.authorized or order.declined,
            "capture": order.gateway_captured > 0,
            "void": order.voided,
            "refund": order.gateway_refunded >= order.gateway_captured > 0 and not order.voided,
        }[op]
        if done:
            return "PaymentDeclined" if op == "authorize" and order.declined else None
        error = self.failures.error_for(call, self.env.now)
        if error == "PaymentDeclined":
            order.declined = True
        if error:
            return error
        if op == "authorize":
            order.authorized = True
        elif op == "capture":
            order.gateway_captured = order.total
        elif op == "void":
            order.voided = True
            order.gateway_refunded = order.gateway_captured
        else:
            order.gateway_refunded += order.captured - order.refunded
        return None

    def _inventory(self, op: str, order: SimOrder) -> str | None:
        lines = {sku: q for sku, q, _ in order.lines}
        wanted = {"reserve": "reserved", "release": "released", "ship": "shipped"}[op]
        if order.stock == wanted:
            return None  # the reservation record says it was done: a replay
        now = self.env.now
        for sku in lines:  # one transaction: 2 WRU per item, on each SKU's partition
            self.stats.units["dynamodb_wru"] += 2
            if not self.partitions.write(now, sku, transactional=True):
                self.stats.throttles["dynamodb:partition"] += 1
                return "InventoryUnavailable"
        if self.failures.dynamodb_fails():
            return "InventoryUnavailable"
        if op == "reserve":
            if not self.stock.reserve(lines):
                order.reservation_error = "OutOfStock"
                return "OutOfStock"
        elif op == "release":
            self.stock.release(lines)
        else:
            self.stock.ship(lines)
        order.stock = wanted
        return None

    # -- bookkeeping -----------------------------------------------------------------------

    def _bill_lambda(self, function: str, seconds: float) -> None:
        spec = self.topology.functions[function]
        billed = math.ceil(seconds * 1000) / 1000  # 1 ms granularity
        unit = "lambda_arm_gb_s" if spec.architecture == "arm64" else "lambda_gb_s"
        self.stats.units[unit] += billed * spec.memory_mb / 1024

    def _done(self, order: SimOrder) -> None:
        """One of the order's deliveries or executions finished; forget a settled order."""
        order.in_flight -= 1
        if order.in_flight == 0:
            self.stats.finished(order)
            del self.orders[order.number]

    def _settle_books(self) -> None:
        """Stock and money over the whole run, for the invariants in the summary."""
        stats, stock = self.stats, self.stock
        stats.stock_conserved = all(
            stock.available[s] + stock.reserved[s] + stock.shipped[s] == initial
            for s, initial in self.initial_stock.items()
        )
        held = sum(q for q in stock.reserved.values())
        in_flight_held = sum(
            q for o in self.orders.values() if o.stock == "reserved" for _, q, _ in o.lines
        )
        stats.stock_left_reserved = held - in_flight_held


def _detail(order: SimOrder, decided: Plan, function: str, kind: str | None) -> str | None:
    """What the simulated events' fields need of the action: the notice's kind, the failed
    compensation, why the reservation failed."""
    if "CompensationFailed" in decided.events:
        return COMPENSATION_STEP.get(function, "refund")
    if "InventoryReservationFailed" in decided.events:
        return order.reservation_error
    return kind if "CustomerNotified" in decided.events else None


def intake_limit(profile: RegionProfile, topology: Topology) -> tuple[Bucket, str]:
    """The bucket ``POST /orders`` passes, and whose it is: the tighter (lower rate, then
    lower burst) of the account's API Gateway throttle (the region's) and the stage's
    (the template's ``MethodSettings``). A request over it gets 429."""
    account = profile.api_gateway
    if topology.api_throttle is None:
        return account, "account"
    stage = Bucket(*topology.api_throttle)
    if (stage.rate, stage.burst) < (account.rate, account.burst):
        return stage, "stage POST /orders"
    return account, "account"


def _quota_limits(profile: RegionProfile, api: Bucket) -> dict[str, float]:
    """The timeline's token-bucket quotas: requests per second each refills."""
    return {
        "api_gateway": api.rate,
        "put_events": profile.eventbridge_put_events.rate,
        "invocations": profile.eventbridge_invocations.rate,
        "state_transitions": profile.sfn_state_transitions.rate,
        f"start_execution_{STANDARD.lower()}": profile.sfn_start_execution.rate,
        f"start_execution_{EXPRESS.lower()}": profile.sfn_express_start_execution.rate,
    }


def envelope(event_type: str) -> dict[str, Any]:
    """The EventBridge event a rule hands its state machine, with placeholder identities:
    every execution for one event type gets this input, so its path is the outcomes'."""
    time = bus.iso(EPOCH)
    detail = {
        "type": event_type,
        "event_id": "sim-event",
        "order_id": "sim-order",
        "sequence": 1,
        "customer_id": "sim-customer",
        "occurred_at": time,
        "correlation_id": "sim-order",
        "causation_id": None,
        "schema_version": 1,
    }
    return bus.envelope(event_type, detail, event_id="sim", time=time)
