"""Command line: `python -m pipeline demo | serve | simulate | capacity | lake | diagrams |
deploy | endpoint | chaos`."""

from __future__ import annotations

import argparse
import sys
from typing import get_args

from pipeline import deploy_command
from pipeline.faults import SCENARIOS
from pipeline.local.endpoint import DEFAULT_TRANSPORT, Transport
from pipeline.sim.regions import PROFILES, QUOTA_NAMES
from pipeline.sim.run import WORKLOADS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run orders through the pipeline in the local cloud")
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
    demo.add_argument(
        "--transport",
        choices=get_args(Transport),
        default=DEFAULT_TRANSPORT,
        help="how boto3 reaches the local cloud: inprocess (moto inside this process, the "
        "default) or http (moto's server on loopback)",
    )
    _definition_option(demo)
    _variant_options(demo)
    _serve_parser(commands)
    simulate = commands.add_parser(
        "simulate", help="simulate the pipeline at scale on SimPy time (no AWS, no moto)"
    )
    simulate.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    simulate.add_argument("--rate", type=_rate, default=10_000.0, metavar="N/min|N/s")
    simulate.add_argument("--duration", type=_duration, default=3_600.0, metavar="1h|30m|90s")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--workload", default="constant", choices=WORKLOADS)
    simulate.add_argument("--region", default="large", choices=sorted(PROFILES))
    simulate.add_argument(
        "--workflow-type", choices=["STANDARD", "EXPRESS"], help="override every machine's"
    )
    simulate.add_argument(
        "--reserved-concurrency",
        type=int,
        help="override every function's reserved concurrency (template: 50; 0: none)",
    )
    simulate.add_argument("--account-concurrency", type=int, help="the account's Lambda limit")
    simulate.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="NAME=RATE[/BURST]",
        help="override a region quota, e.g. sfn_start_execution=1500/5000 (repeatable)",
    )
    simulate.add_argument(
        "--shards",
        type=int,
        default=1,
        help="run as N independent shards in parallel processes, each with 1/N of the load, "
        "quotas, concurrency and stock (for long runs; see pipeline.sim.run)",
    )
    simulate.add_argument("--lake", metavar="DIR", help="write the audit events as Parquet here")
    simulate.add_argument("--json", metavar="FILE", help="write the summary as JSON here")
    _definition_option(simulate)
    _variant_options(simulate)
    _capacity_parser(commands)
    lake = commands.add_parser(
        "lake", help="query the audit lake (a directory or s3://bucket/prefix) as Athena would"
    )
    lake.add_argument("action", choices=["queries", "query", "sql", "history", "verify"])
    lake.add_argument("argument", nargs="?", help="query name, SQL text, or order id")
    lake.add_argument("--lake", required=True, metavar="DIR|s3://BUCKET/PREFIX")
    lake.add_argument("--profile", help="AWS profile for an s3:// lake")
    lake.add_argument("--region")
    lake.add_argument("--endpoint-url", help="an S3-compatible endpoint (e.g. moto)")
    lake.add_argument("--since", type=_moment, help="only partitions from this UTC hour on")
    lake.add_argument("--until", type=_moment, help="only partitions up to this UTC hour")
    lake.add_argument("--at", type=_moment, help="history: also show the state at this time")
    diagrams = commands.add_parser(
        "diagrams", help="draw the architecture from infra/template.yaml (PNG and SVG)"
    )
    diagrams.add_argument("--out", default="diagrams", help="directory to write them to")
    _variant_options(diagrams)
    chaos = commands.add_parser(
        "chaos", help="run every fault scenario on the local cloud and check the invariants"
    )
    chaos.add_argument("--orders", type=int, default=100, help="orders per scenario")
    chaos.add_argument("--seed", type=int, default=11)
    chaos.add_argument("--only", nargs="*", default=None, metavar="SCENARIO")
    _variant_options(chaos)
    deploy_command.add_parsers(commands)
    args = parser.parse_args(argv)
    if args.command in ("deploy", "endpoint"):
        return deploy_command.run(args)
    if args.command == "serve":
        return _serve(args)
    commands_here = {"chaos": _chaos, "simulate": _simulate, "capacity": _capacity, "lake": _lake}
    if args.command in commands_here:
        return commands_here[args.command](args)
    if args.command == "diagrams":
        from pathlib import Path

        from pipeline.diagrams.draw import draw_all

        template = _template_with([], _parameters(args))
        if template is None:
            return 2
        for path in draw_all(Path(args.out), template):
            print(path)
        return 0
    if args.command == "demo":
        from pipeline.demo import run_demo
        from pipeline.domain.invariants import check
        from pipeline.local.observed import facts

        template = _template_with(args.definition, _parameters(args))
        if template is None:
            return 2
        report = run_demo(
            args.orders,
            args.seed,
            out=sys.stdout,
            verbose=args.verbose,
            scenario=args.scenario,
            time_scale=args.time_scale,
            template=template,
            transport=args.transport,
        )
        if report.interrupted:
            return 130  # the shell's code for Ctrl-C
        ok = not any(check(facts(report)).values())
        return 0 if ok else 1
    return 2


