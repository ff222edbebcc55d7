"""The XCom rule over complete objects of the spec (2026.02.01): every field of ``Workspace``, ``Job``,
``Deployment``, ``DaskCluster`` (nested too), their create bodies and recipe specs, filled in.

Each value that can carry a secret holds the word ``SECRET``; every other value must come through unchanged.
So a field the rule forgets, or a field it hides without cause, fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_saturn.xcom_values import REDACTED, xcom_safe

OWNER: Any = {
    "id": "0" * 32,
    "name": "acme/ada",
    "identity_name": "ada",
    "org_name": "acme",
    "created_at": "2026-01-01T00:00:00+00:00",
    "org_admin": False,
    "org_id": "1" * 32,
    "user_id": "2" * 32,
    "group_id": None,
    "identity_type": "user",
    "avatar_url": "https://avatars.example.com/ada.png",
}
IMAGE_TAG: Any = {
    "id": "3" * 32,
    "created_at": "2026-01-01T00:00:00+00:00",
    "image": {
        "id": "4" * 32,
        "name": "saturn-python",
        "owner": OWNER,
        "description": "Python 3.12",
        "created_at": "2026-01-01T00:00:00+00:00",
        "hardware_type": "cpu",
        "supports": ["jupyter", "dask"],
        "access": "org",
        "is_base": False,
        "is_gpu": False,
        "trusted": True,
    },
    "image_uri": "registry.example.com/saturn-python:2026.01.01",
    "description": "tag",
    "version": "2026.01.01",
    "build_data": {
        "base_image": "SECRET-base",  # an image name is harmless, but build_data is hidden as a whole
        "environment_yml": "channels: [https://conda.example.com/t/SECRET-conda-token/acme]",
        "requirements_txt": "--index-url https://me:SECRET-pip@pypi.example.com/simple\nprivate",
        "cran_packages": "SECRET-cran",
        "bioconductor_packages": "SECRET-bioc",
        "remotes_packages": "github::acme/pkg?auth_token=SECRET-remotes",
        "apt_txt": "SECRET-apt",
        "post_build": "curl -H 'Authorization: SECRET-post-build' https://example.com | sh",
        "use_mamba": True,
        "adapt_image": False,
        "register_ipython_kernel": True,
        "rstudio_version": "SECRET-rstudio",
        "install_r": False,
    },
    "archived": False,
    "is_external": False,
    "status": "ready",
    "saturn_env": "SECRET-build-env AWS_SECRET_ACCESS_KEY=...",
}
EXTRA_PACKAGES: Any = {
    "pip": "--extra-index-url https://__token__:SECRET-pip@pypi.example.com/simple acme-private",
    "as_requirements_txt": False,
    "conda": "-c https://conda.example.com/t/SECRET-conda/acme pkg",
    "as_environment_yml": False,
    "apt": "SECRET-apt",
    "cran": "SECRET-cran",
    "remotes": "SECRET-remotes",
    "bioconductor": "SECRET-bioc",
    "use_mamba": False,
}
CONFIG_FILES: Any = {
    ".aws/credentials": {"content": "[default]\naws_secret_access_key = SECRET-aws", "mode": "0600"},
    ".ssh/id_ed25519": {"content": "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-ssh", "mode": "0600"},
}
ENVIRONMENT: Any = {"DB_PASSWORD": "SECRET-db", "LOG_LEVEL": "SECRET-even-a-harmless-value-is-hidden"}
DASK_NESTED: Any = {
    "id": "5" * 32,
    "name": "etl",
    "resource_type": "workspace",
    "tags": {"team": "data"},
    "worker_size": "large",
    "worker_size_display": "Large - 2 cores - 16 GB",
    "worker_is_spot": False,
    "scheduler_size": "medium",
    "scheduler_size_display": "Medium - 2 cores - 4 GB",
    "n_workers": 3,
    "nprocs": 1,
    "nthreads": 2,
    "scheduler_url": "tls://d-55555555.internal:8786",
    "subdomain": "d-55555555",
    "image": "registry.example.com/saturn-python:2026.01.01",
    "created_at": "2026-01-01T00:00:00+00:00",
    "status": "running",
    "warnings": ["a warning"],
    "errors": [],
    "url": "https://d-55555555.saturn.example.com",
}
DASK_CLUSTER: Any = {
    **DASK_NESTED,
    "owner": OWNER,
    "deployment_id": None,
    "job_id": None,
    "workspace_id": "6" * 32,
}
SHARED: Any = {  # fields Workspace, Job and Deployment share
    "owner": OWNER,
    "description": "the nightly ETL",
    "tags": {"team": "data"},
    "image_tag": IMAGE_TAG,
    "extra_packages": EXTRA_PACKAGES,
    "config_files": CONFIG_FILES,
    "start_script": "export TOKEN=SECRET-start-script",
    "environment_variables": ENVIRONMENT,
    "working_dir": "/home/jovyan/workspace",
    "instance_size": "large",
    "is_spot": False,
    "start_dind": False,
    "k8s_name": "etl-6666",
    "require_restart": False,
    "resource_type": "workspace",
    "size_display": "Large - 2 cores - 16 GB",
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-02T00:00:00+00:00",
    "status": "running",
    "debug_mode": False,
    "dask_cluster": DASK_NESTED,
}
WORKSPACE: Any = {
    **SHARED,
    "id": "6" * 32,
    "name": "etl",
    "ide": "jupyter",
    "disk_space": "10Gi",
    "auto_shutoff": "1 hour",
    "start_ssh": True,
    "subdomain": "w-66666666",
    "started_at": "2026-01-02T00:00:00+00:00",
    "self_destruct": False,
    "url": "https://w-66666666.saturn.example.com/",
    "ssh_url": "ssh://jovyan@w-66666666.saturn.example.com:22",
}
JOB: Any = {
    **SHARED,
    "id": "7" * 32,
    "name": "nightly",
    "command": "python etl.py --token SECRET-command",
    "cron_schedule_options": {"schedule": "0 3 * * *", "concurrency_policy": "Forbid"},
    "scale": 1,
    "retries": 2,
    "last_deploy": "2026-01-02T00:00:00+00:00",
    "running_count": 0,
    "scheduled": True,
}
DEPLOYMENT: Any = {
    **SHARED,
    "id": "8" * 32,
    "name": "api",
    "command": "uvicorn app:api --password SECRET-command",
    "scale": 2,
    "start_ssh": False,
    "healthcheck": "/health",
    "subdomain": "api",
    "last_deploy": "2026-01-02T00:00:00+00:00",
    "running_count": 2,
    "url": "https://api.saturn.example.com/",
    "ssh_url": None,
}
REPO_ATTACHMENTS: Any = [
    {
        "path": "/home/jovyan/workspace/etl",
        "on_restart": "reclone",
        "ref": "main",
        "ref_type": "branch",
        "external_repo_id": "9" * 32,
        # ExternalRepoAttachment (read back): the remote URL may carry a token.
        "remote_url": "https://x-access-token:SECRET-git@github.com/acme/etl.git",
        "has_sshkey": False,
    }
]
JOB_CREATE: Any = {  # JobCreate, as a request body (and what a record of it holds)
    **{key: JOB[key] for key in ("name", "description", "tags", "instance_size", "command", "scale", "retries")},
    "owner": {"name": "acme/ada"},
    "image_uri": "registry.example.com/saturn-python:2026.01.01",
    "image_tag_id": "3" * 32,
    "image_enforce_trusted": True,
    "environment_variables": ENVIRONMENT,
    "external_repo_attachments": REPO_ATTACHMENTS,
    "extra_packages": EXTRA_PACKAGES,
    "config_files": CONFIG_FILES,
    "start_script": "SECRET-start-script",
    "working_dir": "/home/jovyan/workspace",
    "is_spot": False,
    "start_dind": False,
    "cron_schedule_options": JOB["cron_schedule_options"],
}
RECIPE_SPEC: Any = {  # DeploymentSpec of a DeploymentRecipe (the recipe form of every kind)
    "name": "api",
    "owner": {"name": "acme/ada"},
    "description": "the API",
    "tags": {"team": "data"},
    "image": {"uri": "registry.example.com/saturn-python:2026.01.01", "name": "saturn-python", "version": "1"},
    "instance_type": "large",
    "environment_variables": ENVIRONMENT,
    "working_directory": "/home/jovyan/workspace",
    "extra_packages": EXTRA_PACKAGES,
    "config_files": CONFIG_FILES,
    "start_script": "SECRET-start-script",
    "token_scope": "resource",
    "dask_cluster": DASK_NESTED,
    "git_repositories": [
        {
            "url": "https://ada:SECRET-git@gitlab.example.com/acme/api.git",
            "path": "/home/jovyan/workspace/api",
            "on_restart": "preserve",
            "reference": "v1",
            "reference_type": "tag",
            "public": False,
        },
        {"url": "git@github.com:acme/api.git", "path": "/home/jovyan/git", "public": False},
    ],
    # References to Saturn secrets: which secret goes where, never the secret itself.
    "secrets": [{"location": "DB_URL", "attachment_type": "environment_variable", "name": "db-url"}],
    "shared_folders": [{"name": "data", "path": "/home/jovyan/shared/data"}],
    "start_dind": False,
    "status": "running",
    "command": "SECRET-command",
    "scale": 1,
    "start_ssh": False,
    "use_spot_instance": False,
    "routes": [{"subdomain": "api", "container_port": 8000, "visibility": "org"}],
    "viewers": [{"identity": "acme/bob", "route": {"subdomain": "api", "container_port": 8000}}],
}
SECRET_OBJECTS: Any = {  # Secret and SSH key bodies: their ``value``
    "secret": {"name": "db-url", "access": "owner", "value": "SECRET-secret-value"},
    "ssh_privatekey": {"name": "deploy", "value": "SECRET-ssh-value", "location": "/home/jovyan/.ssh/id"},
}

OBJECTS = {
    "Workspace": WORKSPACE,
    "Job": JOB,
    "Deployment": DEPLOYMENT,
    "DaskCluster": DASK_CLUSTER,
    "JobCreate": JOB_CREATE,
    "DeploymentRecipe.spec": RECIPE_SPEC,
    "secret bodies": SECRET_OBJECTS,
    "a list of them": [WORKSPACE, {"jobs": [JOB]}, {"nested": {"deeper": [DEPLOYMENT]}}],
}


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, f"{path}[{index}]")]
    return [(path, value)]


@pytest.mark.parametrize("name", list(OBJECTS))
def test_every_secret_field_of_the_spec_is_hidden_and_nothing_else(name: str) -> None:
    original = OBJECTS[name]
    before = json.dumps(original)
    safe = xcom_safe(original)
    assert "SECRET" not in json.dumps(safe)
    safe_leaves = dict(_leaves(safe))
    for path, value in _leaves(original):
        if isinstance(value, str) and "SECRET" in value:
            continue
        assert safe_leaves.get(path, "<missing>") == value, f"{path} is no secret and must stay readable"
    assert json.dumps(original) == before, "the input is not changed"


def test_the_shapes_stay_readable() -> None:
    safe = xcom_safe(WORKSPACE)
    assert safe["config_files"][".aws/credentials"] == {"content": REDACTED, "mode": "0600"}
    assert safe["environment_variables"] == {"DB_PASSWORD": REDACTED, "LOG_LEVEL": REDACTED}
    assert safe["extra_packages"]["pip"] == REDACTED
    assert safe["extra_packages"]["use_mamba"] is False
    assert safe["ssh_url"] == WORKSPACE["ssh_url"], "an ssh user name is no credential"
    repo = xcom_safe(JOB_CREATE)["external_repo_attachments"][0]
    assert repo["remote_url"] == "https://***@github.com/acme/etl.git"
    assert xcom_safe(RECIPE_SPEC)["git_repositories"][1]["url"] == "git@github.com:acme/api.git"


@pytest.mark.parametrize(
    "odd",
    [
        {"config_files": "SECRET: a whole file as a string"},
        {"config_files": {"a": "SECRET: a file given as a string"}},
        {"config_files": [{"path": "a", "content": "SECRET"}]},
        {"config_files": {"a": {"content": {"lines": ["SECRET"]}}}},
        {"extra_packages": "SECRET: pip text where an object was expected"},
        {"extra_packages": {"pip": ["SECRET"]}},
        {"image_tag": {"build_data": {"nested": {"post_build": "SECRET"}}}},
        {"environment_variables": "SECRET=1"},
        {"remote_url": "ftp://SECRET@example.com/a"},
        {"description": "see https://user:SECRET@example.com/x and http://SECRET:@host/"},
    ],
)
def test_odd_shapes_of_secret_fields_are_hidden_too(odd: dict[str, Any]) -> None:
    assert "SECRET" not in json.dumps(xcom_safe(odd))
