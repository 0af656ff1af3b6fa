"""The local runtime's time: virtual, or the wall clock sped up, and the steps waiting on it.

Every wait of the local cloud goes through one :class:`RuntimeClock`: state-machine Wait
states and Retry backoffs, EventBridge's delivery retries, the DLQ remediation schedule and
the SDK's own retry backoff. With ``scale=None`` time is virtual: it jumps to the next due
step, so nothing ever sleeps and a seeded run is reproducible. With ``scale=60`` it is the
wall clock running 60 times faster: a 5-minute schedule fires every 5 real seconds, a 2 s
backoff sleeps 33 ms; the semantics (what waits for what, in which order) stay the same.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pipeline.seeds import EPOCH


class RuntimeClock:
    """Seconds since the run began; callable for a ``datetime`` (as ASL histories want)."""

    def __init__(
        self,
        scale: float | None = None,
        start: datetime = EPOCH,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if scale is not None and scale <= 0:
            raise ValueError("time scale must be positive (or None for virtual time)")
        self.scale, self.start = scale, start
        self._monotonic, self._sleep = monotonic, sleep
        self._began = monotonic()
        self._virtual = 0.0

    @property
    def virtual(self) -> bool:
        return self.scale is None

    def now(self) -> float:
        if self.scale is None:
            return self._virtual
        return (self._monotonic() - self._began) * self.scale

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.now())

    def wait_until(self, due: float) -> None:
        """Virtual: jump to ``due``. Scaled: sleep the real time left until ``due``."""
        if self.scale is None:
            self._virtual = max(self._virtual, due)
            return
        left = (due - self.now()) / self.scale
        if left > 0:
            self._sleep(left)

    def sleep(self, seconds: float) -> None:
        self.wait_until(self.now() + seconds)


class Scheduler:
    """Steps due at a time on the clock, run in time order (ties in the order scheduled)."""

    def __init__(self, clock: RuntimeClock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def after(self, seconds: float, step: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.clock.now() + seconds, next(self._order), step))

    def __len__(self) -> int:
        return len(self._queue)

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def run_due(self) -> int:
        """Run every step due by now (including steps they schedule that are due); count."""
        ran = 0
        while self._queue and self._queue[0][0] <= self.clock.now():
            _, _, step = heapq.heappop(self._queue)
            step()
            ran += 1
        return ran


@contextmanager
def sdk_backoff_on(clock: RuntimeClock, rng: random.Random | None = None) -> Iterator[None]:
    """Make botocore's retry backoff sleep on ``clock`` (scaled or virtual) while inside.

    botocore sleeps between attempts with ``time.sleep`` in its endpoint module; the number
    and spacing of attempts are unchanged, only the clock they wait on. With ``rng``, the
    jitter of its exponential backoff (standard and legacy retry modes) is drawn from it, so
    a seeded run waits the same virtual time every time.
    """
    from botocore import endpoint, retryhandler
    from botocore.retries import standard

    original, original_random = endpoint.time, retryhandler.random
    original_delay = standard.ExponentialBackoff.delay_amount
    endpoint.time = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    endpoint.time.sleep = clock.sleep
    if rng is not None:
        retryhandler.random = types.SimpleNamespace(random=rng.random)

        def delay_amount(backoff: Any, context: Any) -> float:
            own, backoff._random = backoff._random, rng.random
            try:
                return original_delay(backoff, context)
            finally:
                backoff._random = own

        standard.ExponentialBackoff.delay_amount = delay_amount
    try:
        yield
    finally:
        endpoint.time, retryhandler.random = original, original_random
        standard.ExponentialBackoff.delay_amount = original_delay


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between runs of an EventBridge ``rate(N unit)`` schedule."""
    inner = expression.strip()
    if not (inner.startswith("rate(") and inner.endswith(")")):
        raise ValueError(f"not a rate expression: {expression!r} (cron is not supported)")
    count, unit = inner[5:-1].split()
    if unit not in RATE_UNITS:
        raise ValueError(f"unknown rate unit in {expression!r}")
    return int(count) * RATE_UNITS[unit]


def schedule_period(template: Any, function_id: str) -> float:
    """The period of the function's ``Schedule`` event in the template."""
    events = template.properties(function_id).get("Events", {})
    for event in events.values():
        if event.get("Type") == "Schedule":
            return rate_seconds(event["Properties"]["Schedule"])
    raise LookupError(f"{function_id} has no Schedule event")