def _serve_parser(commands) -> None:
    from pipeline.serve import DEFAULT_API_PORT, DEFAULT_AWS_PORT, STOCKED_FOR

    serve = commands.add_parser(
        "serve",
        help="keep the whole local stack up for real clients (curl, boto3, the AWS CLI, "
        "Locust): the order API, the AWS endpoint, the sagas running on the wall clock",
    )
    serve.add_argument(
        "--api-port", type=int, default=DEFAULT_API_PORT, help="order API port (0: a free one)"
    )
    serve.add_argument(
        "--aws-port",
        type=int,
        default=DEFAULT_AWS_PORT,
        help="AWS endpoint (moto) port for boto3 and the AWS CLI (0: a free one)",
    )
    serve.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        metavar="N",
        help="run waits, backoffs and the remediation schedule N times faster (default 1)",
    )
    serve.add_argument(
        "--scenario",
        default="none",
        choices=sorted(SCENARIOS),
        help="named, seeded fault scenario (default: none, a clean stack)",
    )
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--stock-for",
        type=int,
        default=STOCKED_FOR,
        metavar="ORDERS",
        help="stock the regular SKUs for this many orders (the hot SKU keeps its 6 units)",
    )
    serve.add_argument("--log-file", metavar="FILE", help="append the functions' JSON logs here")
    _definition_option(serve)
    _variant_options(serve)


def _serve(args: argparse.Namespace) -> int:
    from pipeline.serve import serve

    if args.time_scale is None:
        print("error: serve runs on the wall clock: --time-scale N", file=sys.stderr)
        return 2
    template = _template_with(args.definition, _parameters(args))
    if template is None:
        return 2
    return serve(
        template,
        api_port=args.api_port,
        aws_port=args.aws_port,
        time_scale=args.time_scale,
        scenario=args.scenario,
        seed=args.seed,
        stocked_for=args.stock_for,
        log_file=args.log_file,
    )


def _chaos(args: argparse.Namespace) -> int:
    from pipeline import chaos
    from pipeline.local.cloud import LocalCloud

    unknown = set(args.only or ()) - set(chaos.BY_NAME)
    if unknown:
        print(f"error: unknown scenarios {sorted(unknown)}; choose from {sorted(chaos.BY_NAME)}")
        return 2
    chosen = [chaos.BY_NAME[n] for n in args.only] if args.only else list(chaos.SCENARIOS)
    template = _template_with([], _parameters(args))
    if template is None:
        return 2
    outcomes = []
    with LocalCloud(template) as cloud:  # one deployment; emptied before each scenario's run
        for scenario in chosen:
            print(f"{scenario.name}: {scenario.what} ...", flush=True)
            outcomes.append(chaos.run(scenario, args.orders, args.seed, cloud=cloud))
            print(f"  {outcomes[-1].row()['invariants']}", flush=True)
    print()
    for line in chaos.render(outcomes):
        print(line)
    return 0 if all(o.ok for o in outcomes) else 1


def _simulate(args: argparse.Namespace) -> int:
    import json

    from pipeline.sim.run import RunSpec, simulate
    from pipeline.sim.summary import render

    parameters = _parameters(args)
    if _template_with(args.definition, parameters) is None:  # refused before the run starts
        return 2

    spec = RunSpec(
        rate_per_min=args.rate,
        duration_s=args.duration,
        seed=args.seed,
        scenario=args.scenario,
        workload=args.workload,
        region=args.region,
        workflow_type=args.workflow_type,
        reserved_concurrency=args.reserved_concurrency,
        account_concurrency=args.account_concurrency,
        quotas=dict(_quota(q) for q in args.quota),
        lake_dir=args.lake,
        shards=args.shards,
        definitions=dict(args.definition),
        parameters=parameters,
    )
    print(
        f"simulating {args.rate:,.0f} orders/min for {args.duration:,.0f} s, scenario "
        f"{args.scenario!r}, seed {args.seed}"
        + (f", {args.shards} shards" if args.shards > 1 else ""),
        flush=True,
    )
    summary = simulate(spec, progress=_progress_bar(sys.stderr))
    print(render(summary))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=2, default=str)
    ok = summary["invariants"]["money_mismatches"] == 0 and summary["invariants"]["stock_conserved"]
    return 0 if ok else 1


