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

Nothing about the pipeline's shape is written here: rules, patterns, retry policies, DLQs,
machines, Retry/Catch and function settings all come from ``infra/``.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import simpy

from pipeline.domain.order import TERMINAL, TRANSITIONS
from pipeline.local.event_delivery import retry_after
from pipeline.seeds import stream_seed
from pipeline.sim.concurrency import LambdaFleet
from pipeline.sim.dynamodb import PartitionedTable, Stock
from pipeline.sim.failures import FailureModel
from pipeline.sim.lake import SimLake, money
from pipeline.sim.latency import HOPS, HopSampler, LogNormal
from pipeline.sim.orders import COMPENSATION_STEP, Plan, SimOrder, plan, status_after
from pipeline.sim.regions import RegionProfile
from pipeline.sim.replay import OK, Node, PathCache
from pipeline.sim.stats import Stats
from pipeline.sim.topology import RuleTarget, SimMachine, Topology, matches
from pipeline.sim.workloads import Workload

SOURCE = "order-pipeline"
STANDARD, EXPRESS = "STANDARD", "EXPRESS"
EXPRESS_MAX_S = 300.0  # an Express execution runs at most 5 minutes
PUT_EVENTS_RETRY_S = 1.0  # the stream processor's batch comes back after a throttled PutEvents
SDK_BACKOFF_S = 0.05  # botocore's first backoff between throttled DynamoDB attempts (about)
# The dependency call an action makes, and the latency hop it spends.
CALL_HOPS = {
    "gateway": "payment_gateway",
    "carrier": "carrier_api",
    "notifier": "sns_publish",
    "alerts": "sns_publish",
}


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
        self._sample = HopSampler(config.hops, stream_seed(config.seed, "latency"))
        self.stats = Stats()
        self.orders: dict[int, SimOrder] = {}
        self.api = profile.api_gateway.make()
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
        self.machines = {
            m: (
                machine,
                config.workflow_type or machine.workflow_type,
                {},  # detail-type -> PathCache
            )
            for m, machine in topology.machines.items()
        }
        self._routes: dict[str, list[RuleTarget]] = {}
        self.dlq: list[tuple[RuleTarget, SimOrder, str, str, float, int]] = []
        self._next_order = 0

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Stats:
        self.env.process(self._arrivals())
        every = self.topology.remediation_every_s
        if every:
            self.env.process(self._remediation(every))
        end = self.config.duration_s + self.config.drain_s
        step = max(1.0, self.config.duration_s / 100)
        while self.env.now < end:
            target = min(end, self.env.now + step)
            self.env.run(until=target)
            if self.progress:
                self.progress(min(1.0, self.env.now / self.config.duration_s))
            if self.env.now >= self.config.duration_s and not self.orders and not self.dlq:
                break
        self.stats.sim_seconds = self.env.now
        self.stats.unfinished = len(self.orders)
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
        self.env.timeout(delay).callbacks.append(lambda _event: then(*args))

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
        latency = (
            self._sample("api_gateway")
            + self._sample("lambda_cold" if cold else "lambda_warm")
            + self._sample("handler_cpu")
            + self._sample("dynamodb")
        )
        self._bill_lambda("OrderApiFunction", latency)
        self._later(latency, self._placed, lines, customer, latency)

    def _placed(self, lines: tuple[tuple[str, int, int], ...], customer: int, latency: float):
        self.fleet.release("OrderApiFunction")
        self._next_order += 1
        total = sum(q * price for _, q, price in lines)
        order = SimOrder(self._next_order, customer, lines, total, self.env.now - latency)
        self.orders[order.number] = order
        self.stats.accepted += 1
        self.stats.units["dynamodb_wru"] += 2 * 2  # the outbox: order row + event, transactional
        if self.failures.chance(self.failures.poison_share):
            order.poisoned = True
        self._append(order, ("OrderPlaced",), None, None)

    # -- events: store, stream, bus --------------------------------------------------------

    def _append(
        self, order: SimOrder, events: tuple[str, ...], cause: str | None, kind: str | None
    ) -> None:
        now, stats = self.env.now, self.stats
        for event_type in events:
            order.status = TRANSITIONS[(order.status, event_type)]
            order.version += 1
            order.applied.add(event_type)
            fields = self._effects(order, event_type, kind)
            event_id = f"{order.order_id}-{order.version:03d}"
            if self.lake is not None:
                order.last_hash = self.lake.add(
                    order.order_id,
                    f"cust-{order.customer:06d}",
                    order.version,
                    event_type,
                    now,
                    order.order_id,
                    cause,
                    order.last_hash,
                    fields,
                )
            stats.events[event_type] += 1
            stats.units["dynamodb_wru"] += 2  # each event item in the append transaction
            stats.units["eventbridge_events"] += 1
            stats.units["firehose_records"] += 1
            if order.ended_at is None and order.status in TERMINAL:
                order.ended_at = now
                stats.ended(order, now)
            order.in_flight += 1
            self._later(
                self._sample("stream_to_lambda"), self._publish, order, event_type, event_id, 0
            )

    def _effects(self, order: SimOrder, event_type: str, kind: str | None) -> dict[str, Any]:
        """What an event records on the order, and its own fields (the event schema's)."""
        oid = order.order_id
        if event_type == "OrderPlaced":
            lines = [
                {"sku": sku, "quantity": q, "unit_price": money(price)}
                for sku, q, price in order.lines
            ]
            return {"lines": lines, "currency": "USD", "total": money(order.total)}
        if event_type in ("PaymentAuthorized", "PaymentCaptured"):
            if event_type == "PaymentCaptured":
                order.captured = order.total
            return {"payment_id": f"pay_{oid}", "amount": money(order.total)}
        if event_type == "PaymentRefunded":
            amount = order.captured - order.refunded
            order.refunded += amount
            return {"refund_id": f"pay_{oid}:refund", "amount": money(amount)}
        if event_type in ("InventoryReserved", "InventoryReleased", "InventoryShipped"):
            return {"reservation_id": oid}
        if event_type == "LabelCreated":
            return {
                "tracking_number": f"1Z{order.number:016d}",
                "label_uri": f"s3://labels/labels/{oid}.json",
            }
        if event_type == "CustomerNotified":
            order.notified.add(kind or "")
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
            event = {"source": SOURCE, "detail-type": event_type, "detail": {}}
            routes = [r for r in self.topology.rules if matches(r.pattern, event)]
            self._routes[event_type] = routes
        return routes

    def _publish(self, order: SimOrder, event_type: str, event_id: str, attempt: int) -> None:
        now = self.env.now
        if not self.put_events.try_take(now):
            self.stats.throttles["eventbridge:PutEvents"] += 1
            self._later(
                PUT_EVENTS_RETRY_S * 2 ** min(attempt, 6),
                self._publish,
                order,
                event_type,
                event_id,
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
                event_id,
                0,
                0.0,
            )
        self._done(order)

    def _deliver(
        self,
        order: SimOrder,
        route: RuleTarget,
        event_type: str,
        event_id: str,
        attempt: int,
        age: float,
    ) -> None:
        now, stats = self.env.now, self.stats
        _, workflow, _ = self.machines[route.machine_id]
        failed = None
        if not self.invocations.try_take(now):
            failed = "eventbridge:invocations"
        elif not self.starts[workflow].try_take(now):
            failed = f"stepfunctions:StartExecution:{workflow}"
        elif self.failures.chance(self.failures.start_throttle):
            failed = "injected:StartExecution"
        if failed is None:
            stats.deliveries[route.rule_id] += 1
            self._start(order, route.machine_id, event_type, event_id)
            if self.failures.chance(self.failures.duplicate_delivery):
                stats.duplicates += 1
                order.in_flight += 1
                self._start(order, route.machine_id, event_type, event_id)
            return
        stats.throttles[failed] += 1
        delay = retry_after(attempt, age, route.max_attempts, route.max_age_s, self.rng)
        if delay is None:
            stats.dead_lettered[route.rule_id] += 1
            order.measure("dead_lettered")
            self.dlq.append((route, order, event_type, event_id, now, 0))
            return
        stats.delivery_retries[route.rule_id] += 1
        self._later(
            delay, self._deliver, order, route, event_type, event_id, attempt + 1, age + delay
        )

    def _remediation(self, every_s: float) -> Iterator[simpy.Event]:
        """The DLQ remediation function on its schedule: redrive to the same target a bounded
        number of times (requeued with a delay when the start is throttled), park the rest."""
        limit = self.topology.max_redrive_attempts
        while True:
            yield self.env.timeout(every_s)
            now, waiting, self.dlq = self.env.now, self.dlq, []
            for route, order, event_type, event_id, since, attempts in waiting:
                if since > now:  # requeued with a delay that has not passed
                    self.dlq.append((route, order, event_type, event_id, since, attempts))
                    continue
                self.stats.dlq_ages.add(now - since)
                _, workflow, _ = self.machines[route.machine_id]
                if attempts >= limit:
                    self.stats.parked += 1
                    self._done(order)
                elif self.starts[workflow].try_take(now):
                    self.stats.redriven += 1
                    self._start(order, route.machine_id, event_type, event_id)
                else:
                    self.stats.throttles[f"stepfunctions:StartExecution:{workflow}"] += 1
                    later = now + min(900, 30 * 2**attempts)
                    self.dlq.append((route, order, event_type, event_id, later, attempts + 1))

    # -- executions ------------------------------------------------------------------------

    def _start(self, order: SimOrder, machine_id: str, event_type: str, event_id: str) -> None:
        machine, workflow, paths = self.machines[machine_id]
        cache = paths.get(event_type)
        if cache is None:
            cache = paths[event_type] = PathCache(machine.definition, _envelope(event_type))
        self.stats.units["sfn_express_requests" if workflow == EXPRESS else "sfn_executions"] += 1
        self.env.process(self._execution(order, machine, workflow, cache, event_id))

    def _execution(
        self, order: SimOrder, machine: SimMachine, workflow: str, cache: PathCache, cause: str
    ) -> Generator[simpy.Event, Any, None]:
        env, stats, standard = self.env, self.stats, workflow == STANDARD
        started = env.now
        node = cache.root()
        machine_id = machine.machine_id
        while True:
            transitions, overhead = node.transitions, 0.0
            if transitions:
                if standard:
                    stats.units["sfn_standard_transitions"] += transitions
                    wait = self.transitions.wait_for(env.now, transitions)
                    if wait > 0:
                        stats.throttles["stepfunctions:StateTransition"] += 1
                        yield env.timeout(wait)
                    self.transitions.try_take(env.now, transitions)
                # Step Functions' own time for the transitions, spent with the next effect.
                overhead = self._sample("sfn_transition")
            if not standard and env.now - started > EXPRESS_MAX_S:
                stats.executions[(machine_id, "TIMED_OUT", "States.Timeout")] += 1
                break
            kind = node.kind
            if kind == "invoke":
                outcome = yield from self._task(order, machine, node, overhead, cause)
                node = cache.after(node, outcome)
            elif kind == "wait":
                seconds = (
                    node.seconds if node.ceiling is None else self.rng.uniform(0, node.ceiling)
                )
                if node.reason == "retry":
                    stats.retries[(machine_id, node.state)] += 1
                    order.measure(f"retries:{machine_id}.{node.state}")
                    if standard:
                        stats.units["sfn_standard_transitions"] += 1  # a retry is billed
                yield env.timeout(seconds + overhead)
                node = cache.after(node)
            else:
                stats.executions[(machine_id, node.status, node.error)] += 1
                if node.status != "SUCCEEDED":
                    order.failed_executions += 1
                if overhead:
                    yield env.timeout(overhead)
                break
        if not standard:
            # Express bills duration in 100 ms steps at the 64 MB minimum memory.
            duration = math.ceil((env.now - started) * 10) / 10
            stats.units["sfn_express_gb_s"] += duration * 64 / 1024
        self._done(order)

    def _task(
        self, order: SimOrder, machine: SimMachine, node: Node, overhead: float, cause: str
    ) -> Generator[simpy.Event, Any, str]:
        env, stats, failures = self.env, self.stats, self.failures
        function = machine.functions[node.resource]
        action = node.action or ""
        stats.tasks[(machine.machine_id, node.state)] += 1
        stats.units["lambda_requests"] += 1
        if overhead:
            yield env.timeout(overhead)
        if failures.chance(failures.lambda_throttle):
            stats.throttles["injected:Lambda.TooManyRequestsException"] += 1
            return "Lambda.TooManyRequestsException"
        cold = self.fleet.acquire(function, env.now)
        if cold is None:
            stats.throttles[f"lambda:{function}"] += 1
            return "Lambda.TooManyRequestsException"
        kind = _notification_kind(node.payload)
        decided = plan(order, action, kind)
        version = order.version
        latency = (
            self._sample("lambda_cold" if cold else "lambda_warm")
            + self._sample("handler_cpu")
            + self._sample("dynamodb")  # load the order's events
        )
        if decided.call and decided.call != "carrier.cancel_label":
            hop = CALL_HOPS.get(decided.call.split(".")[0])
            latency += self._sample(hop) if hop else self._sample("dynamodb")
        if decided.events:
            latency += self._sample("dynamodb")  # the append
        yield env.timeout(latency)
        if self.config.atomic_steps:  # load, decide and append at one instant
            decided, version = plan(order, action, kind), order.version
        self.fleet.release(function)
        self._bill_lambda(function, latency)
        stats.units["dynamodb_rru"] += 1
        if order.poisoned:
            outcome = "ValidationFailed"
        else:
            outcome = self._act(order, decided, version, function, kind, cause)
        timeout = node.timeout_s
        if timeout is not None and latency > timeout:
            return "States.Timeout"
        if outcome == OK and failures.chance(failures.task_timeout):
            stats.injected_timeouts += 1
            return "States.Timeout"
        return outcome

    def _act(
        self,
        order: SimOrder,
        decided: Plan,
        version: int,
        function: str,
        kind: str | None,
        cause: str,
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
        if order.version != version:
            return "ConcurrencyConflict"  # another execution appended since the load
        if self.failures.dynamodb_fails():
            return "StoreUnavailable"
        if status_after(order, decided.events) is None:  # the order moved on since the load
            return "InvalidTransition"
        if decided.call_after:  # append first, then the call (record_payment_failure's void)
            self._append(order, decided.events, cause, None)
            return (self._call(decided.call, order) if decided.call else None) or OK
        detail = kind if "CustomerNotified" in decided.events else None
        if "CompensationFailed" in decided.events:
            detail = COMPENSATION_STEP.get(function, "refund")
        if "InventoryReservationFailed" in decided.events:
            detail = order.reservation_error
        self._append(order, decided.events, cause, detail)
        return OK

    def _call(self, call: str, order: SimOrder) -> str | None:
        """A dependency call's error name, or None; each is idempotent per order, as the real
        ones are (gateway keys, the reservation record, label objects)."""
        failures, now = self.failures, self.env.now
        if call.startswith("gateway."):
            op = call[8:]
            done = {
                "authorize": order.authorized or order.declined,
                "capture": order.gateway_captured > 0,
                "void": order.voided,
                "refund": order.gateway_refunded >= order.gateway_captured > 0 and not order.voided,
            }[op]
            if done:
                return "PaymentDeclined" if op == "authorize" and order.declined else None
            error = failures.error_for(call, now)
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
        if call == "carrier.create_label":
            return failures.error_for(call, now)
        if call.startswith("inventory."):
            return self._inventory(call[10:], order)
        if call == "alerts":
            self.stats.alerts += 1
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


def _envelope(event_type: str) -> dict[str, Any]:
    """The EventBridge event a rule hands its state machine, with placeholder identities:
    every execution for one event type gets this input, so its path is the outcomes'."""
    detail = {
        "type": event_type,
        "event_id": "sim-event",
        "order_id": "sim-order",
        "sequence": 1,
        "customer_id": "sim-customer",
        "occurred_at": "2026-01-01T00:00:00Z",
        "correlation_id": "sim-order",
        "causation_id": None,
        "schema_version": 1,
    }
    return {
        "version": "0",
        "id": "sim",
        "detail-type": event_type,
        "source": SOURCE,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _notification_kind(payload: Any) -> str | None:
    """The ``kind`` a Notify task passes (the event type being notified), if any."""
    kind = payload.get("kind") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None
