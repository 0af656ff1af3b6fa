"""Make moto's DynamoDB cost proportional to the items a request touches, not to the table,
and stop moto redoing per request what it worked out on the last one.

moto 5.2.5 answers correctly but scales badly for a pipeline run of thousands of orders:
``TransactWriteItems`` deep-copies every table it names before writing (for rollback), and
``Query`` sorts every item of the table before keeping one partition. A 1,000-order run makes
both quadratic. The patches below keep moto's own code paths and answers and change only
what they cost:

* a transaction journals the items it touches (and each stream's length) instead of copying
  whole tables, and restores exactly those when moto cancels it;
* a Query on the base table reads its one partition; a Query on an index pre-selects the
  items whose index hash key matches before moto's own matching and sorting;
* the server lists moto's service packages once, not on every request (the HTTP transport
  only: in process, moto's stubber does not list them);
* EventBridge's input templates parse each JsonPath once: moto parses about a dozen per
  rule per event, and jsonpath_ng builds a fresh parser every time (6 ms per PutEvents);
* CloudFormation reads a JSON template body with ``json`` before trying YAML: moto parses
  every body (change set, stack create and update, template summary, validation) with
  pure-Python PyYAML first, almost a second for our translated template, which is JSON.
  JSON is YAML, and :func:`_json_body` gives exactly PyYAML's answer or defers to it;
* SQS checks a message's retention against the queue's retention period, read as an
  attribute: moto computes every attribute of the queue for it (``ApproximateNumberOfMessages``
  counts the queue), once per message a ``ReceiveMessage`` returns, so receiving from a queue
  of 2,000 messages took a second and a backlog drained ever slower (:func:`_retained`).

Then what moto works out anew on every request, with the same answer each time, is
remembered (the demo spent about 2.5 ms in moto per call, most of it on this):

* the response serialiser looks up the attribute names a member may be read under once per
  (member, class of object), not by building six alias providers per member per response
  (:func:`_get_value`); and serialises a ``dict`` by the members its keys can answer, not by
  asking it for all ten members of a DynamoDB ``AttributeValue`` (:func:`_serialize_structure`);
* DynamoDB parses an update expression once (:func:`_make_update_expression`), and its
  validator's working copy of the tree is unpickled, not deep-copied (:func:`_copy_tree`);
  a condition expression is parsed once per expression and values it reads
  (:func:`_parse_condition`); the validators' traversals list their node classes once
  and do not recurse into leaves (:func:`_traverse`);
* dispatch lists a handler class's methods once (``inspect.getmembers`` per request before)
  and converts a name's case once (:func:`_camelcase_to_underscores`).

Each says why it gives moto's answer; tests/test_moto_speedups.py compares them with
moto's own, response by response.

Why one module of about 850 lines: it is the one place that reaches into moto 5.2.5's
internals for speed, installed and removed as a unit (:func:`install`, :func:`uninstall`),
pinned to that moto version by the lock; a moto upgrade is checked here and nowhere else.

Installed by both endpoints of :mod:`pipeline.local.endpoint`, which also serialise DynamoDB
requests (the journal is only sound when no other write interleaves, as there).
Idempotent; :func:`uninstall` restores moto.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
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
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    _installed.update(
        jsonpath_parse=jsonpath_ng.ext.parse,
        modules=backends.list_of_moto_modules,
        transact=models.DynamoDBBackend.transact_write_items,
        query=Table.query,
        all_items=Table.all_items,
        copy=models.copy,
        query_signature=inspect.signature(Table.query),
        cfn_yaml=(cfn_models.yaml, cfn_responses.yaml),
    )
    modules = tuple(backends.list_of_moto_modules())  # listed per request otherwise
    backends.list_of_moto_modules = lambda: modules
    # A parsed JsonPath is only read by find(), so one object can serve every event.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(_installed["jsonpath_parse"])
    models.DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign, assignment]
    Table.query = _query  # type: ignore[method-assign, assignment]
    Table.all_items = _all_items  # type: ignore[method-assign, assignment]
    # The journal replaces the whole-table copies moto takes for its own rollback.
    models.copy = types.SimpleNamespace(  # type: ignore[assignment]
        deepcopy=lambda value, memo=None: (
            value if isinstance(value, Table) else copy.deepcopy(value, memo)
        )
    )
    # Every yaml.load of moto's CloudFormation (4 calls, all in these two modules) reads a
    # template body: the one name they look it up by now tries JSON first.
    cfn_models.yaml = cfn_responses.yaml = _JsonFirstYaml(cfn_models.yaml)
    _install_serializer()
    _install_expression_caches()
    _install_dispatch_caches()
    from moto.sqs.models import SQSBackend

    _patch(SQSBackend, "is_message_valid_based_on_retention_period", _retained)


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check, with the period read from the queue itself: the same value
    ``get_queue_attributes(["MessageRetentionPeriod"])`` returns (``Queue.attributes`` reads
    it by this attribute name), without computing the queue's other attributes."""
    from moto.sqs import models

    period = backend.get_queue(queue_name).message_retention_period
    return bool(int(period) + message.sent_timestamp / 1000 > models.unix_time())


