"""Helpers for tests that run real OpenBao servers: populate one, and read everything back for comparison."""

from __future__ import annotations

from typing import Any

import hvac

from cattle.vault import openbao as vault

KV_MOUNTS = ("apps", "infra")


def populate(c: hvac.Client, credentials: vault.Login, secrets_per_mount: int = 20) -> None:
    """KV v2 mounts with versioned secrets, a KV v1 mount, policies and an extra auth method."""
    vault.configure(c, credentials)
    for mount in KV_MOUNTS:
        c.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
        for i in range(secrets_per_mount):
            path = f"team{i % 3}/service{i}"
            vault.retry_upgrading(lambda path=path, i=i, mount=mount: c.secrets.kv.v2.create_or_update_secret(
                path=path, mount_point=mount, secret={"password": f"v1-{i}"}))
            if i % 4 == 0:
                c.secrets.kv.v2.create_or_update_secret(path=path, mount_point=mount,
                                                        secret={"password": f"v2-{i}", "user": f"u{i}"})
    c.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    c.secrets.kv.v1.create_or_update_secret(path="old/thing", mount_point="legacy", secret={"k": "v"})
    c.sys.create_or_update_acl_policy("app-read", 'path "apps/data/*" { capabilities = ["read"] }')
    c.sys.create_or_update_acl_policy("infra-admin", 'path "infra/*" { capabilities = ["create", "read", "update"] }')
    c.sys.enable_auth_method("approle")
    c.auth.approle.create_or_update_approle("deployer", token_policies=["app-read"])


def everything(c: hvac.Client) -> dict[str, Any]:
    """Every KV secret with all its versions, every policy and auth method: what a restore must bring back."""
    state: dict[str, Any] = {"policies": {}, "auth": sorted(c.sys.list_auth_methods()["data"]), "kv": {}}
    for name in c.sys.list_acl_policies()["data"]["keys"]:
        state["policies"][name] = c.sys.read_acl_policy(name)["data"]["policy"]
    for mount in KV_MOUNTS:
        for path in _walk(c, mount):
            meta = c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)["data"]
            versions = {}
            for version in sorted(meta["versions"], key=int):
                read = c.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, version=int(version),
                                                           raise_on_deleted_version=True)
                versions[version] = read["data"]["data"]
            state["kv"][f"{mount}/{path}"] = versions
    state["kv"]["legacy/old/thing"] = c.secrets.kv.v1.read_secret(path="old/thing", mount_point="legacy")["data"]
    return state


def _walk(c: hvac.Client, mount: str, prefix: str = "") -> list[str]:
    found: list[str] = []
    for key in c.secrets.kv.v2.list_secrets(path=prefix, mount_point=mount)["data"]["keys"]:
        found += _walk(c, mount, prefix + key) if key.endswith("/") else [prefix + key]
    return found
