"""`python -m pipeline capacity`: a small search from the command line, with a quota plan,
an overload check and the JSON it writes."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main

pytestmark = pytest.mark.system  # the search runs in worker processes


def test_capacity_reports_the_knee_the_binding_quota_and_a_verdict(tmp_path, capsys):
    out = tmp_path / "capacity.json"
    code = main(
        [
            "capacity",
            "--parameter",
            "Coordination=choreography",
            "--parameter",
            "ApiThrottleRate=2",
            "--parameter",
            "ApiThrottleBurst=20",
            "--scenario",
            "none",
            "--seeds",
            "1",
            "--start",
            "40/min",
            "--tolerance",
            "0.25",
            "--probe-duration",
            "2m",
            "--workers",
            "2",
            "--target",
            "300/min",
            "--overload",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "max sustainable rate:" in printed and "knee (lowest failing rate):" in printed
    assert "binding quota: API Gateway requests/s (stage POST /orders)" in printed
    assert "ApiThrottleRate" in printed  # the plan raises the stage throttle's parameter
    assert "overload:" in printed and "verdict:" in printed
    written = json.loads(out.read_text())
    assert written["capacity"]["knee_per_min"] <= 150
    assert {row["name"] for row in written["plan"]["rows"]} >= {"ApiThrottleRate"}
    assert written["overload"]["rows"][0]["rejected_429"] > 0


def test_capacity_refuses_an_unknown_parameter_before_running(capsys):
    assert main(["capacity", "--parameter", "NoSuchThing=1"]) == 2
    assert "NoSuchThing" in capsys.readouterr().err
