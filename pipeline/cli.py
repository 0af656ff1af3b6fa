"""Command line: `python -m pipeline demo` (more subcommands arrive with their issues)."""

from __future__ import annotations

import argparse
import sys

from pipeline.local.faults import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run orders through the pipeline on a local endpoint")
    demo.add_argument("--orders", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--verbose", action="store_true", help="show the handlers' logs and metrics")
    demo.add_argument(
        "--scenario",
        default="default",
        choices=sorted(SCENARIOS),
        help="named, seeded fault scenario",
    )
    demo.add_argument(
        "--time-scale",
        type=_time_scale,
        default=None,
        metavar="N|virtual",
        help="run waits, backoffs and schedules on the wall clock sped up N times (e.g. 60); "
        "'virtual' (the default) jumps time and is reproducible for a seed",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from pipeline.demo import run_demo

        report = run_demo(
            args.orders,
            args.seed,
            out=sys.stdout,
            verbose=args.verbose,
            scenario=args.scenario,
            time_scale=args.time_scale,
        )
        if report.interrupted:
            return 130  # the shell's code for Ctrl-C
        ok = (
            report.stock_conserved
            and report.stock_settled
            and report.money_reconciled
            and report.lake_matches_store
            and report.one_side_effect_each
            and all(
                status in {"CONFIRMED", "CANCELLED", "COMPENSATION_FAILED"}
                for status in report.by_status
            )
        )
        return 0 if ok else 1
    return 2


def _time_scale(text: str) -> float | None:
    if text == "virtual":
        return None
    try:
        scale = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'virtual', got {text!r}") from None
    if scale <= 0:
        raise argparse.ArgumentTypeError("the time scale must be positive")
    return scale
