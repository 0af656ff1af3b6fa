"""Experiments: parameter sweeps over simulated runs, in parallel processes, with a progress
bar; the Standard vs Express comparison; which coordination styles the template offers.

Each run is a :class:`RunSpec` (picklable) run by an executor: by default a pool of worker
processes on this machine (spawned, so it works the same from a notebook, a script and on
macOS), or any ``concurrent.futures.Executor``-style object, e.g. a Dask cluster's
(:func:`dask_executor`). Each finished run becomes one row of key figures, so a sweep is a
pandas DataFrame to plot or query. Results are collected by position, not by the order runs
finish in, and every run is seeded by its spec, so a sweep gives the same frame on any
executor (apart from ``wall_s``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any

from pipeline.sim.engine import EXPRESS, STANDARD
from pipeline.sim.run import RunSpec, simulate
from pipeline.sim.topology import Topology
from pipeline.template import Template


def grid(base: RunSpec, **axes: Sequence[Any]) -> list[RunSpec]:
    """Every combination of the axes' values (RunSpec field -> values), on top of ``base``."""
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = set(axes) - fields
    if unknown:
        raise ValueError(f"not RunSpec fields: {sorted(unknown)}; choose from {sorted(fields)}")
    names = list(axes)
    return [
        dataclasses.replace(base, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[n] for n in names))
    ]


def key_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """One run's summary as a flat row: what a sweep compares."""
    spec, orders, latency = summary["spec"], summary["orders"], summary["latency_s"]
    accepted = max(orders["accepted"], 1)
    failed = sum(n for name, n in summary["executions"].items() if " SUCCEEDED" not in name)
    top = summary["quota_use"][0] if summary["quota_use"] else {}
    skipped = ("catalogue", "quotas", "lake_dir", "parameters")
    confirmed = orders["by_status"].get("CONFIRMED", 0)
    costs = summary.get("cost_per_1000_by_service_usd", {})
    total_cost = float(summary["cost_per_1000_orders_usd"]) * orders["accepted"] / 1000
    return {
        **{k: v for k, v in spec.items() if k not in skipped},
        **{f"parameter:{k}": v for k, v in sorted(spec.get("parameters", {}).items())},
        "orders": orders["accepted"],
        "rejected_429": orders["rejected_429"],
        "confirmed_share": orders["by_status"].get("CONFIRMED", 0) / accepted,
        "unfinished": orders["unfinished"] + orders["stuck"],
        "throttle_cancelled": orders.get("throttle_cancelled", 0),
        "throughput_per_min": summary["throughput_per_min"],
        "confirmed_per_min": summary["confirmed_per_min"],
        "p50_s": latency["p50"],
        "p95_s": latency["p95"],
        "p99_s": latency["p99"],
        "compensation_rate": summary["compensation_rate"],
        "retries_per_order": summary["retries_per_order"],
        "throttles_per_order": sum(summary["throttles"].values()) / accepted,
        "failed_executions_per_order": failed / accepted,
        "dead_lettered": sum(summary["dlq"]["dead_lettered"].values()),
        "parked": summary["dlq"]["parked"],
        "silent_mismatches": summary["invariants"]["money_mismatches"]
        + summary["invariants"]["side_effect_mismatches"],
        "cost_per_1000_usd": float(summary["cost_per_1000_orders_usd"]),
        **{f"cost_per_1000_usd:{service}": float(dollars) for service, dollars in costs.items()},
        # per 1,000 orders that were CONFIRMED: what the business pays per sale
        "cost_per_1000_confirmed_usd": total_cost * 1000 / confirmed if confirmed else None,
        "binding_quota": summary["binding_quota"],
        "binding_quota_use": top.get("use"),
        "wall_s": summary.get("wall_s"),
    }


def sweep(
    specs: Iterable[RunSpec],
    workers: int | None = None,
    progress: bool = True,
    run: Callable[[RunSpec], dict[str, Any]] = simulate,
    executor: Executor | None = None,
) -> Any:
    """Run every spec on ``executor`` (None: ``workers`` local processes, default one per
    core) and return a pandas DataFrame of their key figures, in the order given.
    ``progress`` shows a bar (tqdm) as runs finish: a widget in a notebook, on stderr
    elsewhere."""
    import pandas as pd

    summaries = run_all(specs, executor, workers, progress, run)
    return pd.DataFrame([key_figures(s) for s in summaries])


