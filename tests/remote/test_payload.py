"""What is shipped: the function's source without its decorators, the job's files and their bound, the command."""

from __future__ import annotations

import ast
import functools
import json
import shlex
import sys
from pathlib import Path

import pytest

from airflow_provider_saturn.remote import (
    DEFAULT_PAYLOAD_BOUND,
    SaturnArgumentsError,
    SaturnFunctionError,
    SaturnPayloadTooLargeError,
    bootstrap_command,
    build_job_files,
    function_source,
    new_marker,
    outside_names,
)
from airflow_provider_saturn.remote import bootstrap as bootstrap_module
from airflow_provider_saturn.remote.payload import bootstrap_source, payload_size
from tests.remote.pods import result_of, ship


class _TaskStandIn:
    """Stands for Airflow's ``task`` (not registered here): ``task.saturn(...)`` returns the function unchanged."""

    def saturn(self, *args, **kwargs):
        return lambda function: function


task = _TaskStandIn()


def double(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return 2 * function(*args, **kwargs)

    return wrapper


@task.saturn(instance_size="large")
def one_line_decorator(x):
    return x + 1


@task.saturn(
    instance_size="large",  # a comment with a ) in it
    environment_variables={"A": "(", "B": ")"},
    serializer="json",
)
@double
def multi_line_decorators(
    x,
    y=2,
):
    """Its docstring stays."""
    return x * y


def test_a_one_line_decorator_is_stripped_and_the_function_runs_remotely(tmp_path):
    source, name = function_source(one_line_decorator)
    assert (name, source) == ("one_line_decorator", "def one_line_decorator(x):\n    return x + 1\n")
    assert result_of(ship(tmp_path, one_line_decorator, 41)) == 42


def test_multi_line_decorators_are_all_stripped(tmp_path):
    source, _ = function_source(multi_line_decorators)
    assert source.startswith("def multi_line_decorators(\n    x,\n")
    assert "@" not in source and "instance_size" not in source and '"""Its docstring stays."""' in source
    assert isinstance(ast.parse(source).body[0], ast.FunctionDef)
    assert result_of(ship(tmp_path, multi_line_decorators, 3)) == 6  # it runs undecorated


def test_a_nested_decorated_function_is_dedented(tmp_path):
    @task.saturn(
        instance_size="large",
    )
    def nested(values):
        import statistics

        return statistics.mean(values)

    source, _ = function_source(nested)
    assert source.startswith("def nested(values):\n    import statistics\n")
    assert result_of(ship(tmp_path, nested, [1, 2, 6])) == 3


def test_annotations_naming_what_is_not_there_do_not_fail_remotely(tmp_path):
    def annotated(frame: pd.DataFrame) -> np.ndarray:  # type: ignore[name-defined]  # noqa: F821
        return frame

    assert result_of(ship(tmp_path, annotated, [1])) == [1]


class _Holder:
    def method(self):
        return 1


def _generator():
    yield 1


async def _coroutine():
    return 1


def _closure():
    captured = 3

    def inner():
        return captured

    return inner


def _from_exec():
    namespace: dict = {}
    exec("def made_by_exec():\n    return 1\n", namespace)
    return namespace["made_by_exec"]


@pytest.mark.parametrize(
    ("function", "words"),
    [
        (lambda: 1, "lambda"),
        (_closure(), "uses captured from the function it is defined in"),
        (_Holder().method, "bound method"),
        (_generator, "generator"),
        (_coroutine, "async"),
        (len, "builtin_function_or_method cannot be shipped"),
        (functools.partial(double, 1), "partial cannot be shipped"),
        (_from_exec(), "cannot be read"),
    ],
    ids=["lambda", "closure", "method", "generator", "async", "builtin", "partial", "no-source"],
)
def test_what_cannot_be_shipped_is_refused_clearly(function, words):
    with pytest.raises(SaturnFunctionError) as caught:
        function_source(function)
    assert words in str(caught.value)
    if words != "async" and words != "generator":
        assert "self-contained" in str(caught.value)


def test_names_from_outside_the_function_are_listed():
    def uses_outside(path: str) -> dict:
        import json as js

        rows = [row for row in js.loads(path)]
        try:
            total = np.sum(rows)  # type: ignore[name-defined]  # noqa: F821
        except ValueError as error:
            total = error
        return {"total": total, "helper": helper(rows), "len": len(rows)}  # type: ignore[name-defined]  # noqa: F821

    source, _ = function_source(uses_outside)
    assert outside_names(source) == ["helper", "np"]
    assert outside_names(function_source(one_line_decorator)[0]) == []


def test_the_job_files_have_saturns_shape():
    marker = new_marker()
    files = build_job_files("def f(x):\n    return x\n", "f", [1], {"k": "v"}, "json", marker, 2048)
    assert set(files) == {
        ".saturn-airflow/bootstrap.py",
        ".saturn-airflow/function.py",
        ".saturn-airflow/arguments.json",
        ".saturn-airflow/settings.json",
    }
    assert all(set(entry) == {"content", "mode"} and isinstance(entry["content"], str) for entry in files.values())
    assert files[".saturn-airflow/arguments.json"]["mode"] == files[".saturn-airflow/settings.json"]["mode"] == "0600"
    assert files[".saturn-airflow/bootstrap.py"]["content"] == Path(bootstrap_module.__file__).read_text()
    assert json.loads(files[".saturn-airflow/arguments.json"]["content"]) == {"args": [1], "kwargs": {"k": "v"}}
    settings = json.loads(files[".saturn-airflow/settings.json"]["content"])
    assert settings == {
        "format": 1,
        "function": "f",
        "serializer": "json",
        "marker": marker,
        "result_bound": 2048,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
    }


def test_the_payload_bound_is_checked_before_anything_is_sent():
    data = "d" * DEFAULT_PAYLOAD_BOUND
    with pytest.raises(SaturnPayloadTooLargeError) as caught:
        build_job_files("def f(x):\n    return x\n", "f", [data], {}, "json", new_marker())
    error = caught.value
    assert error.bound == DEFAULT_PAYLOAD_BOUND and error.size > DEFAULT_PAYLOAD_BOUND
    assert f"{error.size} bytes" in str(error) and f"bound of {DEFAULT_PAYLOAD_BOUND} bytes" in str(error)
    assert "path" in str(error)


def test_files_just_under_the_payload_bound_pass():
    source = "def f(x):\n    return x\n"
    files = build_job_files(source, "f", ["d"], {}, "json", new_marker())
    room = DEFAULT_PAYLOAD_BOUND - payload_size(files)
    files = build_job_files(source, "f", ["d" * (room + 1)], {}, "json", new_marker())
    assert payload_size(files) == DEFAULT_PAYLOAD_BOUND
    with pytest.raises(SaturnPayloadTooLargeError):
        build_job_files(source, "f", ["d" * (room + 2)], {}, "json", new_marker())
    with pytest.raises(SaturnPayloadTooLargeError):
        build_job_files(source, "f", ["d"], {}, "json", new_marker(), payload_bound=1000)


def test_arguments_json_cannot_carry_are_refused_suggesting_cloudpickle():
    with pytest.raises(SaturnArgumentsError, match=r"not JSON-serializable .*serializer='cloudpickle'"):
        build_job_files("def f(x):\n    return x\n", "f", [{1, 2}], {}, "json", new_marker())


def test_cloudpickle_without_cloudpickle_on_the_worker_is_refused():
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("cloudpickle is installed here")
    with pytest.raises(SaturnArgumentsError, match="needs the cloudpickle package"):
        build_job_files("def f(x):\n    return x\n", "f", [1], {}, "cloudpickle", new_marker())


@pytest.mark.parametrize(
    "change",
    [
        {"marker": "not-a-marker"},
        {"serializer": "pickle"},
        {"result_bound": 0},
        {"result_bound": 2**40},
        {"payload_bound": -1},
        {"name": "not a name"},
    ],
)
def test_bad_settings_are_refused(change):
    arguments = {
        "source": "def f():\n    return 1\n",
        "name": "f",
        "args": [],
        "kwargs": {},
        "serializer": "json",
        "marker": new_marker(),
        **change,
    }
    with pytest.raises(ValueError):
        build_job_files(**arguments)


def test_bad_arguments_are_refused():
    with pytest.raises(SaturnArgumentsError):
        build_job_files("def f():\n    return 1\n", "f", "abc", {}, "json", new_marker())
    with pytest.raises(SaturnArgumentsError):
        build_job_files("def f():\n    return 1\n", "f", [], {1: "x"}, "json", new_marker())


def test_the_command_runs_the_bootstrap_from_home_with_the_python_given():
    assert bootstrap_command() == 'python "$HOME/.saturn-airflow/bootstrap.py"'
    assert shlex.split(bootstrap_command("/opt/my python/bin/python3"))[0] == "/opt/my python/bin/python3"
    for bad in ("", "python\nrm -rf /", "  "):
        with pytest.raises(ValueError):
            bootstrap_command(bad)


def test_markers_are_fresh():
    markers = {new_marker() for _ in range(100)}
    assert len(markers) == 100 and all(bootstrap_module.MARKER_PATTERN.fullmatch(marker) for marker in markers)


def test_the_bootstrap_needs_only_the_standard_library_and_python_3_8():
    tree = ast.parse(bootstrap_source(), feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cloudpickle"}  # imported only for serializer="cloudpickle"