def _install_serializer() -> None:
    """Response serialisers look a member's attribute names up once per kind of member."""
    from moto.core import serialize

    providers = serialize.DEFAULT_ALIAS_PROVIDERS
    if not providers or providers[0] is not serialize.ExplicitAlias:
        return  # not moto 5.2.5's order: the shortcut below would not be its answer
    global _serialize, _base_structure_member
    _serialize = serialize
    _base_structure_member = serialize.ResponseSerializer._serialize_structure_member
    _patch(serialize.ResponseSerializer, "get_value", _get_value)
    _patch(serialize.ResponseSerializer, "_serialize_type_structure", _serialize_structure)


def _install_expression_caches() -> None:
    """DynamoDB parses an update or condition expression once, not on every request."""
    from moto.dynamodb import comparisons
    from moto.dynamodb.parsing import ast_nodes, expressions, validators

    parser_cls = expressions.UpdateExpressionParser  # type: ignore[attr-defined]
    _patch(parser_cls, "make", classmethod(_make_update_expression))
    _patch(comparisons.ConditionExpressionParser, "parse", _parse_condition)
    # The validator's working copy of a memoised tree: unpickled, not deep-copied.
    _patch(validators, "deepcopy", _copy_tree)
    traverser = ast_nodes.DepthFirstTraverser  # type: ignore[attr-defined]
    _patch(traverser, "nodes_to_be_processed", _nodes_to_be_processed)
    _patch(traverser, "traverse_node_recursively", _traverse)
    global _node_class
    _node_class = ast_nodes.Node  # type: ignore[attr-defined]


def _install_dispatch_caches() -> None:
    """Each request finds its handler method without listing its class's members anew."""
    from moto.core import responses, utils
    from moto.sqs import models as sqs_models

    _patch(responses, "method_names_from_class", _method_names_from_class)
    for module in (utils, responses, sqs_models):
        _patch(module, "camelcase_to_underscores", _camelcase_to_underscores)


def _patch(owner: Any, name: str, value: Any) -> None:
    """``owner.name = value``, put back by :func:`uninstall`.

    moto's own value stays known after :func:`uninstall`: a moto module imported while the
    patches were in (``from moto.core.utils import camelcase_to_underscores``) keeps ours,
    which then answers with moto's.
    """
    current = owner.__dict__[name]
    if getattr(getattr(current, "__func__", current), "__module__", None) != __name__:
        _originals[id(owner), name] = current
    _patched.append((owner, name, _originals[id(owner), name]))
    setattr(owner, name, value)


_patched: list[tuple[Any, str, Any]] = []  # (owner, name, moto's value), in patching order
_originals: dict[tuple[int, str], Any] = {}  # (id(owner), name) -> moto's value, kept


def _forget() -> None:
    """Empty every memo of the patches below (they refill as requests come)."""
    for memo in (
        _member_names,
        _dict_plans,
        _update_trees,
        _pickled_trees,
        _traversed,
        _condition_lookups,
        _conditions,
        _method_names,
        _camelcase,
    ):
        memo.clear()


def uninstall() -> None:
    """Put moto back as it was."""
    if not _installed:
        return
    while _patched:
        owner, name, original = _patched.pop()
        setattr(owner, name, original)
    import jsonpath_ng.ext
    from moto import backends
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    cfn_models.yaml, cfn_responses.yaml = _installed["cfn_yaml"]
    jsonpath_ng.ext.parse = _installed["jsonpath_parse"]
    backends.list_of_moto_modules = _installed["modules"]
    models.DynamoDBBackend.transact_write_items = _installed["transact"]  # type: ignore[method-assign]
    Table.query = _installed["query"]  # type: ignore[method-assign]
    Table.all_items = _installed["all_items"]  # type: ignore[method-assign]
    models.copy = _installed["copy"]
    _installed.clear()


