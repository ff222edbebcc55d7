"""Shipping a Python function to a Saturn job: its source, its arguments and the bootstrap (:mod:`.bootstrap`) as
the job's ``config_files``, and the ``command`` that runs them with the image's ``python``.

The files go under ``$HOME/.saturn-airflow/`` (Saturn writes ``config_files`` into ``$HOME`` when the pod starts):
``bootstrap.py`` (``0644``), ``function.py`` (``0644``), ``settings.json`` and ``arguments.json`` /
``arguments.b64`` (``0600``: arguments may be confidential; ``0600`` is what credential files given as
``config_files`` use, so the pod's user reads them).

Size: the spec (2026.02.01: ``ConfigFileEntry`` is ``content``, a string without ``maxLength``, and ``mode``, a
4-character octal string, default ``"0644"``) and Saturn's own clients (saturn-client 2026.2.1, saturn-api
2026.6.3: no check) state no limit on ``config_files`` or on a request's size. The payload bound (all files'
contents, default :data:`DEFAULT_PAYLOAD_BOUND`, 512 KiB) is ours, checked before any request: it keeps a job well
under 1 MiB, the most Kubernetes keeps in one ConfigMap or Secret (a likely carrier of files written into a pod)
and the request body an nginx ingress accepts by default (``client_max_body_size 1m``). Large data travels as a
path (object storage, a shared folder) that the function reads.
"""

from __future__ import annotations

import ast
import base64
import builtins
import functools
import inspect
import json
import secrets
import shlex
import textwrap
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from airflow_provider_saturn.remote.bootstrap import (
    BOOTSTRAP_FILE,
    DEFAULT_RESULT_BOUND,
    FILES_DIR,
    FORMAT_VERSION,
    FUNCTION_FILE,
    JSON_ARGUMENTS_FILE,
    MARKER_PATTERN,
    MAX_RESULT_BOUND,
    PICKLED_ARGUMENTS_FILE,
    SERIALIZERS,
    SETTINGS_FILE,
    first_key_not_text,
    here_python,
)
from airflow_provider_saturn.remote.errors import (
    SaturnArgumentsError,
    SaturnFunctionError,
    SaturnPayloadTooLargeError,
)

DEFAULT_PAYLOAD_BOUND = 512 * 1024  # bytes of all the job's files' contents
SELF_CONTAINED = (
    "the function must be self-contained, as for @task.virtualenv and @task.docker: defined with def, importing "
    "inside it what it uses, taking everything else as arguments"
)


def new_marker() -> str:
    """A fresh marker for one task run's frames: 32 random lowercase hex characters."""
    return secrets.token_hex(16)


@functools.cache
def bootstrap_source() -> str:
    """The text of :mod:`.bootstrap`, as shipped to the pod."""
    return resources.files(__package__).joinpath(BOOTSTRAP_FILE).read_text(encoding="utf-8")


def bootstrap_command(python: str = "python") -> str:
    """The job's ``command``: the bootstrap, run by ``python`` (the image's, found on its ``PATH``) from ``$HOME``.
    The function runs in the job's ``working_dir``, which its imports resolve from."""
    if not isinstance(python, str) or not python.strip() or any(char in python for char in "\0\r\n"):
        raise ValueError(f"python must be a command or a path on one line, not {python!r}")
    return f'{shlex.quote(python)} "$HOME/{FILES_DIR}/{BOOTSTRAP_FILE}"'


