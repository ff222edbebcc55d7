"""``dev.py`` on a Debian/Ubuntu system Python: PEP 668 forbids pip installs into it, and uv is not on PATH.

dev.py must then install uv into its private ``.dev-tools/uv`` (``pip install --target``), never into the
Python running it. A venv cannot play that Python: pip ignores ``EXTERNALLY-MANAGED`` inside a venv, and a venv's
stdlib directory is its base's. So the test builds a Python installation of its own in a temporary directory: a
copy of the base interpreter, its stdlib linked entry by entry (without ``ensurepip``, like Debian without
python3-venv), only pip in its site-packages, and an ``EXTERNALLY-MANAGED`` marker in its stdlib directory.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = """[externally-managed]
Error=To install Python packages system-wide, try apt install python3-xyz (a test's stand-in for Debian).
"""


def run(command: list[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60):
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


def index_reachable() -> bool:
    """Whether pip's index answers (any HTTP answer counts), with the CA bundle pip would use."""
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/uv/"
    cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    context = ssl.create_default_context(cafile=cafile if cafile and Path(cafile).is_file() else None)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10, context=context):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def env_without_uv() -> dict[str, str]:
    """This environment with no uv on PATH and nothing pointing into a venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    directories = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(d for d in directories if d and not shutil.which("uv", path=d))
    assert shutil.which("uv", path=env["PATH"]) is None
    return env


def system_like_python(home: Path) -> tuple[Path, Path]:
    """A Python installation (not a venv) under ``home``, marked externally managed: its interpreter and its
    site-packages."""
    base_prefix = Path(sys.base_prefix)
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    base_stdlib = Path(sysconfig.get_path("stdlib"))  # in a venv, the base's
    found = run([base_python, "-c", "import os, pip; print(os.path.dirname(pip.__file__))"])
    if found.returncode != 0:
        pytest.skip(f"the base Python {base_python} has no pip to give the stand-in system Python")
    base_pip = Path(found.stdout.strip())

    python = home / "bin" / base_python.name
    python.parent.mkdir(parents=True)
    shutil.copy2(base_python, python)  # a copy, so that its prefix is found from its own location
    (home / "lib").mkdir(exist_ok=True)
    for library in (base_prefix / "lib").glob("libpython*"):
        (home / "lib" / library.name).symlink_to(library)
    stdlib = home / base_stdlib.relative_to(base_prefix)
    stdlib.mkdir(parents=True, exist_ok=True)
    for entry in base_stdlib.iterdir():
        if entry.name not in {"site-packages", "dist-packages", "ensurepip", "EXTERNALLY-MANAGED"}:
            (stdlib / entry.name).symlink_to(entry)

    code = "import site, sys, sysconfig; print(sys.prefix, sys.base_prefix, sysconfig.get_path('stdlib'))"
    where = run([python, "-c", code + "; print(site.getsitepackages()[0])"])
    assert where.returncode == 0, where.stderr
    prefix, prefix_of_base, own_stdlib, site_dir = where.stdout.split()
    assert Path(prefix) == Path(prefix_of_base) == home, f"the stand-in is no installation of its own: {where.stdout}"
    assert Path(own_stdlib) == stdlib
    site_packages = Path(site_dir)
    site_packages.mkdir(parents=True, exist_ok=True)
    (site_packages / "pip").symlink_to(base_pip)
    assert run([python, "-m", "pip", "--version"]).returncode == 0
    assert run([python, "-c", "import uv"]).returncode != 0, "uv must not be importable from the stand-in"

    assert home in stdlib.parents  # never write into a real Python's stdlib
    (stdlib / "EXTERNALLY-MANAGED").write_text(MARKER)
    return python, site_packages


def copy_of_dev_py(directory: Path) -> Path:
    directory.mkdir()
    shutil.copy2(ROOT / "dev.py", directory / "dev.py")
    return directory / "dev.py"


def test_dev_py_installs_a_private_uv_on_an_externally_managed_python(tmp_path):
    if not index_reachable():
        pytest.skip("the package index (PyPI) is unreachable: dev.py cannot fetch uv")
    python, site_packages = system_like_python(tmp_path / "system-python")
    env = env_without_uv()

    refused = run([python, "-m", "pip", "install", "--dry-run", "--no-index", "uv"], env=env)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, (
        "pip must refuse a normal install into the stand-in, or this test proves nothing:\n" + refused.stderr
    )

    dev_py = copy_of_dev_py(tmp_path / "checkout")
    private_uv = dev_py.parent / ".dev-tools" / "uv" / "bin" / "uv"
    first = run([python, dev_py, "tools"], env=env, cwd=dev_py.parent, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installing it into .dev-tools/uv/" in first.stdout
    assert f"uv: {private_uv} (uv " in first.stdout
    assert private_uv.is_file()
    assert [p.name for p in site_packages.iterdir()] == ["pip"], "dev.py installed something into the system Python"

    again = run([python, dev_py, "tools"], env=env, cwd=dev_py.parent)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "installing" not in again.stdout, "the private uv must be reused, not installed again"
    assert f"uv: {private_uv} (uv " in again.stdout


def test_dev_py_prefers_the_uv_on_path(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_uv = bin_dir / "uv"
    fake_uv.write_text("#!/bin/sh\necho 'uv 9.9.9 (on PATH)'\n")
    fake_uv.chmod(0o755)
    dev_py = copy_of_dev_py(tmp_path / "checkout")
    env = env_without_uv()
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])

    result = run([sys.executable, dev_py, "tools"], env=env, cwd=dev_py.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"uv: {fake_uv} (uv 9.9.9 (on PATH))" in result.stdout
    assert not (dev_py.parent / ".dev-tools").exists()


# A uv that records its calls and makes what ``uv build`` would (a wheel and an sdist), and a Python for the
# docs environment that records its calls and exits with $FAKE_PYTHON_EXIT: ``dev.py docs`` and the twine step
# of ``dev.py package`` are checked for what they run and what they do with the answer, in a copy of dev.py.
FAKE_UV = """#!{python}
import json, os, sys, zipfile
from pathlib import Path

