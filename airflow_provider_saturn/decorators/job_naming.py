"""The Saturn job of one ``@task.saturn`` task instance: its name and tags, from the DAG, task, run and map index.

One job per task instance (map index included), so that the runs of different DAG runs or mapped instances never
share a job, and every try of the same task instance finds its own. The name is ``af-<dag>-<task>-<hash>``:
lower-case letters, digits and hyphens (what Kubernetes names, and so Saturn's run and pod names, are made of),
at most ``MAX_NAME_LENGTH`` characters, the DAG and task ids shortened and the hash (of all four parts) keeping it
unique. The tags say whose job it is, for ``SaturnStopIdleResourcesOperator`` and for a human.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MAX_NAME_LENGTH = 55
PART_LENGTH = 20  # characters kept of the DAG id and of the task id
HASH_LENGTH = 10
TAG_KEYS = ("airflow_dag_id", "airflow_task_id", "airflow_run_id", "airflow_map_index")
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _NOT_NAME.sub("-", text.lower()).strip("-")[:PART_LENGTH].strip("-") or "x"


def function_job_name(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """The name of the job of one task instance (see the module)."""
    digest = hashlib.sha256("\0".join((dag_id, task_id, run_id, str(map_index))).encode()).hexdigest()
    return f"af-{_slug(dag_id)}-{_slug(task_id)}-{digest[:HASH_LENGTH]}"


def function_job_tags(dag_id: str, task_id: str, run_id: str, map_index: int) -> dict[str, str]:
    """The tags of the job of one task instance: whose it is."""
    return dict(zip(TAG_KEYS, (dag_id, task_id, run_id, str(map_index)), strict=True))


def is_task_instances_job(job: dict[str, Any], tags: dict[str, str]) -> bool:
    """Whether ``job`` carries the tags of this task instance (a job of the same name that does not is someone
    else's, and is never changed, run or deleted by it)."""
    found = job.get("tags")
    return isinstance(found, dict) and all(found.get(key) == value for key, value in tags.items())


def task_instance_parts(context: Any) -> tuple[str, str, str, int]:
    """``(dag_id, task_id, run_id, map_index)`` of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return (
        str(ti.dag_id),
        str(ti.task_id),
        str(context.get("run_id") or ti.run_id),
        map_index if isinstance(map_index, int) else -1,
    )
