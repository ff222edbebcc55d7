"""API paths, and the one function through which every id or name enters a URL path.

Ids come from templates (XCom, ``dag_run.conf``), so they are user input. :func:`path_segment` makes each
one exactly one path segment under the Saturn URL, or refuses it before any request is sent: no ``/`` to
climb out of the API, no ``?`` or ``#`` to add query flags, no ``%`` to smuggle either in encoded, no
``.``/``..`` for the HTTP stack to resolve, nothing empty that would turn an item path into its list.

Saturn ids are hex and run names are Kubernetes names, so a segment may hold only the characters RFC 3986
leaves unreserved: ASCII letters, digits, ``-``, ``.``, ``_`` and ``~``. Anything else is refused, look-alikes
included: some servers fold a fullwidth solidus (U+FF0F) into ``/`` and fullwidth dots into ``..``.
"""

from __future__ import annotations

import string
import unicodedata
from urllib.parse import quote

from airflow_provider_saturn.client.errors import SaturnInvalidIdError

# Characters that would end, escape or re-encode a path segment, or that some servers read as a separator.
SEPARATORS = frozenset("/?#%\\")
# RFC 3986's unreserved characters: the only ones a path segment may hold.
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
ALLOWED_CHARACTERS = "ASCII letters, digits, '-', '.', '_' and '~'"
# What a template renders when the value it reads is missing: never a Saturn id.
RENDERED_NOTHING = frozenset({"None", "null", "undefined"})
MAX_SEGMENT_LENGTH = 256


def _problem(value: str) -> str | None:
    """Why ``value`` cannot be a path segment, or ``None`` when it can."""
    if not value:
        return "it is empty"
    if value in (".", ".."):
        return "'.' and '..' are path steps, not ids"
    if value in RENDERED_NOTHING:
        return "it is what a template renders for a missing value (did the task that provides it fail?)"
    if len(value) > MAX_SEGMENT_LENGTH:
        return f"it is longer than {MAX_SEGMENT_LENGTH} characters"
    if not UNRESERVED.issuperset(value):
        return _character_problem(next(character for character in value if character not in UNRESERVED))
    return None


def _character_problem(character: str) -> str:
    """Why ``character`` cannot be in a path segment."""
    if character in SEPARATORS:
        problem = f"it contains {character!r}"
    elif character.isspace():
        problem = "it contains whitespace"
    elif unicodedata.category(character)[0] == "C":
        problem = f"it contains the control character {character!r}"
    else:
        problem = f"it contains {character!r}"
    return f"{problem} (Saturn ids are hex and run names Kubernetes names: only {ALLOWED_CHARACTERS} are allowed)"


def path_segment(value: object, argument: str) -> str:
    """``value`` as one escaped URL path segment; raises :class:`SaturnInvalidIdError` naming ``argument``.

    A ``str`` subclass is checked and sent as the plain string it holds, so that no override of ``__iter__``,
    ``__eq__`` or ``encode`` can show the checks one thing and the URL another.
    """
    if not isinstance(value, str):
        raise SaturnInvalidIdError(argument, value, f"it must be a string, not {type(value).__name__}")
    text = str.__str__(value)  # an exact str, whatever the subclass overrides
    problem = _problem(text)
    if problem is not None:
        raise SaturnInvalidIdError(argument, text, problem)
    return quote(text, safe="")


def item_path(collection: str, item_id: object, argument: str, *actions: str) -> str:
    """``<collection>/<item id>[/<action>...]``, with the id checked and escaped by :func:`path_segment`."""
    return "/".join((collection, path_segment(item_id, argument), *(action for action in actions if action)))


class Paths:
    """Endpoints of generation 2, relative to the Saturn URL."""

    STATUS = "api/status"
    OPTIONS = "api/info/servers"
    WORKSPACES = "api/workspaces"
    DASK_CLUSTERS = "api/dask_clusters"
    JOBS = "api/jobs"
    DEPLOYMENTS = "api/deployments"

    @staticmethod
    def workspace(workspace_id: object, action: str = "", *, argument: str = "project_id") -> str:
        return item_path(Paths.WORKSPACES, workspace_id, argument, action)

    @staticmethod
    def dask_cluster(dask_cluster_id: object, action: str = "", *, argument: str = "dask_cluster_id") -> str:
        return item_path(Paths.DASK_CLUSTERS, dask_cluster_id, argument, action)

    @staticmethod
    def job(job_id: object, *actions: str) -> str:
        return item_path(Paths.JOBS, job_id, "job_id", *actions)

    @staticmethod
    def job_run_stop(job_id: object, run_name: object) -> str:
        """``api/jobs/<job id>/stop/<run name>``: stops that one run, both names checked and escaped."""
        return "/".join((Paths.job(job_id, "stop"), path_segment(run_name, "run_name")))

    @staticmethod
    def deployment(deployment_id: object, action: str = "") -> str:
        return item_path(Paths.DEPLOYMENTS, deployment_id, "deployment_id", action)
