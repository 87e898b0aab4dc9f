"""OpenBao state across total loss: encrypted raft snapshots, restore onto a fresh server, verification.

The seal is OpenBao's `static` seal: its key lives SOPS-encrypted in secrets/<env>/openbao-seal-key.secret.yaml.
A snapshot restores only onto a server started with the same key and key id; the server's own check (the
non-force restore endpoint) refuses anything else and leaves the target untouched.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest
from hvac.exceptions import VaultError as HvacError

from cattle import console, yamlio
from cattle.errors import VaultError, VaultInUse
from cattle.secrets import keys, sopsconfig, sopsfile
from cattle.secrets.keys import Identity
from cattle.stores import Store
from cattle.vault import pending, raftpeers, snapshots

SEAL_KEY_ID = "cattle-seal-1"
CANARY_MOUNT = "cattle"
CANARY_PATH = "canary"
BACKUP_POLICY = "cattle-backup"
BACKUP_POLICY_HCL = """
path "sys/storage/raft/snapshot" { capabilities = ["read"] }
path "sys/storage/raft/autopilot/state" { capabilities = ["read"] }
path "cattle/data/canary" { capabilities = ["create", "update", "read"] }
path "sys/mounts" { capabilities = ["read"] }
path "sys/auth" { capabilities = ["read"] }
path "sys/policies/acl" { capabilities = ["list"] }
path "+/metadata/*" { capabilities = ["list"] }
path "+/*" { capabilities = ["list"] }
"""
# No standbyok: a standby must not pass for the active node (it answers 500 "local node not active" to writes).
HEALTH = "/v1/sys/health?uninitcode=501&sealedcode=503&standbycode=429&perfstandbycode=429"


@dataclass(frozen=True)
class SealMaterial:
    """The static seal key of an environment (hex) and its id."""

    key_hex: str = field(repr=False)
    key_id: str = SEAL_KEY_ID

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.key_hex)).hexdigest()[:16]


@dataclass(frozen=True)
class Login:
    """The userpass login the backup job and restore verification use."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    snapshot: str
    env: str
    created: str
    seconds: float
    counts: dict[str, int]
    already_restored: bool = False
    initialised_target: bool = False
    root_access: str = ""  # what vault.verify found about the init record's root token (cattle.vault.setup)
    addr: str = ""  # where the active node answers after the restore (it moves when the node was restarted)


def _secret_values(root: Path, env: str, name: str) -> dict[str, str]:
    relpath = Path("secrets") / env / f"{name}{sopsconfig.SECRET_SUFFIX}"
    identities = keys.candidate_identities(env)
    if not identities:
        keys.require_identity(env)
    doc = yamlio.load(sopsfile.decrypt(root, relpath, identities), str(relpath))
    return {str(k): str(v) for k, v in (doc.get("stringData") or {}).items()}


def seal_material(root: Path, env: str) -> SealMaterial:
    """The environment's seal key, decrypted from its SOPS file."""
    return SealMaterial(_secret_values(root, env, "openbao-seal-key")["key"])


def backup_login(root: Path, env: str) -> Login:
    values = _secret_values(root, env, "openbao-backup")
    return Login(values["username"], values["password"])


def health(addr: str) -> int:
    """The server's health code: 200 active, 429 standby, 501 uninitialised, 503 sealed, 500 busy."""
    from cattle.vault import server

    try:
        return requests.get(addr + HEALTH, timeout=5).status_code
    except requests.RequestException as exc:
        dead = server.exited(addr)
        if dead is not None:  # not the address's fault: nobody set VAULT_ADDR for cattle's own server
            raise VaultError(dead, "run the command again; if the server exits again, its log above says why") from exc
        raise VaultError(f"OpenBao at {addr} is unreachable: {exc.__class__.__name__}",
                         "check the address (VAULT_ADDR / --vault-addr) and that the server runs") from exc


def _alive(addr: str) -> None:
    """A VaultError at once when `addr` is a server cattle started that has exited (no poll to the deadline)."""
    from cattle.vault import server

    dead = server.exited(addr)
    if dead is not None:
        raise VaultError(dead, "run the command again; if the server exits again, its log above says why")


def wait_active(addr: str, timeout: float = 60) -> None:
    """Wait until the server is the active node (after init a raft node is briefly a standby)."""
    deadline = time.monotonic() + timeout
    code = 0
    while time.monotonic() < deadline:
        _alive(addr)
        code = health(addr)
        if code == 200:
            return
        time.sleep(0.2)
    raise VaultError(f"OpenBao at {addr} did not become active within {timeout:.0f}s (health {code})")


