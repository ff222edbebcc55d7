"""``exclude`` of the idle shutdown means what the user meant, before anything is stopped.

A rendered list (``"['a', 'b']"``, what a template makes of a list) is read as a list; names match as globs
(like ``name_pattern``) against names and ids; ``tag:key`` without ``=`` keeps whatever has that tag; an entry
that matches no resource is logged. Over real HTTP against the emulator.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from tests.conftest import requests_to
from tests.harness import run_operator

HOURS = 3600
WORKSPACE_STOP = "POST /api/workspaces/{id}/stop"


def idle_operator(**kwargs: Any) -> SaturnStopIdleResourcesOperator:
    options = {"idle_for": timedelta(hours=2), "dry_run": True, **kwargs}
    return SaturnStopIdleResourcesOperator(task_id="idle", **options)


def quiet(emulator: SaturnEmulator, prefix: str, **seed: Any) -> str:
    (workspace_id,) = emulator.seed(kind="workspace", prefix=prefix, started_ago_seconds=3 * HOURS, **seed)["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    return str(workspace_id)


def unmatched_warnings(logged: str) -> list[str]:
    """The task log's warnings about exclude entries that match nothing (the task log: stdout under Airflow 3's
    task runner, the logging system under 2.11)."""
    return [line for line in logged.splitlines() if "match no active resource" in line]


def actions(report: list[dict[str, Any]]) -> dict[str, str]:
    return {row["id"]: row["action"] for row in report}


@pytest.mark.parametrize(
    "exclude",
    [
        '["keep-000000", "other"]',
        "['keep-000000', 'other']",
        "  ['keep-*']  ",
        "keep-*",
    ],
    ids=["json-list", "python-list", "padded-glob-list", "glob"],
)
def test_rendered_lists_and_globs_keep_what_they_name(saturn_connection, exclude: str) -> None:
    emulator = saturn_connection
    kept, other = quiet(emulator, "keep"), quiet(emulator, "drop")
    report = actions(run_operator(idle_operator(exclude=exclude)))
    assert report == {kept: "excluded", other: "would stop"}, report


def test_a_glob_matches_ids_too(saturn_connection) -> None:
    emulator = saturn_connection
    kept, other = quiet(emulator, "keep"), quiet(emulator, "drop")
    report = actions(run_operator(idle_operator(exclude=[kept[:8] + "*"])))
    assert report == {kept: "excluded", other: "would stop"}, report


def test_a_tag_key_without_a_value_keeps_whatever_has_that_tag(saturn_connection) -> None:
    emulator = saturn_connection
    yes, no = quiet(emulator, "yes", tags={"keep": "yes"}), quiet(emulator, "no", tags={"keep": "no"})
    plain = quiet(emulator, "plain", tags={"team": "a"})
    report = actions(run_operator(idle_operator(exclude=["tag:keep"])))
    assert report == {yes: "excluded", no: "excluded", plain: "would stop"}, report
    report = actions(run_operator(idle_operator(exclude=["tag:keep=yes"])))
    assert report == {yes: "excluded", no: "would stop", plain: "would stop"}, report


@pytest.mark.parametrize(
    ("exclude", "words"),
    [
        ("['keep-000000'", "a list"),
        ("[1, 2]", "text"),
        ("[['a']]", "text"),
        ("['']", "empty"),
        ("[" + "[" * 5000 + "]" * 5000 + "]", "a list"),
        ("tag:", "tag"),
        ("tag:=yes", "tag"),
        ([""], "empty"),
        (5, "a text or a list"),
    ],
    ids=[
        "unclosed",
        "numbers",
        "nested",
        "empty-entry",
        "deep",
        "tag-nothing",
        "tag-no-key",
        "empty-in-list",
        "a-number",
    ],
)
def test_an_exclude_that_cannot_be_read_is_refused_before_any_stop(saturn_connection, exclude: Any, words: str) -> None:
    emulator = saturn_connection
    quiet(emulator, "keep")
    with pytest.raises(ValueError, match="exclude") as raised:
        run_operator(idle_operator(exclude=exclude, dry_run=False))
    assert words in str(raised.value), raised.value
    assert len(str(raised.value)) < 600, "the refusal is bounded"
    assert requests_to(emulator, WORKSPACE_STOP) == 0


def test_an_entry_that_matches_nothing_is_logged(saturn_connection, caplog, capsys) -> None:
    emulator = saturn_connection
    kept = quiet(emulator, "keep")
    with caplog.at_level(logging.WARNING):
        report = actions(run_operator(idle_operator(exclude=["keep-000000", "kep-000000", "tag:nope"])))
    (warning,) = unmatched_warnings(caplog.text) or unmatched_warnings(capsys.readouterr().out)
    assert report == {kept: "excluded"}
    assert "'kep-000000'" in warning and "'tag:nope'" in warning, warning
    assert "'keep-000000'" not in warning, "an entry that matched is not reported"


def test_an_entry_matching_only_an_unselected_resource_is_not_reported(saturn_connection, caplog, capsys) -> None:
    """A name outside ``name_pattern`` or ``kinds`` still names a resource: no typo."""
    emulator = saturn_connection
    quiet(emulator, "keep")
    other = quiet(emulator, "other")
    with caplog.at_level(logging.WARNING):
        report = actions(run_operator(idle_operator(exclude=["keep-000000"], name_pattern="other-*")))
    assert report == {other: "would stop"}
    assert unmatched_warnings(caplog.text + capsys.readouterr().out) == []
