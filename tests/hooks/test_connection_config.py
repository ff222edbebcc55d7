"""A ``saturn`` connection filled in wrongly: errors that name the connection and the field, for hook and trigger.

Every connection here is a real Airflow connection (``AIRFLOW_CONN_*``), read by Airflow's own machinery.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnConfigError
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.hooks import SaturnHook
from airflow_provider_saturn.hooks.saturn import async_connection_settings, client_settings
from tests.conftest import FAST_RETRY, TOKEN
from tests.hooks.test_saturn_hook import _redact


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    """Define the Airflow connection ``conn_id`` (type ``saturn``) through the environment."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "saturn", **conn}))
    return conn_id


def config_error(conn_id: str) -> str:
    """The hook's error for the connection; the trigger's lookup (in the triggerer) must give the same one."""
    with pytest.raises(SaturnConfigError) as from_hook:
        SaturnHook(conn_id).get_conn()
    with pytest.raises(SaturnConfigError) as from_trigger_side:
        asyncio.run(async_connection_settings(conn_id))
    assert str(from_trigger_side.value) == str(from_hook.value)
    ok, message = SaturnHook(conn_id).test_connection()
    assert (ok, message) == (False, str(from_hook.value))
    return message


# ---------------------------------------------------------------- 15: where the token and the URL go


def test_connection_without_a_password_names_the_connection_and_its_password_field(emulator, monkeypatch) -> None:
    conn_id = define(monkeypatch, "saturn_no_token", host=emulator.url)
    message = config_error(conn_id)
    assert "The Airflow connection 'saturn_no_token' has no API token" in message
    assert "Password field (shown as API token)" in message
    assert "api_token=" not in message and "SATURN_TOKEN" not in message


@pytest.mark.parametrize("form", ["fields", "uri"])
def test_token_in_login_is_refused_and_sent_to_password(emulator, monkeypatch, form: str) -> None:
    """``saturn://<token>@host`` (no colon) puts the token in Login; it is not used, and never shown."""
    token_in_login = f"login-token-{secrets.token_hex(8)}"
    if form == "uri":
        uri = f"saturn://{token_in_login}@{emulator.host}:{emulator.port}/?scheme=http"
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_LOGIN", uri)
    else:
        define(monkeypatch, "saturn_login", host=emulator.url, login=token_in_login)
    message = config_error("saturn_login")
    assert "'saturn_login'" in message
    assert "the token belongs in Password, not Login" in message
    assert "saturn://:<token>@<host>" in message
    assert token_in_login not in message
    assert token_in_login not in _redact(f"login was {token_in_login}"), "a token left in Login is masked"


def test_connection_without_a_host_names_the_connection_and_its_host_field(monkeypatch) -> None:
    conn_id = define(monkeypatch, "saturn_no_host", password=TOKEN)
    message = config_error(conn_id)
    assert "The Airflow connection 'saturn_no_host' has no Saturn URL" in message
    assert "Host field (shown as Saturn URL)" in message
    assert TOKEN not in message


def test_connection_without_host_or_password_names_both(monkeypatch) -> None:
    message = config_error(define(monkeypatch, "saturn_empty"))
    assert "Host field (shown as Saturn URL)" in message
    assert "Password field (shown as API token)" in message


# ---------------------------------------------------------------- 7: extras are user input


BAD_EXTRAS = [
    ({"timeout": "abc"}, "'timeout'", "'abc'"),
    ({"timeout": -5}, "'timeout'", "-5"),
    ({"timeout": 0}, "'timeout'", "0"),
    ({"timeout": "nan"}, "'timeout'", "'nan'"),
    ({"timeout": True}, "'timeout'", "True"),
    ({"extra__saturn__timeout": "abc"}, "'extra__saturn__timeout'", "'abc'"),
    ({"max_attempts": "x"}, "'max_attempts'", "'x'"),
    ({"max_attempts": 0}, "'max_attempts'", "0"),
    ({"max_attempts": 2.5}, "'max_attempts'", "2.5"),
    ({"extra__saturn__max_attempts": "x"}, "'extra__saturn__max_attempts'", "'x'"),
    ({"retry": "fast"}, "'retry'", "'fast'"),
    ({"retry": [3]}, "'retry'", "[3]"),
    ({"retry": {"tries": 3}}, "'retry'", "'tries'"),
    ({"retry": {"max_attempts": 0}}, "'retry.max_attempts'", "0"),
    ({"retry": {"max_wait": "soon"}}, "'retry.max_wait'", "'soon'"),
    ({"retry": {"max_total_seconds": 0}}, "'retry.max_total_seconds'", "0"),
    ({"retry": {"initial_wait": -1}}, "'retry.initial_wait'", "-1"),
    ({"scheme": "ftp"}, "'scheme'", "'ftp'"),
]


