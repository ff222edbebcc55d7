"""``python -m e2e [--quick] [--only a,b] [--scale] [--keep-logs]`` (``python dev.py e2e`` sets up and runs it)."""

from __future__ import annotations

import sys

from e2e.runner import main

sys.exit(main())
