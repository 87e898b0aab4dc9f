"""`./scripts/cattle validate`: render every environment offline and report schema and policy problems."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cattle import env as environments
from cattle import yamlio
from cattle.console import table
from cattle.database.backups import validation_variables
from cattle.manifests import clusterfit, deprecations, policy, versiontable
from cattle.manifests import reports as kept
from cattle.manifests.render import build, render
from cattle.paths import repo_root
from cattle.problems import Problem
from cattle.schemas import SchemaStore, load_crd_files, save_schema_results


@dataclass
class EnvReport:
    """What validate found in one environment."""

    env: str
    objects: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. placeholders left (./scripts/cattle adopt)
    reused: bool = False  # read back from an earlier run with the same inputs (manifests.reports)

    @property
    def ok(self) -> bool:
        return not self.problems


def vendored_crd_files(root: Path) -> list[Path]:
    """The CRD files vendored in the repository."""
    crds = root / "vendor" / "crds"
    return sorted([*crds.rglob("*.yaml"), *crds.rglob("*.yaml.gz")])


def validate_env(environment: environments.Environment, crds: dict[str, dict[str, Any]],
                 bootstrap_vars: dict[str, str] | None = None,
                 found_placeholders: list[tuple[str, int, str]] | None = None) -> EnvReport:
    """Render one environment (optionally with cattle's bootstrap choices) and check it."""
    started = time.monotonic()
    rendering = render(environment, bootstrap_vars)
    store = SchemaStore(dict(crds))
    store.add_crds(item.obj for item in rendering.objects)
    report = EnvReport(environment.name, objects=len(rendering.objects))
    report.kinds.update(str(item.obj.get("kind")) for item in rendering.objects)
    report.problems = (rendering.problems + policy.check(rendering, store, policy.load_unpinned(environment.root))
                       + clusterfit.check(environment, rendering) + versiontable.check(environment, rendering)
                       + deprecations.check(environment.name, rendering, vendored_crd_files(environment.root),
                                            versiontable.deprecated_values(environment.root))
                       + protected_database_problems(environment))
    report.warnings = placeholder_warnings(environment, found_placeholders)
    report.seconds = time.monotonic() - started
    return report


_DB_DEFAULT = re.compile(r"\$\{DB_BOOTSTRAP:=([^}]*)\}")


def protected_database_problems(environment: environments.Environment) -> list[Problem]:
    """A protected environment's database must not start without cattle's decision: every `${DB_BOOTSTRAP:=…}`
    default its root applies must be `undecided` (clusters/components/protected-database), never a real start."""
    if not environment.protected:
        return []
    text = json.dumps(build(environment.root, environment.flux_path))
    defaults = _DB_DEFAULT.findall(text)
    wrong = sorted({d for d in defaults if d != "undecided"})
    if defaults and not wrong:
        return []
    found = f"the default is {', '.join(repr(d) for d in wrong)}" if wrong else "DB_BOOTSTRAP is never chosen"
    return [Problem(environment.name, f"clusters/{environment.name}/kustomization.yaml", "Kustomization apps",
                    f"protected environment: without cattle's cattle-bootstrap ConfigMap (a plain Flux bootstrap) "
                    f"the database would start on the git default ({found}), empty over its backups",
                    "add ../components/protected-database to the components of "
                    f"clusters/{environment.name}/kustomization.yaml", "protected-database")]


def placeholder_warnings(environment: environments.Environment,
                         found: list[tuple[str, int, str]] | None = None) -> list[str]:
    """A warning per placeholder still in the environment's files (the repository is not made yours yet)."""
    from cattle.secrets.adopt import placeholders

    mine = f"clusters/{environment.name}/"
    return [f"{file}:{line}: placeholder {value!r} (make the repository yours: ./scripts/cattle adopt)"
            for file, line, value in (placeholders(environment.root) if found is None else found)
            if file.startswith(mine)]


def validate(names: list[str] | None = None, root: Path | None = None) -> list[EnvReport]:
    """Validate the named environments (all by default). An environment whose inputs are unchanged since an
    earlier run on this machine is answered with that run's report (manifests.reports)."""
    base = root or repo_root()
    selected = [environments.load(name, base) for name in (names or environments.environment_names(base))]
    crd_files = vendored_crd_files(base)
    crd_digest = kept.files_digest(crd_files)
    keys = {e.name: kept.key(e.name, base, crd_digest, validation_variables(e.protected)) for e in selected}
    found = {e.name: kept.load(keys[e.name]) for e in selected}
    stale = [e for e in selected if found[e.name] is None]
    if stale:
        crds = load_crd_files(crd_files)
        from cattle.secrets.adopt import placeholders

        scanned = placeholders(base)  # one scan for every environment
        with ThreadPoolExecutor(max_workers=2) as pool:
            checked = list(pool.map(lambda e: validate_env(e, crds, validation_variables(e.protected), scanned),
                                    stale))
        save_schema_results()  # a changed environment checks again only objects (or schemas) that changed
        for report in checked:
            kept.save(keys[report.env], report)
            found[report.env] = report
    shared = shared_store_problems(base)  # across environments: never part of one environment's kept report
    sizes = {e.name: server_type_problems(e) for e in selected}  # infra/ is not part of the kept report's key
    reports = [report for report in found.values() if report is not None]
    for report in reports:
        report.problems = ([p for p in report.problems if p.rule not in ("shared-store", "server-type")]
                           + shared.get(report.env, []) + sizes.get(report.env, []))
    return reports


SERVER_TYPES = Path("infra") / "server-types.yaml"
_PROVIDER_SOURCE = re.compile(r'source\s*=\s*"([\w.-]+/[\w.-]+)"')


def server_type_problems(environment: environments.Environment) -> list[Problem]:
    """An opentofu environment's cluster.nodeSize must be a server type its cloud offers today (infra/server-types.yaml,
    the cloud found from the provider pin in infra/<env>/main.tf)."""
    if environment.provider != "opentofu" or environment.cloud is None:
        return []
    main = environment.root / "infra" / environment.name / "main.tf"
    catalogue_path = environment.root / SERVER_TYPES
    if not main.is_file() or not catalogue_path.is_file():
        return []
    catalogue = yamlio.load(catalogue_path.read_text(), str(catalogue_path)) or {}
    clouds = [source for source in _PROVIDER_SOURCE.findall(main.read_text()) if source in catalogue]
    if not clouds:
        return []
    offer = catalogue[clouds[0]]
    size = environment.cloud.node_size
    if size in offer.get("types", []):
        return []
    return [Problem(environment.name, f"clusters/{environment.name}/environment.yaml", "cluster.nodeSize",
                    f"server type {size!r} is not offered by {clouds[0]} (as checked {offer.get('checked')}: "
                    f"{', '.join(offer.get('types', []))})",
                    f"pick a current type; the list and its source are in {SERVER_TYPES}", "server-type")]


def shared_store_problems(root: Path) -> dict[str, list[Problem]]:
    """Two environments whose backup stores overlap (the same store, or one a prefix of the other): one's
    retention or restore would reach the other's backups. A problem for each of the two."""
    found: dict[str, list[Problem]] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for pair in environments.shared_stores(root, environments.environment_names(root)):
        for env, url, other, other_url in ((pair.first, pair.first_url, pair.second, pair.second_url),
                                           (pair.second, pair.second_url, pair.first, pair.first_url)):
            if (env, url, other, other_url) in seen:  # the env file and cluster-vars often name the same store
                continue
            seen.add((env, url, other, other_url))
            found.setdefault(env, []).append(Problem(
                env, f"clusters/{env}/environment.yaml", f"backup store {url}",
                f"{env}'s backup store {url} overlaps {other}'s {other_url} ({pair.kind}): one environment's "
                "retention, restore or initialisation would act on the other's backups",
                f"give {env} and {other} stores of their own, neither a prefix of the other "
                "(backups.vault/backups.database, cluster-vars VAULT_BACKUP_STORE/DB_BACKUP_STORE)", "shared-store"))
    return found


def format_text(reports: list[EnvReport]) -> str:
    """A summary table per environment, then every problem with its file, object and fix."""
    rows = [[r.env, str(r.objects), str(len(r.kinds)), str(len(r.problems)),
             "unchanged" if r.reused else f"{r.seconds:.2f}s", "ok" if r.ok else "FAILED"] for r in reports]
    lines = [table(["env", "objects", "kinds", "errors", "time", "result"], rows)]
    for report in reports:
        for p in report.problems:
            lines.append(f"\n[{p.env}] {p.file}: {p.object}\n  error ({p.rule}): {p.message}\n  fix: {p.hint}")
    warnings = [f"[{r.env}] warning: {w}" for r in reports for w in r.warnings]
    if warnings:
        lines += ["", *warnings]
    return "\n".join(lines)


def format_json(reports: list[EnvReport]) -> str:
    """The same as machine-readable JSON."""
    return json.dumps([{"env": r.env, "objects": r.objects, "kinds": dict(sorted(r.kinds.items())),
                        "errors": len(r.problems), "seconds": round(r.seconds, 3), "unchanged": r.reused,
                        "problems": [p.as_dict() for p in r.problems], "warnings": r.warnings} for r in reports],
                      indent=2)
