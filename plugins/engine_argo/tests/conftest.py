"""Fixtures of the Argo engine tests; makes the test-support modules importable."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    # --import-mode=importlib does not put test folders on sys.path; the support modules
    # (argo_schema, argo_server) have names unique to this plugin
    sys.path.insert(0, _HERE)


import datetime  # noqa: E402
import ipaddress  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def argo_server():
    from argo_server import TOKEN, FakeArgoServer

    with FakeArgoServer(token=TOKEN) as server:
        yield server
    assert server.violations == [], "requests broke the Argo API spec"


@pytest.fixture
def client(argo_server):
    from argo_server import TOKEN
    from dflow_engine_argo.client import ArgoClient

    return ArgoClient(argo_server.url, "argo", TOKEN, backoff=0.01, http_headers={"X-Team": "qa"})


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory):
    """A certificate for 127.0.0.1 signed by its own key: (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dflow test argo server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


# -- the Argo conformance harness (conformance/): real pods, an emulated controller ---------
from conformance.fixtures import (  # noqa: E402, F401
    argo_repository,
    emulated_argo,
    emulated_kube,
    emulated_server,
    seaweedfs,
)


def pytest_terminal_summary(terminalreporter):
    from conformance.fixtures import write_summary

    write_summary(terminalreporter)