@pytest.mark.parametrize(("extra", "name", "shown"), BAD_EXTRAS, ids=[json.dumps(case[0]) for case in BAD_EXTRAS])
def test_an_invalid_extra_is_a_config_error_naming_connection_extra_and_value(
    emulator, monkeypatch, extra: dict[str, Any], name: str, shown: str
) -> None:
    conn_id = define(
        monkeypatch, "saturn_bad_extra", host=f"{emulator.host}:{emulator.port}", password=TOKEN, extra=extra
    )
    message = config_error(conn_id)
    assert message.startswith("The Airflow connection 'saturn_bad_extra' has ")
    assert name in message
    assert shown in message
    assert TOKEN not in message


def test_client_settings_is_the_one_check_of_extras() -> None:
    """The function the trigger shares with the hook: extras in, (timeout, retry policy) out, or a named error."""
    timeout, retry = client_settings({}, "c")
    assert (timeout, retry.max_attempts, retry.max_total_seconds) == (30.0, 5, 120.0)
    extras = {"extra__saturn__timeout": "12.5", "max_attempts": "3", "retry": {"max_attempts": 9, "max_wait": "2"}}
    timeout, retry = client_settings(extras, "c")
    assert (timeout, retry.max_attempts, retry.max_wait) == (12.5, 3, 2.0), "the form's max_attempts wins"
    timeout, retry = client_settings({"max_attempts": 1, "retry": {"initial_wait": 0, "max_wait": "0"}}, "c")
    assert (retry.max_attempts, retry.initial_wait, retry.max_wait) == (1, 0.0, 0.0), "the lowest values allowed"
    with pytest.raises(SaturnConfigError, match=r"^The Airflow connection 'c' has an invalid extra 'timeout'"):
        client_settings({"timeout": "abc"}, "c")


def test_numbers_given_as_strings_work_end_to_end(emulator, monkeypatch) -> None:
    """A connection URI gives every extra as a string."""
    uri = f"saturn://:{TOKEN}@{emulator.host}:{emulator.port}/?scheme=http&timeout=9&max_attempts=2"
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_STRINGS", uri)
    hook = SaturnHook("saturn_strings")
    client = hook.get_conn()
    assert (client.timeout, client.retry_policy.max_attempts) == (9.0, 2)
    assert hook.list_projects() == []


# ---------------------------------------------------------------- 14: no scheme is invented


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        ("saturn://:{token}@127.0.0.1:8787", "127.0.0.1:8787"),
        ("saturn://:{token}@saturn.example.com:8443/prefix", "saturn.example.com:8443/prefix"),
        ({"host": "127.0.0.1:8787"}, "127.0.0.1:8787"),
        ({"host": "127.0.0.1", "port": 8787, "extra": {"scheme": "http"}}, "http://127.0.0.1:8787"),
        ({"host": "https://saturn.example.com/prefix"}, "https://saturn.example.com/prefix"),
    ],
)
def test_the_hook_passes_on_the_url_without_inventing_a_scheme(monkeypatch, conn: Any, url: str) -> None:
    """Without a scheme in host or in the ``scheme`` extra, the client decides (and can say it assumed https)."""
    if isinstance(conn, str):
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_URL", conn.format(token=TOKEN))
    else:
        define(monkeypatch, "saturn_url", password=TOKEN, **conn)
    assert SaturnHook("saturn_url").connection_settings()["url"] == url


# ---------------------------------------------------------------- 18a: the token only the hook masks


def test_token_from_the_saturn_environment_is_registered_with_the_secret_masker(monkeypatch) -> None:
    """Inside Saturn there is no connection (which Airflow would mask): the token from SATURN_TOKEN is ours to mask."""
    token = f"saturn-env-token-{secrets.token_hex(12)}"  # never seen by the masker before
    assert token in _redact(token)
    with SaturnEmulator(token=token, transition_seconds=0.2) as saturn:
        monkeypatch.delenv("AIRFLOW_CONN_SATURN_DEFAULT", raising=False)
        monkeypatch.setenv("SATURN_BASE_URL", saturn.url)
        monkeypatch.setenv("SATURN_TOKEN", token)
        hook = SaturnHook(retry=FAST_RETRY)
        assert hook.list_projects() == []
    assert token not in _redact(f"Authorization: token {token}")
