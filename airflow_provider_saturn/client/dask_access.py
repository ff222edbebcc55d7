"""Reaching a Saturn Dask cluster from Python: its scheduler's address, a client certificate, a connected
``distributed.Client`` (the ``dask`` extra).

From outside Saturn this is what Saturn's own ``dask-saturn`` does (see :mod:`~.dask_tls`):
``GET /api/dask_clusters/{id}/info?is_external=true`` for the scheduler's ``tls://`` address, a CSR signed by the
cluster's CA through ``POST /api/dask_clusters/{id}/csr``, and mutual TLS with encryption required. Inside Saturn
(``SATURN_IS_INTERNAL=true`` and the client talking to the ``SATURN_BASE_URL`` it was started with), the internal
address, without a client certificate, as dask-saturn does there.

Three Saturn requests from a cluster id to a connected client (the cluster's status, its info, the certificate);
one more from a project id (the project, to find its cluster).
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.credentials import environment_url, normalise_url
from airflow_provider_saturn.client.dask_tls import ClientTls, client_tls, require_dask_extra, signing_request
from airflow_provider_saturn.client.errors import (
    SaturnBadResponseError,
    SaturnConfigError,
    SaturnDaskClusterError,
    SaturnInvalidOptionError,
)
from airflow_provider_saturn.client.paths import Paths, path_segment
from airflow_provider_saturn.client.sync_transport import SyncTransport
from airflow_provider_saturn.client.wire import nested_dask_cluster_id, shorten

if TYPE_CHECKING:
    from distributed import Client, Security

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30.0
MAX_CONNECT_TIMEOUT = 600.0
MAX_ADDRESS_CHARS = 512
# tls://host:port or tcp://host:port (host a name, an IPv4 address, or an IPv6 one in brackets).
SCHEDULER_ADDRESS = re.compile(r"(tls|tcp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")
RUNNING = "running"
MAX_PORT = 65535


class DaskOperations(SyncTransport):
    """The Dask-client part of :class:`~.sync_client.SaturnClient`."""

    def dask_cluster_info(self, dask_cluster_id: str, *, external: bool | None = None) -> dict[str, Any]:
        """``{"scheduler_address", "dashboard_link"}`` of a running Dask cluster, as a client reaches it from
        outside Saturn (``external=True``) or from inside (``False``); ``None``: decided as the module says."""
        path = Paths.dask_cluster(dask_cluster_id, "info")
        outside = self._is_external(external)
        params = {"is_external": "true"} if outside else None
        info = self._request("GET", path, params=params, resource="dask cluster", resource_id=dask_cluster_id)
        return _checked_info(info, dask_cluster_id, outside)

    def dask_client_tls(self, dask_cluster_id: str) -> ClientTls:
        """A new key and a certificate for it signed by the cluster's CA (Saturn signs a CSR made here), with
        that CA: what a client presents and trusts. The key stays in this process."""
        path = Paths.dask_cluster(dask_cluster_id, "csr")
        request = signing_request(dask_cluster_id)
        chain = self._request(
            "POST",
            path,
            body=(None, request.csr_pem),
            expect="bytes",
            resource="dask cluster",
            resource_id=dask_cluster_id,
        )
        return client_tls(request, chain, dask_cluster_id)

    def dask_security(self, dask_cluster_id: str, *, external: bool | None = None) -> Security:
        """The ``distributed.Security`` for a client of the cluster: mutual TLS with a certificate signed by the
        cluster's CA from outside Saturn; Dask's defaults inside (as dask-saturn)."""
        require_dask_extra()
        if not self._is_external(external):
            from distributed import Security

            return Security()
        return self.dask_client_tls(dask_cluster_id).security()

    def get_dask_client(
        self,
        dask_cluster_id: str | None = None,
        *,
        project_id: str | None = None,
        timeout: float = DEFAULT_CONNECT_TIMEOUT,
        external: bool | None = None,
        **client_kwargs: Any,
    ) -> Client:
        """A ``distributed.Client`` connected to a running Saturn Dask cluster, given its id or its project's.

        The cluster must be ``running`` (:class:`SaturnDaskClusterError` says what it is and how to start it);
        ``timeout``: seconds the scheduler has to answer. ``client_kwargs`` go to ``distributed.Client`` (not
        ``address`` or ``security``). Close the client when done (it is a context manager); it becomes Dask's
        default client, as ``distributed.Client`` does, until closed.
        """
        require_dask_extra()
        timeout = checked_connect_timeout(timeout)
        taken = {"address", "security", "timeout"} & set(client_kwargs)
        if taken:
            raise SaturnInvalidOptionError(f"get_dask_client sets {', '.join(sorted(taken))} itself")
        cluster_id = self._cluster_of(dask_cluster_id, project_id)
        cluster = self.get_resource("dask_cluster", cluster_id)
        if cluster.get("status") != RUNNING:
            raise SaturnDaskClusterError(
                f"Dask cluster {cluster_id} is {shorten(str(cluster.get('status')), 40)}, not running: start it "
                "first (SaturnStartDaskClusterOperator, SaturnHook.start_dask_cluster, or @task.saturn_dask with "
                "start=True)",
                resource_id=cluster_id,
            )
        outside = self._is_external(external)
        info = self.dask_cluster_info(cluster_id, external=outside)
        security = self.dask_security(cluster_id, external=outside)
        address = info["scheduler_address"]
        return _connected(address, security, timeout, cluster_id, client_kwargs)

    def _cluster_of(self, dask_cluster_id: str | None, project_id: str | None) -> str:
        """The cluster's id: given, or the one attached to the project."""
        if (dask_cluster_id is None) == (project_id is None):
            raise SaturnInvalidOptionError("Pass either dask_cluster_id or project_id (one of them)")
        if dask_cluster_id is not None:
            path_segment(dask_cluster_id, "dask_cluster_id")
            return dask_cluster_id
        project = self._request("GET", Paths.workspace(project_id), resource="project", resource_id=str(project_id))
        found = nested_dask_cluster_id(project)
        if not found:
            raise SaturnDaskClusterError(
                f"Project {project_id} has no Dask cluster: add one (SaturnCreateDaskClusterOperator or "
                "SaturnHook.create_dask_cluster)",
                resource_id=str(project_id),
            )
        return found

    def _is_external(self, external: bool | None) -> bool:
        """Whether to connect as from outside Saturn: as asked, else unless inside Saturn talking to it."""
        if external is not None:
            return external
        if os.environ.get("SATURN_IS_INTERNAL", "false").strip().lower() != "true":
            return True
        inside_url = environment_url()
        try:
            return inside_url is None or normalise_url(inside_url) != self.url
        except SaturnConfigError:
            return True


