"""Active resources in the emulator: one paged scan of everything active, by owner, org or account.

Also the seed control that makes such scans big, owners and tags on every kind, and the backdate control.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from saturn_api import ApiClient, Configuration
from saturn_api.api.active_api import ActiveApi
from saturn_api.models import ActiveResourceList, DaskCluster, Deployment, Job, Resource, ResourceType, Workspace

from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN

TRANSITION = 0.2  # the emulator fixture's transition_seconds
MODELS = {"workspace": Workspace, "dask": DaskCluster, "deployment": Deployment, "job": Job}
GET_PATHS = {"workspace": "workspaces", "dask": "dask_clusters", "deployment": "deployments", "job": "jobs"}
MODELS_KINDS = ("workspace", "dask_cluster", "deployment", "job")  # as the seed and other controls name them
VIEWER_TOKEN = "viewer-token-5c1e"


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    return session


@pytest.fixture
def http(emulator):
    session = _session(TOKEN)

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return session.request(method, emulator.url + path, timeout=30, **kwargs)

    return call


@pytest.fixture
def control(emulator):
    def call(path: str, body: dict[str, Any], status_code: int = 200) -> Any:
        response = requests.post(emulator.url + path, json=body, timeout=30)
        assert response.status_code == status_code, response.text
        return response.json()

    return call


@pytest.fixture(scope="module")
def viewer_emulator() -> Iterator[SaturnEmulator]:
    """An emulator with a second token, for a user who is not an org admin."""
    with SaturnEmulator(token=TOKEN, transition_seconds=TRANSITION, tokens={VIEWER_TOKEN: "emulator/viewer"}) as saturn:
        yield saturn


def _ok(response: requests.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def _page(http, **params: Any) -> dict:
    """One page of active resources, checked against the spec's models."""
    body = _ok(http("GET", "/api/active/resources", params=params))
    ActiveResourceList.model_validate(body)
    for item in body["resources"]:
        assert isinstance(Resource.model_validate(item).root, MODELS[item["resource_type"]])
    return body


def _scan(http, **params: Any) -> list[dict]:
    """Every page, bounded."""
    found: list[dict] = []
    key = None
    for _ in range(100):
        body = _page(http, **params, **({"next_key": key} if key else {}))
        found += body["resources"]
        key = body["next_key"]
        if key is None:
            return found
    raise AssertionError("the scan did not end")


def _ids(resources: list[dict]) -> list[str]:
    return [item["id"] for item in resources]


def _wait() -> None:
    time.sleep(TRANSITION + 0.05)


def test_each_active_resource_is_listed_as_its_own_get_renders_it(http) -> None:
    workspace = _ok(http("POST", "/api/workspaces", json={"name": "ws", "tags": {"team": "data"}}), 201)
    cluster = _ok(http("POST", "/api/dask_clusters", json={"resource": {"workspace_id": workspace["id"]}}), 201)
    deployment = _ok(http("POST", "/api/deployments", json={"name": "api", "command": "serve"}), 201)
    job = _ok(http("POST", "/api/jobs", json={"name": "train", "command": "sleep 60"}), 201)
    _ok(http("POST", "/api/workspaces", json={"name": "never-started"}), 201)
    assert _page(http)["resources"] == []
    http("POST", f"/api/workspaces/{workspace['id']}/start")
    http("POST", f"/api/dask_clusters/{cluster['id']}/start")
    http("POST", f"/api/deployments/{deployment['id']}/start")
    http("POST", f"/api/jobs/{job['id']}/start")

    pending = _page(http)["resources"]
    assert [(item["resource_type"], item["status"]) for item in pending] == [
        ("workspace", "pending"),
        ("dask", "pending"),
        ("deployment", "pending"),
        ("job", "pending"),
    ], "in creation order"
    _wait()
    listed = _page(http)["resources"]
    assert [item["status"] for item in listed] == ["running"] * 4
    for item in listed:
        assert item == _ok(http("GET", f"/api/{GET_PATHS[item['resource_type']]}/{item['id']}"))
    assert listed[0]["tags"] == {"team": "data"} and listed[0]["dask_cluster"]["status"] == "running"


