"""age key custody: where each environment's private key lives, how it is created, and how Flux gets it.

Lookup order for an environment's identity: $CATTLE_AGE_KEY_<ENV> (CI), then $SOPS_AGE_KEY, then the key
file ~/.config/cattle/age/<env>.txt (0600). A key file is never overwritten.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrage import x25519

from cattle.errors import SecretsError
from cattle.paths import config_home

SECRET_PREFIX = "AGE-SECRET-KEY-1"
FLUX_SECRET = "sops-age"


@dataclass(frozen=True)
class Identity:
    """An age private key and its public recipient. The private part never appears in repr()."""

    secret: str = field(repr=False)
    public: str
    source: str


def key_dir() -> Path:
    return config_home() / "age"


def key_file(env: str) -> Path:
    """Where the environment's private key is kept on this machine."""
    return key_dir() / f"{env}.txt"


def pending_key_file(env: str) -> Path:
    """A rotation's new key, kept beside the old one until every file decrypts with it."""
    return key_dir() / f"{env}.txt.new"


def env_var(env: str) -> str:
    return f"CATTLE_AGE_KEY_{env.upper().replace('-', '_')}"


def parse_identities(text: str, source: str) -> list[Identity]:
    """Every AGE-SECRET-KEY line of a key file or variable."""
    found: list[Identity] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(SECRET_PREFIX):
            continue
        try:
            identity = x25519.Identity.from_str(line)
        except Exception as exc:  # pyrage raises its own IdentityError
            raise SecretsError(f"{source}: not a valid age private key ({exc})",
                               "restore the key file from custody (see docs/secrets.md)") from exc
        found.append(Identity(line, str(identity.to_public()), source))
    return found


def _read_file(path: Path) -> list[Identity]:
    if not path.is_file():
        return []
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretsError(f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
    return parse_identities(path.read_text(), str(path))


def candidate_identities(env: str) -> list[Identity]:
    """Every key this machine holds for the environment (current and pending rotation)."""
    found: list[Identity] = []
    if os.environ.get(env_var(env)):
        found += parse_identities(os.environ[env_var(env)], f"${env_var(env)}")
    if os.environ.get("SOPS_AGE_KEY"):
        found += parse_identities(os.environ["SOPS_AGE_KEY"], "$SOPS_AGE_KEY")
    found += _read_file(key_file(env))
    found += _read_file(pending_key_file(env))
    unique: dict[str, Identity] = {}
    for identity in found:
        unique.setdefault(identity.public, identity)
    return list(unique.values())


def rotated_key_files(env: str) -> list[Path]:
    """Keys a rotation replaced (<env>.txt.rotated-<time>), oldest first: kept for what is still encrypted for them."""
    return sorted(key_dir().glob(f"{env}.txt.rotated-*")) if key_dir().is_dir() else []


def decryption_identities(env: str) -> list[Identity]:
    """Every key that may open the env's Vault snapshots and init records: the current and pending ones, then the
    rotated-away ones (backups taken before a rotation stay encrypted for the key of their time; secrets.rotate
    re-encrypts only the SOPS files in git)."""
    found = candidate_identities(env)
    for path in rotated_key_files(env):
        found += _read_file(path)
    unique: dict[str, Identity] = {}
    for identity in found:
        unique.setdefault(identity.public, identity)
    return list(unique.values())


def find_identity(env: str, recipients: list[str] | None = None) -> Identity | None:
    """The environment's key: one whose public key is among the recipients, when given."""
    for identity in candidate_identities(env):
        if recipients is None or identity.public in recipients:
            return identity
    return None


def _what_it_holds(text: str) -> str:
    """Why a key file or variable that exists yields no key: what it holds instead."""
    if not text.strip():
        return "is empty"
    if any(word.startswith("age1") for word in text.split()):
        return (f"holds only a public key (age1…), not the secret key (a line starting {SECRET_PREFIX}…; "
                "the public key is the part you may share)")
    return f"holds no age secret key (no line starting {SECRET_PREFIX}…)"


def keyless_sources(env: str) -> list[str]:
    """The places that should hold the environment's key and exist, but hold no secret key: an empty key file, a
    pasted public key."""
    found: list[str] = []
    for variable in (env_var(env), "SOPS_AGE_KEY"):
        value = os.environ.get(variable)
        if value is not None and value and not parse_identities(value, f"${variable}"):
            found.append(f"${variable} is set but {_what_it_holds(value)}")
    for path in (key_file(env), pending_key_file(env)):
        if path.is_file() and not _read_file(path):
            found.append(f"the key file {path} exists but {_what_it_holds(path.read_text(errors='replace'))}")
    return found


def missing_key(env: str) -> str:
    """Why this machine has no key for the environment, in one phrase."""
    keyless = keyless_sources(env)
    return "; ".join(keyless) if keyless else f"no {env} key on this machine"


def require_identity(env: str, recipients: list[str] | None = None) -> Identity:
    """The environment's key, or a SecretsError explaining key custody."""
    identity = find_identity(env, recipients)
    if identity is None:
        wanted = f" matching {', '.join(recipients)}" if recipients else ""
        keyless = keyless_sources(env)
        raise SecretsError(
            (f"no age key for environment {env!r}{wanted}: " + "; ".join(keyless)) if keyless and not
            candidate_identities(env) else
            f"no age key for environment {env!r}{wanted} (looked in ${env_var(env)}, $SOPS_AGE_KEY "
            f"and {key_file(env)})",
            f"get the {env} key from its custodian (docs/secrets.md, 'Where each key lives': who holds it and "
            f"where it is kept) into {key_file(env)} (chmod 600) or ${env_var(env)}. A new key cannot stand "
            "in for it: the files in git and the backups are encrypted for the one named here")
    return identity


def write_new_key(path: Path) -> Identity:
    """Generate a key and write it to a file that must not exist yet (0600, directory 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    content = (f"# created: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
               f"# public key: {public}\n{identity}\n")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SecretsError(f"{path} already exists; cattle never overwrites a private key",
                           "use it as it is, or rotate with: ./scripts/cattle secrets.rotate --env <env>") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return Identity(str(identity), public, str(path))


def create_key(env: str) -> Identity:
    """A new key for an environment; refuses when one exists anywhere this machine looks."""
    existing = find_identity(env)
    if existing is not None:
        raise SecretsError(f"environment {env!r} already has an age key ({existing.source}, public key "
                           f"{existing.public}); cattle never overwrites a private key",
                           f"keep using it, or rotate with: ./scripts/cattle secrets.rotate --env {env}")
    return write_new_key(key_file(env))


def flux_secret(identity: Identity, env: str) -> dict[str, Any]:
    """The flux-system/sops-age Secret kustomize-controller decrypts with (key name ends in .agekey).

    As `data`, not `stringData`: the API server stores stringData as data, and a server-side apply of stringData
    never takes the data field from the manager that wrote it (seen on the control plane tier), so cattle's forced
    apply would not own its own secret zero."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": FLUX_SECRET, "namespace": "flux-system",
                     "labels": {"app.kubernetes.io/managed-by": "cattle"}},
        "type": "Opaque",
        "data": {f"{env}.agekey": base64.b64encode((identity.secret + "\n").encode()).decode()},
    }
