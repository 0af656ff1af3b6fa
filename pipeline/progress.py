"""Progress of a long command, right wherever it is shown: a live bar (tqdm) on a terminal or
in a notebook, and in a log (stdout or stderr redirected to a file, a CI job) a plain line at
each tenth of the way, with no carriage-return frames to garble the file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def interactive(stream: TextIO) -> bool:
    """True on a terminal; a notebook's stream says False, but tqdm.auto draws a widget there."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """``total`` steps of ``what``, shown on ``stream`` (stderr by default); a context manager.

    On a terminal (or in a notebook, ``notebook=True``) a tqdm bar redraws in place; anywhere
    else one line per ``step`` of the total (a tenth by default) says how far it got and how
    long it took. ``clock`` is injected for tests."""

    def __init__(
        self,
        total: float,
        what: str,
        stream: TextIO | None = None,
        unit: str = "",
        step: float = 0.1,
        notebook: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.what, self.unit = total, what, unit
        self.stream = stream or sys.stderr
        self.step, self.clock = step, clock
        self.done: float = 0
        self.started = clock()
        self._shown = 0  # tenths (steps) already printed, in a log
        self._bar: Any = None
        if notebook or interactive(self.stream):
            if notebook:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            self._bar = tqdm(total=total, desc=what, unit=unit or "it", file=self.stream)

    def update(self, amount: float = 1) -> None:
        self.to(self.done + amount)

    def to(self, done: float) -> None:
        """Say that ``done`` of the total is done (never goes back)."""
        done = min(max(done, self.done), self.total)
        if self._bar is not None:
            self._bar.update(done - self.done)
            self.done = done
            return
        self.done = done
        reached = int(done / self.total / self.step + 1e-9) if self.total else 0
        if reached > self._shown:
            self._shown = reached
            self._line(f"{min(reached * self.step, 1.0):4.0%}")

    def note(self, text: str) -> None:
        """A phase change (``finishing: sagas settle``): the bar's postfix, or its own line."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)
        else:
            self._line(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _line(self, text: str) -> None:
        elapsed = f"{self.clock() - self.started:.0f} s"
        if self.unit != "%":  # a percentage is its own count
            unit = f" {self.unit}" if self.unit else ""
            elapsed = f"{self.done:,.0f}/{self.total:,.0f}{unit}, {elapsed}"
        print(f"{self.what}: {text} ({elapsed})", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
