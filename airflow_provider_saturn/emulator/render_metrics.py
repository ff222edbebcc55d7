"""Usage metrics to JSON bodies that validate against the spec's ``Metrics`` and ``MetricSeries`` schemas."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.emulator.metrics import Series, Window, stamp


def _stats(values: list[int | float]) -> dict[str, int | float]:
    return {"avg": sum(values) / len(values), "min": min(values), "max": max(values), "last": values[-1]}


def metrics_json(collected: dict[str, list[Series]], window: Window) -> dict[str, Any]:
    """A ``Metrics`` body: a list of ``MetricSeries`` (one per pod) for each type asked for."""
    stamps: dict[int, str] = {}

    def when(index: int) -> str:
        if index not in stamps:
            stamps[index] = stamp(window.time(index))
        return stamps[index]

    def series_json(series: Series) -> dict[str, Any]:
        return {
            "pod_name": series.pod.name,
            "labels": dict(series.pod.labels),
            "stats": _stats(series.values),
            "data": [
                {"datetime": when(series.first + offset), "value": value} for offset, value in enumerate(series.values)
            ],
        }

    return {metric_type: [series_json(series) for series in found] for metric_type, found in collected.items()}
