"""A sweep gives the same frame on any executor: a local process pool and a Dask cluster
(through ``dask_executor``), each run seeded by its spec and collected by position."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from pipeline.sim.experiments import dask_executor, grid, sweep
from pipeline.sim.run import RunSpec

pytestmark = pytest.mark.system  # worker processes and a Dask cluster

SMALL = RunSpec(
    rate_per_min=300, duration_s=20, drain_s=1_200, parameters={"Coordination": "choreography"}
)
SPECS = grid(SMALL, seed=[1, 2], scenario=["declines", "default"])


def _without_wall_time(frame):
    return frame.drop(columns=["wall_s"])


def test_a_sweep_is_the_same_on_a_process_pool_and_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        local = sweep(SPECS, progress=False, executor=pool)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = sweep(SPECS, progress=False, executor=dask_executor(client))
        with dask_executor(cluster.scheduler_address) as connected:  # closes its own client
            by_address = sweep(SPECS[:1], progress=False, executor=connected)
    assert list(local["seed"]) == [1, 1, 2, 2]
    assert list(local["scenario"]) == ["declines", "default", "declines", "default"]
    assert _without_wall_time(local).equals(_without_wall_time(on_dask))
    assert _without_wall_time(by_address).equals(_without_wall_time(local.iloc[:1]))
