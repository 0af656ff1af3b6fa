"""The test session's deployment of the template, lent to one test at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from pipeline.local.cloud import LocalCloud
from pipeline.template import Template


class SharedCloud:
    """The template deployed once for the whole session, lent to one test at a time.

    Between loans the cloud is suspended, so every other test gets moto as it expects (its
    own ``mock_aws`` or endpoint, empty). One of those resets moto when it starts; the next
    loan sees the deployment gone and deploys again (``deploys`` counts them). Each loan
    starts from emptied tables, queues and buckets (:meth:`LocalCloud.reset`). A loan of
    another design variant (template parameters) deploys that variant in its place: only
    one in-process cloud serves at a time, so tests of one variant run together.
    """

    def __init__(self) -> None:
        self._cloud: LocalCloud | None = None
        self._parameters: dict[str, str] = {}
        self.deploys = self.loans = 0

    @contextlib.contextmanager
    def lend(self, parameters: Mapping[str, str] | None = None) -> Iterator[LocalCloud]:
        cloud = self._acquire(dict(parameters or {}))
        self.loans += 1
        try:
            yield cloud
        finally:
            cloud.suspend()

    def _acquire(self, parameters: dict[str, str]) -> LocalCloud:
        if self._cloud is not None:
            if self._cloud.resume() and parameters == self._parameters:  # resumed either way
                self._cloud.reset()
                return self._cloud
            self._cloud.__exit__(None, None, None)  # another variant, or reset meanwhile
        self._cloud = LocalCloud(Template.load(parameters=parameters)).__enter__()
        self._parameters = parameters
        self.deploys += 1
        return self._cloud

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.resume()  # then leave as any cloud leaves
            self._cloud.__exit__(None, None, None)
            self._cloud = None
