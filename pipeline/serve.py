"""`python -m pipeline serve`: the whole local stack, long-running, for real clients.

What ``sam local start-api`` and LocalStack give a user, in one process: the template deployed
on moto's server on a fixed loopback port (``--aws-port``: boto3 and the AWS CLI point
``--endpoint-url`` at it), the order API on another (``--api-port``), and the local runtime
(:class:`~pipeline.local.runtime.LocalRuntime`) pumping on the wall clock, sped up by
``--time-scale``: stream mappings, rule delivery, the sagas' executions, their waits and
retries, the DLQ remediation on its schedule. The shelves are stocked as the demo stocks them
(:data:`pipeline.demo.CATALOGUE`), so orders can confirm.

Threads: the order API answers on its own server threads (up to
:data:`pipeline.local.http_api.MAX_THREADS` connections at once) while the main thread runs
the pump loop; moto's server has threads of its own. Handler modules keep per-invocation
state in module globals (powertools' resolver, logger keys, metrics), so every function
invocation, the API's and the pump's, holds the runtime's one invocation lock
(:attr:`LocalRuntime.invocations`); moto's DynamoDB is serialised by the endpoint's gate.
Whatever reads the runtime's own structures (the invariants route) runs on the main thread,
between two pump rounds.

The API port also answers ``GET /health`` (200, JSON: status, clock, counts) and
``GET /invariants`` (200, JSON: every invariant of :mod:`pipeline.domain.invariants`
checked on what the tables, queues and lake hold now, and whether the pipeline is quiet).

Ctrl-C or SIGTERM stops it cleanly: the API stops accepting and answers what it is
answering, the pump finishes its round, the audit trail is flushed to the lake, and what
was still in flight is listed; then ``Stopped cleanly`` and exit status 0.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TextIO

from pipeline.demo import CATALOGUE, initial_stock, stock_the_shelves
from pipeline.domain.invariants import check, verdict
from pipeline.domain.order import TERMINAL
from pipeline.faults import Faults
from pipeline.local.endpoint import http_port
from pipeline.local.functions import RUNTIME_VARIABLES
from pipeline.local.observed import RunReport, facts, observe
from pipeline.local.runtime import LocalRuntime, stop_between_steps
from pipeline.template import Template

DEFAULT_API_PORT = 3000  # as `sam local start-api`
DEFAULT_AWS_PORT = 4566  # as LocalStack
DEFAULT_TIME_SCALE = 1.0
STOCKED_FOR = 100_000  # orders the regular SKUs have stock for (the hot SKU keeps its 6)
POLL_S = 0.02  # real seconds between pump rounds when nothing moved
ADMIN_TIMEOUT_S = 120.0


class Server:
    """The local stack, served until :meth:`stop` (or Ctrl-C / SIGTERM in the main thread).

    ``api_port`` and ``aws_port`` 0 take free ports (see :attr:`api_url`, :attr:`aws_url`
    once :meth:`start` returned). ``logs`` gets the functions' JSON logs (discarded unless
    given); ``out`` the server's own lines.
    """

    def __init__(
        self,
        template: Template | None = None,
        *,
        api_port: int = DEFAULT_API_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        time_scale: float = DEFAULT_TIME_SCALE,
        faults: Faults | None = None,
        scenario: str = "none",
        seed: int = 0,
        stocked_for: int = STOCKED_FOR,
        out: TextIO | None = None,
        logs: TextIO | None = None,
    ) -> None:
        self.template = template or Template.load()
        self.api_port, self.aws_port = api_port, aws_port
        self.time_scale = time_scale
        self.faults = faults or Faults()
        self.scenario, self.seed = scenario, seed
        self.stock = initial_stock(stocked_for)
        self.out = out or sys.stdout
        self.logs = logs
        self.started_at = time.monotonic()
        self.executions: Counter[str] = Counter()  # "Machine:STATUS", as they ended
        self.alerts: list[dict[str, Any]] = []  # read from the operations inbox so far
        self.parked: list[dict[str, Any]] = []  # read from the parked queue so far
        self.rounds = 0
        self.idle_rounds = 0  # pump rounds in a row that moved nothing
        self._closing = False  # no more questions for the main thread
        self._asks: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._wake = threading.Event()
        self._exit = contextlib.ExitStack()
        self._mirror: ExecutionMirror | None = None

    # ------------------------------------------------------------------ lifecycle
    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def start(self) -> LocalRuntime:
        """Deploy, stock the shelves, open the API; returns the running runtime. The deploy's
        log goes to the functions' log (``logs``); a deploy that fails prints it."""
        logs = self.logs or self._exit.enter_context(open(os.devnull, "w"))  # noqa: SIM115
        deploy_log: list[str] = []
        self.say(f"Deploying {self.template.path.name} on the local AWS endpoint ...")
        try:
            self._deploy(logs, deploy_log.append)
        except BaseException:
            for line in deploy_log:
                print(line, file=sys.stderr)
            raise
        for line in deploy_log:
            print(line, file=logs)
        self._mirror = ExecutionMirror(self.runtime)
        stock_the_shelves(self.runtime, self.stock)
        self.runtime.api.mount("/health", self.health)
        self.runtime.api.mount("/invariants", lambda: (200, self.ask(self.invariants)))
        return self.runtime

    def _deploy(self, logs: TextIO, say: Callable[[str], None]) -> None:
        with http_port(self.aws_port):
            self.runtime = self._exit.enter_context(
                LocalRuntime(
                    self.template,
                    faults=self.faults,
                    seed=self.seed,
                    time_scale=self.time_scale,
                    transport="http",
                    say=say,
                    quiet=True,
                    api_port=self.api_port,
                    log_sink=logs,
                    # Histories and execution dates in real time, as a user reads them.
                    started_at=datetime.now(UTC),
                )
            )

    def stop(self) -> None:
        """Ask the pump loop to stop after its round (what Ctrl-C and SIGTERM do)."""
        self.runtime.stop_requested = True
        self._wake.set()

    def serve_forever(self) -> int:
        """Start, print where everything is, pump until stopped, stop cleanly; exit status."""
        with self._exit:
            self.start()
            self._print_banner()
            with stop_between_steps(self.runtime, (signal.SIGTERM,)):
                self._pump_loop()
            self._shut_down()
        self.say("Stopped cleanly: nothing half-written, the audit trail flushed.")
        return 0

    def _pump_loop(self) -> None:
        runtime = self.runtime
        while not runtime.stop_requested:
            self._answer_asks()
            try:
                moved = runtime.pump()
            except KeyboardInterrupt:  # Ctrl-C at the round's start: stop here
                break
            self.rounds += 1
            self.idle_rounds = 0 if moved else self.idle_rounds + 1
            self._record_executions()
            if moved:
                continue
            due = runtime.scheduler.next_due()
            wait = POLL_S
            if due is not None and runtime.clock.scale:
                wait = min(wait, max(0.0, (due - runtime.clock.now()) / runtime.clock.scale))
            self._wake.wait(wait)
            self._wake.clear()

    def _shut_down(self) -> None:
        runtime = self.runtime
        self.say("\nStopping: the order API accepts no more connections ...")
        self._closing = True
        self._answer_asks(cancel=True)
        busy = runtime.api.close()
        if busy:
            self.say(f"  {busy} requests were still being answered after the grace period")
        in_flight = runtime.interrupted()  # the audit stream read to its end
        runtime.firehose.flush()  # and the lake written
        self._record_executions()
        accepted = runtime.api.statuses.get("POST /orders 201", 0)
        self.say(
            f"  {accepted} orders accepted; executions: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.executions.items())) or "none")
        )
        self.say(f"  in flight when stopped: {len(in_flight)}")
        for item in in_flight[:10]:
            self.say(f"    {item}")

    # ------------------------------------------------------------------ set-up
    def _print_banner(self) -> None:
        runtime, api = self.runtime, self.runtime.api
        orders = runtime.stack.ref("OrdersTable")
        machines = sorted(runtime.machines.items(), key=lambda item: item[1])
        credentials = (
            f"AWS_ACCESS_KEY_ID={RUNTIME_VARIABLES['AWS_ACCESS_KEY_ID']} "
            f"AWS_SECRET_ACCESS_KEY={RUNTIME_VARIABLES['AWS_SECRET_ACCESS_KEY']} "
            f"AWS_DEFAULT_REGION={RUNTIME_VARIABLES['AWS_DEFAULT_REGION']}"
        )
        clock = f"wall clock x{self.time_scale:g}"
        faults = "no faults" if self.scenario == "none" else f"faults {self.scenario!r}"
        stock = "; ".join(f"{sku} {self.stock[sku]:,} units" for sku, *_ in CATALOGUE)
        body = '{"customer_id":"cust-001","lines":[{"sku":"KB-001","quantity":1}]}'
        lines = [
            "",
            f"Local stack up ({clock}, {faults}, seed {self.seed}).",
            f"  Order API     {api.url}   (POST /orders, GET /orders/{{id}}, "
            "GET /orders?status=, GET /customers/{id}/orders)",
            f"  Health        {api.root}/health   invariants: {api.root}/invariants",
            f"  AWS endpoint  {runtime.url}   (moto; {credentials})",
            f"  Catalogue stocked (as the demo): {stock}",
            "Try:",
            f"  curl -s -X POST {api.url}/orders -H 'Content-Type: application/json' "
            f"-H 'Idempotency-Key: first-order-0001' -d '{body}'",
            f"  curl -s {api.url}/orders/ORDER_ID",
            f"  export {credentials}",
            f"  aws --endpoint-url {runtime.url} dynamodb scan --table-name {orders}",
            f"  aws --endpoint-url {runtime.url} stepfunctions list-executions "
            f"--state-machine-arn {machines[0][0]}",
            "  (state machines: " + ", ".join(machine for _, machine in machines) + ")",
            "Ctrl-C (or SIGTERM) stops: the current step finishes, the audit trail is flushed.",
        ]
        for line in lines:
            self.say(line)

    # ------------------------------------------------------------------ while serving
    def ask(self, question: Callable[[], Any]) -> Any:
        """Have the main thread answer ``question`` between two pump rounds (for a server
        thread: the runtime's structures are the pump's)."""
        future: Future[Any] = Future()
        self._asks.put((question, future))
        self._wake.set()
        deadline = time.monotonic() + ADMIN_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._closing and not future.done():
                raise RuntimeError("the server is stopping")
            with contextlib.suppress(TimeoutError):
                return future.result(timeout=0.1)
        raise TimeoutError("no answer from the pump loop")

    def _answer_asks(self, cancel: bool = False) -> None:
        while True:
            try:
                question, future = self._asks.get_nowait()
            except queue.Empty:
                return
            if cancel:
                future.set_exception(RuntimeError("the server is stopping"))
                continue
            try:
                with self.runtime.invocations:
                    future.set_result(question())
            except Exception as error:  # the asking thread reports it
                future.set_exception(error)

    def _record_executions(self) -> None:
        """Executions that ended since the last round: counted, shown to Step Functions'
        API (ListExecutions, DescribeExecution), and not kept twice in memory."""
        walks = self.runtime.walks
        if not walks:
            return
        ended, walks[:] = list(walks), []
        for machine, execution in ended:
            self.executions[f"{machine}:{execution.status}"] += 1
        if self._mirror is not None:
            self._mirror.record(ended)

    @property
    def quiet(self) -> bool:
        """Nothing moved in the last rounds and nothing is queued, waiting or scheduled."""
        runtime = self.runtime
        idle = self.idle_rounds >= 2 and not runtime.pending and not runtime.waiting
        return idle and not len(runtime.scheduler)

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health: up, and counts (read without stopping anything: approximate)."""
        runtime = self.runtime
        statuses = dict(runtime.api.statuses)
        waiting = len(runtime.waiting)
        return 200, {
            "status": "stopping" if runtime.stop_requested else "ok",
            "quiet": self.quiet,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "clock": {"scale": self.time_scale, "pipeline_s": round(runtime.clock.now(), 1)},
            "api": runtime.api.url,
            "aws_endpoint": runtime.url,
            "orders_accepted": statuses.get("POST /orders 201", 0),
            "responses": statuses,
            "executions": dict(self.executions),
            "in_flight": {
                "executions_waiting": waiting,
                "executions_queued": len(runtime.pending),
                "retries_scheduled": max(0, len(runtime.scheduler) - waiting),
            },
            "remediation": dict(runtime.remediation),
            "pump_rounds": self.rounds,
            "catalogue": {  # what was stocked at start (the inventory table says what is left)
                sku: {"name": name, "unit_price": price, "stocked": self.stock[sku]}
                for sku, name, price, _ in CATALOGUE
            },
        }

    def invariants(self) -> dict[str, Any]:
        """GET /invariants (on the main thread): the invariants on what the stack holds now,
        once the pipeline is quiet (reading every table and the lake takes the pump's time:
        while orders are under way, only the counts). The operations inbox and the parked
        queue are read (and kept here) to check them."""
        runtime = self.runtime
        if not self.quiet:
            return {
                "quiet": False,
                "orders_accepted_by_api": runtime.api.statuses.get("POST /orders 201", 0),
                "executions": dict(self.executions),
                "verdict": "not checked: orders are under way (ask again when quiet)",
            }
        report = RunReport(initial_stock=dict(self.stock))
        observe(runtime, report)
        self.alerts += report.alerts
        self.parked += report.parked
        report.alerts, report.parked = list(self.alerts), list(self.parked)
        report.orders = sum(report.by_status.values())
        checks = check(facts(report))
        return {
            "quiet": all(status in TERMINAL for status in report.by_status),
            "orders": report.orders,
            "orders_accepted_by_api": runtime.api.statuses.get("POST /orders 201", 0),
            "by_status": dict(report.by_status),
            "stock": {sku: [int(n) for n in row] for sku, row in report.stock.items()},
            "captured_minus_refunded": str(report.captured_minus_refunded),
            "confirmed_total": str(report.confirmed_total),
            "latency_p50_s": report.latency_percentile(50),
            "latency_p99_s": report.latency_percentile(99),
            "checks": checks,
            "holds": not any(checks.values()),
            "verdict": verdict(checks),
        }


class ExecutionMirror:
    """Executions the local runtime ran, written into moto's Step Functions backend (this
    process's, behind the served endpoint) as they end, so ListExecutions and
    DescribeExecution answer with them: the runtime, not moto, runs the state machines."""

    def __init__(self, runtime: LocalRuntime) -> None:
        from moto.stepfunctions.models import stepfunctions_backends

        self.backends = stepfunctions_backends
        self.arns = {machine: arn for arn, machine in runtime.machines.items()}

    def record(self, ended: list[tuple[str, Any]]) -> None:
        import json

        from moto.stepfunctions.models import Execution as MotoExecution

        for machine, execution in ended:
            arn = self.arns[machine]
            _, _, _, region, account, _, name = arn.split(":", 6)
            state_machine = self.backends[account][region].describe_state_machine(arn)
            mirrored = MotoExecution(
                region_name=region,
                account_id=account,
                state_machine_name=name,
                execution_name=str(uuid.uuid4()),
                state_machine_arn=arn,
                execution_input=json.dumps(execution.input, default=str),
            )
            mirrored.status = execution.status
            mirrored.start_date = execution.start or mirrored.start_date
            mirrored.stop_date = execution.stop or mirrored.start_date
            if execution.output is not None:
                mirrored.output = json.dumps(execution.output, default=str)
            mirrored.error, mirrored.cause = execution.error, execution.cause
            state_machine.executions.append(mirrored)


def serve(
    template: Template,
    *,
    api_port: int = DEFAULT_API_PORT,
    aws_port: int = DEFAULT_AWS_PORT,
    time_scale: float = DEFAULT_TIME_SCALE,
    scenario: str = "none",
    seed: int = 0,
    stocked_for: int = STOCKED_FOR,
    log_file: str | None = None,
) -> int:
    """Serve the stack until Ctrl-C or SIGTERM; the exit status (0 after a clean stop)."""
    from pipeline.faults import scenario as fault_scenario

    faults = fault_scenario(scenario, seed)
    with contextlib.ExitStack() as stack:
        logs = stack.enter_context(open(log_file, "a")) if log_file else None
        server = Server(
            template,
            api_port=api_port,
            aws_port=aws_port,
            time_scale=time_scale,
            faults=faults,
            scenario=scenario,
            seed=seed,
            stocked_for=stocked_for,
            logs=logs,
        )
        try:
            return server.serve_forever()
        except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM) during the stop: stop now
            print(
                "\nStopped at once (second interrupt): work in flight was abandoned with the "
                "in-memory stack.",
                file=sys.stderr,
            )
            return 130
        except OSError as error:  # a port in use, most likely
            print(f"error: {error}", file=sys.stderr)
            return 1
