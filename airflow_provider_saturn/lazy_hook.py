"""``SaturnHookMixin``: the ``hook`` of operators and sensors, built on first use so DAG parsing stays cheap."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_saturn.hooks.saturn import SaturnHook


class SaturnHookMixin:
    """Gives a task a ``hook`` for its ``saturn_conn_id``; the HTTP stack is imported only when it is used."""

    saturn_conn_id: str

    @cached_property
    def hook(self) -> SaturnHook:
        from airflow_provider_saturn.hooks.saturn import SaturnHook

        return SaturnHook(saturn_conn_id=self.saturn_conn_id)
