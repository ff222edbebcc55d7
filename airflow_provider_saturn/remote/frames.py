"""Taking a ``@task.saturn`` function's return value out of its job run's log: the reader of the frames that
:mod:`.bootstrap` writes (the format is described there, and its pattern comes from there).

A :class:`FrameReader` is made with the run's marker and fed every line of the run's log (its ``content``, before
any masking, in the order read; lines of all its pods). It keeps the frame lines and gives back the rest for the
task log; :meth:`FrameReader.result` then returns the value or raises. The rules:

- A line is a frame line of this run when it holds ``SATURN-FRAME v1 <marker> ``: lines of another marker, or text
  the function prints that mimics the format, are ordinary lines. The frame may come after text the function
  printed without a newline; that text is given back.
- Frames are told apart by their ``attempt`` (one per process: a pod Saturn started again writes its own).
  Lines may come in any order. A line that comes again identical (a log page read twice, a triggerer that
  restarted and replays lines) is taken once; a line that comes again different, or lines of one frame that
  disagree on its kind, length or hash, make that frame unusable ("conflict").
- A frame is used only when all its lines are there, its base64 decodes, and its length and SHA-256 match:
  else the reader says what is missing or wrong, never a value.
- A verified ``result`` frame wins (several, from several attempts, must carry the same value); else the last
  verified ``error`` frame fed is raised as :class:`~.errors.SaturnRemoteError`; else a
  :class:`~.errors.SaturnFrameError` says why there is no value.
- Bounded memory: frames of at most :data:`MAX_ATTEMPTS` attempts, each declaring at most the result bound
  (``result``) or the bootstrap's error bound (``error``), and at most :func:`held_bound` characters of chunks in
  all; past that the reader stops collecting and :meth:`~FrameReader.result` fails with ``reason="overflow"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import pickle
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.remote.bootstrap import (
    CHUNK_CHARS,
    DEFAULT_RESULT_BOUND,
    ERROR_KIND,
    ERROR_PAYLOAD_BOUND,
    ERROR_REASONS,
    FRAME_LINE_PATTERN,
    FRAME_TAG,
    RESULT_KIND,
    base64_length,
)
from airflow_provider_saturn.remote.errors import SaturnFrameError, SaturnRemoteError
from airflow_provider_saturn.remote.payload import check_marker, check_reading

MAX_ATTEMPTS = 8  # frames of different attempts (pods) one reader keeps
MAX_SHOWN_PROBLEMS = 3  # frames described in one error message
MAX_SHOWN_MISSING = 10  # missing line numbers named per frame


def held_bound(result_bound: int) -> int:
    """The most chunk characters a reader holds: two result frames and four error frames."""
    return 2 * base64_length(result_bound) + 4 * base64_length(ERROR_PAYLOAD_BOUND)


def expected_count(size: int) -> int:
    """How many lines a frame of ``size`` bytes has."""
    return -(-base64_length(size) // CHUNK_CHARS)


@dataclass
class _Frame:
    """The lines of one attempt's frame received so far."""

    attempt: str
    kind: str
    count: int
    size: int
    sha256: str
    chunks: dict[int, str] = field(default_factory=dict)
    conflict: str = ""

    def header(self) -> tuple[str, int, int, str]:
        return self.kind, self.count, self.size, self.sha256

    def label(self) -> str:
        return f"the {self.kind} frame of attempt {self.attempt} ({self.count} lines)"


