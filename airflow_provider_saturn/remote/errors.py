"""Errors of running a Python function as a Saturn job: what cannot be shipped, and what came back wrong."""

from __future__ import annotations

from airflow_provider_saturn.client.errors import SaturnError


class SaturnFunctionError(SaturnError, ValueError):
    """The callable cannot be shipped to Saturn as source (a lambda, a closure, no source...); nothing was sent."""


class SaturnArgumentsError(SaturnError, TypeError):
    """The arguments cannot be serialized with the serializer asked for; nothing was sent."""


class SaturnPayloadTooLargeError(SaturnError, ValueError):
    """The job's files (the function's source, its arguments, the bootstrap) are over the payload bound; nothing
    was sent.

    :param size: the bytes of all the files' contents.
    :param bound: the bound they exceed.
    """

    def __init__(self, message: str, *, size: int, bound: int) -> None:
        super().__init__(message)
        self.size = size
        self.bound = bound


class SaturnRemoteError(SaturnError):
    """The function's run on Saturn ended with an error frame: the function raised (``reason`` ``"exception"``),
    or its return value could not come back (``"not_serializable"``, ``"too_large"``), or the pod could not run it
    (``"python_version"``, ``"cloudpickle_missing"``, ``"bad_input"``).

    :param type_name: the remote exception's qualified type name (``SaturnBootstrapError`` for the other reasons).
    :param message: its message.
    :param traceback: the remote traceback, formatted and bounded ("" when there was none).
    :param reason: one of the reasons above.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "", *, reason: str = "exception") -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.reason = reason
        super().__init__(self._describe())

    def _describe(self) -> str:
        if self.reason != "exception":
            return f"The function's run on Saturn failed: {self.message}"
        text = f"The function raised {self.type_name} on Saturn: {self.message}"
        return f"{text}\nRemote traceback:\n{self.traceback.rstrip()}" if self.traceback else text


class SaturnFrameError(SaturnError):
    """The return value could not be taken from the run's log: no frame (``reason`` ``"missing"``), part of one
    (``"incomplete"``), one that does not verify (``"corrupt"``), frames that contradict each other
    (``"conflict"``), or more frame data than the bounds allow (``"overflow"``). Never a wrong value instead.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