def function_source(python_callable: Callable[..., Any]) -> tuple[str, str]:
    """``(source, name)`` of a function to ship: its ``def`` onward, dedented, its decorators left out (all of them:
    it runs undecorated on Saturn).

    :raises SaturnFunctionError: a lambda, a method, an ``async`` or generator function, a closure over variables
        of an enclosing function, or a function whose source cannot be read.
    """
    function = inspect.unwrap(python_callable) if callable(python_callable) else python_callable
    if inspect.ismethod(function):
        raise SaturnFunctionError(f"{function!r} is a bound method: {SELF_CONTAINED}.")
    if not inspect.isfunction(function):
        raise SaturnFunctionError(f"a {type(function).__name__} cannot be shipped: {SELF_CONTAINED}.")
    name = function.__code__.co_name
    if name == "<lambda>":
        raise SaturnFunctionError(f"a lambda cannot be shipped: {SELF_CONTAINED}.")
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise SaturnFunctionError(f"{name}() is async: only a plain def function can run as a Saturn job.")
    if inspect.isgeneratorfunction(function):
        raise SaturnFunctionError(f"{name}() is a generator: return a value (a list) instead of yielding.")
    if function.__code__.co_freevars:
        used = ", ".join(function.__code__.co_freevars)
        raise SaturnFunctionError(
            f"{name}() uses {used} from the function it is defined in, which do not travel with it: {SELF_CONTAINED}."
        )
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError) as error:
        raise SaturnFunctionError(
            f"the source of {name}() cannot be read ({error}): define it in a .py file; {SELF_CONTAINED}."
        ) from None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != name:
        raise SaturnFunctionError(f"the source of {name}() is not one def statement: {SELF_CONTAINED}.")
    shipped = "".join(source.splitlines(keepends=True)[node.lineno - 1 :]).rstrip() + "\n"
    return shipped, name


