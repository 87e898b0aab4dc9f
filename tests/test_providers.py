"""Local providers drive the real CLI contract (a stand-in kind/k3d script records the calls)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cattle import tools
from cattle.providers.k3d import K3dProvider
from cattle.providers.kind import KindProvider

FAKE = """#!/bin/sh
echo "$0 $*" >> "{log}"
case "$*" in
  "get clusters") cat "{state}" 2>/dev/null || true ;;
  "cluster list -o json") if [ -s "{state}" ]; then echo '[{{"name":"c1"}}]'; else echo '[]'; fi ;;
  create*|"cluster create"*) echo c1 > "{state}" ;;
  "get kubeconfig --name c1"|"kubeconfig get c1") echo "apiVersion: v1" ;;
  delete*|"cluster delete c1") rm -f "{state}" ;;
esac
"""


@pytest.mark.parametrize("tool", ["kind", "k3d"])
def test_create_reuse_kubeconfig_and_delete(tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / tool
    script.parent.mkdir()
    log, state = tmp_path / "calls.log", tmp_path / "clusters"
    script.write_text(FAKE.format(log=log, state=state))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(tools, "find", lambda name: script)
    provider = (KindProvider if tool == "kind" else K3dProvider)("c1", tmp_path / "state")
    assert provider.ensure() is True
    assert provider.ensure() is False  # reused
    path, context = provider.kubeconfig()
    assert path is not None and path.read_text() == "apiVersion: v1\n" and path.stat().st_mode & 0o777 == 0o600
    assert context == f"{tool}-c1"
    assert provider.docker_network == {"kind": "kind", "k3d": "k3d-c1"}[tool]  # where the served checkout is found
    provider.delete()
    assert not provider.exists() and not path.exists()
    calls = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    assert sum(call.split()[0] == "create" or call.startswith("cluster create") for call in calls) == 1


def _fake(tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "bin" / tool
    script.parent.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    script.write_text(FAKE.format(log=log, state=tmp_path / "clusters"))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(tools, "find", lambda name: script)
    return log


def test_testing_is_created_on_its_pinned_node_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kind's default image is whatever the installed kind defaults to (v0.27: Kubernetes 1.32.2): always pass it."""
    from cattle import env
    from cattle.providers import get_provider

    testing = env.load("testing")
    log = _fake("kind", tmp_path, monkeypatch)
    provider = get_provider(testing, None, tmp_path / "state")
    assert provider.ensure() is True
    [create] = [line for line in log.read_text().splitlines() if " create cluster " in line]
    assert create.split()[-2:] == ["--image", testing.kubernetes.node_image]
    assert "--config" not in create  # no mirror declared
    other = get_provider(testing, "k3d", tmp_path / "state")
    assert isinstance(other, K3dProvider) and other.image is None  # a kind image does not run under k3d


def test_kind_registry_mirror_is_a_containerd_hosts_file_mounted_into_the_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    log = _fake("kind", tmp_path, monkeypatch)
    provider = KindProvider("c1", tmp_path / "state", image="kindest/node:v1.36.4@sha256:" + "0" * 64,
                            mirrors={"docker.io": "https://mirror.example.com", "ghcr.io": "http://10.0.0.5:5000"})
    provider.ensure()
    create = next(line for line in log.read_text().splitlines() if " create cluster " in line).split()
    config = yaml.safe_load(Path(create[create.index("--config") + 1]).read_text())
    assert config["containerdConfigPatches"] == [
        '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"']
    [mount] = config["nodes"][0]["extraMounts"]
    assert mount["containerPath"] == "/etc/containerd/certs.d" and mount["readOnly"] is True
    certs = Path(mount["hostPath"])
    assert (certs / "docker.io/hosts.toml").read_text() == (
        'server = "https://registry-1.docker.io"\n\n[host."https://mirror.example.com"]\n'
        '  capabilities = ["pull", "resolve"]\n')
    assert 'server = "https://ghcr.io"' in (certs / "ghcr.io/hosts.toml").read_text()


def test_k3d_registry_mirror_is_a_k3s_registries_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    log = _fake("k3d", tmp_path, monkeypatch)
    K3dProvider("c1", tmp_path / "not-yet" / "state", image="rancher/k3s:v1.36.4-k3s1@sha256:" + "0" * 64,
                mirrors={"docker.io": "https://mirror.example.com"}).ensure()
    create = next(line for line in log.read_text().splitlines() if " cluster create " in line).split()
    assert create[create.index("--image") + 1].startswith("rancher/k3s:v1.36.4-k3s1@sha256:")
    registries = yaml.safe_load(Path(create[create.index("--registry-config") + 1]).read_text())
    assert registries == {"mirrors": {"docker.io": {"endpoint": ["https://mirror.example.com"]}}}


