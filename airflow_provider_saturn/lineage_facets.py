"""The OpenLineage run facet of the Saturn operators (imported only when the OpenLineage provider is installed)."""

from __future__ import annotations

from attrs import define
from openlineage.client.facet_v2 import RunFacet


@define
class SaturnResourceRunFacet(RunFacet):
    """The Saturn resource a task acted on.

    :param resourceKind: ``job_run``, ``job``, ``deployment``, ``dask_cluster``, ``jupyter_server`` or ``project``.
    :param resourceId: its Saturn id (a job run's: its job's).
    :param runName: a job run's name.
    :param projectId: the project (workspace) it belongs to, when known.
    :param url: its page in the Saturn UI.
    """

    resourceKind: str
    resourceId: str
    runName: str | None = None
    projectId: str | None = None
    url: str | None = None
