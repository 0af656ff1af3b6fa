"""`python -m pipeline demo`: random orders through the real handlers and state machines.

The demo is a workload and a report. The pipeline runs in the local runtime
(:class:`pipeline.local.runtime.LocalRuntime`: the template deployed on moto, every function,
rule, stream mapping and state machine running on one clock); orders are posted over HTTP to
its order API as a careful client posts them; what the run left is read back
(:mod:`pipeline.local.observed`) and every invariant checked (:mod:`pipeline.domain.invariants`).

Quiet unless told: :func:`run_demo` prints nothing without ``out``; with it, one line for the
deploy, a progress bar (a plain line per tenth when ``out`` is not a terminal), the report as
a compact table, a pass/fail line per invariant and one ``VERDICT:`` line. ``log=True`` (and
``verbose``) also print the whole deploy log; ``verbose``, the handlers' logs and the long
report. In a notebook the returned :class:`DemoReport` shows itself as tables
(:meth:`DemoReport.table`, :meth:`DemoReport.invariants`).
"""

from __future__ import annotations

import html
import json
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from pipeline.adapters.dynamo import to_item
from pipeline.asl import Execution
from pipeline.domain.invariants import check, verdict
from pipeline.domain.order import TERMINAL
from pipeline.faults import Faults
from pipeline.faults import scenario as fault_scenario
from pipeline.local.cloud import LocalCloud
from pipeline.local.endpoint import DEFAULT_TRANSPORT, Transport
from pipeline.local.observed import RunReport, facts, nearest_rank, observe, order_of
from pipeline.local.runtime import LocalRuntime
from pipeline.progress import Progress, interactive
from pipeline.template import Template

HOT_SKU_SHARE = 0.1  # of orders that ask for the limited SKU: they contend for its stock
CATALOGUE = [  # (sku, name, unit price, stock): one hot SKU with little stock
    ("KB-001", "Mechanical keyboard", "89.00", 500),
    ("MS-002", "Wireless mouse", "25.50", 500),
    ("HP-003", "Headphones (limited)", "149.99", 6),
    ("CB-004", "USB-C cable", "9.99", 1000),
]
PUMP_EVERY = 10  # orders posted between two rounds of stream and queue polling