def _capacity_parser(commands) -> None:
    capacity = commands.add_parser(
        "capacity",
        help="find the highest order rate a design holds within its SLOs, the quota that "
        "binds, the cost per 1,000 confirmed orders; plan quotas for a target",
    )
    _variant_options(capacity)
    capacity.add_argument("--region", default="large", choices=sorted(PROFILES))
    capacity.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    capacity.add_argument("--seeds", type=int, default=2, help="seeds per rate (1..N)")
    capacity.add_argument("--start", type=_rate, default=1_000.0, metavar="N/min")
    capacity.add_argument("--max", type=_rate, default=256_000.0, metavar="N/min")
    capacity.add_argument("--tolerance", type=float, default=0.05, help="(knee - max) / max")
    capacity.add_argument("--p99-factor", type=float, default=1.5, help="x the unloaded p99")
    capacity.add_argument(
        "--probe-duration",
        type=_duration,
        default=240.0,
        metavar="4m",
        help="at most this long of arrivals per probe (45,000 orders' worth, at least 90 s; "
        "then a drain); longer finds slow backlogs",
    )
    capacity.add_argument(
        "--target", type=_rate, metavar="N/min", help="print the quota plan for this rate"
    )
    capacity.add_argument(
        "--overload",
        type=float,
        metavar="FACTOR",
        help="then a flash sale at FACTOR x the capacity for 5 minutes, between stretches "
        "at half the capacity",
    )
    capacity.add_argument("--dask", metavar="tcp://HOST:8786", help="run on a Dask cluster")
    capacity.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    capacity.add_argument("--json", metavar="FILE", help="write the results as JSON here")


def _capacity(args: argparse.Namespace) -> int:
    import contextlib
    import dataclasses
    import json

    from pipeline.sim import capacity
    from pipeline.sim.experiments import dask_executor, executor_or_pool
    from pipeline.sim.run import RunSpec

    parameters = _parameters(args)
    if _template_with([], parameters) is None:  # refused before any run starts
        return 2
    if args.seeds < 1 or not 0 < args.tolerance < 1:
        print("error: --seeds must be >= 1 and --tolerance in (0, 1)", file=sys.stderr)
        return 2
    base = RunSpec(scenario=args.scenario, region=args.region, parameters=parameters)
    seeds = tuple(range(1, args.seeds + 1))
    slo = capacity.Slo(p99_factor=args.p99_factor)
    print(
        f"capacity of variant {args.variant!r}"
        + (f" with {dict(args.parameter)}" if args.parameter else "")
        + f": searching from {args.start:,.0f} orders/min ...",
        flush=True,
    )
    out: dict[str, object] = {"variant": args.variant, "parameters": parameters}
    with contextlib.ExitStack() as stack:
        if args.dask:
            from distributed import Client

            executor = dask_executor(stack.enter_context(Client(args.dask)))
        else:
            executor = stack.enter_context(executor_or_pool(None, args.workers))
        result = capacity.search(
            base,
            slo,
            seeds,
            start_per_min=args.start,
            tolerance=args.tolerance,
            executor=executor,
            max_per_min=args.max,
            probe_s=args.probe_duration,
            progress=sys.stderr.isatty(),
        )
        print("\n".join(result.lines()))
        print(f"({result.wall_s:,.0f} s of wall time)")
        out["capacity"] = result.to_dict()
        if args.target:
            plan = capacity.quota_plan(
                base, args.target, seeds=seeds[:1], slo=slo, executor=executor
            )
            print()
            print("\n".join(plan.lines()))
            out["plan"] = plan.to_dict()
        if args.overload and result.max_per_min > 0:
            flash = capacity.overload(
                dataclasses.replace(base, rate_per_min=result.max_per_min / 2),
                result.max_per_min,
                factor=args.overload,
                seeds=seeds,
                executor=executor,
            )
            print()
            print("\n".join(flash.lines()))
            out["overload"] = flash.to_dict()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(out, file, indent=2, default=str)
    return 0


def _definition_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--definition",
        type=_definition,
        action="append",
        default=[],
        metavar="MACHINE=FILE",
        help="run this ASL file (JSONPath or JSONata) as the template's state machine MACHINE, "
        "e.g. PaymentStateMachine=my-payment.asl.json; repeatable",
    )


