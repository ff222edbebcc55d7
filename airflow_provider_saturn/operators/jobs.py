"""Saturn Jobs as tasks: define a job as code, delete it, and run it, with its log in the task log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.statuses import ACTIVE_STATUSES
from airflow_provider_saturn.client.wire import JOB_FIELDS, listed
from airflow_provider_saturn.links import XCOM_JOB_ID, XCOM_RUN_NAME, push_link_xcoms, saturn_ui_url
from airflow_provider_saturn.operators.base import SaturnBaseOperator, SaturnWaitingOperator
from airflow_provider_saturn.operators.by_name import checked_if_exists, create_by_name
from airflow_provider_saturn.reattach import (
    GOING_OR_DONE,
    MAX_RECORDED_RUNS,
    RecordedJobRun,
    dag_run_started,
    follows_earlier_try,
    forget_job_start,
    is_automatic_retry,
    recorded_job_run,
    remember_job_run,
    remember_job_start,
    runs_since,
    task_state_store,
)
from airflow_provider_saturn.waiting import required_id

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context
    from airflow_provider_saturn.run_logs import RunLog

MAX_NAMED_RUNS = 10  # runs named in one log line

JOB_SETTINGS = tuple(name for name in JOB_FIELDS if name not in ("name", "command"))
# Saturn settings whose operator argument has another name: Airflow's own ``retries`` is the task's.
ARGUMENT_OF = {"retries": "job_retries"}


class SaturnRunJobOperator(SaturnWaitingOperator):
    """Run a Saturn Job: start one run, and by default wait until it is ``completed``, with its log in the task log.

    The run's lines appear in the task log as they are written, from the sync wait or, deferred, from the
    trigger. ``error`` or ``stopped`` fails the task with Saturn's message and the last lines of the log.

    **Which run is this task's.** Saturn's start answers with the job, not the run, so the operator lists the
    job's runs before and after its start and follows the one that appeared (waiting a bounded time for one
    that shows up late). Starts of the same job from one worker process go one at a time; starts from
    different processes at the same moment are told apart by their start times.

    **Retries re-attach** on Airflow 3.3+: the start is recorded in the task state store just before it is
    sent (the job's runs then), and the run once it is known. A retry of the task, e.g. after its worker died,
    follows that run if it is still going, succeeds if it completed (on Airflow's own retries), and starts a
    new one if it failed. A run that showed up only after the earlier try gave up looking for it is the one
    run that is new since the recorded start; with several new ones, none is taken. Without a store (Airflow
    2.11, 3.0-3.2) nothing tells a run an earlier try started from another DAG run's run of the same job: a
    retry starts a new run and logs which runs it leaves alone.

    Killed while waiting (and, deferred, on Airflow 3.3+), it stops its own run only; a timeout stops it too
    unless ``stop_on_failure=False``. A run this task did not start (or record) is never stopped by it.
    A run Saturn names so that it cannot go into a URL fails the task (it cannot be followed), saying so; it
    is stopped only when the job had no other run going, else left running.

    :param job_id: the job's id. Templated.
    :param job_name: or the job's name. Templated.
    :param fetch_logs: copy the run's log into the task log (default True).
    :param timeout: the longest wait (default 24 hours).
    :param openlineage_inject_parent_job_info: with the OpenLineage provider installed and enabled, put this
        task's lineage parent information (``OPENLINEAGE_PARENT_ID`` and its parts, see
        :mod:`~airflow_provider_saturn.lineage`) into the job's environment before a new run starts, so that an
        OpenLineage-enabled program in the run reports under this task. Saturn's start takes no environment, so
        the job itself is updated (its other variables kept): two tasks starting one job at once may swap
        parents. Default: ``[openlineage] spark_inject_parent_job_info``, as the Databricks and Spark providers.
    :return: the run: ``job_id``, ``run_name``, ``status``, ``started_at``, ``completed_at``. Pushed before any
        wait: XComs ``job_id``, ``run_name`` and ``saturn_url`` (the **Open in Saturn Cloud** link).
    """

    template_fields: Sequence[str] = ("job_id", "job_name", "saturn_conn_id")
    resource_kind = "job_run"
    target_status = "completed"
    id_argument = "job_id"
    makes_its_own_job = False  # ``@task.saturn``: the job is the task's own, named when it runs

    def __init__(
        self,
        *,
        job_id: str | None = None,
        job_name: str | None = None,
        fetch_logs: bool = True,
        timeout: float | timedelta = timedelta(hours=24),
        openlineage_inject_parent_job_info: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        if (job_id is None) == (job_name is None) and not self.makes_its_own_job:
            raise ValueError(f"{type(self).__name__} takes exactly one of job_id and job_name")
        self.job_id = job_id
        self.job_name = job_name
        self.fetch_logs = fetch_logs

    def resolve_job_id(self) -> str:
        """The job's id, from ``job_id`` or by looking its name up; neither given fails before any request."""
        return self._resolved_job()[0]

    def _resolved_job(self) -> tuple[str, dict[str, Any] | None]:
        """The job's id, and the job when looking its name up read it already."""
        if self.job_name is None:
            return self.checked_id(), None
        name = required_id(self.job_name, "job_name", f"{type(self).__name__} {self.task_id!r}")
        job = self.hook.find_job_by_name(name)
        if job is None:
            raise ValueError(f"Saturn has no job named {name!r}")
        return str(job["id"]), job

    def execute(self, context: Context) -> dict[str, Any]:
        job_id, job = self._resolved_job()
        lineage = self.injects_lineage_parent()
        if job is None and lineage:  # read once, for the masks and the lineage alike
            job = self.hook.get_job(job_id)
        if self.fetch_logs:
            self.mask_job_secrets(job_id, job)
        run = self.earlier_run(context, job_id)
        if run is None:
            if lineage and job is not None:
                self.pass_lineage_parent(context, job_id, job)
            run = self.start_run(context, job_id)
        push_link_xcoms(
            context,
            saturn_ui_url(self.hook.get_conn().url, job_id, "job"),
            {XCOM_JOB_ID: job_id, XCOM_RUN_NAME: run["run_name"]},
        )
        if run["status"] == "completed":
            return run
        return self.wait_or_defer(run["id"], run, started_here=True)

    def mask_job_secrets(self, job_id: str, job: dict[str, Any] | None = None) -> None:
        """Register the job's environment values with Airflow's secrets masker before its log is followed, so that a
        run printing one shows ``***`` in the task log (the trigger does the same in the triggerer); ``job``: the
        job as already read, else it is read."""
        from airflow_provider_saturn.client.errors import SaturnError
        from airflow_provider_saturn.run_logs import mask_job_secrets

        try:
            mask_job_secrets(job if job is not None else self.hook.get_job(job_id))
        except SaturnError as error:  # the start says what is wrong, if anything is
            self.log.debug("Could not read job %s to mask its environment values: %s", job_id, error)

    def injects_lineage_parent(self) -> bool:
        """Whether this task passes its OpenLineage parent information to the run (see the parameter)."""
        from airflow_provider_saturn.lineage import inject_by_default

        chosen = self.openlineage_inject_parent_job_info
        return inject_by_default() if chosen is None else bool(chosen)

    def pass_lineage_parent(self, context: Context, job_id: str, job: dict[str, Any]) -> None:
        """Put the task's OpenLineage parent information into the job's environment (only the ``OPENLINEAGE_``
        variables change; nothing is sent when OpenLineage is off or they are there already)."""
        from airflow_provider_saturn.lineage import with_parent_job

        current = job.get("environment_variables") or {}
        wanted = with_parent_job(dict(current), context)
        if wanted is None or wanted == current:
            return
        self.hook.update_job(job_id, environment_variables=wanted)
        self.log.info("Passed this task's OpenLineage parent (OPENLINEAGE_PARENT_ID and its parts) to job %s", job_id)

    def start_run(self, context: Context, job_id: str, *, new_job: bool = False) -> dict[str, Any]:
        """Start a run of the job and know it; with a task state store, the start is recorded just before it is
        sent and the run once it is known, so that a retry finds it whenever it shows up. ``new_job``: this try has
        just created the job, so it has no runs to list first."""
        from airflow_provider_saturn.client.errors import SaturnTransientError
        from airflow_provider_saturn.client.jobs import SaturnRunNotIdentifiedError, SaturnUnusableRunError

        recording = self.durable and task_state_store(context) is not None
        try:
            run = self.hook.start_job(
                job_id,
                before_send=(lambda before: remember_job_start(context, job_id, before)) if recording else None,
                runs_before=() if new_job else None,
            )
        except SaturnRunNotIdentifiedError as error:
            if recording:
                later = "The start is recorded: a retry of this task follows (or stops) the run that shows up."
            elif not self.durable:
                later = "durable=False: a retry starts a new run, and the run that shows up is not followed."
            else:
                later = (
                    "There is no task state store (Airflow before 3.3), so a retry cannot tell that run from "
                    "another's: it starts a new one, and the run that shows up is not followed."
                )
            raise SaturnRunNotIdentifiedError(f"{error} {later}") from error
        except SaturnUnusableRunError:
            if recording:
                forget_job_start(context, job_id)  # given up, and said so: a retry starts afresh
            raise
        except SaturnTransientError:
            raise  # the start may have taken effect: a retry looks for a run that is new since the record
        except Exception:
            if recording:
                forget_job_start(context, job_id)  # refused, or never sent: nothing to follow
            raise
        self._waiting_on = (self.resource_kind, run["id"])  # a kill from now on stops this run
        self.log.info("Started run %s of Saturn job %s", run["run_name"], job_id)
        if recording:
            remember_job_run(context, run)
        return run

    def earlier_run(self, context: Context, job_id: str) -> dict[str, Any] | None:
        """The run an earlier try of this task started (as recorded), if it is still going, or completed and
        this try is one of Airflow's retries; else ``None``."""
        from airflow_provider_saturn.client.errors import SaturnNotFoundError

        if not self.durable:
            if follows_earlier_try(context):
                self.log.info("durable=False: a run an earlier try started is not looked for; starting a new run")
            return None
        # A completed run is this try's result only on Airflow's own retry; after a user's clear, run again.
        taken = GOING_OR_DONE if is_automatic_retry(context, self.retries) else ACTIVE_STATUSES
        record = recorded_job_run(context, job_id)
        if record is None:
            if task_state_store(context) is None and follows_earlier_try(context):
                self._leave_alone(context, job_id)
            return None
        if record.run_name is None:
            from airflow_provider_saturn.client.jobs import SaturnUnusableRunError

            try:
                found = self.run_that_appeared(job_id, record)
            except SaturnUnusableRunError:
                forget_job_start(context, job_id)  # given up, and said so: the next try starts afresh
                raise
            if found is None:
                return None
            run = found
        else:
            try:
                run = self.hook.get_job_run(job_id, record.run_name)
            except SaturnNotFoundError:
                self.log.info("The run %s an earlier try started is gone; starting a new one", record.run_name)
                return None
        remember_job_run(context, run)
        if run["status"] in ACTIVE_STATUSES:
            self.log.info("Re-attaching to run %s of job %s, started by an earlier try", run["run_name"], job_id)
            return run
        if run["status"] == "completed" and "completed" in taken:
            self.log.info("Run %s of job %s, started by an earlier try, has completed", run["run_name"], job_id)
            return run
        if run["status"] == "completed":
            self.log.info(
                "Run %s of job %s, started before the task was cleared, has completed: starting a new run",
                run["run_name"],
                job_id,
            )
            return None
        self.log.info("Run %s, started by an earlier try, is %s: starting a new run", run["run_name"], run["status"])
        return None

    def run_that_appeared(self, job_id: str, record: RecordedJobRun) -> dict[str, Any] | None:
        """The run an earlier try started but did not get to know: the one run that is new since its recorded
        start. ``None`` (logged) when there is none, or several: which is its own cannot be told then."""
        from airflow_provider_saturn.client.job_runs import give_up_on_unusable_run, new_runs, unusable_name_problem

        if record.runs_before is None:
            self.log.warning(
                "An earlier try started job %s, but the job's runs then could not be recorded (more than %d): "
                "which run it made cannot be told, so none is taken; starting a new run",
                job_id,
                MAX_RECORDED_RUNS,
            )
            return None
        fresh = new_runs(self.hook.list_job_runs(job_id), set(record.runs_before))
        if not fresh:
            self.log.info("No run of job %s showed up after an earlier try started it; starting a new one", job_id)
            return None
        if len(fresh) > 1:
            self.log.warning(
                "%d runs of job %s showed up after an earlier try started it (%s): which one is its own cannot be "
                "told, so none is taken, and none is stopped; starting a new run",
                len(fresh),
                job_id,
                named(fresh),
            )
            return None
        run = fresh[0]
        problem = unusable_name_problem(run["run_name"])
        if problem is not None:
            give_up_on_unusable_run(
                job_id, run["run_name"], problem, list_runs=self.hook.list_job_runs, stop_job=self.hook.stop_job
            )
        self.log.info(
            "Run %s of job %s showed up after an earlier try started it: it is that try's", run["run_name"], job_id
        )
        return run

    def _leave_alone(self, context: Context, job_id: str) -> None:
        """Log, for a retry without a task state store, why it starts a new run, and which runs of this DAG run's
        time it leaves alone."""
        from airflow_provider_saturn.client.errors import SaturnError

        since = dag_run_started(context)
        try:
            going = runs_since(self.hook.list_job_runs(job_id), since, GOING_OR_DONE) if since is not None else []
        except SaturnError as error:  # only for the log: the start goes on
            self.log.info("Could not list the runs of job %s to name them (%s)", job_id, error)
            going = []
        self.log.warning(
            "This try follows an earlier one, but there is no task state store (Airflow before 3.3): a run of job "
            "%s that the earlier try may have started cannot be told from another DAG run's, so none is taken "
            "and none is stopped; starting a new run.%s",
            job_id,
            f" Runs of the job since this DAG run began, left alone: {named(going)}" if going else "",
        )

    def run_log_reader(self, resource_id: str) -> Callable[[RunLog], None] | None:
        if not self.fetch_logs:
            return None
        from airflow_provider_saturn.client.errors import SaturnError
        from airflow_provider_saturn.client.job_runs import split_job_run_key

        job_id, run_name = split_job_run_key(resource_id)

        def read(run_log: RunLog) -> None:
            try:
                run_log.absorb(self.hook.job_logs(job_id, run_name, since=run_log.cursor), self.log)
            except SaturnError as error:
                run_log.read_failed(error, self.log)

        return read

    def expected_resource_id(self) -> str:
        raise NotImplementedError("a job run's key comes from the deferral or its event")

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **wait: Any) -> dict[str, Any]:
        """Resume after the trigger. Where a runner dropped the deferral's kwargs (``dag.test()``), the run is the
        event's, once it is checked to be a run of this task's job."""
        if not wait.get("resource_id") and isinstance(event, dict):
            key = str(event.get("resource_id") or "")
            job_id = self.resolve_job_id()
            if not key.startswith(f"{job_id}/"):
                raise ValueError(f"Trigger event for {key!r} is not about a run of job {job_id}")
            wait = {**wait, "resource_id": key}
        return super().execute_complete(context, event, **wait)