@dataclass
class DemoReport(RunReport):
    """A demo run's report (:class:`~pipeline.local.observed.RunReport`), plus what only the
    demo knows: the deploy's log and time, and when each order was placed on the pipeline's
    clock (so order latency is measured on that clock, never on the wall clock)."""

    deploy_log: list[str] = field(default_factory=list, repr=False)
    deploy_summary: str = ""  # the deploy in one line (the log is in ``deploy_log``)
    deploy_s: float = 0.0  # wall seconds to deploy (0 on a stack deployed before)
    placed_at: dict[str, datetime] = field(default_factory=dict, repr=False)  # pipeline clock

    # ------------------------------------------------------------------ invariants
    def checks(self) -> dict[str, str]:
        """Each invariant: "" when it holds, else what broke."""
        return check(facts(self))

    @property
    def ok(self) -> bool:
        return not self.interrupted and not any(self.checks().values())

    def verdict(self) -> str:
        """The run in one line: ``VERDICT: all 7 invariants hold``, or which failed."""
        if self.interrupted:
            return (
                f"VERDICT: INTERRUPTED (Ctrl-C) with {len(self.unfinished)} orders not "
                "finished; invariants not judged"
            )
        failed = [name for name, why in self.checks().items() if why]
        if failed:
            return "VERDICT: FAILED — " + ", ".join(failed)
        return f"VERDICT: {verdict(self.checks())}"

    # ------------------------------------------------------------------ latency
    def pipeline_latencies(self) -> dict[str, float]:
        """Per order, seconds on the pipeline clock from its placing to the end of the last
        execution it needed (duplicate deliveries' executions not counted)."""
        return pipeline_latencies(self.placed_at, self.runs)

    def pipeline_latency(self, q: float) -> float:
        """Nearest-rank percentile ``q`` of :meth:`pipeline_latencies` (0 when none)."""
        return nearest_rank(self.pipeline_latencies().values(), q)

    # ------------------------------------------------------------------ the report
    def rows(self) -> list[tuple[str, str]]:
        """The report as (measure, value) rows: what :meth:`table` and the text show."""
        statuses = ", ".join(
            f"{status} {count}" + ("" if status in TERMINAL else " (NOT TERMINAL)")
            for status, count in self.by_status.most_common()
        )
        by_machine: dict[str, Counter[str]] = {}
        for key, count in self.executions.items():
            machine, _, status = key.partition(":")
            by_machine.setdefault(machine, Counter())[status.lower()] += count
        executions = "; ".join(
            f"{machine.removesuffix('StateMachine')}: "
            + ", ".join(f"{n} {status}" for status, n in counts.most_common())
            for machine, counts in sorted(by_machine.items())
        )
        retried: Counter[str] = Counter()
        for _, execution in self.runs:
            retried.update(execution.retries_by_state())
        top = ", ".join(f"{state} {n}" for state, n in retried.most_common(4))
        more = ", …" if len(retried) > 4 else ""
        leftover = {q: n for q, n in self.dlq_depth.items() if n}
        remediation = self.remediation.get("received", 0)
        held = self.held_by_failed_compensation
        money = (
            f"captured - refunded {self.captured_minus_refunded:,} = confirmed "
            f"{self.confirmed_total:,}" + (f" + {held:,} held (alerted)" if held else "")
            if self.money_reconciled
            else f"MISMATCH: captured - refunded {self.captured_minus_refunded:,}, confirmed "
            f"{self.confirmed_total:,}" + (f" + {held:,} held" if held else "")
        )
        scale = self.time_scale
        clock = "virtual: waits jump" if scale is None else f"wall clock x{scale:g}"
        latencies = self.pipeline_latencies()
        rows = [
            ("orders", f"{self.orders} accepted, {self.rejected} rejected by the API"),
            ("orders by status", statuses or "none"),
            ("state machine executions", executions or "none"),
        ]
        rows += [("failed executions", f"{n} x {f}") for f, n in sorted(self.failures.items())]
        rows += [
            ("task retries", f"{self.retries}" + (f" ({top}{more})" if top else "")),
            (
                "EventBridge deliveries",
                f"{self.routed} routed, {self.delivery_retries} retried, "
                f"{self.dead_lettered} dead-lettered, {self.duplicate_deliveries} duplicated"
                + (f", {self.delayed_deliveries} late" if self.delayed_deliveries else ""),
            ),
            (
                "DLQs after remediation",
                ", ".join(f"{q} {n}" for q, n in sorted(leftover.items())) or "all empty",
            ),
            (
                "DLQ remediation",
                f"{remediation} received: {self.remediation.get('redriven', 0)} redriven, "
                f"{self.remediation.get('requeued', 0)} requeued, "
                f"{self.remediation.get('parked', 0)} parked, {len(self.alerts)} alerts"
                if remediation or self.alerts
                else "nothing to do",
            ),
            ("customer notifications", f"{self.notifications}"),
            ("money (finished orders)", money),
            (
                "stock",
                ("conserved" if self.stock_conserved else "NOT conserved")
                + (" and settled" if self.stock_settled else ", NOT settled")
                + f" ({len(self.stock)} SKUs)",
            ),
            (
                "audit lake",
                f"{self.lake_rows} Parquet rows in {self.lake_files} "
                f"file{'' if self.lake_files == 1 else 's'}; every stored "
                f"event {'once' if self.lake_matches_store else 'NOT matched'}"
                + (f" ({self.lake_duplicates} duplicates)" if self.lake_duplicates else ""),
            ),
            (
                "order latency (pipeline clock)",
                f"p50 {self.pipeline_latency(50):.1f} s, p99 {self.pipeline_latency(99):.1f} s, "
                f"max {max(latencies.values(), default=0.0):.1f} s",
            ),
            ("pipeline time elapsed", f"{self.simulated_s / 60:.1f} min ({clock})"),
            (
                "time to run this (wall clock)",
                f"{self.wall_s:.1f} s for {self.orders} orders "
                f"({60 * self.orders / max(self.wall_s, 1e-9):,.0f} orders/min)"
                + (f", after a {self.deploy_s:.1f} s deploy" if self.deploy_s else ""),
            ),
        ]
        return rows

    def table(self) -> Any:
        """The report as a ``pandas.DataFrame``: one row per measure."""
        import pandas as pd

        measures, values = zip(*self.rows(), strict=True)
        return pd.DataFrame({"value": values}, index=pd.Index(measures, name="measure"))

    def invariants(self) -> Any:
        """A ``pandas.DataFrame``: each invariant, ``pass`` or ``FAIL``, and what broke."""
        import pandas as pd

        checks = self.checks()
        return pd.DataFrame(
            {
                "result": ["FAIL" if why else "pass" for why in checks.values()],
                "detail": list(checks.values()),
            },
            index=pd.Index(list(checks), name="invariant"),
        )

    def text(self) -> list[str]:
        """The compact report as lines: the rows, a line per invariant, the verdict."""
        lines = [f"{measure:<31}{value}" for measure, value in self.rows()]
        if self.interrupted:
            lines.append("Interrupted (Ctrl-C): the report is the state when the run stopped.")
            lines += [f"  not finished: {item}" for item in self.unfinished[:10]]
        else:
            lines.append("invariants:")
            lines += [
                f"  {'FAIL' if why else 'pass'}  {name}" + (f": {why}" if why else "")
                for name, why in self.checks().items()
            ]
        lines.append(self.verdict())
        return lines

    def _repr_html_(self) -> str:
        """In a notebook: the table, the invariants and the verdict, left-aligned."""

        def frame(df: Any) -> str:
            styled = df.style.set_properties(**{"text-align": "left"})
            return str(
                styled.set_table_styles([{"selector": "th", "props": "text-align: left"}]).to_html()
            )

        parts = [f"<p>{html.escape(self.deploy_summary)}</p>"] if self.deploy_summary else []
        parts.append(frame(self.table()))
        if not self.interrupted:
            parts.append(frame(self.invariants()))
        parts.append(f"<p><b>{html.escape(self.verdict())}</b></p>")
        return "\n".join(parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """In IPython's console (and a notebook's text view): the compact report, not every
        field of the dataclass."""
        summary = [self.deploy_summary] if self.deploy_summary else []
        printer.text("\n".join([*summary, *self.text()]))

    # ------------------------------------------------------------------ one order
    def timeline(self, order_id: str, ax: Any = None, title: str | None = None) -> Any:
        """One order's saga over time (:func:`pipeline.diagrams.timeline.saga_timeline`)."""
        from pipeline.diagrams.timeline import saga_timeline

        return saga_timeline(
            self.executions_of(order_id),
            placed=self.placed_at.get(order_id),
            ax=ax,
            title=title,
        )


def run_demo(
    orders: int = 40,
    seed: int = 7,
    out: TextIO | None = None,
    verbose: bool = False,
    faults: Faults | Mapping[str, str] | None = None,
    scenario: str = "default",
    time_scale: float | None = None,
    hot_share: float = HOT_SKU_SHARE,
    template: Template | None = None,
    environment: Mapping[str, str] | None = None,
    transport: Transport = DEFAULT_TRANSPORT,
    cloud: LocalCloud | None = None,
    *,
    log: bool | None = None,
    progress: bool | None = None,
) -> DemoReport:
    """Place ``orders`` random orders and let the pipeline finish them; return the report.

    ``faults`` are injected (:class:`pipeline.faults.Faults`, or its knobs by name); unless
    given, the named ``scenario``'s, seeded from ``seed``. ``environment`` adds variables to
    every function's. ``time_scale`` None runs waits on virtual time (a seed reproduces a
    run), a number on the wall clock sped up that many times. ``hot_share`` of orders also
    want the hot SKU. ``template`` is ``infra/template.yaml`` unless given; ``transport``,
    how boto3 reaches the local cloud (:mod:`pipeline.local.endpoint`); ``cloud``, a deployed
    :class:`~pipeline.local.cloud.LocalCloud` to run on (emptied first).

    What is shown: nothing without ``out``. With it, a one-line deploy summary, progress,
    the compact report (:meth:`DemoReport.text`) and its ``VERDICT:`` line last. ``log``
    (default: ``verbose``) prints the whole deploy log instead of its summary; ``verbose``
    also shows the functions' JSON logs and the long report. ``progress`` None shows a bar
    on ``out`` when there is one and the run is not verbose; True always (on stderr without
    ``out``; a widget in a notebook), False never. The deploy log is kept in
    ``report.deploy_log`` either way.
    """
    faults = fault_scenario(scenario, seed) if faults is None else faults
    injected = faults if isinstance(faults, Faults) else Faults.from_knobs(faults)
    log = verbose if log is None else log
    say: Callable[[str], None] = (lambda text: print(text, file=out)) if out else (lambda _: None)
    report = DemoReport(initial_stock=initial_stock(orders))

    def deploy_say(text: str) -> None:
        report.deploy_log.append(text)
        if log:
            say(text)

    started = time.perf_counter()
    with LocalRuntime(
        template,
        faults=injected,
        seed=seed,
        time_scale=time_scale,
        transport=transport,
        environment=environment,
        say=deploy_say,
        quiet=not verbose,
        cloud=cloud,
    ) as runtime:
        report.deploy_s = 0.0 if cloud is not None else time.perf_counter() - started
        report.deploy_summary = deploy_summary(runtime, report.deploy_s)
        if not log:
            say(report.deploy_summary)
        report.definitions = dict(runtime.deployment.definitions)
        stock_the_shelves(runtime, report.initial_stock)
        started = time.perf_counter()
        with _progress(orders, out, verbose, progress) as bar:
            try:
                _place_orders(runtime, report, orders, random.Random(seed), seed, hot_share, bar)
                bar.note("finishing: the sagas settle")
                runtime.finish()
            except KeyboardInterrupt:
                report.interrupted = True
                report.in_flight = runtime.interrupted()
        report.wall_s = time.perf_counter() - started
        observe(runtime, report)
    if verbose:
        _print_report(report, say)
    else:
        for line in report.text():
            say(line)
    return report


def deploy_summary(runtime: LocalRuntime, seconds: float) -> str:
    """The deploy in one line: the stack, how many resources (through CloudFormation or made
    locally), how long it took, where the order API listens."""
    deployment = runtime.deployment
    where = f"moto on {runtime.url}" if runtime.url else "moto in-process"
    made = len(deployment.deployed) + len(deployment.equivalents)
    took = f" in {seconds:.1f} s" if seconds else " (deployed before; emptied)"
    return (
        f"Stack {deployment.stack.name} on the local cloud ({where}){took}: {made} resources "
        f"({len(deployment.deployed)} through CloudFormation, {len(deployment.equivalents)} "
        f"made locally); order API on {runtime.api.url}"
    )


def pipeline_latencies(
    placed: Mapping[str, datetime], runs: Iterable[tuple[str, Execution]]
) -> dict[str, float]:
    """Per order placed at ``placed[order]`` (pipeline clock), seconds until the last of the
    executions it needed ended: per machine and starting event, the execution that ended
    first (a duplicate delivery's runs later and changes nothing)."""
    first_end: dict[str, dict[tuple[str, str], datetime]] = {}
    for machine, execution in runs:
        order_id = order_of(execution)
        detail_type = str((execution.input or {}).get("detail-type", ""))
        if order_id is None or execution.stop is None:
            continue
        ends = first_end.setdefault(order_id, {})
        key = (machine, detail_type)
        ends[key] = min(execution.stop, ends.get(key, execution.stop))
    return {
        order_id: max(0.0, (max(ends.values()) - placed[order_id]).total_seconds())
        for order_id, ends in first_end.items()
        if order_id in placed
    }


class _NoProgress:
    def update(self, amount: float = 1) -> None: ...

    def note(self, text: str) -> None: ...

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *_exc: object) -> None: ...


