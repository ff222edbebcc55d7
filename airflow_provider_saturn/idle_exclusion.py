"""What ``exclude`` of the idle shutdown means: entries read as the user meant them, and what each one keeps.

Templates render a list to its text (``"['a', 'b']"``), users write globs as they do for ``name_pattern``, and
``tag:keep`` to keep whatever has that tag: an entry that silently matched nothing would let the idle shutdown
stop what it was meant to keep. So a string that starts with ``[`` is read as a list (JSON, then a Python
literal; anything else is refused), name and id entries match as globs, ``tag:key`` means "has the tag", and
:func:`unmatched` names the entries that match no active resource, for the task log.
"""

from __future__ import annotations

import ast
import fnmatch
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_saturn.idleness import Candidate, quoted

MAX_EXCLUDE_ENTRIES = 1000
MAX_RENDERED_LIST = 100_000
"""The longest rendered list read as ``exclude``, in characters."""


def exclude_entries(value: str | Iterable[Any] | None) -> tuple[str, ...]:
    """The entries of ``exclude`` as the user meant them, or ``ValueError`` saying why they cannot be read.

    A string is one entry, unless it is a rendered list (it starts with ``[``, as a template renders a list):
    then it is read as JSON, else as a Python literal, and must be a list of texts. Each entry is a name or id
    glob (as ``name_pattern``), ``tag:key`` or ``tag:key=value``; blanks around it are dropped; an empty one,
    or a tag without a key, is refused.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = _rendered_list(value.strip()) if value.strip().startswith("[") else [value]
    elif isinstance(value, Iterable) and not isinstance(value, dict | bytes):
        items = list(itertools.islice(value, MAX_EXCLUDE_ENTRIES + 1))
    else:
        raise ValueError(f"exclude must be a text or a list of texts, not {quoted(value)}")
    if len(items) > MAX_EXCLUDE_ENTRIES:
        raise ValueError(f"exclude has more than {MAX_EXCLUDE_ENTRIES} entries")
    entries = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(
                f"exclude entries must be text (a name or id glob, tag:key or tag:key=value), not {quoted(item)}"
            )
        entry = item.strip()
        if not entry:
            raise ValueError("exclude has an empty entry: it would match nothing (or only nameless resources)")
        if entry.startswith("tag:") and not entry[4:].partition("=")[0]:
            raise ValueError(f"exclude entry {quoted(entry)} names no tag key: write tag:key or tag:key=value")
        entries.append(entry)
    return tuple(entries)


def _rendered_list(text: str) -> list[Any]:
    """A list rendered to its text (``"['a', 'b']"`` or JSON), or ``ValueError``."""
    if len(text) <= MAX_RENDERED_LIST:
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(text)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                continue
            if isinstance(parsed, list):
                return parsed
    raise ValueError(
        f"exclude {quoted(text)} starts with '[' as a rendered list does, but cannot be read as a list of "
        "names: pass a list (or one name that does not start with '[')"
    )


def exclude_matches(entry: str, candidate: Candidate) -> bool:
    """Whether one exclude entry names ``candidate``: ``tag:key`` (has the tag), ``tag:key=value`` (that value),
    or else a glob (``fnmatchcase``, as ``name_pattern``) or the exact text of its name or id."""
    if entry.startswith("tag:"):
        key, has_value, value = entry[4:].partition("=")
        return candidate.tags.get(key) == value if has_value else key in candidate.tags
    if entry in (candidate.name, candidate.id):
        return True
    return fnmatch.fnmatchcase(candidate.name, entry) or fnmatch.fnmatchcase(candidate.id, entry)


def excluded(candidate: Candidate, exclude: Sequence[str]) -> str | None:
    """The exclude entry that keeps ``candidate`` running (see :func:`exclude_matches`), or ``None``."""
    return next((entry for entry in exclude if exclude_matches(entry, candidate)), None)


def unmatched(exclude: Sequence[str], candidates: Iterable[Candidate]) -> list[str]:
    """The exclude entries that name none of ``candidates`` (a typo, most likely)."""
    candidates = list(candidates)
    return [entry for entry in exclude if not any(exclude_matches(entry, candidate) for candidate in candidates)]
