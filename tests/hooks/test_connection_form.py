"""The *Saturn Cloud* connection form as each Airflow line serves it: every field behaviour reaches a real field.

Airflow 2.11: the Flask webserver renders the form, and its page script looks up every hidden, relabelled and
placeholder key by element id (``document.getElementById(key).placeholder = ...``); a key with no element throws
and stops the script. Airflow 3: the API server serves the form's metadata to the React UI (``hook_meta``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_saturn.compat import AIRFLOW_V_3
from airflow_provider_saturn.get_provider_info import CONN_FIELDS, PLACEHOLDERS

ADMIN, ADMIN_PASSWORD = "saturn-form-admin", "saturn-form-admin-password"  # a test user of the webserver


@pytest.fixture(scope="module")
def webserver_2_11(airflow_db) -> Iterator[Any]:
    """Airflow 2.11's real webserver app, with an admin logged in (CSRF off, as Airflow's own view tests do)."""
    if AIRFLOW_V_3:
        pytest.skip("Airflow 3 has no Flask connection form; see the hook_meta test")
    from airflow.www.app import create_app

    app = create_app(testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    security = app.appbuilder.sm
    if not security.find_user(username=ADMIN):
        security.add_user(ADMIN, "Saturn", "Admin", "admin@example.com", security.find_role("Admin"), ADMIN_PASSWORD)
    client = app.test_client()
    response = client.post("/login/", data={"username": ADMIN, "password": ADMIN_PASSWORD}, follow_redirects=True)
    assert response.status_code == 200
    yield client


def page_parts(page: str) -> tuple[set[str], dict[str, Any], dict[str, str]]:
    """Element ids, the Saturn field behaviours the page script gets, and the ``value`` of each input."""
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    script = re.search(r'<script id="field_behaviours" type="text/json">(.*?)</script>', page, re.S)
    assert script is not None, "the page embeds the field behaviours for its script"
    behaviours = json.loads(html.unescape(script.group(1)))["saturn"]
    values = dict(re.findall(r'<input[^>]*\sid="([^"]+)"[^>]*\svalue="([^"]*)"', page))
    return ids, behaviours, values


def test_2_11_form_has_an_element_for_every_field_behaviour_and_shows_the_defaults(webserver_2_11) -> None:
    response = webserver_2_11.get("/connection/add")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    ids, behaviours, values = page_parts(page)
    assert set(PLACEHOLDERS) <= set(behaviours["placeholders"])
    for key in behaviours["placeholders"]:
        assert key in ids, f"placeholder {key!r}: getElementById({key!r}) is null in the 2.11 form"
    for key in behaviours["hidden_fields"]:
        assert key in ids, f"hidden field {key!r} has no element"
    for key in behaviours["relabeling"]:
        assert re.search(rf"<label[^>]*\sfor=\"{key}\"", page), f"relabelled field {key!r} has no label"
    defaults = {f"extra__saturn__{name}": str(field["schema"]["default"]) for name, field in CONN_FIELDS.items()}
    assert {key: values.get(key) for key in defaults} == {
        "extra__saturn__timeout": "30",
        "extra__saturn__max_attempts": "5",
    }
    assert defaults == {"extra__saturn__timeout": "30", "extra__saturn__max_attempts": "5"}


def test_2_11_form_saves_timeout_and_attempts_in_the_extra(webserver_2_11, emulator) -> None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    form = {
        "conn_id": "saturn_from_the_form",
        "conn_type": "saturn",
        "description": "",
        "host": emulator.url,
        "password": "form-token",
        "extra__saturn__timeout": "30",
        "extra__saturn__max_attempts": "5",
        "extra": "",
    }
    try:
        response = webserver_2_11.post("/connection/add", data=form, follow_redirects=True)
        assert response.status_code == 200
        with create_session() as session:
            saved = session.query(Connection).filter_by(conn_id="saturn_from_the_form").one()
            assert json.loads(saved.extra) == {"timeout": 30, "max_attempts": 5}
            edit_page = webserver_2_11.get(f"/connection/edit/{saved.id}").get_data(as_text=True)
        _, _, values = page_parts(edit_page)
        assert (values["extra__saturn__timeout"], values["extra__saturn__max_attempts"]) == ("30", "5")
    finally:
        with create_session() as session:
            session.query(Connection).filter_by(conn_id="saturn_from_the_form").delete()


def test_airflow_3_serves_every_placeholder_on_a_field_of_the_form(airflow_db, monkeypatch) -> None:
    """Each placeholder reaches the UI: Airflow 3 prefixes a key that is not a standard field, and then drops it."""
    if not AIRFLOW_V_3:
        pytest.skip("Airflow 2.11 renders the form in the Flask webserver; see the 2.11 tests")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from airflow.providers_manager import ProvidersManager
    from fastapi.testclient import TestClient

    behaviours = ProvidersManager().field_behaviours["saturn"]
    standard = {"description", "host", "schema", "login", "password", "port", "extra"}
    conn_fields = {f"extra__saturn__{name}" for name in CONN_FIELDS}
    for key in behaviours["placeholders"]:
        assert key in standard | conn_fields, f"placeholder {key!r} is neither a standard field nor a conn-field"

    response = TestClient(create_app()).get("/ui/connections/hook_meta")
    assert response.status_code == 200
    (saturn,) = [item for item in response.json() if item["connection_type"] == "saturn"]
    served = {("schema" if name == "url_schema" else name): field for name, field in saturn["standard_fields"].items()}
    for key, text in PLACEHOLDERS.items():
        assert (served.get(key) or {}).get("placeholder") == text, f"placeholder {key!r} is not served"
    assert {name: field["value"] for name, field in saturn["extra_fields"].items()} == {
        "timeout": 30,
        "max_attempts": 5,
    }
