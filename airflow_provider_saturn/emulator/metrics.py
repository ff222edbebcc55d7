"""Usage metrics of a resource's pods over a time window: what ``GET /api/<kind>/{id}/metrics`` answers.

The window is ``[start, end]`` (``end`` defaults to now, ``start`` to an hour before ``end``), sampled every
``resolution`` (``"60s"``, ``"5m"``, ``"1h"``, or seconds) back from ``end``: at most ``MAX_POINTS`` points,
a 422 past that (an unset resolution is 60s, or coarser for a long window). Each running pod
(``metric_pods.py``) has a series per type, with the points of the window from when it started running
until now; a pod with no such point has no series. Values come from the resource's script
(``metrics_script.py``), else from ``DEFAULTS`` (GPU types only for pods whose size has a GPU). A scripted
list is stretched over the window's points until now: a window that ends in the future shows all of it. A
script's ``lookback`` plays Prometheus: the points go on after now (up to the lookback and the window's end),
repeating the value at now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from airflow_provider_saturn.emulator.lifecycle import TIMESTAMP_FORMAT, EmulatorError
from airflow_provider_saturn.emulator.metric_pods import MetricPod
from airflow_provider_saturn.emulator.metrics_script import METRIC_TYPES, MetricsScript, Number, Values

MAX_POINTS = 1000
"""The most points of one series."""
MAX_RESPONSE_POINTS = 200_000
"""The most points of one answer (pods x types x points)."""
DEFAULT_SPAN = 3600.0
DEFAULT_RESOLUTION = 60.0
MIB = 1024 * 1024
DEFAULTS: dict[str, Values] = {
    "cpu": Values((50,)),  # millicores
    "memory": Values((512 * MIB,)),  # bytes
    "network_in": Values((2048,)),  # bytes
    "network_out": Values((1024,)),  # bytes
    "gpu": Values((0,)),  # millicores, GPU pods only
    "gpu_memory": Values((0,)),  # bytes, GPU pods only
}
GPU_TYPES = frozenset({"gpu", "gpu_memory"})
DASK_COMPONENTS = ("kubecluster", "scheduler", "worker")
_RESOLUTION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EPSILON = 1e-6


@dataclass(frozen=True)
class Window:
    """Sampling times, in wall-clock seconds: ``count`` points ``step`` apart, the last at ``end``."""

    end: float
    step: float
    count: int

    def time(self, index: int) -> float:
        return self.end - (self.count - 1 - index) * self.step

    def first_from(self, moment: float) -> int:
        """The index of the first point at or after ``moment``."""
        return max(0, math.ceil((moment - self.time(0)) / self.step - _EPSILON))

    def last_until(self, moment: float) -> int:
        """The index of the last point at or before ``moment`` (-1 if none)."""
        return min(self.count - 1, math.floor((moment - self.time(0)) / self.step + _EPSILON))


def _moment(field: str, text: str | None) -> float | None:
    """Wall-clock seconds of an ISO 8601 date-time (UTC unless it says otherwise); ``None`` if unset."""
    if not text:
        return None
    # A '+' sent unencoded in a query string arrives as a space: "2026-02-01T00:00:00 00:00".
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise EmulatorError(422, f"{field}: {text!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _resolution(text: str) -> float:
    match = _RESOLUTION.match(text.strip())
    if match is None:
        raise EmulatorError(422, f"resolution: {text!r} is not a duration such as '60s', '5m' or '1h'")
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds < 1:
        raise EmulatorError(422, "resolution: at least 1 second")
    return seconds


def parse_window(query: Mapping[str, str], now: float) -> Window:
    """The window of a metrics query (``start``, ``end``, ``resolution``) at wall-clock ``now``; a 422 if bad."""
    end = _moment("end", query.get("end"))
    end = now if end is None else end
    start = _moment("start", query.get("start"))
    start = end - DEFAULT_SPAN if start is None else start
    if start >= end:
        raise EmulatorError(422, "start: must be before end")
    span = end - start
    if query.get("resolution"):
        step = _resolution(query["resolution"])
    else:
        step = max(DEFAULT_RESOLUTION, math.ceil(span / (MAX_POINTS - 1)))
    count = math.floor(span / step + _EPSILON) + 1
    if count > MAX_POINTS:
        raise EmulatorError(
            422, f"resolution: {step:g}s over {timedelta(seconds=span)} makes {count} points; at most {MAX_POINTS}"
        )
    return Window(end=end, step=step, count=count)


def parse_types(text: str | None) -> tuple[str, ...]:
    """The ``type`` filter: one type or several, comma-separated; every type when unset."""
    if not text:
        return METRIC_TYPES
    types = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in types if name not in METRIC_TYPES]
    if unknown:
        raise EmulatorError(422, f"type: {unknown[0]!r} is not one of {list(METRIC_TYPES)}")
    return types


def parse_component(text: str | None) -> str | None:
    """A Dask cluster's ``component`` filter (``DaskComponents``); ``None`` when unset."""
    if not text:
        return None
    if text not in DASK_COMPONENTS:
        raise EmulatorError(422, f"component: one of {list(DASK_COMPONENTS)}")
    return text


@dataclass(frozen=True)
class Series:
    """One pod's values of one type: ``first`` is the window index of its first point."""

    pod: MetricPod
    first: int
    values: list[Number]


def _values_of(metric_type: str, pod: MetricPod, script: MetricsScript | None) -> Values | None:
    scripted = script.scripted(metric_type, pod.keys) if script is not None else None
    if scripted is not None:
        return scripted
    if metric_type in GPU_TYPES and not pod.gpu:
        return None
    return DEFAULTS[metric_type]


def collect(
    pods: list[MetricPod],
    types: tuple[str, ...],
    window: Window,
    *,
    epoch: float,
    now: float,
    script: MetricsScript | None,
) -> dict[str, list[Series]]:
    """The series of each type in ``types``, pod by pod.

    :param epoch: wall-clock seconds at monotonic 0 (pods' times are monotonic).
    :param now: wall-clock seconds now: no point after it.
    """
    if script is not None:
        pods = [pod for pod in pods if not script.lacks(pod.keys)]
    if len(pods) * len(types) * window.count > MAX_RESPONSE_POINTS:
        raise EmulatorError(
            422,
            f"{len(pods)} pods x {len(types)} types x {window.count} points is more than {MAX_RESPONSE_POINTS}"
            " points: ask for fewer types, a coarser resolution or a shorter window",
        )
    last = window.last_until(now)
    repeated_until = window.last_until(now + script.lookback) if script is not None else last
    result: dict[str, list[Series]] = {}
    for metric_type in types:
        series: list[Series] = []
        if script is None or metric_type not in script.missing:
            for pod in pods:
                values = _values_of(metric_type, pod, script)
                first = window.first_from(epoch + pod.running_from)
                if values is None or first > last:
                    continue
                points = [values.at(min(index, last), last + 1) for index in range(first, repeated_until + 1)]
                series.append(Series(pod, first, points))
        result[metric_type] = series
    return result


def stamp(moment: float) -> str:
    """A wall-clock moment in the spec's timestamp format."""
    return datetime.fromtimestamp(moment, UTC).strftime(TIMESTAMP_FORMAT)
