import datetime
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from taskmill.kube.config import load_connection
from tests.harness.certs import Issued, PkiFiles, kubeconfig_yaml, write_pki

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    return write_pki(tmp_path_factory.mktemp("pki"), datetime.datetime.now(datetime.UTC))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> ssl.SSLObject:
    """A TLS handshake through memory buffers; returns the server's end."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    client_end = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    pending = {server_end, client_end}
    for _ in range(10):
        for end in list(pending):
            try:
                end.do_handshake()
                pending.discard(end)
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if not pending:
            return server_end
    raise AssertionError("handshake did not finish")


def _server_context(pki: PkiFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    ctx.load_verify_locations(pki.ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED  # like --client-ca-file for a client that sends one
    return ctx


def test_admin_is_a_system_masters_client_signed_by_the_ca(pki: PkiFiles) -> None:
    admin = _cert(pki.admin_cert)
    admin.verify_directly_issued_by(_cert(pki.ca_cert))
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_clients_of_the_kubeconfig_trust_the_server_and_present_the_admin(
    pki: PkiFiles, tmp_path: Path, hostname: str
) -> None:
    # Through the same loader the operator uses, so the kubeconfig is read as real clients do.
    kubeconfig = tmp_path / "kubeconfig"
    admin = Issued(pki.admin_cert.read_bytes(), pki.admin_key.read_bytes())
    kubeconfig.write_text(
        kubeconfig_yaml("https://127.0.0.1:6443", pki.ca_cert.read_bytes(), admin)
    )
    connection = load_connection(str(kubeconfig))
    assert connection.server == "https://127.0.0.1:6443"
    assert isinstance(connection.ssl_context, ssl.SSLContext)

    server_end = _handshake(_server_context(pki), connection.ssl_context, hostname)

    peer = server_end.getpeercert()
    assert peer is not None
    assert (("organizationName", "system:masters"),) in peer["subject"]


def test_a_client_of_another_ca_is_rejected(pki: PkiFiles, tmp_path: Path) -> None:
    other = write_pki(tmp_path, NOW)
    client = ssl.create_default_context(cafile=pki.ca_cert)
    client.load_cert_chain(other.admin_cert, other.admin_key)
    with pytest.raises(ssl.SSLError):
        _handshake(_server_context(pki), client, "127.0.0.1")


def test_service_account_keys_are_a_pair(pki: PkiFiles) -> None:
    private = load_pem_private_key(pki.sa_signing_key.read_bytes(), password=None)
    public = load_pem_public_key(pki.sa_public_key.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert private.public_key().public_numbers() == public.public_numbers()


def test_certificates_are_valid_from_an_hour_before_now_for_a_year(tmp_path: Path) -> None:
    files = write_pki(tmp_path, NOW)
    for path in (files.ca_cert, files.serving_cert, files.admin_cert):
        cert = _cert(path)
        assert cert.not_valid_before_utc == NOW - datetime.timedelta(hours=1)
        assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=365)


def test_kubeconfig_embeds_the_credentials() -> None:
    client = Issued(b"CERT", b"KEY")
    config = yaml.safe_load(kubeconfig_yaml("https://127.0.0.1:1", b"CA", client))
    (user,) = config["users"]
    assert user["user"] == {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["certificate-authority-data"] == "Q0E="
