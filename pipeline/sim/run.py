"""One simulated run from plain arguments: what the CLI, the notebooks and the sweeps call."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.seeds import stream_seed
from pipeline.sim import workloads
from pipeline.sim.engine import Catalogue, SimConfig, Simulation
from pipeline.sim.failures import FailureModel
from pipeline.sim.lake import SimLake
from pipeline.sim.regions import PROFILES, Bucket
from pipeline.sim.summary import combine_quota_use, quota_use, summarize, summarize_stats
from pipeline.sim.timeline import WINDOW_S
from pipeline.sim.topology import Topology
from pipeline.template import Template

WORKLOADS = ("constant", "ramp", "flash-sale", "diurnal", "step")


def workload(
    name: str,
    per_s: float,
    duration_s: float,
    hot_share: float = 0.0,
    surge: tuple[float, float, float] | None = None,
) -> workloads.Workload:
    """A named arrival process at a mean of ``per_s`` orders per second (``step``: at
    ``per_s``, then ``factor`` times it from ``start_s`` for ``length_s``, then ``per_s``
    again, with ``surge = (factor, start_s, length_s)``; by default 3x over the middle
    third of the run)."""
    if name == "step":
        factor, start_s, length_s = surge or (3.0, duration_s / 3, duration_s / 3)
        return workloads.step(per_s, factor, start_s, length_s, hot_share)
    if name == "constant":
        base = workloads.constant(per_s)
        return dataclasses.replace(base, hot_share=lambda t: hot_share)
    if name == "ramp":  # from a tenth of the rate up to twice it: the mean is about the rate
        return workloads.ramp(per_s / 10, per_s * 2, duration_s)
    if name == "flash-sale":  # the middle tenth of the run at 5x, half of it on the hot SKUs
        return workloads.flash_sale(per_s, per_s * 5, duration_s * 0.45, duration_s * 0.1, 0.5)
    if name == "diurnal":  # one day's swing compressed into the run
        return workloads.diurnal(per_s, 0.6, period_s=duration_s)
    raise ValueError(f"unknown workload {name!r}; choose from {WORKLOADS}")


@dataclass
class RunSpec:
    """Everything that defines a run; picklable, so sweeps can ship it to worker processes."""

    rate_per_min: float = 10_000
    duration_s: float = 3_600
    seed: int = 0
    scenario: str = "default"
    workload: str = "constant"
    region: str = "large"
    workflow_type: str | None = None  # STANDARD / EXPRESS for every machine; None: template's
    reserved_concurrency: int | None = None  # every function's (0: none); None: template's
    # Reserved concurrency of single functions, by logical id (0: none), after the above.
    function_concurrency: dict[str, int] = field(default_factory=dict)
    account_concurrency: int | None = None  # the account's Lambda limit; None: the region's
    quotas: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (rate, burst)
    hot_share: float = 0.0
    catalogue: Catalogue = field(default_factory=Catalogue)
    drain_s: float = 3_600.0
    lake_dir: str | None = None
    atomic_steps: bool = False  # see SimConfig: True runs handlers one at a time per order
    # State machines whose ASL comes from these files instead of the template's, by logical
    # id: {"PaymentStateMachine": "mine.asl.json"} (Template.with_definition_files).
    definitions: dict[str, str] = field(default_factory=dict)
    # Run as this many independent shards in parallel processes, each with its share of the
    # arrivals, quotas, concurrency, partition capacity and stock (see simulate_sharded).
    shards: int = 1
    window_s: float = WINDOW_S  # the timeline's window of simulated seconds (summary["timeline"])
    # The template's parameters (name -> value, as CloudFormation takes them): the design
    # variant to run, e.g. {"PaymentWorkflowType": "EXPRESS", "PaymentConcurrency": "100"}
    # (pipeline.variants names some). An unknown name or a disallowed value: ValueError.
    parameters: dict[str, str] = field(default_factory=dict)
    # The "step" workload's surge: (factor, start_s, length_s); None: 3x over the middle third.
    surge: tuple[float, float, float] | None = None


def build(
    spec: RunSpec,
    template: Template | None = None,
    progress: Callable[[float], None] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> Simulation:
    """The simulation of ``spec``; with ``shard=(k, n)``, its k-th of n shares."""
    index, count = shard
    template = template or Template.load()
    if spec.parameters:
        template = template.with_parameters(spec.parameters)
    if spec.definitions:
        template = template.with_definition_files(spec.definitions)
    topology = Topology.from_template(template)
    if spec.reserved_concurrency is not None:
        topology = dataclasses.replace(
            topology,
            functions={
                f: dataclasses.replace(fn, reserved_concurrency=spec.reserved_concurrency or None)
                if fn.reserved_concurrency is None or fn.reserved_concurrency > 1
                else fn
                for f, fn in topology.functions.items()
            },
        )
    if spec.function_concurrency:
        unknown = set(spec.function_concurrency) - set(topology.functions)
        if unknown:
            raise ValueError(f"no functions {sorted(unknown)} in the template")
        topology = dataclasses.replace(
            topology,
            functions={
                f: dataclasses.replace(
                    fn, reserved_concurrency=spec.function_concurrency[f] or None
                )
                if f in spec.function_concurrency
                else fn
                for f, fn in topology.functions.items()
            },
        )
    profile = PROFILES[spec.region]
    if spec.quotas:
        profile = profile.with_overrides(**{k: Bucket(*v) for k, v in spec.quotas.items()})
    if spec.account_concurrency:
        profile = profile.with_overrides(lambda_concurrency=spec.account_concurrency)
    seed, catalogue = spec.seed, spec.catalogue
    if count > 1:
        topology = topology.share(count)
        profile = profile.share(count)
        catalogue = catalogue.share(count)
        seed = stream_seed(spec.seed, f"shard-{index}")
    config = SimConfig(
        workload(
            spec.workload,
            spec.rate_per_min / 60 / count,
            spec.duration_s,
            spec.hot_share,
            spec.surge,
        ),
        spec.duration_s,
        seed=seed,
        workflow_type=spec.workflow_type,
        catalogue=catalogue,
        drain_s=spec.drain_s,
        atomic_steps=spec.atomic_steps,
        order_numbers=(index + 1, count),
        window_s=spec.window_s,
    )
    lake = None
    if spec.lake_dir:
        run_id = f"{spec.scenario}-{spec.seed}" + (f"-shard{index}" if count > 1 else "")
        lake = SimLake(Path(spec.lake_dir), template, run_id=run_id)
    return Simulation(
        topology,
        config,
        FailureModel.from_scenario(spec.scenario, seed),
        profile,
        lake,
        progress,
    )


def simulate(spec: RunSpec, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run ``spec`` and return its summary (``pipeline.sim.summary``)."""
    if spec.shards > 1:
        return simulate_sharded(spec, progress)
    sim = build(spec, progress=progress)
    started = time.perf_counter()
    sim.run()
    summary = summarize(sim, time.perf_counter() - started)
    summary["spec"] = dataclasses.asdict(spec)
    return summary


