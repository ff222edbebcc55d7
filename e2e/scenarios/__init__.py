"""The scenarios, in the order they run: one module each, with ``KEY``, ``TITLE`` and ``run(deployment, evidence)``.

``run`` checks its outcome against Saturn's own state and request counts (the emulator), not only against
Airflow's task states, and records what it saw in ``evidence``. ``QUICK`` is the subset of ``--quick``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from e2e.deployment import Deployment
from e2e.evidence import Evidence
from e2e.scenarios import (
    dask_worker_kill,
    example_dags,
    execution_timeout,
    job_reattach,
    mark_failed,
    saturn_outage,
    saturn_task_reattach,
    scale,
    scheduler_restart,
    triggerer_restart,
    worker_kill,
)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    run: Callable[[Deployment, Evidence], None]


def _scenario(module: ModuleType) -> Scenario:
    return Scenario(key=module.KEY, title=module.TITLE, run=module.run)


SCENARIOS = [
    _scenario(module)
    for module in (
        example_dags,
        worker_kill,
        triggerer_restart,
        mark_failed,
        execution_timeout,
        scheduler_restart,
        saturn_outage,
        job_reattach,
        saturn_task_reattach,
        dask_worker_kill,
    )
]
"""Every scenario of a full run, in order."""

SCALE = _scenario(scale)
"""The 500-sensor measurement (``--scale``): not part of a full run."""

QUICK = ("a", "c", "d")
"""``--quick``: the example DAGs, a triggerer restart and a user's mark-failed (the deferred path end to end)."""


def select(only: list[str] | None, quick: bool, scale_run: bool) -> list[Scenario]:
    """The scenarios to run, in order."""
    known = {scenario.key: scenario for scenario in [*SCENARIOS, SCALE]}
    if only:
        unknown = [key for key in only if key not in known]
        if unknown:
            raise ValueError(f"unknown scenarios {unknown}; known: {sorted(known)}")
        return [known[key] for key in only]
    chosen = [scenario for scenario in SCENARIOS if not quick or scenario.key in QUICK]
    return [*chosen, SCALE] if scale_run else chosen
