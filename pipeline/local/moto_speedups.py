"""Make moto's DynamoDB cost proportional to the items a request touches, not to the table.

moto 5.2.5 answers correctly but scales badly for a pipeline run of thousands of orders:
``TransactWriteItems`` deep-copies every table it names before writing (for rollback), and
``Query`` sorts every item of the table before keeping one partition. A 1,000-order run makes
both quadratic. The patches below keep moto's own code paths and answers and change only
what they cost:

* a transaction journals the items it touches (and each stream's length) instead of copying
  whole tables, and restores exactly those when moto cancels it;
* a Query on the base table reads its one partition; a Query on an index pre-selects the
  items whose index hash key matches before moto's own matching and sorting;
* the server lists moto's service packages once, not on every request;
* EventBridge's input templates parse each JsonPath once: moto parses about a dozen per
  rule per event, and jsonpath_ng builds a fresh parser every time (6 ms per PutEvents).

Installed by :class:`pipeline.local.endpoint.LocalEndpoint`, which also serialises DynamoDB
requests (the journal is only sound when no other write interleaves, as on the endpoint).
Idempotent; :func:`uninstall` restores moto.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import types
from typing import Any

_installed: dict[str, Any] = {}
_hint = threading.local()  # the partition (or index hash conditions) of the running Query


def install() -> None:
    """Patch moto's DynamoDB backend in this process (once)."""
    if _installed:
        return
    import jsonpath_ng.ext
    from moto import backends
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    _installed.update(
        jsonpath_parse=jsonpath_ng.ext.parse,
        modules=backends.list_of_moto_modules,
        transact=models.DynamoDBBackend.transact_write_items,
        query=Table.query,
        all_items=Table.all_items,
        copy=models.copy,
    )
    query_signature = inspect.signature(Table.query)

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _journal(backend, transact_items)
        try:
            _installed["transact"](backend, transact_items)
        except Exception:
            _restore(journal)
            raise

    def query(table: Any, *args: Any, **kwargs: Any) -> Any:
        bound = query_signature.bind(table, *args, **kwargs).arguments
        if bound.get("index_name"):
            _hint.value = ("index", bound.get("hash_key_conditions") or [])
        elif bound.get("hash_key") is not None:
            _hint.value = ("partition", bound["hash_key"])
        try:
            return _installed["query"](table, *args, **kwargs)
        finally:
            _hint.value = None

    def all_items(table: Any) -> list[Any]:
        hint = getattr(_hint, "value", None)
        if hint is None:
            return _installed["all_items"](table)
        kind, value = hint
        if kind == "partition":
            found = table.items.get(value)
            if found is None:
                return []
            if not table.range_key_attr:
                return [found]
            return sorted(found.values(), key=lambda item: item.range_key)
        items = [
            item
            for item in _every_item(table)
            if all(_same(item.attrs.get(name), expected) for name, expected in value)
        ]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    modules = tuple(backends.list_of_moto_modules())  # listed per request otherwise
    backends.list_of_moto_modules = lambda: modules
    # A parsed JsonPath is only read by find(), so one object can serve every event.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(_installed["jsonpath_parse"])
    models.DynamoDBBackend.transact_write_items = transact_write_items
    Table.query = query
    Table.all_items = all_items
    # The journal replaces the whole-table copies moto takes for its own rollback.
    models.copy = types.SimpleNamespace(
        deepcopy=lambda value, memo=None: (
            value if isinstance(value, Table) else copy.deepcopy(value, memo)
        )
    )


def uninstall() -> None:
    """Put moto back as it was."""
    if not _installed:
        return
    import jsonpath_ng.ext
    from moto import backends
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    jsonpath_ng.ext.parse = _installed["jsonpath_parse"]
    backends.list_of_moto_modules = _installed["modules"]
    models.DynamoDBBackend.transact_write_items = _installed["transact"]
    Table.query = _installed["query"]
    Table.all_items = _installed["all_items"]
    models.copy = _installed["copy"]
    _installed.clear()


def _every_item(table: Any) -> list[Any]:
    if not table.range_key_attr:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]


def _same(actual: Any, expected: Any) -> bool:
    return actual is not None and actual.type == expected.type and actual.value == expected.value


def _journal(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash, range, copy of the item or None) per touched key, plus stream lengths."""
    journal: list[tuple[Any, ...]] = []
    streams: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto rejects it before writing anything
        ((kind, op),) = entry.items()
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None or kind == "ConditionCheck":
            continue
        try:
            key = op["Key"] if kind != "Put" else _key_of(table, op["Item"])
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:  # moto raises its own validation error for this op
            continue
        current = table.get_item(hash_key, range_key)
        journal.append((table, hash_key, range_key, copy.deepcopy(current)))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    journal.extend(("stream", shard, length) for shard, length in streams.values())
    return journal


def _key_of(table: Any, item: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


def _restore(journal: list[tuple[Any, ...]]) -> None:
    for entry in reversed(journal):
        if entry[0] == "stream":
            _, shard, length = entry
            del shard.items[length:]
            continue
        table, hash_key, range_key, before = entry
        if table.range_key_attr:
            partition = table.items[hash_key]
            if before is None:
                partition.pop(range_key, None)
                if not partition:
                    table.items.pop(hash_key, None)
            else:
                partition[range_key] = before
        elif before is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = before
