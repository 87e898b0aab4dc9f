"""What the audit found: one Finding per object, field or setting a rebuild from git would lose, in four classes;
accepted exceptions from an --ignore file; the text and JSON reports."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cattle import yamlio
from cattle.errors import ConfigError

NOT_IN_GIT = "not reproducible from git"
HAND_EDIT = "hand edits of managed objects"
GIT_NOT_TRUTH = "git is not the truth right now"
NO_WAY_BACK = "data with no way back"
CLASSES = (NOT_IN_GIT, HAND_EDIT, GIT_NOT_TRUTH, NO_WAY_BACK)

ADD_TO_GIT = "add to git"
DECLARE_SECRET = "declare in secrets.spec"
BACK_UP = "back up"
RESUME = "resume it"
REVERT = "put it in git, or let Flux revert it"


@dataclass(frozen=True)
class Finding:
    """One thing a rebuild now would lose (or would not restore as it runs)."""

    kind: str
    kind_class: str  # one of CLASSES
    namespace: str
    name: str
    why: str
    todo: str
    field: str = ""  # the field path, for hand edits

    @property
    def where(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Accepted:
    """An --ignore entry: an accepted exception, with why and who answers for it."""

    kind: str
    namespace: str
    name: str
    reason: str
    owner: str

    def covers(self, finding: Finding) -> bool:
        return (fnmatch.fnmatchcase(finding.kind, self.kind) and fnmatch.fnmatchcase(finding.namespace, self.namespace)
                and fnmatch.fnmatchcase(finding.name, self.name))


@dataclass
class Audit:
    """The audit of one environment."""

    env: str
    context: str
    revision: str
    findings: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, Accepted]] = field(default_factory=list)
    objects_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def count(self, kind_class: str) -> int:
        return sum(1 for f in self.findings if f.kind_class == kind_class)

    def headline(self) -> str:
        """What the boss asks: what a rebuild now would lose."""
        if self.ok:
            return f"{self.env}: a rebuild now would lose nothing ({self.objects_read} live objects read)"
        objects = self.count(NOT_IN_GIT) + self.count(NO_WAY_BACK)
        return (f"{self.env}: a rebuild now would lose: {objects} objects, {self.count(HAND_EDIT)} hand edits, "
                f"{self.count(GIT_NOT_TRUTH)} places where git is not what runs")


def load_ignores(path: Path) -> list[Accepted]:
    """An --ignore file: a list of {kind, namespace, name, reason, owner}; names may use * and ?."""
    doc = yamlio.load_file(path)
    hint = ("each entry needs kind, name, reason and owner (namespace for namespaced objects), e.g. "
            "- {kind: Secret, namespace: feeds, name: legacy-token, reason: 'replaced in Q1', owner: alice}")
    if not isinstance(doc, list):
        raise ConfigError(f"{path}: expected a list of accepted exceptions", hint)
    accepted: list[Accepted] = []
    for entry in doc:
        missing = [k for k in ("kind", "name", "reason", "owner") if not isinstance(entry, dict) or not entry.get(k)]
        if missing:
            raise ConfigError(f"{path}: an entry lacks {', '.join(missing)}: {entry}", hint)
        accepted.append(Accepted(str(entry["kind"]), str(entry.get("namespace", "")), str(entry["name"]),
                                 str(entry["reason"]), str(entry["owner"])))
    return accepted


def apply_ignores(audit: Audit, accepted: list[Accepted]) -> None:
    """Move the findings an accepted exception covers out of the findings."""
    kept: list[Finding] = []
    for finding in audit.findings:
        match = next((a for a in accepted if a.covers(finding)), None)
        if match is None:
            kept.append(finding)
        else:
            audit.accepted.append((finding, match))
    audit.findings = kept


def format_text(audit: Audit) -> str:
    """The summary per class, then one line per finding: where, why, what to do."""
    lines = [audit.headline(), f"  cluster: context {audit.context}; git: {audit.revision}"]
    for kind_class in CLASSES:
        lines.append(f"  {kind_class}: {audit.count(kind_class)}")
    for kind_class in CLASSES:
        found = [f for f in audit.findings if f.kind_class == kind_class]
        if found:
            lines.append(f"\n{kind_class}:")
            for f in found:
                where = f"{f.where} {f.field}".rstrip()
                lines.append(f"  {where}: {f.why} -> {f.todo}")
    if audit.accepted:
        lines.append(f"\naccepted ({len(audit.accepted)}, from --ignore):")
        for f, a in audit.accepted:
            lines.append(f"  {f.where} {f.field}".rstrip() + f": {a.reason} (owner: {a.owner})")
    return "\n".join(lines)


def format_json(audit: Audit) -> str:
    """The whole audit as JSON (what the recovery page reads)."""
    return json.dumps({
        "env": audit.env, "context": audit.context, "revision": audit.revision, "ok": audit.ok,
        "objects_read": audit.objects_read, "headline": audit.headline(),
        "counts": {c: audit.count(c) for c in CLASSES},
        "findings": [dict(asdict(f), where=f.where) for f in audit.findings],
        "accepted": [dict(asdict(f), where=f.where, reason=a.reason, owner=a.owner) for f, a in audit.accepted],
    }, indent=2)
