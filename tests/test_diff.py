"""invoke diff on a real git repository with two commits: changed image tag, removed object, added HelmRelease."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cattle.manifests import diff

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def _commit(root: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=root, check=True)


def test_diff_reports_added_removed_and_changed_objects(repo_copy: Path) -> None:
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=repo_copy, check=True)
    _commit(repo_copy, "base")
    deployment = repo_copy / "apps/base/miniflux/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("miniflux:2.2.13", "miniflux:2.2.14"))
    kustomization = repo_copy / "apps/base/miniflux/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - dashboard.yaml\n", ""))
    release = repo_copy / "platform/controllers/base/loki/podinfo.yaml"
    release.write_text((repo_copy / "platform/controllers/base/loki/release.yaml").read_text()
                       .replace("name: loki\n", "name: loki-canary\n", 1))
    loki = repo_copy / "platform/controllers/base/loki/kustomization.yaml"
    loki.write_text(loki.read_text() + "  - podinfo.yaml\n")
    secret = repo_copy / "secrets/testing/grafana-admin.secret.yaml"
    text = secret.read_text()
    secret.write_text(text.replace("admin-password: ENC[AES256_GCM,data:", "admin-password: ENC[AES256_GCM,data:x"))
    _commit(repo_copy, "change")

    [testing] = diff.diff(repo_copy, "HEAD~1", ["testing"])
    assert testing.added == ["HelmRelease logging/loki-canary"]
    assert testing.removed == ["ConfigMap feeds/miniflux-dashboard"]
    assert "Deployment feeds/miniflux" in testing.changed
    patch = testing.changed["Deployment feeds/miniflux"]
    assert "-        image: docker.io/miniflux/miniflux:2.2.13" in patch
    assert "+        image: docker.io/miniflux/miniflux:2.2.14" in patch
    secret_patch = testing.changed["Secret monitoring/grafana-admin"]
    assert "ENC[" not in secret_patch and "***" in secret_patch
    markdown = diff.format_markdown([testing], "HEAD~1")
    assert "| testing | 1 | 1 |" in markdown and "```diff" in markdown
    text = diff.format_text([testing])
    assert "+ HelmRelease logging/loki-canary" in text and "- ConfigMap feeds/miniflux-dashboard" in text


def test_markdown_shows_a_change_identical_in_several_environments_once_with_block_text() -> None:
    config_before = {"kind": "ConfigMap", "metadata": {"name": "alloy"}, "data": {"config.alloy": "a\nb\nc\n"}}
    config_after = {"kind": "ConfigMap", "metadata": {"name": "alloy"}, "data": {"config.alloy": "a\nB\nc\n"}}
    results = [diff.compare({"ConfigMap alloy": config_before}, {"ConfigMap alloy": config_after}, env)
               for env in ("production", "staging", "testing")]
    results[0].added.append("Service x")
    markdown = diff.format_markdown(results, "main")
    assert markdown.count("changed <code>ConfigMap alloy</code> (production, staging, testing)") == 1
    assert "-    b\n+    B\n" in markdown  # the file's lines, not one escaped string
    assert "- added `Service x` (production)" in markdown
