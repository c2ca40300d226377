"""The control plane's PKI and the admin kubeconfig, made with `cryptography`.

One CA signs both the serving certificate and the client certificates: the
apiserver trusts it via --client-ca-file and clients trust it as the server CA.
EC P-256 keys keep generation in the milliseconds.
"""

import base64
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Where the apiserver's in-cluster clients would look for it, besides loopback.
SERVING_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
SERVING_IPS = ("127.0.0.1", "10.0.0.1")
VALIDITY = datetime.timedelta(days=365)
# Tolerate a clock that is a little behind the one that signed the certificate.
BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str, now: datetime.datetime) -> "Authority":
        key = _new_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        now: datetime.datetime,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
    ) -> Issued:
        """A leaf certificate: a server certificate when it has SANs, else a client one.

        Kubernetes reads a client certificate's CN as the user name and its O
        entries as groups (O=system:masters is the admin group).
        """
        key = _new_key()
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        usage = ExtendedKeyUsageOID.SERVER_AUTH if sans else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass(frozen=True)
class PkiFiles:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_signing_key: Path
    sa_public_key: Path


def write_pki(directory: Path, now: datetime.datetime) -> PkiFiles:
    """Write a fresh CA, serving cert, admin client cert and service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = Authority.create("taskmill-ca", now)
    serving = ca.issue("kube-apiserver", now, dns_names=SERVING_DNS, ip_addresses=SERVING_IPS)
    admin = ca.issue("taskmill-admin", now, organizations=["system:masters"])
    sa_key = _new_key()
    sa_public = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files = PkiFiles(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_signing_key=directory / "sa.key",
        sa_public_key=directory / "sa.pub",
    )
    contents = {
        files.ca_cert: ca.cert_pem,
        files.serving_cert: serving.cert_pem,
        files.serving_key: serving.key_pem,
        files.admin_cert: admin.cert_pem,
        files.admin_key: admin.key_pem,
        files.sa_signing_key: _key_pem(sa_key),
        files.sa_public_key: sa_public,
    }
    for path, data in contents.items():
        path.write_bytes(data)
        path.chmod(0o600)
    return files


def kubeconfig_yaml(server: str, ca_pem: bytes, client: Issued, name: str = "taskmill") -> str:
    """A self-contained kubeconfig: certificates are embedded, not referenced by path."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": b64(client.cert_pem),
                    "client-key-data": b64(client.key_pem),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(config, sort_keys=False)
