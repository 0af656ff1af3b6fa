"""Lambda concurrency on simulated time: at most ``limit`` invocations run at once.

Synchronous callers (Step Functions' Lambda tasks) are throttled when every slot is busy
(``Lambda.TooManyRequestsException``) unless the caller queues, as asynchronous invocation
does (Lambda's internal queue retries throttled events). The account limit and reserved
concurrency are limits here; burst scaling is a separate model.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy


class ConcurrencyPool:
    def __init__(self, env: simpy.Environment, limit: int) -> None:
        if limit < 1:
            raise ValueError("concurrency limit must be at least 1")
        self.env = env
        self.slots = simpy.Resource(env, capacity=limit)
        self.throttled = 0
        self.waited_s = 0.0
        self.served = 0

    def run(self, duration_s: float, queue: bool = True) -> Generator[simpy.Event, Any, bool]:
        """Occupy a slot for ``duration_s``; with ``queue`` wait for one, else give up at once
        when all are busy. Its value is whether the invocation ran."""
        if not queue and self.slots.count >= self.slots.capacity:
            self.throttled += 1
            return False
        arrived = self.env.now
        with self.slots.request() as slot:
            yield slot
            self.waited_s += self.env.now - arrived
            yield self.env.timeout(duration_s)
        self.served += 1
        return True
