"""The test session's one deployment of the template, lent to one test at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pipeline.local.cloud import LocalCloud


class SharedCloud:
    """The template deployed once for the whole session, lent to one test at a time.

    Between loans the cloud is suspended, so every other test gets moto as it expects (its
    own ``mock_aws`` or endpoint, empty). One of those resets moto when it starts; the next
    loan sees the deployment gone and deploys again (``deploys`` counts them). Each loan
    starts from emptied tables, queues and buckets (:meth:`LocalCloud.reset`).
    """

    def __init__(self) -> None:
        self._cloud: LocalCloud | None = None
        self.deploys = self.loans = 0

    @contextlib.contextmanager
    def lend(self) -> Iterator[LocalCloud]:
        cloud = self._acquire()
        self.loans += 1
        try:
            yield cloud
        finally:
            cloud.suspend()

    def _acquire(self) -> LocalCloud:
        if self._cloud is not None:
            if self._cloud.resume():
                self._cloud.reset()
                return self._cloud
            self._cloud.__exit__(None, None, None)  # reset meanwhile: what is left is not ours
        self._cloud = LocalCloud().__enter__()
        self.deploys += 1
        return self._cloud

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.resume()  # then leave as any cloud leaves
            self._cloud.__exit__(None, None, None)
            self._cloud = None
