"""``@task.saturn``: a TaskFlow function runs as a Saturn Job, and its return value comes back as the task's XCom.

Built the Airflow way (a ``DecoratedOperator`` and ``task_decorator_factory``, as ``@task.docker``), on top of
:class:`~airflow_provider_saturn.operators.jobs.SaturnRunJobOperator`: one Saturn job per task instance (see
:mod:`.job_naming`), whose ``config_files`` carry the function's source, its arguments and a bootstrap
(:mod:`airflow_provider_saturn.remote`); a run of it, followed with its log in the task log (sync or deferred),
re-attached after a crash, stopped on kill; and the return value read back from the run's log as verified frames.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.decorators.job_naming import (
    function_job_name,
    function_job_tags,
    is_task_instances_job,
    task_instance_parts,
)
from airflow_provider_saturn.lineage import with_parent_job
from airflow_provider_saturn.links import XCOM_JOB_ID, XCOM_RUN_NAME, push_link_xcoms, saturn_ui_url
from airflow_provider_saturn.operators.base import returns_users_value
from airflow_provider_saturn.operators.jobs import SaturnRunJobOperator
from airflow_provider_saturn.reattach import remember_created
from airflow_provider_saturn.remote import (
    DEFAULT_PAYLOAD_BOUND,
    DEFAULT_RESULT_BOUND,
    FrameReader,
    SaturnFrameError,
    SaturnRemoteError,
    bootstrap_command,
    build_job_files,
    function_source,
    new_marker,
    shipped_settings,
)
from airflow_provider_saturn.remote.payload import check_bound, check_reading
from airflow_provider_saturn.run_logs import RunLog, mask_job_secrets

try:  # Airflow 3: the Task SDK
    from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
except ImportError:  # Airflow 2.11
    from airflow.decorators.base import DecoratedOperator, task_decorator_factory  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

KEEP_JOB = ("on_failure", "never", "always")
# Whole reads of a finished run's log for its frames (each at most MAX_LOG_REQUESTS_PER_READ requests): enough
# for a million lines printed before the result; a longer log fails, saying so, rather than reading on forever.
MAX_RESULT_READS = 50


def extra_packages_of(value: str | Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Saturn's ``ExtraPackages`` from what a user gives: pip requirements as one text or a list, or the mapping."""
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    if isinstance(value, str):
        return {"pip": value}
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return {"pip": " ".join(value)}
    raise ValueError(
        f"extra_packages must be pip requirements (a text or a list of texts) or a dict, not a {type(value).__name__}"
    )


