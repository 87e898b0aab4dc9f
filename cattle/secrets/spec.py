"""Declared secrets: `secrets/<env>/secrets.spec.yaml` lists every Secret, its keys and how each value is made.

Generators: `password` (N random letters and digits), `bytes` (N random bytes, hex or base64), `literal`
(a fixed non-secret value such as a user name), `tls` (a self-signed certificate and key for the whole
Secret), `external` (must be supplied: $CATTLE_SECRET_<NAME>_<KEY>).
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import secrets as random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cattle.errors import ConfigError, SecretsError
from cattle.yamlio import load_file

SPEC_FILE = "secrets.spec.yaml"
COMMON_SPEC = "common.spec.yaml"
GENERATORS = ("password", "bytes", "literal", "external")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class KeySpec:
    """How one key of a Secret gets its value."""

    name: str
    generator: str
    length: int = 32
    encoding: str = "hex"
    value: str = ""


@dataclass(frozen=True)
class SecretSpec:
    """One declared Secret."""

    name: str
    namespace: str
    keys: tuple[KeySpec, ...]
    tls_common_name: str | None = None
    description: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}.secret.yaml"

    @property
    def is_tls(self) -> bool:
        return self.tls_common_name is not None


def spec_path(root: Path, env: str) -> Path:
    return root / "secrets" / env / SPEC_FILE


def spec_files(root: Path, env: str) -> list[Path]:
    """The shared spec (secrets/common.spec.yaml) and the environment's own, where present."""
    return [p for p in (root / "secrets" / COMMON_SPEC, spec_path(root, env)) if p.is_file()]


def _items(root: Path, env: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for path in spec_files(root, env):
        doc = load_file(path) or {}
        found += [(f"{path}: secrets[{i}]", item) for i, item in enumerate(doc.get("secrets") or [])]
    return found


def load_spec(root: Path, env: str) -> list[SecretSpec]:
    """The environment's declared secrets; ConfigError lists every problem with its key."""
    problems: list[str] = []
    result: list[SecretSpec] = []
    seen: set[str] = set()
    for where, item in _items(root, env):
        name, namespace = item.get("name"), item.get("namespace")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}.name: must be a Kubernetes name, got {name!r}")
            continue
        if name in seen:
            problems.append(f"{where}.name: {name!r} is declared twice")
        seen.add(name)
        if not isinstance(namespace, str) or not _NAME.match(namespace):
            problems.append(f"{where}.namespace: must be a namespace name, got {namespace!r}")
        if item.get("generator") == "tls":
            common_name = item.get("commonName")
            if not isinstance(common_name, str):
                problems.append(f"{where}.commonName: required for generator tls")
            result.append(SecretSpec(name, str(namespace), (), str(common_name), str(item.get("description", ""))))
            continue
        keys: list[KeySpec] = []
        for key, options in (item.get("keys") or {}).items():
            options = options or {}
            generator = options.get("generator")
            if not _KEY.match(str(key)):
                problems.append(f"{where}.keys.{key}: not a valid Secret key")
            if generator not in GENERATORS:
                problems.append(f"{where}.keys.{key}.generator: must be one of {', '.join(GENERATORS)} or a "
                                f"tls Secret, got {generator!r}")
                continue
            length = options.get("length", 32)
            if not isinstance(length, int) or isinstance(length, bool) or not 8 <= length <= 4096:
                problems.append(f"{where}.keys.{key}.length: must be a whole number from 8 to 4096")
                length = 32
            encoding = options.get("encoding", "hex")
            if encoding not in ("hex", "base64"):
                problems.append(f"{where}.keys.{key}.encoding: must be hex or base64")
            if generator == "literal" and not isinstance(options.get("value"), str):
                problems.append(f"{where}.keys.{key}.value: required (a string) for generator literal")
            keys.append(KeySpec(str(key), generator, length, encoding, str(options.get("value", ""))))
        if not keys:
            problems.append(f"{where}.keys: at least one key is required")
        result.append(SecretSpec(name, str(namespace), tuple(keys), None, str(item.get("description", ""))))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the secret spec of {env} has {len(problems)} problem(s):\n{listing}",
                          "fix the spec entries named above")
    return result


def external_var(secret: str, key: str) -> str:
    return "CATTLE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())


def _self_signed(common_name: str) -> dict[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return {
        "tls.crt": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "tls.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode(),
    }


def generate_values(spec: SecretSpec) -> dict[str, str]:
    """Fresh values for every key of a declared Secret (external ones from the environment)."""
    if spec.is_tls:
        return _self_signed(str(spec.tls_common_name))
    values: dict[str, str] = {}
    missing: list[str] = []
    alphabet = string.ascii_letters + string.digits
    for key in spec.keys:
        if key.generator == "password":
            values[key.name] = "".join(random.choice(alphabet) for _ in range(key.length))
        elif key.generator == "bytes":
            raw = random.token_bytes(key.length)
            values[key.name] = raw.hex() if key.encoding == "hex" else base64.b64encode(raw).decode()
        elif key.generator == "literal":
            values[key.name] = key.value
        else:
            supplied = os.environ.get(external_var(spec.name, key.name))
            if supplied is None:
                missing.append(external_var(spec.name, key.name))
            else:
                values[key.name] = supplied
    if missing:
        raise SecretsError(f"secret {spec.name} needs values supplied from outside: {', '.join(missing)}",
                           "export those variables (e.g. from your password manager) and run again")
    return values


def manifest(spec: SecretSpec, values: dict[str, str]) -> dict[str, Any]:
    """The plaintext Secret manifest (encrypted before it touches disk)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace,
                     "labels": {"app.kubernetes.io/managed-by": "cattle"}},
        "type": "kubernetes.io/tls" if spec.is_tls else "Opaque",
        "stringData": values,
    }
