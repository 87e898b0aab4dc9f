"""The environment model: every declared env loads; bad input is reported with file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cattle import env
from cattle.errors import ConfigError


def test_the_three_environments_load() -> None:
    loaded = {e.name: e for e in env.load_all()}
    assert sorted(loaded) == ["production", "staging", "testing"]
    assert loaded["testing"].provider == "kind"
    assert loaded["testing"].vars["DOMAIN"] == loaded["testing"].domain
    assert loaded["production"].protected is True
    assert loaded["production"].rto_budget == 900.0
    assert loaded["staging"].kube_context == "cattle-staging"


def test_unknown_env_lists_valid_ones() -> None:
    expected = r"unknown environment 'prod'; valid environments: production, staging, testing"
    with pytest.raises(ConfigError, match=expected):
        env.load("prod")


def test_missing_file_is_an_unknown_env(repo_copy: Path) -> None:
    (repo_copy / "clusters/staging/environment.yaml").unlink()
    with pytest.raises(ConfigError, match="unknown environment 'staging'"):
        env.load("staging")


def test_missing_cluster_vars_file_is_reported(repo_copy: Path) -> None:
    (repo_copy / "clusters/staging/cluster-vars.yaml").unlink()
    with pytest.raises(ConfigError, match=r"cluster-vars.yaml: file not found"):
        env.load("staging")


def test_wrong_types_are_all_reported_with_file_and_key(repo_copy: Path) -> None:
    path = repo_copy / "clusters/testing/environment.yaml"
    text = path.read_text().replace("provider: kind", "provider: minikube").replace("keep: 5", "keep: five")
    path.write_text(text.replace("timeout: 15m", "timeout: 15 minutes"))
    with pytest.raises(ConfigError) as caught:
        env.load("testing")
    message = caught.value.message
    assert "3 problem(s)" in message
    assert f"{path}: cluster.provider: must be one of kind, k3d, kubeconfig, opentofu, got 'minikube'" in message
    assert f"{path}: backups.keep: must be an integer, got str 'five'" in message
    assert f"{path}: reconcile.timeout: '15 minutes' is not a duration" in message


def test_duplicate_environment_names(repo_copy: Path) -> None:
    copy = repo_copy / "clusters/stage"
    copy.mkdir()
    (copy / "environment.yaml").write_text((repo_copy / "clusters/staging/environment.yaml").read_text())
    with pytest.raises(ConfigError, match=r"environment name 'staging' is declared twice"):
        env.load("staging")


def test_duplicate_yaml_keys_are_refused(repo_copy: Path) -> None:
    path = repo_copy / "clusters/testing/environment.yaml"
    path.write_text(path.read_text() + "domain: other.localhost\n")
    with pytest.raises(ConfigError, match="duplicate key 'domain'"):
        env.load("testing")


def test_name_must_match_directory_and_vars(repo_copy: Path) -> None:
    path = repo_copy / "clusters/testing/cluster-vars.yaml"
    path.write_text(path.read_text().replace("ENVIRONMENT: testing", "ENVIRONMENT: staging"))
    with pytest.raises(ConfigError, match=r"data.ENVIRONMENT: must be 'testing'"):
        env.load("testing")


def test_kubeconfig_provider_needs_a_context(repo_copy: Path) -> None:
    path = repo_copy / "clusters/staging/environment.yaml"
    text = path.read_text().replace("  provider: opentofu\n", "  provider: kubeconfig\n")
    path.write_text(text.replace("  context: cattle-staging\n", ""))
    with pytest.raises(ConfigError, match=r"cluster.context: required when cluster.provider is kubeconfig"):
        env.load("staging")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("15m", 900.0), ("2h", 7200.0)])
def test_durations(text: str, seconds: float) -> None:
    assert env.parse_duration(text) == seconds


def test_a_misspelt_key_is_an_error_naming_file_key_and_the_nearest_valid_key(repo_copy: Path) -> None:
    path = repo_copy / "clusters/production/environment.yaml"
    path.write_text(path.read_text().replace("protected: true", "protcted: true"))
    with pytest.raises(ConfigError) as caught:
        env.load("production")
    assert f"{path}: protcted: unknown key; did you mean 'protected'?" in caught.value.message


def test_unknown_nested_keys_are_errors_too(repo_copy: Path) -> None:
    path = repo_copy / "clusters/staging/environment.yaml"
    path.write_text(path.read_text().replace("  keep: 14", "  keep: 14\n  retention: 30d"))
    with pytest.raises(ConfigError, match=r"backups.retention: unknown key; valid keys here: database, keep, vault"):
        env.load("staging")


def test_every_environment_file_names_the_schema_for_editors() -> None:
    import json

    import jsonschema

    schema = json.loads(env.schema_path(env.repo_root()).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for name in env.environment_names():
        first = (env.repo_root() / "clusters" / name / env.ENV_FILE).read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../environment.schema.json"


def test_the_opentofu_provider_needs_its_inputs(repo_copy: Path) -> None:
    path = repo_copy / "clusters/production/environment.yaml"
    path.write_text(path.read_text().replace("  nodeCount: 3\n", ""))
    with pytest.raises(ConfigError, match=r"cluster.nodeCount: required but missing"):
        env.load("production")


def test_deleting_the_protected_line_is_an_error_not_an_unprotected_production(repo_copy: Path) -> None:
    """Fail closed, round two (4): `protected:` is required in every environment file."""
    for name in ("production", "staging"):
        path = repo_copy / "clusters" / name / "environment.yaml"
        path.write_text("\n".join(line for line in path.read_text().splitlines()
                                  if not line.startswith("protected:")) + "\n")
        with pytest.raises(ConfigError) as caught:
            env.load(name)
        assert f"{path}: protected: required but missing" in caught.value.message


def test_a_production_like_name_cannot_be_unprotected(repo_copy: Path) -> None:
    """Fail closed, round two (4): an env named like production says protected: false only by mistake."""
    import shutil

    copy = repo_copy / "clusters/prod-eu"
    shutil.copytree(repo_copy / "clusters/staging", copy)
    path = copy / "environment.yaml"
    path.write_text(path.read_text().replace("name: staging\n", "name: prod-eu\n")
                    .replace("s3://cattle-backups/staging/", "s3://cattle-backups/prod-eu/"))
    vars_path = copy / "cluster-vars.yaml"
    vars_path.write_text(vars_path.read_text().replace("ENVIRONMENT: staging", "ENVIRONMENT: prod-eu"))
    with pytest.raises(ConfigError) as caught:
        env.load("prod-eu")
    assert f"{path}: protected: false, but the name 'prod-eu' looks like production's" in caught.value.message
    path.write_text(path.read_text().replace("protected: false", "protected: true"))
    assert env.load("prod-eu").protected


def test_an_env_on_productions_backup_stores_cannot_be_unprotected(repo_copy: Path) -> None:
    """Fail closed, round two (4): staging pointed at production's Vault store (copied config) stays refused."""
    path = repo_copy / "clusters/staging/environment.yaml"
    path.write_text(path.read_text().replace("s3://cattle-backups/staging/vault", "s3://cattle-backups/production"))
    with pytest.raises(ConfigError) as caught:
        env.load("staging")
    assert (f"{path}: protected: false, but its vault store s3://cattle-backups/production overlaps protected "
            "production's vault store s3://cattle-backups/production/vault") in caught.value.message


def test_an_alias_bomb_in_an_environment_file_is_an_error_with_file_and_line(repo_copy: Path) -> None:
    """Fail closed, round two (10): env.show/env.load never expand nested aliases (gigabytes in the message)."""
    path = repo_copy / "clusters/testing/environment.yaml"
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 7)]
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        env.load("testing")
    written = len(path.read_text().splitlines())
    assert f"{path}:{written - 1}: not usable YAML: YAML aliases expand this document to" in caught.value.message
    assert len(str(caught.value)) < 1000


def test_a_recursive_alias_is_refused() -> None:
    from cattle import yamlio

    with pytest.raises(yamlio.AliasBomb, match=r"x.yaml:2: a YAML alias refers to the node that holds it"):
        yamlio.load("a: 1\nb: &b [1, *b]\n", "x.yaml")
    assert yamlio.load("a: &a [1, 2]\nb: *a\n") == {"a": [1, 2], "b": [1, 2]}  # a few aliases are fine