# A JSON number with a fraction or an exponent that YAML 1.1 (PyYAML's resolver) reads as a
# float: it wants a dot, and a sign after the exponent's e; it reads any other as a string.
_YAML_FLOAT = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
# Text whose JSON reading may not be PyYAML's: characters PyYAML's reader rejects (it raises),
# YAML's own line breaks (which it folds, in a quoted scalar, and JSON keeps), tabs (YAML
# reads them apart from spaces) and escaped surrogates (JSON pairs them, PyYAML does not).
_NOT_PLAIN_JSON = re.compile(
    r"[^\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
    r"|\\u[dD][89a-fA-F]"
)
_NOT_JSON = object()


def _json_body(text: str) -> Any:
    """``text`` read as PyYAML's ``yaml.Loader`` reads it, when it is JSON; else _NOT_JSON.

    JSON text is YAML in flow style, where every string is quoted (so stays a string, with the
    same escapes), ``true``/``false``/``null`` and integers read alike, and a fraction or an
    exponent reads as PyYAML's float resolver reads it (``parse_float``), ``NaN`` and
    ``Infinity`` as the strings YAML makes of them. Where PyYAML fails to parse JSON (a key
    and its colon on two lines, a key over 1,024 characters) moto falls back to
    ``json.loads``, which is this answer too.
    """
    if _NOT_PLAIN_JSON.search(text):
        return _NOT_JSON
    try:
        return json.loads(
            text,
            parse_float=lambda literal: (
                float(literal) if _YAML_FLOAT.fullmatch(literal) else literal
            ),
            parse_constant=str,
        )
    except (ValueError, RecursionError):  # not JSON (a YAML template): moto's path reads it
        return _NOT_JSON


