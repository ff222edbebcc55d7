"""Each emulated Dask cluster's own certificate authority: it signs the clients' CSRs (``POST .../csr``) and, in
real-Dask mode, the scheduler's and workers' certificates, so that only holders of a certificate it signed can
talk to that cluster's scheduler.

A cluster's CA (an EC P-256 key and a self-signed certificate, valid for a year) is made at its first need and
kept in memory only; it is forgotten with its cluster (``ClusterAuthorities.forget``). A client CSR is checked
before it is signed (``sign_client_csr``): at most ``MAX_CSR_BYTES`` of PEM, a valid signature, an RSA key of
2048 to 8192 bits or an EC key on a NIST curve, no request to be a CA. The certificate it gets keeps only the
CSR's common name (at most ``MAX_COMMON_NAME`` characters) and says what it is for (client authentication),
valid for ``CLIENT_CERT_DAYS`` from ``BACKDATE`` ago.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_saturn.emulator.lifecycle import EmulatorError

MAX_CSR_BYTES = 16 * 1024
"""The largest CSR body accepted (a 8192-bit RSA CSR in PEM is about 4 KiB)."""
MAX_COMMON_NAME = 64
"""The longest common name kept from a CSR (X.509's upper bound for it)."""
RSA_BITS = (2048, 8192)
"""The RSA key sizes accepted in a CSR, smallest and largest."""
EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
CLIENT_CERT_DAYS = 1
CA_DAYS = 365
BACKDATE = datetime.timedelta(minutes=5)
"""How far back a certificate's validity starts: clocks of client and emulator may differ a little."""
PEM_CSR_HEADERS = (b"-----BEGIN CERTIFICATE REQUEST-----", b"-----BEGIN NEW CERTIFICATE REQUEST-----")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The private key in unencrypted PKCS#8 PEM (only ever written to a private file or kept in memory)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_certificate(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class IssuedIdentity:
    """A key and the certificate the cluster's CA signed for it, both in PEM."""

    key_pem: bytes
    certificate_pem: bytes


class ClusterAuthority:
    """One Dask cluster's certificate authority (EC P-256, self-signed), held in memory."""

    def __init__(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Saturn emulator Dask CA {cluster_id[:32]}")])
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> bytes:
        return pem_certificate(self.certificate)

    def _sign(
        self,
        common_name: str,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        usages: list[x509.ObjectIdentifier],
        days: float,
        addresses: tuple[str, ...] = (),
    ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if addresses:
            names = [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self._key, hashes.SHA256())

    def issue(self, common_name: str, *, server: bool, days: float = CA_DAYS) -> IssuedIdentity:
        """A fresh key and a certificate for a process of the cluster (``server``: scheduler or worker, which
        both listen and connect) or for the emulator's own readiness probe (a client)."""
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        certificate = self._sign(common_name, key.public_key(), usages, days, ("127.0.0.1",) if server else ())
        return IssuedIdentity(pem_key(key), pem_certificate(certificate))

    def sign_client_csr(self, body: bytes) -> bytes:
        """The chain for a client's PEM CSR: its certificate (client authentication, ``CLIENT_CERT_DAYS``) then
        this CA's certificate; a 400 ``EmulatorError`` saying what is wrong with a CSR it will not sign."""
        csr = parse_client_csr(body)
        common_name = _common_name(csr)
        public_key = csr.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)  # checked by parse_client_csr
        certificate = self._sign(common_name, public_key, [ExtendedKeyUsageOID.CLIENT_AUTH], CLIENT_CERT_DAYS)
        return pem_certificate(certificate) + self.certificate_pem


def _refuse(message: str) -> EmulatorError:
    return EmulatorError(400, message)


def parse_client_csr(body: bytes) -> x509.CertificateSigningRequest:
    """The CSR in ``body`` once checked (size, PEM, signature, key, no CA); a 400 ``EmulatorError`` otherwise."""
    if len(body) > MAX_CSR_BYTES:
        raise _refuse(f"The CSR is larger than {MAX_CSR_BYTES} bytes")
    if not body.strip():
        raise _refuse("The request body must be a PEM certificate signing request; it is empty")
    if not body.lstrip().startswith(PEM_CSR_HEADERS):
        raise _refuse(
            "The request body must be a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)"
        )
    try:
        csr = x509.load_pem_x509_csr(body)
    except ValueError:
        raise _refuse("The request body is not a valid PEM certificate signing request") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, InvalidSignature, TypeError):
        valid = False
    if not valid:
        raise _refuse("The CSR's signature does not verify")
    _check_key(csr.public_key())
    _check_not_ca(csr)
    return csr


def _check_key(public_key: object) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        low, high = RSA_BITS
        if not low <= public_key.key_size <= high:
            raise _refuse(f"The CSR's RSA key has {public_key.key_size} bits: from {low} to {high} are accepted")
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, EC_CURVES):
            raise _refuse(f"The CSR's EC key is on curve {public_key.curve.name}: P-256, P-384 or P-521 are accepted")
        return
    raise _refuse("The CSR's key must be RSA (2048 bits or more) or EC (P-256, P-384, P-521)")


def _check_not_ca(csr: x509.CertificateSigningRequest) -> None:
    try:
        constraints = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    except ValueError:  # a malformed or duplicated extension
        raise _refuse("The CSR's extensions cannot be read") from None
    if constraints.ca:
        raise _refuse("The CSR asks for a CA certificate: only client certificates are signed")


def _common_name(csr: x509.CertificateSigningRequest) -> str:
    """The CSR's common name, printable and at most ``MAX_COMMON_NAME`` characters ("Dask Client" if none)."""
    try:
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        names = []
    text = str(names[0].value) if names else ""
    text = "".join(character for character in text if character.isprintable())[:MAX_COMMON_NAME].strip()
    return text or "Dask Client"


class ClusterAuthorities:
    """The CA of each Dask cluster, made at its first need; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_cluster: dict[str, ClusterAuthority] = {}

    def get(self, cluster_id: str) -> ClusterAuthority:
        """The cluster's CA, made now if it has none yet."""
        with self._lock:
            authority = self._by_cluster.get(cluster_id)
            if authority is None:
                authority = self._by_cluster[cluster_id] = ClusterAuthority(cluster_id)
            return authority

    def forget(self, cluster_id: str) -> None:
        """Drop the cluster's CA (its cluster is gone): certificates it signed are never trusted again."""
        with self._lock:
            self._by_cluster.pop(cluster_id, None)

    def clear(self) -> None:
        with self._lock:
            self._by_cluster.clear()
