"""Encrypted Vault snapshots in a backup store: `<id>.snapshot.age` (age-encrypted raft snapshot) and
`<id>.manifest.json` (written last: its presence marks a complete backup)."""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import secrets as random
import tarfile
import time
from dataclasses import MISSING, asdict, dataclass, field
from typing import Any

import pyrage
from pyrage import x25519

from cattle.errors import StoreError, VaultError
from cattle.secrets.keys import Identity
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
    cluster: str = ""  # the cluster that took it (retention touches only its env's and cluster's); "" before 26

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
        return time.time() - created_epoch(self.created)


CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ID_TIME_FORMAT = "%Y%m%dT%H%M%S"
CLOCK_SKEW = 300  # seconds a backup's clock may run ahead of this machine's before its date is a doubt


def created_epoch(created: str) -> float:
    """A manifest's `created` as seconds since the epoch; ValueError when it is not YYYY-MM-DDTHH:MM:SSZ."""
    return float(calendar.timegm(time.strptime(created, CREATED_FORMAT)))


def id_epoch(snapshot_id: str) -> float:
    """The time a snapshot id starts with (YYYYmmddTHHMMSS) as seconds since the epoch; ValueError otherwise."""
    return float(calendar.timegm(time.strptime(snapshot_id[:15], ID_TIME_FORMAT)))


def dated_in_the_future(manifest: Manifest, now: float) -> str | None:
    """Why a manifest's id or created time lies in the future (beyond CLOCK_SKEW), or None."""
    ahead = [f"{what} {value}" for what, value, epoch in (("id", manifest.id, id_epoch(manifest.id)),
                                                        ("created", manifest.created, created_epoch(manifest.created)))
             if epoch > now + CLOCK_SKEW]
    if not ahead:
        return None
    clock = time.strftime(CREATED_FORMAT, time.gmtime(now))
    return (f"dated in the future ({' and '.join(ahead)}; this machine's clock says {clock}): a copy given a "
            "wrong date, or a wrong clock")


def new_id() -> str:
    """Sortable by time, unique enough for concurrent writers."""
    now = time.time()
    micros = int(now * 1_000_000) % 1_000_000
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{micros:06d}Z-{random.token_hex(3)}"


RAFT_MEMBERS = ("meta.json", "state.bin")  # what every raft snapshot (a gzip'd tar) holds


def raft_problem(plaintext: bytes) -> str | None:
    """Why bytes are not an OpenBao raft snapshot (`bao operator raft snapshot save` writes a gzip'd tar holding
    meta.json and state.bin), or None when they look like one."""
    if not plaintext:
        return "the file is empty"
    if plaintext[:2] != b"\x1f\x8b":
        return "it is not gzip-compressed"
    try:
        with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:gz") as archive:
            names = archive.getnames()
    except (tarfile.TarError, OSError, EOFError) as exc:
        return f"it is not a readable gzip'd tar ({exc.__class__.__name__}: {exc})"
    missing = [m for m in RAFT_MEMBERS if m not in names]
    return f"it lacks {', '.join(missing)}" if missing else None


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


RECORD_SUFFIX = ".openbao-init.age"  # cattle.vault.setup's init records: accounted for, never restored
PENDING_SUFFIX = ".openbao-restore.age"  # cattle.vault.pending: unfinished restores, accounted for, never restored


