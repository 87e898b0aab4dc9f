"""The control plane tier's keys: a CA, the API server's serving certificate, the service-account key pair and an
admin token. Made fresh for every control plane, kept 0600 in its private work directory."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    token_file: Path
    token: str


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make(directory: Path) -> Pki:
    """Write a CA, a serving certificate for 127.0.0.1/localhost/kubernetes.default.svc, the service-account keys
    and a token file granting system:masters."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cattle control plane tier CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    serving_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                       "kubernetes.default.svc.cluster.local")]
    addresses = [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.96.0.1")]
    serving = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
               .issuer_name(ca_name).public_key(serving_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=7))
               .add_extension(x509.SubjectAlternativeName([*names, *addresses]), critical=False)
               .sign(ca_key, hashes.SHA256()))
    account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = secrets.token_hex(24)
    return Pki(
        ca_cert=_write(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM)),
        serving_cert=_write(directory / "apiserver.crt", serving.public_bytes(serialization.Encoding.PEM)),
        serving_key=_write(directory / "apiserver.key", _pem_key(serving_key)),
        service_account_key=_write(directory / "sa.key", _pem_key(account_key)),
        service_account_pub=_write(directory / "sa.pub", account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        token_file=_write(directory / "tokens.csv", f"{token},cattle-admin,cattle-admin,system:masters\n".encode()),
        token=token,
    )


def kubeconfig(pki: Pki, server: str, context: str) -> str:
    """A kubeconfig with one context, `context`, naming the admin token."""
    ca = os.fspath(pki.ca_cert)
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\n"
            f"    certificate-authority: {ca}\nusers:\n- name: {context}-admin\n  user:\n    token: {pki.token}\n"
            f"contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}-admin\n"
            f"current-context: {context}\n")
