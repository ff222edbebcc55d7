"""Projects as code: create (idempotently), update and delete Saturn projects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.wire import WORKSPACE_FIELDS
from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.operators.by_name import checked_if_exists, create_by_name

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

SETTINGS = tuple(name for name in WORKSPACE_FIELDS if name != "name")  # the seed's, but name
TEMPLATED_SETTINGS = tuple(name for name in SETTINGS if name != "jupyter_start_ssh")
DASK_SETTINGS = frozenset({"n_workers", "worker_size", "scheduler_size", "nthreads"})


class _SaturnProjectSettingsOperator(SaturnBaseOperator):
    """Holds the seed's project settings (all but ``name``); ``None`` means "leave as it is"."""

    def __init__(
        self,
        *,
        description: str | None = None,
        image_uri: str | None = None,
        start_script: str | None = None,
        environment_variables: dict[str, str] | None = None,
        working_dir: str | None = None,
        jupyter_size: str | None = None,
        jupyter_disk_space: str | None = None,
        jupyter_auto_shutoff: str | None = None,
        jupyter_start_ssh: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.description = description
        self.image_uri = image_uri
        self.start_script = start_script
        self.environment_variables = environment_variables
        self.working_dir = working_dir
        self.jupyter_size = jupyter_size
        self.jupyter_disk_space = jupyter_disk_space
        self.jupyter_auto_shutoff = jupyter_auto_shutoff
        self.jupyter_start_ssh = jupyter_start_ssh

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}


class SaturnCreateProjectOperator(_SaturnProjectSettingsOperator):
    """Create a Saturn project, idempotently: a project of the same name is handled by ``if_exists``, except one
    that an earlier try of this task created (its worker died): a retry carries on with it.

    :param name: the project name (unique in Saturn). Templated.
    :param if_exists: ``"fail"`` (default), ``"reuse"`` it as it is, or ``"update"`` it with these settings.
    :param dask_cluster: settings of a Dask cluster to attach when the project has none
        (``n_workers``, ``worker_size``, ``scheduler_size``, ``nthreads``); ``None`` attaches none. Templated.
    :param description, image_uri, start_script, environment_variables, working_dir, jupyter_size,
        jupyter_disk_space, jupyter_auto_shutoff, jupyter_start_ssh: as in ``SaturnHook.create_project``.
    :return: the project dict (``id``, ``jupyter_server_id``, ``dask_cluster_id``, ...). XCom is stored in
        plain text, so the values of ``environment_variables`` read ``"***"`` (the names stay) and so does
        ``start_script``, also in the nested ``dask_cluster``; ``SaturnHook.get_project`` gives them in full.
    """

    template_fields: Sequence[str] = ("name", *TEMPLATED_SETTINGS, "dask_cluster", "saturn_conn_id")
    template_fields_renderers = {"environment_variables": "json", "dask_cluster": "json"}

    def __init__(
        self,
        *,
        name: str,
        if_exists: str = "fail",
        dask_cluster: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        unknown = set(dask_cluster or {}) - DASK_SETTINGS
        if unknown:
            raise ValueError(f"Unknown dask_cluster settings {sorted(unknown)}; known: {sorted(DASK_SETTINGS)}")
        self.name = name
        self.if_exists = checked_if_exists(if_exists)
        self.dask_cluster = dask_cluster

    def execute(self, context: Context) -> dict[str, Any]:
        settings = self.settings()
        project = create_by_name(
            self,
            context,
            kind="project",
            name=self.name,
            if_exists=self.if_exists,
            find=self.hook.find_project_by_name,
            create=lambda: self.hook.create_project(name=self.name, **settings),
            update=(lambda project_id: self.hook.update_project(project_id, **settings)) if settings else None,
        )
        if self.dask_cluster is not None and not project["dask_cluster_id"]:
            cluster = self.hook.create_dask_cluster(project["id"], **self.dask_cluster)
            self.log.info("Attached Dask cluster %s", cluster["id"])
            project = self.hook.get_project(project["id"])
        self.push_project(context, project)
        return project


class SaturnUpdateProjectOperator(_SaturnProjectSettingsOperator):
    """Update a project's settings (any but its name).

    :param project_id: the project id. Templated. No id fails at once.
    :param update_jupyter_server: stop a running Jupyter server whose settings changed (default True),
        so that its next start uses them.
    :return: the project dict, with the values of ``environment_variables`` and ``start_script`` as
        ``"***"`` (as for ``SaturnCreateProjectOperator``).
    """

    template_fields: Sequence[str] = ("project_id", *TEMPLATED_SETTINGS, "saturn_conn_id")
    template_fields_renderers = {"environment_variables": "json"}
    id_argument = "project_id"

    def __init__(self, *, project_id: str, update_jupyter_server: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.update_jupyter_server = update_jupyter_server

    def execute(self, context: Context) -> dict[str, Any]:
        project = self.hook.update_project(
            self.checked_id(), update_jupyter_server=self.update_jupyter_server, **self.settings()
        )
        self.push_project(context, project)
        return project


class SaturnDeleteProjectOperator(SaturnBaseOperator):
    """Delete a project.

    No id (the create upstream failed): a clean-up task (``trigger_rule="all_done"``) skips; with
    ``all_success`` the task fails at once.

    :param project_id: the project id. Templated.
    :param ignore_missing: succeed when no such project exists (default False).
    :param allow_active: delete even a running project (default False: Saturn refuses).
    """

    template_fields: Sequence[str] = ("project_id", "saturn_conn_id")
    operator_extra_links = ()  # the project's page is gone once it is deleted
    id_argument = "project_id"
    skips_without_id = True

    def __init__(
        self, *, project_id: str, ignore_missing: bool = False, allow_active: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.ignore_missing = ignore_missing
        self.allow_active = allow_active

    def execute(self, context: Context) -> None:
        from airflow_provider_saturn.client.errors import SaturnNotFoundError

        project_id = self.checked_id()
        try:
            self.hook.delete_project(project_id, allow_active=self.allow_active)
        except SaturnNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Saturn project %s does not exist; nothing to delete", project_id)
            return
        self.log.info("Deleted Saturn project %s", project_id)
