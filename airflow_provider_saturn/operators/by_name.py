"""Creating a Saturn resource by its unique name, idempotently, for the create operators (projects, jobs).

A name already taken is handled by ``if_exists``; but a resource that an earlier try of the same task created
(its worker died after the create) is the task's own, whatever ``if_exists`` says: a retry carries on with it,
never fails on it and never creates a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_saturn.reattach import created_by_earlier_try, remember_created

IF_EXISTS = ("fail", "reuse", "update")


def checked_if_exists(if_exists: str) -> str:
    """``if_exists``, once it is one of ``IF_EXISTS``."""
    if if_exists not in IF_EXISTS:
        raise ValueError(f"if_exists must be one of {list(IF_EXISTS)}, not {if_exists!r}")
    return if_exists


def create_by_name(
    operator: Any,
    context: Any,
    *,
    kind: str,
    name: str,
    if_exists: str,
    find: Callable[[str], dict[str, Any] | None],
    create: Callable[[], dict[str, Any]],
    update: Callable[[str], dict[str, Any]] | None,
) -> dict[str, Any]:
    """The resource named ``name``: created (and recorded for a retry), carried on with (an earlier try made
    it), refused (``if_exists="fail"``), updated (``"update"``, when ``update`` is given) or reused as it is."""
    durable = getattr(operator, "durable", True)
    existing = find(name)
    if existing is None:
        created = create()
        if durable:
            remember_created(context, kind, str(created["id"]))
        operator.log.info("Created Saturn %s %r (%s)", kind, name, created["id"])
        return created
    if durable and created_by_earlier_try(context, kind, existing):
        operator.log.info(
            "Saturn %s %r (%s) was created by an earlier try of this task: carrying on with it",
            kind,
            name,
            existing["id"],
        )
        return existing
    if if_exists == "fail":
        raise ValueError(
            f"A Saturn {kind} named {name!r} already exists ({existing['id']}); "
            "set if_exists='reuse' or 'update' to use it"
        )
    if if_exists == "update" and update is not None:
        updated = update(str(existing["id"]))
        operator.log.info("Updated the existing Saturn %s %r (%s)", kind, name, existing["id"])
        return updated
    operator.log.info("Reusing the existing Saturn %s %r (%s)", kind, name, existing["id"])
    return existing
