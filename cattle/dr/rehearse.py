"""`./scripts/cattle dr.rehearse --env E`: the readiness check an SRE runs any day, with no cluster: tools present,
every
secret of the env decrypts with the keys at hand, the latest Vault snapshot restores into a throwaway local OpenBao,
manifests validate, and the backup store holds a recent snapshot. READY or NOT READY, with reasons."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cattle import console, tools
from cattle.dr import history
from cattle.env import Environment
from cattle.errors import CattleError, SecretsError
from cattle.manifests import validate
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsfile
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots

MAX_SNAPSHOT_AGE_HOURS = 26.0
REQUIRED_TOOLS = ("kubectl", "sops", "bao", "git")
PREREQUISITES = ("tools", "secrets decrypt")  # checks of this machine: when one fails, nothing was rehearsed


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


@dataclass
class Rehearsal:
    env: str
    findings: list[Finding] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def as_record(self) -> dict[str, Any]:
        """The run record (cattle.dr.history) of this rehearsal."""
        failed = [f.check for f in self.findings if not f.ok]
        unprepared = [c for c in failed if c in PREREQUISITES]  # this machine could not rehearse at all
        detail = "every check passed" if self.ready else f"failed: {', '.join(failed)}"
        if unprepared:
            detail = history.stopped_at_preflight(f"this machine is not set up to rehearse ({', '.join(unprepared)} "
                                                  "failed), so no backup was restored")
        return {"kind": "rehearsal", "env": self.env, "started": self.started, "finished": time.time(),
                "result": "ready" if self.ready else history.NOT_RUN if unprepared else "not ready",
                "detail": detail,
                "checks": [{"check": f.check, "ok": f.ok, "detail": f.detail} for f in self.findings]}

    @property
    def ready(self) -> bool:
        return all(f.ok for f in self.findings)

    def render(self) -> str:
        lines = [f"{'✓' if f.ok else '✗'} {f.check}: {f.detail}" for f in self.findings]
        failed = [f.check for f in self.findings if not f.ok]
        verdict = "READY" if self.ready else f"NOT READY ({', '.join(failed)}: see ✗ above)"
        return "\n".join([*lines, "", f"{self.env}: {verdict}"])


def _check(rehearsal: Rehearsal, name: str, action: Callable[[], str]) -> None:
    started = time.monotonic()
    try:
        detail = action()
        rehearsal.findings.append(Finding(name, True, f"{detail} ({time.monotonic() - started:.1f}s)"))
    except CattleError as exc:
        rehearsal.findings.append(Finding(name, False, exc.message.splitlines()[0] +
                                          (f" — {exc.hint}" if exc.hint else "")))


def _tools() -> str:
    return ", ".join(f"{name} {tools.installed_version(name, tools.find(name))}" for name in REQUIRED_TOOLS)


def _secrets(environment: Environment) -> str:
    identities = keys.candidate_identities(environment.name)
    if not identities:
        keys.require_identity(environment.name)
    files = secrets.secret_files(environment.root, environment.name)
    for result in sopsfile.decrypt_all(environment.root, files, identities).values():
        if isinstance(result, SecretsError):
            raise result
    return f"{len(files)} secret files decrypt with {identities[0].source}"


def _manifests(environment: Environment) -> str:
    [report] = validate.validate([environment.name], environment.root)
    if report.problems:
        first = report.problems[0]
        raise CattleError(f"{len(report.problems)} manifest problem(s); first: {first.file}: {first.object}: "
                          f"{first.message}", "run ./scripts/cattle validate for the full list")
    return f"{report.objects} objects valid"


def _snapshot_age(environment: Environment) -> str:
    manifest = snapshots.find(vaultdrill.store_for(environment), environment.name)
    hours = manifest.age_seconds / 3600
    if hours > MAX_SNAPSHOT_AGE_HOURS:
        raise CattleError(f"the latest Vault snapshot {manifest.id} is {hours:.1f}h old "
                          f"(limit {MAX_SNAPSHOT_AGE_HOURS:.0f}h)", "check the openbao-backup CronJob; take one now: "
                          f"./scripts/cattle vault.backup --env {environment.name}")
    return f"latest snapshot {manifest.id} is {hours:.1f}h old"


def _restore(environment: Environment) -> str:
    report = vaultdrill.verify(environment)
    return f"snapshot {report.snapshot} restored and unsealed, canary present; {report.root_access}"


def rehearse(environment: Environment) -> Rehearsal:
    """Run every check (all of them, even after a failure) and collect the findings."""
    rehearsal = Rehearsal(environment.name)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("tools", _tools),
        ("secrets decrypt", lambda: _secrets(environment)),
        ("manifests validate", lambda: _manifests(environment)),
        ("recent Vault snapshot", lambda: _snapshot_age(environment)),
        ("Vault snapshot restores", lambda: _restore(environment)),
    ]
    for name, action in checks:
        console.say(f"checking: {name}")
        _check(rehearsal, name, action)
    return rehearsal
