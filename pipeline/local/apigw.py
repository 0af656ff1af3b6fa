"""API Gateway REST (v1) proxy events, as `sam local start-api` builds them from HTTP requests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    raw_body: str | bytes | None = None,
    stage: str = "v1",
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """A proxy event; ``body`` is JSON-encoded, ``raw_body`` is sent as is (bytes: base64).
    ``content_type`` is the Content-Type assumed when ``headers`` carry none (in any case);
    None passes the headers exactly as sent, as API Gateway does."""
    encoded = False
    text: str | None
    if raw_body is not None:
        if isinstance(raw_body, bytes):
            text, encoded = base64.b64encode(raw_body).decode(), True
        else:
            text = raw_body
    else:
        text = json.dumps(body) if body is not None else None
    all_headers = dict(headers or {})
    if content_type is not None and not any(k.lower() == "content-type" for k in all_headers):
        all_headers = {"Content-Type": content_type, **all_headers}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
