"""``python -m benchmarks`` (or ``python dev.py bench``): run every benchmark, print a table, write RESULTS.md."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import client_overhead, import_cost, job_wait_requests, machine, report, wait_scale

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> None:
    started = time.monotonic()
    print("1/4 import cost ...", flush=True)
    rows = report.import_rows(import_cost.run())
    print("2/4 deferred-wait scale (100, 1,000 and 5,000 waits) ...", flush=True)
    for scale in wait_scale.run():
        rows += report.scale_rows(scale)
    print("3/4 client overhead ...", flush=True)
    rows += report.overhead_rows(client_overhead.run())
    print("4/4 job run wait, log followed and not ...", flush=True)
    rows += report.job_wait_rows(job_wait_requests.run())
    seconds = time.monotonic() - started
    print("\n" + report.as_text(rows))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    RESULTS.write_text(report.as_markdown(rows, when=when, seconds=seconds, machine=machine.describe()))
    print(f"\nWrote {RESULTS} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
