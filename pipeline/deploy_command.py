"""``python -m pipeline deploy up|plan|outputs|down`` and ``python -m pipeline endpoint``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.deploy import changes, flow, target
from pipeline.local.deploy import local_target

ACTIONS = {
    "up": "create or update the stack: show the change set, ask, execute, follow, print outputs",
    "plan": "create the change set and show it; leave it unexecuted for review",
    "outputs": "print the stack's outputs",
    "down": "delete the stack (what its DeletionPolicy keeps is named) and the artifacts",
}


def add_parsers(commands: argparse._SubParsersAction) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="deploy the template as a CloudFormation stack (local endpoint by default)",
        description="Deploy infra/template.yaml through a change set. The target is the local "
        "endpoint unless --profile/--region is given together with --aws.",
    )
    deploy.add_argument(
        "action",
        choices=sorted(ACTIONS),
        help="; ".join(f"{name}: {what}" for name, what in ACTIONS.items()),
    )
    deploy.add_argument("--stack-name", default="orders")
    deploy.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (repeatable); an update keeps the values it is not given",
    )
    deploy.add_argument(
        "--endpoint-url",
        default=None,
        help=f"the local endpoint (default {target.LOCAL_ENDPOINT}, as 'python -m pipeline "
        "endpoint' serves it)",
    )
    deploy.add_argument(
        "--ephemeral",
        action="store_true",
        help="start a local endpoint in this process for this command only (a dry run)",
    )
    deploy.add_argument("--profile", help="AWS profile (with --aws)")
    deploy.add_argument("--region", help="AWS region (with --aws)")
    deploy.add_argument(
        "--aws",
        action="store_true",
        help="allow deploying to a real AWS account; without it the command refuses",
    )
    deploy.add_argument("--yes", action="store_true", help="execute without asking")
    deploy.add_argument("--keep-artifacts", action="store_true", help="down: keep the bucket")

    endpoint = commands.add_parser(
        "endpoint", help="serve the local AWS endpoint (moto) on loopback until Ctrl-C"
    )
    endpoint.add_argument("--port", type=int, default=4566)


def run(args: argparse.Namespace) -> int:
    if args.command == "endpoint":
        return _serve(args.port)
    try:
        parameters = dict(_pair(p) for p in args.parameter)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.ephemeral:
        from pipeline.local.endpoint import LocalEndpoint

        with LocalEndpoint() as running:
            return _act(args, local_target(running.url), parameters)
    if args.aws or args.profile or args.region:
        try:
            where = target.aws(args.profile, args.region, allowed=args.aws)
        except (target.Refused, BotoCoreError) as refused:  # also: no such profile
            print(f"error: {refused}", file=sys.stderr)
            return 2
    else:
        where = local_target(args.endpoint_url or target.LOCAL_ENDPOINT)
        if not _listening(where):
            print(
                f"error: no endpoint answers at {where.endpoint_url}; start one with "
                "'python -m pipeline endpoint', or pass --ephemeral",
                file=sys.stderr,
            )
            return 2
    return _act(args, where, parameters)


def _act(args: argparse.Namespace, where: target.Target, parameters: dict[str, str]) -> int:
    try:
        if args.action == "outputs":
            for key, value in sorted(flow.outputs(where, args.stack_name).items()):
                print(target.redact(f"{key:<22} {value}", where.secrets()))
            return 0
        if args.action == "down":
            flow.delete(where, args.stack_name, remove_artifacts=not args.keep_artifacts)
            return 0
        plan_only = args.action == "plan"
        result = flow.deploy(
            where,
            stack_name=args.stack_name,
            parameters=parameters,
            approve=(lambda _plan: False) if plan_only else _approver(args.yes),
            keep_unapproved=plan_only,
        )
        return (
            0
            if result.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UNCHANGED") or (plan_only)
            else 1
        )
    except (RuntimeError, BotoCoreError, ClientError) as error:  # refused, failed, no access
        print(f"error: {target.redact(str(error), where.secrets())}", file=sys.stderr)
        return 1


def _approver(yes: bool) -> Callable[[changes.Plan], bool]:
    def approve(plan: changes.Plan) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            print("Not executing without --yes (no terminal to ask on).")
            return False
        return input(f"Execute this change set on {plan.stack_name}? [y/N] ").strip().lower() in (
            "y",
            "yes",
        )

    return approve


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--parameter {text!r}: expected KEY=VALUE")
    return key, value


def _listening(where: target.Target) -> bool:
    import urllib.request

    if where.endpoint_url is None:  # AWS itself
        return True
    try:
        urllib.request.urlopen(where.endpoint_url, timeout=2)
    except OSError as error:
        return getattr(error, "code", None) is not None  # an HTTP error is an answer
    return True


def _serve(port: int) -> int:
    from pipeline.local.endpoint import LocalEndpoint

    with LocalEndpoint(port=port) as running:
        print(f"Local AWS endpoint on {running.url} (Ctrl-C to stop).", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
