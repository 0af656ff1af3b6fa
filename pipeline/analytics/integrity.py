"""Audit integrity: is every order's event stream in the lake the one the store sealed?

Two checks, each naming the event and what happened to it:

- the links, in SQL (the stack's named query ``audit_chain_breaks``, run by Athena or
  locally): an event removed, reordered, or altered so that its successor's ``prev_hash`` no
  longer matches;
- the contents, here: every row's hash recomputed from its payload (the domain's
  ``content_digest`` over canonical JSON), and the row's columns checked against the payload
  they were derived from. This finds an edit that kept the stored hash.

A hash chain cannot see the last events of an order rewritten together with their hashes;
the event store (the source of truth) still can: compare :func:`pipeline.analytics.history`
from both.
"""

from __future__ import annotations

from typing import Any

from pipeline.analytics.athena import LocalAthena
from pipeline.domain.events import parse_event

COLUMNS = ("order_id", "sequence", "event_type", "prev_hash", "hash")


def chain_breaks(athena: LocalAthena) -> Any:
    """The named query's rows: order_id, sequence, problem, found_at_sequence, event_id."""
    return athena.query("audit_chain_breaks")


def content_problems(athena: LocalAthena, order_ids: list[str] | None = None) -> list[dict]:
    """Rows whose stored hash or columns disagree with their payload."""
    where, parameters = "", []
    if order_ids:
        where = f" WHERE order_id IN ({', '.join('?' for _ in order_ids)})"
        parameters = list(order_ids)
    rows = athena.records(
        "SELECT DISTINCT order_id, sequence, event_id, event_type, prev_hash, hash, payload"
        f" FROM audit_events{where} ORDER BY order_id, sequence",
        parameters,
    )
    problems = []
    for row in rows:
        event = parse_event(row["payload"])
        stored = {"order_id": event.order_id, "sequence": event.sequence}
        stored |= {"event_type": event.type, "prev_hash": event.prev_hash, "hash": event.hash}
        differing = [c for c in COLUMNS if row[c] != stored[c]]
        if event.content_digest(event.prev_hash) != event.hash:
            problems.append(_problem(row, "altered", "its content does not match its hash"))
        elif differing:
            detail = "columns differ from its payload: " + ", ".join(differing)
            problem = "reordered" if differing == ["sequence"] else "altered"
            problems.append(_problem(row, problem, detail))
    return problems


def verify(athena: LocalAthena, order_ids: list[str] | None = None) -> list[dict]:
    """Every problem both checks find, one row each (event, problem, detail), in order."""
    found = content_problems(athena, order_ids)
    for row in chain_breaks(athena).itertuples(index=False):
        if order_ids and row.order_id not in order_ids:
            continue
        found.append(
            {
                "order_id": row.order_id,
                "sequence": int(row.sequence),
                "problem": row.problem,
                "detail": f"the chain breaks at sequence {int(row.found_at_sequence)}",
            }
        )
    return sorted(found, key=lambda p: (p["order_id"], p["sequence"], p["problem"]))


def _problem(row: dict, problem: str, detail: str) -> dict:
    return {
        "order_id": row["order_id"],
        "sequence": row["sequence"],
        "problem": problem,
        "detail": f"event {row['event_id']}: {detail}",
    }
