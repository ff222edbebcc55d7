"""Both clients against a server that misbehaves: status codes x bodies x redirects x slow answers x paging.

Whatever comes back, every failure is a ``SaturnError`` (never a raw ``TypeError``, ``requests`` or ``httpx``
exception), and every call ends within the bounds it was given: attempts x timeout, plus the backoff.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_saturn.client import (
    AsyncSaturnClient,
    RetryPolicy,
    SaturnAPIError,
    SaturnAuthError,
    SaturnClient,
    SaturnError,
    SaturnNotFoundError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.credentials import resolve_credentials
from airflow_provider_saturn.client.errors import (
    SaturnBadResponseError,
    SaturnPagingError,
    SaturnRedirectError,
)
from airflow_provider_saturn.client.paging import PageLimits
from tests.misbehaving_server import Answer, MisbehavingServer, elapsed, misbehaving_server

TOKEN = "hostile-test-token-5c1d9e7a"
ID = "a" * 32
RUN = "job-aaaaaaaaaaaa-0001-abcdef"
TIMEOUT = 1.0
POLICY = RetryPolicy(max_attempts=2, max_total_seconds=5, initial_wait=0.0, max_wait=0.05)
LIMITS = PageLimits(max_pages=20, max_seconds=5)
# The longest any call may take: every attempt (a create also looks for what a lost attempt made) to its
# timeout, the backoff between them, and slack for a slow machine.
BOUND = 2 * POLICY.max_attempts * (TIMEOUT + POLICY.max_wait) + 1.5

WORKSPACE = {"id": ID, "name": "p", "status": "running", "dask_cluster": {"id": "b" * 32, "status": "running"}}

SYNC_CALLS: dict[str, Callable[[SaturnClient], Any]] = {
    "get_status": lambda c: c.get_status(),
    "options": lambda c: c.options,
    "list_projects": lambda c: c.list_projects(),
    "find_project_by_name": lambda c: c.find_project_by_name("p"),
    "get_project": lambda c: c.get_project(ID),
    "create_project": lambda c: c.create_project("p"),
    "update_project": lambda c: c.update_project(ID, description="d"),
    "delete_project": lambda c: c.delete_project(ID),
    "get_jupyter_server": lambda c: c.get_jupyter_server(ID),
    "start_jupyter_server": lambda c: c.start_jupyter_server(ID),
    "stop_jupyter_server": lambda c: c.stop_jupyter_server(ID),
    "get_dask_cluster": lambda c: c.get_dask_cluster(ID),
    "start_dask_cluster": lambda c: c.start_dask_cluster(ID),
    "stop_dask_cluster": lambda c: c.stop_dask_cluster(ID),
    "create_dask_cluster": lambda c: c.create_dask_cluster(ID),
    "find_job_by_name": lambda c: c.find_job_by_name("j"),
    "create_job": lambda c: c.create_job("j", "echo one"),
    "update_job": lambda c: c.update_job(ID, command="echo two"),
    "list_job_runs": lambda c: c.list_job_runs(ID),
    "get_job_run": lambda c: c.get_job_run(ID, RUN),
    "start_job": lambda c: c.start_job(ID),
    "stop_job_run": lambda c: c.stop_job_run(ID, RUN),
    "job_logs": lambda c: list(c.job_logs(ID, RUN)),
}
ASYNC_CALLS: dict[str, Callable[[AsyncSaturnClient], Any]] = {
    "async get jupyter_server": lambda c: c.get_resource("jupyter_server", ID),
    "async stop jupyter_server": lambda c: c.stop_resource("jupyter_server", ID),
    "async get dask_cluster": lambda c: c.get_resource("dask_cluster", ID),
    "async stop dask_cluster": lambda c: c.stop_resource("dask_cluster", ID),
}
CALLS = [*SYNC_CALLS, *ASYNC_CALLS]

ODD_BODIES = {
    "empty": Answer(body=b""),
    "whitespace": Answer(body=b"  \n"),
    "null": Answer.json(None),
    "list": Answer.json([]),
    "string": Answer.json("ok"),
    "number": Answer.json(7),
    "boolean": Answer.json(True),
    "html": Answer(headers={"Content-Type": "text/html"}, body=b"<html><body>Sign in</body></html>"),
    "invalid json": Answer(body=b'{"id": '),
    "deeply nested": Answer(body=b"[" * 100_000 + b"]" * 100_000),
    "bad gzip": Answer(headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, body=b"\x1f\x8bnot"),
    "cut short": Answer(body=json.dumps(WORKSPACE).encode(), content_length=4096),
    "object without id": Answer.json({"status": "running", "environment_variables": {"SECRET": "s3cr3t"}}),
    "id of the wrong type": Answer.json({"id": 5, "status": ["running"], "workspaces": "abc"}),
    "not utf-8": Answer(body=b'{"id": "\xff\xfe"}'),
}
STATUS_CODES = [100, 199, 202, 204, 300, 304, 305, 400, 401, 403, 404, 405, 408, 409, 410, 413, 418, 422, 429, 500]
STATUS_CODES += [501, 502, 503, 504, 505, 520, 599, 600, 999]


@pytest.fixture(scope="module")
def module_server() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as server:
        yield server


@pytest.fixture
def server(module_server: MisbehavingServer) -> MisbehavingServer:
    module_server.requests.clear()
    module_server.answer_always(Answer.json(WORKSPACE))
    return module_server


def sync_client(url: str) -> SaturnClient:
    return SaturnClient(url=url, api_token=TOKEN, timeout=TIMEOUT, retry=POLICY, page_limits=LIMITS)


def run_call(name: str, url: str) -> tuple[float, Any]:
    """Run one client operation against ``url``: seconds taken, and its result or the exception raised."""
    if name in SYNC_CALLS:
        with sync_client(url) as client:
            return elapsed(lambda: SYNC_CALLS[name](client))

    async def call_async() -> Any:
        client = AsyncSaturnClient(resolve_credentials(url, TOKEN), timeout=TIMEOUT, retry=POLICY)
        try:
            return await ASYNC_CALLS[name](client)
        finally:
            await client.aclose()

    return elapsed(lambda: asyncio.run(call_async()))


def assert_contained(name: str, took: float, result: Any) -> None:
    """Any failure is a SaturnError that names no token; the call ended within its bound."""
    if isinstance(result, BaseException):
        assert isinstance(result, SaturnError), f"{name} let {type(result).__name__} escape: {result!r}"
        assert TOKEN not in str(result)
        assert "s3cr3t" not in str(result), "a value from the body leaked into the error"
    assert took < BOUND, f"{name} took {took:.1f}s, more than {BOUND:.1f}s"


@pytest.mark.parametrize("body", list(ODD_BODIES))
@pytest.mark.parametrize("call", CALLS)
def test_odd_bodies_are_saturn_errors_within_bounds(server: MisbehavingServer, call: str, body: str) -> None:
    server.answer_always(ODD_BODIES[body])
    took, result = run_call(call, server.url)
    assert_contained(call, took, result)
    if call == "delete_project":
        return  # a delete expects no body: whatever a complete 200 carries, it is done
    if call in ("get_status", "options") and body in ("object without id", "id of the wrong type"):
        return  # any object will do for these two
    assert isinstance(result, SaturnError), f"{call} took {body!r} for an answer: {result!r}"


@pytest.mark.parametrize("call", ["get_project", "list_projects", "async get jupyter_server"])
def test_a_body_that_is_not_an_object_is_retried_as_transient(server: MisbehavingServer, call: str) -> None:
    server.answer_always(Answer(body=b""))
    _, result = run_call(call, server.url)
    assert isinstance(result, SaturnBadResponseError)
    assert isinstance(result, SaturnTransientError), "a proxy's empty page is retried, and polled through"
    assert "an empty body where a JSON object was expected" in str(result)
    assert len(server.requests) == POLICY.max_attempts


def test_one_odd_answer_then_a_good_one_succeeds(server: MisbehavingServer) -> None:
    server.answer_in_turn(Answer(body=b""), Answer.json(WORKSPACE))
    with sync_client(server.url) as client:
        assert client.get_jupyter_server(ID)["status"] == "running"
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", STATUS_CODES)
@pytest.mark.parametrize("call", CALLS)
def test_every_status_code_is_a_saturn_error_or_an_answer(server: MisbehavingServer, call: str, status: int) -> None:
    body = b"" if status in (204, 304) or status < 200 else json.dumps({"message": f"status {status}"}).encode()
    server.answer_always(Answer(status=status, reason="Whatever", body=body))
    took, result = run_call(call, server.url)
    assert_contained(call, took, result)
    if status < 200:
        return  # informational: the HTTP stacks wait for a final answer that never comes
    if status < 300:
        if call not in ("delete_project", "get_status", "options"):
            assert isinstance(result, SaturnBadResponseError), "a success without the promised object"
        return
    assert isinstance(result, SaturnAPIError), f"{call} took HTTP {status} for an answer: {result!r}"
    assert result.status_code == status


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 501])
def test_final_errors_are_not_retried(server: MisbehavingServer, status: int) -> None:
    server.answer_always(Answer.json({"message": "no"}, status=status))
    _, result = run_call("get_project", server.url)
    assert isinstance(result, SaturnAPIError) and not isinstance(result, SaturnTransientError)
    assert isinstance(result, SaturnAuthError) == (status in (401, 403))
    assert isinstance(result, SaturnNotFoundError) == (status == 404)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 520])
def test_transient_errors_are_retried_then_reported(server: MisbehavingServer, status: int) -> None:
    server.answer_always(Answer.json({"message": "later"}, status=status, headers={"Retry-After": "nan"}))
    _, result = run_call("get_project", server.url)
    assert isinstance(result, SaturnTransientError)
    assert result.status_code == status
    assert len(server.requests) == POLICY.max_attempts


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("call", ["create_project", "stop_jupyter_server", "get_project", "async stop jupyter_server"])
def test_a_redirect_is_a_configuration_error_and_never_followed(server: MisbehavingServer, call: str, status: int):
    with misbehaving_server() as elsewhere:
        location = f"{elsewhere.url}/api/workspaces?token=leaked#x"
        server.answer_always(Answer(status=status, reason="Moved", headers={"Location": location}))
        took, result = run_call(call, server.url)
        assert_contained(call, took, result)
        assert isinstance(result, SaturnRedirectError)
        assert f"redirect to {elsewhere.url}/api/workspaces:" in str(result)
        assert "http vs https" in str(result)
        assert "leaked" not in str(result), "the query of the Location is not repeated"
        assert elsewhere.requests == [], "the token never went to the other origin"
        assert len(server.requests) == 1, "a redirect is final, not retried"


def test_a_redirect_loop_and_a_redirect_without_location(server: MisbehavingServer) -> None:
    server.answer_always(Answer(status=302, headers={"Location": server.url + "/api/status"}))
    _, result = run_call("get_status", server.url)
    assert isinstance(result, SaturnRedirectError) and len(server.requests) == 1
    server.answer_always(Answer(status=301))
    _, result = run_call("async get dask_cluster", server.url)
    assert isinstance(result, SaturnRedirectError)
    assert "nowhere (no Location header)" in str(result)


# ------------------------------------------------------------------ slow answers


SLOW_ANSWERS = {
    "body one byte every 0.3 s": Answer(body=json.dumps(WORKSPACE).encode(), drip_seconds=0.3),
    "head one byte every 0.3 s": Answer(body=b"{}", drip_seconds=0.3, drip_headers=True),
    "silent after the request": Answer(hang=True),
}


@pytest.mark.parametrize("answer", list(SLOW_ANSWERS))
@pytest.mark.parametrize("call", ["get_project", "list_projects", "delete_project", "async get jupyter_server"])
def test_the_timeout_bounds_each_whole_attempt(server: MisbehavingServer, call: str, answer: str) -> None:
    server.answer_always(SLOW_ANSWERS[answer])
    took, result = run_call(call, server.url)
    assert isinstance(result, SaturnTransientError), repr(result)
    assert f"within the request timeout of {TIMEOUT:g}s" in str(result)
    attempts = POLICY.max_attempts
    assert took < attempts * (TIMEOUT + POLICY.max_wait) + 1.0, f"{took:.1f}s for {attempts} attempts"
    assert len(server.requests) == attempts


def test_a_slow_but_steady_answer_within_the_timeout_succeeds(server: MisbehavingServer) -> None:
    server.answer_always(Answer(body=b'{"status": "ok", "version": "x"}', drip_seconds=0.01))
    with sync_client(server.url) as client:
        assert client.get_status()["status"] == "ok"


# ------------------------------------------------------------------ paging


def page(items: list[Any], next_key: Any) -> Answer:
    return Answer.json({"workspaces": items, "next_key": next_key, "prev_key": None})


@pytest.mark.parametrize("call", ["list_projects", "find_project_by_name", "create_project"])
def test_a_repeated_page_key_ends_the_listing(server: MisbehavingServer, call: str) -> None:
    server.answer_always(page([{"id": "c" * 32, "name": "other"}], "same-key"))
    took, result = run_call(call, server.url)
    assert_contained(call, took, result)
    assert isinstance(result, SaturnPagingError)
    assert "page key 'same-key' came back a second time" in str(result)
    assert len(server.requests) <= 4  # create: the POST, then the search for what it may have made


def test_endless_new_page_keys_stop_at_the_page_limit(server: MisbehavingServer) -> None:
    keys = iter(range(10_000))
    server.respond = lambda seen: page([], f"key-{next(keys)}")
    _, result = run_call("list_projects", server.url)
    assert isinstance(result, SaturnPagingError)
    assert f"went past {LIMITS.max_pages} pages" in str(result)
    assert len(server.requests) == LIMITS.max_pages


def test_a_slow_endless_listing_stops_at_the_time_limit(server: MisbehavingServer) -> None:
    keys = iter(range(10_000))
    server.respond = lambda seen: Answer(
        body=json.dumps({"workspaces": [], "next_key": f"k{next(keys)}"}).encode(), drip_seconds=0.002
    )
    with SaturnClient(
        url=server.url, api_token=TOKEN, retry=POLICY, page_limits=PageLimits(max_pages=10_000, max_seconds=1)
    ) as client:
        took, result = elapsed(client.list_projects)
    assert isinstance(result, SaturnPagingError) and "took longer than 1s" in str(result)
    assert took < 3


@pytest.mark.parametrize(
    "odd_page",
    [
        {"workspaces": "abc", "next_key": None},
        {"workspaces": [1, 2], "next_key": None},
        {"workspaces": [None], "next_key": None},
        {"workspaces": [], "next_key": {"k": 1}},
        {"workspaces": [{"name": "no id"}], "next_key": None},
    ],
)
def test_a_page_of_the_wrong_shape_is_a_bad_response(server: MisbehavingServer, odd_page: dict[str, Any]) -> None:
    server.answer_always(Answer.json(odd_page))
    _, result = run_call("list_projects", server.url)
    assert isinstance(result, SaturnBadResponseError), repr(result)


def test_pages_are_followed_to_the_end(server: MisbehavingServer) -> None:
    server.answer_in_turn(page([{"id": "1" * 32, "name": "one"}], "k1"), page([{"id": "2" * 32, "name": "two"}], None))
    with sync_client(server.url) as client:
        assert [p["name"] for p in client.list_projects()] == ["one", "two"]
    assert "next_key=k1" in server.requests[1].path


def test_gzip_encoded_answers_are_read(server: MisbehavingServer) -> None:
    server.answer_always(
        Answer(
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            body=gzip.compress(json.dumps(WORKSPACE).encode()),
        )
    )
    with sync_client(server.url) as client:
        assert client.get_project(ID)["id"] == ID
