"""The secret spec at its edges, read from YAML files as cattle reads them (strings parsed, never Python's interned
literals): a length of 7, 8, 4096 and 4097, a tls Secret followed by another, bytes in base64 as well as hex, every
problem listed with its place, external values named in order (issue 32, mutation survivors of
cattle/secrets/spec.py)."""

from __future__ import annotations

import base64
import datetime
import string
from pathlib import Path

import pytest

from cattle.errors import ConfigError, SecretsError
from cattle.secrets import spec


def _specs(root: Path, env_text: str, common_text: str | None = None) -> None:
    path = spec.spec_path(root, "testing")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(env_text)
    if common_text is not None:
        (root / "secrets" / spec.COMMON_SPEC).write_text(common_text)


def _problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        spec.load_spec(root, "testing")
    head, *listing = raised.value.message.splitlines()
    assert head == f"the secret spec of testing has {len(listing)} problem(s):"
    assert raised.value.hint == "fix the spec entries named above"
    return [line.removeprefix("  - ") for line in listing]


def test_the_common_spec_comes_first_and_a_tls_secret_does_not_end_the_list(tmp_path: Path) -> None:
    assert spec.spec_files(tmp_path, "testing") == [] and spec.load_spec(tmp_path, "testing") == []
    _specs(tmp_path, "secrets:\n"
           "  - name: webhook-tls\n    namespace: feeds\n    generator: tls\n    commonName: hooks.acme.io\n"
           "  - name: after-tls\n    namespace: feeds\n    description: declared after a tls Secret\n"
           "    keys:\n      token: {generator: bytes, length: 8, encoding: base64}\n",
           "secrets:\n  - name: shared\n    namespace: monitoring\n    keys:\n      user: {generator: literal, "
           "value: admin}\n      password: {generator: password}\n")
    assert spec.spec_files(tmp_path, "testing") == [tmp_path / "secrets" / spec.COMMON_SPEC,
                                                     spec.spec_path(tmp_path, "testing")]
    loaded = spec.load_spec(tmp_path, "testing")
    assert loaded == [
        spec.SecretSpec("shared", "monitoring", (spec.KeySpec("user", "literal", 32, "hex", "admin"),
                                                 spec.KeySpec("password", "password", 32, "hex", ""))),
        spec.SecretSpec("webhook-tls", "feeds", (), "hooks.acme.io", ""),
        spec.SecretSpec("after-tls", "feeds", (spec.KeySpec("token", "bytes", 8, "base64", ""),),
                        None, "declared after a tls Secret")]
    assert [s.is_tls for s in loaded] == [False, True, False]
    assert loaded[1].filename == "webhook-tls.secret.yaml"


@pytest.mark.parametrize("length", [8, 4096])
def test_a_length_of_8_and_of_4096_is_allowed(tmp_path: Path, length: int) -> None:
    _specs(tmp_path, f"secrets:\n  - name: s\n    namespace: n\n    keys:\n"
                     f"      k: {{generator: password, length: {length}}}\n")
    (loaded,) = spec.load_spec(tmp_path, "testing")
    assert loaded.keys[0].length == length
    value = spec.generate_values(loaded)["k"]
    assert len(value) == length and set(value) <= set(string.ascii_letters + string.digits)


@pytest.mark.parametrize("length", ["7", "4097", "0", "-8", "true", "'32'", "8.0"])
def test_a_length_outside_8_to_4096_or_not_a_whole_number_is_a_problem(tmp_path: Path, length: str) -> None:
    _specs(tmp_path, f"secrets:\n  - name: s\n    namespace: n\n    keys:\n"
                     f"      k: {{generator: password, length: {length}}}\n")
    assert _problems(tmp_path) == [f"{spec.spec_path(tmp_path, 'testing')}: secrets[0].keys.k.length: must be a "
                                   "whole number from 8 to 4096"]


