#!/usr/bin/env python3
"""Set-up and checks from nothing but Python and pip.

    python dev.py demo      # start the Saturn emulator and run the demo against it
    python dev.py test      # every test, on Airflow 3 and on Airflow 2.11
    python dev.py lint      # ruff and mypy
    python dev.py package   # build the wheel and sdist (dist/), twine check them, install each in a fresh venv
    python dev.py docs      # the documentation site (docs/) into docs/_build/html, every warning an error
    python dev.py bench     # the benchmarks (benchmarks/RESULTS.md)
    python dev.py e2e       # a real Airflow 3.3 deployment (Postgres, Redis, Celery) and its scenarios
    python dev.py tools     # only make sure uv is there, and say which one is used

``e2e`` takes ``--quick`` (a shorter subset), ``--keep-logs``, ``--only a,b`` and ``--scale`` (the 500 deferred
sensors measurement, added to ``--only`` and ``--quick`` too; ``--quick`` with ``--only`` is refused); it installs
the Debian packages it needs (postgresql, redis-server) with apt-get when run as root, and otherwise names them.

Uses the ``uv`` on PATH; without one, installs uv once into ``.dev-tools/uv`` (``pip install --target``,
so never into the Python running this script: it works on a Debian/Ubuntu system Python, PEP 668).
Then the locked environments (uv.lock): ``.venv`` for Airflow 3 and ``.venv-af2`` for Airflow 2.11 (and
``.venv-bench``, ``.venv-e2e`` for the benchmarks and the end-to-end deployment, ``.venv-docs`` for Sphinx and
twine).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent
DEV_TOOLS = ROOT / ".dev-tools"
PRIVATE_UV = DEV_TOOLS / "uv"  # a `pip install --target` directory: the binary is in bin/
LINES: dict[str, dict[str, Any]] = {
    "3": {"venv": ".venv", "groups": ["--group", "airflow3"]},
    "2": {"venv": ".venv-af2", "groups": ["--no-group", "airflow3", "--group", "airflow2"]},
    "bench": {"venv": ".venv-bench", "groups": ["--group", "bench"]},
    "e2e": {"venv": ".venv-e2e", "groups": ["--no-default-groups", "--group", "e2e"]},
    # The default groups too: autodoc imports the package, the hooks and operators with Airflow 3.
    "docs": {"venv": ".venv-docs", "groups": ["--group", "docs"]},
}
DOCS_SOURCE = ROOT / "docs"
DOCS_HTML = DOCS_SOURCE / "_build" / "html"
# What `dev.py e2e` needs of the system: a Debian package for each program, found on PATH or where Debian puts it.
E2E_SYSTEM_PACKAGES: dict[str, tuple[str, ...]] = {
    "postgresql": ("initdb", "postgres"),
    "redis-server": ("redis-server",),
}


def fail(message: str) -> NoReturn:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(
    command: list[str],
    env: dict[str, str] | None = None,
    *,
    cwd: Path = ROOT,
    error: str | None = None,
    base_env: dict[str, str] | None = None,
) -> None:
    """Run a command; on failure exit with its code, after ``error`` if given."""
    print("+", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=cwd, env={**(base_env or os.environ), **(env or {})}, check=False)
    if completed.returncode != 0:
        if error:
            print(f"dev.py: {error}", file=sys.stderr, flush=True)
        sys.exit(completed.returncode)


# ---------------------------------------------------------------------------------------------- uv


def _version_of(command: list[str]) -> str | None:
    """``command --version``, or None when it does not run."""
    try:
        completed = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def private_uv_binary() -> Path:
    return PRIVATE_UV / "Scripts" / "uv.exe" if os.name == "nt" else PRIVATE_UV / "bin" / "uv"


def install_private_uv() -> None:
    """``pip install --target .dev-tools/uv uv``: pip makes no PEP 668 check for --target, and nothing of the
    running Python changes. Installed into a staging directory first, so a broken attempt leaves nothing."""
    if _version_of([sys.executable, "-m", "pip"]) is None:
        fail(
            "uv is not on PATH and this Python has no pip to fetch it. Install uv "
            "(https://docs.astral.sh/uv/getting-started/installation/) or pip "
            "(Debian/Ubuntu: sudo apt install python3-pip), then run this again."
        )
    DEV_TOOLS.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="uv-staging-", dir=DEV_TOOLS))
    try:
        print(f"uv is not on PATH: installing it into {PRIVATE_UV.relative_to(ROOT)}/ (once)", flush=True)
        pip_install = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run(
            [*pip_install, "--target", str(staging), "uv"],
            # A user's pip configuration must not turn --target into a --user or a virtualenv-only install.
            env={"PIP_USER": "0", "PIP_REQUIRE_VIRTUALENV": "0"},
            error=f"pip could not install uv into {PRIVATE_UV}; install uv yourself and put it on PATH",
        )
        shutil.rmtree(PRIVATE_UV, ignore_errors=True)
        try:
            staging.rename(PRIVATE_UV)
        except OSError:  # another dev.py got there first
            if _version_of([str(private_uv_binary())]) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@functools.cache
def uv() -> list[str]:
    """The uv on PATH; else one already installed in the running Python; else the private one in .dev-tools/."""
    on_path = shutil.which("uv")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("uv") is not None and _version_of([sys.executable, "-m", "uv"]):
        return [sys.executable, "-m", "uv"]
    binary = private_uv_binary()
    if _version_of([str(binary)]) is None:
        install_private_uv()
        if _version_of([str(binary)]) is None:
            fail(f"uv was installed into {PRIVATE_UV} but {binary} does not run")
    return [str(binary)]


def tools() -> None:
    command = uv()
    print(f"uv: {' '.join(command)} ({_version_of(command)})")


# ---------------------------------------------------------------------------------------------- environments


def sync(line: str) -> Path:
    """Install the locked environment of one Airflow line; returns its Python."""
    spec = LINES[line]
    env = {"UV_PROJECT_ENVIRONMENT": str(ROOT / spec["venv"])}
    run([*uv(), "sync", "--frozen", "--python", "3.11", *spec["groups"]], env=env)
    return ROOT / spec["venv"] / "bin" / "python"


def python_of(line: str) -> str:
    return str(sync(line))


def demo() -> None:
    run([python_of("3"), "-m", "demo"])


def test(lines: list[str]) -> None:
    for line in lines:
        print(f"\n=== tests on Airflow line {line} ===", flush=True)
        run([python_of(line), "-m", "pytest", "-p", "no:cacheprovider", *sys.argv[3:]])


def lint() -> None:
    python = python_of("3")
    run([python, "-m", "ruff", "check", "."])
    run([python, "-m", "ruff", "format", "--check", "."])
    run([python, "-m", "mypy"])


def bench() -> None:
    run([python_of("bench"), "-m", "benchmarks"])


def docs() -> None:
    """Build the documentation site (docs/) into docs/_build/html with Sphinx, from scratch each time (``-E``:
    an incremental build would not repeat the warnings of pages it does not rewrite), every warning an error
    (``-W --keep-going``: all of them are listed before it fails) and every broken cross reference a warning
    (``-n``, nitpicky)."""
    started = time.monotonic()
    python = python_of("docs")
    run(
        [
            python,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-E",
            "-a",
            "-n",
            "-W",
            "--keep-going",
            "-q",
            str(DOCS_SOURCE),
            str(DOCS_HTML),
        ],
        error="the documentation build failed: every Sphinx warning is an error (see above)",
    )
    index = DOCS_HTML / "index.html"
    print(f"docs built in {time.monotonic() - started:.0f} s: open {index.relative_to(ROOT)} ({index.as_uri()})")


# ---------------------------------------------------------------------------------------------- e2e


def _program_found(program: str) -> bool:
    """On PATH, or in a Debian PostgreSQL directory (``/usr/lib/postgresql/<version>/bin``, not on PATH)."""
    return shutil.which(program) is not None or any(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))


def missing_system_packages() -> list[str]:
    """The Debian packages of ``E2E_SYSTEM_PACKAGES`` whose programs are not found."""
    return [
        package
        for package, programs in E2E_SYSTEM_PACKAGES.items()
        if not all(_program_found(program) for program in programs)
    ]


def ensure_system_packages() -> None:
    """Install what the e2e deployment needs with apt-get when root; otherwise say what to install and stop."""
    missing = missing_system_packages()
    if not missing:
        return
    names = " ".join(missing)
    if os.name != "posix" or os.geteuid() != 0:
        fail(
            f"the e2e deployment needs the Debian packages {names}: run `sudo apt-get install -y {names}` (or as "
            "root, `python dev.py e2e` installs them itself), then run this again."
        )
    if shutil.which("apt-get") is None:
        fail(
            f"the e2e deployment needs PostgreSQL and Redis ({names}), and this system has no apt-get: install them "
            "with its package manager, then run this again."
        )
    print(f"e2e: installing the Debian packages {names} (apt-get, as root)", flush=True)
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=apt_env, error="apt-get update failed")
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=apt_env,
        error=f"apt-get could not install {names}",
    )
    still = missing_system_packages()
    if still:
        fail(f"apt-get installed {names}, but their programs are still not found: {still}")


def e2e(arguments: list[str]) -> None:
    """The end-to-end deployment: system packages, then ``.venv-e2e``, then ``python -m e2e`` (exit code passed on)."""
    ensure_system_packages()
    run([python_of("e2e"), "-m", "e2e", *arguments])


# ---------------------------------------------------------------------------------------------- package

# Run inside each fresh venv (argv: the expected version): what a user's first minutes with the package touch.
PACKAGE_CHECK = r"""
import importlib.metadata
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path


