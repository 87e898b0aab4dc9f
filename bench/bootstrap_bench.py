"""Benchmark: cattle's own share of a rebuild. A full `bootstrap --env testing` against the kmock API server on
127.0.0.1 (the fake Flux reconciles at once) and a real OpenBao, so nearly all the time is the toolchain's:
rendering, server-side apply, secret zero, the Vault phase (initialise, configure, first snapshot), the report.

Prints the RTO, the overhead the report attributes to cattle, and each phase; the 15-minute budget of a real rebuild
leaves the rest to the cluster.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cattle import env as environments  # noqa: E402
from cattle.bootstrap import fluxinstall  # noqa: E402
from cattle.bootstrap import rebuild as bootstrap  # noqa: E402
from cattle.manifests import render  # noqa: E402
from cattle.secrets import files as secrets  # noqa: E402
from cattle.vault import openbao as vault  # noqa: E402
from cattle.vault.server import BaoServer  # noqa: E402
from tests.kubemock import FakeCluster, Scenario, children_of  # noqa: E402

BUDGET_SECONDS = 15 * 60


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        repo = base / "repo"
        for name in ("clusters", "platform", "apps", "secrets", "vendor"):
            shutil.copytree(ROOT / name, repo / name)
        shutil.copy(ROOT / ".sops.yaml", repo / ".sops.yaml")
        os.environ.update(CATTLE_REPO=str(repo), CATTLE_CONFIG_HOME=str(base / "config"),
                          CATTLE_VAULT_STORE=f"file://{base / 'vault'}", CATTLE_DB_STORE=f"file://{base / 'db'}")
        secrets.init(repo, "testing", force=True)
        secrets.generate(repo, "testing", regenerate_all=True)
        testing = environments.load("testing", repo)
        children = children_of(render.render(testing))
        crds = [o for o in fluxinstall.manifests(repo) if o["kind"] == "CustomResourceDefinition"]
        fake = FakeCluster(base, crds, Scenario(delay=0.0, children=children, repo=repo))
        seal = vault.seal_material(repo, "testing")
        try:
            with BaoServer(seal.key_hex, seal.key_id, directory=base / "openbao") as server:
                os.environ.update(KUBECONFIG=str(fake.kubeconfig), CATTLE_VAULT_ADDR=server.addr)
                timeline = bootstrap.run("testing", bootstrap.Options(
                    provider="kubeconfig", git_url="https://git.example.com/cattle.git", timeout=120.0))
        finally:
            fake.close()
    assert timeline is not None
    overhead = timeline.total - timeline.waiting_seconds
    print(f"\nbootstrap against a mock API and a real OpenBao: {timeline.total:.1f}s "
          f"({timeline.total / BUDGET_SECONDS:.3f} of the 15-minute budget)")
    print(f"toolchain overhead as reported: {overhead:.1f}s")
    for event in timeline.events:
        if not event.phase.startswith("reconcile "):
            print(f"  {event.phase:20} {event.seconds:6.1f}s")


if __name__ == "__main__":
    main()
