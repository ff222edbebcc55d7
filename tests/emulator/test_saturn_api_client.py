"""Saturn's generated API client (saturn-api, from the 2026.02.01 spec) works against the emulator.

It parses every answer into the spec's pydantic models, so this is the spec check from the client's side.
"""

from __future__ import annotations

from typing import Any

from saturn_api import ApiClient, Configuration
from saturn_api.api.dask_clusters_api import DaskClustersApi
from saturn_api.api.info_api import InfoApi
from saturn_api.api.workspaces_api import WorkspacesApi
from saturn_api.models import DaskClusterCreate, ResourceByWorkspaceId, ResourceReference, WorkspaceCreate

from tests.conftest import TOKEN


async def test_generated_client_creates_lists_starts_stops_and_deletes(emulator) -> None:
    async with ApiClient(Configuration(host=emulator.url, access_token=TOKEN)) as api:
        workspaces = WorkspacesApi(api)
        created = await workspaces.create(WorkspaceCreate(name="from-saturn-api", instance_size="large"))
        assert (created.status, created.instance_size) == ("stopped", "large")
        assert [w.name for w in (await workspaces.list()).workspaces] == ["from-saturn-api"]
        assert (await workspaces.start(created.id)).status == "pending"
        reference: Any = ResourceReference(ResourceByWorkspaceId(workspace_id=created.id))
        cluster = await DaskClustersApi(api).create(DaskClusterCreate(resource=reference, n_workers=2))
        assert (cluster.workspace_id, cluster.n_workers) == (created.id, 2)
        fetched = await workspaces.get(created.id)
        assert fetched.dask_cluster is not None and fetched.dask_cluster.id == cluster.id
        assert (await InfoApi(api).get_server_options()).auto_shutoff[-1] == "Never"
        assert (await workspaces.stop(created.id)).status == "stopping"
        await workspaces.delete(created.id, allow_active=True)
        assert (await workspaces.list()).workspaces == []
