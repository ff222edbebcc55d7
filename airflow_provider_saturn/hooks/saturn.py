"""``SaturnHook``: Saturn credentials taken the Airflow way, and the client's operations under the same names."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

from airflow_provider_saturn.client import RetryPolicy, SaturnClient, SaturnError
from airflow_provider_saturn.client.credentials import TOKEN_ENV_VAR, URL_ENV_VARS
from airflow_provider_saturn.compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_saturn.get_provider_info import (
    CONN_FIELDS,
    DEFAULT_CONN_ID,
    HIDDEN_FIELDS,
    PLACEHOLDERS,
    RELABELING,
)

log = logging.getLogger(__name__)


def _client_operation(name: str) -> Callable[..., Any]:
    """A hook method that calls the client's method of the same name (same signature and docstring)."""
    client_method = getattr(SaturnClient, name)

    @functools.wraps(client_method)
    def operation(self: SaturnHook, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.get_conn(), name)(*args, **kwargs)

    return operation


class SaturnHook(BaseHook):
    """Talk to Saturn Cloud with the credentials of an Airflow connection of type ``saturn``.

    The connection's host is the Saturn URL and its password the API token. Optional extras (the first two
    are fields of the connection form): ``timeout`` (seconds per request), ``max_attempts`` (tries per
    request), and ``retry`` (``{"max_attempts", "max_total_seconds", "initial_wait", "max_wait"}``).
    When the connection does not exist but ``SATURN_BASE_URL`` and ``SATURN_TOKEN`` are set (inside a
    Saturn resource), those are used.

    :param saturn_conn_id: the Airflow connection id.
    :param timeout: seconds per HTTP request; overrides the connection's ``timeout`` extra.
    :param retry: retry policy; overrides the connection's ``retry`` extra.
    """

    conn_name_attr = "saturn_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "saturn"
    hook_name = "Saturn Cloud"

    def __init__(
        self,
        saturn_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.saturn_conn_id = saturn_conn_id
        self._timeout = timeout
        self._retry = RetryPolicy.from_dict(retry) if isinstance(retry, dict) else retry

    # ---------------------------------------------------------------- connection form (Airflow 2.11)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 2.11 (Airflow 3.2+ reads ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField
        from wtforms.validators import NumberRange, Optional

        return {
            name: IntegerField(
                lazy_gettext(field["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
                description=field["description"],
            )
            for name, field in CONN_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled and hidden fields of the connection form (Airflow 3.2+ reads the provider info)."""
        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": dict(PLACEHOLDERS),
        }

    # ---------------------------------------------------------------- credentials

    def connection_settings(self) -> dict[str, Any]:
        """``url``, ``api_token`` and ``extras`` from the connection, or from the environment inside Saturn."""
        try:
            conn = self.get_connection(self.saturn_conn_id)
        except AirflowNotFoundException:
            return _settings_from_environment(self.saturn_conn_id)
        return settings_from_connection(conn)

    def get_conn(self) -> SaturnClient:
        """The :class:`SaturnClient` for this connection (built once per hook)."""
        return self.client

    @cached_property
    def client(self) -> SaturnClient:
        settings = self.connection_settings()
        if settings["api_token"]:
            mask_secret(settings["api_token"])
        extras = settings["extras"]
        timeout = self._timeout if self._timeout is not None else float(form_extra(extras, "timeout") or 30.0)
        retry = self._retry or retry_from_extras(extras)
        return SaturnClient(settings["url"], settings["api_token"], timeout=timeout, retry=retry)

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and the token for real: one authenticated read."""
        try:
            client = self.get_conn()
            version = client.get_status().get("version", "unknown")
            client.options  # noqa: B018 - an authenticated request
        except (SaturnError, AirflowNotFoundException) as error:
            return False, str(error)
        return True, f"Connected to Saturn {version} at {client.url}"

    # ---------------------------------------------------------------- operations (the seed's names)

    @property
    def options(self) -> dict[str, Any]:
        """Options for workspace settings: sizes, disk spaces, auto-shutoff values."""
        return self.get_conn().options

    get_status = _client_operation("get_status")
    list_projects = _client_operation("list_projects")
    find_project_by_name = _client_operation("find_project_by_name")
    get_project = _client_operation("get_project")
    create_project = _client_operation("create_project")
    update_project = _client_operation("update_project")
    delete_project = _client_operation("delete_project")
    get_jupyter_server = _client_operation("get_jupyter_server")
    start_jupyter_server = _client_operation("start_jupyter_server")
    stop_jupyter_server = _client_operation("stop_jupyter_server")
    get_dask_cluster = _client_operation("get_dask_cluster")
    create_dask_cluster = _client_operation("create_dask_cluster")
    start_dask_cluster = _client_operation("start_dask_cluster")
    stop_dask_cluster = _client_operation("stop_dask_cluster")
    get_resource = _client_operation("get_resource")
    stop_resource = _client_operation("stop_resource")


def form_extra(extras: dict[str, Any], name: str) -> Any:
    """A form field's value from a connection's extra, under its plain or its ``extra__saturn__`` name."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__saturn__{name}")
    return None if value in (None, "") else value


def retry_from_extras(extras: dict[str, Any]) -> RetryPolicy:
    """The retry policy of a connection: its ``retry`` object, with the form's ``max_attempts`` on top."""
    values = dict(extras.get("retry") or {})
    attempts = form_extra(extras, "max_attempts")
    if attempts is not None:
        values["max_attempts"] = attempts
    return RetryPolicy.from_dict(values)


def settings_from_connection(conn: Any) -> dict[str, Any]:
    """``url``, ``api_token`` and ``extras`` of an Airflow connection of type ``saturn``."""
    extras = conn.extra_dejson or {}
    return {"url": _url_of(conn, extras), "api_token": conn.password or None, "extras": extras}


def _settings_from_environment(conn_id: str) -> dict[str, Any]:
    """Inside Saturn, ``SATURN_BASE_URL`` and ``SATURN_TOKEN`` stand in for a missing connection."""
    url = next((os.environ[name] for name in URL_ENV_VARS if os.environ.get(name)), None)
    token = os.environ.get(TOKEN_ENV_VAR)
    if url and token:
        log.info("No Airflow connection %r; using SATURN_BASE_URL and SATURN_TOKEN", conn_id)
        return {"url": url, "api_token": token, "extras": {}}
    raise AirflowNotFoundException(
        f"The conn_id `{conn_id}` isn't defined, and SATURN_BASE_URL / SATURN_TOKEN are not set either."
    )


async def async_connection_settings(conn_id: str) -> dict[str, Any]:
    """:meth:`SaturnHook.connection_settings` for async code (the triggerer), never blocking its loop."""
    try:
        if hasattr(BaseHook, "aget_connection"):  # Airflow 3.1+
            conn = await BaseHook.aget_connection(conn_id)
        else:  # Airflow 2.11
            from asgiref.sync import sync_to_async

            conn = await sync_to_async(BaseHook.get_connection)(conn_id)
    except AirflowNotFoundException:
        return _settings_from_environment(conn_id)
    return settings_from_connection(conn)


def _url_of(conn: Any, extras: dict[str, Any]) -> str | None:
    """The Saturn URL from a connection: a full URL in host, or host/port/schema from a connection URI."""
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = extras.get("scheme", "https")
    port = f":{conn.port}" if conn.port else ""
    prefix = f"/{conn.schema.strip('/')}" if conn.schema else ""
    return f"{scheme}://{host}{port}{prefix}"