def test_every_problem_is_listed_with_its_place(tmp_path: Path) -> None:
    _specs(tmp_path, "secrets:\n"
           "  - name: fine\n    namespace: n\n    keys:\n      k: {generator: literal, value: v}\n"
           "  - name: Not_A_Name\n    namespace: '???'\n    keys: {'bad key': {generator: nonsense}}\n"
           "  - name: fine\n    namespace: Bad_Namespace\n    keys:\n"
           "      'bad key': {generator: nonsense, length: 1}\n"
           "      k2: {generator: bytes, encoding: base32}\n"
           "      k3: {generator: literal}\n"
           "      k4: {generator: literal, value: 12}\n"
           "  - name: no-keys\n    namespace: n\n"
           "  - name: cert\n    namespace: n\n    generator: tls\n"
           "  - name: empty-options\n    namespace: n\n    keys:\n      k:\n")
    where = f"{spec.spec_path(tmp_path, 'testing')}: secrets"
    assert _problems(tmp_path) == [
        f"{where}[1].name: must be a Kubernetes name, got 'Not_A_Name'",
        f"{where}[2].name: 'fine' is declared twice",
        f"{where}[2].namespace: must be a namespace name, got 'Bad_Namespace'",
        f"{where}[2].keys.bad key: not a valid Secret key",
        f"{where}[2].keys.bad key.generator: must be one of password, bytes, literal, external or a tls Secret, "
        "got 'nonsense'",
        f"{where}[2].keys.k2.encoding: must be hex or base64",
        f"{where}[2].keys.k3.value: required (a string) for generator literal",
        f"{where}[2].keys.k4.value: required (a string) for generator literal",
        f"{where}[3].keys: at least one key is required",
        f"{where}[4].commonName: required for generator tls",
        f"{where}[5].keys.k.generator: must be one of password, bytes, literal, external or a tls Secret, got None",
        f"{where}[5].keys: at least one key is required"]  # a key without a generator is no key


def test_a_name_declared_in_the_common_spec_and_again_in_the_envs_is_a_problem(tmp_path: Path) -> None:
    entry = "secrets:\n  - name: twice\n    namespace: n\n    keys:\n      k: {generator: password}\n"
    _specs(tmp_path, entry, entry)
    assert _problems(tmp_path) == [f"{spec.spec_path(tmp_path, 'testing')}: secrets[0].name: 'twice' is declared "
                                   "twice"]


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_bytes_are_generated_in_the_encoding_the_spec_names(tmp_path: Path, encoding: str) -> None:
    _specs(tmp_path, f"secrets:\n  - name: s\n    namespace: n\n    keys:\n"
                     f"      k: {{generator: bytes, length: 12, encoding: {encoding}}}\n"
                     "      d: {generator: bytes}\n")
    (loaded,) = spec.load_spec(tmp_path, "testing")
    values = spec.generate_values(loaded)
    raw = bytes.fromhex(values["k"]) if encoding == "hex" else base64.b64decode(values["k"], validate=True)
    assert len(raw) == 12
    assert len(values["k"]) == (24 if encoding == "hex" else 16)
    assert len(bytes.fromhex(values["d"])) == 32  # the defaults: 32 bytes in hex


def test_external_values_are_taken_from_the_environment_and_every_missing_one_is_named_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _specs(tmp_path, "secrets:\n  - name: dns.api-v2\n    namespace: n\n    keys:\n"
                     "      token: {generator: external}\n      user: {generator: literal, value: bob}\n"
                     "      account.id: {generator: external}\n")
    (loaded,) = spec.load_spec(tmp_path, "testing")
    assert spec.external_var("dns.api-v2", "account.id") == "CATTLE_SECRET_DNS_API_V2_ACCOUNT_ID"
    for name in ("CATTLE_SECRET_DNS_API_V2_TOKEN", "CATTLE_SECRET_DNS_API_V2_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SecretsError) as raised:
        spec.generate_values(loaded)
    assert raised.value.message == ("secret dns.api-v2 needs values supplied from outside: "
                                    "CATTLE_SECRET_DNS_API_V2_TOKEN, CATTLE_SECRET_DNS_API_V2_ACCOUNT_ID")
    monkeypatch.setenv("CATTLE_SECRET_DNS_API_V2_TOKEN", "tok")
    with pytest.raises(SecretsError, match="outside: CATTLE_SECRET_DNS_API_V2_ACCOUNT_ID\n"):
        spec.generate_values(loaded)
    monkeypatch.setenv("CATTLE_SECRET_DNS_API_V2_ACCOUNT_ID", "")  # set, if empty, is supplied
    assert spec.generate_values(loaded) == {"token": "tok", "user": "bob", "account.id": ""}


def test_the_manifest_of_a_tls_secret_and_of_an_opaque_one(tmp_path: Path) -> None:
    from cryptography import x509

    tls = spec.SecretSpec("webhook-tls", "feeds", (), "hooks.acme.io")
    values = spec.generate_values(tls)
    cert = x509.load_pem_x509_certificate(values["tls.crt"].encode())
    assert cert.subject.rfc4514_string() == "CN=hooks.acme.io"
    # valid from 5 minutes before it was made (a clock a little behind) for 365 days (both ends from one `now`)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=365, minutes=5)
    assert values["tls.key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert spec.manifest(tls, values) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "webhook-tls", "namespace": "feeds", "labels": {"app.kubernetes.io/managed-by": "cattle"}},
        "type": "kubernetes.io/tls", "stringData": values}
    opaque = spec.SecretSpec("s", "n", (spec.KeySpec("k", "literal", value="v"),))
    assert spec.manifest(opaque, {"k": "v"})["type"] == "Opaque"
