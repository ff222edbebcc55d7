"""The run's table: scenario, result, duration and evidence, as text for the terminal and Markdown for the logs."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

EVIDENCE_WIDTH = 100


@dataclass
class ScenarioResult:
    """How one scenario ended."""

    key: str
    title: str
    passed: bool
    seconds: float
    evidence: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    error: str | None = None  # an exception that ended the scenario early

    @property
    def result(self) -> str:
        return "PASS" if self.passed else "FAIL"


def render_table(results: list[ScenarioResult]) -> str:
    """A plain-text table; each scenario's evidence is wrapped under its row."""
    name_width = max([len(f"{r.key}) {r.title}") for r in results] + [len("scenario")])
    header = f"{'scenario':<{name_width}}  result  {'time':>6}  evidence"
    rule = "-" * (name_width + 18 + EVIDENCE_WIDTH)
    lines = [rule, header, rule]
    for result in results:
        entries = list(result.evidence)
        if result.error:
            entries.append(f"ERROR: {result.error}")
        wrapped: list[str] = []
        for entry in entries or ["(no evidence)"]:
            wrapped += textwrap.wrap(
                entry, EVIDENCE_WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
            ) or ["-"]
        first = f"{result.key}) {result.title}"
        lines.append(f"{first:<{name_width}}  {result.result:<6}  {result.seconds:>5.0f}s  {wrapped[0]}")
        pad = " " * (name_width + 18)
        lines += [pad + line for line in wrapped[1:]]
        lines.append(rule)
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} of {len(results)} scenarios passed")
    return "\n".join(lines)


def render_markdown(results: list[ScenarioResult], header: str) -> str:
    """The same table in Markdown (evidence as ``<br>``-separated items)."""
    rows = [header, "", "| scenario | result | duration | evidence |", "|---|---|---|---|"]
    for result in results:
        entries = list(result.evidence) + ([f"ERROR: {result.error}"] if result.error else [])
        cell = "<br>".join(entry.replace("|", "\\|") for entry in entries)
        rows.append(f"| {result.key}) {result.title} | {result.result} | {result.seconds:.0f} s | {cell} |")
    return "\n".join(rows) + "\n"