def outside_names(source: str) -> list[str]:
    """Names the function's body reads but neither defines, imports, takes as an argument, nor finds among the
    builtins: on Saturn they would raise ``NameError`` (best effort; annotations, never evaluated, are left out).
    For a warning: a name read only on a path that never runs does no harm."""
    tree = ast.parse(source)
    read: set[str] = set()
    bound: set[str] = set()
    annotations = {
        id(sub)
        for node in ast.walk(tree)
        for annotation in _annotations(node)
        if annotation is not None
        for sub in ast.walk(annotation)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in annotations:
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler | ast.MatchAs):
            bound.add(node.name or "")
        elif isinstance(node, ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return sorted(read - bound - set(dir(builtins)))


def _annotations(node: ast.AST) -> list[ast.expr | None]:
    if isinstance(node, ast.arg):
        return [node.annotation]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return [node.returns]
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    return []


def check_bound(label: str, value: Any, most: int | None = None) -> None:
    """Refuse a bound (``label``) that is not a whole number of bytes above 0 (and at most ``most``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (most is not None and value > most):
        limit = f", at most {most}" if most is not None else ""
        raise ValueError(f"{label} must be a whole number of bytes above 0{limit}, not {value!r}")


def check_reading(serializer: Any, result_bound: Any) -> None:
    """Refuse a serializer or a result bound that a run's return value cannot be written and read with."""
    if serializer not in SERIALIZERS:
        raise ValueError(f"serializer must be one of {list(SERIALIZERS)}, not {serializer!r}")
    check_bound("result_bound", result_bound, MAX_RESULT_BOUND)


def check_marker(marker: Any) -> None:
    """Refuse anything but a run's marker: 32 lowercase hex characters (:func:`new_marker`)."""
    if not isinstance(marker, str) or not MARKER_PATTERN.fullmatch(marker):
        raise ValueError("marker must be 32 lowercase hex characters (new_marker())")


def build_job_files(
    source: str,
    name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    serializer: str = "json",
    marker: str = "",
    result_bound: int = DEFAULT_RESULT_BOUND,
    *,
    payload_bound: int = DEFAULT_PAYLOAD_BOUND,
) -> dict[str, dict[str, str]]:
    """The job's ``config_files`` (``{"<path under $HOME>": {"content": ..., "mode": ...}}``) that run ``name``
    from ``source`` with ``args`` and ``kwargs`` and write its return value as frames of ``marker``.

    :param serializer: ``"json"`` (arguments and result as JSON) or ``"cloudpickle"`` (needs cloudpickle here and
        in the image, and the same Python ``major.minor`` on both sides, which the pod checks).
    :param marker: the run's marker (:func:`new_marker`); the reader of its frames needs it.
    :param result_bound: the largest serialized return value, in bytes; the pod fails a larger one.
    :param payload_bound: the most bytes of all files' contents.
    :raises SaturnArgumentsError: the arguments cannot be serialized with ``serializer``.
    :raises SaturnPayloadTooLargeError: the files are over ``payload_bound``. Nothing is sent in either case.
    """
    if not isinstance(source, str) or not isinstance(name, str) or not name.isidentifier():
        raise ValueError("source must be the function's source text and name its Python name")
    check_reading(serializer, result_bound)
    check_marker(marker)
    check_bound("payload_bound", payload_bound)
    if isinstance(args, str | bytes) or not isinstance(args, Sequence) or not isinstance(kwargs, Mapping):
        raise SaturnArgumentsError("args must be a list or tuple and kwargs a mapping")
    if not all(isinstance(key, str) for key in kwargs):
        raise SaturnArgumentsError("the keyword arguments' names must be strings")
    arguments_file, arguments = _serialized_arguments(name, list(args), dict(kwargs), serializer)
    settings = {
        "format": FORMAT_VERSION,
        "function": name,
        "serializer": serializer,
        "marker": marker,
        "result_bound": result_bound,
        "python": here_python(),
    }
    files = {
        f"{FILES_DIR}/{BOOTSTRAP_FILE}": {"content": bootstrap_source(), "mode": "0644"},
        f"{FILES_DIR}/{FUNCTION_FILE}": {"content": source, "mode": "0644"},
        f"{FILES_DIR}/{arguments_file}": {"content": arguments, "mode": "0600"},
        f"{FILES_DIR}/{SETTINGS_FILE}": {"content": json.dumps(settings), "mode": "0600"},
    }
    size = payload_size(files)
    if size > payload_bound:
        raise SaturnPayloadTooLargeError(
            f"The job's files for {name}() come to {size} bytes (its arguments {len(arguments.encode())}, its source "
            f"{len(source.encode())}), over the payload bound of {payload_bound} bytes; nothing was sent to Saturn. "
            "Pass a path instead of the data (e.g. of a file in object storage or a shared folder) and read it in "
            "the function.",
            size=size,
            bound=payload_bound,
        )
    return files


def payload_size(files: Mapping[str, Mapping[str, str]]) -> int:
    """Bytes of all the files' contents (UTF-8)."""
    return sum(len(entry["content"].encode("utf-8")) for entry in files.values())


def _serialized_arguments(name: str, args: list[Any], kwargs: dict[str, Any], serializer: str) -> tuple[str, str]:
    """``(file name, text)`` of the arguments."""
    if serializer == "json":
        odd_key = first_key_not_text([args, kwargs])
        if odd_key is not None:
            raise SaturnArgumentsError(
                f"the arguments of {name}() hold a dict key that is not a string ({odd_key}), which JSON would "
                "change: use string keys, or serializer='cloudpickle'."
            )
        try:
            return JSON_ARGUMENTS_FILE, json.dumps({"args": args, "kwargs": kwargs}, ensure_ascii=True)
        except (TypeError, ValueError, RecursionError) as error:
            raise SaturnArgumentsError(
                f"the arguments of {name}() are not JSON-serializable ({error}): pass JSON values (dict, list, str, "
                "int, float, bool, None), or use serializer='cloudpickle'."
            ) from None
    try:
        import cloudpickle
    except ImportError:
        raise SaturnArgumentsError(
            "serializer='cloudpickle' needs the cloudpickle package on the Airflow worker (and in the image)."
        ) from None
    try:
        pickled = cloudpickle.dumps((args, kwargs))
    except Exception as error:
        raise SaturnArgumentsError(f"cloudpickle could not serialize the arguments of {name}(): {error}") from None
    return PICKLED_ARGUMENTS_FILE, base64.b64encode(pickled).decode("ascii")


def shipped_settings(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings a job's files carry (``marker``, ``serializer``, ``result_bound``), as :func:`build_job_files`
    wrote them, read back from Saturn's job; ``None`` when the job carries none that can be used."""
    files = job.get("config_files")
    entry = files.get(f"{FILES_DIR}/{SETTINGS_FILE}") if isinstance(files, Mapping) else None
    content = entry.get("content") if isinstance(entry, Mapping) else None
    if not isinstance(content, str) or len(content) > 4096:
        return None
    try:
        settings = json.loads(content)
    except ValueError:
        return None
    if (
        not isinstance(settings, dict)
        or not isinstance(settings.get("marker"), str)
        or not MARKER_PATTERN.fullmatch(settings["marker"])
        or settings.get("serializer") not in SERIALIZERS
        or isinstance(settings.get("result_bound"), bool)
        or not isinstance(settings.get("result_bound"), int)
        or not 0 < settings["result_bound"] <= MAX_RESULT_BOUND
    ):
        return None
    return {key: settings[key] for key in ("marker", "serializer", "result_bound")}
