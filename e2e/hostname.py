"""Airflow's ``[core] hostname_callable`` for the deployment: each component names itself after its role.

Both Celery workers run on this one machine, so the real host name cannot tell which one ran a try. Each
component gets ``E2E_HOSTNAME`` (``e2e-worker-1``, ``e2e-triggerer``...) in its environment, and Airflow records
that name as a task instance's ``hostname`` and a job's. The harness copies this file onto the components'
``PYTHONPATH`` as ``e2e_hostname.py`` (so that the checkout itself is not put on it); it imports nothing else.
"""

from __future__ import annotations

import os
import socket


def component_hostname() -> str:
    """``E2E_HOSTNAME``, else the machine's name."""
    return os.environ.get("E2E_HOSTNAME") or socket.getfqdn()
