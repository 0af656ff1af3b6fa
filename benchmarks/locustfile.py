"""Locust users placing orders on `python -m pipeline serve`'s order API, as shoppers do.

Each user posts orders (one to three regular SKUs, 1-3 units each; ``HOT_SHARE`` of orders
also want the hot SKU, whose few units they contend for) with a fresh ``Idempotency-Key``,
retries a 429 (after its Retry-After) or a 503 with the same key, and reads the order back
once. The SKUs come from the server's ``GET /health`` (its catalogue), so nothing here
restates the demo's. ``--max-orders N`` stops the run after N orders (all users), on top of
``--run-time``; ``--order-rate R`` paces all users together to R orders a second.
Loopback only: the host must be 127.0.0.1.

    locust -f benchmarks/locustfile.py --headless -u 20 -r 10 --run-time 60s \\
        --max-orders 300 [--order-rate 10] --host http://127.0.0.1:3000
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
from locust import HttpUser, between, constant_pacing, events, task
from locust.env import Environment

HOT_SHARE = 0.1  # as the demo's HOT_SKU_SHARE
_tickets: itertools.count[int] = itertools.count()
_state: dict[str, Any] = {"skus": [], "hot": None, "active": 0, "done": False}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--max-orders", type=int, default=0, help="stop after this many orders")
    parser.add_argument(
        "--order-rate", type=float, default=0.0, help="orders per second, all users (0: no pacing)"
    )


@events.test_start.add_listener
def _catalogue(environment: Environment, **_kwargs: Any) -> None:
    """Read the catalogue from the server's health route; refuse any host but loopback."""
    host = environment.host or ""
    if urlsplit(host).hostname != "127.0.0.1":
        raise SystemExit(f"this load test runs on loopback only, not {host!r}")
    import urllib.request

    with urllib.request.urlopen(f"{host}/health", timeout=10) as response:
        catalogue = json.load(response)["catalogue"]
    skus = sorted(catalogue, key=lambda sku: catalogue[sku]["stocked"])
    _state["hot"], _state["skus"] = skus[0], skus[1:]  # the hot SKU is the scarce one


class Shopper(HttpUser):
    def on_start(self) -> None:
        self.rng = random.Random(uuid.uuid4().int)
        options = self.environment.parsed_options
        rate = options.order_rate if options else 0.0
        users = options.num_users if options else 1
        # Paced: each user starts an order every users/rate seconds; else a shopper's pause.
        self._wait = constant_pacing(users / rate) if rate > 0 else between(0.0, 0.2)

    def wait_time(self) -> float:
        return float(self._wait(self))

    def _lines(self) -> list[dict[str, Any]]:
        picked = self.rng.sample(_state["skus"], self.rng.randint(1, min(3, len(_state["skus"]))))
        if self.rng.random() < HOT_SHARE:
            picked.append(_state["hot"])
        return [{"sku": sku, "quantity": self.rng.randint(1, 3)} for sku in picked]

    @task
    def place_order(self) -> None:
        cap = self.environment.parsed_options.max_orders if self.environment.parsed_options else 0
        if _state["done"] or (cap and next(_tickets) >= cap):
            self._finish()
            return
        _state["active"] += 1
        try:
            self._place()
        finally:
            _state["active"] -= 1

    def _place(self) -> None:
        body = {"customer_id": f"cust-{self.rng.randint(1, 500):04d}", "lines": self._lines()}
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        for _attempt in range(5):
            with self.client.post(
                "/v1/orders", json=body, headers=headers, name="POST /orders", catch_response=True
            ) as response:
                if response.status_code in (200, 201):
                    response.success()
                    order_id = response.json()["order_id"]
                    break
                if response.status_code in (429, 503):  # retried with the same key
                    response.success()
                    time.sleep(float(response.headers.get("Retry-After") or 0.5))
                    continue
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
        else:
            return
        self.client.get(f"/v1/orders/{order_id}", name="GET /orders/{id}")

    def _finish(self) -> None:
        """No tickets left: the last user to finish its order stops the run; the others
        wait for that."""
        _state["done"] = True
        if _state["active"] == 0 and self.environment.runner is not None:
            gevent.spawn_later(0.05, self.environment.runner.quit)
        gevent.sleep(0.5)