def test_resources_leave_the_list_when_they_stop_fail_end_or_go(http, emulator, control) -> None:
    seeded = control(
        "/_emulator/seed", {"groups": [{"kind": kind, "count": 2, "start": True} for kind in MODELS_KINDS]}
    )
    ids = {group["kind"]: group["ids"] for group in seeded["groups"]}
    assert len(_scan(http)) == 8
    http("POST", f"/api/workspaces/{ids['workspace'][0]}/stop")
    http("POST", f"/api/dask_clusters/{ids['dask_cluster'][0]}/stop")
    emulator.fail("deployment", ids["deployment"][0], "Crash loop")
    http("POST", f"/api/jobs/{ids['job'][0]}/stop")
    http("DELETE", f"/api/workspaces/{ids['workspace'][1]}", params={"allow_active": "true"})
    remaining = _scan(http)
    assert sorted(_ids(remaining)) == sorted([ids["dask_cluster"][1], ids["deployment"][1], ids["job"][1]])
    cluster_workspace = seeded["groups"][1]["workspace_ids"][1]
    http("POST", f"/api/workspaces/{cluster_workspace}/stop")
    assert sorted(_ids(_scan(http))) == sorted([ids["deployment"][1], ids["job"][1]]), "stops its cluster too"


def test_a_job_leaves_the_list_when_its_run_ends(http) -> None:
    job = _ok(http("POST", "/api/jobs", json={"name": "quick", "command": "echo done"}), 201)
    http("POST", f"/api/jobs/{job['id']}/start")
    assert [item["status"] for item in _page(http, resource_type="job")["resources"]] == ["pending"]
    time.sleep(2 * TRANSITION + 0.1)  # pending, then a run with no sleep lasts transition_seconds
    assert _ok(http("GET", f"/api/jobs/{job['id']}"))["status"] == "completed"
    assert _page(http)["resources"] == []
    http("POST", f"/api/jobs/{job['id']}/start")
    assert _ids(_page(http)["resources"]) == [job["id"]], "a new run makes it active again"


def test_list_by_owner_org_and_account_and_the_id_filters(http, control) -> None:
    groups = [
        {"kind": "workspace", "count": 2, "start": True},  # the token's own: emulator/airflow
        {"kind": "deployment", "count": 2, "start": True, "owner": "emulator/carol"},
        {"kind": "job", "count": 2, "start": True, "owner": "acme/bob"},
        {"kind": "dask_cluster", "count": 2, "start": True, "owner": {"name": "acme/data", "identity_type": "group"}},
    ]
    seeded = control("/_emulator/seed", {"groups": groups})["groups"]
    own, carol, bob, data = (group["ids"] for group in seeded)

    assert _ids(_scan(http)) == own
    assert _ids(_scan(http, list_by="owner")) == own
    assert _ids(_scan(http, list_by="org")) == own + carol
    everything = _scan(http, list_by="account")
    assert _ids(everything) == own + carol + bob + data
    owners = {item["id"]: item["owner"] for item in everything}
    assert owners[own[0]]["name"] == "emulator/airflow" and owners[own[0]]["org_admin"] is True
    assert (owners[carol[0]]["name"], owners[carol[0]]["org_name"], owners[carol[0]]["org_admin"]) == (
        "emulator/carol",
        "emulator",
        False,
    )
    assert owners[carol[0]]["org_id"] == owners[own[0]]["org_id"]
    bob_owner, data_owner = owners[bob[0]], owners[data[0]]
    assert bob_owner["org_name"] == "acme" and bob_owner["org_id"] != owners[own[0]]["org_id"]
    assert (data_owner["identity_type"], data_owner["user_id"], data_owner["group_id"]) == (
        "group",
        None,
        data_owner["id"],
    )

    assert _ids(_scan(http, list_by="account", org_id=bob_owner["org_id"])) == bob + data
    assert _ids(_scan(http, list_by="account", user_id=bob_owner["user_id"])) == bob
    assert _ids(_scan(http, list_by="account", group_id=data_owner["group_id"])) == data
    assert _ids(_scan(http, list_by="org", user_id=owners[carol[0]]["user_id"])) == carol
    assert _scan(http, list_by="org", org_id=bob_owner["org_id"]) == [], "another org is not in this org's list"
    assert _scan(http, list_by="owner", user_id=bob_owner["user_id"]) == []
    assert http("GET", "/api/active/resources", params={"list_by": "everyone"}).status_code == 422