def _progress(orders: int, out: TextIO | None, verbose: bool, shown: bool | None) -> Any:
    """Orders posted, then "finishing": a tqdm bar on a terminal (``tqdm.auto``'s widget in a
    notebook), a plain line per tenth anywhere else."""
    if shown is False or (shown is None and (out is None or verbose)):
        return _NoProgress()
    stream = out or sys.stderr
    notebook = _in_notebook() and stream in (sys.stdout, sys.stderr) and not interactive(stream)
    return Progress(orders, "orders posted", stream, unit="orders", notebook=notebook)


def _in_notebook() -> bool:
    """True in a Jupyter kernel (where ``tqdm.auto`` draws a widget), not merely when
    IPython or ipykernel has been imported (pytest's nbval imports them)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def initial_stock(orders: int) -> dict[str, int]:
    """Stock per SKU for a run: the regular SKUs never run out (an order asks for at most
    3 units of each); the hot one keeps its handful, so the orders asking for it contend."""
    hot = CATALOGUE[2][0]
    return {sku: stock if sku == hot else stock + 3 * orders for sku, _, _, stock in CATALOGUE}


def order_lines(rng: random.Random, hot_share: float = HOT_SKU_SHARE) -> list[dict[str, Any]]:
    """One to three regular SKUs, 1-3 units each; ``hot_share`` of orders also want the hot
    SKU."""
    hot = CATALOGUE[2]
    regular = [item for item in CATALOGUE if item is not hot]
    picked = rng.sample(regular, rng.randint(1, 3))
    if rng.random() < hot_share:
        picked.append(hot)
    return [{"sku": sku, "quantity": rng.randint(1, 3)} for sku, *_ in picked]


def stock_the_shelves(runtime: LocalRuntime, stock: Mapping[str, int]) -> None:
    """The catalogue in the inventory table, with ``stock`` units of each SKU."""
    table, dynamodb = runtime.stack.ref("InventoryTable"), runtime.client("dynamodb")
    for sku, name, price, _ in CATALOGUE:
        item = {"pk": f"sku#{sku}", "sku": sku, "name": name, "unit_price": Decimal(price)}
        item |= {"available": stock[sku], "reserved": 0, "shipped": 0}
        dynamodb.put_item(TableName=table, Item=to_item(item))


def _place_orders(
    runtime: LocalRuntime,
    report: DemoReport,
    orders: int,
    rng: random.Random,
    seed: int,
    hot: float,
    bar: Any = None,
) -> None:
    """Post ``orders`` orders, letting the pipeline catch up every ``PUMP_EVERY``; note when
    each was placed on the pipeline's clock."""
    for n in range(orders):
        runtime.check_stop()
        body = {
            "customer_id": f"cust-{rng.randint(1, 12):03d}",
            "lines": order_lines(rng, hot),
        }
        key = f"demo-key-{seed}-{n:05d}"
        placed = runtime.clock()
        status, order_id = _post(f"{runtime.api.url}/orders", body, key)
        if status in (200, 201):
            report.orders += 1
            if order_id:
                report.placed_at.setdefault(order_id, placed)
        else:
            report.rejected += 1
        if bar is not None:
            bar.update(1)
        if n % PUMP_EVERY == PUMP_EVERY - 1:
            runtime.settle()


