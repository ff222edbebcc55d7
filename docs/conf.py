"""Sphinx configuration of the airflow-provider-saturn documentation (``python dev.py docs``).

Built offline: no intersphinx (no inventory can be downloaded where it is built), so references to Airflow's,
the standard library's and other packages' types in signatures cannot resolve; ``nitpick_ignore_regex`` names
those packages, one line each, and every reference into this package must resolve (``-n -W``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# Importing Airflow (autodoc) writes an airflow.cfg into AIRFLOW_HOME: a throw-away one, not ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="saturn-docs-airflow-")

from airflow_provider_saturn import __version__  # noqa: E402  (the package is installed in .venv-docs)

project = "airflow-provider-saturn"
author = "airflow-provider-saturn contributors"
copyright = "2026, airflow-provider-saturn contributors"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
    "exampleinclude",
    "autodoc_tidy",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
root_doc = "index"

# MyST: fenced ```{directive} blocks, and heading anchors for links such as connection.md#extras.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Every cross reference must resolve (``-n``); only what lies outside this package is let go.
nitpicky = True
# Standard library and third-party types in signatures: no intersphinx inventory offline.
tidy_foreign_modules = [
    *("airflow", "datetime", "collections", "typing", "typing_extensions", "types", "pathlib", "asyncio"),
    *("threading", "httpx", "requests", "tenacity", "distributed", "cryptography", "pendulum", "starlette"),
    *("uvicorn", "pytest", "openlineage"),
]
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(tidy_foreign_modules)})\..*"),
    # Names imported only for type checking (``if TYPE_CHECKING:``), which autodoc shows as written.
    (r"py:class", r"Context|Client|Security"),
    (r"py:exc", r"AirflowNotFoundException"),
]

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
add_module_names = False
python_use_unqualified_type_names = True

html_theme = "furo"
html_title = f"airflow-provider-saturn {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
