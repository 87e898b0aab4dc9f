"""The plaintext-Secret guard, decided by parsing: one implementation for `secrets.check`, the pre-commit hook
(which runs `secrets.check --no-decrypt`) and `validate`.

A document is a Secret when it parses as a mapping with `kind: Secret`, wherever it stands: any file extension,
every YAML document of a stream, a JSON array, the `items` of a List. It counts as encrypted only with a complete
SOPS envelope: a `sops` block with a MAC, lastmodified and at least one recipient holding an encrypted data key,
and every value under `data`/`stringData` an `ENC[...]` string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from cattle import yamlio

_ENCRYPTED_VALUE = "ENC[AES256_GCM,data:"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_DOCUMENT_START = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
SECRET_KIND = re.compile(r"""(?:^|[\s{,])["']?kind["']?\s*:\s*["']?Secret["']?\s*(?:$|[,}#])""", re.MULTILINE)
_RECIPIENT_KINDS = ("age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")


def _split(text: str) -> tuple[list[Any], list[str], list[str]]:
    """The documents of a YAML stream or JSON text, each parsed on its own, the text of every document that
    parses as neither (one broken document must not hide the others), and why each document whose aliases expand
    beyond the bound (cattle.yamlio) was refused, with its line."""
    try:
        return [d for d in yamlio.load_all(text) if d is not None], [], []
    except yaml.YAMLError:
        pass
    try:
        return [json.loads(text)], [], []
    except ValueError:
        pass
    parsed: list[Any] = []
    broken: list[str] = []
    refused: list[str] = []
    starts = [0] + [m.end() for m in _DOCUMENT_START.finditer(text)]
    ends = [m.start() for m in _DOCUMENT_START.finditer(text)] + [len(text)]
    for start, end in zip(starts, ends, strict=True):
        chunk = text[start:end]
        try:
            parsed += [d for d in yamlio.load_all(chunk) if d is not None]
        except yamlio.AliasBomb as exc:
            refused.append(f"line {text.count(chr(10), 0, start) + exc.line}: {exc.detail}")
        except yaml.YAMLError:
            broken.append(chunk)
    return parsed, broken, refused


def parse_documents(text: str) -> list[Any]:
    """Every document of a YAML stream or JSON text that parses; a broken document is skipped, not the file."""
    return _split(text)[0]


def secrets_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every Secret in a parsed document: the document itself, list elements, List `items`, and the manifests a
    HelmRelease embeds in its `spec.values` (e.g. a chart's `extraObjects`), as objects or as YAML strings."""
    if isinstance(node, list):
        for element in node:
            yield from secrets_in(element)
    elif isinstance(node, dict):
        if node.get("kind") == "Secret":
            yield node
        items = node.get("items")
        if isinstance(items, list):
            yield from secrets_in(items)
        spec = node.get("spec")
        if node.get("kind") == "HelmRelease" and isinstance(spec, dict):
            yield from _embedded(spec.get("values"))


def _embedded(node: Any) -> Iterator[dict[str, Any]]:
    """Secrets anywhere in Helm values: mappings that are Secrets, and strings that hold one as YAML (a string that
    names kind: Secret but does not parse stands for a Secret that cannot be shown to be encrypted)."""
    if isinstance(node, dict):
        if node.get("kind") == "Secret":
            yield node
        else:
            for value in node.values():
                yield from _embedded(value)
    elif isinstance(node, list):
        for element in node:
            yield from _embedded(element)
    elif isinstance(node, str) and SECRET_KIND.search(node):
        try:
            docs = yamlio.load_all(node, "a string in HelmRelease values")
        except yaml.YAMLError:
            yield {"kind": "Secret", "metadata": {"name": "(unparseable, in HelmRelease values)"},
                   "stringData": {"(text)": node}}
            return
        for doc in docs:
            yield from _embedded(doc)


def _values(secret: dict[str, Any]) -> Iterator[Any]:
    for key in ("data", "stringData"):
        block = secret.get(key)
        if isinstance(block, dict):
            yield from block.values()
        elif block is not None:
            yield block


def envelope_problem(secret: dict[str, Any]) -> str | None:
    """Why a Secret is not completely SOPS-encrypted (None: it is, or it carries no values)."""
    values = list(_values(secret))
    if not values:
        return None
    sops = secret.get("sops")
    if not isinstance(sops, dict):
        return "no SOPS envelope"
    if not str(sops.get("mac") or "").startswith(_ENCRYPTED_VALUE):
        return "SOPS envelope without a MAC"
    if not sops.get("lastmodified"):
        return "SOPS envelope without lastmodified"
    recipients = [r for kind in _RECIPIENT_KINDS for r in sops.get(kind) or [] if isinstance(r, dict) and r.get("enc")]
    if not recipients:
        return "SOPS envelope without a recipient holding the data key"
    plain = sum(1 for v in values if not (isinstance(v, str) and v.startswith(_ENCRYPTED_VALUE)))
    if plain:
        return f"{plain} value(s) not encrypted"
    return None


def _generated_plaintext(doc: Any) -> Iterator[tuple[str, str]]:
    """A kustomization's secretGenerator with literals or env files: kustomize makes a plaintext Secret of values
    written in git."""
    generators = doc.get("secretGenerator") if isinstance(doc, dict) else None
    for generator in generators if isinstance(generators, list) else []:
        if not isinstance(generator, dict):
            continue
        given = [key for key in ("literals", "envs", "env") if generator.get(key)]
        if given:
            yield (str(generator.get("name") or "(unnamed)"),
                   f"secretGenerator with {' and '.join(given)}: the Secret's values are plaintext in git")


def plaintext_secrets(text: str, manifest_file: bool = True) -> list[tuple[str, str]]:
    """(Secret name, why) for every Secret in the text that is not completely encrypted, and for every document
    that does not parse but names `kind: Secret` (what cannot be parsed cannot be shown to be encrypted) in a file
    that is a manifest: `manifest_file`, or a stream where another document parsed as a mapping."""
    found: list[tuple[str, str]] = []
    parsed, broken, refused = _split(text)
    found += [("(refused document)", f"{why}; a document cattle does not expand cannot be shown to hold no plaintext "
               "Secret") for why in refused]
    for doc in parsed:
        for secret in secrets_in(doc):
            problem = envelope_problem(secret)
            if problem:
                meta = secret.get("metadata")
                name = meta.get("name") if isinstance(meta, dict) else None
                found.append((str(name or "(unnamed)"), problem))
    for doc in parsed:
        found += [(f"(secretGenerator {name})", why) for name, why in _generated_plaintext(doc)]
    if manifest_file or any(isinstance(doc, dict) for doc in parsed):
        found += [("(unparseable document)", "it says kind: Secret but does not parse, so it cannot be shown to be "
                   "encrypted") for chunk in broken if SECRET_KIND.search(chunk)]
    return found