def check(condition, message):
    if not condition:
        sys.exit(f"package check failed: {message}")


# The installed emulator's command line on a free port (yields its URL), killed past `seconds`; exits 0 on SIGTERM.
@contextmanager
def emulator_serving(*options, seconds):
    emulator = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_saturn.emulator", "--port", "0", "--token", "t", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(seconds, emulator.kill)
    watchdog.start()
    try:
        line = emulator.stdout.readline().strip()
        check(line.startswith("Saturn emulator serving at http://"), f"the emulator printed {line!r}")
        yield line.rsplit(" ", 1)[1]
    finally:
        emulator.terminate()
        code = emulator.wait(timeout=seconds / 2)
        watchdog.cancel()
    check(code == 0, f"the emulator {' '.join(options)} exited with {code} on SIGTERM")


version = sys.argv[1]

import airflow_provider_saturn
import airflow_provider_saturn.hooks
import airflow_provider_saturn.operators
import airflow_provider_saturn.sensors

location = Path(airflow_provider_saturn.__file__).resolve()
check(Path(sys.prefix).resolve() in location.parents, f"imported from {location}, not from this venv")
check(airflow_provider_saturn.__version__ == version, f"__version__ is {airflow_provider_saturn.__version__}")

distribution = importlib.metadata.distribution("airflow-provider-saturn")
check(distribution.version == version, f"installed version {distribution.version}, expected {version}")
entry_points = {(ep.group, ep.name): ep for ep in distribution.entry_points}
provider = entry_points.get(("apache_airflow_provider", "provider_info"))
check(provider is not None, "no apache_airflow_provider entry point")
info = provider.load()()
check(info.get("package-name") == "airflow-provider-saturn", f"provider info: {info!r:.200}")
check(version in info.get("versions", []), f"provider info versions: {info.get('versions')}")
check([c["connection-type"] for c in info["connection-types"]] == ["saturn"], "connection type saturn missing")
decorators = [d["name"] for d in info.get("task-decorators", [])]
check(decorators == ["saturn", "saturn_dask"], f"task decorators saturn and saturn_dask expected, not {decorators}")
plugin = entry_points.get(("pytest11", "saturn_emulator"))
check(plugin is not None and plugin.value == "airflow_provider_saturn.emulator.pytest_plugin", "pytest11 entry point")