def wait_ready(addr: str, timeout: float, accept: tuple[int, ...] = (200, 501)) -> int:
    """Wait until a server answers one of `accept` (default: active or waiting for initialisation)."""
    deadline = time.monotonic() + timeout
    code = 0
    while time.monotonic() < deadline:
        try:
            code = health(addr)
        except VaultError:
            code = 0
        if code in accept:
            return code
        time.sleep(1)
    raise VaultError(f"OpenBao at {addr} did not come up within {timeout:.0f}s (health {code})",
                     "kubectl -n openbao get pods; kubectl -n openbao logs openbao-0")


def client(addr: str, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=addr, token=token, timeout=30)


def login(addr: str, credentials: Login) -> hvac.Client:
    """A client logged in with the backup identity."""
    c = client(addr)
    try:
        c.auth.userpass.login(credentials.username, credentials.password)
    except (Forbidden, InvalidRequest, InvalidPath) as exc:
        raise VaultError(f"login as {credentials.username} at {addr} failed: {exc}",
                         "run ./scripts/cattle vault.configure once with a root token") from exc
    return c


def retry_upgrading(action: Any, timeout: float = 15) -> Any:
    """Run an action, retrying while a just-enabled KV v2 mount is still upgrading."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except InvalidRequest as exc:
            if "Upgrading from non-versioned to versioned" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def configure(c: hvac.Client, credentials: Login) -> None:
    """Idempotently create what backups need: the canary KV mount, the policy and the userpass login."""
    mounts = c.sys.list_mounted_secrets_engines()["data"]
    if f"{CANARY_MOUNT}/" not in mounts:
        c.sys.enable_secrets_engine("kv", path=CANARY_MOUNT, options={"version": "2"})
        retry_upgrading(lambda: c.secrets.kv.v2.read_configuration(mount_point=CANARY_MOUNT))
    if "userpass/" not in c.sys.list_auth_methods()["data"]:
        c.sys.enable_auth_method("userpass")
    c.sys.create_or_update_acl_policy(BACKUP_POLICY, BACKUP_POLICY_HCL)
    c.auth.userpass.create_or_update_user(credentials.username, credentials.password, policies=[BACKUP_POLICY])


def _list_kv(c: hvac.Client, mount: str, version: str, path: str = "") -> int:
    api = c.secrets.kv.v2 if version == "2" else c.secrets.kv.v1
    try:
        listing = api.list_secrets(path=path, mount_point=mount)
    except InvalidPath:
        return 0
    total = 0
    for key in listing["data"]["keys"]:
        total += _list_kv(c, mount, version, path + key) if key.endswith("/") else 1
    return total


def inventory(c: hvac.Client) -> dict[str, int]:
    """How many KV secrets, secret engines, auth methods and ACL policies a server holds."""
    mounts = c.sys.list_mounted_secrets_engines()["data"]
    secrets_total = 0
    for path, mount in mounts.items():
        if isinstance(mount, dict) and mount.get("type") == "kv":
            version = str((mount.get("options") or {}).get("version", "1"))
            secrets_total += _list_kv(c, path.rstrip("/"), version)
    engines = [p for p, m in mounts.items() if isinstance(m, dict) and m.get("type") not in
               ("system", "identity", "cubbyhole")]
    return {"kv_secrets": secrets_total, "secret_engines": len(engines),
            "auth_methods": len(c.sys.list_auth_methods()["data"]),
            "policies": len(c.sys.list_acl_policies()["data"]["keys"])}


def _version(addr: str) -> str:
    try:
        return str(requests.get(addr + HEALTH, timeout=5).json().get("version", "unknown"))
    except (requests.RequestException, ValueError):
        return "unknown"


def backup(addr: str, env: str, store: Store, recipients: list[str], seal: SealMaterial, credentials: Login,
           keep: int, cluster: str = "", attempts: int = 5) -> snapshots.Manifest:
    """Write a canary, snapshot the raft storage, encrypt it for the env's recipients and store it.

    Concurrent backups (a second vault.backup, the CronJob) write the same canary: a snapshot is kept only when the
    canary still holds this run's version after the snapshot was taken (nobody wrote it in between, so the snapshot
    holds this run's canary); otherwise the canary is written and the snapshot taken again, `attempts` times."""
    c = login(addr, credentials)
    snapshot_id = snapshots.new_id()
    for _ in range(attempts):
        written = retry_upgrading(lambda: c.secrets.kv.v2.create_or_update_secret(
            path=CANARY_PATH, mount_point=CANARY_MOUNT, secret={"snapshot": snapshot_id, "env": env}))
        version = written["data"]["version"]
        counts = inventory(c)
        try:
            response = c.sys.take_raft_snapshot()
        except HvacError as exc:
            raise VaultError(f"OpenBao refused the snapshot: {exc}", "the backup identity needs policy "
                             f"{BACKUP_POLICY} (./scripts/cattle vault.configure)") from exc
        now = c.secrets.kv.v2.read_secret_version(path=CANARY_PATH, mount_point=CANARY_MOUNT,
                                                  raise_on_deleted_version=True)
        if now["data"]["metadata"]["version"] == version:
            break
        console.say(f"another backup wrote the canary while snapshot {snapshot_id} was taken: taking it again")
    else:
        raise VaultError(f"OpenBao at {addr}: another backup wrote the canary during each of {attempts} attempts "
                         f"to take snapshot {snapshot_id}; nothing was stored",
                         "run the backup again once the other backups (vault.backup, the CronJob) have finished")
    plaintext = bytes(response.content)
    blob = snapshots.encrypt(plaintext, recipients)
    manifest = snapshots.Manifest(
        id=snapshot_id, env=env, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        openbao_version=_version(c.url), size=len(blob), sha256=snapshots.sha256(blob),
        snapshot_sha256=snapshots.sha256(plaintext), recipients=recipients, seal_key_id=seal.key_id,
        seal_key_fingerprint=seal.fingerprint, canary=snapshot_id, counts=counts, cluster=cluster)
    snapshots.save(store, manifest, blob)
    snapshots.prune(store, env, keep, cluster)
    return manifest


