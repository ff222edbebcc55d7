"""``@task.saturn`` under attack (issue 15 review): hostile or careless functions, arguments, jobs and tries, run
for real in the runner emulator. Attacks that held up stay as regression tests, and so do those that found a
defect, now fixed.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError, SaturnWaitTimeoutError
from airflow_provider_saturn.compat import AIRFLOW_V_3, redact
from airflow_provider_saturn.decorators.job_naming import MAX_NAME_LENGTH, function_job_name
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.remote import (
    SaturnArgumentsError,
    SaturnFrameError,
    SaturnPayloadTooLargeError,
    SaturnRemoteError,
    build_job_files,
    function_source,
    new_marker,
)
from airflow_provider_saturn.triggers.status import SaturnStatusTrigger
from tests.conftest import TOKEN, requests_to
from tests.dag_files import dag_from_source
from tests.harness import DictStore, TryOf, defer, first_event, prepare_thread, run_operator

if AIRFLOW_V_3:
    from airflow.sdk import DAG, task
    from airflow.sdk.log import _secrets_masker
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]
    from airflow.utils.log.secrets_masker import _secrets_masker  # type: ignore[no-redef]

RUN_ID = "manual__2026-12-06T11:00:00+00:00"
AUTOMATIC_RETRY = (2, 1)  # try 2 of a task with retries=1
AFTER_A_CLEAR = (3, 3)  # the first try after a clear


class TaskInstanceTry(TryOf):
    """A try of one task instance of DAG ``adv``."""

    def __init__(
        self, task_id: str, try_number: int = 1, max_tries: int | None = 1, run_id: str = RUN_ID, map_index: int = -1
    ) -> None:
        super().__init__(try_number, max_tries)
        self.dag_id, self.task_id, self.run_id, self.map_index = "adv", task_id, run_id, map_index


def context_of(
    task_id: str,
    store: DictStore | None,
    attempt: tuple[int, int] = (1, 1),
    run_id: str = RUN_ID,
    map_index: int = -1,
) -> dict[str, Any]:
    ti = TaskInstanceTry(task_id, *attempt, run_id=run_id, map_index=map_index)
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": run_id}
    if store is not None:
        context["task_state_store"] = store
    return context


def one_task(function: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, **settings: Any) -> Any:
    """The operator ``@task.saturn(**settings)`` makes of ``function`` called with ``args``, in DAG ``adv``."""
    with DAG("adv", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        task.saturn(**{"retries": 1, "poll_interval": 0.05, "timeout": 60, **settings})(function)(
            *args, **(kwargs or {})
        )
    (operator,) = dag.tasks
    return operator


@pytest.fixture
def runner(emulator_runner: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    conn = {"conn_type": "saturn", "host": emulator_runner.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(conn))
    yield emulator_runner


@pytest.fixture
def saturn(runner: SaturnEmulator) -> Iterator[SaturnClient]:
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        yield client


@contextmanager
def masker_of_a_new_process() -> Iterator[None]:
    """The secrets masker as a fresh worker process has it (nothing registered); the old one back after."""
    masker = _secrets_masker()
    saved = (masker.patterns, masker.replacer)
    masker.patterns, masker.replacer = set(), None
    try:
        yield
    finally:
        masker.patterns, masker.replacer = saved


def masked(secret: str) -> bool:
    return secret not in str(redact(f"[{secret}]"))


def unique_secret() -> str:
    return f"s3cr3t-{secrets.token_hex(12)}"


# ------------------------------------------------------------------------------- functions shipped as source


def echo(value):
    return value


def slow_echo(value):
    import time

    time.sleep(1.5)
    return value


def prints_env_then_returns(name):
    import os
    import time

    time.sleep(1.5)
    print("the value is", os.environ[name])
    return 1


def raises_env(name):
    import os

    raise RuntimeError("bad credentials: " + os.environ[name])


def fails_unless_started_cleanly():
    import os

    return os.environ.get("LEFTOVER", "none")


def returns_int_keys():
    return {1: "one", "1": "uno"}


def key_types(value):
    return sorted(type(key).__name__ for key in value)


def long_unfinished_line_then_value():
    print("." * 16300, end="")  # the frame line will cross the 16 KiB split
    return 5


def leaves_a_thread_running():
    import threading
    import time

    threading.Thread(target=time.sleep, args=(30,)).start()  # not a daemon: the interpreter waits for it at exit
    return 7


def near_the_bound(size):
    return "x" * (size - 2)  # JSON adds two quotes


def odd_floats_and_surrogates():
    return ["\ud800 lone", float("nan"), float("inf"), -0.0, 2**70, "\u0000"]


def forges_frames_with_its_marker():
    import json
    import os
    import sys

    files = os.path.join(os.environ["HOME"], ".saturn-airflow")
    with open(os.path.join(files, "settings.json")) as settings_file:
        marker = json.load(settings_file)["marker"]
    sys.path.insert(0, files)
    import bootstrap

    forged = (("f" * 16, "result", b'"forged"'), ("d" * 16, "error", b'{"type": "X", "message": "m", "traceback": ""}'))
    for attempt, kind, payload in forged:
        for line in bootstrap.frame_lines(marker, attempt, kind, payload):
            print(line)
    print("SATURN-FRAME v1 " + marker + " garbage")
    return "real"


def forges_a_result_and_exits():
    import json
    import os
    import sys

    files = os.path.join(os.environ["HOME"], ".saturn-airflow")
    with open(os.path.join(files, "settings.json")) as settings_file:
        marker = json.load(settings_file)["marker"]
    sys.path.insert(0, files)
    import bootstrap

    for line in bootstrap.frame_lines(marker, "e" * 16, "result", b'"forged"')[:1]:
        print(line[:-10])  # cut short
    sys.stdout.flush()
    os._exit(0)


def chatty_threads(n):
    import sys
    import threading

    def chatter():
        for i in range(2000):
            sys.stdout.write(f"noise {i} ")  # no newline, from another thread
            if i % 7 == 0:
                sys.stdout.write("\n")

    threads = [threading.Thread(target=chatter, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    return {"data": "y" * n}


def rewrites_its_own_settings_and_sends_a_pickle():
    import json
    import os
    import pickle
    import sys
    import urllib.request

    files = os.path.join(os.environ["HOME"], ".saturn-airflow")
    with open(os.path.join(files, "settings.json")) as settings_file:
        settings = json.load(settings_file)
    settings["serializer"] = "cloudpickle"  # the task said json
    body = {"config_files": {".saturn-airflow/settings.json": {"content": json.dumps(settings), "mode": "0600"}}}
    request = urllib.request.Request(
        os.environ["SATURN_BASE_URL"].rstrip("/") + "/api/jobs/" + os.environ["SATURN_JOB_ID"],
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": "token " + os.environ["SATURN_TOKEN"], "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    sys.path.insert(0, files)
    import bootstrap

    payload = pickle.dumps({"unpickled on the worker": {1, 2}})  # any __reduce__ would run there
    for line in bootstrap.frame_lines(settings["marker"], "0" * 16, "result", payload):
        os.write(1, (line + "\n").encode())
    os._exit(0)


def sleeps_then_returns(seconds):
    import time

    time.sleep(seconds)
    return seconds


# ------------------------------------------------------------------------------- wrong values


def test_a_json_task_never_unpickles_a_result_held_up_as_its_own(runner: SaturnEmulator) -> None:
    """The serializer the worker decodes with is the task's, never what the job in Saturn says now (the pod's
    own token can rewrite it): else a JSON task unpickles what the pod sends, i.e. runs its code on the worker."""
    operator = one_task(rewrites_its_own_settings_and_sends_a_pickle, deferrable=True)
    try:
        value = run_operator(operator, context_of(operator.task_id, DictStore()))
    except SaturnFrameError:
        return  # refused: the right outcome
    pytest.fail(f"a serializer='json' task returned an unpickled value: {value!r}")


def test_a_result_with_non_string_keys_fails_instead_of_changing(runner: SaturnEmulator) -> None:
    operator = one_task(returns_int_keys, keep_job="never")
    with pytest.raises(SaturnRemoteError, match="JSON"):
        value = run_operator(operator, context_of(operator.task_id, DictStore()))
        pytest.fail(f"returned {value!r} for {{1: 'one', '1': 'uno'}}")


def test_arguments_with_non_string_keys_are_refused_before_any_request(runner: SaturnEmulator) -> None:
    operator = one_task(key_types, ({1: "a", 2.5: "b", None: "c"},), keep_job="never")
    with pytest.raises(SaturnArgumentsError):
        value = run_operator(operator, context_of(operator.task_id, DictStore()))
        pytest.fail(f"the function saw keys of types {value!r}")
    assert runner.config.stats.requests == 0


def test_a_long_unfinished_printed_line_does_not_cut_the_frame(runner: SaturnEmulator) -> None:
    operator = one_task(long_unfinished_line_then_value, keep_job="never")
    assert run_operator(operator, context_of(operator.task_id, DictStore())) == 5


def test_a_thread_left_running_does_not_hold_the_value_back(runner: SaturnEmulator) -> None:
    operator = one_task(leaves_a_thread_running, keep_job="never", timeout=8)
    assert run_operator(operator, context_of(operator.task_id, DictStore())) == 7


def test_a_result_exactly_at_its_bound_comes_back_and_one_byte_more_fails(runner: SaturnEmulator) -> None:
    at = one_task(near_the_bound, (5000,), result_bound=5000, keep_job="never")
    assert run_operator(at, context_of(at.task_id, DictStore())) == "x" * 4998
    over = one_task(near_the_bound, (5001,), result_bound=5000, keep_job="never")
    with pytest.raises(SaturnRemoteError, match=r"5001 bytes serialized.*bound of 5000"):
        run_operator(over, context_of(over.task_id, DictStore(), run_id="other"))


def test_lone_surrogates_nan_and_big_ints_come_back_as_they_were(runner: SaturnEmulator) -> None:
    operator = one_task(odd_floats_and_surrogates, keep_job="never", deferrable=True)
    value = run_operator(operator, context_of(operator.task_id, DictStore()))
    assert value[0] == "\ud800 lone" and math.isnan(value[1]) and value[2:] == [float("inf"), -0.0, 2**70, "\u0000"]


def test_frames_forged_with_the_marker_never_win_over_the_real_one(runner: SaturnEmulator, capsys: Any) -> None:
    operator = one_task(forges_frames_with_its_marker, keep_job="never")
    with pytest.raises(SaturnFrameError, match="different return values") as caught:
        run_operator(operator, context_of(operator.task_id, DictStore()))
    assert caught.value.reason == "conflict"


def test_a_cut_forged_frame_and_no_real_one_is_an_error_not_a_value(runner: SaturnEmulator) -> None:
    operator = one_task(forges_a_result_and_exits, keep_job="never")
    with pytest.raises(SaturnFrameError) as caught:
        run_operator(operator, context_of(operator.task_id, DictStore()))
    assert caught.value.reason == "corrupt"


def test_threads_printing_without_newlines_do_not_break_a_multi_line_frame(runner: SaturnEmulator) -> None:
    operator = one_task(chatty_threads, (20_000,), keep_job="never")
    assert run_operator(operator, context_of(operator.task_id, DictStore())) == {"data": "y" * 20_000}


# ------------------------------------------------------------------------------- secrets


def test_a_re_attaching_retry_masks_the_jobs_environment_values(runner: SaturnEmulator) -> None:
    secret = unique_secret()
    store = DictStore()
    env = {"environment_variables": {"API_KEY": secret}}
    first = one_task(prints_env_then_returns, ("API_KEY",), stop_on_failure=False, timeout=0.3, **env)
    with pytest.raises(SaturnWaitTimeoutError):  # its worker "dies" while the run goes on
        run_operator(first, context_of(first.task_id, store))
    with masker_of_a_new_process():  # the retry runs in another worker process
        retry = one_task(prints_env_then_returns, ("API_KEY",), **env)
        assert run_operator(retry, context_of(retry.task_id, store, AUTOMATIC_RETRY)) == 1
        assert requests_to(runner, "POST /api/jobs/{id}/start") == 1, "the retry re-attached"
        assert masked(secret), "the run's log (which prints the value) was followed with the value unmasked"


def test_a_resumed_deferred_task_masks_the_env_value_in_the_remote_error(runner: SaturnEmulator) -> None:
    secret = unique_secret()
    operator = one_task(raises_env, ("API_KEY",), deferrable=True, environment_variables={"API_KEY": secret})
    context = context_of(operator.task_id, DictStore())
    deferred = defer(operator, context)
    with masker_of_a_new_process():  # the triggerer, then a new worker process resuming
        event = asyncio.run(first_event(deferred.trigger))
        with masker_of_a_new_process():  # execute_complete: in a worker that never saw the job
            resumed = one_task(raises_env, ("API_KEY",), deferrable=True, environment_variables={"API_KEY": secret})
            with pytest.raises(SaturnRemoteError) as caught:
                resumed.execute_complete(context, event=event.payload, **(deferred.kwargs or {}))
            assert secret in str(caught.value), "the remote message carries the value"
            assert masked(secret), "the failure is logged with the environment value in clear"


def test_arguments_and_env_values_stay_out_of_xcom_trigger_kwargs_and_events(runner: SaturnEmulator) -> None:
    secret, argument = unique_secret(), unique_secret()
    operator = one_task(slow_echo, (argument,), deferrable=True, environment_variables={"API_KEY": secret})
    context = context_of(operator.task_id, DictStore())
    deferred = defer(operator, context)
    trigger_kwargs = json.dumps(deferred.trigger.serialize(), default=str)
    assert secret not in trigger_kwargs and argument not in trigger_kwargs
    assert "frame_marker" in trigger_kwargs
    event = asyncio.run(first_event(deferred.trigger))
    assert secret not in json.dumps(event.payload, default=str) and argument not in json.dumps(event.payload)
    assert secret not in json.dumps(deferred.kwargs or {}, default=str)
    value = operator.execute_complete(context, event=event.payload, **(deferred.kwargs or {}))
    assert value == argument, "the value is the function's, as it returned it"
    pushed = json.dumps(context["ti"].pushed, default=str)
    assert secret not in pushed and argument not in pushed
    assert {key for key in context["ti"].pushed if not key.startswith("_link_")} == {"saturn_url", "job_id", "run_name"}


def test_a_bad_extra_packages_value_is_not_echoed_in_the_error() -> None:
    token = unique_secret()
    with pytest.raises(ValueError) as caught:
        one_task(echo, (1,), extra_packages=[f"--index-url https://user:{token}@pypi.example/simple", 3])
    assert token not in str(caught.value)


def test_unserializable_arguments_are_refused_without_their_contents() -> None:
    secret = unique_secret()

    class Holder:
        def __repr__(self) -> str:
            return secret

    with pytest.raises(SaturnArgumentsError) as caught:
        build_job_files(*function_source(echo), [Holder()], {}, marker=new_marker())
    assert secret not in str(caught.value)


def test_the_payload_error_names_sizes_only(runner: SaturnEmulator) -> None:
    secret = unique_secret()
    operator = one_task(echo, (secret * 40_000,))
    with pytest.raises(SaturnPayloadTooLargeError) as caught:
        run_operator(operator, context_of(operator.task_id, DictStore()))
    assert secret not in str(caught.value) and runner.config.stats.requests == 0


# ------------------------------------------------------------------------------- its own job, and nobody else's


def test_a_setting_removed_from_the_task_is_gone_from_its_kept_job(runner: SaturnEmulator) -> None:
    store = DictStore()
    broken = one_task(
        fails_unless_started_cleanly, start_script="exit 7", environment_variables={"LEFTOVER": "old"}
    )  # keep_job="on_failure" (the default) keeps the failed run's job
    with pytest.raises(SaturnResourceError):
        run_operator(broken, context_of(broken.task_id, store))
    fixed = one_task(fails_unless_started_cleanly)  # the user removed both and cleared the task
    assert run_operator(fixed, context_of(fixed.task_id, store, AFTER_A_CLEAR)) == "none"


def test_a_job_re_tagged_while_deferred_is_left_alone(runner: SaturnEmulator, saturn: SaturnClient) -> None:
    operator = one_task(slow_echo, (3,), deferrable=True, keep_job="never")
    context = context_of(operator.task_id, DictStore())
    deferred = defer(operator, context)
    (job,) = saturn.list_jobs()
    saturn.update_job(job["id"], tags={**job["tags"], "airflow_run_id": "someone else's now"})
    event = asyncio.run(first_event(deferred.trigger))
    with pytest.raises(ValueError, match="not this task instance's"):
        operator.execute_complete(context, event=event.payload, **(deferred.kwargs or {}))
    assert saturn.get_job(job["id"])["tags"]["airflow_run_id"] == "someone else's now", "not deleted, not changed"


def test_dag_runs_and_map_indexes_get_jobs_of_their_own_and_a_kill_stops_only_its_own(
    runner: SaturnEmulator, saturn: SaturnClient
) -> None:
    contexts = [
        context_of("sleeps_then_returns", DictStore(), run_id="run-a", map_index=0),
        context_of("sleeps_then_returns", DictStore(), run_id="run-a", map_index=1),
        context_of("sleeps_then_returns", DictStore(), run_id="run-b", map_index=0),
    ]
    operators = [one_task(sleeps_then_returns, (2,), keep_job="never") for _ in contexts]
    results: dict[int, Any] = {}

    def run(index: int) -> None:
        prepare_thread()
        try:
            results[index] = run_operator(operators[index], contexts[index])
        except BaseException as error:
            results[index] = error

    workers = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(3)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while "run_name" not in contexts[0]["ti"].pushed and time.monotonic() < deadline:
        time.sleep(0.05)
    operators[0].on_kill()
    for worker in workers:
        worker.join(30)
    assert isinstance(results[0], SaturnResourceError), results[0]
    assert results[1] == 2 and results[2] == 2
    assert saturn.list_jobs() == [], "keep_job='never': each deleted its own job once its run had ended"


def test_keep_job_never_after_a_timeout_does_not_delete_a_job_with_a_run_going(
    runner: SaturnEmulator, saturn: SaturnClient
) -> None:
    operator = one_task(sleeps_then_returns, (3,), keep_job="never", stop_on_failure=False, timeout=0.3)
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(operator, context_of(operator.task_id, DictStore()))
    (job,) = saturn.list_jobs()
    assert [run["status"] for run in saturn.list_job_runs(job["id"])] in (["running"], ["pending"])


# ------------------------------------------------------------------------------- retries and re-attach


def test_without_a_store_a_retry_runs_again_and_never_takes_the_first_runs_value(
    runner: SaturnEmulator, saturn: SaturnClient
) -> None:
    first = one_task(slow_echo, ("first",), stop_on_failure=False, timeout=0.3)
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(first, context_of(first.task_id, None))
    retry = one_task(slow_echo, ("second",), keep_job="always")  # an argument from a changed upstream XCom
    assert run_operator(retry, context_of(retry.task_id, None, AUTOMATIC_RETRY)) == "second"
    (job,) = saturn.list_jobs()
    assert len(saturn.list_job_runs(job["id"])) == 2


def test_a_trigger_rebuilt_from_its_kwargs_still_hides_frames_and_the_value_comes_back(
    runner: SaturnEmulator, capsys: Any
) -> None:
    operator = one_task(slow_echo, ({"k": [1, 2]},), deferrable=True, keep_job="never")
    context = context_of(operator.task_id, DictStore())
    deferred = defer(operator, context)
    path, kwargs = deferred.trigger.serialize()
    assert path.endswith("SaturnStatusTrigger")
    rebuilt = SaturnStatusTrigger(**json.loads(json.dumps(kwargs)))  # a triggerer restart
    event = asyncio.run(first_event(rebuilt))
    assert operator.execute_complete(context, event=event.payload, **(deferred.kwargs or {})) == {"k": [1, 2]}
    assert "SATURN-FRAME" not in capsys.readouterr().out


def test_a_completed_run_re_attached_after_a_crash_still_gives_its_value(runner: SaturnEmulator) -> None:
    store = DictStore()
    first = one_task(slow_echo, ("kept",), deferrable=True)
    context = context_of(first.task_id, store)
    defer(first, context)  # the worker dies after deferring; the triggerer is lost too
    time.sleep(3)  # the run completes meanwhile
    retry = one_task(slow_echo, ("kept",), keep_job="never")
    assert run_operator(retry, context_of(retry.task_id, store, AUTOMATIC_RETRY)) == "kept"
    assert requests_to(runner, "POST /api/jobs/{id}/start") == 1


# ------------------------------------------------------------------------------- arguments


def test_an_unknown_serializer_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="serializer"):
        one_task(echo, (1,), serializer="pickle")


def test_cloudpickle_without_cloudpickle_fails_clearly_before_any_request(runner: SaturnEmulator) -> None:
    pytest.importorskip("airflow")
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("cloudpickle is installed here")
    operator = one_task(echo, (1,), serializer="cloudpickle")
    with pytest.raises(SaturnArgumentsError, match="needs the cloudpickle package"):
        run_operator(operator, context_of(operator.task_id, DictStore()))
    assert runner.config.stats.requests == 0


TEMPLATES_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

FAST = {"poll_interval": 0.1, "timeout": 60, "keep_job": "never", "deferrable": DEFERRABLE}

with DAG("saturn_adv_templates", schedule=None, start_date=datetime(2026, 1, 1), params={"p": "pv"}) as dag:

    @task
    def items():
        return [{"i": i} for i in range(8)]

    @task.saturn(**FAST)
    def shout(item, label):
        return f"{label}:{item['i']}"

    @task.saturn(multiple_outputs=True, **FAST)
    def not_a_dict():
        return [1, 2]

    @task.saturn(multiple_outputs=True, **FAST)
    def a_dict(prefix):
        return {"x": prefix + "1", "y": None}

    shout.partial(label="{{ params.p }}-{{ dag.dag_id }}").expand(item=items())
    not_a_dict()
    a_dict("{{ params.p }}")
"""


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_templates_xcom_args_expand_and_multiple_outputs_under_dag_test(
    airflow_db: None, runner: SaturnEmulator, deferrable: bool, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = TEMPLATES_DAG.replace("DEFERRABLE", str(deferrable))
    dag_run = dag_from_source(source, "saturn_adv_templates", tmp_path, monkeypatch).test()
    by_task: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        by_task.setdefault(ti.task_id, []).append(str(getattr(ti.state, "value", ti.state)))
    assert by_task["shout"] == ["success"] * 8 and by_task["a_dict"] == ["success"]
    assert by_task["not_a_dict"] == ["failed"], "multiple_outputs=True with a list is an error"
    shout = dag_run.get_task_instance("shout", map_index=0)
    values = [shout.xcom_pull(task_ids="shout", map_indexes=index) for index in range(8)]
    assert values == [f"pv-saturn_adv_templates:{i}" for i in range(8)]
    a_dict = dag_run.get_task_instance("a_dict")
    assert (a_dict.xcom_pull(task_ids="a_dict", key="x"), a_dict.xcom_pull(task_ids="a_dict", key="y")) == ("pv1", None)


# ------------------------------------------------------------------------------- job names


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("a" * 250, "group.sub_group.task-" + "b" * 200),
        ("Ünïcode_DAG", "tâsk"),
        ("___", "..."),
        ("x-y", "x_y"),
    ],
)
def test_job_names_keep_saturns_rules_whatever_the_ids(dag_id: str, task_id: str) -> None:
    names = {
        function_job_name(dag_id, task_id, run_id, map_index)
        for run_id in ("r1", "r2")
        for map_index in (-1, 0, 1, 10_000)
    }
    assert len(names) == 8, "each task instance a name of its own"
    for name in names:
        assert len(name) <= MAX_NAME_LENGTH
        assert name.startswith("af-") and name[-1].isalnum()
        assert all(char in "abcdefghijklmnopqrstuvwxyz0123456789-" for char in name)
        assert "--" not in name
    assert function_job_name("x-y", "t", "r", -1) != function_job_name("x_y", "t", "r", -1)
