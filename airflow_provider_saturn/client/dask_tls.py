"""Mutual TLS with a Saturn Dask cluster's scheduler, as Saturn's own ``dask-saturn`` does it from outside Saturn.

A new RSA-2048 key and a certificate signing request (common name ``Dask Client <cluster id>``, not a CA,
client authentication only) are made here for every connection; Saturn signs the request with the cluster's CA
(``POST /api/dask_clusters/{id}/csr``, PEM in, PEM chain out: the client certificate, then the CA). The key never
leaves this process: it is held in memory (``distributed`` writes it to a private temporary directory only while
it builds its TLS context, and removes it), never logged, and :class:`ClientTls` does not show it.

The chain Saturn answers is checked before it is used: bounded in size and count, PEM certificates only, the
first one made for the key sent (a chain for someone else's key cannot be used anyway, but says so clearly) and
signed by the second.

Needs the ``dask`` extra (``cryptography``, ``distributed``), imported when first used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_saturn.client.errors import SaturnBadResponseError, SaturnConfigError

if TYPE_CHECKING:
    from distributed import Security

KEY_BITS = 2048
# How far Saturn's clock may be ahead of ours for a certificate that starts now.
CLOCK_SKEW = timedelta(minutes=5)
# The most bytes, and certificates, of a chain Saturn answers a CSR with that are read.
MAX_CHAIN_BYTES = 64 * 1024
MAX_CHAIN_CERTIFICATES = 8
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL)
INSTALL_HINT = "pip install 'airflow-provider-saturn[dask]'"


def require_dask_extra() -> None:
    """Raise a :class:`SaturnConfigError` naming the extra to install when ``distributed`` or ``cryptography``
    is missing."""
    missing = [name for name in ("cryptography", "distributed") if not _importable(name)]
    if missing:
        raise SaturnConfigError(
            f"Connecting to a Saturn Dask cluster needs {' and '.join(missing)}, which are not installed: "
            f"{INSTALL_HINT}"
        )


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


class _HoldsAPrivateKey:
    """Kept in this process only: its repr shows no key, and pickling and Airflow's serde (an XCom) are refused."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_pem='***')"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} holds a private key: it is never pickled")

    def serialize(self) -> NoReturn:
        """Airflow's serde calls this for an XCom: refused, the key never leaves the process."""
        raise TypeError(f"a {type(self).__name__} holds a private key: it is never serialized")


@dataclass(frozen=True, repr=False)
class SigningRequest(_HoldsAPrivateKey):
    """A new private key (PEM, unencrypted) and the CSR for it (PEM), to send to Saturn."""

    key_pem: str
    csr_pem: bytes
    public_key_der: bytes


def signing_request(dask_cluster_id: str) -> SigningRequest:
    """A new RSA key and a CSR for a client of the cluster, with the extensions dask-saturn asks for."""
    require_dask_extra()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Dask Client {dask_cluster_id}")]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningRequest(key_pem, csr.public_bytes(serialization.Encoding.PEM), public_der)


@dataclass(frozen=True, repr=False)
class ClientTls(_HoldsAPrivateKey):
    """What a client of one Dask cluster presents and trusts: its key, its certificate signed by the cluster's
    CA, and that CA (all PEM). Its repr never shows the key."""

    key_pem: str
    cert_pem: str
    ca_pem: str

    def security(self) -> Security:
        """The ``distributed.Security`` for a client of the cluster: mutual TLS, encryption required."""
        from distributed import Security

        return Security(
            tls_client_key=self.key_pem,
            tls_client_cert=self.cert_pem,
            tls_ca_file=self.ca_pem,
            require_encryption=True,
        )


def client_tls(request: SigningRequest, chain: bytes, dask_cluster_id: str) -> ClientTls:
    """The :class:`ClientTls` from Saturn's answer to ``request``, once the chain is checked (see the module)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def bad(problem: str) -> SaturnBadResponseError:
        return SaturnBadResponseError(
            f"Saturn answered the certificate request of Dask cluster {dask_cluster_id} with {problem}",
            status_code=200,
            method="POST",
            path=f"api/dask_clusters/{dask_cluster_id}/csr",
        )

    if len(chain) > MAX_CHAIN_BYTES:
        raise bad(f"{len(chain):,} bytes (more than the {MAX_CHAIN_BYTES:,} a certificate chain may take)")
    blocks = PEM_CERTIFICATE.findall(chain)
    if len(blocks) < 2:
        raise bad(f"{len(blocks)} PEM certificate(s) where the client certificate and the cluster's CA were expected")
    if len(blocks) > MAX_CHAIN_CERTIFICATES:
        raise bad(f"{len(blocks)} certificates (at most {MAX_CHAIN_CERTIFICATES} are read)")
    try:
        certificate, authority = (x509.load_pem_x509_certificate(block) for block in blocks[:2])
    except ValueError:
        raise bad("a certificate that cannot be read") from None
    public = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != request.public_key_der:
        raise bad("a certificate for another key than the one sent")
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, _invalid_signature()):
        raise bad("a client certificate the chain's CA did not sign") from None
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc - CLOCK_SKEW <= now <= certificate.not_valid_after_utc:
        raise bad(
            f"a client certificate that is not valid now (valid from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M}"
            f" to {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )
    if not _for_client_authentication(certificate):
        raise bad("a certificate that is not for client authentication")
    pem = serialization.Encoding.PEM
    cert_pem, ca_pem = (item.public_bytes(pem).decode("ascii") for item in (certificate, authority))
    return ClientTls(request.key_pem, cert_pem, ca_pem)


def _for_client_authentication(certificate: Any) -> bool:
    """Whether the certificate may authenticate a client: no extended key usage said, or client auth in it."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usage


def _invalid_signature() -> type[Exception]:
    from cryptography.exceptions import InvalidSignature

    return InvalidSignature
