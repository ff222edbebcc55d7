"""Provider metadata that Airflow's providers manager reads through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow calls it in every process that discovers providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn import __version__

CONNECTION_TYPE = "saturn"
DEFAULT_CONN_ID = "saturn_default"
HOOK_CLASS_NAME = "airflow_provider_saturn.hooks.saturn.SaturnHook"

# The how-to pages of the documentation site (docs/, built by ``python dev.py docs``), as paths from the
# repository's root: the provider schema asks for paths that start with /docs/.
HOW_TO_GUIDES = [
    f"/docs/howto/{page}.md"
    for page in (
        "projects",
        "workspaces-dask",
        "jobs",
        "deployments",
        "idle-shutdown",
        "sensors",
        "deferrable",
        "task-saturn",
        "dask",
    )
]

# The connection form, declared once and served two ways: as provider info on Airflow 3.2+
# (``ui-field-behaviour``) and through ``SaturnHook.get_ui_field_behaviour`` on older lines.
# Placeholders only for host, schema, login, password, port or extra: Airflow (2.11 and 3.x alike) prefixes any
# other key with ``extra__saturn__``, so a ``description`` placeholder is dropped by Airflow 3 and breaks the page
# script of Airflow 2.11's form, which looks each key up as an element id.
HIDDEN_FIELDS = ["schema", "port", "login"]
RELABELING = {"host": "Saturn URL", "password": "API token"}
PLACEHOLDERS = {
    "host": "https://app.community.saturnenterprise.io",
    "password": "token from <your Saturn URL>/api/user/token",
}

# Extra fields of the form, stored in the connection's extra (Airflow 3.2+ reads them from here; Airflow 2.11
# from SaturnHook.get_connection_form_widgets).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "How long to wait for each Saturn API request.",
        "schema": {"type": ["integer", "null"], "default": 30, "minimum": 1},
    },
    "max_attempts": {
        "label": "Attempts per request",
        "description": "Dropped connections, timeouts, 429 and 5xx are retried with backoff, this many tries in all.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 1},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its hooks, connection type, operators, sensors, triggers and extra links."""
    return {
        "package-name": "airflow-provider-saturn",
        "name": "Saturn Cloud",
        "description": "Run Saturn Cloud workspaces, Dask clusters, Jobs and Deployments from Airflow. https://saturncloud.io",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Saturn Cloud",
                "external-doc-url": "https://saturncloud.io/docs/",
                "how-to-guide": HOW_TO_GUIDES,
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Saturn Cloud",
                "python-modules": [
                    "airflow_provider_saturn.operators.projects",
                    "airflow_provider_saturn.operators.jupyter",
                    "airflow_provider_saturn.operators.dask",
                    "airflow_provider_saturn.operators.idle",
                    "airflow_provider_saturn.operators.jobs",
                    "airflow_provider_saturn.operators.deployments",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Saturn Cloud",
                "python-modules": ["airflow_provider_saturn.sensors.status"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Saturn Cloud",
                "python-modules": ["airflow_provider_saturn.triggers.status"],
            }
        ],
        "extra-links": ["airflow_provider_saturn.links.SaturnResourceLink"],
        "hooks": [
            {
                "integration-name": "Saturn Cloud",
                "python-modules": ["airflow_provider_saturn.hooks.saturn"],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": HOOK_CLASS_NAME,
                "hook-name": "Saturn Cloud",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": HIDDEN_FIELDS,
                    "relabeling": RELABELING,
                    "placeholders": PLACEHOLDERS,
                },
            }
        ],
        "task-decorators": [
            {"class-name": "airflow_provider_saturn.decorators.saturn.saturn_task", "name": "saturn"},
            {"class-name": "airflow_provider_saturn.decorators.saturn_dask.saturn_dask_task", "name": "saturn_dask"},
        ],
    }
