"""The program a ``@task.saturn`` job runs in its pod: it calls one Python function and writes the return value
to stdout as frame lines, which the Airflow side (:mod:`.frames`) takes back out of the run's log.

Standard library only, and Python 3.8 syntax: it runs with the image's ``python``, whatever that is. It is shipped
as the text of this very file (a ``config_files`` entry), and the Airflow side imports the same file for the frame
format, so the writer and the reader cannot drift apart.

Inputs: files Saturn writes into ``$HOME/.saturn-airflow/`` from the job's ``config_files``
(built by :func:`.payload.build_job_files`), next to this file:

- ``settings.json``: ``{"format": 1, "function": <name>, "serializer": "json" | "cloudpickle", "marker": <32 hex>,
  "result_bound": <bytes>, "python": "<major.minor>"}`` (the Python the arguments were serialized with);
- ``function.py``: the function's source (one ``def``, decorators stripped);
- ``arguments.json`` (``{"args": [...], "kwargs": {...}}``) or ``arguments.b64`` (base64 of cloudpickle's
  ``(args, kwargs)``).

The source runs as a module of its own (``__saturn_task__``, in ``sys.modules``) with annotations left unevaluated
(they may name what the function's original module imported); imports resolve from the working directory (the
job's ``working_dir``), as with ``python -c``.

What it does: reads them, runs the function (its prints go to stdout as usual, line-buffered, before the frame),
serializes the return value and writes one frame; exit code 0. The function raising an exception, a return value
that cannot be serialized or is over ``result_bound``, a Python version that differs from the one the arguments
were pickled with (cloudpickle only), or unusable input files: an ``error`` frame, the same facts on stderr for a
human reading the log in Saturn, exit code 1. ``sys.exit(n)`` in the function exits ``n`` with no frame (as
``SystemExit`` does anywhere; ``sys.exit(0)`` too: a run that completed without a frame); settings it cannot
read: a message on stderr, exit code 2, no frame (it has no marker to write one with).

Frame format, version 1. A frame is the payload (bytes) cut into lines, each line::

    SATURN-FRAME v1 <marker> <attempt> <kind> <seq> <count> <size> <sha256> <chunk>

- ``marker``: 32 lowercase hex characters (``secrets.token_hex(16)``), made by the operator for this task run; in
  the pod it is in ``settings.json`` only (not in the environment, not given to the function), so no output of the
  function holds it unless the function reads that file on purpose. A line without it is not a frame of this run,
  whatever it looks like.
- ``attempt``: 16 lowercase hex characters, random per process: a pod Saturn starts again (``job_retries``)
  writes a frame of its own, and the reader tells them apart.
- ``kind``: ``result`` (the serialized return value) or ``error`` (JSON ``{"reason", "type", "message",
  "traceback"}``; ``reason`` is one of :data:`ERROR_REASONS`).
- ``seq`` (1 to ``count``) and ``count``: the line's place in the frame and the frame's number of lines.
- ``size`` and ``sha256``: the byte length and the SHA-256 (hex) of the whole payload, on every line.
- ``chunk``: a piece of the payload's standard base64; every piece but the last is :data:`CHUNK_CHARS` long,
  a multiple of 4, so each piece decodes on its own.

Each line is ASCII and at most :data:`MAX_LINE_BYTES` bytes with its newline: under 4 KiB, so container log
drivers (which split at 16 KiB) and the provider's task log (4000 characters a line) keep it whole, and under
``PIPE_BUF`` (4096), so each line goes out in one atomic ``write`` to file descriptor 1 and a thread of the function
that prints at the same time cannot cut into it. A line that printed text did not end comes after that text (the
reader finds the frame anywhere in a line).
"""

from __future__ import annotations
import __future__

import base64
import contextlib
import hashlib
import json
import os
import re
import sys
import traceback
import types
from pathlib import Path

FORMAT_VERSION = 1
FILES_DIR = ".saturn-airflow"  # under $HOME
BOOTSTRAP_FILE = "bootstrap.py"
SETTINGS_FILE = "settings.json"
FUNCTION_FILE = "function.py"
JSON_ARGUMENTS_FILE = "arguments.json"
PICKLED_ARGUMENTS_FILE = "arguments.b64"
SERIALIZERS = ("json", "cloudpickle")

