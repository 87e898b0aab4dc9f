"""validate refuses a node size the environment's cloud no longer offers (issue 27, item 10): staging asked for cx32,
which Hetzner withdrew at the end of 2025, and the first `tofu apply` in an outage would have failed."""

from __future__ import annotations

from pathlib import Path

import yaml

from cattle.manifests import validate
from tests.test_validate import _edit


def _server_type_problems(root: Path, name: str) -> list[str]:
    [report] = validate.validate([name], root)
    return [p.message for p in report.problems if p.rule == "server-type"]


def test_a_withdrawn_hetzner_type_is_refused_and_a_current_one_passes(repo_copy: Path) -> None:
    assert _server_type_problems(repo_copy, "staging") == []
    _edit(repo_copy / "clusters/staging/environment.yaml", "nodeSize: cpx32", "nodeSize: cx32")
    [message] = _server_type_problems(repo_copy, "staging")
    assert message.startswith("server type 'cx32' is not offered by hetznercloud/hcloud (as checked 2026-12-04:")


def test_each_cloud_is_judged_by_its_own_list(repo_copy: Path) -> None:
    # production is on DigitalOcean: a Hetzner type is not one of its sizes
    _edit(repo_copy / "clusters/production/environment.yaml", "nodeSize: s-4vcpu-8gb", "nodeSize: cpx32")
    [message] = _server_type_problems(repo_copy, "production")
    assert "not offered by digitalocean/digitalocean" in message


def test_the_list_names_its_source_and_date() -> None:
    catalogue = yaml.safe_load((Path(__file__).resolve().parent.parent / "infra/server-types.yaml").read_text())
    assert set(catalogue) == {"hetznercloud/hcloud", "digitalocean/digitalocean"}
    for offer in catalogue.values():
        assert offer["source"].startswith("https://") and offer["checked"] and offer["types"]
    assert "cx32" not in catalogue["hetznercloud/hcloud"]["types"]
