"""Encrypted Vault snapshots in a backup store: `<id>.snapshot.age` (age-encrypted raft snapshot) and
`<id>.manifest.json` (written last: its presence marks a complete backup)."""

from __future__ import annotations

import calendar
import hashlib
import json
import secrets as random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyrage
from pyrage import x25519

from cattle.errors import StoreError, VaultError
from cattle.keys import Identity
from cattle.stores import Store

FORMAT = 1
SNAPSHOT_SUFFIX = ".snapshot.age"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What a snapshot is: when, from where, how big, its checksums, and what it should contain."""

    id: str
    env: str
    created: str
    openbao_version: str
    size: int
    sha256: str
    snapshot_sha256: str
    recipients: list[str]
    seal_key_id: str
    seal_key_fingerprint: str
    canary: str
    counts: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> Manifest:
        try:
            raw: dict[str, Any] = json.loads(data)
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (ValueError, TypeError) as exc:
            raise VaultError(f"manifest {name} is unreadable: {exc}", "delete that backup from the store") from exc

    @property
    def age_seconds(self) -> float:
        return time.time() - calendar.timegm(time.strptime(self.created, "%Y-%m-%dT%H:%M:%SZ"))


def new_id() -> str:
    """Sortable by time, unique enough for concurrent writers."""
    now = time.time()
    micros = int(now * 1_000_000) % 1_000_000
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{micros:06d}Z-{random.token_hex(3)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encrypt(plaintext: bytes, recipients: list[str]) -> bytes:
    """age-encrypt for every recipient (the environment's key, and break-glass when configured)."""
    return bytes(pyrage.encrypt(plaintext, [x25519.Recipient.from_str(r) for r in recipients]))


def decrypt(blob: bytes, identities: list[Identity], snapshot_id: str) -> bytes:
    try:
        return bytes(pyrage.decrypt(blob, [x25519.Identity.from_str(i.secret) for i in identities]))
    except pyrage.DecryptError as exc:
        tried = ", ".join(i.public for i in identities) or "none"
        raise VaultError(f"snapshot {snapshot_id} cannot be decrypted with the keys at hand (tried {tried}): {exc}",
                         "use the key of the environment that took the snapshot (docs/secrets.md)") from exc


def save(store: Store, manifest: Manifest, blob: bytes) -> None:
    """Write the snapshot, then the manifest that marks it complete."""
    store.put(manifest.id + SNAPSHOT_SUFFIX, blob)
    store.put(manifest.id + MANIFEST_SUFFIX, manifest.to_json())


def manifests(store: Store) -> list[Manifest]:
    """Every complete backup in the store, oldest first."""
    return [Manifest.from_json(store.get(name), name) for name in store.names() if name.endswith(MANIFEST_SUFFIX)]


def find(store: Store, env: str, snapshot: str = "latest") -> Manifest:
    """One backup's manifest: the newest of the environment, or the one with that id."""
    found = manifests(store)
    if snapshot != "latest":
        for manifest in found:
            if manifest.id == snapshot:
                return manifest
        raise VaultError(f"no snapshot {snapshot!r} in {store.url}",
                         f"list them with: invoke vault.snapshots --env {env}")
    mine = [m for m in found if m.env == env]
    if not mine:
        raise VaultError(f"no snapshot of environment {env!r} in {store.url}",
                         f"take one with: invoke vault.backup --env {env}")
    return mine[-1]


def load(store: Store, manifest: Manifest, identities: list[Identity]) -> bytes:
    """The plaintext raft snapshot, verified against both checksums of its manifest."""
    try:
        blob = store.get(manifest.id + SNAPSHOT_SUFFIX)
    except StoreError as exc:
        raise VaultError(f"snapshot {manifest.id} has a manifest but no data in {store.url}: {exc.message}") from exc
    if len(blob) != manifest.size or sha256(blob) != manifest.sha256:
        raise VaultError(f"snapshot {manifest.id} is corrupt or truncated ({len(blob)} bytes, expected "
                         f"{manifest.size}; sha256 mismatch)", "restore an older snapshot with --snapshot ID")
    plaintext = decrypt(blob, identities, manifest.id)
    if sha256(plaintext) != manifest.snapshot_sha256:
        raise VaultError(f"snapshot {manifest.id} decrypted to different bytes than were backed up",
                         "restore an older snapshot with --snapshot ID")
    return plaintext


def prune(store: Store, env: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups of the environment; returns the deleted ids."""
    mine = [m for m in manifests(store) if m.env == env]
    doomed = mine[:-keep] if keep > 0 else []
    for manifest in doomed:
        store.delete(manifest.id + MANIFEST_SUFFIX)
        store.delete(manifest.id + SNAPSHOT_SUFFIX)
    return [m.id for m in doomed]
