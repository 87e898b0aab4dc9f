"""A fresh OpenBao made ready for the platform, with no human in the loop.

Initialising hands out a root token and recovery keys once. cattle keeps them as an init record in the env's Vault
backup store, age-encrypted for the env's recipients (like the snapshots): `<env>.<id>.openbao-init.age`, with ids
that sort by time like snapshot ids. A restored snapshot keeps the root token of the cluster that took it, so the
record that applies to a snapshot is the newest one written before it. Records are never overwritten or pruned.

What the platform needs from OpenBao, set idempotently with the root token: the backup login (vault.configure),
a KV v2 mount `secret`, and Kubernetes auth with a role `external-secrets` for the ClusterSecretStore
(platform/configs/base/secret-store), so that external-secrets reads `secret/*` as soon as OpenBao is up.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import hvac

from cattle.errors import StoreError, VaultError
from cattle.secrets.keys import Identity
from cattle.stores import Store
from cattle.vault import openbao as vault
from cattle.vault import snapshots

RECORD_SUFFIX = snapshots.RECORD_SUFFIX
KV_MOUNT = "secret"
KUBERNETES_HOST = "https://kubernetes.default.svc"
ESO_ROLE = "external-secrets"
ESO_POLICY = "external-secrets"
ESO_POLICY_HCL = """
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
"""


@dataclass(frozen=True)
class InitRecord:
    """What initialising an OpenBao handed out: kept encrypted in the backup store, never printed."""

    id: str
    env: str
    created: str
    root_token: str = field(repr=False)
    recovery_keys: list[str] = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.env}.{self.id}{RECORD_SUFFIX}"


def save(store: Store, record: InitRecord, recipients: list[str]) -> None:
    """Encrypt the record for the env's recipients and write it (a new name each time: nothing is overwritten)."""
    store.put(record.name, snapshots.encrypt(json.dumps(asdict(record)).encode(), recipients))


def find(store: Store, env: str, identities: list[Identity], before: str | None = None) -> InitRecord | None:
    """The newest record of the env (older than snapshot id `before`, when given); None when there is none."""
    prefix = f"{env}."
    ids = sorted(n[len(prefix):-len(RECORD_SUFFIX)] for n in store.names()
                 if n.startswith(prefix) and n.endswith(RECORD_SUFFIX))
    names = [f"{prefix}{i}{RECORD_SUFFIX}" for i in ids if before is None or i < before]
    if not names:
        return None
    plaintext = snapshots.decrypt(store.get(names[-1]), identities, names[-1])
    return InitRecord(**json.loads(plaintext))


def configure_platform(c: hvac.Client, kubernetes_ca_cert: str | None = None,
                       kubernetes_host: str = KUBERNETES_HOST) -> None:
    """Idempotently: KV v2 at secret/, Kubernetes auth and the external-secrets role and policy.

    The CA is the cluster's (ConfigMap kube-root-ca.crt): written on every run, since a rebuilt cluster has a new
    one. Without it OpenBao reads its pod's own CA file, which only exists when it runs in the cluster.
    """
    if f"{KV_MOUNT}/" not in c.sys.list_mounted_secrets_engines()["data"]:
        c.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
    if "kubernetes/" not in c.sys.list_auth_methods()["data"]:
        c.sys.enable_auth_method("kubernetes")
    # No reviewer JWT: OpenBao reviews tokens with its own service account's (the chart grants auth-delegator).
    c.auth.kubernetes.configure(kubernetes_host=kubernetes_host, kubernetes_ca_cert=kubernetes_ca_cert)
    c.sys.create_or_update_acl_policy(ESO_POLICY, ESO_POLICY_HCL)
    c.auth.kubernetes.create_role(ESO_ROLE, bound_service_account_names=["external-secrets"],
                                  bound_service_account_namespaces=["external-secrets"], policies=[ESO_POLICY])


def initialise(addr: str, env: str, store: Store, recipients: list[str], credentials: vault.Login,
               kubernetes_ca_cert: str | None = None) -> InitRecord:
    """Initialise a fresh OpenBao, put the init record in custody first, then configure it for the platform."""
    answer = vault.client(addr).sys.initialize(recovery_shares=1, recovery_threshold=1)
    record = InitRecord(snapshots.new_id(), env, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        answer["root_token"], list(answer.get("recovery_keys") or []))
    try:
        save(store, record, recipients)
    except StoreError as exc:
        raise VaultError(f"OpenBao at {addr} was initialised but its root token could not be kept: {exc.message}",
                         "fix the backup store, then re-initialise: wipe the OpenBao volumes (kubectl -n openbao "
                         "delete pvc --all and the pods) and re-run bootstrap") from exc
    vault.wait_active(addr)
    c = vault.client(addr, record.root_token)
    vault.configure(c, credentials)
    configure_platform(c, kubernetes_ca_cert)
    return record
