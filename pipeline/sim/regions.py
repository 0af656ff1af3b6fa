"""Service quotas by region profile, as token buckets (rate per second, burst).

Checked against the AWS quota pages in November 2026 (the sources are named per field). The
"large" profile is the regions AWS lists with the highest defaults (us-east-1, us-west-2,
eu-west-1); "other" takes each service's smallest regional default. They are defaults of a
simulation, not facts about an account: accounts can raise most of them, new accounts start
lower (AWS says so for Lambda concurrency and Step Functions transitions), so every one is a
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.quotas import TokenBucket


@dataclass(frozen=True)
class Bucket:
    rate: float  # per second
    burst: float

    def make(self) -> TokenBucket:
        return TokenBucket(self.rate, self.burst)


@dataclass(frozen=True)
class RegionProfile:
    name: str
    # Step Functions Standard: StateTransition and StartExecution token buckets (Step
    # Functions developer guide, "Step Functions service quotas"). StartExecution: bucket
    # 1,300 refilled at 300/s in us-east-1, us-west-2 and eu-west-1, 800 at 150/s elsewhere.
    # StateTransition: bucket 5,000 refilled at 5,000/s in those three, 800 at 800/s
    # elsewhere (the 2023 edition had refills of 1,500/s and 500/s).
    sfn_state_transitions: Bucket
    sfn_start_execution: Bucket
    # EventBridge PutEvents requests per second (extra requests are rejected) and target
    # invocations per second (extra invocations are delayed, not dropped): EventBridge user
    # guide, "Custom Event Bus - Classic quotas". AWS documents no burst for either; the
    # buckets hold one second's worth (an assumption).
    eventbridge_put_events: Bucket
    eventbridge_invocations: Bucket
    # Step Functions Express StartExecution: bucket 6,000 refilled at 6,000/s in every region
    # ("Quotas for Express Workflows", API action throttling); Express has no state-transition
    # quota and runs at most 5 minutes.
    sfn_express_start_execution: Bucket = field(default=Bucket(6_000, 6_000))
    # API Gateway account-level throttle: 10,000 requests/s, burst 5,000 in most regions,
    # 2,500/s and 1,250 in thirteen newer ones (API Gateway developer guide, "quotas").
    api_gateway: Bucket = field(default=Bucket(10_000, 5_000))
    # Lambda: 1,000 concurrent executions per account and region by default; each function
    # scales by 1,000 execution environments every 10 seconds (Lambda developer guide,
    # "Lambda scaling behavior"). Not modelled: each environment serves at most 10 requests
    # a second, which only binds for functions faster than 100 ms at their concurrency cap.
    lambda_concurrency: int = 1_000
    lambda_scale_step: int = 1_000
    lambda_scale_every_s: float = 10.0
    # DynamoDB: 1,000 write units and 3,000 read units per second per partition (DynamoDB
    # developer guide, "Partitions and data distribution"); a transactional write costs
    # 2 units per 1 KB of each item (the pipeline's items are under 1 KB: 2 each).
    dynamodb_partition_wcu: float = 1_000
    dynamodb_partition_rcu: float = 3_000

    def share(self, count: int) -> RegionProfile:
        """One of ``count`` equal shares of every quota (a shard of a run)."""
        changes: dict[str, Any] = {
            name: Bucket(bucket.rate / count, max(1.0, bucket.burst / count))
            for name in QUOTA_NAMES
            if isinstance(bucket := getattr(self, name), Bucket)
        }
        changes.update(
            lambda_concurrency=-(-self.lambda_concurrency // count),
            lambda_scale_step=-(-self.lambda_scale_step // count),
            dynamodb_partition_wcu=self.dynamodb_partition_wcu / count,
            dynamodb_partition_rcu=self.dynamodb_partition_rcu / count,
        )
        return replace(self, **changes)

    def with_overrides(self, **changes: Any) -> RegionProfile:
        return replace(self, **changes)


PROFILES: dict[str, RegionProfile] = {
    "large": RegionProfile(
        name="large (us-east-1, us-west-2, eu-west-1)",
        sfn_state_transitions=Bucket(5_000, 5_000),
        sfn_start_execution=Bucket(300, 1_300),
        eventbridge_put_events=Bucket(10_000, 10_000),
        eventbridge_invocations=Bucket(18_750, 18_750),
    ),
    "other": RegionProfile(
        name="other regions (each service at its smallest regional default)",
        sfn_state_transitions=Bucket(800, 800),
        sfn_start_execution=Bucket(150, 800),
        eventbridge_put_events=Bucket(400, 400),
        eventbridge_invocations=Bucket(750, 750),
        api_gateway=Bucket(2_500, 1_250),
    ),
}


# The token-bucket quotas a run may override (``--quota NAME=RATE/BURST``).
QUOTA_NAMES = frozenset(
    name for name, kind in RegionProfile.__annotations__.items() if kind == "Bucket"
)
