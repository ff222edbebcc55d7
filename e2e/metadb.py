"""Read-only looks at Airflow's metadata database: the ``trigger`` table, which the REST API shows without
kwargs, and which triggerer runs which trigger.

A trigger's kwargs are stored encrypted with the deployment's Fernet key (or as plain JSON); the harness holds
the key, so it can read a deferred wait's deadline as the triggerer will.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TriggerRow:
    """One row of ``trigger``, with the task instance waiting on it."""

    id: int
    classpath: str
    triggerer_id: int | None
    created: datetime
    kwargs: dict[str, Any]
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None


def find_value(data: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in nested dicts and lists (serde wraps kwargs in envelopes)."""
    if isinstance(data, dict):
        if key in data and not isinstance(data[key], dict | list):
            return data[key]
        for value in data.values():
            found = find_value(value, key)
            if found is not None:
                return found
    elif isinstance(data, list):
        for value in data:
            found = find_value(value, key)
            if found is not None:
                return found
    return None


class MetaDB:
    """Queries on the Airflow database (psycopg2, autocommit, one connection)."""

    def __init__(self, dsn: str, fernet_key: str) -> None:
        self.dsn = dsn
        self.fernet_key = fernet_key
        self._connection: Any = None

    def _cursor(self) -> Any:
        import psycopg2

        if self._connection is None or self._connection.closed:
            self._connection = psycopg2.connect(self.dsn)
            self._connection.autocommit = True
        return self._connection.cursor()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def decrypt(self, stored: str) -> dict[str, Any]:
        """A trigger's kwargs as stored: plain JSON, or Fernet-encrypted JSON."""
        if stored.startswith("{"):
            return dict(json.loads(stored))
        from cryptography.fernet import Fernet

        return dict(json.loads(Fernet(self.fernet_key.encode()).decrypt(stored.encode())))

    def triggers(self, dag_id: str | None = None, run_id: str | None = None) -> list[TriggerRow]:
        """Every trigger (of one run, if given) with the task instance deferred on it."""
        query = (
            "SELECT t.id, t.classpath, t.triggerer_id, t.created_date, t.kwargs, "
            "ti.dag_id, ti.run_id, ti.task_id, ti.map_index "
            "FROM trigger t LEFT JOIN task_instance ti ON ti.trigger_id = t.id"
        )
        params: list[Any] = []
        if dag_id is not None:
            query += " WHERE ti.dag_id = %s AND ti.run_id = %s"
            params = [dag_id, run_id]
        with self._cursor() as cursor:
            cursor.execute(query + " ORDER BY t.id", params)
            rows = cursor.fetchall()
        return [
            TriggerRow(
                id=row[0],
                classpath=row[1],
                triggerer_id=row[2],
                created=row[3],
                kwargs=self.decrypt(row[4]),
                dag_id=row[5],
                run_id=row[6],
                task_id=row[7],
                map_index=row[8],
            )
            for row in rows
        ]

    def count_triggers(self, classpath_suffix: str = "SaturnStatusTrigger") -> tuple[int, int]:
        """(triggers of that class, of which assigned to a triggerer)."""
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(triggerer_id) FROM trigger WHERE classpath LIKE %s", [f"%{classpath_suffix}"]
            )
            total, assigned = cursor.fetchone()
        return int(total), int(assigned)
