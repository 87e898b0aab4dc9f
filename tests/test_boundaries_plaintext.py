"""The plaintext-Secret guard at its edges, on texts alone (no sops, no repository): each part of the envelope
missing on its own, one plain value among encrypted ones, every place a Secret can hide, and when a document that
does not parse counts (issue 32, mutation survivors of cattle/secrets/plaintext.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cattle.secrets.plaintext import envelope_problem, parse_documents, plaintext_secrets, secrets_in

ENC = "ENC[AES256_GCM,data:abc,type:str]"
SOPS: dict[str, Any] = {"mac": "ENC[AES256_GCM,data:mac]", "lastmodified": "2026-01-01T00:00:00Z",
                        "age": [{"recipient": "age1x", "enc": "key"}]}


def _secret(sops: Any = None, **values: Any) -> dict[str, Any]:
    secret: dict[str, Any] = {"kind": "Secret", "metadata": {"name": "s"}, **values}
    if sops is not None:
        secret["sops"] = sops
    return secret


@pytest.mark.parametrize(("sops", "why"), [
    ("not a mapping", "no SOPS envelope"),
    ({**SOPS, "mac": None}, "SOPS envelope without a MAC"),
    ({**SOPS, "mac": "plain-mac"}, "SOPS envelope without a MAC"),
    ({**SOPS, "lastmodified": ""}, "SOPS envelope without lastmodified"),
    ({**SOPS, "age": [{"recipient": "age1x", "enc": ""}]}, "SOPS envelope without a recipient holding the data key"),
    ({**SOPS, "age": ["age1x"]}, "SOPS envelope without a recipient holding the data key"),
    ({**SOPS, "age": None}, "SOPS envelope without a recipient holding the data key"),
])
def test_each_part_of_the_envelope_missing_alone_is_named(sops: Any, why: str) -> None:
    assert envelope_problem(_secret(sops, data={"k": ENC})) == why


@pytest.mark.parametrize("kind", ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"])
def test_a_recipient_of_any_kind_holds_the_data_key(kind: str) -> None:
    sops = {key: value for key, value in SOPS.items() if key != "age"} | {kind: [{"arn": "x", "enc": "key"}]}
    assert envelope_problem(_secret(sops, data={"k": ENC})) is None


def test_one_plain_value_among_encrypted_ones_is_counted_wherever_it_is() -> None:
    assert envelope_problem(_secret(SOPS, data={"a": ENC, "b": ENC})) is None
    assert envelope_problem(_secret(SOPS, data={"a": ENC, "b": "plain"})) == "1 value(s) not encrypted"
    assert envelope_problem(_secret(SOPS, data={"a": "plain"}, stringData={"b": ENC})) == "1 value(s) not encrypted"
    assert envelope_problem(_secret(SOPS, data={"a": ENC}, stringData={"b": 7, "c": "x"})) == \
        "2 value(s) not encrypted"
    assert envelope_problem(_secret(SOPS, data="a whole block as one string")) == "1 value(s) not encrypted"
    assert envelope_problem(_secret(SOPS, stringData=ENC)) is None


def test_a_secret_without_values_is_not_a_leak_even_without_an_envelope() -> None:
    assert envelope_problem(_secret()) is None
    assert envelope_problem(_secret(data={}, stringData=None)) is None
    assert envelope_problem(_secret(data={"k": ENC})) == "no SOPS envelope"


def test_secrets_are_found_in_lists_list_items_and_helm_values_only() -> None:
    plain = {"kind": "Secret", "metadata": {"name": "p"}, "stringData": {"k": "v"}}
    assert list(secrets_in([{"kind": "ConfigMap"}, plain])) == [plain]
    assert list(secrets_in({"kind": "List", "items": [plain, {"kind": "ConfigMap"}]})) == [plain]
    assert list(secrets_in({"kind": "List", "items": "not a list"})) == []
    in_values = {"kind": "HelmRelease", "spec": {"values": {"extraObjects": [plain], "nested": {"deep": plain}}}}
    assert list(secrets_in(in_values)) == [plain, plain]
    as_text = {"kind": "HelmRelease", "spec": {"values": {"extra": "kind: Secret\nmetadata: {name: t}\n"}}}
    assert list(secrets_in(as_text)) == [{"kind": "Secret", "metadata": {"name": "t"}}]
    unparseable = {"kind": "HelmRelease", "spec": {"values": ["kind: Secret\nstringData: {k: [v\n"]}}
    [placeholder] = secrets_in(unparseable)
    assert placeholder["metadata"] == {"name": "(unparseable, in HelmRelease values)"}
    assert envelope_problem(placeholder) == "no SOPS envelope"
    # values of anything but a HelmRelease are not Helm values; a HelmRelease's spec must be a mapping
    assert list(secrets_in({"kind": "Kustomization", "spec": {"values": {"x": plain}}})) == []
    assert list(secrets_in({"kind": "HelmRelease", "spec": ["values"]})) == []
    assert list(secrets_in({"kind": "HelmRelease", "spec": {"values": {"x": "kind: ConfigMap"}}})) == []


def test_every_document_of_a_stream_is_read_and_a_broken_one_does_not_hide_the_others() -> None:
    stream = "kind: ConfigMap\n---\nfoo: [unclosed\n---\nkind: Secret\nmetadata: {name: later}\nstringData: {k: v}\n"
    assert plaintext_secrets(stream) == [("later", "no SOPS envelope")]
    assert parse_documents(stream) == [{"kind": "ConfigMap"},
                                       {"kind": "Secret", "metadata": {"name": "later"}, "stringData": {"k": "v"}}]
    assert parse_documents('{"kind": "Secret", "data": {"k": "dg=="}}') == [{"kind": "Secret", "data": {"k": "dg=="}}]
    assert plaintext_secrets("kind: Secret\nstringData: {k: v}\n") == [("(unnamed)", "no SOPS envelope")]


def test_a_broken_document_naming_kind_secret_counts_in_a_manifest_or_beside_a_parsed_mapping() -> None:
    broken = "kind: Secret\nstringData: {k: [v\n"
    why = "it says kind: Secret but does not parse, so it cannot be shown to be encrypted"
    assert plaintext_secrets(broken) == [("(unparseable document)", why)]
    assert plaintext_secrets(broken, manifest_file=False) == []  # e.g. a README quoting a broken Secret
    assert plaintext_secrets("a: b\n---\n" + broken, manifest_file=False) == [("(unparseable document)", why)]
    assert plaintext_secrets("- a\n---\n" + broken, manifest_file=False) == []  # a list is not a manifest
    assert plaintext_secrets("a: b\n---\nfoo: [unclosed\n") == []


def test_a_refused_alias_bomb_is_named_with_its_line_in_the_whole_stream() -> None:
    """One line later than test_secrets.py's bomb, which has one line less before it (line 8 there)."""
    bomb = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    bomb += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 7)]
    text = "kind: ConfigMap\nmetadata: {name: a}\n---\n" + "\n".join(bomb) + "\n"
    [(name, why)] = plaintext_secrets(text)
    assert name == "(refused document)"
    assert why.startswith("line 9: YAML aliases expand this document to"), why


def test_a_secret_generator_with_literals_or_env_files_is_plaintext_in_git() -> None:
    kustomization = ("secretGenerator:\n- {name: lit, literals: [a=b]}\n- {name: files, envs: [x.env], env: y.env}\n"
                     "- {files: [z.txt]}\n- not-a-mapping\n- {literals: [c=d]}\n")
    assert plaintext_secrets(kustomization) == [
        ("(secretGenerator lit)", "secretGenerator with literals: the Secret's values are plaintext in git"),
        ("(secretGenerator files)", "secretGenerator with envs and env: the Secret's values are plaintext in git"),
        ("(secretGenerator (unnamed))", "secretGenerator with literals: the Secret's values are plaintext in git")]
    assert plaintext_secrets("secretGenerator: {name: x, literals: [a=b]}\n") == []
