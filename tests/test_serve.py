"""`python -m pipeline serve` as users meet it, tested with real clients, not our own code:
curl places and reads an order, the AWS CLI lists the saga's executions and scans the order
table at the served endpoint, 200 raw-socket clients connect at once, a bounded headless
Locust run on loopback places a few hundred orders; every order ends terminal and the
invariants hold; SIGINT stops the server cleanly (exit status 0)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.load import Served, run_locust, served

pytestmark = pytest.mark.system  # a subprocess serving the whole stack

BIN = Path(sys.executable).parent
CURL = shutil.which("curl")
AWS_ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_PAGER": "",
}
TERMINAL = {"CONFIRMED", "CANCELLED", "COMPENSATION_FAILED"}
LOCUST_ORDERS = 200


@pytest.fixture(scope="module")
def server():
    with served("--time-scale", "10") as running:
        yield running


def curl(*args: str) -> tuple[int, dict]:
    assert CURL, "curl is not installed"
    result = subprocess.run(
        [CURL, "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, check=True
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body or "null")


def aws(server: Served, *args: str) -> dict:
    result = subprocess.run(
        [str(BIN / "aws"), "--endpoint-url", server.aws, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=AWS_ENV,
        check=True,
    )
    return json.loads(result.stdout)


def test_health_answers_with_counts_and_the_catalogue(server):
    status, health = curl(f"{server.root}/health")
    assert status == 200 and health["status"] == "ok"
    assert {"orders_accepted", "executions", "in_flight", "clock"} <= set(health)
    assert health["catalogue"]["HP-003"]["stocked"] == 6  # the demo's hot SKU
    assert health["aws_endpoint"] == server.aws


def test_curl_places_an_order_and_reads_it_until_it_is_terminal(server):
    body = json.dumps({"customer_id": "cust-curl", "lines": [{"sku": "KB-001", "quantity": 2}]})
    args = ["-X", "POST", f"{server.api}/orders", "-H", "Content-Type: application/json"]
    status, placed = curl(*args, "-H", "Idempotency-Key: curl-order-0001", "-d", body)
    assert (status, placed["status"], placed["total"]) == (201, "PLACED", "178.00")
    status, replayed = curl(*args, "-H", "Idempotency-Key: curl-order-0001", "-d", body)
    assert (status, replayed["order_id"]) == (200, placed["order_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, order = curl(f"{server.api}/orders/{placed['order_id']}")
        assert status == 200
        if order["status"] in TERMINAL:
            break
        time.sleep(0.2)
    assert order["status"] == "CONFIRMED"
    # No Content-Type: passed through as sent, and the function itself answers 415.
    status, refused = curl("-X", "POST", f"{server.api}/orders", "-H", "Content-Type:", "-d", body)
    assert (status, refused["field"]) == (415, "Content-Type")


def test_the_aws_cli_lists_the_sagas_executions_and_scans_the_order_table(server):
    executions = aws(
        server, "stepfunctions", "list-executions", "--state-machine-arn", server.state_machine_arn
    )["executions"]
    assert executions and {e["status"] for e in executions} == {"SUCCEEDED"}
    described = aws(
        server,
        "stepfunctions",
        "describe-execution",
        "--execution-arn",
        executions[0]["executionArn"],
    )
    assert json.loads(described["input"])["detail"]["order_id"]
    items = aws(server, "dynamodb", "scan", "--table-name", server.orders_table)["Items"]
    assert "cust-curl" in {item["customer_id"]["S"] for item in items}


def test_two_hundred_concurrent_clients_are_each_answered_on_their_first_connection(server):
    host, port = "127.0.0.1", int(server.root.rsplit(":", 1)[1])
    barrier = threading.Barrier(200)
    outcomes: list[str] = []

    def client() -> None:
        try:
            with socket.socket() as connection:
                connection.settimeout(60)
                barrier.wait()
                connection.connect((host, port))
                connection.sendall(b"GET /v1/orders/nope HTTP/1.1\r\nHost: x\r\n\r\n")
                outcomes.append(connection.recv(12).decode())
        except OSError as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=client) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"HTTP/1.1 404": 200}


def test_a_bounded_locust_run_ends_with_every_order_terminal_and_the_invariants_held(
    server, tmp_path
):
    before = server.get("/health")["orders_accepted"]
    # The order cap ends the run; the time limit is only a backstop on a busy machine.
    stats = run_locust(
        server.root, users=20, orders=LOCUST_ORDERS, run_time_s=240, workdir=tmp_path
    )
    post = stats["POST /orders"]
    assert post["failures"] == 0 and LOCUST_ORDERS - 20 <= post["requests"] <= LOCUST_ORDERS
    seen = server.wait_quiet(before + post["requests"], timeout=180)
    assert seen["quiet"], seen
    assert seen["orders"] == seen["orders_accepted_by_api"] >= before + post["requests"]
    assert set(seen["by_status"]) <= TERMINAL
    assert seen["holds"], seen["verdict"]
    assert seen["stock"]["HP-003"][1] >= 0  # the hot SKU: no oversell


def test_sigint_stops_the_server_cleanly(server):
    assert server.stop(timeout=60) == 0
    output = "\n".join(server.lines)
    assert "Stopping: the order API accepts no more connections" in output
    assert "Stopped cleanly" in output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(server.root.rsplit(":", 1)[1])), timeout=2)