FRAME_TAG = "SATURN-FRAME v1"
RESULT_KIND = "result"
ERROR_KIND = "error"
CHUNK_CHARS = 3800  # base64 characters per line: a multiple of 4
MAX_LINE_BYTES = 4000  # a whole frame line with its newline
DEFAULT_RESULT_BOUND = 1024 * 1024  # bytes of a serialized return value
MAX_RESULT_BOUND = 64 * 1024 * 1024  # the largest result_bound the settings may give
ERROR_PAYLOAD_BOUND = 256 * 1024  # bytes of an error frame's JSON
MAX_TYPE_CHARS = 300
MAX_MESSAGE_CHARS = 8 * 1024
MAX_TRACEBACK_CHARS = 64 * 1024
ERROR_REASONS = ("exception", "not_serializable", "too_large", "python_version", "cloudpickle_missing", "bad_input")
FUNCTION_MODULE = "__saturn_task__"  # the __name__ the function's source runs under
EXIT_FAILED = 1  # an error frame was written
EXIT_NO_SETTINGS = 2  # the settings could not be read: no frame

MARKER_PATTERN = re.compile(r"[0-9a-f]{32}")
# One frame line from its tag to its end (the reader strips the line's trailing whitespace first).
FRAME_LINE_PATTERN = re.compile(
    r"SATURN-FRAME v1 (?P<marker>[0-9a-f]{32}) (?P<attempt>[0-9a-f]{16}) (?P<kind>result|error) "
    r"(?P<seq>[1-9][0-9]{0,7}) (?P<count>[1-9][0-9]{0,7}) (?P<size>[1-9][0-9]{0,9}) (?P<sha256>[0-9a-f]{64}) "
    r"(?P<chunk>[A-Za-z0-9+/]+={0,2})"
)


class RemoteProblem(Exception):
    """Something that ends the run with an error frame of ``reason`` (other than the function raising)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def base64_length(size: int) -> int:
    """Characters of the standard base64 of ``size`` bytes."""
    return 4 * ((size + 2) // 3)


def frame_lines(marker: str, attempt: str, kind: str, payload: bytes) -> list[str]:
    """The lines (without newlines) of one frame carrying ``payload``."""
    encoded = base64.b64encode(payload).decode("ascii")
    chunks = [encoded[start : start + CHUNK_CHARS] for start in range(0, len(encoded), CHUNK_CHARS)]
    digest = hashlib.sha256(payload).hexdigest()
    head = f"{FRAME_TAG} {marker} {attempt} {kind}"
    tail = f"{len(chunks)} {len(payload)} {digest}"
    return [f"{head} {seq} {tail} {chunk}" for seq, chunk in enumerate(chunks, start=1)]


def cut_text(text: str, most: int) -> str:
    """``text``, or its first quarter and last three quarters of ``most`` characters around a note."""
    if len(text) <= most:
        return text
    head = most // 4
    tail = most - head
    return f"{text[:head]}\n... [{len(text) - most} characters left out] ...\n{text[-tail:]}"


def error_payload(reason: str, type_name: str, message: str, traceback_text: str = "") -> bytes:
    """An error frame's JSON, cut to fit :data:`ERROR_PAYLOAD_BOUND` (shorter at each of a few tries)."""
    for shrink in range(8):
        data = {
            "reason": reason,
            "type": cut_text(type_name, MAX_TYPE_CHARS),
            "message": cut_text(message, MAX_MESSAGE_CHARS >> shrink),
            "traceback": cut_text(traceback_text, MAX_TRACEBACK_CHARS >> shrink),
        }
        payload = json.dumps(data, ensure_ascii=True).encode("ascii")
        if len(payload) <= ERROR_PAYLOAD_BOUND:
            return payload
    data = {"reason": reason, "type": type_name[:MAX_TYPE_CHARS], "message": "(too long to send)", "traceback": ""}
    return json.dumps(data, ensure_ascii=True).encode("ascii")


def qualified_name(kind: type) -> str:
    """``module.QualName`` of an exception type; builtins and the function's own module by the bare name."""
    module = str(getattr(kind, "__module__", "") or "")
    name = str(getattr(kind, "__qualname__", None) or getattr(kind, "__name__", "?"))
    return name if module in ("builtins", FUNCTION_MODULE) else f"{module}.{name}"


def describe(error: BaseException) -> str:
    """``str(error)``, even when its ``__str__`` fails."""
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} whose message could not be read>"


MAX_KEY_WALK = 1000000  # containers and values a key check looks at, at most


def first_key_not_text(value: object) -> str | None:
    """The type of the first dict key that is not a string in ``value`` (JSON would turn it into one, maybe
    merging two keys), or ``None``; bounded walk."""
    stack = [value]
    seen = 0
    while stack and seen < MAX_KEY_WALK:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return type(key).__name__
                stack.append(inner)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


