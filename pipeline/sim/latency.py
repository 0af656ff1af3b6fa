"""Per-hop latency as log-normal distributions fitted to a median and a 99th percentile.

A log-normal is the usual shape of service latency (a floor, a long right tail); two
published percentiles fix it: mu = ln(p50), sigma = ln(p99 / p50) / z(0.99).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Z99 = 2.326347874  # standard normal quantile at 0.99


@dataclass(frozen=True)
class LogNormal:
    mu: float
    sigma: float

    @classmethod
    def from_p50_p99(cls, p50_s: float, p99_s: float) -> LogNormal:
        if not 0 < p50_s <= p99_s:
            raise ValueError("need 0 < p50 <= p99")
        return cls(math.log(p50_s), math.log(p99_s / p50_s) / Z99)

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def quantile(self, q: float) -> float:
        from statistics import NormalDist

        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))


class HopSampler:
    """Seeded draws of every hop's latency, made in blocks with numpy (one Python float per
    call instead of a Gaussian draw and an exponential: the simulator takes millions).

    ``sums`` names hops that are always spent one after another (a warm invoke, the
    handler's CPU, a DynamoDB read): each draw is the sum of one independent draw of each
    part, made in the same numpy block, so the simulator takes one number instead of three.
    """

    def __init__(
        self,
        hops: dict[str, LogNormal],
        seed: int,
        block: int = 65_536,
        sums: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        import numpy as np

        self._rng = np.random.default_rng(seed)
        self._hops = hops
        self._sums = dict(sums or {})
        unknown = {p for parts in self._sums.values() for p in parts} - set(hops)
        if unknown:
            raise ValueError(f"sums of unknown hops: {sorted(unknown)}")
        self._block = block
        self._pools: dict[str, list[float]] = {name: [] for name in (*hops, *self._sums)}

    def __call__(self, hop: str) -> float:
        pool = self._pools[hop]
        if not pool:
            pool.extend(self._draw(hop).tolist())
        return pool.pop()

    def _draw(self, hop: str):
        parts = self._sums.get(hop)
        if parts is not None:
            return sum(self._draw(part) for part in parts)
        model = self._hops[hop]
        return self._rng.lognormal(model.mu, model.sigma, self._block)


# Default hop latencies (seconds). Where a number is published it is cited; the rest are
# assumptions stated as such, to be replaced by measurements (the parameters are arguments).
HOPS: dict[str, LogNormal] = {
    # Assumption: EventBridge PutEvents to target invocation p50 150 ms, p99 390 ms (the
    # figures the simulator's brief gives). AWS publishes no percentiles: its metric
    # IngestionToInvocationStartLatency is documented with only "over 30 seconds may indicate
    # a service disruption"; a 2026 AWS Architecture Blog post reports 80 ms at p90 for one
    # team's bus (read second-hand).
    "eventbridge_delivery": LogNormal.from_p50_p99(0.150, 0.390),
    # DynamoDB: "single-digit millisecond performance at any scale" (DynamoDB developer
    # guide); assumed p50 4 ms, p99 12 ms for a small item over HTTPS inside the region.
    "dynamodb": LogNormal.from_p50_p99(0.004, 0.012),
    # Assumption: Lambda warm invoke overhead p50 15 ms, p99 60 ms (the handler's own work
    # is modelled per task on top).
    "lambda_warm": LogNormal.from_p50_p99(0.015, 0.060),
    # Assumption: a Python cold start (init) p50 250 ms, p99 900 ms with powertools loaded.
    "lambda_cold": LogNormal.from_p50_p99(0.250, 0.900),
    # Assumption: Step Functions Standard per state transition p50 20 ms, p99 80 ms.
    "sfn_transition": LogNormal.from_p50_p99(0.020, 0.080),
    # Assumption: DynamoDB Streams record to Lambda invocation p50 200 ms, p99 800 ms
    # (the poller reads each shard about four times a second, Lambda developer guide).
    "stream_to_lambda": LogNormal.from_p50_p99(0.200, 0.800),
    # Assumption: API Gateway REST proxy overhead p50 15 ms, p99 50 ms.
    "api_gateway": LogNormal.from_p50_p99(0.015, 0.050),
    # Assumption: a card processor's authorize/capture/refund API p50 250 ms, p99 1.2 s.
    "payment_gateway": LogNormal.from_p50_p99(0.250, 1.200),
    # Assumption: a carrier's label API p50 300 ms, p99 1.5 s.
    "carrier_api": LogNormal.from_p50_p99(0.300, 1.500),
    # Assumption: SNS Publish p50 20 ms, p99 80 ms.
    "sns_publish": LogNormal.from_p50_p99(0.020, 0.080),
    # Assumption: the handler's own CPU (parsing, folding, powertools) p50 3 ms, p99 15 ms.
    "handler_cpu": LogNormal.from_p50_p99(0.003, 0.015),
}
