"""The four questions of the audit, asked of facts read once (the live objects, git's rendering, the baseline):
what is live but not reproducible, what was edited by hand, where git is not what runs, and what data has no way
back. Pure functions: no cluster, no files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cattle.audit import fields
from cattle.audit.baseline import Baseline
from cattle.audit.findings import (
    ADD_TO_GIT,
    BACK_UP,
    DECLARE_SECRET,
    GIT_NOT_TRUTH,
    HAND_EDIT,
    NO_WAY_BACK,
    NOT_IN_GIT,
    RESUME,
    REVERT,
    Finding,
)
from cattle.audit.live import LiveObjects, key

KUSTOMIZE_LABEL = "kustomize.toolkit.fluxcd.io/name"
HELM_LABEL = "helm.toolkit.fluxcd.io/name"
PRUNE = "kustomize.toolkit.fluxcd.io/prune"
RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
MANY_FIELDS = 5  # a manager that wrote more fields than this is one finding, not one per field
# fields git may leave out that a hand edit keeps when nobody owns them any more (see tests/README.md)
UNOWNED_ROOTS = (("metadata", "labels"), ("metadata", "annotations"))
# label and annotation prefixes Kubernetes reserves for its own components (kubernetes.io/metadata.name on every
# Namespace, deployment.kubernetes.io/revision), and Flux's own bookkeeping
SYSTEM_PREFIXES = ("kubernetes.io/", "k8s.io/", "kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
# fields that ask a controller to act and hold no state: `flux reconcile` and cattle's nudge write these
TRIGGERS = frozenset({"metadata.annotations.reconcile.fluxcd.io/requestedAt",
                      "metadata.annotations.reconcile.fluxcd.io/forceAt"})
DEFAULT_REPLICAS = 1


@dataclass
class Facts:
    """What the audit reads once: the live cluster, git's rendering of the environment, and the baseline."""

    live: LiveObjects
    rendered: dict[tuple[str, str, str], dict[str, Any]]  # (kind, namespace, name) -> object as Flux applies it
    kustomizations: set[str]  # Flux Kustomizations git declares (flux-system namespace)
    helmreleases: set[tuple[str, str]]  # (namespace, name) of HelmReleases git declares
    baseline: Baseline
    git_branch: str
    vault_backed_up: bool
    vault_namespaces: set[str] = field(default_factory=set)  # where git installs OpenBao's chart


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _finding(obj: dict[str, Any], kind_class: str, why: str, todo: str, path: str = "") -> Finding:
    kind, namespace, name = key(obj)
    return Finding(kind, kind_class, namespace, name, why, todo, path)


def _managers(obj: dict[str, Any]) -> list[str]:
    return sorted({str(e.get("manager")) for e in (obj.get("metadata") or {}).get("managedFields") or []})