def _canary(addr: str, credentials: Login) -> str | None:
    try:
        c = login(addr, credentials)
        data = c.secrets.kv.v2.read_secret_version(path=CANARY_PATH, mount_point=CANARY_MOUNT,
                                                   raise_on_deleted_version=True)
        return str(data["data"]["data"].get("snapshot"))
    except (VaultError, HvacError, requests.RequestException):
        return None


def _applied(addr: str, credentials: Login, canary: str, counts: dict[str, int]) -> bool:
    """Whether a restore took effect: cattle's canary is back, or (a snapshot taken without cattle, brought in
    with vault.import) the backup login works and the server holds what the manifest counted."""
    if canary:
        return _canary(addr, credentials) == canary
    try:
        logged_in = login(addr, credentials)  # fails until the snapshot (which holds the login) has applied
        return not counts or inventory(logged_in) == counts
    except (VaultError, HvacError, requests.RequestException):
        return False


def applied_login(addr: str, credentials: Login) -> bool:
    """Whether the backup login works (a snapshot holding it has applied)."""
    return _applied(addr, credentials, "", {})


def apply_snapshot(addr: str, token: str | None, plaintext: bytes, label: str, applied: Any,
                   timeout: float = 120, fresh: bool = False) -> None:
    """Hand a raft snapshot to the server and wait until `applied()` says it took effect, then for the active node.

    `fresh`: the server was initialised just to receive this snapshot (it held nothing before)."""
    with console.step(f"restoring snapshot {label} ({len(plaintext)} bytes)"):
        try:
            client(addr, token).sys.restore_raft_snapshot(plaintext)
        except InvalidRequest as exc:
            left = "nothing was restored" if fresh else "the target was left as it was"
            raise VaultError(f"OpenBao refused snapshot {label}: {exc}; {left}",
                             "the snapshot was sealed with another seal key than this server's: start the "
                             "server with the seal key of the cluster that took it") from exc
        except HvacError as exc:  # e.g. 500 "failed to decompress snapshot": not a raft snapshot at all
            reason = " ".join(str(exc).split())[:300]
            raise VaultError(f"OpenBao could not read snapshot {label}: {exc.__class__.__name__}: {reason}",
                             "the data is not a raft snapshot (or is damaged): restore another snapshot") from exc
        deadline = time.monotonic() + timeout
        while not applied():
            _alive(addr)
            if time.monotonic() > deadline:
                raise VaultError(f"snapshot {label} did not apply within {timeout:.0f}s "
                                 f"(health {health(addr)})", "look at the server log")
            time.sleep(0.25)
        wait_active(addr, timeout)


