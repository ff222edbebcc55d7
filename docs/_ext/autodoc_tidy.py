"""Small autodoc adjustments, so that the API reference is built from the docstrings as they are written:

- a ``:param a, b, c: text`` field (several parameters described at once, its name possibly running on to the
  next line) becomes one ``:param`` field per name, each with the text;
- a class's private bases (``_SaturnJupyterOperator``) are shown as their first public ancestors, which the
  reference documents or which are Airflow's;
- a short reference to one of this package's objects (``:class:`SaturnError``` written in another module)
  resolves as a ``.``-prefixed one does, when exactly one documented object has that name (several: Sphinx
  warns, and the build fails);
- a reference to an object of this package that the reference does not document (an internal module or
  helper, ``:data:`kinds.RESOURCES```, ``:mod:`airflow_provider_saturn.idleness```) is shown as code without a
  link, once it is found to exist: looked up from the referring module and its parent packages, as the
  docstring's author meant it, or (a name imported only for type checking, an attribute set in ``__init__``)
  defined in the package's sources. A reference to nothing that exists stays a warning, so a renamed or
  misspelt name fails the build;
- a dataclass field's ``default_factory`` shows as ``...`` in the signature, not as ``<factory>``, which is
  not Python and made Sphinx split the signature at every comma.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

PACKAGE = "airflow_provider_saturn"
FIELD_START = re.compile(r"^(\s*):param ([^:]+)$")  # a field name without its closing colon: it goes on
SEVERAL = re.compile(r"^(\s*):param ([A-Za-z_][\w]*(?:,\s*[A-Za-z_]\w*)+):\s*(.*)$")


def _join_field_names(lines: list[str]) -> list[str]:
    """``:param a, b,`` + ``    c: text`` on one line: a field name cannot span lines in reStructuredText."""
    joined: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        start = FIELD_START.match(line)
        if start and index + 1 < len(lines) and ":" in lines[index + 1]:
            line = f"{line.rstrip()} {lines[index + 1].strip()}"
            index += 1
        joined.append(line)
        index += 1
    return joined


def split_several_params(lines: list[str]) -> list[str]:
    """One ``:param`` field per name of a ``:param a, b, c: text`` field, each with its text (and its
    continuation lines)."""
    lines = _join_field_names(lines)
    result: list[str] = []
    index = 0
    while index < len(lines):
        several = SEVERAL.match(lines[index])
        if not several:
            result.append(lines[index])
            index += 1
            continue
        indent, names, text = several.groups()
        index += 1
        continuation: list[str] = []
        while index < len(lines) and lines[index].startswith(indent + " ") and lines[index].strip():
            continuation.append(lines[index])
            index += 1
        for name in (part.strip() for part in names.split(",")):
            result.append(f"{indent}:param {name}: {text}")
            result.extend(continuation)
    return result


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = split_several_params(lines)


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Each private base replaced by its own bases, until a public one."""
    shown: list[Any] = []
    pending = list(bases)
    while pending:
        base = pending.pop(0)
        if base.__name__.startswith("_") and base.__module__.startswith(PACKAGE):
            pending[:0] = list(base.__bases__)
        elif base not in shown:
            shown.append(base)
    bases[:] = shown


@functools.cache
def exists_in_package(target: str, module: str | None, klass: str | None) -> bool:
    """Whether ``target`` names an object of this package, read from ``module`` (and ``klass``) outward."""
    places = [module or PACKAGE]
    while "." in places[-1]:
        places.append(places[-1].rsplit(".", 1)[0])
    prefixes = ([f"{module}.{klass}"] if module and klass else []) + places + [""]
    for prefix in prefixes:
        full = f"{prefix}.{target}" if prefix else target
        if full.split(".")[0] == PACKAGE and _importable(full):
            return True
    return defined_in_sources(target.rsplit(".", 1)[-1])


@functools.cache
def package_sources() -> str:
    """Every source file of the package, as one text."""
    root = Path(importlib.import_module(PACKAGE).__file__ or "").parent
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py")))


def defined_in_sources(name: str) -> bool:
    """``name`` is a class, function or module-level name of the package, or an attribute one of its classes
    sets on ``self``."""
    pattern = rf"^\s*(class|def|async def) {re.escape(name)}\b|^{re.escape(name)}\s*[:=]|self\.{re.escape(name)}\s*[:=]"
    return re.search(pattern, package_sources(), flags=re.MULTILINE) is not None


def _importable(dotted: str) -> bool:
    """The longest importable module of ``dotted``, then attributes down to its end."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            try:
                found = getattr(found, attribute)
            except AttributeError:
                return False
        return True
    return False


def resolve_short_name(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    """A Python reference not found as written: looked up as ``.name`` (one documented object ending so);
    else, when it names an undocumented object of this package, shown without a link."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    if target.split(".")[0] in app.config.tidy_foreign_modules:
        return None  # another package's: for nitpick_ignore_regex to judge
    if not node.get("refspecific") and not target.startswith(PACKAGE + "."):
        node["refspecific"] = True
        try:
            domain = env.get_domain("py")
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], target, node, contnode)
        finally:
            node["refspecific"] = False
        if found is not None:
            return found
    if exists_in_package(target.lstrip(".~"), node.get("py:module"), node.get("py:class")):
        return contnode
    return None


def no_factory_defaults(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, return_annotation: str | None
) -> tuple[str | None, str | None] | None:
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("tidy_foreign_modules", [], "env")
    app.connect("autodoc-process-signature", no_factory_defaults)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("missing-reference", resolve_short_name)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
