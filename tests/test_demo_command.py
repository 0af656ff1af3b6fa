"""`python -m pipeline demo` as a command: its exit status says whether the invariants held.

Apart from tests/test_demo.py, whose runs share one deployed stack: the command deploys its
own, and only one in-process local cloud runs at a time."""

from __future__ import annotations

import pytest

from pipeline.cli import main

pytestmark = pytest.mark.system  # deploys a local stack and runs the demo


def test_demo_command_exits_zero_when_invariants_hold(capsys):
    """Quiet by default: one line for the deploy, plain progress lines (stdout is not a
    terminal here: no carriage-return frames), the compact report, one verdict line last."""
    assert main(["demo", "--orders", "5", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("Stack orders on the local cloud (moto in-process) in ")
    assert "CloudFormation stack orders:" not in text  # the deploy log is behind --verbose
    assert "orders posted: 100% (5/5 orders" in text and "\r" not in text
    assert "5 accepted, 0 rejected by the API" in text
    assert lines[-1] == "VERDICT: all 7 invariants hold"


def test_demo_command_verbose_shows_the_whole_deploy_log_and_the_long_report(capsys):
    assert main(["demo", "--orders", "3", "--seed", "1", "--verbose"]) == 0
    text = capsys.readouterr().out
    assert "CloudFormation stack orders:" in text and "made locally" in text
    assert "Orders accepted: 3" in text and "Order latency (placed to the end" in text
    assert text.splitlines()[-1] == "VERDICT: all 7 invariants hold"