def simulate_sharded(
    spec: RunSpec, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Run ``spec`` as ``spec.shards`` independent simulations in parallel processes and
    merge their counts: one core each, for long runs.

    Shard k gets 1/n of the arrival rate (n independent Poisson streams make one Poisson
    stream of the whole rate, exactly), 1/n of every token-bucket quota, of the Lambda
    account and reserved concurrency, of each partition's capacity and of each SKU's stock,
    and its own seeds. What is approximate: a shard cannot borrow another's unused quota or
    stock, so bursts throttle a little more than against one shared bucket, and a hot SKU
    can sell out in one shard while another still has some. Use one shard for the runs where
    that matters (small ones, flash sales on a few units).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from queue import Empty

    count = spec.shards
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Manager() as manager, ProcessPoolExecutor(count, mp_context=context) as pool:
        reports = manager.Queue() if progress else None
        futures = [pool.submit(_run_shard, spec, k, reports) for k in range(count)]
        done = [0.0] * count
        while not all(f.done() for f in futures):
            if reports is None or progress is None:  # no progress asked for: just wait
                time.sleep(0.1)
                continue
            try:
                index, fraction = reports.get(timeout=0.2)
            except Empty:
                continue
            done[index] = fraction
            progress(min(done))
        results = [f.result() for f in futures]
    wall = time.perf_counter() - started
    stats = results[0][0]
    for other, _ in results[1:]:
        stats.merge(other)
    quotas = combine_quota_use([rows for _, rows in results])
    summary = summarize_stats(stats, spec.duration_s, quotas, wall)
    summary["spec"] = dataclasses.asdict(spec)
    return summary


def _run_shard(spec: RunSpec, index: int, reports: Any) -> tuple[Any, list[dict[str, Any]]]:
    report = (lambda fraction: reports.put((index, fraction))) if reports is not None else None
    sim = build(spec, progress=report, shard=(index, spec.shards))
    sim.run()
    return sim.stats, quota_use(sim)