class FrameReader:
    """Collects the frame lines of one run (its ``marker``) from its log, and gives the return value.

    :param marker: the run's marker (32 lowercase hex characters), as given to the bootstrap.
    :param serializer: ``"json"`` or ``"cloudpickle"``, as given to the bootstrap: a result is only ever decoded
        with it.
    :param result_bound: the largest result accepted, in bytes (the bootstrap's ``result_bound``).
    """

    def __init__(self, marker: str, *, serializer: str = "json", result_bound: int = DEFAULT_RESULT_BOUND) -> None:
        check_marker(marker)
        check_reading(serializer, result_bound)
        self.marker = marker
        self.serializer = serializer
        self.result_bound = result_bound
        self.lines_taken = 0  # frame lines kept (duplicates not counted)
        self._prefix = f"{FRAME_TAG} {marker} "
        self._frames: dict[str, _Frame] = {}
        self._held = 0
        self._malformed = 0
        self._overflow = ""

    def is_frame_line(self, content: str) -> bool:
        """Whether the line holds a frame line of this run (to keep it out of the task log)."""
        return self._prefix in content

    def feed(self, content: str) -> str:
        """Take the frame line ``content`` holds, if any; the part of the line that is not frame (for the task
        log): the whole line when it holds no frame of this run, else what was printed before the frame on the
        same line (usually ``""``). Never raises: problems are kept for :meth:`result`."""
        at = content.find(self._prefix)
        if at < 0:
            return content
        self._take(content[at:].rstrip())
        before = content[:at]
        return before if before.strip() else ""

    def _take(self, text: str) -> None:
        if self._overflow:
            return
        match = FRAME_LINE_PATTERN.fullmatch(text)
        if match is None:
            self._malformed += 1
            return
        kind, attempt, chunk = match["kind"], match["attempt"], match["chunk"]
        seq, count, size = int(match["seq"]), int(match["count"]), int(match["size"])
        bound = self.result_bound if kind == RESULT_KIND else ERROR_PAYLOAD_BOUND
        if size > bound:
            self._overflow = f"the {kind} frame of attempt {attempt} declares {size} bytes, over the bound of {bound}"
            return
        last = base64_length(size) - (count - 1) * CHUNK_CHARS
        if count != expected_count(size) or seq > count or len(chunk) != (last if seq == count else CHUNK_CHARS):
            self._malformed += 1
            return
        frame = self._frames.get(attempt)
        if frame is None:
            if len(self._frames) >= MAX_ATTEMPTS:
                self._overflow = f"frames of more than {MAX_ATTEMPTS} attempts"
                return
            frame = _Frame(attempt, kind, count, size, match["sha256"])
            self._frames[attempt] = frame
        elif frame.header() != (kind, count, size, match["sha256"]):
            frame.conflict = frame.conflict or "its lines disagree on the frame's kind, length or hash"
            return
        known = frame.chunks.get(seq)
        if known is not None:
            if known != chunk:
                frame.conflict = frame.conflict or f"its line {seq} came twice with different content"
            return
        if self._held + len(chunk) > held_bound(self.result_bound):
            self._overflow = f"more than {held_bound(self.result_bound)} characters of frame lines"
            return
        frame.chunks[seq] = chunk
        self._held += len(chunk)
        self.lines_taken += 1

    def result(self) -> Any:
        """The function's return value, from a whole, verified frame.

        :raises SaturnRemoteError: the run's frame is an error frame (the function raised, or its value could not
            come back).
        :raises SaturnFrameError: no usable frame (see the module's rules); its ``reason`` says which case.
        """
        if self._overflow:
            raise SaturnFrameError(
                f"The job run's log holds more frame data than this task accepts ({self._overflow}), so the reading "
                f"of frames stopped; the result bound is {self.result_bound} bytes.",
                reason="overflow",
            )
        verified: list[tuple[_Frame, bytes]] = []
        problems: list[tuple[str, str]] = []  # (reason, description)
        for frame in self._frames.values():
            payload, problem = _assemble(frame)
            if payload is not None:
                verified.append((frame, payload))
            else:
                problems.append(problem)
        results = [(frame, payload) for frame, payload in verified if frame.kind == RESULT_KIND]
        if results:
            if len({frame.sha256 for frame, _ in results}) > 1:
                raise SaturnFrameError(
                    f"The job run's log holds {len(results)} different return values (from several pods: a job "
                    "with scale above 1, or a pod started again after it had returned): none is taken.",
                    reason="conflict",
                )
            return self._decode(results[0][1])
        errors = [payload for frame, payload in verified if frame.kind == ERROR_KIND]
        if errors:
            raise _remote_error(errors[-1])
        raise self._no_value(problems)

    def _no_value(self, problems: list[tuple[str, str]]) -> SaturnFrameError:
        malformed = ""
        if self._malformed:
            malformed = f"; {self._malformed} frame line(s) were malformed (cut short or altered)"
        if problems:
            reason = next((r for r in ("conflict", "corrupt") if any(p[0] == r for p in problems)), "incomplete")
            shown = "; ".join(text for _, text in problems[:MAX_SHOWN_PROBLEMS])
            more = f" (and {len(problems) - MAX_SHOWN_PROBLEMS} more)" if len(problems) > MAX_SHOWN_PROBLEMS else ""
            return SaturnFrameError(
                f"The function's return value could not be read from the job run's log: {shown}{more}{malformed}.",
                reason=reason,
            )
        if self._malformed:
            return SaturnFrameError(
                f"The function's return value could not be read from the job run's log{malformed}, and no whole "
                "frame remains.",
                reason="corrupt",
            )
        return SaturnFrameError(
            "The job run's log holds no return value of this run: the function did not return (sys.exit, a kill, "
            "running out of memory) or the log was cut before its end.",
            reason="missing",
        )

    def _decode(self, payload: bytes) -> Any:
        try:
            if self.serializer == "json":
                return json.loads(payload.decode("utf-8"))
            return pickle.loads(payload)  # noqa: S301 - verified by SHA-256, marker of this run, cloudpickle opted in
        except ModuleNotFoundError as error:
            raise SaturnFrameError(
                f"The return value needs a module this Airflow worker does not have to be read back ({error}); "
                "serializer='cloudpickle' needs cloudpickle (and any module of the value's classes) here too.",
                reason="corrupt",
            ) from None
        except Exception as error:
            raise SaturnFrameError(
                f"The return value verified but could not be decoded with {self.serializer}: {error}",
                reason="corrupt",
            ) from None