def _checked_info(info: dict[str, Any], dask_cluster_id: str, external: bool) -> dict[str, Any]:
    """The scheduler address and dashboard link of an info answer, refused when they are not what they must be."""
    address = info.get("scheduler_address")
    if not isinstance(address, str) or len(address) > MAX_ADDRESS_CHARS or not SCHEDULER_ADDRESS.fullmatch(address):
        raise SaturnBadResponseError(
            f"Saturn's info of Dask cluster {dask_cluster_id} has no usable scheduler_address (tls://host:port)",
            status_code=200,
            method="GET",
            path=f"api/dask_clusters/{dask_cluster_id}/info",
        )
    if not 1 <= int(address.rsplit(":", 1)[1]) <= MAX_PORT:
        raise SaturnBadResponseError(
            f"Saturn's info of Dask cluster {dask_cluster_id} has a scheduler_address whose port cannot exist "
            f"({address})",
            status_code=200,
            method="GET",
            path=f"api/dask_clusters/{dask_cluster_id}/info",
        )
    if external and not address.startswith("tls://"):
        raise SaturnBadResponseError(
            f"Saturn gave Dask cluster {dask_cluster_id} a scheduler address without TLS ({address}); a client "
            "from outside Saturn only connects with TLS",
            status_code=200,
            method="GET",
            path=f"api/dask_clusters/{dask_cluster_id}/info",
        )
    link = info.get("dashboard_link")
    usable = (
        isinstance(link, str)
        and len(link) <= MAX_ADDRESS_CHARS
        and link.startswith(("https://", "http://"))
        and link.isprintable()
    )
    return {"scheduler_address": address, "dashboard_link": link if usable else None}


def checked_connect_timeout(timeout: Any) -> float:
    """Seconds a scheduler has to answer: a number above 0 and at most ``MAX_CONNECT_TIMEOUT``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_CONNECT_TIMEOUT:
        raise SaturnInvalidOptionError(
            f"timeout must be a number of seconds above 0 and at most {MAX_CONNECT_TIMEOUT:g}, not {timeout!r}"
        )
    return float(timeout)


def _connected(address: str, security: Security, timeout: float, cluster_id: str, kwargs: dict[str, Any]) -> Client:
    """A client connected to the scheduler at ``address``, or a :class:`SaturnDaskClusterError` saying why not."""
    from distributed import Client

    log.info("Connecting to the scheduler of Dask cluster %s at %s", cluster_id, address)
    try:
        return Client(address, security=security, timeout=timeout, **kwargs)
    except (OSError, TimeoutError) as error:
        _close_half_made(error, Client)
        raise SaturnDaskClusterError(
            f"The scheduler of Dask cluster {cluster_id} at {address} did not answer within {timeout:g} s "
            f"({type(error).__name__}: {shorten(str(error), 300)})",
            resource_id=cluster_id,
        ) from None


def _close_half_made(error: BaseException, client_class: Any) -> None:
    """Close the client whose connection failed inside its constructor: it started a thread for its event loop,
    which nothing else would stop (one per failed connection, in a long-lived process). It is found in the
    frames of the failure, as the ``self`` of the constructor's calls."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        half_made = frame.f_locals.get("self")
        if isinstance(half_made, client_class):
            try:
                half_made.close(timeout=1)
            except Exception as closing:  # the connection never was: closing it may fail too
                log.debug("Closing the client that did not connect: %s", closing)
            runner = getattr(half_made, "_loop_runner", None)
            if runner is not None:
                runner.stop()
            return
