"""The cluster PKI: one CA, and certificates whose subject is the holder's identity.

Made once in a state directory and kept: `ca.crt`/`ca.key` (the cluster CA),
`apiserver.crt`/`.key` (serving, with SANs for 127.0.0.1, localhost, this
host's name and any extra names) and `admin.crt`/`.key` (a client
certificate for kubernetes-admin in system:masters). Identities live in the
subject as Kubernetes reads them (CN = user, O = groups), so node identities
(`system:node:<name>` in `system:nodes`) and authorization can grow from it.
Private keys are written with mode 0600; nothing is ever overwritten except a
serving certificate that lacks a name it is now asked to carry.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "podlab-ca"
CA_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True)
class Identity:
    """Who a certificate says its holder is: a user name and groups (CN and O)."""

    user: str
    groups: tuple[str, ...] = ()

    def subject(self) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in self.groups]
        return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, self.user)])


ADMIN = Identity("kubernetes-admin", ("system:masters",))
APISERVER = Identity("kube-apiserver")


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def default_hosts(extra: Sequence[str] = ()) -> list[str]:
    return ["127.0.0.1", "localhost", socket.gethostname(), *extra]


class ClusterPki:
    """The PKI in `directory` (created on demand)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.ca = KeyPair(self.dir / "ca.crt", self.dir / "ca.key")
        self.apiserver = KeyPair(self.dir / "apiserver.crt", self.dir / "apiserver.key")
        self.admin = KeyPair(self.dir / "admin.crt", self.dir / "admin.key")

    def ensure(self, hosts: Sequence[str] = ()) -> ClusterPki:
        """Make whatever is missing: the CA, the serving certificate (for default_hosts + `hosts`), admin."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.ca.cert.exists() and self.ca.key.exists()):
            self._make_ca()
        names = default_hosts(hosts)
        if not self.apiserver.cert.exists() or not set(names) <= set(self.names(self.apiserver.cert)):
            self.issue(self.apiserver, APISERVER, server_names=names)
        if not self.admin.cert.exists():
            self.issue(self.admin, ADMIN)
        return self

    def _make_ca(self) -> None:
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        _write(self.ca.key, _key_bytes(key), 0o600)
        _write(self.ca.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue(self, pair: KeyPair, identity: Identity, server_names: Sequence[str] = ()) -> KeyPair:
        """A certificate for `identity` signed by the CA: a server's when `server_names`, else a client's."""
        ca_key = serialization.load_pem_private_key(self.ca.key.read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert.read_bytes())
        key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(identity.subject()).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(_san(server_names)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(pair.key, _key_bytes(key), 0o600)
        _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return pair

    @staticmethod
    def names(cert_path: Path) -> list[str]:
        """The DNS names and IP addresses a certificate is valid for."""
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]

    @staticmethod
    def identity(cert_path: Path) -> Identity:
        """The identity a certificate's subject names."""
        subject = x509.load_pem_x509_certificate(cert_path.read_bytes()).subject
        cn = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        groups = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return Identity(str(cn[0].value) if cn else "", groups)

    def kubeconfig(self, server: str, context: str = "podlab", embed: bool = True) -> str:
        """A kubeconfig (YAML) for the admin identity against `server` ("https://127.0.0.1:6443")."""
        def data(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        cluster = ({"certificate-authority-data": data(self.ca.cert)} if embed
                   else {"certificate-authority": str(self.ca.cert)})
        user = ({"client-certificate-data": data(self.admin.cert), "client-key-data": data(self.admin.key)}
                if embed else {"client-certificate": str(self.admin.cert), "client-key": str(self.admin.key)})
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
               "clusters": [{"name": context, "cluster": {"server": server, **cluster}}],
               "users": [{"name": f"{context}-admin", "user": user}],
               "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}]}
        return yaml.safe_dump(doc, sort_keys=False)

    def write_kubeconfig(self, path: str | Path, server: str, context: str = "podlab") -> Path:
        """Write the admin kubeconfig to `path` (mode 0600: it holds a private key)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, self.kubeconfig(server, context).encode(), 0o600)
        return out


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m podlab.pki DIR [--host NAME ...] [--kubeconfig PATH --server URL]`: make the PKI (lab.sh)."""
    p = argparse.ArgumentParser(prog="python -m podlab.pki", description=main.__doc__)
    p.add_argument("directory")
    p.add_argument("--host", action="append", default=[], help="an extra name for the serving certificate")
    p.add_argument("--kubeconfig", help="also write an admin kubeconfig here")
    p.add_argument("--server", default="https://127.0.0.1:6443", help="the kubeconfig's server URL")
    a = p.parse_args(argv)
    pki = ClusterPki(a.directory).ensure(a.host)
    if a.kubeconfig:
        pki.write_kubeconfig(a.kubeconfig, a.server)


if __name__ == "__main__":
    main()