with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps(["uv", *sys.argv[1:], os.environ.get("UV_PROJECT_ENVIRONMENT", "")]) + "\\n")
arguments = sys.argv[1:]
if arguments[0] == "build":
    out = Path(arguments[arguments.index("--out-dir") + 1])
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "airflow_provider_saturn-0.1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("airflow_provider_saturn/__init__.py", "")
    if "--wheel" not in arguments:
        (out / "airflow_provider_saturn-0.1.0.tar.gz").write_bytes(b"sdist")
sys.exit(1 if arguments[0] == "venv" else 0)
"""
FAKE_PYTHON = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_CALLS.python"
exit "${FAKE_PYTHON_EXIT:-0}"
"""


def checkout_with_fakes(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A copy of dev.py with pyproject.toml, a recording uv on PATH and a recording docs Python."""
    checkout = tmp_path / "checkout"
    dev_py = copy_of_dev_py(checkout)
    shutil.copy2(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(FAKE_UV.format(python=sys.executable))
    (bin_dir / "uv").chmod(0o755)
    docs_python = checkout / ".venv-docs" / "bin" / "python"
    docs_python.parent.mkdir(parents=True)
    docs_python.write_text(FAKE_PYTHON)
    docs_python.chmod(0o755)
    calls = tmp_path / "calls"
    env = env_without_uv()
    env.update({"PATH": os.pathsep.join([str(bin_dir), env["PATH"]]), "FAKE_CALLS": str(calls)})
    return dev_py, env, calls


def recorded(calls: Path) -> tuple[list[list[str]], list[str]]:
    """The uv calls (arguments, then UV_PROJECT_ENVIRONMENT) and the docs Python's command lines."""
    import json

    uv_calls = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    python = Path(f"{calls}.python")
    return uv_calls, python.read_text().splitlines() if python.exists() else []


def test_dev_py_docs_builds_with_sphinx_in_the_docs_environment_warnings_as_errors(tmp_path):
    dev_py, env, calls = checkout_with_fakes(tmp_path)
    checkout = dev_py.parent
    built = run([sys.executable, dev_py, "docs"], env=env, cwd=checkout)
    assert built.returncode == 0, built.stdout + built.stderr
    uv_calls, python_calls = recorded(calls)
    assert uv_calls == [["uv", "sync", "--frozen", "--python", "3.11", "--group", "docs", str(checkout / ".venv-docs")]]
    html = checkout / "docs" / "_build" / "html"
    assert python_calls == [f"-m sphinx -b html -E -a -n -W --keep-going -q {checkout / 'docs'} {html}"]
    assert f"open docs/_build/html/index.html ({(html / 'index.html').as_uri()})" in built.stdout

    env["FAKE_PYTHON_EXIT"] = "2"  # Sphinx found warnings
    failed = run([sys.executable, dev_py, "docs"], env=env, cwd=checkout)
    assert failed.returncode == 2
    assert "every Sphinx warning is an error" in failed.stderr
    assert "open docs/_build/html" not in failed.stdout


def test_dev_py_package_twine_checks_the_wheel_and_sdist_before_anything_else(tmp_path):
    dev_py, env, calls = checkout_with_fakes(tmp_path)
    checkout = dev_py.parent
    dist = checkout / "dist"
    wheel, sdist = (
        dist / "airflow_provider_saturn-0.1.0-py3-none-any.whl",
        dist / "airflow_provider_saturn-0.1.0.tar.gz",
    )

    env["FAKE_PYTHON_EXIT"] = "1"  # twine check fails: the long description would not render
    refused = run([sys.executable, dev_py, "package"], env=env, cwd=checkout)
    assert refused.returncode == 1
    assert "twine check failed" in refused.stderr
    uv_calls, python_calls = recorded(calls)
    assert [call[1] for call in uv_calls] == ["build", "sync"], "nothing is installed after a failed twine check"
    assert python_calls == [f"-m twine check --strict {wheel} {sdist}"]

    calls.unlink()
    Path(f"{calls}.python").unlink()
    env["FAKE_PYTHON_EXIT"] = "0"
    passed = run([sys.executable, dev_py, "package"], env=env, cwd=checkout)
    uv_calls, python_calls = recorded(calls)
    assert python_calls == [f"-m twine check --strict {wheel} {sdist}"]
    assert [call[1] for call in uv_calls] == ["build", "sync", "build", "venv"], passed.stdout + passed.stderr
    assert "the sdist builds the same wheel as the tree" in passed.stdout, "the package checks go on after twine"
