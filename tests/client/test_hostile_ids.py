"""Every id becomes exactly one URL path segment under the Saturn URL, or is refused before any request.

Ids are templated fields (XCom, ``dag_run.conf``): user input. These are the attacks and the accidents.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_saturn.client import AsyncSaturnClient, SaturnClient
from airflow_provider_saturn.client.credentials import resolve_credentials
from airflow_provider_saturn.client.errors import SaturnInvalidIdError, SaturnNotFoundError
from airflow_provider_saturn.client.kinds import RESOURCES
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import FAST_RETRY, TOKEN
from tests.misbehaving_server import Answer, misbehaving_server

BAD_IDS: list[Any] = [
    "",
    " ",
    "  abc  ",
    "a b",
    "abc\n",
    "abc\t",
    "\x00abc",
    "abc\x7f",
    "\u2028abc",
    "../dask_clusters/x",
    "a/b",
    "/abc",
    "abc?allow_active=true",
    "abc#fragment",
    "%2e%2e",
    "abc%2Fdef",
    "a\\b",
    ".",
    "..",
    "None",
    "null",
    "x" * 300,
    "a\uff0fb",
    "\uff0e\uff0e",
    "\u2024\u2024",
    "a\uff1fb",
    "a:b",
    None,
    123,
    ["abc"],
]

# Each operation that takes an id, with the argument name its error must give.
SYNC_ID_CALLS: dict[str, tuple[str, Callable[[SaturnClient, Any], Any]]] = {
    "get_project": ("project_id", lambda c, i: c.get_project(i)),
    "update_project": ("project_id", lambda c, i: c.update_project(i, jupyter_size="large")),
    "delete_project": ("project_id", lambda c, i: c.delete_project(i, allow_active=False)),
    "create_dask_cluster": ("project_id", lambda c, i: c.create_dask_cluster(i, worker_size="large")),
    "get_jupyter_server": ("jupyter_server_id", lambda c, i: c.get_jupyter_server(i)),
    "start_jupyter_server": ("jupyter_server_id", lambda c, i: c.start_jupyter_server(i)),
    "stop_jupyter_server": ("jupyter_server_id", lambda c, i: c.stop_jupyter_server(i)),
    "get_dask_cluster": ("dask_cluster_id", lambda c, i: c.get_dask_cluster(i)),
    "start_dask_cluster": ("dask_cluster_id", lambda c, i: c.start_dask_cluster(i)),
    "stop_dask_cluster": ("dask_cluster_id", lambda c, i: c.stop_dask_cluster(i)),
}


def as_key(kind: str, bad_id: Any) -> Any:
    """The bad id as ``kind`` takes it: a job run's key is ``"<job id>/<run name>"``, so the run name is bad."""
    return f"{'a' * 32}/{bad_id}" if kind == "job_run" and isinstance(bad_id, str) else bad_id


def _kind_call(method: str, kind: str) -> Callable[[SaturnClient, Any], Any]:
    return lambda client, resource_id: getattr(client, method)(kind, as_key(kind, resource_id))


for _kind, _wire in RESOURCES.items():  # every kind there is, present and future
    for _method in ("get_resource", "stop_resource"):
        SYNC_ID_CALLS[f"{_method} {_kind}"] = (_wire.argument, _kind_call(_method, _kind))


def call_async(url: str, method: str, kind: str, resource_id: Any) -> Any:
    async def run() -> Any:
        client = AsyncSaturnClient(resolve_credentials(url, TOKEN), timeout=2, retry=FAST_RETRY)
        try:
            return await getattr(client, method)(kind, resource_id)
        finally:
            await client.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
def test_bad_ids_are_refused_before_any_request_by_both_clients(bad_id: Any) -> None:
    with misbehaving_server() as server:
        server.answer_always(Answer.json({"id": "a" * 32, "status": "running"}))
        with SaturnClient(url=server.url, api_token=TOKEN, retry=FAST_RETRY) as client:
            for name, (argument, call) in SYNC_ID_CALLS.items():
                with pytest.raises(SaturnInvalidIdError) as caught:
                    call(client, bad_id)
                assert caught.value.argument == argument or name.endswith("job_run"), name
                assert str(caught.value).startswith(f"{caught.value.argument}="), name
                assert "Nothing was sent to Saturn" in str(caught.value)
        for kind, wire in RESOURCES.items():
            for method in ("get_resource", "stop_resource"):
                with pytest.raises(SaturnInvalidIdError) as caught:
                    call_async(server.url, method, kind, as_key(kind, bad_id))
                assert caught.value.argument in (wire.argument, "run_name")
        assert server.requests == [], "nothing reached the server"


