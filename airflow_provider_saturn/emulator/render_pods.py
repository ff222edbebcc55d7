"""Pods and their logs to JSON bodies that validate against the spec's ``PodRuntimeSummary``,
``ContainerRuntimeSummary``, ``PodHistory``, ``HistoricLogList`` and ``PodLogs`` schemas."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.emulator.lifecycle import Timing
from airflow_provider_saturn.emulator.logs import LogPage
from airflow_provider_saturn.emulator.pods import CONTAINER, NAMESPACE, Pod

NODE_NAME = "ip-10-0-0-1.emulator.internal"
CONTAINER_STATUS = {"pending": "waiting", "running": "running", "completed": "completed", "error": "error"}


def _stamp(timing: Timing, moment: float | None) -> str | None:
    return None if moment is None else timing.stamp(moment)


def _container_status(pod: Pod) -> str:
    if pod.status == "stopping":
        return "running" if pod.container_started is not None else "waiting"
    if pod.status == "stopped":
        return "error"
    return CONTAINER_STATUS[pod.status]


def container_json(pod: Pod, timing: Timing) -> dict[str, Any]:
    """The pod's one container, ``main``."""
    return {
        "name": CONTAINER,
        "namespace": NAMESPACE,
        "uid": pod.uid,
        "controller_uid": pod.uid,
        "controller_kind": "Pod",
        "labels": {},
        "annotations": {},
        "conditions": [],
        "started_at": _stamp(timing, pod.container_started),
        "deleted_at": None,
        "status": _container_status(pod),
        "finished_at": _stamp(timing, pod.finished),
        "restart_policy": "Never",
        "image_pulled": pod.container_started is not None,
        "exit_code": pod.exit_code,
        "reason": None,
        "previous": None,
    }


def pod_summary_json(pod: Pod, timing: Timing) -> dict[str, Any]:
    return {
        "name": pod.name,
        "namespace": NAMESPACE,
        "uid": pod.uid,
        "controller_uid": pod.controller_uid,
        "controller_kind": pod.controller_kind,
        "labels": dict(pod.labels),
        "annotations": {},
        "conditions": [],
        "started_at": timing.stamp(pod.created),
        "deleted_at": None,
        "status": pod.status,
        "init_container_summaries": [],
        "container_summaries": [container_json(pod, timing)],
        "node_name": NODE_NAME if pod.container_started is not None else None,
        "completed_at": _stamp(timing, pod.finished),
        "reason": None,
    }


def pod_history_json(pod: Pod, timing: Timing) -> dict[str, Any]:
    """A ``PodHistory``: ``last_seen`` is now for a live pod, else when it ended."""
    return {
        "pod_name": pod.name,
        "status": pod.status,
        "last_seen": timing.stamp(pod.finished if pod.finished is not None else timing.now()),
        "start_time": timing.stamp(pod.created),
        "label_job_name": pod.labels.get("job-name"),
    }


def log_page_json(page: LogPage, timing: Timing) -> dict[str, Any]:
    return {
        "logs": [
            {
                "timestamp": timing.stamp(line.at),
                "content": line.content,
                "pod_name": line.pod_name,
                "container_name": CONTAINER,
            }
            for line in page.lines
        ],
        "prev_key": page.prev_key,
        "next_key": page.next_key,
    }
