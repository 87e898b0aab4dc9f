"""Vault operations for one environment as the tasks run them: backup, restore, and the no-cluster drill
(`vault.verify`: restore the latest snapshot into a throwaway local OpenBao and check it)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hvac.exceptions import VaultError as HvacError

from cattle.env import Environment
from cattle.errors import StoreError, VaultError, VaultInUse
from cattle.secrets import keys, sopsconfig
from cattle.stores import Store, open_store
from cattle.vault import openbao as vault
from cattle.vault import setup as vaultinit
from cattle.vault import snapshots
from cattle.vault.server import BaoServer

STORE_VARIABLE = "CATTLE_VAULT_STORE"


def store_for(env: Environment, url: str | None = None) -> Store:
    """The environment's Vault backup store: --store, $CATTLE_VAULT_STORE, else its environment file."""
    return open_store(url or os.environ.get(STORE_VARIABLE) or env.backups.vault_store, env.root)


def address(addr: str | None) -> str:
    found = addr or os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR")
    if not found:
        raise VaultError("no OpenBao address",
                         "pass --vault-addr or set VAULT_ADDR (e.g. a port-forward to openbao:8200)")
    return found


def configure(env: Environment, addr: str | None, token: str | None, kubernetes_ca: Path | None) -> str:
    """Set up an OpenBao for cattle (backup login, policy, canary mount) and the platform (external-secrets'
    Kubernetes auth); every missing prerequisite is named before anything is written."""
    server = address(addr)
    token = token or os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")
    missing = []
    if not token:
        missing.append("a root token (--token, $VAULT_TOKEN or $BAO_TOKEN; after bootstrap it is in the init "
                       "record <env>.<id>.openbao-init.age in the Vault store, age-encrypted)")
    ca_text = None
    if kubernetes_ca is not None:
        try:
            ca_text = kubernetes_ca.read_text()
        except OSError as exc:
            missing.append(f"the cluster CA file {kubernetes_ca} ({exc.strerror})")
    code = vault.health(server)
    if code == 501:
        missing.append(f"an initialised OpenBao at {server} (it is not initialised: bootstrap does that, or "
                       "bao operator init)")
    elif code == 503:
        missing.append(f"an unsealed OpenBao at {server} (it is sealed: start it with {env.name}'s seal key)")
    elif code == 429:
        missing.append(f"the active node ({server} is a standby: use svc/openbao-active)")
    if missing:
        raise VaultError(f"cannot configure OpenBao for {env.name}; missing: " + "; ".join(missing))
    client = vault.client(server, token)
    try:
        vault.configure(client, vault.backup_login(env.root, env.name))
        vaultinit.configure_platform(client, ca_text)
    except HvacError as exc:
        reason = str(exc).splitlines()[0][:200]
        if "permission denied" in reason:
            raise VaultError(f"the token given to {server} may not configure it (permission denied)",
                             "use a root token: it needs sudo on sys/auth, sys/mounts and sys/policy") from exc
        if "serviceaccount/ca.crt" in reason and kubernetes_ca is None:  # an OpenBao outside the cluster
            raise VaultError(f"OpenBao at {server} runs outside a Kubernetes pod, so it has no cluster CA of its "
                             f"own to read ({reason})",
                             "pass --kubernetes-ca FILE with the cluster's CA, e.g. from `kubectl get configmap "
                             "kube-root-ca.crt -n kube-public -o jsonpath='{.data.ca\\.crt}' > ca.pem`; the backup "
                             "login and policy are already set (a re-run is safe)") from exc
        raise VaultError(f"OpenBao at {server} refused the configuration: {exc.__class__.__name__}: {reason}",
                         "use a root token (--token or VAULT_TOKEN)") from exc
    return server


def backup(env: Environment, addr: str | None = None, store_url: str | None = None) -> snapshots.Manifest:
    root = env.root
    return vault.backup(address(addr), env.name, store_for(env, store_url),
                        sopsconfig.required_recipients(root, env.name), vault.seal_material(root, env.name),
                        vault.backup_login(root, env.name), env.backups.keep, env.cluster_name)


def restore(env: Environment, addr: str | None = None, store_url: str | None = None, snapshot: str = "latest",
            force: bool = False, token: str | None = None,
            restart_active: Callable[[], str] | None = None,
            restart_nodes: Callable[[list[str]], str] | None = None) -> vault.RestoreReport:
    root = env.root
    return vault.restore(address(addr), env.name, store_for(env, store_url), keys.decryption_identities(env.name),
                         vault.seal_material(root, env.name), vault.backup_login(root, env.name), snapshot,
                         token or os.environ.get("VAULT_TOKEN"), force,
                         recipients=sopsconfig.required_recipients(root, env.name), restart_active=restart_active,
                         restart_nodes=restart_nodes)


