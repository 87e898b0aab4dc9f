"""`cattle audit`: what a rebuild of an environment from git would lose right now. Read-only against the live
cluster: env config -> facts (live objects, git's rendering, the baseline) -> findings -> report and run record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cattle import console, env
from cattle.audit import baseline, checks, findings, live
from cattle.bootstrap import rebuild
from cattle.errors import CattleError
from cattle.manifests import flux
from cattle.manifests.render import render

OPENBAO_CHART = "openbao"


def _git_side(environment: env.Environment, bootstrap_vars: dict[str, str] | None
              ) -> tuple[dict[tuple[str, str, str], dict[str, Any]], set[str], set[tuple[str, str]], set[str]]:
    """Git's side of the facts: every object as Flux applies it, the Kustomizations, the HelmReleases, and the
    namespaces git installs OpenBao's chart into."""
    rendering = render(environment, bootstrap_vars)
    if rendering.problems:
        first = rendering.problems[0]
        raise CattleError(f"cannot render {environment.name} from git, so there is nothing to compare the cluster "
                          f"with: {len(rendering.problems)} problem(s), first: {first.file}: {first.object}: "
                          f"{first.message}", f"run ./scripts/cattle validate --env {environment.name} and fix it")
    objects = {live.key(item.obj): item.obj for item in rendering.objects}
    releases = {(k[1], k[2]): o for k, o in objects.items() if k[0] == "HelmRelease"}
    vault_namespaces = {ns for (ns, _), o in releases.items()
                        if (((o.get("spec") or {}).get("chart") or {}).get("spec") or {}).get("chart") == OPENBAO_CHART}
    return objects, set(rendering.kustomizations), set(releases), vault_namespaces


def audit(name: str, provider_name: str | None = None, context: str | None = None,
          ignore: Path | None = None) -> findings.Audit:
    """Read the cluster and git once, and say what a rebuild now would lose."""
    accepted = findings.load_ignores(ignore) if ignore is not None else []
    environment, kube = rebuild.connect(name, provider_name, context)
    try:
        rules = baseline.load(environment.root)
        console.say(f"auditing {environment.name} (context {environment.kube_context or '(current)'}): read-only")
        objects = live.read(kube, set(rules.skip), console.say)
    finally:
        kube.close()
    bootstrap = objects.get("ConfigMap", "flux-system", flux.BOOTSTRAP_VARS)
    bootstrap_vars = {str(k): str(v) for k, v in ((bootstrap or {}).get("data") or {}).items()} if bootstrap \
        else None
    console.say(f"read {len(objects.objects)} live objects of {objects.kinds_read} kinds; rendering git's "
                f"{environment.name} to compare")
    rendered, kustomizations, releases, vault_namespaces = _git_side(environment, bootstrap_vars)
    facts = checks.Facts(objects, rendered, kustomizations, releases, rules, environment.git_branch,
                         bool(environment.backups.vault_store), vault_namespaces)
    revision = _revision(objects)
    result = findings.Audit(environment.name, environment.kube_context or "(current)", revision,
                            checks.audit(facts), objects_read=len(objects.objects))
    findings.apply_ignores(result, accepted)
    return result


def _revision(objects: live.LiveObjects) -> str:
    source = objects.get("GitRepository", "flux-system", "flux-system")
    artifact = ((source or {}).get("status") or {}).get("artifact") or {}
    return str(artifact.get("revision") or "no GitRepository flux-system revision")


def record(result: findings.Audit, started: float) -> dict[str, Any]:
    """The run record of an audit (kept like a drill's, read by the recovery page)."""
    return {"kind": "audit", "env": result.env, "started": started, "finished": time.time(),
            "result": "ok" if result.ok else "would lose", "headline": result.headline(),
            "counts": {c: result.count(c) for c in findings.CLASSES},
            "findings": [{"class": f.kind_class, "where": f.where, "field": f.field, "why": f.why, "todo": f.todo}
                         for f in result.findings],
            "accepted": len(result.accepted), "revision": result.revision}