class Ownership:
    """Whether each live object comes back on a rebuild: managed by a Flux object git declares, made by one of
    those through an owner chain, or made by the cluster itself (the baseline)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.verdicts: dict[str, str] = {}  # uid -> "git" | "lost" | "under-lost" | "left-behind"

    def managed_by(self, obj: dict[str, Any]) -> str | None:
        """'Kustomization name' or 'HelmRelease ns/name' that applied the object, when git declares it."""
        labels = _labels(obj)
        if labels.get(KUSTOMIZE_LABEL) in self.facts.kustomizations:
            return f"Kustomization {labels[KUSTOMIZE_LABEL]}"
        release = (labels.get("helm.toolkit.fluxcd.io/namespace", ""), labels.get(HELM_LABEL, ""))
        if release in self.facts.helmreleases:
            return f"HelmRelease {release[0]}/{release[1]}"
        return None

    def verdict(self, obj: dict[str, Any], depth: int = 0) -> str:
        uid = str((obj.get("metadata") or {}).get("uid"))
        if uid not in self.verdicts:
            self.verdicts[uid] = self._judge(obj, depth)
        return self.verdicts[uid]

    def _judge(self, obj: dict[str, Any], depth: int) -> str:
        labels = _labels(obj)
        if labels.get(KUSTOMIZE_LABEL) in self.facts.kustomizations:
            return "git" if key(obj) in self.facts.rendered else "left-behind"
        if self.managed_by(obj):
            return "git"
        if KUSTOMIZE_LABEL in labels or HELM_LABEL in labels:
            return "under-lost"  # applied by a Flux object git does not declare: that object is the finding
        owners = (obj.get("metadata") or {}).get("ownerReferences") or []
        for ref in owners:
            owner = self.facts.live.by_uid.get(str(ref.get("uid")))
            if owner is None or depth > 20:
                return "git"  # its owner is gone: the garbage collector deletes it
            if self.verdict(owner, depth + 1) == "git":
                return "git"
        if owners:
            return "under-lost"
        if self.facts.baseline.made_by_cluster(obj) or key(obj) in self.facts.rendered:
            return "git"
        return "lost"


def _made_from(facts: Facts, ownership: Ownership) -> dict[str, list[str]]:
    """uid of each lost object -> the kinds of the objects made from it (through owner references)."""
    made: dict[str, list[str]] = {}
    for obj in facts.live.objects:
        if ownership.verdict(obj) != "under-lost":
            continue
        here, depth = obj, 0
        while depth < 20:
            refs = (here.get("metadata") or {}).get("ownerReferences") or []
            owner = facts.live.by_uid.get(str(refs[0].get("uid"))) if refs else None
            if owner is None:
                break
            if ownership.verdict(owner) == "lost":
                made.setdefault(str(owner["metadata"].get("uid")), []).append(str(obj.get("kind")))
                break
            here, depth = owner, depth + 1
    return made


def not_reproducible(facts: Facts, ownership: Ownership) -> list[Finding]:
    """Live objects no Flux object git declares owns, directly or through owner references, and the cluster did
    not make by itself (one finding each, naming what was made from it). Secrets and volumes go to
    data_without_way_back instead."""
    found: list[Finding] = []
    children = _made_from(facts, ownership)
    for obj in facts.live.objects:
        verdict = ownership.verdict(obj)
        if verdict == "lost" and obj.get("kind") not in ("Secret", "PersistentVolumeClaim"):
            made = ", ".join(_managers(obj)) or "no field manager recorded"
            kinds = children.get(str((obj.get("metadata") or {}).get("uid")), [])
            also = f"; with the {len(kinds)} objects made from it ({', '.join(sorted(set(kinds)))})" if kinds else ""
            found.append(_finding(obj, NOT_IN_GIT, f"not in git and owned by nothing git declares (written by {made})"
                                  + also, ADD_TO_GIT))
        elif verdict == "left-behind" and _annotations(obj).get(PRUNE) != "disabled":
            found.append(_finding(obj, NOT_IN_GIT, f"applied by Kustomization {_labels(obj)[KUSTOMIZE_LABEL]} but no "
                                  "longer in git (a rebuild would not make it)", ADD_TO_GIT + ", or delete it"))
    return found


def _changed_leaves(obj: dict[str, Any], entry: dict[str, Any], git: dict[str, Any] | None) -> list[fields.Path]:
    paths = fields.leaves(entry.get("fieldsV1") or {})
    if git is None:
        return paths
    return [p for p in paths if fields.value_at(obj, p) != fields.value_at(git, p)]


def hand_edits(facts: Facts, ownership: Ownership) -> list[Finding]:
    """Fields of Flux-managed objects written by a manager that is neither Flux nor a known controller (kubectl
    edit, scale, label, patch, apply, a dashboard, a script), with the value git would restore; and labels and
    annotations that nobody owns any more and git does not set (Flux stripped their manager, the value stayed)."""
    found: list[Finding] = []
    for obj in facts.live.objects:
        owner = ownership.managed_by(obj)
        if owner is None:
            continue
        git = facts.rendered.get(key(obj)) if owner.startswith("Kustomization") else None
        restores = "git restores" if git is not None else f"{owner} restores the chart's value"
        owned: set[fields.Path] = set()
        for entry in (obj.get("metadata") or {}).get("managedFields") or []:
            owned.update(fields.leaves(entry.get("fieldsV1") or {}))
            manager, subresource = str(entry.get("manager")), str(entry.get("subresource") or "")
            if subresource == "status" or facts.baseline.known_manager(manager):
                continue
            how = f"{manager} ({entry.get('operation')}{' ' + subresource if subresource else ''})"
            paths = [p for p in _changed_leaves(obj, entry, git) if fields.text(p) not in TRIGGERS
                     and not (_is_flux_object(obj) and fields.text(p) == "spec.suspend")]  # git_not_truth says it
            if len(paths) > MANY_FIELDS:
                found.append(_finding(obj, HAND_EDIT, f"{how} wrote {len(paths)} fields git does not hold, first "
                                      f"{fields.text(paths[0])}", REVERT, fields.text(paths[0])))
                continue
            for path in paths:
                live_value, git_value = _values(obj, git, path)
                why = (f"set to {live_value} by {how}; " +
                       (f"{restores} {git_value}" if git_value is not None else restores))
                found.append(_finding(obj, HAND_EDIT, why, REVERT, fields.text(path)))
        if git is not None:
            found += _unowned(obj, git, owned)
    return found


def _values(obj: dict[str, Any], git: dict[str, Any] | None, path: fields.Path) -> tuple[str, str | None]:
    """The live value at a path and git's, as shown in a finding; a Secret's values never are, whatever the path
    (kubectl apply's last-applied annotation holds the data too; findings go into run records pushed to a branch)."""
    live, restored = fields.value_at(obj, path), fields.value_at(git, path) if git is not None else None
    if obj.get("kind") == "Secret":
        same = "the same value" if live == restored else "another value"
        return "(a value of a Secret, not shown)", same if git is not None else None
    return fields.shown(live), fields.shown(restored) if git is not None else None


def _unowned(obj: dict[str, Any], git: dict[str, Any], owned: set[fields.Path]) -> list[Finding]:
    """Labels, annotations and replicas live that git does not set and no manager owns."""
    found: list[Finding] = []
    for root in UNOWNED_ROOTS:
        values = fields.value_at(obj, tuple(("f", k) for k in root))
        for name, value in (values.items() if isinstance(values, dict) else []):
            path: fields.Path = (*(("f", k) for k in root), ("f", name))
            if path in owned or fields.value_at(git, path) is not fields.MISSING or fields.text(path) in TRIGGERS:
                continue
            domain = name.partition("/")[0] + "/" if "/" in name else ""
            if domain.endswith(SYSTEM_PREFIXES):
                continue
            found.append(_finding(obj, HAND_EDIT, f"{fields.shown(value)}, owned by no field manager and not in git "
                                  "(a rebuild drops it)", REVERT, fields.text(path)))
    replicas: fields.Path = (("f", "spec"), ("f", "replicas"))
    value = fields.value_at(obj, replicas)
    if (isinstance(value, int) and value != DEFAULT_REPLICAS and replicas not in owned
            and fields.value_at(git, replicas) is fields.MISSING):
        found.append(_finding(obj, HAND_EDIT, f"{value}, owned by no field manager and not in git (a rebuild starts "
                              f"{DEFAULT_REPLICAS})", REVERT, fields.text(replicas)))
    return found


def _is_flux_object(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0].endswith("toolkit.fluxcd.io")


def _writer(obj: dict[str, Any], path: str) -> str:
    """The field managers that wrote a field."""
    return ", ".join(sorted({str(e.get("manager")) for e in (obj.get("metadata") or {}).get("managedFields") or []
                             if any(fields.text(p) == path for p in fields.leaves(e.get("fieldsV1") or {}))}))


def git_not_truth(facts: Facts) -> list[Finding]:
    """Suspended Flux objects, a sync source off the environment's branch, Kustomizations behind their source,
    objects Flux does not reconcile, and objects excluded from pruning that git no longer has."""
    found: list[Finding] = []
    sources: dict[tuple[str, str], str] = {}
    for repo in facts.live.of_kind("GitRepository"):
        meta, spec = repo.get("metadata") or {}, repo.get("spec") or {}
        revision = str(((repo.get("status") or {}).get("artifact") or {}).get("revision") or "")
        sources[(str(meta.get("namespace")), str(meta.get("name")))] = revision
        branch = (spec.get("ref") or {}).get("branch")
        if meta.get("name") == "flux-system" and branch != facts.git_branch:
            found.append(_finding(repo, GIT_NOT_TRUTH, f"follows branch {branch}, the environment's branch is "
                                  f"{facts.git_branch}", f"point it at {facts.git_branch} (cattle bootstrap does)"))
    for obj in facts.live.objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if kind in ("Kustomization", "HelmRelease") and _is_flux_object(obj) and spec.get("suspend") is True:
            by = _writer(obj, "spec.suspend") or "no field manager recorded"
            found.append(_finding(obj, GIT_NOT_TRUTH, f"suspended (by {by}): Flux applies nothing from git to it, "
                                  "and a rebuild would apply git as it is", RESUME))
        if kind == "Kustomization" and "sourceRef" in spec:
            ref = spec["sourceRef"]
            namespace = str(ref.get("namespace") or (obj.get("metadata") or {}).get("namespace"))
            head = sources.get((namespace, str(ref.get("name"))), "")
            applied = str((obj.get("status") or {}).get("lastAppliedRevision") or "")
            if head and applied != head:
                found.append(_finding(obj, GIT_NOT_TRUTH, f"has applied {applied or 'nothing yet'}, its source is at "
                                      f"{head}", "see why it fails: ./scripts/cattle status"))
        annotations = _annotations(obj)
        if annotations.get(RECONCILE) == "disabled":
            found.append(_finding(obj, GIT_NOT_TRUTH, f"{RECONCILE}: disabled, so Flux no longer applies git to it",
                                  "remove the annotation, or take the object out of git"))
        elif annotations.get(PRUNE) == "disabled" and KUSTOMIZE_LABEL in _labels(obj) and key(obj) not in \
                facts.rendered:
            found.append(_finding(obj, GIT_NOT_TRUTH, f"{PRUNE}: disabled kept it after git dropped it; a rebuild "
                                  "would not make it", ADD_TO_GIT + ", or delete it"))
    return found


def _restore_path(facts: Facts, claim: dict[str, Any]) -> str | None:
    """How cattle gets a volume's data back, if it knows a way."""
    meta = claim.get("metadata") or {}
    namespace = str(meta.get("namespace"))
    cluster_name = _labels(claim).get("cnpg.io/cluster")
    if cluster_name:
        cluster = facts.live.get("Cluster", namespace, cluster_name)
        spec = (cluster or {}).get("spec") or {}
        if any(p.get("isWALArchiver") for p in spec.get("plugins") or []) or (spec.get("backup") or {}).get(
                "barmanObjectStore"):
            return f"CloudNativePG cluster {cluster_name} archives to its object store"
        return None
    if namespace in facts.vault_namespaces and facts.vault_backed_up:
        return "OpenBao's raft volume: restored from the Vault snapshot store"
    return None


def data_without_way_back(facts: Facts, ownership: Ownership) -> list[Finding]:
    """Volumes no restore path cattle knows covers, and Secrets whose values neither git (SOPS) nor a controller
    makes again."""
    found: list[Finding] = []
    for claim in facts.live.of_kind("PersistentVolumeClaim"):
        if _restore_path(facts, claim) is None:
            found.append(_finding(claim, NO_WAY_BACK, "a volume no restore path covers (not a CloudNativePG cluster "
                                  "with backups, not OpenBao's raft volume)", BACK_UP))
    for secret in facts.live.of_kind("Secret"):
        if ownership.verdict(secret) == "lost":
            made = ", ".join(_managers(secret)) or "no field manager recorded"
            found.append(_finding(secret, NO_WAY_BACK, f"values neither in git (SOPS) nor made by a controller "
                                  f"(written by {made})", DECLARE_SECRET))
    return found


def audit(facts: Facts) -> list[Finding]:
    """Every finding, in class order."""
    ownership = Ownership(facts)
    return (not_reproducible(facts, ownership) + hand_edits(facts, ownership) + git_not_truth(facts)
            + data_without_way_back(facts, ownership))
