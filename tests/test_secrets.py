"""Secrets end to end with the real sops binary and real age keys."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
import yaml

from cattle.errors import SecretsError
from cattle.secrets import check as secretcheck
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsconfig, sopsfile

ENVS = ("testing", "staging", "production")


def _plain(root: Path, relpath: str) -> dict[str, object]:
    return yaml.safe_load(secrets.decrypt(root, Path(relpath)))


@pytest.mark.parametrize("env", ENVS)
def test_round_trip_per_env_keeps_metadata_plaintext(secrets_repo: Path, env: str) -> None:
    relpath = secrets.new(secrets_repo, env, "round-trip", "feeds", {"token": "s3cr3t-value", "user": "bob"})
    text = (secrets_repo / relpath).read_text()
    assert "s3cr3t-value" not in text
    encrypted = yaml.safe_load(text)
    assert encrypted["metadata"] == {"name": "round-trip", "namespace": "feeds"}
    assert encrypted["kind"] == "Secret"
    assert encrypted["stringData"]["token"].startswith("ENC[AES256_GCM,")
    assert encrypted["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert _plain(secrets_repo, str(relpath))["stringData"] == {"token": "s3cr3t-value", "user": "bob"}
    assert "round-trip.secret.yaml" in (secrets_repo / f"secrets/{env}/kustomization.yaml").read_text()


def test_each_env_is_encrypted_for_its_own_key_only(secrets_repo: Path) -> None:
    publics = {env: keys.find_identity(env).public for env in ENVS}  # type: ignore[union-attr]
    assert len(set(publics.values())) == 3
    for env in ENVS:
        for relpath in secrets.secret_files(secrets_repo, env):
            assert sopsfile.recipients(secrets_repo / relpath) == [publics[env]]


def test_testing_key_cannot_decrypt_production(secrets_repo: Path) -> None:
    testing_key = keys.find_identity("testing")
    assert testing_key is not None
    with pytest.raises(SecretsError, match="none of the keys at hand can decrypt"):
        sopsfile.decrypt(secrets_repo, Path("secrets/production/grafana-admin.secret.yaml"), [testing_key])


def test_break_glass_recipient_decrypts_every_env(secrets_repo: Path, tmp_path: Path) -> None:
    glass = keys.write_new_key(tmp_path / "break-glass.txt")
    (secrets_repo / sopsconfig.BREAK_GLASS).write_text(glass.public + "\n")
    for env in ENVS:
        secrets.update_recipients(secrets_repo, env)
        for relpath in secrets.secret_files(secrets_repo, env):
            assert yaml.safe_load(sopsfile.decrypt(secrets_repo, relpath, [glass]))["kind"] == "Secret"
    problems, notes = secretcheck.check(secrets_repo, list(ENVS))
    assert problems == [] and notes == []


def test_generate_keeps_existing_values_unless_rotated(secrets_repo: Path) -> None:
    before = _plain(secrets_repo, "secrets/testing/grafana-admin.secret.yaml")["stringData"]
    seal_before = _plain(secrets_repo, "secrets/testing/openbao-seal-key.secret.yaml")["stringData"]
    outcomes = {o.name: o.status for o in secrets.generate(secrets_repo, "testing", ("grafana-admin",))}
    assert outcomes.pop("grafana-admin") == "rotated"
    assert set(outcomes.values()) == {"unchanged"} and "openbao-seal-key" in outcomes
    after = _plain(secrets_repo, "secrets/testing/grafana-admin.secret.yaml")["stringData"]
    assert after["admin-user"] == "admin" and after["admin-password"] != before["admin-password"]  # type: ignore[index]
    assert len(after["admin-password"]) == 32  # type: ignore[index]
    assert _plain(secrets_repo, "secrets/testing/openbao-seal-key.secret.yaml")["stringData"] == seal_before
    assert len(bytes.fromhex(seal_before["key"])) == 32  # type: ignore[index]


def test_missing_file_is_created_and_external_values_are_required(secrets_repo: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    spec = secrets_repo / "secrets/staging/secrets.spec.yaml"
    spec.write_text(spec.read_text() +
                    "  - name: dns-api\n    namespace: cert-manager\n    keys:\n"
                    "      token: {generator: external}\n      account: {generator: external}\n"
                    "  - name: webhook-tls\n    namespace: feeds\n    generator: tls\n"
                    "    commonName: hooks.example.com\n")
    with pytest.raises(SecretsError, match="CATTLE_SECRET_DNS_API_TOKEN, CATTLE_SECRET_DNS_API_ACCOUNT"):
        secrets.generate(secrets_repo, "staging")
    monkeypatch.setenv("CATTLE_SECRET_DNS_API_TOKEN", "tok-123")
    monkeypatch.setenv("CATTLE_SECRET_DNS_API_ACCOUNT", "acme")
    outcomes = {o.name: o.status for o in secrets.generate(secrets_repo, "staging")}
    assert outcomes["dns-api"] == "created" and outcomes["grafana-admin"] == "unchanged"
    assert _plain(secrets_repo, "secrets/staging/dns-api.secret.yaml")["stringData"] == {
        "token": "tok-123", "account": "acme"}
    tls = _plain(secrets_repo, "secrets/staging/webhook-tls.secret.yaml")
    assert tls["type"] == "kubernetes.io/tls"
    assert tls["stringData"]["tls.crt"].startswith("-----BEGIN CERTIFICATE-----")  # type: ignore[index]


def test_init_never_overwrites_an_existing_key(secrets_repo: Path, key_home: Path) -> None:
    path = keys.key_file("testing")
    before = path.read_bytes()
    with pytest.raises(SecretsError, match="already has an age key"):
        secrets.init(secrets_repo, "testing")
    assert path.read_bytes() == before
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_key_explains_custody(secrets_repo: Path) -> None:
    keys.key_file("production").unlink()
    with pytest.raises(SecretsError) as caught:
        secrets.decrypt(secrets_repo, Path("secrets/production/grafana-admin.secret.yaml"))
    assert "no age key for environment 'production'" in caught.value.message
    assert "custodian" in (caught.value.hint or "")
    assert "secrets.init" not in (caught.value.hint or "")  # a new key decrypts nothing: never the way out


def test_init_refuses_an_env_encrypted_for_a_key_that_is_not_here(secrets_repo: Path) -> None:
    keys.key_file("production").unlink()
    sops_config, cluster_vars = secrets_repo / ".sops.yaml", secrets_repo / "clusters/production/cluster-vars.yaml"
    before = (sops_config.read_bytes(), cluster_vars.read_bytes())
    with pytest.raises(SecretsError) as caught:
        secrets.init(secrets_repo, "production")
    assert "a new key decrypts none of them" in caught.value.message
    assert "--force" in (caught.value.hint or "") and "custodian" in (caught.value.hint or "")
    assert (sops_config.read_bytes(), cluster_vars.read_bytes()) == before
    assert not keys.key_file("production").exists()
    identity = secrets.init(secrets_repo, "production", force=True)
    assert identity.public in sops_config.read_text()


def test_wrong_key_from_ci_variable(secrets_repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys.key_file("staging").unlink()
    stranger = keys.write_new_key(tmp_path / "stranger.txt")
    monkeypatch.setenv("CATTLE_AGE_KEY_STAGING", stranger.secret)
    with pytest.raises(SecretsError, match="none of the keys at hand can decrypt"):
        secrets.decrypt(secrets_repo, Path("secrets/staging/grafana-admin.secret.yaml"))


@pytest.mark.parametrize("tamper", ["metadata", "ciphertext"])
def test_tampered_file_fails_its_mac(secrets_repo: Path, tamper: str) -> None:
    path = secrets_repo / "secrets/testing/miniflux-admin.secret.yaml"
    doc = yaml.safe_load(path.read_text())
    if tamper == "metadata":
        doc["metadata"]["namespace"] = "kube-system"  # plaintext, but covered by the MAC
    else:
        value = doc["stringData"]["password"]
        data = value.split("data:")[1].split(",")[0]
        doc["stringData"]["password"] = value.replace(data, data[::-1])
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SecretsError, match=r"corrupt or was tampered with \(MAC check failed\)"):
        secrets.decrypt(secrets_repo, Path("secrets/testing/miniflux-admin.secret.yaml"))
    problems, _ = secretcheck.check(secrets_repo, ["testing"])
    assert [(p.rule, p.file) for p in problems] == [("mac", "secrets/testing/miniflux-admin.secret.yaml")]


def test_file_outside_any_creation_rule(secrets_repo: Path) -> None:
    (secrets_repo / "secrets/nowhere").mkdir()
    with pytest.raises(SecretsError, match=r"matches no creation rule in \.sops\.yaml"):
        sopsfile.encrypt(secrets_repo, Path("secrets/nowhere/x.secret.yaml"), b"kind: Secret\nstringData: {a: b}\n")


def test_encrypting_an_encrypted_file_is_refused(secrets_repo: Path) -> None:
    path = secrets_repo / "secrets/testing/grafana-admin.secret.yaml"
    before = path.read_bytes()
    with pytest.raises(SecretsError, match="already SOPS-encrypted"):
        secrets.encrypt_in_place(secrets_repo, Path("secrets/testing/grafana-admin.secret.yaml"))
    assert path.read_bytes() == before


def test_rotation_rekeys_every_file_and_keeps_values(secrets_repo: Path, key_home: Path) -> None:
    old = keys.find_identity("testing")
    assert old is not None
    values = {p: _plain(secrets_repo, str(p)) for p in secrets.secret_files(secrets_repo, "testing")}
    new = secrets.rotate(secrets_repo, "testing")
    assert new.public != old.public
    assert sopsconfig.env_recipient(secrets_repo, "testing") == new.public
    for relpath, plain in values.items():
        assert yaml.safe_load(sopsfile.decrypt(secrets_repo, relpath, [new])) == plain
        with pytest.raises(SecretsError):
            sopsfile.decrypt(secrets_repo, relpath, [old])
    assert any(p.name.startswith("testing.txt.rotated-") for p in (key_home / "age").iterdir())
    assert not keys.pending_key_file("testing").exists()


def test_interrupted_rotation_leaves_files_decryptable_and_resumes(secrets_repo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    old = keys.find_identity("testing")
    assert old is not None
    real_encrypt = sopsfile.encrypt
    calls = {"n": 0}

    def crash_on_second(root: Path, relpath: Path, plaintext: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("power cut")
        return real_encrypt(root, relpath, plaintext)

    monkeypatch.setattr(sopsfile, "encrypt", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        secrets.rotate(secrets_repo, "testing")
    monkeypatch.setattr(sopsfile, "encrypt", real_encrypt)
    assert keys.key_file("testing").is_file() and keys.pending_key_file("testing").is_file()
    for relpath in secrets.secret_files(secrets_repo, "testing"):
        assert yaml.safe_load(secrets.decrypt(secrets_repo, relpath))["kind"] == "Secret"
    pending_public = keys.parse_identities(keys.pending_key_file("testing").read_text(), "pending")[0].public
    new = secrets.rotate(secrets_repo, "testing")
    assert new.public == pending_public
    for relpath in secrets.secret_files(secrets_repo, "testing"):
        assert sopsfile.recipients(secrets_repo / relpath) == [new.public]


def test_check_catches_planted_plaintext_secret_and_private_key(secrets_repo: Path, tmp_path: Path) -> None:
    assert secretcheck.check(secrets_repo, list(ENVS)) == ([], [])
    (secrets_repo / "apps/base/miniflux/oops.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData:\n  password: hunter2\n")
    stray = keys.write_new_key(tmp_path / "k.txt")
    (secrets_repo / "scripts").mkdir()
    (secrets_repo / "scripts/notes.txt").write_text(f"remember: {stray.secret}\n")
    (secrets_repo / "secrets/testing/plain.secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  a: b\n")
    problems, _ = secretcheck.check(secrets_repo, list(ENVS))
    found = {(p.rule, p.file) for p in problems}
    assert ("plaintext", "apps/base/miniflux/oops.yaml") in found
    assert ("private-key", "scripts/notes.txt") in found
    assert ("plaintext", "secrets/testing/plain.secret.yaml") in found


FAKE_SOPS = "sops: {mac: 'ENC[AES256_GCM,data:x]', lastmodified: '2026-01-01T00:00:00Z', age: [{recipient: a, enc: b}]}"
SPELLINGS = {
    "flow.txt": "{apiVersion: v1, kind: Secret, metadata: {name: flow}, stringData: {password: hunter2}}\n",
    "quoted-second-doc.yml": "kind: ConfigMap\n---\n'kind': \"Secret\"\nmetadata: {name: quoted}\ndata: {a: aGk=}\n",
    "list.json": '{"kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "in-list"},'
                 ' "stringData": {"k": "v"}}]}',
    "array.json": '[{"kind": "Secret", "metadata": {"name": "in-array"}, "data": {"k": "dg=="}}]',
    "fake-envelope.yaml": "kind: Secret\nmetadata: {name: fake}\nstringData: {k: v}\nsops: {mac: anything}\n",
    "half-encrypted.yaml": f"kind: Secret\nmetadata: {{name: half}}\nstringData: {{k: v}}\n{FAKE_SOPS}\n",
    "no-extension": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bare\nstringData:\n  token: abc\n",
    # Fail closed, round two (9): manifests a HelmRelease embeds in its values, as objects or as YAML strings
    "helm-extra-objects.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app}\n"
                               "spec:\n  values:\n    extraObjects:\n      - apiVersion: v1\n        kind: Secret\n"
                               "        metadata: {name: embedded}\n        stringData: {password: hunter2}\n",
    "helm-extra-objects-string.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
                                      "metadata: {name: app}\nspec:\n  values:\n    extraManifests:\n"
                                      "      - |\n        apiVersion: v1\n        kind: Secret\n"
                                      "        metadata: {name: in-a-string}\n        stringData: {password: x}\n",
    # ... and a secretGenerator with literals or env files, wherever it is declared
    "generator.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nsecretGenerator:\n"
                      "  - name: db\n    literals: [password=hunter2]\n",
    "generator-envs.yml": "secretGenerator:\n  - name: db\n    envs: [db.env]\n",
    # one broken document must not hide the plaintext Secret before it
    "then-broken.yaml": "kind: Secret\nmetadata: {name: before}\nstringData: {k: v}\n---\nfoo: [unclosed\n",
    # a Secret that does not parse cannot be shown to be encrypted
    "broken-secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: broken}\nstringData: {k: [v\n",
}


@pytest.mark.parametrize("filename", sorted(SPELLINGS))
def test_plaintext_guard_parses_every_spelling(repo_copy: Path, filename: str) -> None:
    """secrets.check and the pre-commit hook (secrets.check --no-decrypt) share cattle.secrets.plaintext with
    validate."""
    (repo_copy / "platform" / filename).write_text(SPELLINGS[filename])
    problems = secretcheck.check_repository(repo_copy)
    assert [(p.rule, p.file) for p in problems] == [("plaintext", f"platform/{filename}")]


def test_only_a_complete_envelope_counts_as_encrypted() -> None:
    from cattle.secrets.plaintext import plaintext_secrets

    encrypted = ("kind: Secret\nmetadata: {name: ok}\nstringData: {k: 'ENC[AES256_GCM,data:abc,type:str]'}\n"
                 + FAKE_SOPS + "\n")
    assert plaintext_secrets(encrypted) == []
    assert plaintext_secrets(encrypted.replace("enc: b", "enc: ''")) == [
        ("ok", "SOPS envelope without a recipient holding the data key")]
    assert plaintext_secrets(encrypted.replace("mac: 'ENC[AES256_GCM,data:x]', ", "")) == [
        ("ok", "SOPS envelope without a MAC")]
    assert plaintext_secrets("kind: Secret\nmetadata: {name: empty}\n") == []  # nothing to leak


def test_invalid_yaml_error_names_line_and_column_but_never_the_value(secrets_repo: Path) -> None:
    relpath = Path("secrets/testing/broken.secret.yaml")
    plaintext = b"kind: Secret\nstringData:\n  password: hunter2: oops\n"
    with pytest.raises(SecretsError) as caught:
        sopsfile.encrypt(secrets_repo, relpath, plaintext)
    assert caught.value.message == f"{relpath}: not valid YAML at line 3, column 20"
    assert "hunter2" not in str(caught.value) and caught.value.__cause__ is None


def test_check_catches_wrong_recipients(secrets_repo: Path) -> None:
    production = keys.find_identity("production")
    assert production is not None
    sopsconfig.set_env_recipient(secrets_repo, "testing", production.public)
    problems, _ = secretcheck.check(secrets_repo, ["testing"], decrypt=False)
    assert {p.rule for p in problems} == {"recipients"}
    assert len(problems) == len(secrets.secret_files(secrets_repo, "testing"))


def test_flux_secret_carries_the_key_under_an_agekey_name(secrets_repo: Path) -> None:
    identity = keys.require_identity("testing")
    secret = keys.flux_secret(identity, "testing")
    assert secret["metadata"] == {"name": "sops-age", "namespace": "flux-system",
                                  "labels": {"app.kubernetes.io/managed-by": "cattle"}}
    [(name, value)] = secret["data"].items()  # data, not stringData: cattle owns the field it applies
    assert name.endswith(".agekey") and base64.b64decode(value).decode().strip() == identity.secret
    assert identity.secret not in repr(identity)


def test_throwaway_env_without_key_gets_a_new_key_and_secret_set(secrets_repo: Path) -> None:
    old_public = keys.find_identity("testing").public  # type: ignore[union-attr]
    keys.key_file("testing").unlink()
    identity, outcomes = secrets.ensure_key(secrets_repo, "testing", may_generate=True)
    assert identity.public != old_public
    assert {o.status for o in outcomes} == {"rotated"}
    assert secretcheck.check(secrets_repo, ["testing"]) == ([], [])
    keys.key_file("production").unlink()
    with pytest.raises(SecretsError, match="no age key for environment 'production'"):
        secrets.ensure_key(secrets_repo, "production", may_generate=False)


def test_pre_commit_hook_blocks_a_plaintext_secret(secrets_repo: Path) -> None:
    import shutil

    from tests.conftest import REPO

    for name in ("cattle", "tasks.py", ".gitignore"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, secrets_repo / name)
    (secrets_repo / ".venv").symlink_to(REPO / ".venv")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=secrets_repo, check=True)
    assert "pre-commit hook installed" in secrets.install_hook(secrets_repo)
    subprocess.run([*git, "add", "-A"], cwd=secrets_repo, check=True)
    ok = subprocess.run([*git, "commit", "-qm", "clean"], cwd=secrets_repo, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (secrets_repo / "apps/leak.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\n"
                                                 "stringData:\n  p: q\n")
    subprocess.run([*git, "add", "-A"], cwd=secrets_repo, check=True)
    blocked = subprocess.run([*git, "commit", "-qm", "leak"], cwd=secrets_repo, capture_output=True, text=True)
    assert blocked.returncode != 0
    assert "plaintext Secret leak" in blocked.stdout + blocked.stderr
    # what is committed is the index: staged, then removed from the working tree, it is still blocked
    (secrets_repo / "apps/leak.yaml").unlink()
    gone = subprocess.run([*git, "commit", "-qm", "leak"], cwd=secrets_repo, capture_output=True, text=True)
    assert gone.returncode != 0
    assert "plaintext Secret leak" in gone.stdout + gone.stderr


def _alias_bomb(levels: int) -> str:
    """`levels` lines of nested aliases, each nine of the one before: 9**levels nodes from a few hundred bytes."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_by_the_plaintext_guard_with_its_line(repo_copy: Path) -> None:
    """Fail closed, round two (10): nested aliases neither hang the guard (and so the hook) nor pass it."""
    from cattle.secrets import check as secretcheck

    bomb = repo_copy / "apps" / "bomb.yaml"
    bomb.write_text("kind: ConfigMap\n---\n" + _alias_bomb(6))  # 6 million nodes: walkable, but refused
    problems = [p for p in secretcheck.check_repository(repo_copy) if p.file == "apps/bomb.yaml"]
    assert [p.rule for p in problems] == ["plaintext"]
    assert "line 8: YAML aliases expand this document to" in problems[0].message



