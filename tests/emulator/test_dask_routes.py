"""The Dask routes of the scripted emulator (no process runs): ``/info``, ``/csr`` signed by each cluster's own CA,
``/scale``, and their refusals (401, 404, 409, 400, 422), over real HTTP."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from dask_saturn.external import _create_csr, _deserialize_cert_chain, _serialize_csr
from saturn_api.models import DaskCluster

from tests.conftest import requests_to
from tests.emulator.dask_support import Api, make_csr, split_chain


@pytest.fixture
def api(emulator) -> Api:
    return Api(emulator.url)


@pytest.fixture
def running(api: Api) -> str:
    cluster_id = api.new_cluster()
    api.started(cluster_id, timeout=10)
    return cluster_id


def test_info_of_a_running_cluster_is_stable_and_says_outside_or_inside(api: Api, running: str) -> None:
    external = api("GET", f"/api/dask_clusters/{running}/info", params={"is_external": "true"})
    assert external.status_code == 200
    assert external.json() == {
        "scheduler_address": f"tls://dask-{running}.emulator.invalid:8786",
        "dashboard_link": f"https://d-{running[:8]}.emulator.saturn.local/status",
        "id": running,
    }
    assert api("GET", f"/api/dask_clusters/{running}/info", params={"is_external": "true"}).json() == external.json()
    internal = api("GET", f"/api/dask_clusters/{running}/info").json()
    cluster = api("GET", f"/api/dask_clusters/{running}").json()
    assert internal["scheduler_address"] == cluster["scheduler_url"]


def test_scripted_mode_runs_no_dask_process(emulator) -> None:
    assert emulator.dask is None
    assert emulator.state.dask_backend is None


@pytest.mark.parametrize("route", ["info", "csr"])
def test_a_cluster_that_is_not_running_is_409_with_its_status(api: Api, emulator, route: str) -> None:
    cluster_id = api.new_cluster()
    method = "GET" if route == "info" else "POST"
    body = make_csr()[1] if route == "csr" else None
    stopped = api(method, f"/api/dask_clusters/{cluster_id}/{route}", data=body)
    assert (stopped.status_code, stopped.json()) == (
        409,
        {"message": f"Dask cluster {cluster_id} is not running (status: stopped)"},
    )
    emulator.configure(transition_seconds=30)
    api("POST", f"/api/dask_clusters/{cluster_id}/start")
    pending = api(method, f"/api/dask_clusters/{cluster_id}/{route}", data=body)
    assert pending.status_code == 409
    assert pending.json()["message"].endswith("(status: pending)")


@pytest.mark.parametrize(("method", "route"), [("GET", "info"), ("POST", "csr"), ("POST", "scale")])
def test_unknown_cluster_is_404_and_no_token_is_401(api: Api, emulator, method: str, route: str) -> None:
    missing = "c" * 32
    bodies: dict[str, dict[str, Any]] = {"scale": {"json": {"n": 1}}, "csr": {"data": make_csr()[1]}}
    body = bodies.get(route, {})
    answer = api(method, f"/api/dask_clusters/{missing}/{route}", **body)
    assert (answer.status_code, answer.json()) == (404, {"message": f"Dask cluster {missing} not found"})
    anonymous = requests.request(method, f"{emulator.url}/api/dask_clusters/{missing}/{route}", timeout=5, **body)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"]


def test_csr_of_dask_saturn_is_signed_by_the_clusters_own_ca(api: Api, emulator, running: str) -> None:
    csr, key = _create_csr(f"Dask Client {running}")  # what dask-saturn 0.4.4 sends, made by its own code
    answer = api("POST", f"/api/dask_clusters/{running}/csr", data=_serialize_csr(csr))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-pem-file")
    certificate, authority = _deserialize_cert_chain(answer.content)  # as dask-saturn reads the answer
    certificate.verify_directly_issued_by(authority)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Dask Client {running}"
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH in certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    now = datetime.datetime.now(datetime.UTC)
    assert certificate.not_valid_before_utc < now < certificate.not_valid_after_utc
    assert certificate.not_valid_after_utc - now <= datetime.timedelta(days=1, minutes=1)
    assert requests_to(emulator, "POST /api/dask_clusters/{id}/csr") == 1


def test_each_cluster_has_its_own_ca_kept_across_requests(api: Api, running: str) -> None:
    other = api.new_cluster("other-ws")
    api.started(other, timeout=10)

    def authority_of(cluster_id: str) -> bytes:
        chain = split_chain(api("POST", f"/api/dask_clusters/{cluster_id}/csr", data=make_csr()[1]).content)
        return (
            chain[1]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    assert authority_of(running) == authority_of(running)
    assert authority_of(running) != authority_of(other)


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "application/x-pem-file"])
def test_csr_is_read_whatever_the_content_type(api: Api, running: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = api("POST", f"/api/dask_clusters/{running}/csr", data=make_csr()[1], headers=headers)
    assert answer.status_code == 200
    assert len(split_chain(answer.content)) == 2


def test_csr_with_an_ec_key_is_signed(api: Api, running: str) -> None:
    _, csr = make_csr(key=ec.generate_private_key(ec.SECP256R1()))
    assert api("POST", f"/api/dask_clusters/{running}/csr", data=csr).status_code == 200


def _tampered() -> bytes:
    der = bytearray(x509.load_pem_x509_csr(make_csr()[1]).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


def _certificate_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


BAD_CSRS = {
    "empty": (lambda: b"", "empty"),
    "not PEM": (lambda: b"hello, I am not a CSR", "PEM certificate signing request"),
    "garbled PEM": (
        lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "not a valid PEM",
    ),
    "a certificate": (_certificate_pem, "PEM certificate signing request"),
    "bad signature": (_tampered, "signature does not verify"),
    "RSA 1024": (lambda: make_csr(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))[1], "1024 bits"),
    "asks for a CA": (lambda: make_csr(ca=True)[1], "CA certificate"),
    "too large": (lambda: make_csr()[1] + b"\n" * (16 * 1024), "larger than 16384 bytes"),
}


@pytest.mark.parametrize("case", list(BAD_CSRS))
def test_a_csr_it_will_not_sign_is_400_with_the_reason(api: Api, running: str, case: str) -> None:
    make, reason = BAD_CSRS[case]
    answer = api("POST", f"/api/dask_clusters/{running}/csr", data=make())
    assert answer.status_code == 400
    assert reason in answer.json()["message"]


def test_scale_sets_the_worker_count(api: Api, emulator) -> None:
    cluster_id = api.new_cluster(n_workers=1)
    answer = api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 5})
    assert (answer.status_code, answer.content) == (204, b"")
    shown = api("GET", f"/api/dask_clusters/{cluster_id}").json()
    DaskCluster.model_validate(shown)
    assert shown["n_workers"] == 5
    assert requests_to(emulator, "POST /api/dask_clusters/{id}/scale") == 1


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"n": -1}, 422, "at least 0"),
        ({"n": "3"}, 422, "integer"),
        ({"n": True}, 422, "integer"),
        ({}, 422, "required"),
        ({"n": 1001}, 400, "at most 1000"),
    ],
)
def test_scale_refuses_a_bad_count(api: Api, body: dict, status: int, reason: str) -> None:
    cluster_id = api.new_cluster(n_workers=1)
    answer = api("POST", f"/api/dask_clusters/{cluster_id}/scale", json=body)
    assert answer.status_code == status
    assert reason in answer.json()["message"]
    assert api("GET", f"/api/dask_clusters/{cluster_id}").json()["n_workers"] == 1


def test_status_answers_what_dask_saturn_reads(api: Api, emulator, running: str) -> None:
    """``SaturnCluster.status`` (dask-saturn) reads ``GET /api/dask_clusters/{id}/status``: the cluster's status."""
    answer = api("GET", f"/api/dask_clusters/{running}/status")
    assert answer.status_code == 200 and answer.json() == {"id": running, "status": "running"}
    assert api("GET", "/api/dask_clusters/ffffffffffffffffffffffffffffffff/status").status_code == 404