def verify(env: Environment, store_url: str | None = None, snapshot: str = "latest",
           workdir: Path | None = None) -> vault.RestoreReport:
    """Restore into a throwaway OpenBao on 127.0.0.1 started with the env's seal key; stop and wipe it after."""
    seal = vault.seal_material(env.root, env.name)
    store, identities = store_for(env, store_url), keys.decryption_identities(env.name)
    with BaoServer(seal.key_hex, seal.key_id, directory=workdir) as server:
        report = vault.restore(server.addr, env.name, store, identities, seal, vault.backup_login(env.root, env.name),
                               snapshot, keep_pending=False)  # a throwaway server: nothing to resume
        return replace(report, root_access=_root_access(server.addr, store, env.name, identities, report.snapshot))


def import_snapshot(env: Environment, path: Path, store_url: str | None = None,
                    workdir: Path | None = None) -> snapshots.Manifest:
    """Bring a snapshot taken without cattle (`bao operator raft snapshot save`) into the env's store.

    It is first restored into a throwaway OpenBao on 127.0.0.1 with the env's seal key: that proves it opens
    with this env's seal and backup login, and counts what it holds. Then it is written age-encrypted with a
    manifest (no canary: a restore verifies it by those counts).
    """
    try:
        plaintext = path.read_bytes()
    except OSError as exc:
        raise VaultError(f"cannot read {path}: {exc.strerror}", "pass the file `bao operator raft snapshot save` "
                         "wrote") from exc
    problem = snapshots.raft_problem(plaintext)
    if problem:
        raise VaultError(f"{path} is not an OpenBao raft snapshot: {problem}",
                         "pass the file `bao operator raft snapshot save` wrote on the environment's OpenBao; "
                         "nothing was imported")
    seal, credentials = vault.seal_material(env.root, env.name), vault.backup_login(env.root, env.name)
    with BaoServer(seal.key_hex, seal.key_id, directory=workdir) as server:
        token = vault.initialise_fresh(server.addr)
        try:
            vault.apply_snapshot(server.addr, token, plaintext, path.name,
                                 lambda: vault.applied_login(server.addr, credentials), timeout=60)
        except VaultError as exc:
            raise VaultError(f"{path} does not restore with {env.name}'s seal key and backup login: {exc.message}",
                             f"import only snapshots of {env.name}'s OpenBao (configured by cattle: "
                             "vault.configure)") from exc
        counts = vault.inventory(vault.login(server.addr, credentials))
    recipients = sopsconfig.required_recipients(env.root, env.name)
    blob = snapshots.encrypt(plaintext, recipients)
    snapshot_id = snapshots.new_id()
    manifest = snapshots.Manifest(
        id=snapshot_id, env=env.name, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        openbao_version="unknown (imported)", size=len(blob), sha256=snapshots.sha256(blob),
        snapshot_sha256=snapshots.sha256(plaintext), recipients=recipients, seal_key_id=seal.key_id,
        seal_key_fingerprint=seal.fingerprint, canary="", counts=counts, cluster=env.cluster_name)
    snapshots.save(store_for(env, store_url), manifest, blob)
    return manifest


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


@dataclass(frozen=True)
class VaultDecision:
    """What bootstrap does with the env's OpenBao: restore one snapshot, initialise a fresh one, or refuse."""

    action: str  # restore | initialise | refuse
    store_url: str
    reason: str
    snapshot: str | None = None
    hint: str | None = None


def empty_refusal(env: Environment, store_url: str) -> tuple[str, str]:
    """Why a protected env does not start with an empty OpenBao, and what to do (message, hint)."""
    return (f"no Vault snapshot of {env.name} in {store_url}: refusing to start {env.name} with an empty OpenBao",
            "check the store and its credentials (AWS_*), or pass --allow-empty-vault for a brand-new environment")