def test_the_error_says_what_is_wrong() -> None:
    client = SaturnClient(url="http://127.0.0.1:9", api_token=TOKEN)
    cases = {
        "": "it is empty",
        "abc?allow_active=true": "it contains '?'",
        "../x": "it contains '/'",
        "..": "path steps",
        "a b": "whitespace",
        "a\x00": "control character",
        "None": "what a template renders for a missing value",
    }
    for bad_id, problem in cases.items():
        with pytest.raises(SaturnInvalidIdError, match=problem):
            client.get_jupyter_server(bad_id)
    with pytest.raises(ValueError, match=r"jupyter_server_id=None .* must be a string, not NoneType"):
        client.get_jupyter_server(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "odd_id", ["a:b", "a;b=c", "a@b", "\u00fcn\u00ef", "a+b&c", "a\uff0fb", "\uff0e\uff0e", "a\u2215b", "abc\u0301"]
)
def test_ids_beyond_unreserved_ascii_are_refused_before_any_request(odd_id: str) -> None:
    """Saturn ids are hex and run names Kubernetes names: nothing else is sent, so no server can fold a
    look-alike (a fullwidth solidus, fullwidth dots) into a separator."""
    with misbehaving_server() as server:
        client = SaturnClient(url=server.url + "/saturn", api_token=TOKEN, retry=FAST_RETRY)
        with pytest.raises(SaturnInvalidIdError, match="Saturn ids are hex and run names Kubernetes names"):
            client.stop_jupyter_server(odd_id)
        with pytest.raises(SaturnInvalidIdError, match=re.escape("only ASCII letters, digits, '-', '.', '_' and '~'")):
            call_async(server.url + "/saturn", "get_resource", "dask_cluster", odd_id)
        assert server.requests == []


@pytest.mark.parametrize("valid_id", ["a" * 32, "0123456789abcdef", "run-1.a_b~c", "Job-Run-2026-01-01"])
def test_a_valid_id_goes_out_as_it_is(valid_id: str) -> None:
    with misbehaving_server() as server:
        server.answer_always(Answer.json({"message": "Workspace not found"}, status=404))
        client = SaturnClient(url=server.url + "/saturn", api_token=TOKEN, retry=FAST_RETRY)
        with pytest.raises(SaturnNotFoundError, match="Saturn has no jupyter server"):
            client.stop_jupyter_server(valid_id)
        with pytest.raises(SaturnNotFoundError):
            call_async(server.url + "/saturn", "get_resource", "dask_cluster", valid_id)
        paths = [seen.path for seen in server.requests]
        assert paths == [f"/saturn/api/workspaces/{valid_id}/stop", f"/saturn/api/dask_clusters/{valid_id}"]


def test_a_query_in_the_id_cannot_delete_a_running_project(client: SaturnClient, emulator: SaturnEmulator) -> None:
    project = client.create_project("running-one")
    client.start_jupyter_server(project["id"])
    with pytest.raises(SaturnInvalidIdError, match="project_id"):
        client.delete_project(project["id"] + "?allow_active=true", allow_active=False)
    assert client.get_project(project["id"])["status"] in ("pending", "running"), "still there, still running"


def test_a_climbing_id_cannot_stop_a_dask_cluster(client: SaturnClient, emulator: SaturnEmulator) -> None:
    project = client.create_project("with-dask")
    cluster = client.create_dask_cluster(project["id"])
    client.start_dask_cluster(cluster["id"])
    with pytest.raises(SaturnInvalidIdError, match="jupyter_server_id"):
        client.stop_jupyter_server("../dask_clusters/" + cluster["id"])
    assert client.get_dask_cluster(cluster["id"])["status"] in ("pending", "running")


def test_the_token_never_leaves_the_path_prefix() -> None:
    with misbehaving_server() as server:
        client = SaturnClient(url=server.url + "/saturn", api_token=TOKEN, retry=FAST_RETRY)
        with pytest.raises(SaturnInvalidIdError):
            client.get_jupyter_server("../../../other-app/admin")
        assert server.requests == []


def test_an_empty_id_does_not_read_the_list_as_a_resource(client: SaturnClient, emulator: SaturnEmulator) -> None:
    client.create_project("listed")
    with pytest.raises(SaturnInvalidIdError, match="it is empty"):
        client.get_jupyter_server("")
    assert emulator.config.stats.requests == 1, "only the create"