class _SaturnDecoratedOperator(DecoratedOperator, SaturnRunJobOperator):
    """Runs the decorated function as a run of the task instance's own Saturn job; returns its return value.

    The function must be self-contained, as for ``@task.virtualenv`` and ``@task.docker``: defined with ``def``,
    importing inside it what it uses, taking everything else as arguments (JSON values by default). Its prints
    show in the task log as the run writes them.

    :param instance_size, image_uri, environment_variables, start_script, working_dir: the job's Saturn settings,
        as in ``SaturnHook.create_job``. Templated (but ``instance_size`` and ``image_uri`` only).
    :param extra_packages: pip requirements to install when the pod starts (a text or a list), or Saturn's
        ``ExtraPackages`` mapping.
    :param job_retries: how often Saturn retries a failed pod of the run (``retries`` stays Airflow's).
    :param keep_job: ``"on_failure"`` (default: a failed run's job stays in Saturn to look at), ``"never"`` or
        ``"always"``. Deletion is best effort and logged; a job that is not this task instance's is never touched.
    :param serializer: ``"json"`` (default) or ``"cloudpickle"`` (needs cloudpickle here and in the image, and the
        same Python major.minor, which the pod checks).
    :param python: the image's Python command (default ``"python"``).
    :param openlineage_inject_parent_job_info: with the OpenLineage provider installed and enabled, the job gets
        this task's lineage parent information in its environment (default; ``False`` keeps it out), so that
        an OpenLineage-enabled function reports under the task (see :mod:`airflow_provider_saturn.lineage`).
    :param result_bound: the largest serialized return value, in bytes (default 1 MiB).
    :param payload_bound: the most bytes shipped (source, arguments, bootstrap; default 512 KiB), checked before
        any request.
    """

    custom_operator_name = "@task.saturn"
    makes_its_own_job = True
    template_fields: Sequence[str] = (
        "op_args",
        "op_kwargs",
        "instance_size",
        "image_uri",
        "working_dir",
        "saturn_conn_id",
    )
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py"}

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        instance_size: str | None = None,
        image_uri: str | None = None,
        environment_variables: dict[str, str] | None = None,
        start_script: str | None = None,
        working_dir: str | None = None,
        extra_packages: str | Sequence[str] | Mapping[str, Any] | None = None,
        job_retries: int | None = None,
        keep_job: str = "on_failure",
        serializer: str = "json",
        python: str = "python",
        result_bound: int = DEFAULT_RESULT_BOUND,
        payload_bound: int = DEFAULT_PAYLOAD_BOUND,
        **kwargs: Any,
    ) -> None:
        if keep_job not in KEEP_JOB:
            raise ValueError(f"keep_job must be one of {list(KEEP_JOB)}, not {keep_job!r}")
        if not isinstance(python, str) or not python.strip() or len(python) > 1024:
            raise ValueError("python must be the image's Python command, e.g. 'python' or '/opt/conda/bin/python'")
        check_reading(serializer, result_bound)
        check_bound("payload_bound", payload_bound)
        function_source(python_callable)  # a lambda or a closure is refused when the DAG is parsed
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)
        self.instance_size = instance_size
        self.image_uri = image_uri
        self.environment_variables = environment_variables
        self.start_script = start_script
        self.working_dir = working_dir
        self.extra_packages = extra_packages_of(extra_packages)
        self.job_retries = job_retries
        self.keep_job = keep_job
        self.serializer = serializer
        self.python = python
        self.result_bound = result_bound
        self.payload_bound = payload_bound
        self._job_id: str | None = None
        self._frames: FrameReader | None = None

    # ------------------------------------------------------------------ the run

    @returns_users_value
    def execute(self, context: Context) -> Any:
        source, name = function_source(self.python_callable)
        marker = new_marker()
        files = build_job_files(  # the payload bound is checked here, before any request
            source,
            name,
            list(self.op_args),
            dict(self.op_kwargs),
            self.serializer,
            marker,
            self.result_bound,
            payload_bound=self.payload_bound,
        )
        reader = self._reader(marker)
        job = None if self._first_try(context) else self._own_job(context)
        created = False
        run = None
        if job is not None:
            mask_job_secrets(job)  # a run followed again may print them (and its failure is logged here)
            run = self.earlier_run(context, job["id"])
            earlier = self._shipped_reader(job) if run is not None else None
            if run is not None and earlier is None:
                self.log.warning(
                    "Job %s's files no longer say how to read run %s's result as this task does: running afresh",
                    job["id"],
                    run["run_name"],
                )
                run = None
            reader = earlier or reader
        if run is None:
            job, created = self._prepared_job(context, job, files)
            mask_job_secrets(job)  # from the answer: its environment values are the ones given
            run = self.start_run(context, job["id"], new_job=created)
        assert job is not None
        self._frames = reader
        push_link_xcoms(
            context,
            saturn_ui_url(self.hook.get_conn().url, job["id"], "job"),
            {XCOM_JOB_ID: job["id"], XCOM_RUN_NAME: run["run_name"]},
        )
        return self._finished(job["id"], run["run_name"], lambda: self._wait(run))

    def _wait(self, run: dict[str, Any]) -> None:
        if run["status"] != "completed":
            self.wait_or_defer(run["id"], run, started_here=True)

    @returns_users_value
    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **wait: Any) -> Any:
        from airflow_provider_saturn.client.job_runs import split_job_run_key

        job = self._own_job(context)
        if job is None:
            raise ValueError("The Saturn job of this task instance is gone: its run's result cannot be read")
        mask_job_secrets(job)  # in this worker too: the run's failure may quote them
        self._frames = self._shipped_reader(job)
        if self._frames is None:
            raise ValueError(f"Saturn job {job['id']}'s files no longer say how to read its run's result")
        key = wait.get("resource_id") or (event.get("resource_id") if isinstance(event, dict) else None)
        job_id, run_name = split_job_run_key(key)
        if job_id != job["id"]:
            raise ValueError(f"Trigger event for {key!r} is not about a run of job {job['id']}")
        resume = SaturnRunJobOperator.execute_complete
        return self._finished(job_id, run_name, lambda: resume(self, context, event, **wait))

    def _finished(self, job_id: str, run_name: str, wait: Callable[[], Any]) -> Any:
        """Wait (or resume) through ``wait``, then the function's return value, or its remote failure; the job
        kept or deleted as ``keep_job`` says."""
        from airflow_provider_saturn.client.errors import SaturnResourceError

        try:
            wait()
            value = self._result(job_id, run_name)
        except SaturnResourceError as error:
            self._clean_up(job_id, failed=True)
            remote = self._remote_failure(job_id, run_name)
            if remote is None:
                raise
            raise remote from error
        except Exception:
            self._clean_up(job_id, failed=True)
            raise
        self._clean_up(job_id, failed=False)
        return value

    def _reader(self, marker: str) -> FrameReader:
        """The reader of a run's frames: always this task's serializer and bound, whatever the job says now."""
        return FrameReader(marker, serializer=self.serializer, result_bound=self.result_bound)

    def _shipped_reader(self, job: dict[str, Any]) -> FrameReader | None:
        """The reader of the frames of the run the job's files made: only their marker is taken. The job is in
        Saturn, where the run's own code could change it: its frames are decoded as this task says (a ``json``
        task never unpickles what a job claims is ``cloudpickle``)."""
        shipped = shipped_settings(job)
        return self._reader(shipped["marker"]) if shipped is not None else None

    # ------------------------------------------------------------------ the job

    def resolve_job_id(self) -> str:
        if self._job_id is None:
            raise ValueError("the task instance's Saturn job is not known yet")
        return self._job_id

    def _own_job(self, context: Context) -> dict[str, Any] | None:
        """This task instance's job, if Saturn has it; a job of its name that is someone else's is refused."""
        parts = task_instance_parts(context)
        name = function_job_name(*parts)
        job = self.hook.find_job_by_name(name)
        if job is None:
            return None
        if not is_task_instances_job(job, function_job_tags(*parts)):
            raise ValueError(
                f"A Saturn job named {name!r} exists ({job['id']}) but is not this task instance's (its tags "
                "differ): it is left alone. Rename or delete it."
            )
        self._job_id = str(job["id"])
        return job

    @staticmethod
    def _first_try(context: Context) -> bool:
        """The task instance's first try ever (not a retry, not a clear): no job of its own can exist yet, so none
        is looked for first (a job of its name that does exist answers the create with a conflict)."""
        return getattr(context["ti"], "try_number", None) == 1

    def _prepared_job(
        self, context: Context, job: dict[str, Any] | None, files: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The task instance's job, created or updated to run the function with these files; and whether it was
        created now."""
        from airflow_provider_saturn.client.errors import SaturnConflictError

        parts = task_instance_parts(context)
        settings = {
            "command": bootstrap_command(self.python),
            "config_files": files,
            "tags": function_job_tags(*parts),
            "instance_size": self.instance_size,
            "image_uri": self.image_uri,
            "environment_variables": (
                with_parent_job(self.environment_variables, context)
                if self.injects_lineage_parent()
                else self.environment_variables
            ),
            "start_script": self.start_script,
            "working_dir": self.working_dir,
            "extra_packages": self.extra_packages,
            "retries": self.job_retries,
        }
        given = {key: value for key, value in settings.items() if value is not None}
        name = function_job_name(*parts)
        if job is None:
            try:
                return self._created(context, name, given, "Created"), True
            except SaturnConflictError:  # its name is taken: the task instance's own job, or someone else's
                job = self._own_job(context)
                if job is None:
                    raise
        try:  # made anew, so that a setting removed from the task is gone from the job too
            self.hook.delete_job(str(job["id"]))
        except SaturnConflictError:  # a run of it is still going (Saturn refuses): change it in place
            job = self.hook.update_job(str(job["id"]), **given)
            self.log.info("Updated Saturn job %r (%s) to run %s again", job["name"], job["id"], self.task_id)
            self._job_id = str(job["id"])
            return job, False
        return self._created(context, name, given, "Made anew"), True

    def injects_lineage_parent(self) -> bool:
        """The job is the task instance's own: its OpenLineage parent goes in unless told not to (the provider
        installed and enabled; ``openlineage_inject_parent_job_info=False`` keeps it out)."""
        return self.openlineage_inject_parent_job_info is not False

    def _created(self, context: Context, name: str, settings: dict[str, Any], how: str) -> dict[str, Any]:
        """The task instance's job, created now with ``settings`` (and recorded as this task's); ``how`` for the log."""
        created = self.hook.create_job(name=name, **settings)
        if self.durable:
            remember_created(context, "job", str(created["id"]))
        self.log.info("%s Saturn job %r (%s) to run %s", how, created["name"], created["id"], self.task_id)
        self._job_id = str(created["id"])
        return created

    def _clean_up(self, job_id: str, *, failed: bool) -> None:
        """Delete the job unless ``keep_job`` keeps it; best effort, logged."""
        if self.keep_job == "always" or (failed and self.keep_job == "on_failure"):
            self.log.info("Keeping Saturn job %s (keep_job=%r)", job_id, self.keep_job)
            return
        try:
            self.hook.delete_job(job_id)
            self.log.info("Deleted Saturn job %s (keep_job=%r)", job_id, self.keep_job)
        except Exception as error:
            self.log.warning("Could not delete Saturn job %s: %s", job_id, error)

    # ------------------------------------------------------------------ the result

    def new_run_log(self) -> RunLog:
        return RunLog(frames=self._frames)

    def trigger_log_options(self) -> dict[str, Any]:
        return {"frame_marker": self._frames.marker} if self._frames is not None else {}

    def _result(self, job_id: str, run_name: str) -> Any:
        """The return value: from the frames the wait took from the log, else from a read of the whole log."""
        from airflow_provider_saturn.client.logs import LogCursor

        assert self._frames is not None
        try:
            return self._frames.result()
        except SaturnFrameError as error:
            if error.reason not in ("missing", "incomplete"):
                raise
        reader = FrameReader(
            self._frames.marker, serializer=self._frames.serializer, result_bound=self._frames.result_bound
        )
        cursor = LogCursor()
        for _ in range(MAX_RESULT_READS):
            for line in self.hook.job_logs(job_id, run_name, since=cursor):
                reader.feed(str(line.get("content") or ""))
            if not cursor.behind:
                break
        else:
            raise SaturnFrameError(
                f"The log of run {run_name} is longer than {MAX_RESULT_READS} reads: its result was not reached",
                reason="missing",
            )
        return reader.result()

    def _remote_failure(self, job_id: str, run_name: str) -> SaturnRemoteError | None:
        """The function's own failure, when its run wrote one (an exception, a result it could not send)."""
        try:
            self._result(job_id, run_name)
        except SaturnRemoteError as remote:
            return remote
        except Exception as error:  # no error frame: the run's own failure says it all
            self.log.debug("No error frame in run %s's log: %s", run_name, error)
        return None


def saturn_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    """``@task.saturn``: run the decorated function as a Saturn Job; its return value becomes the task's XCom.

    Takes :class:`_SaturnDecoratedOperator`'s arguments and ``SaturnRunJobOperator``'s (``saturn_conn_id``,
    ``deferrable``, ``timeout``, ``poll_interval``, ``fetch_logs``, ``stop_on_failure``), plus ``multiple_outputs``.
    The function must be self-contained (imports inside it).
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_SaturnDecoratedOperator,
        **kwargs,
    )
