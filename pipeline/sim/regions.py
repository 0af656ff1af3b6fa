"""Service quotas by region profile, as token buckets (rate per second, burst).

Numbers as the AWS service-quota pages gave them (2025). The "large" profile is the regions
AWS lists with the higher Step Functions limits (us-east-1, us-west-2, eu-west-1); "other" is
the rest. They are defaults of a simulation, not facts about an account: accounts can raise
most of them, so every one is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pipeline.sim.quotas import TokenBucket


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
    # Functions developer guide, "Quotas related to state throttling" and "... API action
    # throttling"). StartExecution: bucket 1,300 refilled at 300/s in us-east-1, us-west-2
    # and eu-west-1, 800 at 150/s elsewhere. StateTransition: the issue gives 5,000/s in the
    # large regions and 800/s elsewhere; the guide's 2023 edition (awsdocs on GitHub) listed
    # buckets of 5,000 and 800 refilled at 1,500/s and 500/s. Pass the refill you have.
    sfn_state_transitions: Bucket
    sfn_start_execution: Bucket
    # EventBridge PutEvents (transactions per second, soft) and target invocations per second
    # (EventBridge user guide, "Quotas").
    eventbridge_put_events: Bucket
    eventbridge_invocations: Bucket
    # Step Functions Express StartExecution: bucket 6,000 refilled at 6,000/s in every region
    # ("Quotas for Express Workflows", API action throttling); Express has no state-transition
    # quota and runs at most 5 minutes.
    sfn_express_start_execution: Bucket = field(default=Bucket(6_000, 6_000))
    # API Gateway account-level throttle: 10,000 requests/s, burst 5,000 (API Gateway
    # developer guide, "Amazon API Gateway quotas").
    api_gateway: Bucket = field(default=Bucket(10_000, 5_000))
    # Lambda: 1,000 concurrent executions per account and region by default; each function
    # scales by 1,000 concurrent executions every 10 seconds (Lambda developer guide,
    # "Lambda scaling behavior").
    lambda_concurrency: int = 1_000
    lambda_scale_step: int = 1_000
    lambda_scale_every_s: float = 10.0
    # DynamoDB: 1,000 write units and 3,000 read units per second per partition (DynamoDB
    # developer guide, "Partitions and data distribution").
    dynamodb_partition_wcu: float = 1_000
    dynamodb_partition_rcu: float = 3_000

    def share(self, count: int) -> RegionProfile:
        """One of ``count`` equal shares of every quota (a shard of a run)."""
        changes: dict[str, object] = {
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
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_overrides(self, **changes: object) -> RegionProfile:
        return replace(self, **changes)  # type: ignore[arg-type]


PROFILES: dict[str, RegionProfile] = {
    "large": RegionProfile(
        name="large (us-east-1, us-west-2, eu-west-1)",
        sfn_state_transitions=Bucket(5_000, 5_000),
        sfn_start_execution=Bucket(300, 1_300),
        eventbridge_put_events=Bucket(10_000, 10_000),
        eventbridge_invocations=Bucket(18_750, 18_750),
    ),
    "other": RegionProfile(
        name="other regions (EventBridge at its smallest regional quotas)",
        sfn_state_transitions=Bucket(800, 800),
        sfn_start_execution=Bucket(150, 800),
        eventbridge_put_events=Bucket(400, 400),
        eventbridge_invocations=Bucket(750, 750),
    ),
}


# The token-bucket quotas a run may override (``--quota NAME=RATE/BURST``).
QUOTA_NAMES = frozenset(
    name for name, kind in RegionProfile.__annotations__.items() if kind == "Bucket"
)
