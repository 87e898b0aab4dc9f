"""Logs are shipped once: Alloy runs as a DaemonSet (one pod per node), so each must tail only its own node's pods,
or run clustered; otherwise every node tails every pod and each line reaches Loki once per node (the bug fixed in
grafana/k8s-monitoring-helm PR #474). Checked on the config as rendered for every environment.

Upstream facts (grafana/alloy at helm-chart/1.5.0, commit 6dde6297f7, the pinned chart):
- operations/helm/charts/alloy/templates/containers/_agent.yaml sets the container's HOSTNAME from the downward API
  `spec.nodeName`;
- docs/sources/reference/components/discovery/discovery.kubernetes.md: a `selectors` block with
  `field = "spec.nodeName=" + coalesce(sys.env("HOSTNAME"), constants.hostname)` limits discovery to that node.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.database.backups import validation_variables
from cattle.manifests.render import Rendering, render
from tests.conftest import REPO

_HEADER = re.compile(r'([A-Za-z_][\w.]*)\s*(?:"([^"]*)")?\s*\{')


@dataclass
class Block:
    """One Alloy configuration block: `kind "label" { attributes, blocks }`."""

    kind: str
    label: str
    body: str
    blocks: list[Block] = field(default_factory=list)

    def attribute(self, name: str) -> str | None:
        flat = self.body
        for child in self.blocks:
            flat = flat.replace(child.body, "")
        match = re.search(rf"^\s*{re.escape(name)}\s*=\s*(.+?)\s*$", flat, re.M)
        return match.group(1) if match else None


def parse(text: str) -> list[Block]:
    """The blocks of an Alloy configuration (comments removed; enough for component wiring)."""
    text = re.sub(r"//[^\n]*", "", text)
    blocks, position = [], 0
    while (match := _HEADER.search(text, position)) is not None:
        depth, index = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        body = text[match.end():index - 1]
        blocks.append(Block(match.group(1), match.group(2) or "", body, parse(body)))
        position = index
    return blocks


def _alloy(rendering: Rendering) -> dict[str, Any]:
    [release] = [i.obj for i in rendering.objects if i.obj.get("kind") == "HelmRelease"
                 and i.obj["metadata"]["name"] == "alloy"]
    values: dict[str, Any] = release["spec"]["values"]
    return values


def duplicate_tailing(rendering: Rendering) -> list[str]:
    """Every loki.source.kubernetes that a DaemonSet runs on each node without a node filter or clustering."""
    values = _alloy(rendering)
    if (values.get("controller") or {}).get("type", "daemonset") != "daemonset":
        return []
    blocks = {(b.kind, b.label): b for b in parse(values["alloy"]["configMap"]["content"])}
    found = []
    for (kind, label), block in blocks.items():
        if kind != "loki.source.kubernetes":
            continue
        clustered = any(b.kind == "clustering" and b.attribute("enabled") == "true" for b in block.blocks)
        if clustered and (values["alloy"].get("clustering") or {}).get("enabled"):
            continue
        source = block.attribute("targets") or ""
        while (relabel := re.fullmatch(r"discovery\.relabel\.(\w+)\.output", source)) is not None:
            source = blocks[("discovery.relabel", relabel.group(1))].attribute("targets") or ""
        discovery = re.fullmatch(r"discovery\.kubernetes\.(\w+)\.targets", source)
        selectors = blocks[("discovery.kubernetes", discovery.group(1))].blocks if discovery else []
        if not any(s.kind == "selectors" and s.attribute("role") == '"pod"'
                   and 'spec.nodeName=" + coalesce(sys.env("HOSTNAME")' in (s.attribute("field") or "")
                   for s in selectors):
            found.append(f'loki.source.kubernetes "{label}" tails pods of every node from each node')
    return found


def _render(root: Path, name: str) -> Rendering:
    environment = env.load(name, root)
    return render(environment, validation_variables(environment.protected))


@pytest.mark.parametrize("name", ["testing", "staging", "production"])
def test_each_alloy_tails_only_its_own_node(name: str) -> None:
    rendering = _render(REPO, name)
    assert _alloy(rendering)["controller"]["type"] == "daemonset"
    assert duplicate_tailing(rendering) == []


def test_the_old_config_tails_every_pod_from_every_node(repo_copy: Path) -> None:
    shutil.copy(REPO / "tests/data/old-state/alloy-release.yaml",
                repo_copy / "platform/controllers/base/alloy/release.yaml")
    assert duplicate_tailing(_render(repo_copy, "testing")) == [
        'loki.source.kubernetes "pods" tails pods of every node from each node']


def test_parser_reads_nested_blocks() -> None:
    [block] = parse('discovery.kubernetes "p" {\n role = "pod"\n selectors {\n  role = "pod"\n field = "x"\n }\n}')
    assert (block.kind, block.label, block.attribute("role")) == ("discovery.kubernetes", "p", '"pod"')
    assert [(b.kind, b.attribute("field")) for b in block.blocks] == [("selectors", '"x"')]
