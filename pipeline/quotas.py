"""Service quotas as token buckets, on whatever clock the caller keeps.

Step Functions Standard state transitions, StartExecution, EventBridge PutEvents and target
invocations, API Gateway requests: each is a bucket refilled at ``rate`` tokens per second up
to ``burst`` tokens (the AWS quota pages give both numbers per region; the simulator's region
profiles hold them). A request takes one token or is throttled; over any window of ``t``
seconds a bucket admits at most ``rate * t + burst`` requests. The simulator runs them on
SimPy time; the local order API on the wall clock (its stage throttle).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # bucket size, and the tokens at time zero
    tokens: float = field(init=False)
    updated: float = field(default=0.0, init=False)
    admitted: int = field(default=0, init=False)
    throttled: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now < self.updated:
            raise ValueError(f"time went backwards: {now} < {self.updated}")
        tokens = self.tokens + (now - self.updated) * self.rate
        self.tokens = tokens if tokens < self.burst else self.burst
        self.updated = now

    def try_take(self, now: float, tokens: float = 1.0) -> bool:
        """Take ``tokens`` at time ``now`` if the bucket has them (admitted), else throttle."""
        self._refill(now)
        if self.tokens >= tokens:
            self.tokens -= tokens
            self.admitted += 1
            return True
        self.throttled += 1
        return False

    def take_or_wait(self, now: float, tokens: float = 1.0) -> float:
        """Take ``tokens`` now and return 0, or take nothing and return the seconds until
        they would be there (then :meth:`try_take` them at that time)."""
        self._refill(now)
        if self.tokens >= tokens:
            self.tokens -= tokens
            self.admitted += 1
            return 0.0
        return (tokens - self.tokens) / self.rate

    def wait_for(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` would be available (0 when they are now)."""
        self._refill(now)
        return max(0.0, (tokens - self.tokens) / self.rate)
