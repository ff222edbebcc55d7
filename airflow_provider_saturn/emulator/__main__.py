"""``python -m airflow_provider_saturn.emulator``: serve a Saturn API emulator until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from airflow_provider_saturn.emulator.faults import FaultSettings
from airflow_provider_saturn.emulator.server import SaturnEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_saturn.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--token", default="emulator-token", help="the API token to accept (an org admin)")
    parser.add_argument(
        "--user-token",
        action="append",
        default=[],
        metavar="TOKEN=ORG/NAME",
        help="another token, acting as that owner, not an org admin (repeatable)",
    )
    parser.add_argument("--transition-seconds", type=float, default=2.0, help="how long pending/stopping last")
    parser.add_argument(
        "--run-visibility-delay",
        type=float,
        default=0.0,
        help="seconds a new job run stays out of runtime summaries, history and active pods",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of API requests answered with 503")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share answered 429 with Retry-After")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds on a 429")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of API requests whose answer is cut off")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    runner = parser.add_argument_group("runner mode", "job runs run their commands for real on this machine")
    runner.add_argument(
        "--run-commands",
        action="store_true",
        help="run each job pod's start script and command as real processes (loopback hosts only)",
    )
    runner.add_argument("--python", default=None, metavar="PATH", help="what `python` runs in a pod (default: this)")
    runner.add_argument("--max-processes", type=int, default=4, help="pods running at once; more wait pending")
    runner.add_argument("--max-run-seconds", type=float, default=3600.0, help="a pod's time bound, then killed")
    dask = parser.add_argument_group("real-Dask mode", "Dask clusters run a real scheduler and workers here")
    dask.add_argument(
        "--real-dask",
        action="store_true",
        help="starting a Dask cluster starts a real distributed scheduler and workers on 127.0.0.1, mutual TLS "
        "(loopback hosts only; pip install 'airflow-provider-saturn[dask]')",
    )
    dask.add_argument(
        "--max-dask-processes", type=int, default=12, help="schedulers and workers of every cluster at once"
    )
    dask.add_argument("--max-dask-workers", type=int, default=16, help="workers of one Dask cluster at most")
    dask.add_argument(
        "--dask-start-timeout", type=float, default=60.0, help="seconds for a cluster to answer, else error"
    )
    return parser.parse_args(argv)


def user_tokens(values: list[str]) -> dict[str, str]:
    """``TOKEN=ORG/NAME`` options as ``SaturnEmulator(tokens=...)`` takes them."""
    tokens = {}
    for value in values:
        token, _, owner = value.partition("=")
        if not token or not owner:
            raise SystemExit(f"--user-token: expected TOKEN=ORG/NAME, not {value!r}")
        tokens[token] = owner
    return tokens


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    faults = FaultSettings(
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        retry_after=args.retry_after,
        drop_rate=args.drop_rate,
        latency=args.latency,
        seed=args.seed,
    )
    try:
        emulator = SaturnEmulator(
            host=args.host,
            port=args.port,
            token=args.token,
            transition_seconds=args.transition_seconds,
            faults=faults,
            run_visibility_delay=args.run_visibility_delay,
            tokens=user_tokens(args.user_token),
            run_commands=args.run_commands,
            python=args.python,
            max_processes=args.max_processes,
            max_run_seconds=args.max_run_seconds,
            real_dask=args.real_dask,
            max_dask_processes=args.max_dask_processes,
            max_dask_workers=args.max_dask_workers,
            dask_start_timeout=args.dask_start_timeout,
        )
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator.start()
    print(f"Saturn emulator serving at {emulator.url}", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
