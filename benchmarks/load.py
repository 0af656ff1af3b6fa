"""`python -m benchmarks.load [ORDERS] [USERS] [RATE]`: a load test of `python -m pipeline
serve` with Locust, on loopback only.

The stack is started as a user starts it (a subprocess, free ports, the catalogue stocked
for ORDERS orders, no faults); Locust (``benchmarks/locustfile.py``, headless, USERS users,
default 20, paced together to RATE orders a second, default 10) places ORDERS orders
(default 2,000) through the order API, each with its own
Idempotency-Key and a fifth of them also contending for the hot SKU's 6 units; then the run
waits until the pipeline is quiet and every order terminal, and reads the invariants from
the server's ``GET /invariants`` (stock conserved and settled, money reconciled, one side
effect each, nothing lost, ...). Prints and writes to .bench/load.json: the API's throughput
and response times (p50/p99, from Locust), the pipeline's sustained rate (orders placed and
finished per second of wall time) and its order latency (OrderPlaced to the terminal event),
and the invariants. Exit status 1 when an invariant fails or an order was refused.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench" / "load.json"
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
BIN = Path(sys.executable).parent
ORDERS, USERS = 2_000, 20
# Offered load, orders a second: about what the served pipeline finishes on 2 cores. Faster,
# the rule queues back up, and moto's SQS ReceiveMessage costs O(queue length) per message
# received (its retention check recomputes every queue attribute), so a backlog drains
# ever slower: the run then measures moto, not the pipeline. RATE=0 offers as fast as
# the users go.
RATE = 10.0


@dataclass
class Served:
    """A `python -m pipeline serve` subprocess and what its banner says."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)  # its stdout so far
    api: str = ""  # the stage: http://127.0.0.1:PORT/v1
    root: str = ""  # health and invariants: http://127.0.0.1:PORT
    aws: str = ""  # the AWS endpoint: http://127.0.0.1:PORT
    orders_table: str = ""
    state_machine_arn: str = ""

    def get(self, path: str, timeout: float = 130) -> Any:
        with urllib.request.urlopen(f"{self.root}{path}", timeout=timeout) as response:
            return json.load(response)

    def wait_quiet(self, orders: int, timeout: float) -> dict[str, Any]:
        """Poll GET /health (cheap) until the pipeline is quiet with ``orders`` orders
        accepted, then GET /invariants (every order terminal?) until it says so; its last
        answer (``quiet`` False after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {"quiet": False}
        next_line = time.monotonic()
        while time.monotonic() < deadline:
            health = self.get("/health")
            if time.monotonic() >= next_line:  # a line every 15 s: a long wait is not a hang
                next_line += 15
                executions = sum(health["executions"].values())
                waiting = sum(health["in_flight"].values())
                print(
                    f"  settling: {health['orders_accepted']:,} orders accepted, {executions:,} "
                    f"executions finished, {waiting:,} waiting or queued",
                    flush=True,
                )
            if health["quiet"] and health["orders_accepted"] >= orders:
                seen = self.get("/invariants")
                if seen["quiet"]:
                    return seen
            time.sleep(0.5)
        return seen

    def stop(self, timeout: float = 60) -> int:
        """SIGINT (Ctrl-C), then its exit status once it is gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


@contextlib.contextmanager
def served(*options: str, start_timeout: float = 180) -> Iterator[Served]:
    """`python -m pipeline serve` on free loopback ports (plus ``options``), until it said
    where everything is; stopped with SIGINT on the way out (if still running)."""
    command = [sys.executable, "-m", "pipeline", "serve", "--api-port", "0", "--aws-port", "0"]
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [*command, *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        server = Served(process)
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                server.lines.append(line.rstrip("\n"))
                if line.startswith("Ctrl-C"):
                    ready.set()
            ready.set()  # it ended

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(start_timeout) or process.poll() is not None:
                errors.seek(0)
                raise RuntimeError("serve did not start:\n" + errors.read()[-3000:])
            _parse_banner(server)
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _parse_banner(server: Served) -> None:
    text = "\n".join(server.lines)
    server.api = _find(r"Order API\s+(http://127\.0\.0\.1:\d+/v1)", text)
    server.root = server.api.removesuffix("/v1")
    server.aws = _find(r"AWS endpoint\s+(http://127\.0\.0\.1:\d+)", text)
    server.orders_table = _find(r"--table-name (\S+)", text)
    server.state_machine_arn = _find(r"--state-machine-arn (\S+)", text)


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"serve's banner has no {pattern!r}:\n{text}")
    return match.group(1)