def test_a_token_that_is_not_an_org_admin_lists_its_own_and_is_refused_the_rest(viewer_emulator) -> None:
    saturn = viewer_emulator
    with saturn.state.lock:
        saturn.state.reset()
    mine = saturn.seed(kind="workspace", count=2, start=True, owner="emulator/viewer")["ids"]
    saturn.seed(kind="workspace", count=3, start=True, prefix="admins")
    viewer = _session(VIEWER_TOKEN)
    answer = viewer.get(saturn.url + "/api/active/resources", timeout=10)
    assert answer.status_code == 200
    listed = answer.json()["resources"]
    assert _ids(listed) == mine
    assert (listed[0]["owner"]["name"], listed[0]["owner"]["org_admin"]) == ("emulator/viewer", False)
    for level in ("org", "account"):
        refused = viewer.get(saturn.url + "/api/active/resources", params={"list_by": level}, timeout=10)
        assert refused.status_code == 403
        assert refused.json() == {
            "message": f"list_by={level} requires elevated permissions: emulator/viewer is not an admin of its org"
        }
    admin = _session(TOKEN).get(saturn.url + "/api/active/resources", params={"list_by": "org"}, timeout=10)
    assert len(admin.json()["resources"]) == 5
    assert _session("nobody").get(saturn.url + "/api/active/resources", timeout=10).status_code == 401


def test_the_command_line_and_the_constructor_take_more_tokens() -> None:
    from airflow_provider_saturn.emulator.__main__ import parse_args, user_tokens

    args = parse_args(["--user-token", "v1=emulator/viewer", "--user-token", "v2=acme/bob"])
    assert user_tokens(args.user_token) == {"v1": "emulator/viewer", "v2": "acme/bob"}
    with pytest.raises(SystemExit):
        user_tokens(["no-owner"])
    for tokens in ({"x": "Not A Path"}, {TOKEN: "emulator/viewer"}, {"x": {"name": "acme/a", "org_admin": "yes"}}):
        with pytest.raises(ValueError):
            SaturnEmulator(token=TOKEN, tokens=tokens)
    admin = {"acme-admin": {"name": "acme/root", "org_admin": True}}
    with SaturnEmulator(token=TOKEN, transition_seconds=TRANSITION, tokens=admin) as saturn:
        saturn.seed(groups=[{"count": 1, "start": True}, {"count": 2, "start": True, "owner": "acme/bob"}])
        acme_admin = _session("acme-admin")
        org = acme_admin.get(saturn.url + "/api/active/resources", params={"list_by": "org"}, timeout=10).json()
        assert [item["owner"]["name"] for item in org["resources"]] == ["acme/bob", "acme/bob"]
        everyone = acme_admin.get(saturn.url + "/api/active/resources", params={"list_by": "account"}, timeout=10)
        assert len(everyone.json()["resources"]) == 3


