"""What the operators may put in XCom: Saturn's answers with their secrets taken out, in one place.

Saturn returns a resource with everything it was configured with, and XCom values are stored in plain text in
Airflow's metadata database and shown in its UI. So every value a Saturn operator returns goes through
:func:`xcom_safe` first, which applies the one rule below to every dict and list at any depth (a workspace's
nested ``dask_cluster``, a list of jobs, a recipe's ``spec``...). The same rule tells the client which values
of a request are secret (:func:`secret_texts`), so that an error message never repeats them.

The fields that can carry a secret, from every field of the spec's (2026.02.01) ``Workspace``, ``Job``,
``Deployment``, ``DaskCluster`` and ``DaskClusterNested`` schemas, their ``*Create``/``*Update`` bodies, their
recipe forms (``WorkspaceSpec``, ``JobSpec``, ``DeploymentSpec``) and the objects these nest, and what is done
with each:

- ``environment_variables`` (Workspace, Job, Deployment, their bodies and specs): each value becomes ``"***"``,
  the names stay.
- ``start_script`` (Workspace, Job, Deployment, bodies, specs) and ``command`` (Job, Deployment, bodies, specs):
  the whole value. Scripts and commands often carry credentials inline.
- ``config_files`` (Workspace, Job, Deployment, bodies, specs; entries are ``ConfigFileEntry``): each file's
  ``content`` (``.aws/credentials``, ``.netrc``, ssh keys...) and anything else in it but its ``mode``; the
  paths and modes stay.
- ``extra_packages`` (Workspace, Job, Deployment, bodies, specs): every text in it (``pip``, ``conda``,
  ``apt``, ``cran``, ``remotes``, ``bioconductor``); the flags stay. Package lists can name private indexes
  with their credentials (``--extra-index-url https://user:token@...``, conda's ``/t/<token>/`` channels).
- ``image_tag.build_data`` (``ImageTag`` of Workspace, Job, Deployment): every text in it, for the same reason
  (``requirements_txt``, ``environment_yml``...) and for its ``post_build`` script; the flags stay.
- ``image_tag.saturn_env`` (the same ``ImageTag``): a dump of the build environment, the whole value.
- ``value`` of a ``secret`` or an ``ssh_privatekey`` object, or of the items of ``secrets`` /
  ``ssh_private_keys`` lists (``SecretCreate``, ``SecretUpdate``, ``SecretAttachmentCreate.secret``,
  ``SSHPrivateKeyCreate``/``Update``, which a resource may nest).
- Credentials in any URL, in any text: ``external_repo_attachments[].remote_url`` (``ExternalRepoAttachment``),
  ``git_repositories[].url`` (specs), ``image_uri``, a description...: ``https://user:token@host`` becomes
  ``https://***@host``. A bare user of an ``ssh://`` URL (``ssh_url``: ``ssh://jovyan@host``) is no credential
  and stays.

Looked at and kept, as they hold no secret: ids, names, ``owner``, ``description``, ``tags``, sizes, disk and
shut-off settings, statuses and timestamps, ``url``/``ssh_url``/``scheduler_url``/``subdomain``, ``healthcheck``,
``working_dir``, ``cron_schedule_options``, the Dask cluster's settings, ``warnings`` and ``errors``,
``external_repo_attachments`` but for URL credentials (``path``, ``ref``, ``external_repo_id``: a reference),
specs' ``secrets`` (``name``, ``location``, ``attachment_type``: which secret goes where, never its value),
``shared_folders``, ``routes``, ``viewers``, ``token_scope`` (a scope name), ``SSHPrivateKey.public_key``.
``None`` and empty values stay as they are, so that "no start script" still reads as such.

The hook and the client still return Saturn's full answers, for programmatic use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

REDACTED = "***"

# What is done with a secret: given it, returns what takes its place (``REDACTED``; or a collector's choice).
Hide = Callable[[Any], Any]

# Mappings of name -> value whose values are secret; the names are kept.
SECRET_VALUE_MAPPINGS = frozenset({"environment_variables"})
# Fields whose whole value is secret: shell scripts, commands, a dump of a build's environment.
SECRET_FIELDS = frozenset({"start_script", "command", "post_build", "saturn_env"})
# Mappings path -> file whose contents are secret; the paths and each file's mode are kept.
FILE_MAPPINGS = frozenset({"config_files"})
FILE_METADATA = frozenset({"mode"})
# Mappings of package or build texts: every text in them is secret (private indexes carry credentials).
SECRET_TEXT_MAPPINGS = frozenset({"extra_packages", "build_data"})
# Objects (or lists of them) whose ``value`` is a secret: Saturn secrets and SSH private keys.
SECRET_HOLDERS = frozenset({"secret", "secrets", "ssh_privatekey", "ssh_private_keys"})
HELD_SECRET = "value"  # noqa: S105 (the name of the field, not a secret)
# Schemes whose bare user name (no password) is no credential: ssh authenticates with keys.
USER_NAME_SCHEMES = frozenset({"ssh", "git+ssh", "sftp"})
# ``scheme://userinfo@``: the userinfo of a URL anywhere in a text.
URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,30})://(?P<userinfo>[^/?#@\s'\"<>]{1,512})@")


def xcom_safe(value: Any) -> Any:
    """A copy of ``value`` fit for XCom: every secret the rule knows (see the module) is ``"***"``, at any depth.

    ``None`` and empty values stay as they are, so that "no start script" still reads as such.
    """
    return _safe(value, _redact)


def secret_texts(value: Any) -> list[str]:
    """The texts in ``value`` that :func:`xcom_safe` hides (environment values, scripts, file contents, URL
    credentials...), in the order met: what a message about ``value`` must never repeat."""
    found: list[str] = []

    def collect(hidden: Any) -> str:
        found.extend(texts_in(hidden))
        return REDACTED

    _safe(value, collect)
    return found


def without_url_credentials(text: str, hide: Hide | None = None) -> str:
    """``text`` with the credentials of every URL in it hidden: ``https://user:token@host`` -> ``https://***@host``.

    A bare user name of an ``ssh://`` URL stays (it is no credential).
    """
    conceal = hide or _redact

    def replace(match: re.Match[str]) -> str:
        scheme, userinfo = match.group("scheme"), match.group("userinfo")
        if scheme.lower() in USER_NAME_SCHEMES and ":" not in userinfo:
            return match.group(0)
        return f"{scheme}://{conceal(userinfo)}@"

    return URL_USERINFO.sub(replace, text) if "@" in text else text


def _redact(hidden: Any) -> str:
    return REDACTED


def _safe(value: Any, hide: Hide) -> Any:
    if isinstance(value, dict):
        return {key: _safe_field(key, item, hide) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(item, hide) for item in value]
    if isinstance(value, str):
        return without_url_credentials(value, hide)
    return value


def _safe_field(key: Any, value: Any, hide: Hide) -> Any:
    if value is None or value == "" or value == {} or value == []:
        return value
    rule = FIELD_RULES.get(key) if isinstance(key, str) else None
    return rule(value, hide) if rule is not None else _safe(value, hide)


def _whole(value: Any, hide: Hide) -> Any:
    return hide(value)


def _names_only(variables: Any, hide: Hide) -> Any:
    """Environment variables with their names kept and their values hidden, whatever their shape."""
    if isinstance(variables, dict):
        return {name: hide(item) for name, item in variables.items()}
    if isinstance(variables, list | tuple):  # [{"name": ..., "value": ...}] in some APIs
        return [
            {"name": item["name"], "value": hide(item.get("value"))}
            if isinstance(item, dict) and "name" in item
            else hide(item)
            for item in variables
        ]
    return hide(variables)


def _files(files: Any, hide: Hide) -> Any:
    """Config files by path: the paths and modes kept, the contents (and anything unexpected) hidden."""
    if not isinstance(files, dict):
        return hide(files)
    return {path: _file(entry, hide) for path, entry in files.items()}


def _file(entry: Any, hide: Hide) -> Any:
    if not isinstance(entry, dict):
        return hide(entry)
    return {
        field: item if field in FILE_METADATA and (item is None or isinstance(item, str | int)) else hide(item)
        for field, item in entry.items()
    }


def _all_texts(value: Any, hide: Hide) -> Any:
    """Every text hidden, at any depth; flags, numbers and ``None`` kept."""
    if isinstance(value, dict):
        return {key: _all_texts(item, hide) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_all_texts(item, hide) for item in value]
    if isinstance(value, str):
        return hide(value) if value else value
    return value


def _holder(value: Any, hide: Hide) -> Any:
    """A secret or an SSH key (or a list of them): its ``value`` hidden, the rest under the rule."""
    if isinstance(value, list | tuple):
        return [_holder(item, hide) for item in value]
    if isinstance(value, dict):
        return {
            key: hide(item) if key == HELD_SECRET and item not in (None, "") else _safe_field(key, item, hide)
            for key, item in value.items()
        }
    return _safe(value, hide)


FIELD_RULES: dict[str, Callable[[Any, Hide], Any]] = {
    **dict.fromkeys(SECRET_VALUE_MAPPINGS, _names_only),
    **dict.fromkeys(SECRET_FIELDS, _whole),
    **dict.fromkeys(FILE_MAPPINGS, _files),
    **dict.fromkeys(SECRET_TEXT_MAPPINGS, _all_texts),
    **dict.fromkeys(SECRET_HOLDERS, _holder),
}
"""The one rule: a field's name -> how its value is made safe."""


def texts_in(value: Any) -> list[str]:
    """Every text in a JSON-like ``value`` (not the keys of its dicts), at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts_in(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in texts_in(item)]
    return []
