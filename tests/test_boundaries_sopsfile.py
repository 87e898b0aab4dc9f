"""SOPS files at their edges, with the real sops and age: what counts as a SOPS file (an empty file, two documents,
a sops block without a MAC or without a recipient), the messages that name the keys tried and the place of a YAML
error, and several files decrypted at once, each with its own outcome in the order given (issue 32, mutation
survivors of cattle/secrets/sopsfile.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from cattle.errors import SecretsError
from cattle.secrets import keys, sopsfile

GRAFANA = Path("secrets/testing/grafana-admin.secret.yaml")


def _encrypted(root: Path) -> dict[str, object]:
    return yaml.safe_load((root / GRAFANA).read_text())  # type: ignore[no-any-return]


def test_only_one_mapping_with_a_complete_sops_block_is_a_sops_file(secrets_repo: Path) -> None:
    doc = _encrypted(secrets_repo)
    block = sopsfile.metadata(secrets_repo / GRAFANA)
    assert block == doc["sops"] and block is not None and block["mac"]
    testing = keys.find_identity("testing")
    assert testing is not None and sopsfile.recipients(secrets_repo / GRAFANA) == [testing.public]

    def written(text: str | bytes) -> Path:
        path = secrets_repo / "secrets/testing/edge.secret.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    whole = yaml.safe_dump(doc)
    without_mac = yaml.safe_dump({**doc, "sops": {**doc["sops"], "mac": ""}})  # type: ignore[dict-item]
    without_age = yaml.safe_dump({**doc, "sops": {**doc["sops"], "age": []}})  # type: ignore[dict-item]
    assert sopsfile.metadata(written(whole)) == block
    for text in ("", "---\n", whole + "---\n" + whole, f"- {whole!r}\n", "sops: just text\n", without_mac,
                 without_age, "kind: Secret\nstringData: {a: [\n", b"\xff\xfe kind: Secret\n"):
        assert sopsfile.metadata(written(text)) is None, text
        assert sopsfile.recipients(written(text)) == []
    assert sopsfile.metadata(secrets_repo / "secrets/testing/absent.secret.yaml") is None


def test_a_yaml_error_without_a_place_is_named_without_one(secrets_repo: Path) -> None:
    relpath = Path("secrets/testing/two.secret.yaml")
    with pytest.raises(SecretsError) as caught:  # two documents: yamlio says so, with no line to point at
        sopsfile.encrypt(secrets_repo, relpath, b"kind: Secret\nstringData: {a: b}\n---\nkind: Secret\n")
    assert caught.value.message == f"{relpath}: not valid YAML"
    with pytest.raises(SecretsError) as caught:  # the place is 1-based, line and column
        sopsfile.encrypt(secrets_repo, relpath, b"kind: Secret\nstringData: {a: b\n")
    assert caught.value.message == f"{relpath}: not valid YAML at line 3, column 1"
    with pytest.raises(SecretsError) as caught:  # an odd 0-based line and column: + 1 is no | 1 or ^ 1 there
        sopsfile.encrypt(secrets_repo, relpath, b"kind: x\n  bad: indent\n")
    assert caught.value.message == f"{relpath}: not valid YAML at line 2, column 6"


def test_a_document_that_is_no_mapping_is_not_taken_for_an_encrypted_one(secrets_repo: Path) -> None:
    relpath = Path("secrets/testing/list.secret.yaml")
    with pytest.raises(SecretsError) as caught:  # a list holding "sops": sops itself refuses it, not cattle's check
        sopsfile.encrypt(secrets_repo, relpath, b"- sops\n- kind\n")
    assert "already SOPS-encrypted" not in caught.value.message
    assert caught.value.message.startswith(f"sops could not encrypt {relpath} (exit ")
    assert caught.value.hint == f"run sops by hand to see why: sops encrypt {relpath}"
    encrypted = sopsfile.encrypt(secrets_repo, relpath, b"kind: Secret\nstringData: {sopsy: value}\n")
    assert yaml.safe_load(encrypted)["sops"]["mac"]


def test_the_keys_tried_and_the_files_recipients_are_named(secrets_repo: Path, tmp_path: Path) -> None:
    stranger = keys.write_new_key(tmp_path / "stranger.txt")
    other = keys.write_new_key(tmp_path / "other.txt")
    testing = keys.find_identity("testing")
    assert testing is not None
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [stranger, other])
    assert caught.value.message == (f"none of the keys at hand can decrypt {GRAFANA} (keys tried: {stranger.public}, "
                                    f"{other.public}; file is for {testing.public})")
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [])
    assert f"(keys tried: none; file is for {testing.public})" in caught.value.message
    (secrets_repo / "secrets/testing/plain.secret.yaml").write_text("kind: Secret\nstringData: {a: b}\n")
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, Path("secrets/testing/plain.secret.yaml"), [testing])
    assert caught.value.message == "secrets/testing/plain.secret.yaml is not SOPS-encrypted"


def test_several_files_decrypt_at_once_each_with_its_own_outcome_in_order(secrets_repo: Path) -> None:
    testing = keys.find_identity("testing")
    assert testing is not None
    names = sorted((secrets_repo / "secrets/testing").glob("*.secret.yaml"))
    relpaths = [p.relative_to(secrets_repo) for p in names]
    broken = Path("secrets/testing/zz-broken.secret.yaml")
    (secrets_repo / broken).write_text("kind: Secret\n")
    asked = [broken, *relpaths[::-1], GRAFANA]
    found = sopsfile.decrypt_all(secrets_repo, asked, [testing])
    assert list(found) == [broken, *relpaths[::-1]]  # GRAFANA asked twice: one entry, where first asked
    assert isinstance(found[broken], SecretsError) and "not SOPS-encrypted" in found[broken].message
    for relpath in relpaths:
        plain = found[relpath]
        assert isinstance(plain, bytes)
        assert yaml.safe_load(plain)["metadata"]["name"] == relpath.name.removesuffix(".secret.yaml")
    assert len(relpaths) > sopsfile.DECRYPT_WORKERS  # more files than workers: every one is decrypted


def test_no_sops_key_of_the_users_shell_is_tried_beside_the_keys_given(secrets_repo: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong key must not look right: sops itself would also try $SOPS_AGE_KEY_FILE (a bug until the fourth
    session: tools.run added the caller's environment back to the one without SOPS_* variables)."""
    testing = keys.find_identity("testing")
    assert testing is not None
    production = Path("secrets/production/grafana-admin.secret.yaml")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys.key_file("production")))
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"cat {keys.key_file('production')}")
    with pytest.raises(SecretsError, match="none of the keys at hand can decrypt"):
        sopsfile.decrypt(secrets_repo, production, [testing])
    assert yaml.safe_load(sopsfile.decrypt(secrets_repo, GRAFANA, [testing]))["kind"] == "Secret"


