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