class FrameWriter:
    """Writes frames of one process (one attempt) to a file descriptor, one atomic ``write`` per line."""

    def __init__(self, marker: str, fd: int = 1) -> None:
        self.marker = marker
        self.attempt = os.urandom(8).hex()
        self.fd = fd

    def write(self, kind: str, payload: bytes) -> None:
        """Flush what the function printed, then write the frame's lines."""
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass  # a stream the function closed
        for index, line in enumerate(frame_lines(self.marker, self.attempt, kind, payload)):
            # A new line first, in the same write: what the function printed without ending its line must not
            # become the start of the frame's first line (a container runtime splits long lines).
            data = (("\n" if index == 0 else "") + line + "\n").encode("ascii")
            while data:  # one write for a line of a pipe under PIPE_BUF; the loop is bounded by its length
                data = data[os.write(self.fd, data) :]

    def error(self, reason: str, type_name: str, message: str, traceback_text: str = "") -> None:
        """Tell a human on stderr, then write an error frame."""
        shown = cut_text(traceback_text, MAX_TRACEBACK_CHARS) if traceback_text else f"{type_name}: {message}\n"
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(cut_text(shown, MAX_TRACEBACK_CHARS + MAX_MESSAGE_CHARS))
        self.write(ERROR_KIND, error_payload(reason, type_name, message, traceback_text))


def read_settings(directory: Path) -> dict:
    """The settings, checked (they come from a file anyone in the pod could have changed)."""
    settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
    if not isinstance(settings, dict) or settings.get("format") != FORMAT_VERSION:
        raise ValueError(f"{SETTINGS_FILE} is not a format {FORMAT_VERSION} settings object")
    marker = settings.get("marker")
    if not isinstance(marker, str) or not MARKER_PATTERN.fullmatch(marker):
        raise ValueError("the marker is not 32 lowercase hex characters")
    return settings


def check_settings(settings: dict) -> None:
    """The rest of the settings, once an error frame can be written."""
    if settings.get("serializer") not in SERIALIZERS:
        raise RemoteProblem("bad_input", f"the serializer must be one of {list(SERIALIZERS)}")
    bound = settings.get("result_bound")
    if isinstance(bound, bool) or not isinstance(bound, int) or not 0 < bound <= MAX_RESULT_BOUND:
        raise RemoteProblem("bad_input", f"result_bound must be a whole number of bytes, 1 to {MAX_RESULT_BOUND}")
    name = settings.get("function")
    if not isinstance(name, str) or not name.isidentifier():
        raise RemoteProblem("bad_input", "the function name is not a Python identifier")
    if not isinstance(settings.get("python"), str):
        raise RemoteProblem("bad_input", "the settings do not say which Python the arguments were serialized with")