def named(runs: list[dict[str, Any]]) -> str:
    """The names of some runs for a log line: bounded, each quoted."""
    from airflow_provider_saturn.client.job_runs import shown_name

    return listed([shown_name(run.get("run_name")) for run in runs], MAX_NAMED_RUNS)


class SaturnCreateJobOperator(SaturnBaseOperator):
    """Create a Saturn Job, idempotently: a job of the same name is handled by ``if_exists``, except one that an
    earlier try of this task created (its worker died): a retry carries on with it.

    :param name: the job's name (unique in Saturn). Templated.
    :param command: what a run runs. Templated.
    :param if_exists: ``"fail"`` (default), ``"reuse"`` it as it is, or ``"update"`` it with these settings.
    :param description, image_uri, instance_size, environment_variables, start_script, working_dir, scale:
        Saturn's JobCreate settings, as in ``SaturnHook.create_job``; ``instance_size`` is checked against
        Saturn's sizes before anything is sent.
    :param job_retries: Saturn's ``retries`` setting of the job: how often Saturn retries a failed pod of a run.
        (``retries`` stays Airflow's: how often the task is retried, from ``default_args`` too.)
    :param tags: ``{name: value}`` texts on the job. Templated.
    :param extra_packages: Saturn's ``ExtraPackages``, e.g. ``{"pip": "pandas pyarrow"}``. Templated.
    :param config_files: files written to the pod's ``$HOME`` when it starts,
        ``{"<path>": {"content": "...", "mode": "0600"}}``; not templated, and never in XCom.
    :return: the job, with ``command``, ``start_script`` and environment variable values as ``"***"``.
        Pushed: XComs ``job_id`` and ``saturn_url``.
    """

    template_fields: Sequence[str] = (
        "name",
        "command",
        "description",
        "image_uri",
        "instance_size",
        "environment_variables",
        "start_script",
        "working_dir",
        "tags",
        "extra_packages",
        "saturn_conn_id",
    )
    template_fields_renderers = {"environment_variables": "json", "command": "bash", "start_script": "bash"}

    def __init__(
        self,
        *,
        name: str,
        command: str,
        if_exists: str = "fail",
        description: str | None = None,
        image_uri: str | None = None,
        instance_size: str | None = None,
        environment_variables: dict[str, str] | None = None,
        start_script: str | None = None,
        working_dir: str | None = None,
        scale: int | None = None,
        job_retries: int | None = None,
        tags: dict[str, str] | None = None,
        extra_packages: dict[str, Any] | None = None,
        config_files: dict[str, dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.command = command
        self.if_exists = checked_if_exists(if_exists)
        self.description = description
        self.image_uri = image_uri
        self.instance_size = instance_size
        self.environment_variables = environment_variables
        self.start_script = start_script
        self.working_dir = working_dir
        self.scale = scale
        self.job_retries = job_retries
        self.tags = tags
        self.extra_packages = extra_packages
        self.config_files = config_files  # not templated: its contents would show in the Rendered tab

    def settings(self) -> dict[str, Any]:
        """The settings given (``None`` ones left out), ``command`` included."""
        given = {name: getattr(self, ARGUMENT_OF.get(name, name)) for name in JOB_SETTINGS}
        return {"command": self.command, **{name: value for name, value in given.items() if value is not None}}

    def execute(self, context: Context) -> dict[str, Any]:
        settings = self.settings()
        job = create_by_name(
            self,
            context,
            kind="job",
            name=self.name,
            if_exists=self.if_exists,
            find=self.hook.find_job_by_name,
            create=lambda: self.hook.create_job(name=self.name, **settings),
            update=lambda job_id: self.hook.update_job(job_id, **settings),
        )
        push_link_xcoms(context, saturn_ui_url(self.hook.get_conn().url, job["id"], "job"), {XCOM_JOB_ID: job["id"]})
        return job


class SaturnDeleteJobOperator(SaturnBaseOperator):
    """Delete a Saturn Job.

    A clean-up task (``trigger_rule`` not ``all_success``) given no id skips, as the project delete does.

    :param job_id: the job's id. Templated.
    :param ignore_missing: succeed when no such job exists (default False).
    :param allow_active: delete it even while a run is going (default False: Saturn refuses).
    """

    template_fields: Sequence[str] = ("job_id", "saturn_conn_id")
    operator_extra_links = ()  # the job's page is gone once it is deleted
    id_argument = "job_id"
    skips_without_id = True

    def __init__(self, *, job_id: str, ignore_missing: bool = False, allow_active: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.ignore_missing = ignore_missing
        self.allow_active = allow_active

    def execute(self, context: Context) -> None:
        from airflow_provider_saturn.client.errors import SaturnNotFoundError

        job_id = self.checked_id()
        try:
            self.hook.delete_job(job_id, allow_active=self.allow_active)
        except SaturnNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Saturn job %s does not exist; nothing to delete", job_id)
            return
        self.log.info("Deleted Saturn job %s", job_id)
