"""The local order API throttles POST /orders as the stage's MethodSettings say: 429 with the
THROTTLED gateway response's Retry-After, before the function runs; other routes keep the
stage-wide limit."""

from __future__ import annotations

import json

from pipeline.local.http_api import LocalApi


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _api(template, calls: list[str]) -> tuple[LocalApi, Clock]:
    def resolve(function_id: str):
        def handler(event, context):
            calls.append(event["httpMethod"])
            return {"statusCode": 201, "body": json.dumps({"ok": True})}

        return handler

    clock = Clock()
    return LocalApi(
        template.with_parameters({"ApiThrottleRate": 2, "ApiThrottleBurst": 3}),
        resolve,
        clock=clock,
    ), clock


def test_post_orders_over_the_burst_gets_429_with_retry_after_and_no_invocation(template):
    calls: list[str] = []
    api, clock = _api(template, calls)
    statuses = [api.dispatch("POST", "/v1/orders", {}, b"{}")[0] for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    status, headers, body = api.dispatch("POST", "/v1/orders", {}, b"{}")
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(body) == {"message": "Too Many Requests"}
    assert len(calls) == 3 and api.throttle.throttled == 3
    clock.now = 1.0  # two tokens a second come back
    assert [api.dispatch("POST", "/v1/orders", {}, b"{}")[0] for _ in range(3)] == [201, 201, 429]


def test_reads_use_the_stage_wide_limit_not_the_intake_s(template):
    calls: list[str] = []
    api, _ = _api(template, calls)
    for _ in range(4):
        api.dispatch("POST", "/v1/orders", {}, b"{}")
    assert api.dispatch("GET", "/v1/orders/o-1", {}, None)[0] == 201
    assert api.throttle.limits[("/*", "*")] == (1000.0, 2000.0)
    assert api.throttle.limits[("/orders", "POST")] == (2.0, 3.0)
