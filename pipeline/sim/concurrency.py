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
        if self.scale_step is None:
            return self.limit
        steps = 1 + math.floor((now - self.started) / self.scale_every_s)
        return min(self.limit, self.scale_step * steps)

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
