"""Vault operations for one environment as the tasks run them: backup, restore, and the no-cluster drill
(`vault.verify`: restore the latest snapshot into a throwaway local OpenBao and check it)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from hvac.exceptions import VaultError as HvacError

from cattle import keys, snapshots, sopsconfig, vault, vaultinit
from cattle.baoserver import BaoServer
from cattle.env import Environment
from cattle.errors import VaultError, VaultInUse
from cattle.stores import Store, open_store

STORE_VARIABLE = "CATTLE_VAULT_STORE"


def store_for(env: Environment, url: str | None = None) -> Store:
    """The environment's Vault backup store: --store, $CATTLE_VAULT_STORE, else its environment file."""
    return open_store(url or os.environ.get(STORE_VARIABLE) or env.backups.vault_store, env.root)


def address(addr: str | None) -> str:
    found = addr or os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR")
    if not found:
        raise VaultError("no OpenBao address", "pass --addr or set VAULT_ADDR (e.g. a port-forward to openbao:8200)")
    return found


def backup(env: Environment, addr: str | None = None, store_url: str | None = None) -> snapshots.Manifest:
    root = env.root
    return vault.backup(address(addr), env.name, store_for(env, store_url),
                        sopsconfig.required_recipients(root, env.name), vault.seal_material(root, env.name),
                        vault.backup_login(root, env.name), env.backups.keep)


def restore(env: Environment, addr: str | None = None, store_url: str | None = None, snapshot: str = "latest",
            force: bool = False, token: str | None = None) -> vault.RestoreReport:
    root = env.root
    return vault.restore(address(addr), env.name, store_for(env, store_url), keys.candidate_identities(env.name),
                         vault.seal_material(root, env.name), vault.backup_login(root, env.name), snapshot,
                         token or os.environ.get("VAULT_TOKEN"), force)


def verify(env: Environment, store_url: str | None = None, snapshot: str = "latest",
           workdir: Path | None = None) -> vault.RestoreReport:
    """Restore into a throwaway OpenBao on 127.0.0.1 started with the env's seal key; stop and wipe it after."""
    seal = vault.seal_material(env.root, env.name)
    store, identities = store_for(env, store_url), keys.candidate_identities(env.name)
    with BaoServer(seal.key_hex, seal.key_id, directory=workdir) as server:
        report = vault.restore(server.addr, env.name, store, identities, seal, vault.backup_login(env.root, env.name),
                               snapshot)
        return replace(report, root_access=_root_access(server.addr, store, env.name, identities, report.snapshot))


def _root_access(addr: str, store: Store, env: str, identities: list[keys.Identity], snapshot: str) -> str:
    """Whether the init record that applies to the snapshot still opens it as root (custody of root access)."""
    record = vaultinit.find(store, env, identities, before=snapshot)
    if record is None:
        return "no init record in the store: root access to this snapshot is not in cattle's custody"
    try:
        vault.client(addr, record.root_token).auth.token.lookup_self()
    except HvacError as exc:
        raise VaultError(f"the root token of init record {record.name} does not open snapshot {snapshot} "
                         f"({exc.__class__.__name__})", "someone revoked it: create a new root token with the "
                         "recovery key (bao operator generate-root) and keep it") from exc
    return f"root token of init record {record.name} works"


def empty_refusal(env: Environment, store_url: str) -> tuple[str, str]:
    """Why a protected env does not start with an empty OpenBao, and what to do (message, hint)."""
    return (f"no Vault snapshot of {env.name} in {store_url}: refusing to start {env.name} with an empty OpenBao",
            "check the store and its credentials (AWS_*), or pass --allow-empty-vault for a brand-new environment")


def bring_up(env: Environment, addr: str, allow_empty: bool = False, kubernetes_ca_cert: str | None = None) -> str:
    """Make the env's OpenBao serve the platform; returns what was done (never a secret).

    The newest snapshot is restored when the store has one; otherwise a fresh OpenBao is initialised (its init
    record kept in the store, cattle.vaultinit) and snapshotted at once, so the next rebuild restores it. Either way
    the platform's configuration (external-secrets' Kubernetes auth) is ensured with the root token of the record
    that applies. A protected env never starts with an empty OpenBao unless `allow_empty`.
    """
    store = store_for(env)
    identities = keys.candidate_identities(env.name)
    try:
        latest: str | None = snapshots.find(store, env.name).id
    except VaultError:
        latest = None
    live = vault.health(addr) != 501  # initialised before this run: a re-run on a serving env must not break it
    if latest is not None:
        try:
            report = restore(env, addr, snapshot=latest)
        except VaultInUse:
            if not live:
                raise
            done = f"OpenBao was already serving and holds other data than snapshot {latest}: left as it is"
            record = vaultinit.find(store, env.name, identities)
        else:
            state = "already restored" if report.already_restored else "restored"
            done = f"Vault snapshot {report.snapshot} {state}; {vault.describe_counts(report.counts)}"
            record = vaultinit.find(store, env.name, identities, before=report.snapshot)
    elif not live:
        if env.protected and not allow_empty:
            raise VaultError(*empty_refusal(env, store.url))
        record = vaultinit.initialise(addr, env.name, store, sopsconfig.required_recipients(env.root, env.name),
                                      vault.backup_login(env.root, env.name), kubernetes_ca_cert)
        first = backup(env, addr)
        return (f"no Vault snapshot in {store.url}: initialised a fresh OpenBao (init record {record.name} kept "
                f"there, encrypted), configured it for the platform, first snapshot {first.id}")
    else:
        done = f"OpenBao is initialised and {store.url} holds no snapshot of it yet"
        record = vaultinit.find(store, env.name, identities)
    if record is None:
        return done + "; no init record in the store, so the platform configuration was not checked"
    try:
        root = vault.client(addr, record.root_token)
        vault.configure(root, vault.backup_login(env.root, env.name))
        vaultinit.configure_platform(root, kubernetes_ca_cert)
    except HvacError as exc:
        return done + f"; platform configuration not ensured (init record {record.name}: {exc.__class__.__name__})"
    if latest is None:  # e.g. a run that initialised OpenBao and stopped before its first snapshot
        done += f"; first snapshot {backup(env, addr).id}"
    return done + "; platform configuration ensured"