@dataclass(frozen=True)
class Catalog:
    """What a Vault backup store holds for one environment, read once.

    `valid` are the env's readable manifests, oldest first. `unreadable` manifests (truncated, not JSON, missing
    fields, a malformed date, unreadable object) and `unaccounted` objects (snapshot data without a manifest,
    anything cattle did not write) are doubts: they never mean "no snapshot", and they block initialising a fresh
    OpenBao. `future` manifests (id or created time ahead of this machine's clock) are doubts that stop a restore
    of the newest snapshot: such a one would otherwise win "newest" for ever; only a named restore takes one.
    """

    store_url: str
    env: str
    valid: tuple[Manifest, ...] = ()
    foreign: tuple[Manifest, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    unaccounted: tuple[str, ...] = ()
    future: tuple[tuple[Manifest, str], ...] = ()
    undecryptable: tuple[tuple[Manifest, str], ...] = ()

    @property
    def newest(self) -> Manifest | None:
        return self.valid[-1] if self.valid else None

    @property
    def doubts(self) -> list[str]:
        """Every object that might be a backup cattle cannot use, each with the reason."""
        return ([f"{name}: unreadable manifest ({why})" for name, why in self.unreadable]
                + [f"{m.id}{MANIFEST_SUFFIX}: {why}" for m, why in self.future]
                + [f"{m.id}{MANIFEST_SUFFIX}: {why}" for m, why in self.undecryptable]
                + [f"{m.id}{MANIFEST_SUFFIX}: a snapshot of environment {m.env!r}"
                   f"{f' (cluster {m.cluster})' if m.cluster else ''}: this store is shared with another environment"
                   for m in self.foreign]
                + [f"{name}: {_unaccounted_reason(name)}" for name in self.unaccounted])

    def describe_doubts(self, limit: int = 5) -> str:
        found = self.doubts
        more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
        return "; ".join(found[:limit]) + more


def _unaccounted_reason(name: str) -> str:
    if name.endswith(SNAPSHOT_SUFFIX):
        return ("snapshot data without a manifest (an interrupted backup, or a copy made by hand: "
                "bring it in with vault.import)")
    return "not written by cattle"


def read_manifest(store: Store, name: str) -> Manifest:
    """One manifest object, checked to be whole: every field present and typed, its id matching its name."""
    try:
        data = store.get(name)
    except StoreError as exc:
        raise VaultError(f"manifest {name} cannot be read from {store.url}: {exc.message}") from exc
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise VaultError(f"manifest {name} is not valid JSON (truncated?): {exc}") from exc
    if not isinstance(raw, dict):
        raise VaultError(f"manifest {name} is not a JSON object")
    missing = [k for k, f in Manifest.__dataclass_fields__.items()
               if k not in raw and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise VaultError(f"manifest {name} lacks {', '.join(missing)} (truncated or not cattle's)")
    manifest = Manifest.from_json(data, name)
    if not isinstance(manifest.size, int) or not isinstance(manifest.sha256, str) or not manifest.sha256:
        raise VaultError(f"manifest {name} has no usable size/sha256")
    if manifest.id + MANIFEST_SUFFIX != name.rsplit("/", 1)[-1]:
        raise VaultError(f"manifest {name} names snapshot {manifest.id!r}, not the one it is stored as")
    if not isinstance(manifest.created, str) or not _parses(created_epoch, manifest.created):
        raise VaultError(f"manifest {name} has a malformed created time {manifest.created!r} (expected "
                         "YYYY-MM-DDTHH:MM:SSZ)")
    if not _parses(id_epoch, manifest.id):
        raise VaultError(f"manifest {name} has an id that does not start with its time (YYYYmmddTHHMMSS)")
    return manifest


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def scan(store: Store, env: str, now: float | None = None, keys: list[str] | None = None) -> Catalog:
    """Every object of the store sorted into valid, foreign, unreadable, future, undecryptable and unaccounted
    (`now`: this machine's clock unless given; `keys`: the public keys at hand, when given a snapshot encrypted for
    none of them is undecryptable, not valid).

    Listing the store must work: a StoreError (no credentials, DNS, 403, timeout) propagates, because an
    unreachable store is never an empty one.
    """
    names = store.keys()
    valid: list[Manifest] = []
    foreign: list[Manifest] = []
    unreadable: list[tuple[str, str]] = []
    future: list[tuple[Manifest, str]] = []
    undecryptable: list[tuple[Manifest, str]] = []
    clock = time.time() if now is None else now
    described: set[str] = set()
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        try:
            manifest = read_manifest(store, name)
        except VaultError as exc:
            unreadable.append((name, exc.message.removeprefix(f"manifest {name} ")))
            described.add(name[: -len(MANIFEST_SUFFIX)] + SNAPSHOT_SUFFIX)
            continue
        ahead = dated_in_the_future(manifest, clock)
        if manifest.env != env:
            foreign.append(manifest)
        elif ahead:
            future.append((manifest, ahead))
        elif keys is not None and not set(manifest.recipients) & set(keys):
            undecryptable.append((manifest, f"encrypted for {', '.join(manifest.recipients) or 'nobody'}, and no key "
                                            "on this machine is one of them"))
        else:
            valid.append(manifest)
        described.add(manifest.id + SNAPSHOT_SUFFIX)
    ours = (MANIFEST_SUFFIX, RECORD_SUFFIX, PENDING_SUFFIX)
    unaccounted = [n for n in names if not n.endswith(ours) and n not in described]
    return Catalog(store.url, env, tuple(sorted(valid, key=lambda m: m.id)), tuple(foreign), tuple(unreadable),
                   tuple(unaccounted), tuple(future), tuple(sorted(undecryptable, key=lambda u: u[0].id)))


def manifests(store: Store) -> list[Manifest]:
    """Every readable manifest in the store, of any environment, oldest first."""
    catalog = scan(store, "")
    return sorted([*catalog.valid, *catalog.foreign], key=lambda m: m.id)


def find(store: Store, env: str, snapshot: str = "latest", catalog: Catalog | None = None) -> Manifest:
    """One backup's manifest: the newest valid one of the environment, or exactly the one named.

    A named snapshot is read on its own, whatever else the store holds. For the newest, unreadable manifests are
    reported (console) and skipped; with no valid snapshot, doubts are an error of their own, never "none".
    """
    if snapshot != "latest":
        name = snapshot + MANIFEST_SUFFIX
        try:
            manifest = read_manifest(store, name)
        except VaultError as exc:
            raise VaultError(f"snapshot {snapshot!r} cannot be used: {exc.message}",
                             f"list the snapshots with: ./scripts/cattle vault.snapshots --env {env}") from exc
        if manifest.env != env:
            raise VaultError(f"snapshot {manifest.id} belongs to environment {manifest.env!r}, not {env!r}",
                             "restore a snapshot of the same environment")
        return manifest
    found = catalog or scan(store, env)
    if found.future:
        raise VaultError(f"{store.url} holds snapshots of {env} dated in the future: "
                         f"{'; '.join(f'{m.id}: {why}' for m, why in found.future)}; refusing to pick the newest",
                         "check this machine's clock; restore a snapshot by name with --snapshot ID (a "
                         "future-dated one too, if it is the right one), or remove the copy")
    if found.newest is None:
        if found.doubts:
            raise VaultError(f"no readable snapshot of {env} in {store.url}, but it holds objects cattle cannot "
                             f"use: {found.describe_doubts()}", "inspect the store; restore a named snapshot with "
                             "--snapshot ID, or bring a snapshot taken by hand in with vault.import")
        raise VaultError(f"no snapshot of environment {env!r} in {store.url}",
                         f"take one with: ./scripts/cattle vault.backup --env {env}")
    if found.doubts:
        from cattle import console

        console.say(f"warning: {store.url} holds objects cattle cannot use, skipped: {found.describe_doubts()}")
    return found.newest


HEADER_BYTES = 64 * 1024  # far more than an age header with a few recipients


def opens(store: Store, manifest: Manifest, identities: list[Identity]) -> str | None:
    """Why a snapshot's data does not open with the keys at hand, or None when it does: its age header is read (a
    ranged read, not the whole snapshot) and a file key unwrapped, so a manifest naming the right recipients over
    data encrypted for others is caught before a restore is planned."""
    try:
        head = store.head(manifest.id + SNAPSHOT_SUFFIX, HEADER_BYTES)
    except StoreError as exc:
        return f"its data cannot be read: {exc.message}"
    try:
        pyrage.decrypt(head, [x25519.Identity.from_str(i.secret) for i in identities])
    except pyrage.DecryptError as exc:
        if "No matching keys" in str(exc):
            return "its data is encrypted for no key on this machine (whatever its manifest says)"
    return None  # the header opened; the rest is checked against the manifest's checksums when it is restored


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


def prune(store: Store, env: str, keep: int, cluster: str = "") -> list[str]:
    """Delete all but the newest `keep` backups of the environment's cluster; returns the deleted ids. Only
    snapshots whose manifest names this environment and cluster are touched; doubts (another environment's
    snapshots, a future-dated one) are never deleted and never counted among the kept."""
    mine = [m for m in scan(store, env).valid if m.cluster == cluster]
    doomed = mine[:-keep] if keep > 0 else []
    for manifest in doomed:
        store.delete(manifest.id + MANIFEST_SUFFIX)
        store.delete(manifest.id + SNAPSHOT_SUFFIX)
    return [m.id for m in doomed]
