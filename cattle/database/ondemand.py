"""`./scripts/cattle db.backup`: ask CloudNativePG for an on-demand base backup (a Backup object, plugin method) and
wait."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cattle import console
from cattle.database import backups as database
from cattle.errors import DatabaseError
from cattle.kube import Kube
from cattle.schemas import crd_kinds

NAMESPACE = "feeds"


def request_backup(kube: Kube, root: Path, timeout: float = 1800) -> dict[str, Any]:
    """Create the Backup and wait until CNPG reports it completed (or failed)."""
    kube.learn_flux(crd_kinds(root / "vendor/crds/cloudnative-pg/postgresql.cnpg.io_backups.yaml"))
    name = f"{database.CLUSTER}-ondemand-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    kube.apply({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"cluster": {"name": database.CLUSTER}, "method": "plugin",
                         "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}})
    console.say(f"requested Backup {NAMESPACE}/{name}; waiting for CloudNativePG")
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        found = kube.get("postgresql.cnpg.io/v1", "Backup", name, NAMESPACE) or {}
        status = found.get("status") or {}
        if status.get("phase") != phase:
            phase = str(status.get("phase") or "")
            console.say(f"  Backup {name}: {phase or 'pending'}")
        if phase == "completed":
            return found
        if phase == "failed":
            raise DatabaseError(f"Backup {name} failed: {status.get('error', 'no message')}",
                                f"kubectl -n {NAMESPACE} describe backup {name}")
        time.sleep(2)
    raise DatabaseError(f"Backup {name} did not complete within {timeout:.0f}s (phase {phase or 'pending'})")
