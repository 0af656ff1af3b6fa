"""Gaps in moto 5.2.5 that a deploy-update-delete cycle of the template runs into.

* Executing a change set stores the new template's text but neither parses it nor rebuilds
  the outputs (``UpdateStack`` does both), so a stack created through a change set reports
  no outputs; nor does it keep the parameters, so an unchanged redeploy is not recognised
  as one. The patch does all three, as AWS would.
* A ``Modify`` of a resource type moto cannot update in place (``AWS::Logs::LogGroup``) puts
  ``None`` in its place: the resource drops out of ``DescribeStackResources`` and is never
  deleted. The patch keeps the resource; for a log group it applies the new retention, the
  one property of ours an update can change.
* Athena has no ``DeleteNamedQuery``, and ``DeleteWorkGroup`` with ``RecursiveDeleteOption``
  leaves the work group's named queries behind. The patch adds the one and cascades the other.
* In process (``mock_aws``), botocore sends the DynamoDB Streams calls that name a stream to
  the stream account's endpoint, ``<account>.streams-ddb.<region>.amazonaws.com``, which moto
  does not route (a 404 "Not yet implemented"). The patch routes it to DynamoDB Streams.

Installed by both endpoints of :mod:`pipeline.local.endpoint`; idempotent.
"""

from __future__ import annotations

import re
from typing import Any

_installed: dict[str, Any] = {}
STREAMS_BY_ACCOUNT = r"https?://(.+)\.streams-ddb\.(.+)\.amazonaws\.com"


def install() -> None:
    if _installed:
        return
    from moto.cloudformation import models, parsing

    update = parsing.parse_and_update_resource
    execute = models.CloudFormationBackend.execute_change_set

    def parse_and_update_resource(
        logical_id: str, resource_json: dict, resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        updated = update(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is not None:
            return updated
        original = resources_map[logical_id]
        if resource_json["Type"] == "AWS::Logs::LogGroup":
            props = parsing.clean_json(resource_json.get("Properties", {}), resources_map)
            days = props.get("RetentionInDays")
            if days is not None:
                original.retention_in_days = int(days)
        return original

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None):
        execute(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                stack.template_dict = change_set.template_dict  # moto keeps the first one's
                stack.parameters = change_set.parameters  # what the next change set is diffed to
                stack.output_map = stack._create_output_map()

    _install_athena_deletes()
    _install_stream_endpoint()
    _installed["parse_and_update_resource"] = update
    _installed["execute_change_set"] = execute
    parsing.parse_and_update_resource = parse_and_update_resource
    models.CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def _install_athena_deletes() -> None:
    from moto.athena import models as athena
    from moto.athena import responses

    delete_work_group = athena.AthenaBackend.delete_work_group

    def delete_named_query(self: Any, query_id: str) -> None:
        self.named_queries.pop(query_id, None)

    def delete_work_group_recursively(self: Any, name: str) -> None:
        delete_work_group(self, name)
        for query_id, query in list(self.named_queries.items()):
            if query.workgroup == name:
                del self.named_queries[query_id]

    def respond_delete_named_query(self: Any) -> str:
        self.athena_backend.delete_named_query(self._get_param("NamedQueryId"))
        return "{}"

    _installed["athena.delete_work_group"] = delete_work_group
    athena.AthenaBackend.delete_named_query = delete_named_query  # type: ignore[attr-defined]
    athena.AthenaBackend.delete_work_group = delete_work_group_recursively  # type: ignore[method-assign]
    responses.AthenaResponse.delete_named_query = respond_delete_named_query  # type: ignore[attr-defined]


def _install_stream_endpoint() -> None:
    import moto.backend_index
    from moto.dynamodbstreams import urls

    route = ("dynamodbstreams", re.compile(STREAMS_BY_ACCOUNT))
    urls.url_bases.append(STREAMS_BY_ACCOUNT)  # read per request by the backend's `urls`
    moto.backend_index.backend_url_patterns.append(route)
    _installed["streams.route"] = route


def uninstall() -> None:
    if not _installed:
        return
    import moto.backend_index
    from moto.athena import models as athena
    from moto.athena import responses
    from moto.cloudformation import models, parsing
    from moto.dynamodbstreams import urls

    parsing.parse_and_update_resource = _installed.pop("parse_and_update_resource")
    models.CloudFormationBackend.execute_change_set = _installed.pop("execute_change_set")  # type: ignore[method-assign]
    athena.AthenaBackend.delete_work_group = _installed.pop("athena.delete_work_group")  # type: ignore[method-assign]
    del athena.AthenaBackend.delete_named_query  # type: ignore[attr-defined]
    del responses.AthenaResponse.delete_named_query  # type: ignore[attr-defined]
    urls.url_bases.remove(STREAMS_BY_ACCOUNT)
    moto.backend_index.backend_url_patterns.remove(_installed.pop("streams.route"))