def test_pages_of_up_to_1000_in_a_stable_order_with_keys_both_ways(http, control) -> None:
    kinds = ("workspace", "deployment", "job", "dask_cluster")
    seeded = control("/_emulator/seed", {"groups": [{"kind": kind, "count": 625, "start": True} for kind in kinds]})
    expected = seeded["ids"]
    assert len(expected) == 2500

    first = _page(http, page_size=1000)
    second = _page(http, page_size=1000, next_key=first["next_key"])
    third = _page(http, page_size=1000, next_key=second["next_key"])
    assert [len(page["resources"]) for page in (first, second, third)] == [1000, 1000, 500]
    assert first["prev_key"] is None and third["next_key"] is None
    assert _ids(first["resources"] + second["resources"] + third["resources"]) == expected
    assert _ids(_page(http, page_size=1000, prev_key=third["prev_key"])["resources"]) == _ids(second["resources"])
    back = _page(http, page_size=1000, prev_key=second["prev_key"])
    assert _ids(back["resources"]) == _ids(first["resources"])
    assert back["prev_key"] is None and back["next_key"] == first["next_key"]
    assert _ids(_page(http, page_size=1000, next_key=first["next_key"])["resources"]) == _ids(second["resources"])

    small = _scan(http, page_size=37)
    assert _ids(small) == expected
    for page_size in (0, 1001, "many"):
        assert http("GET", "/api/active/resources", params={"page_size": page_size}).status_code == 422
    assert http("GET", "/api/active/resources", params={"next_key": "not a key"}).status_code == 422
    both = http("GET", "/api/active/resources", params={"next_key": "1", "prev_key": "2"})
    assert both.status_code == 422


def test_resource_type_narrows_to_one_kind(http, control) -> None:
    groups = [{"kind": kind, "count": 3, "start": True} for kind in MODELS_KINDS]
    seeded = {group["kind"]: group["ids"] for group in control("/_emulator/seed", {"groups": groups})["groups"]}
    for resource_type, kind in (("workspace", "workspace"), ("dask", "dask_cluster"), ("deployment", "deployment")):
        listed = _scan(http, resource_type=resource_type, page_size=2)
        assert _ids(listed) == seeded[kind]
        assert {item["resource_type"] for item in listed} == {resource_type}
    jobs = _scan(http, resource_type="job")
    assert _ids(jobs) == seeded["job"] and {item["status"] for item in jobs} <= {"pending", "running"}
    assert http("GET", "/api/active/resources", params={"resource_type": "robot"}).status_code == 422


def test_tags_are_kept_and_shown_on_every_kind(http, control) -> None:
    workspace = _ok(
        http("POST", "/api/workspaces", json={"name": "tagged", "tags": {"team": "data", "env": "dev"}}), 201
    )
    assert workspace["tags"] == {"team": "data", "env": "dev"}
    patched = _ok(http("PATCH", f"/api/workspaces/{workspace['id']}", json={"tags": {"team": "ml"}}))
    assert patched["tags"] == {"team": "ml"} and patched["require_restart"] is False
    cluster_body = {"resource": {"workspace_id": workspace["id"]}, "tags": {"cost-center": "42"}}
    cluster = _ok(http("POST", "/api/dask_clusters", json=cluster_body), 201)
    assert cluster["tags"] == {"cost-center": "42"}
    assert _ok(http("GET", f"/api/workspaces/{workspace['id']}"))["dask_cluster"]["tags"] == {"cost-center": "42"}
    job = _ok(http("POST", "/api/jobs", json={"name": "j", "command": "echo", "tags": {"team": "etl"}}), 201)
    assert job["tags"] == {"team": "etl"}
    deployment = _ok(http("POST", "/api/deployments", json={"name": "d", "command": "x", "tags": {"a": "b"}}), 201)
    assert deployment["tags"] == {"a": "b"}
    for bad in ({"name": "bad", "tags": {"n": 1}}, {"name": "bad", "tags": ["x"]}):
        assert http("POST", "/api/workspaces", json=bad).status_code == 422
    bad_cluster = http("POST", "/api/dask_clusters", json={"resource": {"workspace_id": "x"}, "tags": {"n": 1}})
    assert bad_cluster.status_code == 422 and bad_cluster.json()["message"].startswith("tags:")

    groups = [{"kind": kind, "count": 1, "start": True, "tags": {"owner": kind}} for kind in MODELS_KINDS]
    control("/_emulator/seed", {"groups": groups})
    assert [item["tags"] for item in _scan(http)] == [{"owner": kind} for kind in MODELS_KINDS]