def _variant_options(command: argparse.ArgumentParser) -> None:
    from pipeline.variants import VARIANTS

    command.add_argument(
        "--variant",
        default="default",
        choices=list(VARIANTS),
        help="design variant: a named set of the template's parameters (pipeline.variants)",
    )
    command.add_argument(
        "--parameter",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a template parameter (over the variant's), e.g. Coordination=choreography; "
        "repeatable",
    )


def _parameters(args: argparse.Namespace) -> dict[str, str]:
    """The template parameters ``--variant`` and ``--parameter`` choose."""
    from pipeline.variants import VARIANTS

    return {**VARIANTS[args.variant], **dict(args.parameter)}


def _template_with(definitions: list[tuple[str, str]], parameters: dict[str, str] | None = None):
    """The template for ``parameters`` with ``--definition`` files in place, or None after
    saying why a parameter, a file or a definition is refused."""
    from pipeline.asl import DefinitionError
    from pipeline.template import Template

    try:
        template = Template.load(parameters=parameters)
        return template.with_definition_files(dict(definitions))
    except (KeyError, ValueError, DefinitionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _definition(text: str) -> tuple[str, str]:
    machine, equals, file = text.partition("=")
    if not equals or not machine or not file:
        raise argparse.ArgumentTypeError(f"expected MACHINE=FILE, got {text!r}")
    return machine, file


def _progress_bar(stream):
    """The arrival window's progress (a fraction), then the drain: a bar on a terminal, a
    line per tenth in a log (:class:`pipeline.progress.Progress`)."""
    from pipeline.progress import Progress

    progress = Progress(100, "arrivals", stream, unit="%")
    drained: list[bool] = []

    def show(done: float) -> None:
        progress.to(done * 100)
        if done >= 1 and not drained:
            drained.append(True)
            progress.note("draining in-flight orders")
            progress.close()

    return show


def _lake(args: argparse.Namespace) -> int:
    import pandas as pd

    from pipeline.analytics import history, integrity
    from pipeline.analytics.athena import LocalAthena
    from pipeline.analytics.lake import Lake

    lake = Lake.open(
        args.lake, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    )
    needs_argument = {"query": "a query name", "sql": "SQL text", "history": "an order id"}
    if args.action in needs_argument and not args.argument:
        print(f"lake {args.action} needs {needs_argument[args.action]}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 200)
    with LocalAthena(lake, since=args.since, until=args.until) as athena:
        if args.action == "queries":
            print("\n".join(sorted(athena.queries)))
        elif args.action == "query":
            print(athena.query(args.argument).to_string(index=False))
        elif args.action == "sql":
            print(athena.sql(args.argument).to_string(index=False))
        elif args.action == "history":
            events = history.from_lake(athena, args.argument)
            if not events:
                print(f"no events for order {args.argument!r} in the lake", file=sys.stderr)
                return 1
            for event in events:
                print(f"{event.sequence:>3}  {event.occurred_at.isoformat()}  {event.type}")
            if args.at:
                state = history.state_at(events, args.at)
                print(f"at {args.at.isoformat()}: {state.status} (version {state.version})")
        else:
            problems = integrity.verify(athena)
            for p in problems:
                print(f"{p['order_id']} #{p['sequence']}: {p['problem']} ({p['detail']})")
            print(f"{len(problems)} problems" if problems else "every order's chain is intact")
            return 1 if problems else 0
    return 0


def _moment(text: str):
    """An ISO time; without a zone it is UTC."""
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rate(text: str) -> float:
    """Orders per minute from ``10000/min``, ``150/s`` or a bare number (per minute)."""
    number, _, unit = text.partition("/")
    try:
        value = float(number.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate like 10000/min, got {text!r}") from None
    per = {"": 1.0, "min": 1.0, "s": 60.0, "sec": 60.0, "h": 1 / 60}.get(unit)
    if per is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive rate per min or s, got {text!r}")
    return value * per


def _duration(text: str) -> float:
    """Seconds from ``1h``, ``30m``, ``90s`` or a bare number of seconds."""
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0}.get(text[-1:])
    try:
        value = float(text[:-1] if scale else text) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration like 1h, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return value


def _quota(text: str) -> tuple[str, tuple[float, float]]:
    name, _, value = text.partition("=")
    rate, _, burst = value.partition("/")
    if name not in QUOTA_NAMES:
        raise SystemExit(f"--quota: unknown quota {name!r}; choose from {sorted(QUOTA_NAMES)}")
    try:
        return name, (float(rate), float(burst or rate))
    except ValueError:
        raise SystemExit(f"--quota {text!r}: expected NAME=RATE[/BURST]") from None


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
