"""Restores that have not finished: what cattle keeps so that an interrupted or refused restore can be resumed.

Restoring onto a fresh OpenBao first initialises it, which hands out a throwaway root token. The snapshot then
replaces everything, that token included; until it has, the token is the only way into the server. So before the
server is initialised cattle writes a record `<env>.<id>.openbao-restore.age` to the env's Vault store
(age-encrypted like the snapshots), and rewrites it with the token as soon as the server answers. A re-run that
finds an initialised server opening with a record's token knows it is cattle's own, unfinished restore (never a
server "in use") and finishes it. The record is deleted once a restore onto that server is verified.

A record without a token means the run stopped while OpenBao was being initialised (a crash, SIGKILL or a lost
answer): no server can be matched to it, so a re-run against an initialised server stops and says what to do.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from types import FrameType

from cattle.errors import StoreError, VaultError
from cattle.secrets.keys import Identity
from cattle.stores import Store
from cattle.vault import snapshots

SUFFIX = snapshots.PENDING_SUFFIX


@dataclass(frozen=True)
class PendingRestore:
    """One unfinished restore: which snapshot, when, and (once the server answered) its throwaway root token."""

    id: str
    env: str
    snapshot: str
    created: str
    root_token: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        return f"{self.env}.{self.id}{SUFFIX}"


def new(env: str, snapshot: str) -> PendingRestore:
    return PendingRestore(snapshots.new_id(), env, snapshot, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def save(store: Store, record: PendingRestore, recipients: list[str]) -> None:
    try:
        store.put(record.name, snapshots.encrypt(json.dumps(asdict(record)).encode(), recipients))
    except StoreError as exc:
        raise VaultError(f"cannot keep the restore record {record.name} in {store.url}: {exc.message}",
                         "a restore onto a fresh OpenBao keeps its throwaway root token in the Vault store until "
                         "the restore is verified: fix write access to the store and run it again") from exc


def delete(store: Store, record: PendingRestore) -> None:
    store.delete(record.name)


def all_of(store: Store, env: str, identities: list[Identity]) -> list[PendingRestore]:
    """Every unfinished restore of the env, oldest first."""
    prefix = f"{env}."
    found = []
    for name in sorted(n for n in store.names() if n.startswith(prefix) and n.endswith(SUFFIX)):
        plaintext = snapshots.decrypt(store.get(name), identities, name)
        try:
            found.append(PendingRestore(**json.loads(plaintext)))
        except (ValueError, TypeError) as exc:
            raise VaultError(f"restore record {name} in {store.url} is unreadable: {exc}",
                             "inspect it; delete it only when no OpenBao is waiting for that restore") from exc
    return found


def with_token(record: PendingRestore, token: str) -> PendingRestore:
    return replace(record, root_token=token)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back while a step that must not be cut in two runs (initialise a server and
    keep its token), then acted on. In a thread other than the main one signals cannot be handled: runs as is."""
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    try:
        previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for signum in caught[:1]:
            signal.raise_signal(signum)
