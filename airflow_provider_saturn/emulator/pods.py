"""A pod as of one moment: what the active-pods, history and logs endpoints show of a job run or deployment."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "main-namespace"
CONTAINER = "main"
SIGTERM_EXIT_CODE = 143


@dataclass(frozen=True)
class Pod:
    """One pod, worked out for one moment (it does not change afterwards: work it out again to see it move).

    :param status: a ``PodStatus``: pending, running, stopping, stopped, completed or error.
    :param created: monotonic seconds when the pod was made (it is ``pending`` from then).
    :param container_started: when its ``main`` container started running, if it has.
    :param finished: when it ended, if it has.
    :param order: sorts pods in the order they were made, for listings and merged logs.
    """

    name: str
    uid: str
    controller_uid: str
    controller_kind: str
    labels: dict[str, str]
    status: str
    created: float
    container_started: float | None
    finished: float | None
    exit_code: int | None
    order: tuple[int, int]
