"""The Lambda deployment zip and the artifact bucket it is uploaded to.

The zip is built reproducibly (sorted entries, fixed timestamps), so the same sources give
the same bytes; its key carries the content hash, so a code change is a new ``CodeUri`` and
CloudFormation updates the functions, while an unchanged tree uploads nothing.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


@dataclass(frozen=True)
class Artifact:
    bucket: str
    key: str
    size: int
    uploaded: bool  # False when the same content was already there

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def package(root: Path = PACKAGE_ROOT) -> bytes:
    """The ``pipeline`` package's Python sources as a zip, byte-identical for the same tree."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*.py")):
            entry = zipfile.ZipInfo(str(Path("pipeline") / path.relative_to(root)), EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def bucket_name(stack_name: str, account: str, region: str) -> str:
    """One artifact bucket per stack, account and region (bucket names are global)."""
    return f"{stack_name.lower()}-artifacts-{account}-{region}"[:63]


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the artifact bucket when missing: private, encrypted; True if it was made."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    config = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **config)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return True


def upload(s3: Any, bucket: str, body: bytes, prefix: str = "lambda/handlers") -> Artifact:
    """Put the zip under a content-addressed key unless that key is already there."""
    key = f"{prefix}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return Artifact(bucket, key, len(body), uploaded=False)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return Artifact(bucket, key, len(body), uploaded=True)


def upload_template(s3: Any, bucket: str, body: bytes, region: str, stack_name: str) -> str:
    """Put the template next to the code and return the URL CloudFormation reads it from:
    a ``TemplateBody`` may not exceed 51,200 bytes, and ours is about twice that."""
    key = f"templates/{stack_name}-{hashlib.sha256(body).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    host = "s3" if region == "us-east-1" else f"s3.{region}"
    return f"https://{bucket}.{host}.amazonaws.com/{key}"


def remove_bucket(s3: Any, bucket: str) -> int:
    """Empty and delete the artifact bucket; the number of objects removed (0 if absent)."""
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            items = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if items:
                s3.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Objects": [{"Key": i["Key"], "VersionId": i["VersionId"]} for i in items]
                    },
                )
                removed += len(page.get("Versions", []))
        s3.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return 0
        raise
    return removed