class _JsonFirstYaml:
    """The ``yaml`` module as moto's CloudFormation sees it: ``load`` reads JSON with json."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def load(self, stream: Any, Loader: Any) -> Any:
        if isinstance(stream, str) and Loader is self._module.Loader:
            parsed = _json_body(stream)
            if parsed is not _NOT_JSON:
                return parsed
        return self._module.load(stream, Loader=Loader)


# (member shape, its parent structure, member key, object's class) -> the attribute names
# moto's XFormedAttributePicker tries after the object's own Meta aliases, each with whether
# it is a dotted path.
_member_names: dict[tuple[Any, Any, str, type], tuple[tuple[str, bool], ...]] = {}
_serialize: Any = None  # moto.core.serialize, once installed
_base_structure_member: Any = None  # its ResponseSerializer._serialize_structure_member
_UNLISTED: tuple[tuple[str, bool], ...] = (("", False),)  # names moto's own picker must find


def _get_value(serializer: Any, value: Any, key: str, shape: Any) -> Any:
    """``ResponseSerializer.get_value`` with the picker's attribute names looked up once.

    moto's ``XFormedAttributePicker`` builds a context and six alias providers per member of
    every structure it serialises, to list the names it then tries in turn (each also through
    ``xform_name``). Every provider but the first (``ExplicitAlias``, the object's own
    ``Meta.serialization_aliases``) answers from the member shape, its parent structure (set
    by moto before serialising a member), the member key and the name of the object's class,
    so that list is cached on those; the first is asked per object, as moto asks it. Names are
    then tried in moto's order, each once (a name that missed misses again), with moto's own
    ``get_value`` (on an exact ``dict``, ``dict.get``: the same answer), and moto's response
    transformers applied to the answer as moto applies them.
    """
    picker = serializer._value_picker
    if (
        type(picker) is not _serialize.XFormedAttributePicker
        or picker.alias_providers is not _serialize.DEFAULT_ALIAS_PROVIDERS
    ):
        return _unpatched(_serialize.ResponseSerializer, "get_value")(serializer, value, key, shape)
    cache_key = (shape, getattr(shape, "parent", None), key, value.__class__)
    names = _member_names.get(cache_key)
    if names is None:
        names = _member_names[cache_key] = _possible_names(value, key, shape, picker)
    if names is _UNLISTED:
        return _unpatched(_serialize.ResponseSerializer, "get_value")(serializer, value, key, shape)
    found = _pick(value, key, names)
    transformers = picker.response_transformers
    if transformers:
        key_path = f"{'.'.join(serializer.path)}.{key}"
        for transform_path, transform in transformers.items():
            if key_path.endswith(transform_path):
                return transform(found)
    return found


# structure shape -> its members (key, shape, the names a dict may hold it under), and which
# members each name may answer; _UNPLANNED where a member's names are not known.
_dict_plans: dict[Any, Any] = {}
_UNPLANNED = object()


def _serialize_structure(
    serializer: Any, serialized: Any, value: Any, shape: Any, key: str
) -> None:
    """``ResponseSerializer._serialize_type_structure``, for a ``dict`` by its own keys.

    moto asks ``get_value`` for every member of the structure in turn and serialises those
    not None: ten times for one DynamoDB ``AttributeValue`` (``{"S": "x"}``), of which one
    answers. A ``dict`` answers a member only under one of the names moto's picker tries for
    it (the same for every ``dict``: see :func:`_get_value`), and its first such name that
    is present gives the value; so the members asked are those one of the dict's keys can
    answer, in the structure's order, each with moto's value. Any other object, picker, or
    serialiser with its own ``_serialize_structure_member`` goes moto's way.
    """
    cls = type(serializer)
    picker = serializer._value_picker
    if (
        type(value) is not dict
        or cls._serialize_structure_member is not _base_structure_member
        or cls.get_value is not _get_value
        or type(picker) is not _serialize.XFormedAttributePicker
        or picker.alias_providers is not _serialize.DEFAULT_ALIAS_PROVIDERS
        or picker.response_transformers
    ):
        return _unpatched(_serialize.ResponseSerializer, "_serialize_type_structure")(
            serializer, serialized, value, shape, key
        )
    plan = _dict_plans.get(shape)
    if plan is None:
        plan = _dict_plans[shape] = _plan(value, shape, picker)
    if plan is _UNPLANNED:
        return _unpatched(_serialize.ResponseSerializer, "_serialize_type_structure")(
            serializer, serialized, value, shape, key
        )
    members, answering = plan
    wrapper: Any = serializer.MAP_TYPE() if key else serialized
    asked: set[int] = set()
    for name in value:
        asked.update(answering.get(name, ()))
    missing = _serialize.MISSING
    for position in sorted(asked):
        member_key, member_shape, names = members[position]
        for name in names:
            found = value.get(name, missing)
            if found is not missing:
                if found is not None:
                    serializer._serialize(wrapper, found, member_shape, member_key)
                break
    if key:
        serializer._default_serialize(serialized, wrapper, shape, key)


def _plan(value: dict[str, Any], shape: Any, picker: Any) -> Any:
    """``shape``'s members, and the members each name of a ``dict`` may answer."""
    members = []
    answering: dict[str, list[int]] = {}
    for position, (member_key, member_shape) in enumerate(shape.members.items()):
        member_shape.parent = shape  # as moto sets it before asking for any member
        cache_key = (member_shape, shape, member_key, dict)
        names = _member_names.get(cache_key)
        if names is None:
            names = _member_names[cache_key] = _possible_names(
                value, member_key, member_shape, picker
            )
        if names is _UNLISTED or any(dotted for _, dotted in names):
            return _UNPLANNED
        members.append((member_key, member_shape, tuple(name for name, _ in names)))
        for name, _ in names:
            answering.setdefault(name, []).append(position)
    return members, answering


def _pick(value: Any, key: str, names: tuple[tuple[str, bool], ...]) -> Any:
    """The first of ``names`` ``value`` has (after its Meta alias, if any), else None."""
    missing = _serialize.MISSING
    get_value = _serialize.get_value
    if type(value) is dict:  # no Meta; value[name] or KeyError, as dict.get tells
        for name, dotted in names:
            found = get_value(value, name, missing) if dotted else value.get(name, missing)
            if found is not missing:
                return found
        return None
    if _has_explicit_alias(value, key):
        alias = value.Meta.serialization_aliases[key]
        names = ((alias, True), (_serialize.xform_name(alias), True), *names)
    for name, _ in names:
        found = get_value(value, name, missing)
        if found is not missing:
            return found
    return None


