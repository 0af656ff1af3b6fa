"""Shared settings of the property tests: deterministic, database-less, no deadline.

The 'properties' profile is registered, never loaded: loading would change every other
hypothesis user in the session (the fuzz tests). Tests take it as their parent through
:func:`examples`. ``PROPERTIES_EXAMPLES`` scales every example count (e.g. 20 for a long hunt).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SCALE = float(os.environ.get("PROPERTIES_EXAMPLES", "1"))

settings.register_profile(
    "properties",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(n: int) -> settings:
    """The 'properties' profile with ``n`` examples (times PROPERTIES_EXAMPLES);
    PROPERTIES_NO_SHRINK=1 reports the first failing example as found (a quick look)."""
    extra = {}
    if os.environ.get("PROPERTIES_NO_SHRINK"):
        extra["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(
        settings.get_profile("properties"), max_examples=max(1, int(n * SCALE)), **extra
    )
