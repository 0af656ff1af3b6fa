"""ISO-8601 timestamps as Step Functions accepts them in Wait states."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

_OFFSET_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 extended offset date-time (``2016-03-14T01:59:00Z``; the ``T`` and the
    offset are required, as Step Functions requires them), or None."""
    if not isinstance(value, str) or not _OFFSET_DATE_TIME.match(value):
        return None
    text = value.replace("Z", "+00:00")
    whole, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fraction digits
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = f"{whole}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
