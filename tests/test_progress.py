"""Progress lines: a log gets one plain line per tenth, never a carriage-return frame."""

from __future__ import annotations

import io

from pipeline.progress import Progress


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_log_gets_a_line_per_tenth_and_no_carriage_returns():
    out = io.StringIO()  # not a terminal
    with Progress(200, "orders", out, unit="orders", clock=Ticks()) as progress:
        for _ in range(200):
            progress.update()
        progress.note("finishing: sagas settle")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 11
    assert lines[0].startswith("orders:  10% (20/200 orders,")
    assert lines[9].startswith("orders: 100% (200/200 orders,")
    assert lines[10].startswith("orders: finishing: sagas settle (200/200 orders")


def test_fractions_and_jumps_print_each_tenth_reached_once():
    out = io.StringIO()
    progress = Progress(1.0, "arrivals", out, clock=Ticks())
    for done in (0.05, 0.34, 0.34, 0.2, 1.0, 1.2):  # jumps, repeats, a step back, overshoot
        progress.to(done)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["30%", "100%"]
    assert progress.done == 1.0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_that_redraws_in_place():
    out = Terminal()
    with Progress(10, "orders", out) as progress:
        progress.update(10)
    assert "\r" in out.getvalue() and "10/10" in out.getvalue()


def test_simulate_progress_in_a_log_is_lines_then_the_drain():
    from pipeline.cli import _progress_bar

    out = io.StringIO()
    show = _progress_bar(out)
    for done in (0.0, 0.25, 0.5, 0.999, 1.0, 1.0):
        show(done)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split(" (")[0] for line in lines] == [
        "arrivals:  20%",
        "arrivals:  50%",
        "arrivals:  90%",
        "arrivals: 100%",
        "arrivals: draining in-flight orders",
    ]
