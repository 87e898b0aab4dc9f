"""`bootstrap --env all` against three mock APIs at once: each environment with its own cluster, OpenBao and stores;
the guards of the protected one apply as they do alone, its failure does not stop the others, and the whole fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from cattle import env
from cattle.bootstrap import fleet, fluxinstall
from cattle.bootstrap import rebuild as bootstrap
from cattle.database.backups import validation_variables
from cattle.manifests.render import render
from cattle.stores import s3_client
from cattle.vault import openbao as vault
from cattle.vault.server import BaoServer
from tests.kubemock import FakeCluster, Scenario, children_of

pytestmark = pytest.mark.slow
CONTEXTS = {"production": "cattle-production", "staging": "cattle-staging", "testing": "testing-here"}


@pytest.fixture
def three(secrets_repo: Path, s3_endpoint: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeCluster]]:
    monkeypatch.delenv("CATTLE_DB_STORE")  # each environment's own stores (s3://cattle-backups/<env>/...)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    s3_client(s3_endpoint).create_bucket(Bucket="cattle-backups")
    crds = [o for o in fluxinstall.manifests(secrets_repo) if o["kind"] == "CustomResourceDefinition"]
    clusters: dict[str, FakeCluster] = {}
    with ExitStack() as stack:
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": CONTEXTS["testing"], "clusters": [],
                      "contexts": [], "users": [{"name": "u", "user": {"token": "t"}}]}
        for name, context in CONTEXTS.items():
            environment = env.load(name, secrets_repo)
            rendering = render(environment, validation_variables(environment.protected))
            (tmp_path / name).mkdir()
            fake = FakeCluster(tmp_path / name, crds, Scenario(children=children_of(rendering), repo=secrets_repo))
            stack.callback(fake.close)
            clusters[name] = fake
            kubeconfig["clusters"].append({"name": name, "cluster": {"server": fake.url}})
            kubeconfig["contexts"].append({"name": context, "context": {"cluster": name, "user": "u"}})
            seal = vault.seal_material(secrets_repo, name)
            server = stack.enter_context(BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / f"bao-{name}"))
            monkeypatch.setenv(f"CATTLE_VAULT_ADDR_{name.upper()}", server.addr)
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield clusters


def test_every_environment_at_once_guards_apply_and_a_failure_stops_no_other(
        three: dict[str, FakeCluster], secrets_repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(fleet, "VIEW_EVERY", 0.5)
    options = bootstrap.Options(provider="kubeconfig", git_url="https://git.example.com/cattle.git", timeout=540.0)
    result = fleet.run_all(options)
    by_env = {w.env: w for w in result.runs}
    assert not result.ok
    assert by_env["production"].result == "failed"  # protected: no backup, no --allow-empty-*: refused alone too
    assert "preflight for environment 'production'" in by_env["production"].error
    assert (by_env["staging"].result, by_env["testing"].result) == ("ok", "ok")
    assert "apps" in three["staging"].ready_order and "apps" in three["testing"].ready_order  # each its own cluster
    assert three["production"].requests_of("PATCH", "/kustomizations/") == []  # nothing applied to production
    for name in ("staging", "testing"):
        [record] = sorted((secrets_repo / ".cattle/runs").glob(f"{name}-*.json"))
        assert json.loads(record.read_text())["result"] == "ok"
    err = capsys.readouterr().err
    assert "[staging] " in err and "[testing] " in err  # every progress line says whose it is
    view = err[err.index("all environments:"):]
    assert "staging: " in view and "testing: " in view and "of 15m budget" in view
    summary = result.summary()
    assert summary.splitlines()[0].split() == ["env", "result", "RTO", "budget", "error"]
    assert len(summary.splitlines()) == 5
