"""The bootstrap run for real (a subprocess with the job's command and files) and its log read back."""

from __future__ import annotations

import hashlib
import json
import math
import sys

import pytest

from airflow_provider_saturn.remote import FrameReader, SaturnFrameError, SaturnRemoteError
from airflow_provider_saturn.remote.bootstrap import (
    DEFAULT_RESULT_BOUND,
    EXIT_NO_SETTINGS,
    FILES_DIR,
    FRAME_TAG,
    PICKLED_ARGUMENTS_FILE,
    SETTINGS_FILE,
    here_python,
)
from tests.remote.pods import frame_lines_of, reader_of, result_of, run_pod, ship


def echo(value):
    return value


def add(a, b, *, scale=1):
    return (a + b) * scale


def no_return(x):
    x + 1


def make_text(size):
    return "x" * size


def fails(x):
    def inner(y):
        raise ValueError(f"bad value {y}")

    print("about to fail")
    inner(x)


def fails_with_own_type():
    class QuotaError(Exception):
        pass

    raise QuotaError("over quota")


def fails_with_module_type():
    import json

    json.loads("{")


def fails_unprintably():
    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no")

    raise Odd()


def fails_at_length(size):
    raise RuntimeError("m" * size)


def exits(code):
    import sys

    print("leaving")
    sys.exit(code)


def returns_a_set():
    return {1, 2}


def prints_lookalikes(other_marker, digest):
    print(f"SATURN-FRAME v1 {other_marker} 0123456789abcdef result 1 1 2 {digest} NDI=")
    print("SATURN-FRAME v1 0123456789abcdef0123456789abcdef text mimicking the format")
    print("SATURN-FRAME v1 result 1 1 2 deadbeef NDI=")
    return "the real value"


def prints_without_newline():
    print("no newline here", end="")
    return 5


def prints_then_returns(count):
    for number in range(count):
        print(f"line {number}")
    return count


JSON_VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**80,
    3.25,
    -1e300,
    "",
    "text",
    "héllo ✓ 𝄞 中文\u0000\n\ttab",
    [],
    {},
    [1, "a", None, [2.5, {"k": [True]}]],
    {"nested": {"list": [1, 2, {"x": None}], "s": "ü"}, "": "empty key"},
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=lambda value: type(value).__name__)
def test_json_values_go_there_and_back(tmp_path, value):
    run = ship(tmp_path, echo, value)
    assert run.returncode == 0
    assert result_of(run) == value


def test_what_json_turns_into_something_else(tmp_path):
    run = ship(tmp_path, echo, {"tuple": (1, 2), "inf": float("inf"), "nan": float("nan"), "lone": "\ud800"})
    value = result_of(run)
    assert value["tuple"] == [1, 2] and math.isinf(value["inf"]) and math.isnan(value["nan"])
    assert value["lone"] == "\ud800"


def test_arguments_positional_and_keyword(tmp_path):
    assert result_of(ship(tmp_path, add, 2, 3, scale=10)) == 50


def test_a_function_without_return_gives_none(tmp_path):
    run = ship(tmp_path, no_return, 1)
    assert run.returncode == 0
    assert len(frame_lines_of(run)) == 1
    assert result_of(run) is None


def test_prints_come_before_the_frame_and_stay_in_the_log(tmp_path):
    run = ship(tmp_path, prints_then_returns, 3)
    reader = FrameReader(run.marker)
    shown = [rest for rest in (reader.feed(line) for line in run.lines) if rest]
    assert shown == ["line 0", "line 1", "line 2"]
    assert run.lines.index("line 2") < run.lines.index(frame_lines_of(run)[0])
    assert reader.result() == 3


def test_a_result_at_the_bound_comes_back_in_lines_under_4_kib(tmp_path):
    run = ship(tmp_path, make_text, DEFAULT_RESULT_BOUND - 2)  # the two quotes make it the bound exactly
    lines = frame_lines_of(run)
    assert len(lines) > 300
    assert all(len(line.encode()) < 4000 for line in lines)
    assert result_of(run) == "x" * (DEFAULT_RESULT_BOUND - 2)


def test_a_result_over_the_bound_fails_remotely_naming_size_and_bound(tmp_path):
    run = ship(tmp_path, make_text, DEFAULT_RESULT_BOUND - 1)
    assert run.returncode == 1
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run)
    assert caught.value.reason == "too_large"
    assert f"{DEFAULT_RESULT_BOUND + 1} bytes" in str(caught.value)
    assert f"bound of {DEFAULT_RESULT_BOUND} bytes" in str(caught.value)


