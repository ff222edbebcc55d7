"""``SaturnHook``: Saturn credentials taken the Airflow way, and the client's operations under the same names."""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, TypedDict

from airflow_provider_saturn.client import RetryPolicy, SaturnClient, SaturnError
from airflow_provider_saturn.client.credentials import TOKEN_ENV_VAR, environment_url
from airflow_provider_saturn.client.defaults import DEFAULT_TIMEOUT
from airflow_provider_saturn.client.errors import SaturnConfigError
from airflow_provider_saturn.compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_saturn.get_provider_info import (
    CONN_FIELDS,
    DEFAULT_CONN_ID,
    HIDDEN_FIELDS,
    PLACEHOLDERS,
    RELABELING,
)

log = logging.getLogger(__name__)


class ConnectionSettings(TypedDict):
    """What a Saturn client is built from: one connection's (or the Saturn environment's) settings, checked."""

    url: str
    api_token: str
    extras: dict[str, Any]
    timeout: float
    retry: RetryPolicy


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
    Saturn resource), those are used. A connection without a host or a password, or with an extra that is not
    valid, raises :class:`~airflow_provider_saturn.client.SaturnConfigError` naming the connection and the
    field to fix (:meth:`test_connection` returns that message).

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
                default=field["schema"]["default"],
            )
            for name, field in CONN_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled and hidden fields of the connection form (Airflow 3.2+ reads the provider info).

        Only fields of the Airflow 2.11 form are named: its page script looks each one up by element id.
        """
        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": dict(PLACEHOLDERS),
        }

    # ---------------------------------------------------------------- credentials

    def connection_settings(self) -> ConnectionSettings:
        """The checked settings of the connection, or of the environment inside Saturn (see :func:`client_settings`).

        :raises SaturnConfigError: the connection lacks its host or password, or has an extra that is not valid.
        :raises AirflowNotFoundException: no such connection, and not inside Saturn either.
        """
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
        """The client, its token registered with Airflow's secret masker (read from ``SATURN_TOKEN``, only we do)."""
        settings = self.connection_settings()
        mask_secret(settings["api_token"])
        timeout = self._timeout if self._timeout is not None else settings["timeout"]
        retry = self._retry or settings["retry"]
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

    # Computing on a Dask cluster (the ``dask`` extra)
    dask_cluster_info = _client_operation("dask_cluster_info")
    dask_security = _client_operation("dask_security")
    get_dask_client = _client_operation("get_dask_client")

    # Saturn Jobs and Deployments
    list_jobs = _client_operation("list_jobs")
    get_job = _client_operation("get_job")
    find_job_by_name = _client_operation("find_job_by_name")
    create_job = _client_operation("create_job")
    update_job = _client_operation("update_job")
    delete_job = _client_operation("delete_job")
    start_job = _client_operation("start_job")
    list_job_runs = _client_operation("list_job_runs")
    get_job_run = _client_operation("get_job_run")
    stop_job = _client_operation("stop_job")
    stop_job_run = _client_operation("stop_job_run")
    job_logs = _client_operation("job_logs")
    list_deployments = _client_operation("list_deployments")
    get_deployment = _client_operation("get_deployment")
    find_deployment_by_name = _client_operation("find_deployment_by_name")
    start_deployment = _client_operation("start_deployment")
    stop_deployment = _client_operation("stop_deployment")


def form_extra(extras: Mapping[str, Any], name: str) -> Any:
    """A form field's value from a connection's extra, under its plain or its ``extra__saturn__`` name."""
    return _form_extra_item(extras, name)[1]


