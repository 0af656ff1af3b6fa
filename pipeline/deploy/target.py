"""Where a stack goes: the local endpoint (the default) or an AWS account, named explicitly.

A target never prints credentials: :meth:`Target.describe` names the endpoint or the
profile, region and account, and :func:`redact` masks anything shaped like an access key,
a secret key or a session token in a line before it is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_ACCOUNT = "123456789012"  # moto's default account

_SECRET_SHAPES = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # access key ids
    re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"),  # secret keys
    re.compile(r"\b[A-Za-z0-9/+=]{100,}\b"),  # session tokens
)


class Refused(RuntimeError):
    """Deploying there needs an explicit go-ahead that was not given."""


def redact(line: str, secrets: tuple[str, ...] = ()) -> str:
    """``line`` with known secret values and anything shaped like a credential masked."""
    for secret in secrets:
        if len(secret) >= 8:  # placeholder credentials ("local") are no secret
            line = line.replace(secret, "****")
    for shape in _SECRET_SHAPES:
        line = shape.sub("****", line)
    return line


@dataclass
class Target:
    """A boto3 session and, for the local endpoint, its URL (none for the local cloud
    in-process, where moto answers inside the process: ``in_process``)."""

    session: Any
    endpoint_url: str | None = None
    profile: str | None = None
    _account: str | None = field(default=None, repr=False)
    in_process: bool = False
    # How the template is adapted for this target's CloudFormation (a flow.Adapter); None
    # for AWS, which takes it as it is. The local cloud's is pipeline.local.deploy's.
    adapter: Any = field(default=None, repr=False)

    @property
    def is_aws(self) -> bool:
        return self.endpoint_url is None and not self.in_process

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.endpoint_url)

    def account(self) -> str:
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def describe(self) -> str:
        if self.is_aws:
            profile = f"profile {self.profile}, " if self.profile else ""
            return f"AWS account {self.account()} ({profile}region {self.region})"
        if self.in_process:
            return f"local cloud in-process (region {self.region})"
        return f"local endpoint {self.endpoint_url} (region {self.region})"

    def secrets(self) -> tuple[str, ...]:
        """The session's credential values, for :func:`redact`."""
        credentials = self.session.get_credentials()
        if credentials is None:
            return ()
        frozen = credentials.get_frozen_credentials()
        return tuple(v for v in (frozen.secret_key, frozen.token, frozen.access_key) if v)


def aws(profile: str | None, region: str | None, allowed: bool) -> Target:
    """An AWS account through a named profile; refused unless ``allowed`` (the ``--aws`` flag)."""
    where = ", ".join(
        part for part in (profile and f"profile {profile}", region and f"region {region}") if part
    )
    if not allowed:
        raise Refused(
            f"refusing to deploy to AWS ({where or 'default credentials'}) without --aws: "
            "a deployment creates billable resources in that account"
        )
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    if session.region_name is None:
        raise Refused("no region: pass --region or set one in the profile")
    return Target(session, None, profile)