def test_a_smaller_result_bound_is_kept_on_both_sides(tmp_path):
    run = ship(tmp_path, make_text, 200, result_bound=100)
    with pytest.raises(SaturnRemoteError, match=r"202 bytes .* bound of 100 bytes"):
        result_of(run, result_bound=100)


def test_a_remote_exception_comes_back_with_type_message_and_traceback(tmp_path):
    run = ship(tmp_path, fails, 3)
    assert run.returncode == 1
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run)
    error = caught.value
    assert (error.type_name, error.message, error.reason) == ("ValueError", "bad value 3", "exception")
    assert 'raise ValueError(f"bad value {y}")' in error.traceback
    assert "in fails" in error.traceback and "in inner" in error.traceback
    assert "bootstrap.py" not in error.traceback
    assert "ValueError: bad value 3" in str(error)
    # a human reading the log in Saturn sees it too
    assert "about to fail" in run.lines and "ValueError: bad value 3" in run.lines


@pytest.mark.parametrize(
    ("function", "type_name"),
    [
        (fails_with_own_type, "fails_with_own_type.<locals>.QuotaError"),
        (fails_with_module_type, "json.decoder.JSONDecodeError"),
        (fails_unprintably, "fails_unprintably.<locals>.Odd"),
    ],
)
def test_remote_exception_types_are_named(tmp_path, function, type_name):
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(ship(tmp_path, function))
    assert caught.value.type_name == type_name


def test_a_huge_exception_message_is_bounded(tmp_path):
    run = ship(tmp_path, fails_at_length, 3_000_000)
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run)
    assert len(caught.value.message) < 10_000 and "characters left out" in caught.value.message
    assert len(caught.value.traceback) < 70_000
    assert len(frame_lines_of(run)) < 100


def test_sys_exit_exits_with_its_code_and_no_frame(tmp_path):
    run = ship(tmp_path, exits, 3)
    assert run.returncode == 3
    assert frame_lines_of(run) == []
    assert "leaving" in run.lines
    with pytest.raises(SaturnFrameError) as caught:
        result_of(run)
    assert caught.value.reason == "missing"


def test_a_value_json_cannot_carry_fails_remotely_suggesting_cloudpickle(tmp_path):
    run = ship(tmp_path, returns_a_set)
    assert run.returncode == 1
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run)
    assert caught.value.reason == "not_serializable"
    assert "not JSON-serializable" in str(caught.value) and "serializer='cloudpickle'" in str(caught.value)


def test_lines_that_look_like_frames_are_never_taken(tmp_path):
    other = "f" * 32
    run = ship(tmp_path, prints_lookalikes, other, hashlib.sha256(b"42").hexdigest())
    reader = FrameReader(run.marker)
    shown = [reader.feed(line) for line in run.lines]
    assert [line for line in shown if line.startswith("SATURN-FRAME")] == run.lines[:3]
    assert not any(reader.is_frame_line(line) for line in run.lines[:3])
    assert reader.result() == "the real value"
    # the forged line is a well-formed frame (of its own marker): still never taken by this run's reader
    assert reader_of(run.lines, other).result() == 42


def test_a_frame_after_text_without_newline_is_found_and_the_text_shown(tmp_path):
    run = ship(tmp_path, prints_without_newline)
    reader = FrameReader(run.marker)
    shown = [text for text in (reader.feed(line) for line in run.lines) if text]
    assert shown == ["no newline here"], "the text keeps a line of its own: the frame starts a new line"
    assert reader.result() == 5


def test_a_pod_started_again_after_a_failure_gives_its_value(tmp_path):
    def flaky(path):
        import os

        if not os.path.exists(path):
            open(path, "w").close()
            raise RuntimeError("first attempt")
        return "second attempt"

    first = ship(tmp_path, flaky, str(tmp_path / "flag"))
    second = run_pod(first.home, first.marker)
    assert (first.returncode, second.returncode) == (1, 0)
    assert reader_of(first.lines + second.lines, first.marker).result() == "second attempt"
    assert reader_of(second.lines + first.lines, first.marker).result() == "second attempt"


def test_two_pods_with_different_values_give_none(tmp_path):
    def pid():
        import os

        return os.getpid()

    first = ship(tmp_path, pid)
    second = run_pod(first.home, first.marker)
    with pytest.raises(SaturnFrameError) as caught:
        reader_of(first.lines + second.lines, first.marker).result()
    assert caught.value.reason == "conflict"


