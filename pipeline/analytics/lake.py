"""The audit lake as one pyarrow dataset, on a local disk or in S3, through one code path.

Firehose writes Parquet under ``events/year=YYYY/month=MM/day=DD/hour=HH/`` (the delivery
stream's prefix in the template); the local Firehose and the simulator write the same layout.
A :class:`Lake` is that tree behind a pyarrow filesystem: ``LocalFileSystem`` for a directory,
``S3FileSystem`` for ``s3://bucket/prefix`` (credentials from a boto3 profile, and an endpoint
for moto or another S3-compatible store). Everything above it (the local Athena, history,
integrity checks) reads the files the lake lists, through its filesystem, so a local and an
S3 lake are read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from pipeline.analytics.schema import lake_schema, partition_keys
from pipeline.template import Template

EVENTS = "events"  # the delivery stream's prefix starts here (``events/year=...``)


@dataclass(frozen=True)
class Lake:
    filesystem: pafs.FileSystem
    base: str  # the lake's root inside ``filesystem`` (a directory, or bucket/prefix)
    schema: pa.Schema  # the Glue table's columns, then its partition keys (strings)
    keys: tuple[str, ...]  # the partition keys, outermost first

    @classmethod
    def open(
        cls,
        location: str,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        template: Template | None = None,
    ) -> Lake:
        """A lake at a local directory or ``s3://bucket[/prefix]``. For S3 the credentials
        come from the boto3 ``profile`` (or the default chain), or from a boto3 ``session``;
        ``endpoint_url`` points at an S3-compatible endpoint (moto on loopback locally)."""
        template = template or Template.load()
        keys = tuple(partition_keys(template))
        schema = lake_schema(template)
        for key in keys:
            schema = schema.append(pa.field(key, pa.string()))
        if location.startswith("s3://"):
            filesystem = s3_filesystem(profile, region, endpoint_url, session)
            base = location[5:].rstrip("/")
        else:
            filesystem, base = pafs.LocalFileSystem(), str(location).rstrip("/")
        return cls(filesystem, base, schema, keys)

    @property
    def events_root(self) -> str:
        return f"{self.base}/{EVENTS}"

    def dataset(self, since: datetime | None = None, until: datetime | None = None) -> ds.Dataset:
        """The lake's Parquet files as one dataset. ``since``/``until`` (UTC) keep only the
        hourly partitions that can hold events in that window: the files of other hours
        are never opened (partition pruning, as Athena's partition projection does)."""
        partitioning = ds.partitioning(
            pa.schema([pa.field(k, pa.string()) for k in self.keys]), flavor="hive"
        )
        try:
            dataset = ds.dataset(
                self.events_root,
                schema=self.schema,
                format="parquet",
                filesystem=self.filesystem,
                partitioning=partitioning,
            )
        except FileNotFoundError:  # an empty lake: no events/ yet
            return ds.dataset(pa.table({f.name: [] for f in self.schema}, schema=self.schema))
        if since is None and until is None:
            return dataset
        fragments = list(dataset.get_fragments(filter=hours_between(since, until)))
        return ds.FileSystemDataset(fragments, self.schema, ds.ParquetFileFormat(), self.filesystem)

    def files(self, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        return sorted(self.dataset(since, until).files)

    @property
    def remote(self) -> bool:
        return not isinstance(self.filesystem, pafs.LocalFileSystem)

    def bytes(self, since: datetime | None = None, until: datetime | None = None) -> int:
        """Stored size of the lake's files (of the hours in the window)."""
        infos = self.filesystem.get_file_info(self.files(since, until))
        return sum(info.size for info in infos)


def hours_between(since: datetime | None, until: datetime | None) -> ds.Expression:
    """A partition filter for the hours from ``since`` to ``until`` (each end optional)."""
    if since is None and until is None:
        raise ValueError("give since, until or both")
    expression = None
    if since is not None:
        expression = _compare(since, after=True)
    if until is not None:
        before = _compare(until, after=False)
        expression = before if expression is None else expression & before
    return expression


def _compare(moment: datetime, after: bool) -> ds.Expression:
    """(year, month, day, hour) at or after (or at or before) ``moment``'s hour, compared
    lexicographically: the zero-padded strings sort as the numbers do."""
    parts = [
        ("year", f"{moment.year:04d}"),
        ("month", f"{moment.month:02d}"),
        ("day", f"{moment.day:02d}"),
        ("hour", f"{moment.hour:02d}"),
    ]
    expression = None
    for name, value in reversed(parts):
        strictly = ds.field(name) > value if after else ds.field(name) < value
        equal = ds.field(name) == value
        expression = strictly | (equal if expression is None else equal & expression)
    return expression


def s3_filesystem(
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    session: Any = None,
) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem with a boto3 profile's (or ``session``'s) credentials, so
    ``--profile`` means what it means to the AWS CLI, and an optional S3-compatible
    endpoint."""
    import boto3

    session = session or boto3.Session(profile_name=profile, region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError(f"no AWS credentials for profile {profile or '(default)'}")
    frozen = credentials.get_frozen_credentials()
    options: dict[str, Any] = {
        "access_key": frozen.access_key,
        "secret_key": frozen.secret_key,
        "session_token": frozen.token,
        "region": session.region_name or "us-east-1",
    }
    if endpoint_url:
        scheme, _, address = endpoint_url.partition("://")
        options.update(endpoint_override=address, scheme=scheme)
    return pafs.S3FileSystem(**options)
