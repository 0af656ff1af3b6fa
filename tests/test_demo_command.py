"""`python -m pipeline demo` as a command: its exit status says whether the invariants held.

Apart from tests/test_demo.py, whose runs share one deployed stack: the command deploys its
own, and only one in-process local cloud runs at a time."""

from __future__ import annotations

import pytest

from pipeline.cli import main

pytestmark = pytest.mark.system  # deploys a local stack and runs the demo


def test_demo_command_exits_zero_when_invariants_hold(capsys):
    assert main(["demo", "--orders", "5", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "Orders accepted: 5" in text
    assert "CloudFormation stack orders:" in text and "made locally" in text
