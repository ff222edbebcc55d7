"""``exampleinclude``: a code block taken from a tested file between ``[START name]`` and ``[END name]`` lines,
as Airflow's own provider docs include example DAGs.

    .. exampleinclude:: /../example_dags/saturn_python_tasks.py
       :snippet: howto_decorator_saturn

The block is dedented, highlighted as Python unless ``:language:`` says otherwise, and captioned with the file's
path in the repository. A missing marker, a marker found twice or an empty snippet is a build warning (an error
under ``-W``), so a renamed marker cannot leave a page without its code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.directives.code import LiteralInclude


class ExampleInclude(LiteralInclude):
    """A ``literalinclude`` of the lines between ``# [START <snippet>]`` and ``# [END <snippet>]``."""

    option_spec = {**LiteralInclude.option_spec, "snippet": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        snippet = self.options.pop("snippet", "").strip()
        if not snippet:
            return [self.state.document.reporter.warning("exampleinclude needs :snippet:", line=self.lineno)]
        _relative, path = self.env.relfn2path(self.arguments[0])
        text = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else ""
        start, end = f"[START {snippet}]", f"[END {snippet}]"
        counts = (text.count(start), text.count(end))
        if counts != (1, 1):
            message = f"exampleinclude: {self.arguments[0]} has {counts[0]} '{start}' and {counts[1]} '{end}' lines"
            return [self.state.document.reporter.warning(message, line=self.lineno)]
        body = text.split(start, 1)[1].split("\n", 1)[1].split(end, 1)[0]
        if not body.strip() or all(line.strip().startswith("#") for line in body.splitlines() if line.strip()):
            message = f"exampleinclude: the snippet {snippet} of {self.arguments[0]} is empty"
            return [self.state.document.reporter.warning(message, line=self.lineno)]
        self.options["start-after"] = start
        self.options["end-before"] = end
        self.options.setdefault("language", "python")
        self.options.setdefault("dedent", None)
        self.options.setdefault("caption", str(Path(path).resolve().relative_to(repository_root(self.env.srcdir))))
        return super().run()


def repository_root(srcdir: Any) -> Path:
    """The repository: the folder holding docs/."""
    return Path(srcdir).resolve().parent


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("exampleinclude", ExampleInclude)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
