"""Key custody as facts for the report: which age keys can open an environment's secrets and backups (the
recipients of its `.sops.yaml` rule, break-glass included) and when each last changed.

The date comes from the key file's `# created:` line when this machine holds the matching private key
(~/.config/cattle/age/<env>.txt, written by secrets.init and secrets.rotate), else from git: the commit that gave the
environment's rule this recipient (`.sops.yaml`), or that wrote `secrets/break-glass.pub`. Each key says which.
Nothing private is kept: a key file is read only to match its public key and its creation line.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from cattle import tools, yamlio
from cattle.errors import CattleError
from cattle.report.model import Key
from cattle.secrets import keys, sopsconfig


def _git(root: Path, *args: str) -> str:
    proc = tools.run(["git", *args], cwd=root, check=False, timeout=60)
    return proc.stdout.decode(errors="replace") if proc.returncode == 0 else ""


def _in_git(root: Path) -> bool:
    top = _git(root, "rev-parse", "--show-toplevel").strip()
    return bool(top) and Path(top).resolve() == root.resolve()


def from_key_file(env: str, recipient: str) -> tuple[float, str] | None:
    """The `# created:` time of this machine's key file for the env, when it holds this recipient's key."""
    path = keys.key_file(env)
    try:
        text = path.read_text()
        publics = {identity.public for identity in keys.parse_identities(text, str(path))}
    except (OSError, CattleError):
        return None
    if recipient not in publics:
        return None
    for line in text.splitlines():
        if line.startswith("# created:"):
            try:
                created = calendar.timegm(time.strptime(line.split(":", 1)[1].strip(), "%Y-%m-%dT%H:%M:%SZ"))
            except ValueError:
                return None
            return float(created), f"the key file {path} (its '# created:' line)"
    return None


def introduced(root: Path, path: str, holds: Callable[[str], bool], describe: str) -> tuple[float | None, str]:
    """When git history gave `path` content that `holds` (walking back from HEAD while it still does)."""
    if not _in_git(root):
        return None, f"unknown: {root} is not a git repository and no key file here holds it"
    commits = [line.split() for line in _git(root, "log", "--format=%H %ct", "--", path).splitlines() if line]
    head = _git(root, "show", f"HEAD:{path}") if commits else ""
    if not holds(head):
        return None, f"unknown: {path} has it in the working tree only (not committed yet)"
    found: tuple[str, float] | None = None
    complete = True
    for sha, when in commits:
        if not holds(_git(root, "show", f"{sha}:{path}")):
            break
        found = (sha, float(when))
    else:
        complete = _git(root, "rev-parse", "--is-shallow-repository").strip() != "true"
    assert found is not None  # HEAD holds it, so the newest commit touching the file does
    how = f"git log of {path}: {describe} in commit {found[0][:10]}"
    if not complete:
        how += " (a shallow clone: the oldest commit fetched; it may be older)"
    return found[1], how


def _file_is(recipient: str) -> Callable[[str], bool]:
    return lambda text: text.strip() == recipient


def _rule_holds(env: str, recipient: str) -> Callable[[str], bool]:
    def holds(text: str) -> bool:
        try:
            rule = sopsconfig.rules_of(yamlio.load(text, ".sops.yaml")).get(env)
        except yaml.YAMLError:
            return False
        return rule is not None and recipient in rule.recipients
    return holds


def env_keys(root: Path, env: str) -> tuple[Key, ...]:
    """The env's recipients, in rule order, with the break-glass key marked (or said to be missing)."""
    rule = sopsconfig.read_rules(root).get(env)
    if rule is None or not rule.recipients:
        return (Key("environment key", "", None, f"{sopsconfig.CONFIG} has no rule for {env}: its secrets are "
                    f"not encrypted for any key (run: ./scripts/cattle secrets.init --env {env})"),)
    try:
        glass = sopsconfig.break_glass(root)
    except CattleError as exc:
        glass = None
        broken = exc.message
    else:
        broken = ""
    found: list[Key] = []
    for index, recipient in enumerate(rule.recipients):
        role = ("environment key" if index == 0 else "break-glass key" if recipient == glass
                else "additional recipient")
        dated = from_key_file(env, recipient) if index == 0 else None
        if dated is not None:
            found.append(Key(role, recipient, *dated))
        elif role == "break-glass key":
            found.append(Key(role, recipient, *introduced(root, str(sopsconfig.BREAK_GLASS),
                                                           _file_is(recipient), "written")))
        else:
            found.append(Key(role, recipient, *introduced(root, sopsconfig.CONFIG, _rule_holds(env, recipient),
                                                           f"the {env} rule got this recipient")))
    if glass is None:
        found.append(Key("break-glass key", "", None, broken or f"not configured ({sopsconfig.BREAK_GLASS}): "
                         "no offline key opens this environment's secrets and backups"))
    return tuple(found)
