"""`python -m benchmarks`: run every benchmark and print medians and spreads."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def measure(name: str, run: Callable[[], int], repeats: int = 5) -> None:
    """Run ``run`` (which returns how many operations it did) ``repeats`` times."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        operations = run()
        rates.append(operations / (time.perf_counter() - start))
    print(
        f"{name:<48} median {statistics.median(rates):>10,.1f} ops/s"
        f" = {60 * statistics.median(rates):,.0f}/min"
        f"   (min {min(rates):,.1f}, max {max(rates):,.1f}, n={repeats})"
    )


def main() -> None:
    # Handlers read these when first imported, as in Lambda: set them before importing.
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from benchmarks import core

    for name, run, repeats in core.BENCHMARKS:
        measure(name, run, repeats)
    core.demo_by_transport()  # the demo in-process against over HTTP
    from benchmarks import transport

    transport.report()  # one DynamoDB call in process and over HTTP
    from benchmarks import asl

    asl.report()  # the same 10-state machine in JSONPath and in JSONata (a few seconds)
    from benchmarks import simulator

    simulator.report()
    from benchmarks import capacity

    capacity.report()  # one capacity search (target: 2 minutes), orders/s by variant
    from benchmarks import analytics

    analytics.main()  # the first run makes the 10M-event lake under .bench/ (minutes)


if __name__ == "__main__":
    main()
