"""Scripted metrics: what a test says a resource's pods use, set with ``POST /_emulator/metrics``.

The body (``saturn.set_metrics`` takes the same fields)::

    {"kind": "workspace" | "dask_cluster" | "deployment" | "job", "id": "<resource id>",
     "series": {"cpu": VALUES, "memory": VALUES, ...},   # any of METRIC_TYPES
     "missing": ["gpu"] | true,                          # types with no series at all; true: every type
     "missing_pods": ["<pod name or role>", ...],        # pods with no series of any type
     "clock_offset_seconds": 600,                        # this Saturn's clock runs that far ahead (< 0: behind)
     "lookback_seconds": 300}                            # points after now, as a Prometheus range query gives

``VALUES`` is a number (the same at every point), a list of numbers (the points of the query window until
now, oldest first, stretched over however many points that is), or an object of those by pod: its keys are
pod names or roles (``scheduler``, ``worker``, ``worker-<n>`` for Dask; ``replica-<n>`` for a deployment's
pods) or ``"*"`` for every other pod. Units are the spec's: CPU and GPU in millicores, the rest in bytes.

``clock_offset_seconds`` plays a Saturn whose clock is off Airflow's: the resource's points are dated that
much later (earlier when negative), its "now" moves with them, and so does the ``Date`` header of its metrics
answers; at most ``MAX_CLOCK_OFFSET`` either way.

``lookback_seconds`` plays metrics served from Prometheus range queries: a step evaluated after the newest
sample still finds it within the lookback (Prometheus's default is 5 minutes), so the window's points go on
after now, up to that long and to the query's end, each repeating the value at now. Without it, points stop
at now.

A script replaces the resource's previous one; a body with only ``kind`` and ``id`` goes back to the
defaults (``metrics.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.emulator.lifecycle import EmulatorError

METRIC_TYPES = ("cpu", "memory", "network_in", "network_out", "gpu", "gpu_memory")
EVERY_OTHER_POD = "*"
MAX_SCRIPTED_POINTS = 10_000
MAX_CLOCK_OFFSET = 86_400.0
"""The most seconds a scripted clock runs ahead or behind."""
MAX_LOOKBACK = 86_400.0
"""The longest scripted lookback, in seconds."""
Number = int | float


@dataclass(frozen=True)
class Values:
    """A series' values: one number, or points stretched over the query window."""

    points: tuple[Number, ...]

    def at(self, index: int, count: int) -> Number:
        """The value at point ``index`` of a window of ``count`` points."""
        points = self.points
        if len(points) == 1:
            return points[0]
        return points[min(len(points) - 1, index * len(points) // count)]


PerPod = Mapping[str, Values]


@dataclass(frozen=True)
class MetricsScript:
    """A resource's scripted metrics.

    :param series: by type, the values of every pod, or values by pod name or role (``"*"``: the others).
    :param missing: the types with no series at all.
    :param missing_pods: pod names or roles with no series of any type.
    :param clock_offset: seconds this Saturn's clock runs ahead of the real one (behind when negative).
    :param lookback: seconds after now that the window's points go on, repeating the value at now.
    """

    series: Mapping[str, Values | PerPod] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    missing_pods: frozenset[str] = frozenset()
    clock_offset: float = 0.0
    lookback: float = 0.0

    def lacks(self, pod_keys: Sequence[str]) -> bool:
        """Whether the pod (its name and roles, most specific first) has no series at all."""
        return any(key in self.missing_pods for key in pod_keys)

    def scripted(self, metric_type: str, pod_keys: Sequence[str]) -> Values | None:
        """The pod's scripted values of ``metric_type``, if the script sets them."""
        values = self.series.get(metric_type)
        if values is None or isinstance(values, Values):
            return values
        for key in (*pod_keys, EVERY_OTHER_POD):
            if key in values:
                return values[key]
        return None


def _invalid(field: str, problem: str) -> EmulatorError:
    return EmulatorError(422, f"{field}: {problem}")


def _number(field: str, value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise _invalid(field, f"must be a number of at least 0, not {value!r}")
    return value


def _values(field: str, value: Any) -> Values:
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_SCRIPTED_POINTS:
            raise _invalid(field, f"a list of 1 to {MAX_SCRIPTED_POINTS} numbers")
        return Values(tuple(_number(f"{field}[{index}]", item) for index, item in enumerate(value)))
    return Values((_number(field, value),))


def _series(field: str, value: Any) -> Values | PerPod:
    if isinstance(value, Mapping):
        if not value:
            raise _invalid(field, "an object of values by pod name or role must not be empty")
        return {str(key): _values(f"{field}.{key}", item) for key, item in value.items()}
    return _values(field, value)


def _strings(field: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(field, "must be a list of strings")
    return frozenset(value)


def parse_metrics_script(body: Mapping[str, Any]) -> MetricsScript:
    """The script in a ``/_emulator/metrics`` body (``kind`` and ``id`` aside); a 422 naming the field at fault."""
    fields = {"kind", "id", "series", "missing", "missing_pods", "clock_offset_seconds", "lookback_seconds"}
    unknown = sorted(set(body) - fields)
    if unknown:
        raise _invalid(unknown[0], "unknown field")
    series = body.get("series") or {}
    if not isinstance(series, Mapping):
        raise _invalid("series", f"an object of values by type, types: {list(METRIC_TYPES)}")
    for metric_type in series:
        if metric_type not in METRIC_TYPES:
            raise _invalid(f"series.{metric_type}", f"unknown type; types: {list(METRIC_TYPES)}")
    missing_field = body.get("missing")
    if missing_field is True:
        missing = frozenset(METRIC_TYPES)
    elif missing_field is None or missing_field is False:
        missing = frozenset()
    else:
        missing = _strings("missing", missing_field)
        if missing - set(METRIC_TYPES):
            raise _invalid("missing", f"true, or a list of types: {list(METRIC_TYPES)}")
    missing_pods = _strings("missing_pods", body["missing_pods"]) if body.get("missing_pods") else frozenset()
    return MetricsScript(
        series={name: _series(f"series.{name}", value) for name, value in series.items()},
        missing=missing,
        missing_pods=missing_pods,
        clock_offset=_clock_offset(body.get("clock_offset_seconds", 0)),
        lookback=_lookback(body.get("lookback_seconds", 0)),
    )


def _clock_offset(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= MAX_CLOCK_OFFSET:
        raise _invalid(
            "clock_offset_seconds", f"a number of seconds from {-MAX_CLOCK_OFFSET:g} to {MAX_CLOCK_OFFSET:g}"
        )
    return float(value)


def _lookback(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_LOOKBACK:
        raise _invalid("lookback_seconds", f"a number of seconds from 0 to {MAX_LOOKBACK:g}")
    return float(value)