def decide(env: Environment, catalog: snapshots.Catalog | None, store_url: str, *, store_error: str | None = None,
           allow_empty: bool = False, snapshot: str = "latest", named: snapshots.Manifest | None = None,
           named_error: str | None = None) -> VaultDecision:
    """The Vault decision from what the store holds; pure, so every mix of store contents can be tested.

    Restore the named snapshot, else the newest valid one. Initialise only from a store that is reachable and
    holds nothing of the env that cattle cannot account for, and for a protected env only with `allow_empty`.
    """
    if store_error is not None:
        return VaultDecision("refuse", store_url, f"cannot read the Vault backup store {store_url}: {store_error}",
                             hint="fix access to the store (credentials AWS_*, AWS_ENDPOINT_URL, network); an "
                             "unreachable store is never taken for an empty one")
    if snapshot != "latest":
        if named is None:
            return VaultDecision("refuse", store_url, named_error or f"snapshot {snapshot!r} not found",
                                 hint=f"list them with: ./scripts/cattle vault.snapshots --env {env.name}")
        return VaultDecision("restore", store_url, f"restore the named snapshot {named.id}", named.id)
    assert catalog is not None
    newer = [m for m, _ in catalog.undecryptable if catalog.newest is None or m.id > catalog.newest.id]
    if newer:
        return VaultDecision("refuse", store_url, f"the newest Vault snapshot of {env.name} in {store_url} cannot be "
                             "decrypted with the keys on this machine: "
                             f"{'; '.join(f'{m.id}: {why}' for m, why in catalog.undecryptable if m in newer)}; "
                             "refusing to restore an older one in its place",
                             hint=f"get the key it is encrypted for from custody (docs/secrets.md; a key a rotation "
                             f"replaced is kept as {env.name}.txt.rotated-<time> beside the current one), or restore "
                             "an older snapshot by name with --snapshot ID")
    if catalog.future:
        return VaultDecision("refuse", store_url, f"{store_url} holds snapshots of {env.name} dated in the future: "
                             f"{'; '.join(f'{m.id}: {why}' for m, why in catalog.future)}; refusing to pick the "
                             "newest snapshot",
                             hint="check this machine's clock; restore one by name with --snapshot ID (a "
                             "future-dated one too, if it is the right one), or remove the copy from the store")
    if catalog.newest is not None:
        skipped = f" (skipped, unusable: {catalog.describe_doubts()})" if catalog.doubts else ""
        return VaultDecision("restore", store_url, f"restore the newest Vault snapshot {catalog.newest.id}{skipped}",
                             catalog.newest.id)
    if catalog.doubts and not allow_empty:
        return VaultDecision("refuse", store_url, f"no usable Vault snapshot of {env.name} in {store_url}, but it "
                             f"holds objects cattle cannot account for: {catalog.describe_doubts()}; refusing to "
                             "initialise a fresh OpenBao over them",
                             hint="inspect the store: repair or remove what is named (a snapshot taken by hand comes "
                             "in with vault.import), restore one with --snapshot ID, or pass --allow-empty-vault to "
                             "start empty anyway (the objects are left untouched)")
    if env.protected and not allow_empty:
        message, hint = empty_refusal(env, store_url)
        return VaultDecision("refuse", store_url, message, hint=hint)
    return VaultDecision("initialise", store_url, f"no Vault snapshot in {store_url}, so initialise a fresh OpenBao")


def plan_vault(env: Environment, allow_empty: bool = False, snapshot: str = "latest",
               store: Store | None = None, identities: list[keys.Identity] | None = None) -> VaultDecision:
    """Read the env's Vault store once and decide (see `decide`); a snapshot encrypted for none of `identities`
    (default: every key this machine holds for the env, rotated-away ones included) is never picked."""
    store = store or store_for(env)
    at_hand = keys.decryption_identities(env.name) if identities is None else identities
    held = [i.public for i in at_hand]
    if snapshot != "latest":
        try:
            named = snapshots.find(store, env.name, snapshot)
        except VaultError as exc:
            return decide(env, None, store.url, snapshot=snapshot, named_error=exc.message)
        except StoreError as exc:
            return decide(env, None, store.url, store_error=exc.message)
        if not set(named.recipients) & set(held):
            return decide(env, None, store.url, snapshot=snapshot,
                          named_error=f"snapshot {named.id} is encrypted for {', '.join(named.recipients)}, and no "
                          "key on this machine is one of them: get that key from custody (docs/secrets.md)")
        why = snapshots.opens(store, named, at_hand)
        if why is not None:
            return decide(env, None, store.url, snapshot=snapshot, named_error=f"snapshot {named.id}: {why}")
        return decide(env, None, store.url, snapshot=snapshot, named=named)
    try:
        catalog = snapshots.scan(store, env.name, keys=held)
    except StoreError as exc:
        return decide(env, None, store.url, store_error=exc.message)
    newest = catalog.newest
    if newest is not None:
        why = snapshots.opens(store, newest, at_hand)
        if why is not None:  # never planned: the restore would fail after the cluster was made
            catalog = replace(catalog, valid=catalog.valid[:-1],
                              undecryptable=tuple(sorted([*catalog.undecryptable, (newest, why)],
                                                         key=lambda u: u[0].id)))
    return decide(env, catalog, store.url, allow_empty=allow_empty)


def bring_up(env: Environment, addr: str, decision: VaultDecision, kubernetes_ca_cert: str | None = None,
             restart_active: Callable[[], str] | None = None,
             restart_nodes: Callable[[list[str]], str] | None = None) -> str:
    """Make the env's OpenBao serve the platform as decided; returns what was done (never a secret).

    The decided snapshot is restored; or a fresh OpenBao is initialised (its init record kept in the store,
    cattle.vault.setup) and snapshotted at once, so the next rebuild restores it. Either way the platform's
    configuration (external-secrets' Kubernetes auth) is ensured with the root token of the record that applies.
    `restart_active` restarts the active node after a restore (a cluster of several nodes, cattle.vault.raftpeers),
    `restart_nodes` the followers still behind after that.
    """
    if decision.action == "refuse":
        raise VaultError(decision.reason, decision.hint)
    store = store_for(env)
    identities = keys.decryption_identities(env.name)
    latest = decision.snapshot
    live = vault.health(addr) != 501  # initialised before this run: a re-run on a serving env must not break it
    if latest is not None:
        try:
            report = restore(env, addr, snapshot=latest, restart_active=restart_active, restart_nodes=restart_nodes)
            addr = report.addr or addr  # the active node may answer elsewhere after a restart
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
