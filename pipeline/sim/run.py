"""One simulated run from plain arguments: what the CLI, the notebooks and the sweeps call."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.sim import workloads
from pipeline.sim.engine import Catalogue, SimConfig, Simulation
from pipeline.sim.failures import FailureModel
from pipeline.sim.lake import SimLake
from pipeline.sim.regions import PROFILES, Bucket
from pipeline.sim.summary import summarize
from pipeline.sim.topology import Topology
from pipeline.template import Template

WORKLOADS = ("constant", "ramp", "flash-sale", "diurnal")


def workload(
    name: str, per_s: float, duration_s: float, hot_share: float = 0.0
) -> workloads.Workload:
    """A named arrival process at a mean of ``per_s`` orders per second."""
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
    account_concurrency: int | None = None  # the account's Lambda limit; None: the region's
    quotas: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (rate, burst)
    hot_share: float = 0.0
    catalogue: Catalogue = field(default_factory=Catalogue)
    drain_s: float = 3_600.0
    lake_dir: str | None = None
    atomic_steps: bool = False  # see SimConfig: True runs handlers one at a time per order


def build(
    spec: RunSpec, template: Template | None = None, progress: Callable[[float], None] | None = None
) -> Simulation:
    template = template or Template.load()
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
    profile = PROFILES[spec.region]
    if spec.quotas:
        profile = profile.with_overrides(**{k: Bucket(*v) for k, v in spec.quotas.items()})
    if spec.account_concurrency:
        profile = profile.with_overrides(lambda_concurrency=spec.account_concurrency)
    config = SimConfig(
        workload(spec.workload, spec.rate_per_min / 60, spec.duration_s, spec.hot_share),
        spec.duration_s,
        seed=spec.seed,
        workflow_type=spec.workflow_type,
        catalogue=spec.catalogue,
        drain_s=spec.drain_s,
        atomic_steps=spec.atomic_steps,
    )
    lake = None
    if spec.lake_dir:
        lake = SimLake(Path(spec.lake_dir), template, run_id=f"{spec.scenario}-{spec.seed}")
    return Simulation(
        topology,
        config,
        FailureModel.from_scenario(spec.scenario, spec.seed),
        profile,
        lake,
        progress,
    )


def simulate(spec: RunSpec, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run ``spec`` and return its summary (``pipeline.sim.summary``)."""
    sim = build(spec, progress=progress)
    started = time.perf_counter()
    sim.run()
    summary = summarize(sim, time.perf_counter() - started)
    summary["spec"] = dataclasses.asdict(spec)
    return summary
