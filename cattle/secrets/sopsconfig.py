"""The repository's `.sops.yaml`: one creation rule per environment (its age key plus the optional
break-glass key from `secrets/break-glass.pub`). cattle writes it; `secrets.check` compares against it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cattle.errors import SecretsError
from cattle.yamlio import load_file

CONFIG = ".sops.yaml"
BREAK_GLASS = Path("secrets") / "break-glass.pub"
ENCRYPTED_REGEX = "^(data|stringData)$"
SECRET_SUFFIX = ".secret.yaml"
_VARS_LINE = re.compile(r"^(  BACKUP_AGE_RECIPIENTS: *)(\S*)$", re.M)
_RULE = re.compile(r"^\(\^\|/\)secrets/([a-z][a-z0-9-]*)/")
_HEADER = """\
# SOPS creation rules, one per environment; written by `./scripts/cattle secrets.init` and `secrets.rotate`.
# Each environment's files are encrypted for that environment's own age key only, plus the
# optional offline break-glass key (secrets/break-glass.pub). Only data/stringData is encrypted.
"""


def path_regex(env: str) -> str:
    return rf"(^|/)secrets/{env}/[^/]+\.secret\.ya?ml$"


@dataclass(frozen=True)
class Rule:
    env: str
    recipients: tuple[str, ...]


def break_glass(root: Path) -> str | None:
    """The break-glass recipient, when one is configured."""
    path = root / BREAK_GLASS
    if not path.is_file():
        return None
    key = path.read_text().strip()
    if not key.startswith("age1"):
        raise SecretsError(f"{path}: not an age public key", "put one age1... recipient in it, or delete it")
    return key


def read_rules(root: Path) -> dict[str, Rule]:
    """The environment rules of .sops.yaml (empty when the file does not exist yet)."""
    path = root / CONFIG
    if not path.is_file():
        return {}
    return rules_of(load_file(path))


def rules_of(doc: Any) -> dict[str, Rule]:
    """The environment rules of a parsed .sops.yaml (also one read from an older commit)."""
    rules: dict[str, Rule] = {}
    for rule in (doc or {}).get("creation_rules") or []:
        match = _RULE.match(str(rule.get("path_regex", "")))
        if match:
            recipients = tuple(r.strip() for r in str(rule.get("age", "")).split(",") if r.strip())
            rules[match.group(1)] = Rule(match.group(1), recipients)
    return rules


def env_recipient(root: Path, env: str) -> str | None:
    """The environment's own recipient (the first of its rule)."""
    rule = read_rules(root).get(env)
    return rule.recipients[0] if rule and rule.recipients else None


def required_recipients(root: Path, env: str) -> list[str]:
    """Who must be able to decrypt the environment's files."""
    own = env_recipient(root, env)
    if own is None:
        raise SecretsError(f"{CONFIG} has no creation rule for environment {env!r}",
                           f"run: ./scripts/cattle secrets.init --env {env}")
    extra = break_glass(root)
    return [own] + ([extra] if extra and extra != own else [])


def write(root: Path, own: dict[str, str]) -> None:
    """Rewrite .sops.yaml from each environment's own recipient (break-glass appended to every rule)."""
    extra = break_glass(root)
    lines = [_HEADER, "creation_rules:"]
    for env in sorted(own):
        recipients = [own[env]] + ([extra] if extra and extra != own[env] else [])
        lines += [f"  - path_regex: {path_regex(env)}",
                  f"    encrypted_regex: {ENCRYPTED_REGEX}",
                  f"    age: {','.join(recipients)}"]
    path = root / CONFIG
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def set_env_recipient(root: Path, env: str, recipient: str) -> None:
    """Make `recipient` the environment's own key in .sops.yaml, keeping every other rule; mirror the
    recipients into cluster-vars for the in-cluster backup job."""
    own = {name: rule.recipients[0] for name, rule in read_rules(root).items() if rule.recipients}
    own[env] = recipient
    write(root, own)
    sync_cluster_vars(root, env)


def cluster_vars_recipients(root: Path, env: str) -> str | None:
    """BACKUP_AGE_RECIPIENTS as cluster-vars has it, when the env declares it."""
    path = root / "clusters" / env / "cluster-vars.yaml"
    match = _VARS_LINE.search(path.read_text()) if path.is_file() else None
    return match.group(2) if match else None


def sync_cluster_vars(root: Path, env: str) -> None:
    """Write the env's required recipients into cluster-vars' BACKUP_AGE_RECIPIENTS line (if it has one)."""
    path = root / "clusters" / env / "cluster-vars.yaml"
    if cluster_vars_recipients(root, env) is None:
        return
    wanted = ",".join(required_recipients(root, env))
    path.write_text(_VARS_LINE.sub(lambda m: m.group(1) + wanted, path.read_text()))