def _form_extra_item(extras: Mapping[str, Any], name: str) -> tuple[str, Any]:
    """The key a form field's value was found under (plain name first), and the value (``None`` when unset)."""
    for key in (name, f"extra__saturn__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return key, value
    return name, None


def client_settings(extras: Mapping[str, Any], conn_id: str) -> tuple[float, RetryPolicy]:
    """The request timeout and retry policy a connection's extras ask for, checked.

    Extras are user input: ``timeout`` (seconds, above 0; default 30) and ``max_attempts`` (1 or more), under
    their plain or their ``extra__saturn__`` (Airflow 2.11 form) names, and ``retry``, a JSON object with any
    of ``max_attempts``, ``max_total_seconds``, ``initial_wait`` and ``max_wait`` (``max_attempts`` on its own
    wins over ``retry.max_attempts``). Numbers may be given as strings, as a connection URI gives them.

    :param extras: the connection's extra, as a dict.
    :param conn_id: the connection's id, for the error message.
    :raises SaturnConfigError: an extra is not valid; the message names the connection, the extra and the value.
    """
    key, raw_timeout = _form_extra_item(extras, "timeout")
    timeout = DEFAULT_TIMEOUT
    if raw_timeout is not None:
        timeout = _checked_number(raw_timeout, conn_id, key, "a number of seconds above 0 (default 30)", minimum=0)
    return timeout, _retry_policy(extras, conn_id)


def retry_from_extras(extras: Mapping[str, Any], conn_id: str = "") -> RetryPolicy:
    """The retry policy of a connection's extras, checked: its ``retry`` object, the form's ``max_attempts`` on top.

    :raises SaturnConfigError: as :func:`client_settings`.
    """
    return _retry_policy(extras, conn_id)


# What each ``retry`` value must be: (whole number?, lowest value, is the lowest allowed?, wording).
_RETRY_VALUES: dict[str, tuple[bool, float, bool, str]] = {
    "max_attempts": (True, 1, True, "a whole number, 1 or more (default 5)"),
    "max_total_seconds": (False, 0, False, "a number of seconds above 0 (default 120)"),
    "initial_wait": (False, 0, True, "a number of seconds, 0 or more (default 0.5)"),
    "max_wait": (False, 0, True, "a number of seconds, 0 or more (default 30)"),
}


def _retry_policy(extras: Mapping[str, Any], conn_id: str) -> RetryPolicy:
    raw = extras.get("retry")
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, Mapping):
        raise SaturnConfigError(
            f"{_connection(conn_id)} has an invalid extra 'retry': {_shown(raw)}; expected a JSON object such as "
            '{"max_attempts": 5, "max_total_seconds": 120, "initial_wait": 0.5, "max_wait": 30}.'
        )
    unknown = sorted(str(name) for name in raw if name not in _RETRY_VALUES)
    if unknown:
        raise SaturnConfigError(
            f"{_connection(conn_id)} has unknown keys in its extra 'retry': {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(_RETRY_VALUES)}."
        )
    values: dict[str, float] = {}
    for name, value in raw.items():
        integer, minimum, inclusive, expected = _RETRY_VALUES[name]
        values[name] = _checked_number(
            value, conn_id, f"retry.{name}", expected, minimum=minimum, inclusive=inclusive, integer=integer
        )
    key, attempts = _form_extra_item(extras, "max_attempts")
    if attempts is not None:
        integer, minimum, inclusive, expected = _RETRY_VALUES["max_attempts"]
        values["max_attempts"] = _checked_number(
            attempts, conn_id, key, expected, minimum=minimum, inclusive=inclusive, integer=integer
        )
    try:
        return RetryPolicy(**values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:  # should RetryPolicy ever check more than the table above
        raise SaturnConfigError(f"{_connection(conn_id)} has an invalid extra 'retry': {error}") from None


def _checked_number(
    value: Any,
    conn_id: str,
    extra: str,
    expected: str,
    *,
    minimum: float,
    inclusive: bool = False,
    integer: bool = False,
) -> Any:
    """``value`` as a number (an ``int`` when ``integer``), or a :class:`SaturnConfigError` naming it."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    valid = (
        number is not None
        and math.isfinite(number)
        and (number >= minimum if inclusive else number > minimum)
        and (number.is_integer() or not integer)
    )
    if not valid or number is None:
        raise SaturnConfigError(
            f"{_connection(conn_id)} has an invalid extra {extra!r}: {_shown(value)}; expected {expected}."
        )
    return int(number) if integer else number


def _connection(conn_id: str) -> str:
    return f"The Airflow connection {conn_id!r}" if conn_id else "The Airflow connection"


def _shown(value: Any, limit: int = 60) -> str:
    """A bad value as the error shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def settings_from_connection(conn: Any) -> ConnectionSettings:
    """The checked settings of an Airflow connection of type ``saturn`` (used by the hook and the trigger).

    :raises SaturnConfigError: no host (the *Saturn URL*), no password (the *API token*), or an extra that is
        not valid; the message names the connection and the field, never a secret.
    """
    conn_id = str(getattr(conn, "conn_id", "") or "")
    extras = conn.extra_dejson or {}
    url = _url_of(conn, extras, conn_id)
    token = (conn.password or "").strip()
    problems = []
    if not url:
        problems.append(
            f"{_connection(conn_id)} has no Saturn URL: put it in the connection's Host field (shown as Saturn URL), "
            "e.g. https://app.community.saturnenterprise.io."
        )
    if not token:
        problems.append(_missing_token(conn_id, (conn.login or "").strip()))
    if not url or not token:
        raise SaturnConfigError(" ".join(problems))
    timeout, retry = client_settings(extras, conn_id)
    return {"url": url, "api_token": token, "extras": extras, "timeout": timeout, "retry": retry}


def _missing_token(conn_id: str, login: str) -> str:
    """Where the token goes. A token left in Login is not used: Airflow masks passwords, not logins."""
    where = "put it in the connection's Password field (shown as API token)"
    if not login:
        return f"{_connection(conn_id)} has no API token: {where}; get one at <your Saturn URL>/api/user/token."
    mask_secret(login)  # likely the token itself, put in the wrong field: keep it out of the logs from now on
    return (
        f"{_connection(conn_id)} has no API token in its Password field (shown as API token) but has a Login: "
        f"the token belongs in Password, not Login, so {where} and clear Login. "
        "In a connection URI the token goes after the colon: saturn://:<token>@<host>."
    )


def _settings_from_environment(conn_id: str) -> ConnectionSettings:
    """Inside Saturn, ``SATURN_BASE_URL`` and ``SATURN_TOKEN`` stand in for a missing connection."""
    url = environment_url()
    token = (os.environ.get(TOKEN_ENV_VAR) or "").strip()
    if url and token:
        log.info("No Airflow connection %r; using SATURN_BASE_URL and SATURN_TOKEN", conn_id)
        return {"url": url, "api_token": token, "extras": {}, "timeout": DEFAULT_TIMEOUT, "retry": RetryPolicy()}
    raise AirflowNotFoundException(
        f"The conn_id `{conn_id}` isn't defined, and SATURN_BASE_URL / SATURN_TOKEN are not set either."
    )


async def async_connection_settings(conn_id: str) -> ConnectionSettings:
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


def _url_of(conn: Any, extras: Mapping[str, Any], conn_id: str) -> str | None:
    """The Saturn URL of a connection: a full URL in host, or host[:port][/schema] (a connection URI's parts).

    No scheme is invented: without one in host or in the ``scheme`` extra, the URL goes on without it, and
    :func:`~airflow_provider_saturn.client.credentials.normalise_url` decides (and remembers it assumed one).
    """
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    port = f":{conn.port}" if conn.port else ""
    prefix = f"/{conn.schema.strip('/')}" if conn.schema and conn.schema.strip("/") else ""
    address = f"{host}{port}{prefix}"
    scheme = str(extras.get("scheme") or "").strip().lower()
    if not scheme:
        return address
    if scheme not in ("http", "https"):
        raise SaturnConfigError(
            f"{_connection(conn_id)} has an invalid extra 'scheme': {_shown(extras.get('scheme'))}; "
            "expected http or https (or put the whole URL, https://..., in the Host field)."
        )
    return f"{scheme}://{address}"