def test_seed_makes_many_resources_of_mixed_kinds_started_long_ago(http, control) -> None:
    started = time.time()
    answer = control(
        "/_emulator/seed",
        {
            "groups": [
                {"kind": "workspace", "count": 250, "started_ago_seconds": 7200, "instance_size": "xlarge"},
                {"kind": "dask_cluster", "count": 250, "started_ago_seconds": 7200, "n_workers": 3},
                {"kind": "deployment", "count": 250, "started_ago_seconds": 7200, "scale": 2},
                {"kind": "job", "count": 250, "started_ago_seconds": 7200, "owner": "acme/bob"},
            ]
        },
    )
    elapsed = time.time() - started
    print(f"\nseeding 1,000 active resources of mixed kinds over HTTP: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0
    assert [(group["kind"], len(group["ids"])) for group in answer["groups"]] == [
        ("workspace", 250),
        ("dask_cluster", 250),
        ("deployment", 250),
        ("job", 250),
    ]
    assert len(answer["ids"]) == len(set(answer["ids"])) == 1000
    assert len(answer["groups"][1]["workspace_ids"]) == 250

    listed = {item["id"]: item for item in _scan(http, list_by="account", page_size=1000)}
    assert set(listed) == set(answer["ids"]), "every seeded resource is active"
    assert {item["status"] for item in listed.values()} == {"running"}, "started long enough ago to run"
    workspace, cluster, deployment, job = (listed[group["ids"][0]] for group in answer["groups"])

    def two_hours_ago(stamp: str) -> bool:
        """The stamp is two hours before the seed, give or take the seconds the test took."""
        moment = datetime.fromisoformat(stamp).timestamp()
        return abs(moment - (started - 7200)) < 5

    assert two_hours_ago(workspace["started_at"]) and workspace["instance_size"] == "xlarge"
    assert workspace["name"] == "seeded-000000"
    assert two_hours_ago(deployment["last_deploy"]) and deployment["running_count"] == 2
    assert two_hours_ago(job["last_deploy"]) and job["owner"]["name"] == "acme/bob"
    assert "started_at" not in cluster and cluster["n_workers"] == 3
    parent = _ok(http("GET", f"/api/workspaces/{answer['groups'][1]['workspace_ids'][0]}"))
    assert (parent["status"], parent["dask_cluster"]["id"]) == ("stopped", cluster["id"])

    again = control("/_emulator/seed", {"count": 2})
    names = [_ok(http("GET", f"/api/workspaces/{wid}"))["name"] for wid in again["ids"]]
    assert names == ["seeded-000250", "seeded-000251"], "a second seed continues the numbering"
    assert _ok(http("GET", f"/api/workspaces/{again['ids'][0]}"))["status"] == "stopped"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "robot"}, "kind"),
        ({"count": -1}, "count"),
        ({"count": 20_001}, "count"),
        ({"started_ago_seconds": -5}, "started_ago_seconds"),
        ({"started_ago_seconds": 60, "start": False}, "started_ago_seconds"),
        ({"owner": "Not A Path"}, "owner"),
        ({"owner": {"name": "acme/x", "identity_type": "robot"}}, "owner.identity_type"),
        ({"tags": {"a": 1}}, "tags"),
        ({"kind": "workspace", "scale": 2}, "scale"),
        ({"kind": "job", "command": "sleep soon"}, "command"),
        ({"kind": "dask_cluster", "n_workers": -1}, "n_workers"),
        ({"groups": [{"kind": "job"}, {"kind": "robot"}]}, "groups[1].kind"),
        ({"groups": {"kind": "job"}}, "groups"),
    ],
)
def test_bad_seed_bodies_are_422_naming_the_field(emulator, control, body, field) -> None:
    answer = control("/_emulator/seed", body, 422)
    assert answer["message"].startswith(f"{field}:"), answer
    assert emulator.state.workspaces == {} and emulator.state.jobs.records == {}