def _has_explicit_alias(value: Any, key: str) -> bool:
    """moto's ``ExplicitAlias.has_alias``."""
    if not hasattr(value, "Meta"):
        return False
    if not hasattr(value.Meta, "serialization_aliases"):
        return False
    return key in value.Meta.serialization_aliases


def _possible_names(value: Any, key: str, shape: Any, picker: Any) -> tuple[tuple[str, bool], ...]:
    """The names moto's picker tries for ``key`` of ``value`` after ``ExplicitAlias``'s.

    _UNLISTED if a provider raises: moto asks them lazily, and might not have asked it.
    """
    context = _serialize.AttributePickerContext(obj=value, key=key, shape=shape)
    names: dict[str, None] = {}
    try:
        for provider_cls in picker.alias_providers[1:]:
            provider = provider_cls(context)
            if provider.has_alias(key):
                alias = provider.get_alias(key)
                names[alias] = None
                names[_serialize.xform_name(alias)] = None
    except Exception:
        return _UNLISTED
    return tuple((name, "." in name) for name in names)


_update_trees: dict[str, Any] = {}  # an update expression -> moto's parse of it
_TREES_KEPT = 1024


def _make_update_expression(parser_cls: Any, expression: Any) -> Any:
    """``UpdateExpressionParser.make``, one abstract syntax tree per expression string.

    The tree is a function of the string alone. moto only reads it (``find_clauses`` and the
    placeholders of the nodes it finds, in ``UpdateItem`` and ``TransactWriteItems``), and
    its validator works on a ``deepcopy`` of it (``Validator.__init__``) that ``normalize``
    and the executor then change: the one tree can serve every request. A string moto cannot
    parse raises each time, as before.
    """
    from moto.dynamodb.parsing import expressions

    ours = expressions.UpdateExpressionParser  # type: ignore[attr-defined]
    make = _unpatched(ours, "make").__func__
    if parser_cls is not ours or type(expression) is not str:
        return make(parser_cls, expression)
    tree = _update_trees.get(expression)
    if tree is None:
        tree = make(parser_cls, expression)
        if len(_update_trees) >= _TREES_KEPT:
            _update_trees.clear()
            _pickled_trees.clear()
        _update_trees[expression] = tree
        pickled = _pickled(tree)
        if pickled is not None:
            _pickled_trees[id(tree)] = (tree, pickled)
    return tree


# id of a memoised tree -> (the tree, its pickle), for the trees made of plain objects only
_pickled_trees: dict[int, tuple[Any, bytes]] = {}
_PLAIN_ATOMS = (str, int, bool, type(None))  # bool is an int; listed for the reader
_OWN_COPYING = (
    "__reduce__",
    "__reduce_ex__",
    "__getstate__",
    "__setstate__",
    "__copy__",
    "__deepcopy__",
    "__slots__",
    "__getattr__",
    "__getattribute__",
)


def _pickled(tree: Any) -> bytes | None:
    """``tree``'s pickle if it holds only plain objects (of moto's node classes, with no
    copying or pickling of their own), lists and atoms; else None.

    Unpickling such a tree makes what ``copy.deepcopy`` makes of it: for each object
    ``cls.__new__(cls)`` and a copy of its ``__dict__``; lists and the sharing between
    them alike; atoms equal (a ``str`` equal, if not the same object).
    """
    import pickle

    seen: set[int] = set()
    pending = [tree]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        kind = type(value)
        if kind in _PLAIN_ATOMS:
            continue
        if kind is list:
            pending.extend(value)
            continue
        if not kind.__module__.startswith("moto.dynamodb.parsing.") or any(
            name in vars(base)
            for base in kind.__mro__
            if base is not object
            for name in _OWN_COPYING
        ):
            return None
        attributes = vars(value)
        if any(type(name) is not str for name in attributes):
            return None
        pending.extend(attributes.values())
    return pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)


def _copy_tree(value: Any, memo: Any = None) -> Any:
    """``copy.deepcopy`` as moto's validators call it; a memoised tree by unpickling."""
    import pickle

    if memo is None:
        known = _pickled_trees.get(id(value))
        if known is not None and known[0] is value:
            return pickle.loads(known[1])
    return copy.deepcopy(value, memo)


_node_class: Any = None  # moto.dynamodb.parsing.ast_nodes.Node, once installed


