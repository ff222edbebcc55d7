"""The client side of Saturn's mutual TLS: the CSR made, and the chain Saturn answers checked before use."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_saturn.client.dask_tls import MAX_CHAIN_BYTES, client_tls, signing_request
from airflow_provider_saturn.client.errors import SaturnBadResponseError
from tests.dask.certificates import TestAuthority

CLUSTER = "0123456789abcdef0123456789abcdef"
GARBAGE_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


def test_the_csr_asks_what_dask_saturn_asks():
    request = signing_request(CLUSTER)
    csr = x509.load_pem_x509_csr(request.csr_pem)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Dask Client {CLUSTER}"
    constraints = csr.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert csr.public_key().key_size == 2048
    assert "PRIVATE KEY" not in request.csr_pem.decode()


def test_each_request_has_a_new_key_that_no_repr_shows():
    first, second = signing_request(CLUSTER), signing_request(CLUSTER)
    assert first.key_pem != second.key_pem
    assert "PRIVATE" not in repr(first) and first.key_pem[40:80] not in repr(first)


def test_a_chain_signed_for_the_key_gives_key_certificate_and_ca():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    chain = authority.sign(request.csr_pem) + authority.pem()
    tls = client_tls(request, chain, CLUSTER)
    assert tls.key_pem == request.key_pem
    assert tls.ca_pem.encode() == authority.pem()
    certificate = x509.load_pem_x509_certificate(tls.cert_pem.encode())
    certificate.verify_directly_issued_by(authority.certificate)
    assert "PRIVATE" not in repr(tls)
    security = tls.security()
    assert security.require_encryption is True
    assert request.key_pem[40:80] not in repr(security)


@pytest.mark.parametrize(
    ("make_chain", "said"),
    [
        (lambda authority, request: authority.sign(request.csr_pem), "1 PEM certificate(s)"),
        (lambda authority, request: b"<html>proxy login</html>", "0 PEM certificate(s)"),
        (
            lambda authority, request: authority.sign(signing_request(CLUSTER).csr_pem) + authority.pem(),
            "for another key",
        ),
        (
            lambda authority, request: authority.sign(request.csr_pem) + TestAuthority("another").pem(),
            "did not sign",
        ),
        (
            lambda authority, request: (
                b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n" * 2
            ),
            "cannot be read",
        ),
        (lambda authority, request: b"x" * (MAX_CHAIN_BYTES + 1), "more than the"),
    ],
    ids=["client certificate only", "not PEM", "another key", "another CA", "garbage", "too large"],
)
def test_a_chain_that_does_not_fit_is_refused_clearly(make_chain, said):
    authority, request = TestAuthority(), signing_request(CLUSTER)
    with pytest.raises(SaturnBadResponseError) as caught:
        client_tls(request, make_chain(authority, request), CLUSTER)
    assert said in str(caught.value) and CLUSTER in str(caught.value)
    assert "BEGIN" not in str(caught.value)


def test_a_key_in_the_answer_is_never_taken_or_repeated():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    planted = signing_request(CLUSTER).key_pem.encode()
    chain = planted + authority.sign(request.csr_pem) + authority.pem()
    tls = client_tls(request, chain, CLUSTER)
    assert tls.key_pem == request.key_pem
    assert serialization.load_pem_private_key(tls.key_pem.encode(), None).key_size == 2048
