"""Lambda concurrency on simulated time: at most ``limit`` invocations run at once.

Synchronous callers (Step Functions' Lambda tasks) are throttled when every slot is busy
(``Lambda.TooManyRequestsException``) unless the caller queues, as asynchronous invocation
does (Lambda's internal queue retries throttled events). With ``scale_step`` the limit is
reached gradually: a function gets ``scale_step`` more concurrent executions every
``scale_every_s`` seconds (Lambda developer guide, "Lambda scaling behavior": 1,000 every
10 seconds), counted from the pool's start.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy


def scaled_limit(limit: int, step: int | None, every_s: float, elapsed_s: float) -> int:
    """Concurrency allowed ``elapsed_s`` after scaling began: ``step`` more every ``every_s``
    seconds, up to ``limit`` (no step: the whole limit at once)."""
    if step is None:
        return limit
    return min(limit, step * (1 + math.floor(elapsed_s / every_s)))


class LambdaFleet:
    """Every function's concurrency by counting, for synchronous invokes that are throttled
    rather than queued (Step Functions' Lambda tasks, the API's proxy integration).

    A function with reserved concurrency runs at most that many at once; the others share
    what the account limit leaves unreserved. Each function scales up by ``scale_step`` every
    ``scale_every_s``. An invocation finding no idle environment of its function starts a new
    one: a cold start. Environments are kept once started (no idle reaping in one run).
    """

    def __init__(
        self,
        reserved: dict[str, int | None],
        account_limit: int = 1_000,
        scale_step: int | None = 1_000,
        scale_every_s: float = 10.0,
    ) -> None:
        self.reserved = reserved
        self.unreserved = account_limit - sum(r for r in reserved.values() if r)
        if self.unreserved < 0:
            raise ValueError("reserved concurrency exceeds the account limit")
        self.scale_step, self.scale_every_s = scale_step, scale_every_s
        self.busy = dict.fromkeys(reserved, 0)
        self.environments = dict.fromkeys(reserved, 0)
        self.shared_busy = 0
        self.throttled = dict.fromkeys(reserved, 0)
        self.cold_starts = dict.fromkeys(reserved, 0)
        self.peak = dict.fromkeys(reserved, 0)
        self.window_peak = dict.fromkeys(reserved, 0)  # since the last window_peaks()

    def acquire(self, function: str, now: float) -> bool | None:
        """Start an invocation: None when throttled, else whether it is a cold start."""
        own = self.reserved[function]
        limit = own if own is not None else self.unreserved
        limit = scaled_limit(limit, self.scale_step, self.scale_every_s, now)
        busy = self.busy[function]
        if busy >= limit or (own is None and self.shared_busy >= self.unreserved):
            self.throttled[function] += 1
            return None
        self.busy[function] = busy = busy + 1
        if own is None:
            self.shared_busy += 1
        if busy > self.window_peak[function]:  # the run's peak is at least the window's
            self.window_peak[function] = busy
            if busy > self.peak[function]:
                self.peak[function] = busy
        if busy > self.environments[function]:
            self.environments[function] = busy
            self.cold_starts[function] += 1
            return True
        return False

    def window_peaks(self, now: float) -> dict[str, tuple[int, int]]:
        """Each function that has run: its peak concurrency since the last call and its limit
        just before ``now``; the next window's peaks start from what is running now."""
        out = {}
        for function, peak in self.peak.items():
            if peak:
                own = self.reserved[function]
                limit = own if own is not None else self.unreserved
                allowed = scaled_limit(
                    limit, self.scale_step, self.scale_every_s, max(0.0, now - 1e-9)
                )
                out[function] = (self.window_peak[function], allowed)
        self.window_peak = dict(self.busy)
        return out

    def release(self, function: str) -> None:
        self.busy[function] -= 1
        if self.reserved[function] is None:
            self.shared_busy -= 1


class ConcurrencyPool:
    def __init__(
        self,
        env: simpy.Environment,
        limit: int,
        scale_step: int | None = None,
        scale_every_s: float = 10.0,
    ) -> None:
        if limit < 1 or (scale_step is not None and scale_step < 1):
            raise ValueError("concurrency limit and scale step must be at least 1")
        self.env = env
        self.limit, self.scale_step, self.scale_every_s = limit, scale_step, scale_every_s
        self.started = env.now
        self.slots = simpy.Resource(env, capacity=limit)
        self.throttled = 0
        self.waited_s = 0.0
        self.served = 0
        self._released = env.event()

    def allowed(self, now: float) -> int:
        """Concurrent executions allowed at ``now``."""
        return scaled_limit(self.limit, self.scale_step, self.scale_every_s, now - self.started)

    def run(self, duration_s: float, queue: bool = True) -> Generator[simpy.Event, Any, bool]:
        """Occupy a slot for ``duration_s``; with ``queue`` wait for one, else give up at once
        when all allowed slots are busy. Its value is whether the invocation ran."""
        arrived = self.env.now
        while self.slots.count >= self.allowed(self.env.now):
            if not queue:
                self.throttled += 1
                return False
            yield self.env.any_of([self._released, self.env.timeout(self._to_next_step())])
        with self.slots.request() as slot:
            yield slot
            self.waited_s += self.env.now - arrived
            yield self.env.timeout(duration_s)
        self.served += 1
        released, self._released = self._released, self.env.event()
        released.succeed()
        return True

    def _to_next_step(self) -> float:
        if self.scale_step is None:
            return math.inf
        elapsed = self.env.now - self.started
        return self.scale_every_s - (elapsed % self.scale_every_s) or self.scale_every_s