from airflow.providers_manager import ProvidersManager

seen = ProvidersManager().providers.get("airflow-provider-saturn")
check(seen is not None and seen.version == version, "Airflow's ProvidersManager does not list the provider")
try:
    from airflow.sdk import task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
from airflow_provider_saturn.decorators.saturn import saturn_task
from airflow_provider_saturn.decorators.saturn_dask import saturn_dask_task

check(task.saturn is saturn_task, "@task.saturn does not resolve to the provider's decorator")
check(task.saturn_dask is saturn_dask_task, "@task.saturn_dask does not resolve to the provider's decorator")

from airflow_provider_saturn.client import SaturnClient

with emulator_serving(seconds=60) as url, SaturnClient(url=url, api_token="t") as client:
    status = client.get_status()
    check(status.get("status"), f"get_status() answered {status!r}")
    check(client.list_projects() == [], "a fresh emulator has projects")

import airflow

print(f"ok: {version} on Airflow {airflow.__version__}: imports, provider info, emulator {url}: {status}")

import importlib.util
import time

if importlib.util.find_spec("distributed") is not None:  # installed with [dask]: compute on a real cluster
    with emulator_serving("--real-dask", seconds=120) as url, SaturnClient(url=url, api_token="t") as client:
        project = client.create_project("package-check")
        cluster = client.create_dask_cluster(project["id"], n_workers=1, nthreads=1)
        client.start_dask_cluster(cluster["id"])
        deadline = time.monotonic() + 90
        while client.get_dask_cluster(cluster["id"])["status"] != "running":
            check(time.monotonic() < deadline, "the emulator's real Dask cluster did not start")
            time.sleep(0.2)
        with client.get_dask_client(cluster["id"], timeout=30) as dask:
            total = dask.submit(sum, [1, 2, 3]).result(timeout=30)
    check(total == 6, f"the Dask cluster computed {total!r}")
    print(f"ok: [dask]: get_dask_client computed on the emulator's real Dask cluster over mutual TLS ({total})")
"""

# Run with pytest in the venv installed with [testing]: the saturn_emulator fixture comes from the pytest11 entry point.
PACKAGE_FIXTURE_TEST = """
from airflow_provider_saturn.hooks import SaturnHook