def _settings(run_home):
    return run_home / FILES_DIR / SETTINGS_FILE


def _rewrite_settings(home, **changes):
    path = _settings(home)
    settings = json.loads(path.read_text())
    settings.update(changes)
    path.write_text(json.dumps(settings))


def test_cloudpickle_with_another_python_fails_naming_both_versions(tmp_path):
    run = ship(tmp_path, echo, 1)
    _rewrite_settings(run.home, serializer="cloudpickle", python="3.99")
    rerun = run_pod(run.home, run.marker)
    assert rerun.returncode == 1
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(rerun, serializer="cloudpickle")
    assert caught.value.reason == "python_version"
    assert "Python 3.99" in str(caught.value) and f"Python {here_python()}" in str(caught.value)


def test_cloudpickle_missing_in_the_image_is_said(tmp_path):
    run = ship(tmp_path, echo, 1)
    _rewrite_settings(run.home, serializer="cloudpickle")
    (run.home / FILES_DIR / PICKLED_ARGUMENTS_FILE).write_text("")
    # An image without cloudpickle (it is installed here): a package of that name first on the path that is not it.
    hidden = tmp_path / "no-cloudpickle" / "cloudpickle"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'cloudpickle'\")\n")
    rerun = run_pod(run.home, run.marker, extra_env={"PYTHONPATH": str(hidden.parent)})
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(rerun, serializer="cloudpickle")
    assert caught.value.reason == "cloudpickle_missing" and "extra_packages" in str(caught.value)


def test_cloudpickle_carries_what_json_cannot(tmp_path):
    pytest.importorskip("cloudpickle", reason="cloudpickle is not installed in this environment")
    run = ship(tmp_path, echo, {1, 2, (3, 4)}, serializer="cloudpickle")
    assert result_of(run, serializer="cloudpickle") == {1, 2, (3, 4)}


def default_from_outside(platform=sys.platform):
    return platform


def test_a_def_that_raises_on_the_pod_is_an_error_frame(tmp_path):
    run = ship(tmp_path, default_from_outside)
    assert run.returncode == 1
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run)
    assert (caught.value.type_name, caught.value.reason) == ("NameError", "exception")
    assert "name 'sys' is not defined" in caught.value.message and "bootstrap.py" not in caught.value.traceback


def uses_a_dataclass(x):
    import dataclasses

    @dataclasses.dataclass
    class Row:
        x: int
        label: str = "row"

    return dataclasses.asdict(Row(x))


def test_classes_defined_in_the_function_work(tmp_path):
    assert result_of(ship(tmp_path, uses_a_dataclass, 7)) == {"x": 7, "label": "row"}


def makes_a_point(transform):
    import dataclasses

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    return Point(transform(1), transform(2))


def test_cloudpickle_carries_functions_there_and_classes_back(tmp_path):
    pytest.importorskip("cloudpickle", reason="cloudpickle is not installed in this environment")
    point = result_of(
        ship(tmp_path, makes_a_point, lambda n: n * 10, serializer="cloudpickle"), serializer="cloudpickle"
    )
    assert (type(point).__name__, point.x, point.y) == ("Point", 10, 20)


def test_unreadable_settings_exit_2_without_a_frame(tmp_path):
    run = ship(tmp_path, echo, 1)
    _settings(run.home).write_text("{not json")
    rerun = run_pod(run.home, run.marker)
    assert rerun.returncode == EXIT_NO_SETTINGS
    assert not any(FRAME_TAG in line for line in rerun.lines)
    assert any("cannot read" in line for line in rerun.lines)


def test_a_function_name_the_source_does_not_define_is_an_error_frame(tmp_path):
    run = ship(tmp_path, echo, 1)
    _rewrite_settings(run.home, function="other")
    with pytest.raises(SaturnRemoteError) as caught:
        result_of(run_pod(run.home, run.marker))
    assert caught.value.reason == "bad_input" and "'other'" in str(caught.value)


def test_imports_resolve_from_the_working_directory_not_the_files(tmp_path):
    def imports_local():
        import helper_module_of_the_repo

        return helper_module_of_the_repo.VALUE

    run = ship(tmp_path, imports_local)
    work = tmp_path / "repo"
    work.mkdir()
    (work / "helper_module_of_the_repo.py").write_text("VALUE = 'from the repo'\n")
    assert result_of(run_pod(run.home, run.marker, cwd=work)) == "from the repo"