def initialise_fresh(addr: str, keep: Any = None) -> str:
    """Initialise an empty server just to receive a snapshot; returns its throwaway root token.

    `keep(token)` puts the token in custody; it runs with initialising as one step that SIGINT, SIGTERM and SIGHUP
    do not cut in two (cattle.vault.pending)."""
    with console.step(f"initialising the fresh OpenBao at {addr}"):
        with pending.signals_deferred():
            token = str(client(addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"])
            if keep is not None:
                keep(token)
        wait_active(addr)
    return token


def _opens(addr: str, token: str) -> bool:
    try:
        client(addr, token).auth.token.lookup_self()
        return True
    except (HvacError, requests.RequestException):
        return False


def _unfinished(addr: str, env: str, store: Store, identities: list[Identity]) -> pending.PendingRestore | None:
    """The unfinished restore whose throwaway root token opens the server at `addr` (cattle's own server, waiting
    for a snapshot); a VaultError when a restore of the env stopped before its server's token was kept."""
    records = pending.all_of(store, env, identities)
    for record in records:
        if record.root_token and _opens(addr, record.root_token):
            return record
    lost = [r for r in records if not r.root_token]
    if lost:
        names = ", ".join(r.name for r in lost)
        raise VaultError(f"OpenBao at {addr} is initialised, and an earlier restore of {env} stopped while it was "
                         f"initialising an OpenBao before its token could be kept ({names} in {store.url}); if this "
                         "is that server, it holds no data and nobody can open it",
                         "if this OpenBao is the one that restore initialised: wipe it (in a cluster: kubectl -n "
                         "openbao delete pvc --all and the pods) and run the restore again; if it serves real data, "
                         f"delete {names} from the store and run again")
    return None


def restore(addr: str, env: str, store: Store, identities: list[Identity], seal: SealMaterial,
            credentials: Login, snapshot: str = "latest", token: str | None = None, force: bool = False,
            timeout: float = 120, recipients: list[str] | None = None, keep_pending: bool = True,
            restart_active: Callable[[], str] | None = None,
            restart_nodes: Callable[[list[str]], str] | None = None) -> RestoreReport:
    """Restore a snapshot onto the OpenBao at `addr` and verify it; see the module docstring for the rules.

    Onto a fresh server, the throwaway init's token is kept in the store (encrypted for `recipients`, default the
    snapshot's) until the restore is verified, so an interrupted or refused restore can be finished by a re-run
    (cattle.vault.pending); `keep_pending=False` for a throwaway server that is wiped afterwards.

    `restart_active()` restarts the active node and returns where it answers then: a node restored from another
    cluster's snapshot keeps that cluster's old raft TLS keyring in memory, and nodes joining it cannot reach it
    until it restarts (cattle.vault.raftpeers); give it for a cluster of more than one node. `restart_nodes(ids)`
    restarts the named followers still behind after that and returns where the active node answers."""
    started = time.monotonic()
    manifest = snapshots.find(store, env, snapshot)
    if manifest.env != env:
        raise VaultError(f"snapshot {manifest.id} belongs to environment {manifest.env!r}, not {env!r}",
                         "restore a snapshot of the same environment")
    if manifest.seal_key_fingerprint != seal.fingerprint or manifest.seal_key_id != seal.key_id:
        raise VaultError(f"snapshot {manifest.id} was sealed with key {manifest.seal_key_id} "
                         f"({manifest.seal_key_fingerprint}); the seal key at hand is {seal.key_id} "
                         f"({seal.fingerprint})", "use the seal key of the cluster that took the snapshot")
    plaintext = snapshots.load(store, manifest, identities)
    code = health(addr)
    initialised = False
    record: pending.PendingRestore | None = None
    if code == 429:
        raise VaultError(f"OpenBao at {addr} is a standby node", "point at the active node (svc/openbao-active)")
    if code == 503:
        raise VaultError(f"OpenBao at {addr} is sealed", "start it with the environment's static seal key "
                         "(it then unseals itself) and run the restore again")
    if code == 501:
        keep = None
        if keep_pending:
            record, to = pending.new(env, manifest.id), recipients or manifest.recipients
            pending.save(store, record, to)  # before the server is touched: a store we cannot write stops here

            def keep(token: str) -> None:
                nonlocal record
                assert record is not None
                record = pending.with_token(record, token)
                pending.save(store, record, to)

        token, initialised = initialise_fresh(addr, keep), True
    elif manifest.canary and _canary(addr, credentials) == manifest.canary:
        addr = _every_node(addr, credentials, timeout, restart_active, restarted=False,  # a re-run checks again
                           restart_nodes=restart_nodes)
        if keep_pending:
            for done in pending.all_of(store, env, identities):
                if done.snapshot == manifest.id:
                    pending.delete(store, done)
        return RestoreReport(manifest.id, env, manifest.created, time.monotonic() - started,
                             inventory(login(addr, credentials)), already_restored=True, addr=addr)
    else:
        record = _unfinished(addr, env, store, identities) if keep_pending and not token else None
        if record is not None:
            console.say(f"OpenBao at {addr} was initialised by cattle for restore {record.name} (snapshot "
                        f"{record.snapshot}) that did not finish: finishing it with snapshot {manifest.id}")
            token, initialised = record.root_token, True
        elif not token:
            raise VaultInUse(f"OpenBao at {addr} is already initialised; restoring needs a token with sudo",
                             "pass --token (or VAULT_TOKEN) for that server")
        else:
            held = inventory(client(addr, token))
            if (held["kv_secrets"] or held["policies"] > 1 or held["auth_methods"] > 1) and not force:
                raise VaultInUse(f"OpenBao at {addr} already holds data ({held}); refusing to overwrite it",
                                 "restore into a fresh server, or pass --force to replace its data")
    try:
        apply_snapshot(addr, token, plaintext, manifest.id,
                       lambda: _applied(addr, credentials, manifest.canary, manifest.counts), timeout,
                       fresh=initialised)
        counts = inventory(login(addr, credentials))
        if manifest.counts and counts != manifest.counts:
            raise VaultError(f"restored server holds {counts}, the snapshot recorded {manifest.counts}")
        addr = _every_node(addr, credentials, timeout, restart_active, restarted=restart_active is not None,
                           restart_nodes=restart_nodes)
    except VaultError as exc:
        if record is None:
            raise
        raise VaultError(f"{exc.message}; OpenBao at {addr} was initialised by cattle for this restore: its "
                         f"throwaway root token is kept in {record.name} in {store.url}, so running the restore "
                         "again (vault.restore, or bootstrap) finishes it", exc.hint) from exc
    if record is not None:
        for done in pending.all_of(store, env, identities):
            if done.id == record.id or (not done.root_token and done.id < record.id):
                pending.delete(store, done)
    return RestoreReport(manifest.id, env, manifest.created, time.monotonic() - started, counts,
                         initialised_target=initialised, addr=addr)


# seconds a follower gets to catch up before cattle restarts it (when it can): a healthy one takes seconds, a stuck
# one never catches up, and restarting a follower that was only slow costs nothing but its restart
FOLLOWER_PATIENCE = 60.0


def _every_node(addr: str, credentials: Login, timeout: float, restart_active: Callable[[], str] | None,
                restarted: bool, restart_nodes: Callable[[list[str]], str] | None = None) -> str:
    """Make sure every raft node holds what the active node holds; returns where the active node answers.

    `restarted`: restart the active node first (after a snapshot was applied). Otherwise it is restarted only
    when nodes lag behind and a way to restart it was given. Nodes still behind after that are restarted once
    through `restart_nodes` (given their node ids, the pod names): a node that joined while the snapshot was being
    applied keeps the keyring of before and stays behind until it restarts (seen with bao 2.6.2, 1 run in 3)."""
    patience = min(timeout, FOLLOWER_PATIENCE) if restart_nodes is not None else timeout

    def agree(wait: float) -> raftpeers.NodesBehind | None:
        try:
            raftpeers.wait_agree(login(addr, credentials), addr, wait)
        except raftpeers.NodesBehind as behind:
            return behind
        return None

    if restarted and restart_active is not None:
        addr = restart_active()
        wait_active(addr, timeout)
    lagging = agree(patience)
    if lagging is not None and not restarted and restart_active is not None:
        addr = restart_active()
        wait_active(addr, timeout)
        lagging = agree(patience)
    if lagging is None:
        return addr
    if restart_nodes is None or not lagging.nodes:
        raise lagging
    addr = restart_nodes(lagging.nodes)
    wait_active(addr, timeout)
    raftpeers.wait_agree(login(addr, credentials), addr, timeout)
    return addr


def describe_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