def test_saturn_emulator_fixture(saturn_emulator):
    hook = SaturnHook()
    project = hook.create_project(name="packaged")
    hook.start_jupyter_server(project["jupyter_server_id"])
    assert list(saturn_emulator.state.workspaces) == [project["id"]]
"""


def _wheel_contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def package() -> None:
    """Build the wheel and the sdist into dist/ and prove a user can install and use each in a fresh venv:

    - ``twine check --strict`` passes on both: metadata complete, the long description (README.md) renders;
    - the wheel (built from the sdist, as ``uv build`` does) is byte for byte the wheel built straight from the tree;
    - the wheel with ``[emulator,dask]`` on Airflow 3.3.2 (pinned, so that CI stays reproducible): imports, provider
      entry point, ProvidersManager, the emulator CLI and a ``SaturnClient`` reading ``get_status()`` from it, and
      ``get_dask_client`` computing on the emulator's real Dask cluster;
    - the sdist with ``[testing]`` on Airflow 2.11.2: the same checks, and a pytest run of the
      ``saturn_emulator`` fixture.
    """
    started = time.monotonic()
    command = uv()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    dist = ROOT / "dist"
    wheel = dist / f"airflow_provider_saturn-{version}-py3-none-any.whl"
    sdist = dist / f"airflow_provider_saturn-{version}.tar.gz"
    for built in (wheel, sdist):
        built.unlink(missing_ok=True)
    run([*command, "build", "--out-dir", str(dist)], error="uv build failed")
    for built in (wheel, sdist):
        if not built.is_file():
            fail(f"uv build did not produce {built.relative_to(ROOT)}")
    run(
        [python_of("docs"), "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        error="twine check failed: the package's metadata or long description (README.md) would not render on PyPI",
    )

    with tempfile.TemporaryDirectory(prefix="saturn-package-") as temp:
        work = Path(temp)
        run([*command, "build", "--wheel", "--out-dir", str(work / "direct")], error="uv build --wheel failed")
        direct = _wheel_contents(work / "direct" / wheel.name)
        from_sdist = _wheel_contents(wheel)
        if direct != from_sdist:
            only = sorted(set(direct) ^ set(from_sdist))
            changed = sorted(name for name in set(direct) & set(from_sdist) if direct[name] != from_sdist[name])
            fail(f"the sdist builds a different wheel than the tree: differing {only or changed}")
        print(f"ok: the sdist builds the same wheel as the tree ({len(direct)} files)", flush=True)

        (work / "check_package.py").write_text(PACKAGE_CHECK)
        (work / "test_fixture.py").write_text(PACKAGE_FIXTURE_TEST)
        # Nothing of this checkout or of an active environment may leak into the fresh venvs.
        env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
        env["AIRFLOW_HOME"] = str(work / "airflow-home")
        installs = [
            ("wheel", f"{wheel}[emulator,dask]", ["apache-airflow==3.3.2"], False),
            ("sdist", f"airflow-provider-saturn[testing] @ {sdist.as_uri()}", ["apache-airflow==2.11.2"], True),
        ]
        for name, requirement, extra_requirements, with_pytest in installs:
            venv = work / f"venv-{name}"
            python = str(venv / "bin" / "python")
            print(f"\n=== {name}: {requirement} {' '.join(extra_requirements)} in a fresh venv ===", flush=True)
            run([*command, "venv", "--quiet", "--python", "3.11", str(venv)], cwd=work, base_env=env)
            run(
                [*command, "pip", "install", "--quiet", "--python", python, requirement, *extra_requirements],
                cwd=work,
                base_env=env,
                error=f"the {name} does not install into a fresh venv",
            )
            run(
                [python, str(work / "check_package.py"), version],
                cwd=work,
                base_env=env,
                error=f"the {name} installs, but does not work (see above)",
            )
            if with_pytest:
                run(
                    [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_fixture.py"],
                    cwd=work,
                    base_env=env,
                    error=f"the saturn_emulator pytest fixture does not work from the {name} with [testing]",
                )
    print(
        f"\npackage ok in {time.monotonic() - started:.0f} s: {wheel.relative_to(ROOT)} and {sdist.relative_to(ROOT)}",
        flush=True,
    )


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command == "demo":
        demo()
    elif command == "test":
        wanted = sys.argv[2] if len(sys.argv) > 2 else "all"
        test(["3", "2"] if wanted == "all" else [wanted])
    elif command == "lint":
        lint()
    elif command == "package":
        package()
    elif command == "bench":
        bench()
    elif command == "docs":
        docs()
    elif command == "e2e":
        e2e(sys.argv[2:])
    elif command == "tools":
        tools()
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
