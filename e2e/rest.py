"""Airflow 3's public REST API (``/api/v2``), as the scenarios use it.

Authentication: the deployment runs the simple auth manager with every user an admin; Airflow 3 still wants a
JWT on every ``/api/v2`` request, which ``GET /auth/token`` hands out without credentials in that mode. A 401
(an expired token) fetches a new one once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from e2e.waiting import wait_for

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowAPI:
    """A client of one API server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=30)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------- plumbing

    def _login(self) -> None:
        response = self._http.get("/auth/token")
        response.raise_for_status()
        self._token = response.json()["access_token"]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One ``/api/v2`` request with the JWT; raises on an error status, returns the JSON (or None)."""
        if self._token is None:
            self._login()
        for attempt in range(2):
            response = self._http.request(
                method, f"/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"}, **kwargs
            )
            if response.status_code == 401 and attempt == 0:
                self._login()
                continue
            if response.is_error:
                raise httpx.HTTPStatusError(
                    f"{method} /api/v2{path}: {response.status_code} {response.text[:500]}",
                    request=response.request,
                    response=response,
                )
            return response.json() if response.content else None
        return None

    # ---------------------------------------------------------------- health and DAGs

    def health(self) -> dict[str, Any]:
        response = self._http.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def dag_ids(self) -> set[str]:
        dags = self.request("GET", "/dags", params={"limit": 1000})["dags"]
        return {dag["dag_id"] for dag in dags}

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/importErrors", params={"limit": 100})["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    # ---------------------------------------------------------------- DAG runs and task instances

    def trigger(
        self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None, *, logical_date: bool = False
    ) -> str:
        """Unpause the DAG and start a run of it now; returns the run id. Airflow 3 runs need no logical date;
        with ``logical_date`` the run gets now as its logical date, as a scheduled run would."""
        self.unpause(dag_id)
        when = datetime.now(UTC).isoformat() if logical_date else None
        body = {"dag_run_id": run_id, "logical_date": when, "conf": conf or {}}
        return str(self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})

    def unfinished_runs(self) -> list[tuple[str, str]]:
        """(DAG id, run id) of every queued or running DAG run, of any DAG."""
        found = self.request(
            "GET", "/dags/~/dagRuns", params=[("state", "queued"), ("state", "running"), ("limit", "100")]
        )
        return [(run["dag_id"], run["dag_run_id"]) for run in found["dag_runs"]]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run (mapped ones included), in pages."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": len(found)},
            )["task_instances"]
            found += page
            if len(page) < 100:
                return found

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Task id -> state, for a run without mapped tasks."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance, oldest first (``hostname`` says which worker ran it)."""
        found = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return sorted(found["task_instances"], key=lambda ti: ti["try_number"])

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> list[dict[str, Any]]:
        """What a user does with "Mark as failed/success" in the UI."""
        found = self.request(
            "PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": state}
        )
        return list(found.get("task_instances", [])) if isinstance(found, dict) else []

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """What a user does with "Clear" on a finished task in the UI: run it again."""
        found = self.request(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )
        return list(found.get("task_instances", [])) if isinstance(found, dict) else []

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The XCom value the task's latest try pushed under ``key``, as stored (JSON)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path)["value"]

    def jobs(self, job_type: str) -> list[dict[str, Any]]:
        """Jobs of one type (``SchedulerJob``, ``TriggererJob``), newest first."""
        found = self.request("GET", "/jobs", params={"job_type": job_type, "limit": 100, "order_by": "-id"})
        return list(found["jobs"])

    # ---------------------------------------------------------------- bounded waits

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once it is ``success`` or ``failed``; ``WaitTimeout`` (naming every task's state) if not."""

        def finished() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in TERMINAL_RUN_STATES else None

        return wait_for(
            finished,
            timeout=timeout,
            interval=1.0,
            what=f"DAG run {dag_id}/{run_id} to finish",
            describe=lambda: f"task states {self.task_states(dag_id, run_id)}",
        )

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float, *, try_number: int = 0
    ) -> dict[str, Any]:
        """The task instance once in one of ``states`` (and at ``try_number`` or later); bounded."""

        def reached() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id)
            return ti if ti["state"] in states and ti["try_number"] >= try_number else None

        def seen() -> str:
            ti = self.task_instance(dag_id, run_id, task_id)
            return f"it is {ti['state']} at try {ti['try_number']}"

        return wait_for(
            reached,
            timeout=timeout,
            interval=0.5,
            what=f"{dag_id}/{run_id}/{task_id} to be {sorted(states)}"
            + (f" at try {try_number}" if try_number else ""),
            describe=seen,
        )

    def wait_healthy(self, timeout: float, components: tuple[str, ...]) -> dict[str, Any]:
        """``/monitor/health`` once the metadatabase and each of ``components`` report healthy."""

        def healthy() -> dict[str, Any] | None:
            health = self.health()
            parts = ("metadatabase", *components)
            return health if all((health.get(part) or {}).get("status") == "healthy" for part in parts) else None

        def seen() -> str:
            try:
                return f"health {self.health()}"
            except Exception as error:
                return f"health unavailable: {error}"

        return wait_for(healthy, timeout=timeout, interval=1.0, what="Airflow to be healthy", describe=seen)