def test_a_seed_whose_names_are_taken_makes_nothing(http, emulator, control) -> None:
    _ok(http("POST", "/api/jobs", json={"name": "seeded-job-000001", "command": "echo"}), 201)
    answer = control("/_emulator/seed", {"groups": [{"count": 5}, {"kind": "job", "count": 3}]}, 409)
    assert "seeded-job-000001" in answer["message"]
    assert emulator.state.workspaces == {} and len(emulator.state.jobs.records) == 1


def test_backdate_moves_the_start_of_an_active_resource(http, emulator, control) -> None:
    workspace = _ok(http("POST", "/api/workspaces", json={"name": "ws"}), 201)
    assert control("/_emulator/backdate", {"kind": "workspace", "id": workspace["id"], "seconds": 60}, 409)
    http("POST", f"/api/workspaces/{workspace['id']}/start")
    control("/_emulator/backdate", {"kind": "workspace", "id": workspace["id"], "seconds": 3600})
    moved = _ok(http("GET", f"/api/workspaces/{workspace['id']}"))
    assert moved["status"] == "running", "started an hour ago: long past pending"
    assert moved["started_at"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 3600)))
    job = _ok(http("POST", "/api/jobs", json={"name": "j", "command": "sleep 600"}), 201)
    http("POST", f"/api/jobs/{job['id']}/start")
    emulator.backdate("job", job["id"], 300)
    assert _ok(http("GET", f"/api/jobs/{job['id']}"))["status"] == "running"
    emulator.backdate("job", job["id"], 900)
    assert _ok(http("GET", f"/api/jobs/{job['id']}"))["status"] == "completed", "its script ran out"
    control("/_emulator/backdate", {"kind": "job", "id": "0" * 32, "seconds": 1}, 404)
    control("/_emulator/backdate", {"kind": "job", "id": job["id"], "seconds": -1}, 422)


async def test_saturn_api_client_lists_active_resources(emulator) -> None:
    emulator.seed(groups=[{"kind": kind, "count": 2, "start": True} for kind in MODELS_KINDS])
    async with ApiClient(Configuration(host=emulator.url, access_token=TOKEN)) as api:
        active = ActiveApi(api)
        first = await active.list_resources(list_by="account", page_size=5)
        rest = await active.list_resources(list_by="account", page_size=5, next_key=first.next_key)
        kinds = [item.root.resource_type for item in first.resources + rest.resources]
        assert kinds == ["workspace"] * 2 + ["dask"] * 2 + ["deployment"] * 2 + ["job"] * 2
        assert rest.next_key is None
        dask_only = await active.list_resources(resource_type=ResourceType.DASK)
        assert [item.root.resource_type for item in dask_only.resources] == ["dask", "dask"]


def test_a_scan_of_5000_active_resources_is_quick(http, emulator) -> None:
    started = time.perf_counter()
    emulator.seed(groups=[{"kind": kind, "count": 1250, "started_ago_seconds": 3600} for kind in MODELS_KINDS])
    seeded = time.perf_counter() - started
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        pages, count, key = 0, 0, None
        for _ in range(10):
            params = {"list_by": "account", "page_size": 1000, **({"next_key": key} if key else {})}
            body = _ok(http("GET", "/api/active/resources", params=params))
            pages, count, key = pages + 1, count + len(body["resources"]), body["next_key"]
            if key is None:
                break
        timings.append(time.perf_counter() - started)
        assert (pages, count) == (5, 5000)
    print(
        f"\nseeded 5,000 active resources in {seeded * 1000:.0f} ms; a full scan at page_size=1000 (5 requests):"
        f" {', '.join(f'{timing * 1000:.0f} ms' for timing in timings)}"
    )
    assert min(timings) < 5.0, "a loose bound: only a quadratic walk would come near it"
