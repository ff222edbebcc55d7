"""``python -m benchmarks`` (or ``python dev.py bench``): run every benchmark, print a table, write RESULTS.md."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    client_overhead,
    dask_client,
    idle_scan,
    import_cost,
    job_wait_requests,
    machine,
    report,
    saturn_task,
    shared_poll,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> None:
    started = time.monotonic()
    print("1/7 import cost ...", flush=True)
    rows = report.import_rows(import_cost.run())
    print(
        "2/7 deferred waits: shared poll vs per-wait polling (1, 100, 1,000, 5,000 waits) vs dbt Cloud (1,000) ...",
        flush=True,
    )
    polls = shared_poll.run()
    rows += report.poll_rows(polls)
    print("3/7 idle scan of 1,000 active resources ...", flush=True)
    rows += report.idle_rows(idle_scan.run())
    print("4/7 client overhead ...", flush=True)
    rows += report.overhead_rows(client_overhead.run())
    print("5/7 job run wait, log followed and not ...", flush=True)
    rows += report.job_wait_rows(job_wait_requests.run())
    print("6/7 @task.saturn: requests per run, a 1 MiB result, a 256 KiB argument ...", flush=True)
    saturn_costs = saturn_task.run()
    rows += saturn_task.rows(saturn_costs)
    print("7/7 get_dask_client: from the call to the first result on a real Dask cluster ...", flush=True)
    rows += dask_client.rows(dask_client.run())
    seconds = time.monotonic() - started
    tables = [("Deferred waits, every case", *report.poll_table(polls)), saturn_task.sequence_table(saturn_costs)]
    print("\n" + report.as_text(rows, tables))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    RESULTS.write_text(
        report.as_markdown(
            rows,
            when=when,
            seconds=seconds,
            machine=machine.describe(),
            tables=tables,
            notes=report.NOTES + saturn_task.NOTES + dask_client.NOTES,
        )
    )
    print(f"\nWrote {RESULTS} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
