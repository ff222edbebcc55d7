"""A benchmark measured in a fresh process of its own (its imports, connections and logs stay there)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

TIMEOUT_SECONDS = 600


def measured_in_child(module: str, *arguments: str) -> dict[str, Any]:
    """``python -m <module> --child <arguments>``: the JSON object its last line of output prints."""
    output = subprocess.run(
        [sys.executable, "-m", module, "--child", *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_SECONDS,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))