@pytest.fixture
def fake_sops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A script in place of sops (tools.find's answer in sopsfile only): the test writes what it does."""
    script = tmp_path / "fake-sops"
    monkeypatch.setattr(sopsfile.tools, "find", lambda name: script)
    return script


def _acts(script: Path, body: str) -> None:
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def test_a_sops_killed_by_a_signal_has_failed(secrets_repo: Path, fake_sops: Path) -> None:
    _acts(fake_sops, "kill -KILL $$")  # returncode -9: not 0, and not above it either
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [])
    assert caught.value.message == f"sops could not decrypt {GRAFANA}: "


def test_sops_messages_are_cut_to_their_last_200_or_300_characters(secrets_repo: Path, fake_sops: Path) -> None:
    tail = "".join(chr(ord("a") + i % 26) for i in range(400))
    _acts(fake_sops, f"printf '%s' 'MAC mismatch {tail}' >&2; exit 1")
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [])
    assert caught.value.message == (f"{GRAFANA} is corrupt or was tampered with (MAC check failed): "
                                    f"{tail[-200:]}")
    _acts(fake_sops, f"printf '%s' 'something else {tail}' >&2; exit 3")
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [])
    assert caught.value.message == f"sops could not decrypt {GRAFANA}: {tail[-300:]}"


def test_sops_gets_300_seconds_and_one_that_takes_longer_has_failed(secrets_repo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """As tools.run's deadline (on no clock: the run that would overrun is told so by subprocess)."""
    given: list[float] = []
    real_run = subprocess.run
    sops = str(sopsfile.tools.find("sops"))

    def overrunning(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        if argv[0] != sops:  # any other program runs as it would
            return real_run(argv, **kwargs)  # type: ignore[call-overload,no-any-return]
        given.append(float(kwargs["timeout"]))  # type: ignore[arg-type]
        raise subprocess.TimeoutExpired(argv, float(kwargs["timeout"]))  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess, "run", overrunning)
    with pytest.raises(SecretsError) as caught:
        sopsfile.decrypt(secrets_repo, GRAFANA, [])
    assert caught.value.message == f"sops could not decrypt {GRAFANA}: sops did not finish within 300s"
    assert given == [300]
