"""`adopt` makes the repository yours: every placeholder replaced, keys and secrets per environment, a custody
checklist; bad values change nothing; a re-run converges."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.errors import CattleError
from cattle.secrets import adopt, keys
from cattle.secrets import check as secretcheck
from tests.conftest import REPO

SETTINGS = adopt.Settings("https://git.acme.io/ops/infra.git", "infra.acme.io", "acme-dr-backups", "sre@acme.io",
                          {"production": "acme-prod", "staging": "acme-staging"})


@pytest.fixture
def shipped(repo_copy: Path, key_home: Path) -> Path:
    """The repository as shipped: placeholders, and staging/production keys that were never kept."""
    return repo_copy


def _externals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATTLE_SECRET_EXTERNAL_DNS_API_TOKEN", "test-dns-token")
    for name in ("BACKUP_S3", "FEEDS_BACKUP_S3"):
        monkeypatch.setenv(f"CATTLE_SECRET_{name}_ACCESS_KEY_ID", "AKIA-test")
        monkeypatch.setenv(f"CATTLE_SECRET_{name}_SECRET_ACCESS_KEY", "secret-test")


def test_adopt_replaces_every_placeholder_and_makes_keys_and_secrets(shipped: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert adopt.placeholders(shipped)  # as shipped
    _externals(monkeypatch)
    result = adopt.adopt(shipped, SETTINGS)
    assert adopt.placeholders(shipped) == []
    production = env.load("production", shipped)
    assert (production.git_url, production.domain, production.kube_context) == (
        "https://git.acme.io/ops/infra.git", "infra.acme.io", "acme-prod")
    assert production.backups.vault_store == "s3://acme-dr-backups/production/vault"
    assert env.load("staging", shipped).domain == "staging.infra.acme.io"
    assert production.vars["ACME_EMAIL"] == "sre@acme.io"
    assert {k.env for k in result.keys if k.created} == {"production", "staging", "testing"}
    assert secretcheck.check(shipped, ["production", "staging", "testing"]) == ([], [])  # all decrypt, MACs verify
    checklist = result.checklist()
    for custody in result.keys:
        assert f"{custody.env}: age key {custody.public} (new" in checklist
    again = adopt.adopt(shipped, SETTINGS)  # a re-run changes nothing
    assert again.files == [] and not any(k.created for k in again.keys)
    assert set(again.secrets.values()) == {"unchanged"}


def test_bad_values_change_nothing(shipped: Path) -> None:
    before = {p: p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    with pytest.raises(CattleError) as caught:
        adopt.adopt(shipped, adopt.Settings("https://github.com/example/cattle.git", "example.com", "Bad_Bucket",
                                            "nobody"))
    assert caught.value.message.count("\n  - ") == 4
    assert {p: p.read_bytes() for p in shipped.rglob("*") if p.is_file()} == before
    assert keys.find_identity("production") is None


def test_missing_external_values_are_named_and_a_rerun_finishes(shipped: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = adopt.adopt(shipped, SETTINGS)
    assert "NOT generated" in result.secrets["production"]
    assert "CATTLE_SECRET_BACKUP_S3_ACCESS_KEY_ID" in result.secrets["production"]
    _externals(monkeypatch)
    adopt.adopt(shipped, SETTINGS)
    assert secretcheck.check(shipped, ["production", "staging", "testing"]) == ([], [])


def test_validate_warns_while_a_placeholder_remains(shipped: Path) -> None:
    from cattle.manifests import validate

    reports = validate.validate(["production"], shipped)
    assert any("placeholder" in w and "cattle.example.com" in w for w in reports[0].warnings)
    assert reports[0].ok  # a warning, not a failure


def test_the_report_badge_follows_a_github_repository() -> None:
    assert adopt.pages_url("https://github.com/Acme-Ops/infra.git") == "https://acme-ops.github.io/infra/"
    assert adopt.pages_url("git@github.com:acme/infra.git") == "https://acme.github.io/infra/"
    assert adopt.pages_url("https://git.acme.io/ops/infra.git") is None
    settings = adopt.Settings("https://github.com/acme/infra.git", "infra.acme.io", "acme-dr", "sre@acme.io")
    readme = (REPO / "README.md").read_text()
    assert adopt.PLACEHOLDER_PAGES in readme  # the badge as shipped
    assert "https://acme.github.io/infra/badge.svg" in adopt.rewrite(readme, settings)


def test_per_environment_values_are_checked_never_dropped() -> None:
    known = ["production", "staging", "testing"]
    assert adopt.per_environment("--provider", ["staging=kubeconfig"], known) == {"staging": "kubeconfig"}
    with pytest.raises(CattleError, match=r"--context 'acme-prod': expected ENV=VALUE"):
        adopt.per_environment("--context", ["acme-prod"], known)
    with pytest.raises(CattleError, match=r"--provider 'prod=kind': there is no environment 'prod'"):
        adopt.per_environment("--provider", ["prod=kind"], known)
    bad = adopt.Settings("https://git.acme.io/ops/infra.git", "infra.acme.io", "acme-dr", "sre@acme.io",
                         providers={"staging": "eks"})
    assert adopt.check(bad) == ["--provider staging=eks: the provider is one of kind, k3d, opentofu, kubeconfig"]


def test_adopt_sets_each_environments_cluster_provider(shipped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _externals(monkeypatch)
    settings = adopt.Settings("https://git.acme.io/ops/infra.git", "infra.acme.io", "acme-dr", "sre@acme.io",
                              contexts={"staging": "acme-staging"}, providers={"staging": "kubeconfig"})
    adopt.adopt(shipped, settings)
    staging = env.load("staging", shipped)
    assert (staging.provider, staging.kube_context) == ("kubeconfig", "acme-staging")
    assert env.load("production", shipped).provider == "opentofu"  # not named: as it was