class RecordedCli:
    """tools.run for kind/k3d: records each (argv, timeout) and answers as the CLI would."""

    def __init__(self, clusters: list[str]) -> None:
        self.clusters = clusters
        self.calls: list[tuple[list[str], float | None]] = []

    def __call__(self, argv: list[str], timeout: float | None = None, **_: object) -> object:
        import json
        import subprocess

        self.calls.append((argv, timeout))
        out = b""
        if argv[1:] == ["get", "clusters"]:
            out = "\n".join(self.clusters).encode()
        elif argv[1:4] == ["cluster", "list", "-o"]:
            out = json.dumps([{"name": name} for name in self.clusters]).encode()
        elif "kubeconfig" in argv:
            out = b"apiVersion: v1\n"
        return subprocess.CompletedProcess(argv, 0, out, b"")


@pytest.mark.parametrize("tool", ["kind", "k3d"])
def test_the_cli_contract_flags_and_deadlines(tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly what cattle asks kind and k3d, and how long it lets each call take: the control plane's own wait
    (kind 180 s, k3d 300 s) fits inside the create call's 600 s, queries get 60 s and a delete 300 s."""
    cli = RecordedCli(["a-cluster", "other"])  # names before and after "c1": only an equal name is c1
    monkeypatch.setattr(tools, "run", cli)
    state = tmp_path / "not-yet" / "state"  # made on first use, parents too
    provider = (KindProvider if tool == "kind" else K3dProvider)("c1", state, image="node@sha256:1")
    assert provider.ensure() is True
    cli.clusters.append("c1")
    assert provider.ensure() is False
    provider.delete()
    expected = {
        "kind": [(["kind", "get", "clusters"], 60),
                 (["kind", "create", "cluster", "--name", "c1", "--wait", "180s", "--kubeconfig",
                   str(state / "kubeconfig-c1"), "--image", "node@sha256:1"], 600),
                 (["kind", "get", "kubeconfig", "--name", "c1"], 60),
                 (["kind", "get", "clusters"], 60), (["kind", "get", "kubeconfig", "--name", "c1"], 60),
                 (["kind", "delete", "cluster", "--name", "c1"], 300)],
        "k3d": [(["k3d", "cluster", "list", "-o", "json"], 60),
                (["k3d", "cluster", "create", "c1", "--wait", "--timeout", "300s", "--kubeconfig-update-default=false",
                  "--k3s-arg", "--disable=traefik@server:0", "--image", "node@sha256:1"], 600),
                (["k3d", "kubeconfig", "get", "c1"], 60),
                (["k3d", "cluster", "list", "-o", "json"], 60), (["k3d", "kubeconfig", "get", "c1"], 60),
                (["k3d", "cluster", "delete", "c1"], 300)]}[tool]
    assert cli.calls == expected
    assert not (state / "kubeconfig-c1").exists()  # delete removed cattle's own kubeconfig too
    provider.delete()  # a cluster this machine holds no kubeconfig of (made elsewhere, or deleted twice): no error
    assert provider.creates_clusters is True


def test_the_kubeconfig_provider_attaches_and_never_creates_or_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing cluster: the caller's KUBECONFIG (or kubectl's default when unset) and the env's context."""
    from cattle.errors import ProviderError
    from cattle.providers.kubeconfig import KubeconfigProvider

    provider = KubeconfigProvider("prod-ctx")
    assert provider.name == "kubeconfig" and provider.creates_clusters is False and provider.docker_network is None
    assert provider.exists() is True and provider.ensure() is False  # nothing to create: it is always there
    monkeypatch.setenv("KUBECONFIG", "/somewhere/config")
    assert provider.kubeconfig() == (Path("/somewhere/config"), "prod-ctx")
    monkeypatch.setenv("KUBECONFIG", "")
    assert provider.kubeconfig() == (None, "prod-ctx")
    monkeypatch.delenv("KUBECONFIG")
    assert KubeconfigProvider(None).kubeconfig() == (None, None)
    with pytest.raises(ProviderError) as refused:
        provider.delete()
    assert "only attaches to context 'prod-ctx'; it cannot delete the cluster" in str(refused.value)
    assert refused.value.hint == "delete it with its own tooling (cloud console, terraform)"