def _assemble(frame: _Frame) -> tuple[bytes | None, tuple[str, str]]:
    """A frame's payload when it is whole and verifies; else ``None`` and (reason, what is wrong)."""
    if frame.conflict:
        return None, ("conflict", f"{frame.label()}: {frame.conflict}")
    missing = [seq for seq in range(1, frame.count + 1) if seq not in frame.chunks]
    if missing:
        named = ", ".join(str(seq) for seq in missing[:MAX_SHOWN_MISSING])
        more = ", ..." if len(missing) > MAX_SHOWN_MISSING else ""
        return None, ("incomplete", f"{frame.label()} lacks {len(missing)} line(s): {named}{more}")
    try:
        payload = base64.b64decode("".join(frame.chunks[seq] for seq in range(1, frame.count + 1)), validate=True)
    except (binascii.Error, ValueError):
        return None, ("corrupt", f"{frame.label()} is not valid base64")
    if len(payload) != frame.size or hashlib.sha256(payload).hexdigest() != frame.sha256:
        return None, ("corrupt", f"{frame.label()} does not match its length and SHA-256")
    return payload, ("", "")


def _remote_error(payload: bytes) -> SaturnRemoteError | SaturnFrameError:
    """The error an error frame's verified payload describes."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError:
        data = None
    fields = ("type", "message", "traceback")
    if not isinstance(data, dict) or not all(isinstance(data.get(name), str) for name in fields):
        return SaturnFrameError("The job run's error frame is not the error object expected.", reason="corrupt")
    reason = data.get("reason") if data.get("reason") in ERROR_REASONS else "exception"
    return SaturnRemoteError(data["type"], data["message"], data["traceback"], reason=str(reason))
