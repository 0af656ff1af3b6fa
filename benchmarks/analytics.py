"""Analytics benchmark: every named query over a lake of 10 million events, and the bytes it
reads next to a JSON Lines lake of the same events (the Athena cost proxy: Athena bills the
bytes it scans, and it must scan the whole of a JSON file for any query).

The lake is made once by the simulator (full sagas at 10,000 orders/min with the default
faults, in 2 shards) and kept under ``.bench/`` (ignored by git); the JSON Lines copy is
written from it by DuckDB. Bytes read are measured, not estimated: the process's ``rchar``
(``/proc/self/io``: bytes returned by read calls) before and after each query.

``python -m benchmarks.analytics [events]`` (default 10,000,000).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.lake import Lake
from pipeline.sim.run import RunSpec, simulate

DATA = Path(__file__).resolve().parent.parent / ".bench"
EVENTS_PER_ORDER = 7.8  # default faults, full sagas (measured: events / orders)
SIZED: dict[str, Any] = dict(  # as in benchmarks.simulator: the quotas raised so sagas run in full
    reserved_concurrency=0,
    account_concurrency=5_000,
    quotas={"sfn_start_execution": (1_500.0, 5_000.0)},
)


def read_bytes() -> int:
    """Bytes this process has read through read calls so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def lake(events: int) -> Path:
    """A simulated lake of at least ``events`` events (made once, then reused)."""
    root = DATA / f"lake-{events}"
    if (root / "DONE").exists():
        return root
    minutes = events / EVENTS_PER_ORDER / 10_000 * 1.02
    started = time.perf_counter()
    summary = simulate(
        RunSpec(
            rate_per_min=10_000,
            duration_s=minutes * 60,
            seed=1,
            shards=2,
            lake_dir=str(root),
            **SIZED,
        )
    )
    (root / "DONE").write_text(str(summary["lake_rows"]))
    print(
        f"made the lake: {summary['lake_rows']:,} events of {summary['orders']['accepted']:,} "
        f"orders in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return root


def json_lines(root: Path) -> Path:
    """The same events as one JSON Lines file (what a lake without Parquet would hold)."""
    path = root.with_suffix(".jsonl")
    if not path.exists():
        with LocalAthena(Lake.open(str(root))) as athena:
            athena.connection.execute(
                f"COPY (SELECT * FROM audit_events) TO '{path}' (FORMAT JSON)"
            )
    return path


def main(events: int = 10_000_000, repeats: int = 3) -> None:
    root = lake(events)
    local = Lake.open(str(root))
    jsonl = json_lines(root)
    parquet_bytes, jsonl_bytes = local.bytes(), jsonl.stat().st_size
    with LocalAthena(local) as athena:
        (count,) = athena.records("SELECT count(*) AS n FROM audit_events")
        print(
            f"lake: {count['n']:,} events in {len(local.files())} Parquet files, "
            f"{parquet_bytes / 1e6:,.0f} MB; as JSON Lines: {jsonl_bytes / 1e6:,.0f} MB"
        )
        print(
            f"{'query':<28}{'median s':>10}{'min s':>8}{'MB read':>10}{'JSON MB':>10}{'ratio':>8}"
        )
        for name in sorted(athena.queries):
            times, read = [], []
            for _ in range(repeats):
                before, started = read_bytes(), time.perf_counter()
                athena.query(name)
                times.append(time.perf_counter() - started)
                read.append(read_bytes() - before)
            scanned = statistics.median(read)
            print(
                f"{name:<28}{statistics.median(times):>10.2f}{min(times):>10.2f}"
                f"{scanned / 1e6:>10,.0f}{jsonl_bytes / 1e6:>10,.0f}"
                f"{jsonl_bytes / max(scanned, 1):>9.0f}x"
            )
    # One query over the JSON Lines file, to show what reading JSON costs.
    import duckdb

    with duckdb.connect() as con:
        con.execute(
            "CREATE VIEW audit_events AS SELECT * FROM "
            f"read_json_auto('{jsonl}', format='newline_delimited')"
        )
        before, started = read_bytes(), time.perf_counter()
        con.execute("SELECT event_type, count(*) FROM audit_events GROUP BY 1").fetchall()
        print(
            f"for comparison, a count per event type over the JSON Lines file: "
            f"{time.perf_counter() - started:.1f} s, {(read_bytes() - before) / 1e6:,.0f} MB read"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