def _traverse(traverser: Any, node: Any, child_id: int = -1) -> Any:
    """``DepthFirstTraverser.traverse_node_recursively``, without a call per leaf.

    moto's recurses into every child, to return at once from those that are not nodes (the
    strings and numbers of the tree): this one calls the hook moto calls before each child
    (``pre_processing_of_child``) and recurses into the children that are nodes, the same
    children in the same order; the rest is moto's, line for line. A traverser with its own
    ``traverse_node_recursively`` is recursed into through it, for every child, as by moto.
    """
    if isinstance(node, _node_class):
        parent_node = node.parent
        if node.children is not None:
            _traverse_children(traverser, node)
        if isinstance(node, traverser.nodes_to_be_processed()):
            node = traverser.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
    return node


def _traverse_children(traverser: Any, node: Any) -> None:
    before_child = traverser.pre_processing_of_child
    if type(traverser).traverse_node_recursively is not _traverse:
        for i, child_node in enumerate(node.children):
            before_child(node, i)
            traverser.traverse_node_recursively(child_node, i)
        return
    for i, child_node in enumerate(node.children):
        before_child(node, i)
        if isinstance(child_node, _node_class):
            _traverse(traverser, child_node, i)


_traversed: dict[type, tuple[type, ...]] = {}


def _nodes_to_be_processed(traverser: Any) -> tuple[type, ...]:
    """``DepthFirstTraverser.nodes_to_be_processed``: the keys of ``_processing_map``, which
    every one of moto's traversers builds from a literal of classes (bound methods as values),
    so the same per class; moto builds the map per node visited."""
    kind = type(traverser)
    found = _traversed.get(kind)
    if found is None:
        from moto.dynamodb.parsing import ast_nodes

        base = ast_nodes.DepthFirstTraverser  # type: ignore[attr-defined]
        found = _unpatched(base, "nodes_to_be_processed")(traverser)
        if kind.__module__ != "moto.dynamodb.parsing.validators":
            return found  # not one of the traversers read for this
        _traversed[kind] = found
    return found


def _unpatched(owner: Any, name: str) -> Any:
    """moto's own ``owner.name``, as it was before :func:`install`."""
    return _originals[id(owner), name]


# A condition expression -> the #name and :value placeholders its parse looks up, in order.
_condition_lookups: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
# (expression, what those lookups give, frozen) -> (parsed op, names found, values found)
_conditions: dict[tuple[Any, ...], tuple[Any, tuple[str, ...], tuple[str, ...]]] = {}
_CONDITIONS_KEPT = 4096
_DICT, _LIST = object(), object()  # tags of a frozen dict and list (a str equals neither)


def _parse_condition(parser: Any) -> Any:
    """``ConditionExpressionParser.parse``, once per expression and the values it reads.

    moto's parser reads its names and values maps through two lookups only
    (``_lookup_expression_attribute_name``/``_value``), one per ``#name``/``:value`` path
    element of the lexed expression, in the order of the expression: which lookups a parse
    makes depends on the expression alone, and what it returns on the expression and what
    those lookups give. So the op (and the names and values it reports found) is cached on
    the expression and those answers, frozen with their types and key order. A parse that
    fails (a missing placeholder, a syntax error) is moto's own, each time. The cached op was
    parsed from private copies of the values (so no later change to a request's values, or
    to an item that took them, reaches it), and moto only evaluates an op (``expr``), which
    reads them.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = _unpatched(ConditionExpressionParser, "parse")
    expression = parser.condition_expression
    if type(parser) is not ConditionExpressionParser or type(expression) is not str:
        return parse(parser)
    lookups = _condition_lookups.get(expression)
    key = None if lookups is None else _condition_key(parser, lookups)
    hit = None if key is None else _conditions.get(key)
    if hit is None:
        op = parse(parser)  # moto's own parse of this request
        if expression and (lookups is None or key is not None):
            _remember_condition(parse, parser)
        return op
    op, names_found, values_found = hit
    parser.expr_attr_names_found.extend(names_found)
    parser.expr_attr_values_found.extend(values_found)
    return op


def _remember_condition(parse: Any, parser: Any) -> None:
    """Parse ``parser``'s expression again, from copies, noting the lookups it makes."""
    names_read: list[str] = []
    values_read: list[str] = []
    try:
        private = type(parser)(
            parser.condition_expression,
            copy.deepcopy(parser.expression_attribute_names),
            copy.deepcopy(parser.expression_attribute_values),
        )
    except Exception:
        return
    name_of, value_of = (
        private._lookup_expression_attribute_name,
        private._lookup_expression_attribute_value,
    )

    def lookup_name(name: str) -> Any:
        names_read.append(name)
        return name_of(name)

    def lookup_value(name: str) -> Any:
        values_read.append(name)
        return value_of(name)

    private._lookup_expression_attribute_name = lookup_name
    private._lookup_expression_attribute_value = lookup_value
    try:
        op = parse(private)
    except Exception:  # it parsed once; never cache what does not
        return
    lookups = (tuple(names_read), tuple(values_read))
    if len(_condition_lookups) >= _CONDITIONS_KEPT:
        _condition_lookups.clear()
    _condition_lookups[parser.condition_expression] = lookups
    key = _condition_key(private, lookups)
    if key is None:
        return
    if len(_conditions) >= _CONDITIONS_KEPT:
        _conditions.clear()
    _conditions[key] = (
        op,
        tuple(private.expr_attr_names_found),
        tuple(private.expr_attr_values_found),
    )