def run_all(
    specs: Iterable[RunSpec],
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool = False,
    run: Callable[[RunSpec], dict[str, Any]] = simulate,
) -> list[dict[str, Any]]:
    """Every spec's summary, in the order given, run on ``executor`` (anything with
    ``submit`` returning ``concurrent.futures.Future``s: a process pool, Dask's
    ``client.get_executor()``); None: a local pool of ``workers`` spawned processes for
    these runs. A run that fails raises here."""
    from tqdm.auto import tqdm  # a widget in a notebook, a bar in a terminal

    specs = list(specs)
    summaries: list[dict[str, Any] | None] = [None] * len(specs)
    bar = tqdm(total=len(specs), desc="runs", disable=not progress, file=sys.stderr)
    with executor_or_pool(executor, workers, len(specs)) as pool:
        futures = {pool.submit(run, spec): n for n, spec in enumerate(specs)}
        for future in as_completed(futures):
            summaries[futures[future]] = future.result()
            bar.update()
    bar.close()
    return [s for s in summaries if s is not None]


@contextlib.contextmanager
def executor_or_pool(
    executor: Executor | None, workers: int | None = None, runs: int | None = None
) -> Iterator[Executor]:
    """``executor`` as it is (its owner shuts it down), or a local pool of spawned worker
    processes (``workers``, default one per core, at most ``runs``) shut down on exit."""
    if executor is not None:
        yield executor
        return
    workers = max(1, min(workers or os.cpu_count() or 1, runs or workers or os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def dask_executor(address_or_client: Any) -> Executor:
    """A Dask cluster as an executor for :func:`sweep` and the capacity search: give a
    ``distributed.Client`` (its owner closes it) or a scheduler's address
    (``"tcp://host:8786"``: a client is connected, and closed when the executor shuts down,
    e.g. ``with dask_executor("tcp://host:8786") as executor: ...``). Every worker needs
    this package installed, the same version with the same ``infra/``: a run reads the
    template where it runs. Needs the ``dask`` extra
    (``pip install order-pipeline-workbench[dask]``)."""
    try:
        from distributed import Client
        from distributed.cfexecutor import ClientExecutor
    except ImportError as error:  # pragma: no cover - the extra is in the dev lock
        raise RuntimeError(
            "a Dask executor needs dask[distributed]: pip install order-pipeline-workbench[dask]"
        ) from error

    class _Owned(ClientExecutor):
        """Shuts down the client it connected."""

        def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
            super().shutdown(wait, **kwargs)
            self._client.close()

    if isinstance(address_or_client, Client):
        return ClientExecutor(address_or_client)
    return _Owned(Client(address_or_client))


def workflow_types(
    base: RunSpec,
    workers: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> Any:
    """The same runs with every state machine Standard, then Express: latency, cost, throttles
    and which quota binds, side by side (one row per workflow type)."""
    specs = grid(base, workflow_type=[STANDARD, EXPRESS])
    return sweep(specs, workers, progress, executor=executor)


def coordination_styles(template: Template | None = None) -> dict[str, list[str]]:
    """How the template's variant coordinates the saga: ``orchestration`` lists the state
    machines that carry a whole order (their Tasks call more than one step function, or
    start other state machines); ``choreography`` lists the rules that start a machine of
    one step function from a domain event (each pipeline started by the event before it)."""
    template = template or Template.load()
    topology = Topology.from_template(template)
    orchestrating = {
        machine_id
        for machine_id, machine in topology.machines.items()
        if len(set(machine.functions.values())) > 1
        or "states:startExecution" in str(machine.definition)
    }
    return {
        "choreography": sorted(
            {rule.rule_id for rule in topology.rules if rule.machine_id not in orchestrating}
        ),
        "orchestration": sorted(orchestrating),
    }
