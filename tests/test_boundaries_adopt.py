"""`adopt` at its edges, without sops: each value refused on its own (the placeholder itself, a bucket of 2 and 64
characters), a context written where the environment file has none, the files restored when the result does not
load, the custody checklist for keys new and already here (issue 32, mutation survivors of
cattle/secrets/adopt.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.errors import CattleError, ConfigError
from cattle.secrets import adopt, keys
from cattle.secrets import files as secrets
from tests.conftest import EXTERNAL_SECRETS

GOOD = adopt.Settings("https://git.acme.io/ops/infra.git", "infra.acme.io", "acme-dr-backups", "sre@acme.io")


def _with(**changed: str) -> adopt.Settings:
    return adopt.Settings(**{**GOOD.__dict__, **changed})


def test_good_values_have_no_problem_and_each_bad_one_is_named_alone() -> None:
    assert adopt.check(GOOD) == []
    assert adopt.check(_with(git_url="git@github.com:acme/infra.git")) == []
    assert adopt.check(_with(git_url="ssh://git@git.acme.io/ops/infra.git")) == []
    assert adopt.check(_with(bucket="a" * 3)) == [] and adopt.check(_with(bucket="a" * 63)) == []
    assert adopt.check(_with(bucket="zeta-backups")) == []  # sorts after the placeholder, is not it
    for field, value in [("git_url", adopt.PLACEHOLDER_URL), ("git_url", "ftp://git.acme.io/infra"),
                         ("domain", "cattle.example.com"), ("domain", "example.com"), ("domain", "Infra.Acme.io"),
                         ("domain", "acme"), ("bucket", adopt.PLACEHOLDER_BUCKET), ("bucket", "a" * 2),
                         ("bucket", "a" * 64), ("bucket", "Acme"), ("contact", adopt.PLACEHOLDER_CONTACT),
                         ("contact", "sre@acme"), ("contact", "sre acme@acme.io")]:
        problems = adopt.check(_with(**{field: value}))
        flag = "--" + field.replace("_", "-")
        assert len(problems) == 1 and problems[0].startswith(f"{flag} {value!r}: "), (field, value, problems)


def test_every_provider_cattle_knows_is_accepted() -> None:
    assert adopt.check(adopt.Settings(**{**GOOD.__dict__, "providers": {
        "a": "kind", "b": "k3d", "c": "opentofu", "d": "kubeconfig"}})) == []


@pytest.mark.parametrize("item", ["staging=", "=kind", "staging"])
def test_an_environment_value_needs_both_halves(item: str) -> None:
    with pytest.raises(CattleError):
        adopt.per_environment("--provider", [item], ["staging"])
    assert adopt.per_environment("--context", ["staging=a=b"], ["staging"]) == {"staging": "a=b"}


def test_a_context_is_written_where_the_environment_has_none_and_replaced_where_it_has_one() -> None:
    without = "name: testing\ncluster:\n  provider: kind\n  name: cattle-testing\ngit:\n  branch: main\n"
    assert adopt._set_context(without, "kind-x") == (
        "name: testing\ncluster:\n  context: kind-x\n  provider: kind\n  name: cattle-testing\ngit:\n  branch: main\n")
    with_one = "cluster:\n  context: old\n  provider: kind\nother:\n  context: keep\n"
    assert adopt._set_context(with_one, "new") == "cluster:\n  context: new\n  provider: kind\nother:\n  context: new\n"
    assert adopt._set_provider("cluster:\n  provider: kind\nx:\n  provider: kind\n", "k3d") == (
        "cluster:\n  provider: k3d\nx:\n  provider: kind\n")


def test_placeholders_are_found_with_file_and_line_and_replaced_everywhere(repo_copy: Path) -> None:
    staging = repo_copy / "clusters" / "staging" / "environment.yaml"
    lines = staging.read_text().splitlines()
    found = [f for f in adopt.placeholders(repo_copy) if f[0] == "clusters/staging/environment.yaml"]
    assert ("clusters/staging/environment.yaml", lines.index("domain: staging.cattle.example.com") + 1,
            "staging.cattle.example.com") in found
    assert ("clusters/staging/environment.yaml", lines.index("  url: https://github.com/example/cattle.git") + 1,
            "github.com/example/cattle.git") in found
    text = f"{adopt.PLACEHOLDER_PAGES} s3://cattle-backups/x ops@example.com {adopt.PLACEHOLDER_URL} " \
           f"a.{adopt.PLACEHOLDER_DOMAIN}"
    github = _with(git_url="https://github.com/Acme/infra.git")
    assert adopt.rewrite(text, github) == ("https://acme.github.io/infra/ s3://acme-dr-backups/x sre@acme.io "
                                           "https://github.com/Acme/infra.git a.infra.acme.io")
    assert adopt.rewrite(text, GOOD).startswith(f"{adopt.PLACEHOLDER_PAGES} s3://acme-dr-backups/x")


def test_files_are_restored_when_the_environments_no_longer_load(repo_copy: Path) -> None:
    (repo_copy / "README.md").write_text(f"[![report]({adopt.PLACEHOLDER_PAGES}badge.svg)]\n")
    before = {p: p.read_bytes() for p in (repo_copy / "clusters").glob("*/*.yaml")}
    with pytest.raises(ConfigError):
        adopt.write_files(repo_copy, adopt.Settings(**{**GOOD.__dict__, "providers": {"staging": "nonsense"}}))
    assert {p: p.read_bytes() for p in (repo_copy / "clusters").glob("*/*.yaml")} == before
    # a file of the env's own beside environment.yaml, with a `context` of its own: not the cluster's
    settings = repo_copy / "clusters" / "staging" / "app-settings.yaml"
    settings.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\ndata:\n  context: blue\n"
                        "  provider: green\n")
    written = adopt.write_files(repo_copy, adopt.Settings(**{**GOOD.__dict__, "contexts": {"staging": "acme-st"},
                                                             "providers": {"staging": "kubeconfig"}}))
    assert "clusters/staging/environment.yaml" in written and "README.md" not in written  # not on GitHub
    assert "clusters/staging/app-settings.yaml" not in written
    assert settings.read_text().endswith("data:\n  context: blue\n  provider: green\n")
    assert env.load("staging", repo_copy).kube_context == "acme-st"
    assert adopt.write_files(repo_copy, GOOD) == []  # nothing left to change


def test_the_checklist_names_each_key_its_state_and_its_holders() -> None:
    done = adopt.Adoption(keys=[adopt.KeyCustody("production", "age1p", "/keys/production.txt", True),
                                adopt.KeyCustody("testing", "age1t", "$CATTLE_AGE_KEY_TESTING", False),
                                adopt.KeyCustody("qa", "age1q", "/keys/qa.txt", True)])
    lines = done.checklist().splitlines()
    assert lines[1:4] == [
        "  [ ] production: age key age1p (new, /keys/production.txt) -> two named SRE leads; the team password "
        "manager",
        "  [ ] testing: age key age1t (already here, $CATTLE_AGE_KEY_TESTING) -> anyone on the team; CI secret "
        "CATTLE_AGE_KEY_TESTING",
        "  [ ] qa: age key age1q (new, /keys/qa.txt) -> its custodian"]
    assert "Source: GitHub Actions; the github-pages" in done.checklist()
    done.pages = "https://acme.github.io/infra/"
    assert "Source: GitHub Actions (the recovery report is published to https://acme.github.io/infra/); the" \
           in done.checklist()


def test_the_secrets_made_for_a_new_key_are_counted_and_a_second_run_changes_none(
        repo_copy: Path, key_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXTERNAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    first = adopt.Adoption()
    adopt.ensure_keys_and_secrets(repo_copy, first)
    declared = {e: len(adopt.load_spec(repo_copy, e)) for e in ("production", "staging", "testing")}
    assert first.secrets == {e: f"{n} secret(s) generated for the key" for e, n in declared.items()}
    assert [(k.env, k.created) for k in first.keys] == [("production", True), ("staging", True), ("testing", True)]
    again = adopt.Adoption()
    adopt.ensure_keys_and_secrets(repo_copy, again)
    assert again.secrets == {e: "unchanged" for e in declared}
    assert [k.created for k in again.keys] == [False] * 3
    assert len(secrets.secret_files(repo_copy, "testing")) == declared["testing"]


def test_a_key_here_that_the_files_are_not_for_stops_adopt(repo_copy: Path, key_home: Path) -> None:
    keys.key_file("production").parent.mkdir(parents=True, exist_ok=True)
    made = keys.write_new_key(keys.key_file("production"))  # not the key the shipped files are encrypted for
    assert made.public not in (repo_copy / ".sops.yaml").read_text()
    with pytest.raises(adopt.SecretsError) as caught:
        adopt.ensure_keys_and_secrets(repo_copy, adopt.Adoption())
    assert caught.value.message == ("this machine holds a production key that is not the one production's files are "
                                    "encrypted for")
