"""Vault operations for one environment as the tasks run them: backup, restore, and the no-cluster drill
(`vault.verify`: restore the latest snapshot into a throwaway local OpenBao and check it)."""

from __future__ import annotations

import os
from pathlib import Path

from cattle import keys, snapshots, sopsconfig, vault
from cattle.baoserver import BaoServer
from cattle.env import Environment
from cattle.errors import VaultError
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
    with BaoServer(seal.key_hex, seal.key_id, directory=workdir) as server:
        return vault.restore(server.addr, env.name, store_for(env, store_url), keys.candidate_identities(env.name),
                             seal, vault.backup_login(env.root, env.name), snapshot)
