""".sops.yaml's creation rules at their edges, in a private directory (no sops): a break-glass key equal to the
env's own key (as an equal string read from another file, never the same object), a break-glass key sorting before
or after the env's own, and cluster-vars' BACKUP_AGE_RECIPIENTS kept in step with the rule (issue 32, mutation
survivors of cattle/secrets/sopsconfig.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyrage import x25519

from cattle.errors import SecretsError
from cattle.secrets import sopsconfig

CLUSTER_VARS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
data:
  VAULT_BACKUP_KEEP: "3"
  BACKUP_AGE_RECIPIENTS: {recipients}
  DB_BACKUP_STORE: s3://acme-backups/{env}/postgres
"""


def _publics(count: int) -> list[str]:
    """`count` fresh age recipients, in sorted order."""
    return sorted(str(x25519.Identity.generate().to_public()) for _ in range(count))


def _break_glass(root: Path, text: str) -> None:
    path = root / sopsconfig.BREAK_GLASS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _cluster_vars(root: Path, env: str, recipients: str) -> Path:
    path = root / "clusters" / env / "cluster-vars.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLUSTER_VARS.format(recipients=recipients, env=env))
    return path


def test_a_break_glass_key_equal_to_the_envs_own_key_is_named_once(tmp_path: Path) -> None:
    (own,) = _publics(1)
    sopsconfig.write(tmp_path, {"testing": own})
    _break_glass(tmp_path, f"{own}\n")  # an equal string read from another file: not the same object as the rule's
    assert sopsconfig.required_recipients(tmp_path, "testing") == [own]
    sopsconfig.write(tmp_path, {"testing": own})
    assert sopsconfig.read_rules(tmp_path)["testing"].recipients == (own,)


@pytest.mark.parametrize("glass_sorts", ["before", "after"])
def test_the_break_glass_key_is_appended_to_every_rule_wherever_it_sorts(tmp_path: Path, glass_sorts: str) -> None:
    low, high = _publics(2)
    own, glass = (high, low) if glass_sorts == "before" else (low, high)
    _break_glass(tmp_path, f"  {glass}  \n")
    sopsconfig.write(tmp_path, {"testing": own, "staging": own})
    rules = sopsconfig.read_rules(tmp_path)
    assert {env: rule.recipients for env, rule in rules.items()} == {"staging": (own, glass), "testing": (own, glass)}
    assert sopsconfig.required_recipients(tmp_path, "testing") == [own, glass]
    assert sopsconfig.env_recipient(tmp_path, "testing") == own


def test_a_break_glass_file_that_holds_no_age_key_is_refused(tmp_path: Path) -> None:
    _break_glass(tmp_path, "ssh-ed25519 AAAA nobody\n")
    with pytest.raises(SecretsError, match="not an age public key"):
        sopsconfig.break_glass(tmp_path)
    (tmp_path / sopsconfig.BREAK_GLASS).unlink()
    assert sopsconfig.break_glass(tmp_path) is None


def test_cluster_vars_follow_the_envs_recipients_and_a_file_without_the_line_is_left_alone(tmp_path: Path) -> None:
    old, new, glass = _publics(3)
    vars_testing = _cluster_vars(tmp_path, "testing", old)
    vars_staging = _cluster_vars(tmp_path, "staging", old)
    without = tmp_path / "clusters" / "production" / "cluster-vars.yaml"
    without.parent.mkdir(parents=True)
    without.write_text("data:\n  DOMAIN: acme.io\n")
    sopsconfig.write(tmp_path, {"testing": old, "staging": old, "production": old})
    assert sopsconfig.cluster_vars_recipients(tmp_path, "testing") == old
    assert sopsconfig.cluster_vars_recipients(tmp_path, "production") is None
    assert sopsconfig.cluster_vars_recipients(tmp_path, "nowhere") is None  # no cluster-vars file at all

    sopsconfig.set_env_recipient(tmp_path, "testing", new)
    assert sopsconfig.cluster_vars_recipients(tmp_path, "testing") == new
    assert f"  BACKUP_AGE_RECIPIENTS: {new}\n" in vars_testing.read_text()
    assert "DB_BACKUP_STORE: s3://acme-backups/testing/postgres" in vars_testing.read_text()
    assert sopsconfig.cluster_vars_recipients(tmp_path, "staging") == old  # another env's file is not touched
    assert vars_staging.read_text() == CLUSTER_VARS.format(recipients=old, env="staging")

    _break_glass(tmp_path, glass)
    sopsconfig.set_env_recipient(tmp_path, "production", new)  # no BACKUP_AGE_RECIPIENTS line: nothing written
    assert without.read_text() == "data:\n  DOMAIN: acme.io\n"
    sopsconfig.sync_cluster_vars(tmp_path, "testing")
    assert sopsconfig.cluster_vars_recipients(tmp_path, "testing") == f"{new},{glass}"
    assert sopsconfig.read_rules(tmp_path)["production"].recipients == (new, glass)