def _post(url: str, body: Any, key: str, attempts: int = 5) -> tuple[int, str | None]:
    """POST JSON over HTTP as a careful client does: a 503, or a 429 after its Retry-After,
    is retried with the same Idempotency-Key, so a retry can never place the order twice.
    Returns the last status and the order's id (from its ``Location``) when placed."""
    status = 0
    for _ in range(attempts):
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                location = response.headers.get("Location") or ""
                return int(response.status), location.rsplit("/", 1)[-1] or None
        except urllib.error.HTTPError as error:
            status = error.code
            if status == 429:  # over the stage's throttle: come back when it says
                time.sleep(float(error.headers.get("Retry-After") or 1))
            elif status != 503:
                return status, None
    return status, None


def _print_report(report: DemoReport, say: Callable[[str], None]) -> None:
    if report.interrupted:
        say("\nInterrupted (Ctrl-C): the report below is the state when the run stopped.")
        for title, items in (
            ("In flight (queued, waiting or not yet delivered)", report.in_flight),
            ("Orders not finished", report.unfinished),
        ):
            say(f"{title}: {len(items)}" + "".join(f"\n  {item}" for item in items[:20]))
    say(f"\nOrders accepted: {report.orders}, rejected by the API: {report.rejected}")
    say("Final status of every order (read model):")
    for status, count in sorted(report.by_status.items()):
        say(f"  {status:<22} {count:>4}  ({'terminal' if status in TERMINAL else 'NOT TERMINAL'})")
    say("State machine executions:")
    for key, count in sorted(report.executions.items()):
        say(f"  {key:<40} {count:>4}")
    for failure, count in sorted(report.failures.items()):
        say(f"  failed: {failure} x{count}")
    depths = ", ".join(f"{q}={n}" for q, n in sorted(report.dlq_depth.items()))
    remediation = ", ".join(f"{k} {v}" for k, v in sorted(report.remediation.items()))
    late = f"; {report.delayed_deliveries} arrived late" if report.delayed_deliveries else ""
    say(f"Task retries: {report.retries}   Events stored: {report.events}")
    say(
        f"EventBridge delivery retries: {report.delivery_retries}, dead-lettered: "
        f"{report.dead_lettered}, duplicated: {report.duplicate_deliveries}; queue depths: {depths}"
    )
    say(f"DLQ remediation: {remediation or 'nothing to do'}")
    say(
        f"Routing: {report.routed} events matched rules, each delivered or dead-lettered; every "
        f"stored event reached every rule it matches: {report.routing_complete}{late}"
    )
    if report.unreadable_events:
        say(f"Unreadable items in the event store (poison): {report.unreadable_events}")
    if report.parked or report.alerts:
        say(f"Parked for operations: {len(report.parked)}; alerts sent: {len(report.alerts)}")
        for reason, count in Counter(str(p["reason"]) for p in report.parked).most_common(5):
            say(f"  parked x{count}: {reason}")
    say(f"Customer notifications: {report.notifications}")
    _print_invariants(report, say)


