"""age key custody at its edges, in a private key store (no sops): a key file readable by group or others by one
bit, the lookup order and its deduplication, rotated keys kept for decryption only, and what an existing source
that holds no key is named as (issue 32, mutation survivors of cattle/secrets/keys.py)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pyrage import x25519

from cattle.errors import SecretsError
from cattle.secrets import keys


def _secret() -> tuple[str, str]:
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o610, 0o601, 0o620, 0o602])
def test_a_key_file_any_other_user_may_touch_is_refused(key_home: Path, mode: int) -> None:
    secret, _ = _secret()
    path = _write(keys.key_file("testing"), secret + "\n", mode)
    with pytest.raises(SecretsError, match=f"readable by others \\(mode {mode:o}\\)"):
        keys.candidate_identities("testing")
    path.chmod(0o600)
    assert [i.secret for i in keys.candidate_identities("testing")] == [secret]
    path.chmod(0o400)
    assert [i.secret for i in keys.candidate_identities("testing")] == [secret]


def test_the_variable_comes_first_then_sops_age_key_then_the_file_then_the_pending_rotation(
        key_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variable, from_sops, in_file, pending = (_secret() for _ in range(4))
    monkeypatch.setenv("CATTLE_AGE_KEY_MY_ENV", f"# comment\n  {variable[0]}  \n")
    monkeypatch.setenv("SOPS_AGE_KEY", f"{from_sops[0]}\n{variable[0]}\n")
    _write(keys.key_file("my-env"), f"# public key: {in_file[1]}\n{in_file[0]}\n")
    _write(keys.pending_key_file("my-env"), pending[0])
    found = keys.candidate_identities("my-env")
    assert [(i.public, i.source) for i in found] == [
        (variable[1], "$CATTLE_AGE_KEY_MY_ENV"), (from_sops[1], "$SOPS_AGE_KEY"),
        (in_file[1], str(keys.key_file("my-env"))), (pending[1], str(keys.pending_key_file("my-env")))]
    assert keys.find_identity("my-env") == found[0]
    assert keys.find_identity("my-env", [pending[1], in_file[1]]) == found[2]
    assert keys.find_identity("my-env", ["age1nobody"]) is None


def test_rotated_keys_open_backups_but_are_never_a_current_key(key_home: Path) -> None:
    current, older, oldest = (_secret() for _ in range(3))
    _write(keys.key_file("testing"), current[0])
    _write(keys.key_dir() / "testing.txt.rotated-20261102", older[0])
    _write(keys.key_dir() / "testing.txt.rotated-20261101", oldest[0] + "\n" + current[0])
    _write(keys.key_dir() / "staging.txt.rotated-20261101", _secret()[0])
    assert [i.public for i in keys.candidate_identities("testing")] == [current[1]]
    assert [i.public for i in keys.decryption_identities("testing")] == [current[1], oldest[1], older[1]]
    assert keys.rotated_key_files("nothing-here") == []


def test_no_key_store_at_all_is_no_key(key_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not keys.key_dir().exists()
    assert keys.candidate_identities("testing") == [] and keys.decryption_identities("testing") == []
    assert keys.missing_key("testing") == "no testing key on this machine"
    with pytest.raises(SecretsError) as raised:
        keys.require_identity("testing", ["age1a", "age1b"])
    assert raised.value.message == (f"no age key for environment 'testing' matching age1a, age1b (looked in "
                                    f"$CATTLE_AGE_KEY_TESTING, $SOPS_AGE_KEY and {keys.key_file('testing')})")


def test_a_source_that_exists_but_holds_no_secret_key_is_named_for_what_it_holds(
        key_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, public = _secret()
    monkeypatch.setenv("CATTLE_AGE_KEY_TESTING", f"{public}\n")
    monkeypatch.setenv("SOPS_AGE_KEY", "")  # set but empty: not a source
    _write(keys.key_file("testing"), "   \n")
    _write(keys.pending_key_file("testing"), "# nothing\n")
    named = [
        "$CATTLE_AGE_KEY_TESTING is set but holds only a public key (age1…), not the secret key (a line starting "
        "AGE-SECRET-KEY-1…; the public key is the part you may share)",
        f"the key file {keys.key_file('testing')} exists but is empty",
        f"the key file {keys.pending_key_file('testing')} exists but holds no age secret key (no line starting "
        "AGE-SECRET-KEY-1…)"]
    assert keys.keyless_sources("testing") == named
    assert keys.missing_key("testing") == "; ".join(named)
    with pytest.raises(SecretsError) as raised:
        keys.require_identity("testing")
    assert raised.value.message.startswith("no age key for environment 'testing': $CATTLE_AGE_KEY_TESTING is set")


def test_a_wrong_key_somewhere_names_where_it_looked_not_the_keyless_source(key_home: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    secret, public = _secret()
    _write(keys.key_file("testing"), secret)
    _write(keys.pending_key_file("testing"), "")
    with pytest.raises(SecretsError) as raised:
        keys.require_identity("testing", ["age1other"])
    assert raised.value.message.startswith("no age key for environment 'testing' matching age1other (looked in")
    assert keys.require_identity("testing", [public]).public == public


def test_a_broken_key_line_is_an_error_naming_its_source() -> None:
    with pytest.raises(SecretsError, match=r"^\$X: not a valid age private key"):
        keys.parse_identities("AGE-SECRET-KEY-1NOTAKEY\n", "$X")


def test_a_new_key_is_written_once_private_and_never_over_another(key_home: Path) -> None:
    made = keys.create_key("testing")
    path = keys.key_file("testing")
    assert path.stat().st_mode & 0o777 == 0o600 and keys.key_dir().stat().st_mode & 0o777 == 0o700
    assert path.read_text().splitlines()[1:] == [f"# public key: {made.public}", made.secret]
    with pytest.raises(SecretsError, match="already has an age key"):
        keys.create_key("testing")
    with pytest.raises(SecretsError, match="already exists; cattle never overwrites a private key"):
        keys.write_new_key(path)
    assert os.path.getsize(path) > 0


def test_flux_gets_the_key_as_data_under_an_agekey_name() -> None:
    secret, public = _secret()
    found = keys.flux_secret(keys.Identity(secret, public, "test"), "testing")
    assert found["metadata"]["name"] == "sops-age" and found["metadata"]["namespace"] == "flux-system"
    assert base64.b64decode(found["data"]["testing.agekey"]).decode() == secret + "\n"
    assert keys.env_var("my-env") == "CATTLE_AGE_KEY_MY_ENV"
