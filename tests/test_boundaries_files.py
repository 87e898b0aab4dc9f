"""The secrets operations at their edges, with the real sops and age: which paths are an environment's secret
files, the pre-commit hook never replacing another's, init's refusal naming what it found, an edit that changes
nothing or whose editor fails, a throwaway environment's stale key moved aside, a rotation that needs the current
key (issue 32, mutation survivors of cattle/secrets/files.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from cattle.errors import SecretsError
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsconfig, sopsfile

GRAFANA = Path("secrets/testing/grafana-admin.secret.yaml")


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("relpath", ["secrets/testing/x.secret.yaml", "secrets/a/b"])
def test_a_path_of_three_parts_under_secrets_names_its_environment(relpath: str) -> None:
    assert secrets.env_of(Path(relpath)) == Path(relpath).parts[1]


@pytest.mark.parametrize("relpath", ["secrets/x.secret.yaml", "secrets/testing/deeper/x.secret.yaml",
                                     "apps/testing/x.secret.yaml", "x.secret.yaml"])
def test_any_other_path_names_no_environment(relpath: str) -> None:
    with pytest.raises(SecretsError) as caught:
        secrets.env_of(Path(relpath))
    assert caught.value.message == f"{relpath} is not under secrets/<env>/"


def test_only_secret_yaml_files_are_the_envs_and_the_kustomization_lists_them_sorted(secrets_repo: Path) -> None:
    directory = secrets_repo / "secrets/testing"
    (directory / "notes.yaml").write_text("a: b\n")
    (directory / "old.secret.yml").write_text("a: b\n")
    listed = secrets.secret_files(secrets_repo, "testing")
    assert listed == sorted(p.relative_to(secrets_repo) for p in directory.glob("*.secret.yaml"))
    assert all(p.parent == Path("secrets/testing") for p in listed) and len(listed) == 6
    secrets.sync_kustomization(secrets_repo, "testing")
    text = (directory / "kustomization.yaml").read_text()
    assert text.startswith("# SOPS-encrypted Secrets of testing; the list is kept by `./scripts/cattle secrets.*`.\n")
    assert yaml.safe_load(text) == {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                    "resources": [p.name for p in listed]}


def test_the_hook_is_installed_only_in_a_git_checkout_and_never_over_another(tmp_path: Path) -> None:
    assert secrets.install_hook(tmp_path) == "not a git checkout: pre-commit hook not installed"
    (tmp_path / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git file: not a directory
    assert secrets.install_hook(tmp_path) == "not a git checkout: pre-commit hook not installed"
    (tmp_path / ".git").unlink()
    (tmp_path / ".git").mkdir()
    hook = tmp_path / ".git" / "hooks" / "pre-commit"
    assert secrets.install_hook(tmp_path) == f"pre-commit hook installed: {hook}"  # hooks/ made
    assert hook.read_text() == secrets.HOOK and stat.S_IMODE(hook.stat().st_mode) == 0o755
    hook.write_text(secrets.HOOK.replace("exec", "exec nice"))  # cattle's, changed: still cattle's to replace
    assert secrets.install_hook(tmp_path) == f"pre-commit hook installed: {hook}"
    assert hook.read_text() == secrets.HOOK
    hook.write_text("#!/bin/sh\nexec lint-staged\n")
    assert secrets.install_hook(tmp_path) == (f"{hook} exists and is not cattle's: add `./scripts/cattle "
                                              "secrets.check --no-decrypt` to it yourself")
    assert hook.read_text() == "#!/bin/sh\nexec lint-staged\n"


def test_init_refusing_names_how_many_files_and_for_whom(secrets_repo: Path) -> None:
    testing = keys.find_identity("testing")
    assert testing is not None
    count = len(secrets.secret_files(secrets_repo, "testing"))
    keys.key_file("testing").unlink()
    with pytest.raises(SecretsError) as caught:
        secrets.init(secrets_repo, "testing")
    assert caught.value.message.startswith(f"secrets/testing holds {count} file(s) encrypted for {testing.public}; ")
    # with no rule for the env in .sops.yaml, the files' own recipients are named
    others = {env: rule.recipients[0] for env, rule in sopsconfig.read_rules(secrets_repo).items() if env != "testing"}
    sopsconfig.write(secrets_repo, others)
    with pytest.raises(SecretsError) as caught:
        secrets.init(secrets_repo, "testing")
    assert caught.value.message.startswith(f"secrets/testing holds {count} file(s) encrypted for {testing.public}; ")
    assert not keys.key_file("testing").exists()
    for relpath in secrets.secret_files(secrets_repo, "testing")[1:]:  # one file left: the first is the one named
        (secrets_repo / relpath).unlink()
    with pytest.raises(SecretsError) as caught:
        secrets.init(secrets_repo, "testing")
    assert caught.value.message.startswith(f"secrets/testing holds 1 file(s) encrypted for {testing.public}; ")


def test_init_with_force_warns_about_files_for_another_key(secrets_repo: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    count = len(secrets.secret_files(secrets_repo, "testing"))
    keys.key_file("testing").unlink()
    identity = secrets.init(secrets_repo, "testing", force=True)
    assert sopsconfig.env_recipient(secrets_repo, "testing") == identity.public
    said = capsys.readouterr()
    assert f"warning: {count} existing file(s) in secrets/testing are encrypted for another key" in said.out + said.err


def test_rotating_an_undeclared_secret_is_refused_naming_every_one_sorted(secrets_repo: Path) -> None:
    before = (secrets_repo / GRAFANA).read_bytes()
    with pytest.raises(SecretsError) as caught:
        secrets.generate(secrets_repo, "testing", ("zeta", "grafana-admin", "alpha"))
    assert caught.value.message == "--rotate names undeclared secret(s): alpha, zeta"
    assert (caught.value.hint or "").endswith("backup-s3, feeds-backup-s3, grafana-admin, miniflux-admin, "
                                              "openbao-backup, openbao-seal-key")
    assert (secrets_repo / GRAFANA).read_bytes() == before


def test_a_new_secret_never_replaces_a_file_and_needs_a_key(secrets_repo: Path) -> None:
    with pytest.raises(SecretsError, match="already exists"):
        secrets.new(secrets_repo, "testing", "grafana-admin", "monitoring", {"a": "b"})
    with pytest.raises(SecretsError, match="at least one key"):
        secrets.new(secrets_repo, "testing", "empty", "feeds", {})
    assert not (secrets_repo / "secrets/testing/empty.secret.yaml").exists()
    with pytest.raises(SecretsError) as caught:
        secrets.encrypt_in_place(secrets_repo, Path("secrets/testing/absent.secret.yaml"))
    assert caught.value.message == "secrets/testing/absent.secret.yaml: no such file"


def test_an_edit_that_changes_nothing_leaves_the_file_and_one_that_does_reencrypts(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (secrets_repo / GRAFANA).read_bytes()
    assert secrets.edit(secrets_repo, GRAFANA, _editor(tmp_path, "exit 0")) is False
    assert (secrets_repo / GRAFANA).read_bytes() == before  # not even re-encrypted
    with pytest.raises(SecretsError) as caught:
        secrets.edit(secrets_repo, GRAFANA, _editor(tmp_path, 'echo "  extra: value" >> "$1"; exit 1'))
    assert caught.value.message.endswith(f"exited 1; {GRAFANA} left unchanged")
    assert (secrets_repo / GRAFANA).read_bytes() == before
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "sed -i 's/admin-user: admin/admin-user: root/' \"$1\""))
    assert secrets.edit(secrets_repo, GRAFANA) is True
    assert yaml.safe_load(secrets.decrypt(secrets_repo, GRAFANA))["stringData"]["admin-user"] == "root"
    # a change that sorts before the old text ("abc" < "root") is a change too
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "sed -i 's/admin-user: root/admin-user: abc/' \"$1\""))
    assert secrets.edit(secrets_repo, GRAFANA) is True
    assert yaml.safe_load(secrets.decrypt(secrets_repo, GRAFANA))["stringData"]["admin-user"] == "abc"


def test_a_throwaway_env_moves_a_stale_key_aside_and_a_kept_env_asks_for_its_own(
        secrets_repo: Path, tmp_path: Path) -> None:
    stale = keys.write_new_key(tmp_path / "stale.txt")
    keys.key_file("testing").write_text(stale.secret + "\n")  # a key, but not the one the files are for
    identity, outcomes = secrets.ensure_key(secrets_repo, "testing", may_generate=True)
    aside = [p for p in keys.key_dir().iterdir() if p.name.startswith("testing.txt.unused-")]
    assert len(aside) == 1 and aside[0].read_text().strip() == stale.secret
    assert aside[0].name.removeprefix("testing.txt.unused-").isdigit()
    assert identity.public not in (stale.public, "") and len(outcomes) == 6
    assert secrets.ensure_key(secrets_repo, "testing", may_generate=True) == (identity, [])  # now found
    keys.key_file("staging").unlink()
    with pytest.raises(SecretsError, match="no age key for environment 'staging'"):
        secrets.ensure_key(secrets_repo, "staging", may_generate=False)
    assert not keys.key_file("staging").exists()


def test_rotation_needs_the_current_key_file_or_a_key_that_opens_every_file(secrets_repo: Path,
                                                                            tmp_path: Path) -> None:
    testing = keys.find_identity("testing")
    assert testing is not None
    keys.key_file("testing").rename(tmp_path / "kept.txt")
    with pytest.raises(SecretsError) as caught:
        secrets.rotate(secrets_repo, "testing")
    assert caught.value.message.startswith(f"rotation needs the current key in {keys.key_file('testing')}")
    stranger = keys.write_new_key(keys.key_file("testing"))
    with pytest.raises(SecretsError) as caught:
        secrets.rotate(secrets_repo, "testing")
    assert caught.value.message == f"the current key of testing ({testing.public}) is not on this machine"
    assert sopsconfig.env_recipient(secrets_repo, "testing") == testing.public
    assert keys.pending_key_file("testing").is_file()  # the new key waits for the next run
    # the break-glass key opens every file: rotation goes ahead without the env's own key
    glass = keys.write_new_key(tmp_path / "glass.txt")
    (secrets_repo / sopsconfig.BREAK_GLASS).write_text(glass.public + "\n")
    keys.key_file("testing").write_text(testing.secret + "\n")
    secrets.update_recipients(secrets_repo, "testing")
    keys.key_file("testing").write_text(stranger.secret + "\n" + glass.secret + "\n")
    new = secrets.rotate(secrets_repo, "testing")
    for relpath in secrets.secret_files(secrets_repo, "testing"):
        assert sopsfile.recipients(secrets_repo / relpath) == [new.public, glass.public]


def test_updating_recipients_needs_the_envs_rule(secrets_repo: Path) -> None:
    others = {env: rule.recipients[0] for env, rule in sopsconfig.read_rules(secrets_repo).items() if env != "testing"}
    sopsconfig.write(secrets_repo, others)
    with pytest.raises(SecretsError) as caught:
        secrets.update_recipients(secrets_repo, "testing")
    assert caught.value.message == ".sops.yaml has no rule for testing"