def _print_invariants(report: DemoReport, say: Callable[[str], None]) -> None:
    held = report.held_by_failed_compensation
    say(
        f"Money (finished orders): captured - refunded = {report.captured_minus_refunded}; "
        f"confirmed orders total = {report.confirmed_total}"
        + (f" + {held} held by failed compensations (alerted)" if held else "")
        + f" ({'reconciled' if report.money_reconciled else 'MISMATCH'})"
        + (
            f"; {report.money_in_flight} held by {len(report.unfinished)} unfinished orders"
            if report.unfinished
            else ""
        )
    )
    say(
        f"Stock conserved (initial = available + reserved + shipped, per SKU): "
        f"{report.stock_conserved}; settled (nothing left reserved, shipped = confirmed "
        f"orders' quantities): {report.stock_settled}"
    )
    for sku, (initial, available, reserved, shipped) in sorted(report.stock.items()):
        say(f"  {sku}: {initial} = {available} + {reserved} + {shipped}")
    say(
        f"One side effect per order (gateway calls, events per type): {report.one_side_effect_each}"
    )
    say(
        f"Time to run this (wall clock): {report.wall_s:.1f} s for {report.orders} orders "
        f"({60 * report.orders / max(report.wall_s, 1e-9):.0f} orders/min); "
        f"{report.moto_requests} AWS calls after the deploy took {report.moto_s:.1f} s in moto "
        f"({report.dynamodb_throttled} DynamoDB calls throttled by injection)"
    )
    say(
        f"Order latency (placed to the end of its last execution, pipeline clock): "
        f"p50 {report.pipeline_latency(50):.2f} s, p99 {report.pipeline_latency(99):.2f} s"
    )
    say(
        f"Audit lake: {report.lake_rows} Parquet rows in {report.lake_files} files "
        f"({report.lake_duplicates} duplicate deliveries); "
        f"every stored event, once each after de-duplication: {report.lake_matches_store}"
    )
    scale = report.time_scale
    clock = "virtual (waits jump; reproducible)" if scale is None else f"wall clock x{scale:g}"
    say(f"Clock: {clock}; {report.simulated_s / 60:.1f} min of pipeline time elapsed.")
    say(report.verdict())
