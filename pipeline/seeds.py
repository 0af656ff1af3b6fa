"""What makes a run reproducible: independent random streams from one run seed, one time zero.

Components seeded with the same number draw the same sequence: a run whose fault injector,
gateway and retry jitter all used ``random.Random(seed)`` had their draws aliased (the
simulator-versus-local validation found faults clustering on one state). Each component
takes its own stream: a seed derived from the run's seed and the component's name.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

# Time zero of every simulated or virtual run (the simulator, the local runtime's virtual
# clock, the simulated lake's partitions): a fixed instant, so a seeded run's times repeat.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def stream_seed(seed: int, component: str) -> int:
    """A 63-bit seed for ``component``'s stream in the run seeded with ``seed``."""
    digest = hashlib.sha256(f"{seed}:{component}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
