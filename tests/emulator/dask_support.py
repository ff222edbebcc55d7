"""What the Dask-cluster tests of the emulator share: HTTP calls, CSRs made as a client would, waits, processes."""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import TOKEN

PEM_START = b"-----BEGIN CERTIFICATE-----\n"


class Api:
    """Calls to one emulator with the tests' token."""

    def __init__(self, url: str, token: str = TOKEN) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)

    def new_cluster(self, name: str = "dask-ws", **settings: Any) -> str:
        workspace = self("POST", "/api/workspaces", json={"name": name})
        assert workspace.status_code == 201, workspace.text
        cluster = self(
            "POST", "/api/dask_clusters", json={"resource": {"workspace_id": workspace.json()["id"]}, **settings}
        )
        assert cluster.status_code == 201, cluster.text
        return str(cluster.json()["id"])

    def status(self, cluster_id: str) -> str:
        return str(self("GET", f"/api/dask_clusters/{cluster_id}").json()["status"])

    def wait_status(self, cluster_id: str, *wanted: str, timeout: float = 60.0) -> str:
        """Poll until the cluster's status is one of ``wanted`` (bounded); the status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(cluster_id)
            if status in wanted:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster {cluster_id} is {status!r}, not {wanted} after {timeout:g} s")
            time.sleep(0.05)

    def started(self, cluster_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Start the cluster, wait until it runs; its ``/info`` (external)."""
        assert self("POST", f"/api/dask_clusters/{cluster_id}/start").status_code == 200
        assert self.wait_status(cluster_id, "running", "error", timeout=timeout) == "running"
        info = self("GET", f"/api/dask_clusters/{cluster_id}/info", params={"is_external": "true"})
        assert info.status_code == 200, info.text
        return dict(info.json())


def make_csr(
    common_name: str = "Dask Client test",
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    ca: bool = False,
) -> tuple[bytes, bytes]:
    """A client key and a CSR for it (as dask-saturn makes them): ``(key PEM, CSR PEM)``."""
    key = key if key is not None else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def split_chain(body: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM chain, cut as dask-saturn cuts it."""
    return [x509.load_pem_x509_certificate(PEM_START + part) for part in body.split(PEM_START) if part]


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def client_credentials(api: Api, cluster_id: str) -> tuple[str, str, str]:
    """A fresh client key, the certificate the cluster's ``/csr`` signed for it, and the cluster's CA (PEM)."""
    key_pem, csr_pem = make_csr(f"Dask Client {cluster_id}")
    answer = api("POST", f"/api/dask_clusters/{cluster_id}/csr", data=csr_pem)
    assert answer.status_code == 200, answer.text
    certificate, authority = split_chain(answer.content)
    return key_pem.decode(), pem(certificate), pem(authority)


def security(key: str, certificate: str, authority: str) -> Any:
    from distributed.security import Security

    return Security(tls_client_key=key, tls_client_cert=certificate, tls_ca_file=authority, require_encryption=True)


def signed_client(api: Api, cluster_id: str, address: str, timeout: float = 10) -> Any:
    """A ``distributed.Client`` on the cluster's scheduler at ``address``, with a certificate its ``/csr`` signed."""
    import distributed

    sec = security(*client_credentials(api, cluster_id))
    return distributed.Client(address, security=sec, timeout=timeout, set_as_default=False)


def working_directory(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")