def _condition_key(parser: Any, lookups: tuple[tuple[str, ...], tuple[str, ...]]) -> Any:
    """(expression, the lookups' answers, frozen), or None where one would fail or not freeze."""
    names = parser.expression_attribute_names
    values = parser.expression_attribute_values
    try:
        return (
            parser.condition_expression,
            tuple(_freeze(names[name]) for name in lookups[0]),
            tuple(_freeze(values[name]) for name in lookups[1]),
        )
    except (KeyError, TypeError, _Unfreezable):
        return None


class _Unfreezable(Exception):
    pass


def _freeze(value: Any) -> Any:
    """A hashable stand-in equal for equal JSON (str, bool, None, dict, list) values only."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return (_DICT, tuple((key, _freeze(item)) for key, item in value.items()))
    if kind is list:
        return (_LIST, tuple(_freeze(item) for item in value))
    raise _Unfreezable(kind)


# class -> (its MRO's member counts, moto's method_names_from_class answer)
_method_names: dict[type, tuple[tuple[int, ...], list[str]]] = {}


def _method_names_from_class(clazz: Any) -> list[str]:
    """moto's ``method_names_from_class`` (``inspect.getmembers``, per request), remembered.

    The names are those of the functions of the class and its bases; a class whose MRO
    gains or loses a member (as :mod:`pipeline.local.moto_fixes` adds Athena's) is listed
    anew. The caller only tests membership; it gets a copy all the same.
    """
    from moto.core import utils

    mro = getattr(clazz, "__mro__", None)
    if mro is None:
        return utils.method_names_from_class(clazz)
    members = tuple(len(vars(base)) for base in mro)
    known = _method_names.get(clazz)
    if known is None or known[0] != members:
        known = _method_names[clazz] = (members, utils.method_names_from_class(clazz))
    return list(known[1])


_camelcase: dict[str, str] = {}
_CAMELCASE_KEPT = 4096


def _camelcase_to_underscores(argument: Any) -> Any:
    """moto's ``camelcase_to_underscores``, a pure function of a string, remembered."""
    if type(argument) is not str:
        return _unpatched_camelcase(argument)
    found = _camelcase.get(argument)
    if found is None:
        found = _unpatched_camelcase(argument)
        if len(_camelcase) < _CAMELCASE_KEPT:
            _camelcase[argument] = found
    return found


def _unpatched_camelcase(argument: Any) -> Any:
    from moto.core import utils

    return _unpatched(utils, "camelcase_to_underscores")(argument)


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    journal = _journal(backend, transact_items)
    try:
        _installed["transact"](backend, transact_items)
    except Exception:
        _restore(journal)
        raise


def _query(table: Any, *args: Any, **kwargs: Any) -> Any:
    bound = _installed["query_signature"].bind(table, *args, **kwargs).arguments
    if bound.get("index_name"):
        _hint.value = ("index", bound.get("hash_key_conditions") or [])
    elif bound.get("hash_key") is not None:
        _hint.value = ("partition", bound["hash_key"])
    try:
        return _installed["query"](table, *args, **kwargs)
    finally:
        _hint.value = None


def _all_items(table: Any) -> list[Any]:
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