def test_a_stray_byte_does_not_hide_a_plaintext_secret_file(repo_copy: Path) -> None:
    """Fail closed, round two (9): a secrets/<env>/*.secret.yaml with one byte that is not UTF-8 is checked, not
    skipped."""
    path = repo_copy / "secrets/testing/stray.secret.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: stray # caf\xe9\nstringData:\n  a: b\n")
    problems = [p for p in secretcheck.check_repository(repo_copy) if p.file == "secrets/testing/stray.secret.yaml"]
    messages = [p.message for p in problems]
    assert {p.rule for p in problems} == {"plaintext"}
    assert any(m.startswith("not valid UTF-8 (byte 57)") for m in messages), messages
    assert any(m.startswith("plaintext Secret stray") for m in messages), messages


def _public_key_of(key_file: Path) -> str:
    return next(line.split(": ", 1)[1] for line in key_file.read_text().splitlines() if "public key:" in line)


@pytest.mark.parametrize("holding", ["public key", "empty"])
def test_a_key_file_that_holds_no_secret_key_is_named_as_such(secrets_repo: Path, key_home: Path,
                                                               holding: str) -> None:
    """Issue 31, item 5: a key file holding only the pasted public key, or nothing, is named as such (not "no age
    key … looked in …"), by the message dr.rehearse and bootstrap show."""
    from cattle import env as environments
    from cattle.dr import rehearse

    path = keys.key_file("testing")
    path.write_text(f"{_public_key_of(path)}\n" if holding == "public key" else "")
    with pytest.raises(SecretsError) as caught:
        keys.require_identity("testing")
    said = {"public key": "holds only a public key (age1…), not the secret key (a line starting AGE-SECRET-KEY-1…",
            "empty": "is empty"}[holding]
    assert caught.value.message.startswith(
        f"no age key for environment 'testing': the key file {path} exists but {said}")
    assert "looked in" not in caught.value.message
    result = rehearse.rehearse(environments.load("testing", secrets_repo))
    assert f"the key file {path} exists but {said}" in result.render()


def test_secrets_check_that_could_not_verify_is_not_ok(secrets_repo: Path, key_home: Path) -> None:
    """Issue 31, item 5: without the testing key the MACs are not verified: NOT VERIFIED and exit 3, never "ok";
    --no-decrypt asks for the check without keys and is ok."""
    import os
    import sys

    from tests.conftest import REPO

    keys.key_file("testing").unlink()

    def check(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO / "tasks.py"), "secrets.check", "--env", "testing", *flags],
                              capture_output=True, text=True, check=False, timeout=120, env=dict(os.environ))

    unverified = check()
    assert unverified.returncode == 3, unverified.stdout + unverified.stderr
    assert "secrets.check: ok" not in unverified.stdout
    assert "MAC not verified (no testing key on this machine)" in unverified.stderr
    assert "secrets.check: NOT VERIFIED: " in unverified.stderr and "--no-decrypt" in unverified.stderr
    without_keys = check("--no-decrypt")
    assert without_keys.returncode == 0 and "secrets.check: ok" in without_keys.stdout