def here_python() -> str:
    """This interpreter's ``major.minor``."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def load_cloudpickle(settings: dict) -> object:
    """The ``cloudpickle`` module, when this Python is the one the arguments were pickled with."""
    if settings["python"] != here_python():
        raise RemoteProblem(
            "python_version",
            f"serializer='cloudpickle' needs the same Python version on both sides: the arguments were pickled "
            f"with Python {settings['python']} on the Airflow worker, and the image runs Python {here_python()}. "
            "Use an image with that Python, or serializer='json'.",
        )
    try:
        import cloudpickle
    except ImportError:
        raise RemoteProblem(
            "cloudpickle_missing",
            "serializer='cloudpickle' needs the cloudpickle package in the image: add it to extra_packages "
            "(pip), or use serializer='json'.",
        ) from None
    return cloudpickle


def load_function(directory: Path, name: str) -> object:
    """The function, defined by running its source in a module of its own, registered in ``sys.modules`` (as
    ``dataclasses`` and ``typing`` look classes' modules up there); annotations are left unevaluated, as the
    function's own module may have imported what they name."""
    path = directory / FUNCTION_FILE
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as error:
        raise RemoteProblem("bad_input", f"the function's source could not be read: {describe(error)}") from None
    module = types.ModuleType(FUNCTION_MODULE)
    module.__file__ = str(path)
    sys.modules[FUNCTION_MODULE] = module
    exec(code, module.__dict__)  # noqa: S102 - the function the task ships, by design
    function = module.__dict__.get(name)
    if not callable(function):
        raise RemoteProblem("bad_input", f"the function's source defines no function {name!r}")
    return function


def load_arguments(directory: Path, settings: dict, pickler: object) -> tuple[list, dict]:
    """``(args, kwargs)`` from the arguments file of the serializer."""
    try:
        if pickler is None:
            data = json.loads((directory / JSON_ARGUMENTS_FILE).read_text(encoding="utf-8"))
            args, kwargs = data["args"], data["kwargs"]
        else:
            pickled = base64.b64decode((directory / PICKLED_ARGUMENTS_FILE).read_bytes().strip(), validate=True)
            args, kwargs = pickler.loads(pickled)  # type: ignore[attr-defined]
    except Exception as error:
        raise RemoteProblem("bad_input", f"the arguments could not be read: {describe(error)}") from None
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise RemoteProblem("bad_input", "the arguments are not a list and a dict")
    return list(args), kwargs


def serialize_result(value: object, settings: dict, pickler: object) -> bytes:
    """The return value's bytes, within the result bound."""
    if pickler is None:
        odd_key = first_key_not_text(value)
        if odd_key is not None:
            raise RemoteProblem(
                "not_serializable",
                f"the return value has a dict key that is not a string ({odd_key}): JSON would change it. Use "
                "string keys, or serializer='cloudpickle'.",
            )
        try:
            try:
                payload = json.dumps(value, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: escaped, it travels
                payload = json.dumps(value, ensure_ascii=True).encode("ascii")
        except (TypeError, ValueError, RecursionError) as error:
            raise RemoteProblem(
                "not_serializable",
                f"the return value is not JSON-serializable: {describe(error)}. Return JSON values (dict, list, "
                "str, int, float, bool, None), or use serializer='cloudpickle'.",
            ) from None
    else:
        try:
            payload = pickler.dumps(value)  # type: ignore[attr-defined]
        except Exception as error:
            raise RemoteProblem(
                "not_serializable", f"cloudpickle could not serialize the return value: {describe(error)}"
            ) from None
    bound = settings["result_bound"]
    if len(payload) > bound:
        raise RemoteProblem(
            "too_large",
            f"the return value is {len(payload)} bytes serialized ({settings['serializer']}), over the bound of "
            f"{bound} bytes (result_bound): return less, e.g. write the data to storage and return its path.",
        )
    return payload


def remote_traceback(error: BaseException) -> str:
    """The formatted traceback of ``error``, without this program's own frames at its top."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(error), error, tb))
    except Exception:
        return f"{qualified_name(type(error))}: {describe(error)}\n"


def run(directory: Path, writer: FrameWriter, settings: dict) -> int:
    """Check, load, call, answer: the exit code."""
    try:
        check_settings(settings)
        pickler = load_cloudpickle(settings) if settings["serializer"] == "cloudpickle" else None
        function = load_function(directory, settings["function"])
        args, kwargs = load_arguments(directory, settings, pickler)
    except RemoteProblem as problem:
        writer.error(problem.reason, "SaturnBootstrapError", problem.message)
        return EXIT_FAILED
    except Exception as error:  # the def itself raised (a default value, a name it needs at definition)
        writer.error("exception", qualified_name(type(error)), describe(error), remote_traceback(error))
        return EXIT_FAILED
    try:
        value = function(*args, **kwargs)  # type: ignore[operator]
    except Exception as error:
        writer.error("exception", qualified_name(type(error)), describe(error), remote_traceback(error))
        return EXIT_FAILED
    try:
        payload = serialize_result(value, settings, pickler)
    except RemoteProblem as problem:
        writer.error(problem.reason, "SaturnBootstrapError", problem.message)
        return EXIT_FAILED
    writer.write(RESULT_KIND, payload)
    return 0


def main(directory: Path) -> int:
    """Run the function whose files are in ``directory``; the exit code."""
    try:
        settings = read_settings(directory)
    except Exception as error:
        sys.stderr.write(f"saturn-airflow bootstrap: cannot read {directory / SETTINGS_FILE}: {describe(error)}\n")
        return EXIT_NO_SETTINGS
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return run(directory, FrameWriter(settings["marker"]), settings)


if __name__ == "__main__":
    # Imports of the function resolve from the working directory (as with ``python -c``), not from this folder.
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path[0] = os.getcwd()
    try:
        code = main(Path(__file__).resolve().parent)
    except SystemExit as exiting:  # sys.exit(n) in the function: n, as Python would exit with, and no frame
        if exiting.code is None or isinstance(exiting.code, int):
            code = exiting.code or 0
        else:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"{exiting.code}\n")
            code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # The value is written: threads the function left running (not daemons) must not hold the run open.
    os._exit(code)
