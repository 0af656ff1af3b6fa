"""The simulator checked against the local cloud: the same fault scenario and seed run in
both, compared measure by measure with :func:`pipeline.sim.validation.compare` (whose
docstring says what is compared, and what is switched off in the simulator to compare it).
"""

from __future__ import annotations

from pipeline.demo import run_demo
from pipeline.local.cloud import LocalCloud
from pipeline.sim.regions import QUOTA_NAMES
from pipeline.sim.run import RunSpec, build
from pipeline.sim.stats import PerOrder
from pipeline.sim.validation import UNLIMITED, Agreement, compare, per_order


def run_both(
    scenario: str,
    seed: int,
    local_orders: int,
    sim_orders: int,
    sim_rate_per_min: float = 120,
    cloud: LocalCloud | None = None,
) -> tuple[PerOrder, PerOrder]:
    """Run ``scenario`` with ``seed`` in the local cloud (``cloud`` when given, else one
    deployed for the run) and in the simulator, both on the cloud's template (its design
    variant; the default's when no cloud is given)."""
    report = run_demo(orders=local_orders, seed=seed, scenario=scenario, hot_share=0.0, cloud=cloud)
    local = per_order(report.per_order.values())
    spec = RunSpec(
        rate_per_min=sim_rate_per_min,
        duration_s=sim_orders / sim_rate_per_min * 60,
        seed=seed,
        scenario=scenario,
        hot_share=0.0,
        reserved_concurrency=0,
        account_concurrency=UNLIMITED,
        quotas={name: (UNLIMITED, UNLIMITED) for name in QUOTA_NAMES},
        atomic_steps=True,
    )
    return local, build(spec, cloud.template if cloud else None).run().per_order


def validate(
    scenario: str, seed: int, local_orders: int = 100, sim_orders: int = 10_000
) -> list[Agreement]:
    """Both runs of ``scenario``, compared measure by measure."""
    local, sim = run_both(scenario, seed, local_orders, sim_orders)
    return compare(local, sim)