def run_locust(
    host: str, users: int, orders: int, run_time_s: int, workdir: Path, rate: float = 0.0
) -> dict[str, dict[str, float]]:
    """A headless Locust run of ``benchmarks/locustfile.py`` against ``host`` (loopback),
    stopped after ``orders`` orders or ``run_time_s``, paced to ``rate`` orders a second (0:
    as fast as the users go); per request name: requests, failures, requests/s, p50 and p99
    (ms), from Locust's CSV."""
    if not host.startswith("http://127.0.0.1:"):
        raise ValueError(f"loopback only, not {host!r}")
    prefix = workdir / "locust"
    command = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(max(1, users // 2)),
        "--run-time",
        f"{run_time_s}s",
        "--max-orders",
        str(orders),
        "--order-rate",
        str(rate),
        "--host",
        host,
        "--stop-timeout",  # at the end, users finish the order they are placing
        "10",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--csv",
        str(prefix),
    ]
    subprocess.run(command, cwd=workdir, check=False, capture_output=True, text=True)
    stats: dict[str, dict[str, float]] = {}
    with open(f"{prefix}_stats.csv", newline="") as file:
        for row in csv.DictReader(file):
            stats[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_s": float(row["Requests/s"]),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
            }
    return stats


def main(orders: int = ORDERS, users: int = USERS, rate: float = RATE) -> dict[str, Any]:
    with served("--stock-for", str(orders)) as server, tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        host = server.api.removesuffix("/v1")
        pace = f"{rate:g} orders/s offered" if rate else "unpaced"
        print(f"Locust: {orders:,} orders from {users} users, {pace}, against {host}", flush=True)
        stats = run_locust(host, users, orders, 3_600, Path(work), rate)
        posted_s = time.perf_counter() - started
        seen = server.wait_quiet(orders, timeout=max(600.0, orders / 2))
        finished_s = time.perf_counter() - started
        health = server.get("/health")
        status = server.stop()
    post = stats.get("POST /orders", {})
    placed = int(post.get("requests", 0) - post.get("failures", 0))
    result = {
        "orders": orders,
        "users": users,
        "offered_orders_per_s": rate or "unpaced",
        "placed": placed,
        "refused": int(post.get("failures", 0)),
        "api": {name: row for name, row in stats.items() if name != "Aggregated"},
        "posting_s": round(posted_s, 1),
        "until_quiet_s": round(finished_s, 1),
        "pipeline_orders_per_s": round(seen["orders"] / finished_s, 1),
        "order_latency_p50_s": round(seen["latency_p50_s"], 2),
        "order_latency_p99_s": round(seen["latency_p99_s"], 2),
        "by_status": seen["by_status"],
        "quiet": seen["quiet"],
        "executions": health["executions"],
        "checks": seen["checks"],
        "verdict": seen["verdict"],
        "hot_sku": seen["stock"].get("HP-003"),
        "serve_exit_status": status,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    outcome = main(
        int(args[0]) if args else ORDERS,
        int(args[1]) if len(args) > 1 else USERS,
        float(args[2]) if len(args) > 2 else RATE,
    )
    bad = any(outcome["checks"].values()) or outcome["refused"] or not outcome["quiet"]
    sys.exit(1 if bad or outcome["placed"] < outcome["orders"] else 0)
