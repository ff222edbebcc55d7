"""Who owns what: the owners (users and groups, each in an org) that resources belong to and tokens act as.

An owner is named by its path, ``<org>/<identity>`` (the spec's ``OwnerByPath``); a path without an org is in
the org ``emulator``. Ids are derived from names, so the same name gets the same ids in every emulator and
after a reset. The API token's identity, ``emulator/airflow``, is an org admin; an owner made up by a seed or
a token option is not, unless it says so.

An owner spec (seed control, ``SaturnEmulator(tokens=...)``) is a path, or an object
``{"name": <path>, "identity_type": "user"|"group", "org_admin": bool}`` (only ``name`` is required).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.lifecycle import EmulatorError

DEFAULT_ORG = "emulator"
IDENTITY_TYPES = ("user", "group")
LIST_BY = ("owner", "org", "account")
_SEGMENT = r"[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}"
_PATH = re.compile(rf"^(?:(?P<org>{_SEGMENT})/)?(?P<identity>{_SEGMENT})$")


def _derived_id(kind: str, name: str) -> str:
    """A 32-hex-digit id that only depends on ``kind`` and ``name``."""
    return hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Owner:
    """A user or group of an org, as the spec's ``Owner`` shows it (``owner_json`` in ``render.py``)."""

    id: str
    org_name: str
    identity_name: str
    identity_type: str
    org_id: str
    org_admin: bool
    created_at: str = catalog.CREATED_AT

    @property
    def name(self) -> str:
        """The owner's path, ``<org>/<identity>``."""
        return f"{self.org_name}/{self.identity_name}"

    @property
    def user_id(self) -> str | None:
        return self.id if self.identity_type == "user" else None

    @property
    def group_id(self) -> str | None:
        return self.id if self.identity_type == "group" else None


DEFAULT_OWNER = Owner(
    id=catalog.OWNER_ID,
    org_name=DEFAULT_ORG,
    identity_name="airflow",
    identity_type="user",
    org_id=catalog.ORG_ID,
    org_admin=True,
)
"""The API token's identity: what every resource created through the API belongs to."""


def default_owner() -> Owner:
    """``DEFAULT_OWNER``, as a dataclass field default."""
    return DEFAULT_OWNER


def make_owner(path: str, identity_type: str = "user", org_admin: bool = False) -> Owner:
    """The owner at ``path`` (``<org>/<identity>`` or ``<identity>``), with ids derived from its names."""
    match = _PATH.match(path)
    if match is None:
        raise ValueError(f"{path!r} is not an owner path '<org>/<identity>' (lowercase letters, digits, dashes)")
    if identity_type not in IDENTITY_TYPES:
        raise ValueError(f"identity_type must be one of {list(IDENTITY_TYPES)}, not {identity_type!r}")
    org = match["org"] or DEFAULT_ORG
    identity = match["identity"]
    if (f"{org}/{identity}", identity_type) == (DEFAULT_OWNER.name, DEFAULT_OWNER.identity_type):
        return replace(DEFAULT_OWNER, org_admin=org_admin)
    return Owner(
        id=_derived_id(identity_type, f"{org}/{identity}"),
        org_name=org,
        identity_name=identity,
        identity_type=identity_type,
        org_id=catalog.ORG_ID if org == DEFAULT_ORG else _derived_id("org", org),
        org_admin=org_admin,
    )


@dataclass(frozen=True)
class OwnerSpec:
    """What an owner spec asks for; ``None`` where it leaves a field to the registry."""

    path: str
    identity_type: str | None = None
    org_admin: bool | None = None


def parse_owner_spec(spec: Any, field: str = "owner") -> OwnerSpec:
    """An owner spec (a path, or ``{name, identity_type, org_admin}``), checked; a 422 naming ``field``."""
    if isinstance(spec, str):
        fields: Mapping[str, Any] = {"name": spec}
    elif isinstance(spec, Mapping):
        fields = spec
    else:
        raise EmulatorError(422, f"{field}: an owner path '<org>/<identity>' or {{name, identity_type, org_admin}}")
    unknown = sorted(set(fields) - {"name", "identity_type", "org_admin"})
    if unknown:
        raise EmulatorError(422, f"{field}.{unknown[0]}: unknown field")
    path, identity_type, org_admin = fields.get("name"), fields.get("identity_type"), fields.get("org_admin")
    if not isinstance(path, str) or _PATH.match(path) is None:
        raise EmulatorError(422, f"{field}: {path!r} is not an owner path '<org>/<identity>'")
    if identity_type is not None and identity_type not in IDENTITY_TYPES:
        raise EmulatorError(422, f"{field}.identity_type: one of {list(IDENTITY_TYPES)}")
    if org_admin is not None and not isinstance(org_admin, bool):
        raise EmulatorError(422, f"{field}.org_admin: must be a boolean")
    return OwnerSpec(path, identity_type, org_admin)


class OwnerRegistry:
    """The owners one emulator knows: each name stands for one owner; a reset keeps the permanent ones
    (``DEFAULT_OWNER`` and the tokens' identities)."""

    def __init__(self) -> None:
        self._permanent: dict[str, Owner] = {DEFAULT_OWNER.name: DEFAULT_OWNER}
        self._owners = dict(self._permanent)

    def resolve(self, spec: OwnerSpec, *, permanent: bool = False, field: str = "owner") -> Owner:
        """The owner ``spec`` names: the known one (a 422 if the spec contradicts it), else a new one."""
        path = spec.path if "/" in spec.path else f"{DEFAULT_ORG}/{spec.path}"
        known = self._owners.get(path)
        if known is None:
            known = make_owner(path, spec.identity_type or "user", bool(spec.org_admin))
            self._owners[path] = known
        elif spec.identity_type not in (None, known.identity_type) or spec.org_admin not in (None, known.org_admin):
            raise EmulatorError(
                422,
                f"{field}: {path} is already a {known.identity_type} with org_admin={str(known.org_admin).lower()}",
            )
        if permanent:
            self._permanent[path] = known
        return known

    def reset(self) -> None:
        """Forget every owner but the permanent ones."""
        self._owners = dict(self._permanent)


def owner_filter(
    identity: Owner,
    list_by: str | None,
    user_id: str | None = None,
    group_id: str | None = None,
    org_id: str | None = None,
) -> Callable[[Owner], bool]:
    """Which owners' resources a listing shows: those ``list_by`` covers for ``identity``, narrowed by ids.

    ``owner`` (the default) covers the identity's own resources, ``org`` its org's, ``account`` everyone's;
    ``org`` and ``account`` need an org admin (a 403 otherwise). ``user_id``, ``group_id`` and ``org_id``
    (empty means unset) keep only the owners with that id.
    """
    level = list_by or "owner"
    if level not in LIST_BY:
        raise EmulatorError(422, f"list_by: one of {list(LIST_BY)}")
    if level != "owner" and not identity.org_admin:
        raise EmulatorError(
            403, f"list_by={level} requires elevated permissions: {identity.name} is not an admin of its org"
        )
    wanted = {"user_id": user_id or None, "group_id": group_id or None, "org_id": org_id or None}
    wanted = {name: value for name, value in wanted.items() if value is not None}
    if level == "owner":
        wanted["id"] = identity.id
    elif level == "org":
        wanted.setdefault("org_id", identity.org_id)
        if wanted["org_id"] != identity.org_id:
            return lambda owner: False  # another org's resources are not in this org's listing

    def shown(owner: Owner) -> bool:
        return all(getattr(owner, name) == value for name, value in wanted.items())

    return shown
