"""Lazy, injectable dependencies for a handler module.

A Lambda builds its clients once per container from its environment; tests and the local
runtime inject their own instead. ``Wiring`` holds one handler's dependencies either way,
and reads the environment only on first use (never at import time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import boto3

D = TypeVar("D")


class Wiring(Generic[D]):
    """The dependencies of one handler: built from ``os.environ`` on first use, or injected."""

    def __init__(self, build: Callable[[Mapping[str, str]], D]) -> None:
        self._build = build
        self._deps: D | None = None

    def configure(self, deps: D | None) -> None:
        """Inject dependencies (``None`` resets to building from the environment)."""
        self._deps = deps

    def build(self, env: Mapping[str, str]) -> D:
        """The dependencies as the handler would build them from ``env`` (not kept)."""
        return self._build(env)

    def get(self) -> D:
        if self._deps is None:
            self._deps = self._build(os.environ)
        return self._deps


def require(env: Mapping[str, str], name: str) -> str:
    """An environment variable the template must set; a clear error when it does not."""
    value = env.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (see infra/template.yaml)")
    return value


def aws_client(env: Mapping[str, str], service: str) -> Any:
    """A boto3 client configured from ``env`` alone: its region, credentials and, when set,
    ``AWS_ENDPOINT_URL``. In Lambda ``env`` is ``os.environ``, so this is ``boto3.client``;
    the local runtime passes each function's own environment instead."""
    return boto3.client(
        service,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
    )
