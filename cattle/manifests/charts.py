"""Every HelmRelease rendered with its pinned chart: `helm template` with the release's values (Helm validates them
against the chart's values.schema.json), the output checked with validate's schemas (Kubernetes strict, vendored
CRDs and the chart's own CRDs) and pinning rule, and the values keys the chart never reads reported (Helm ignores
them silently). Charts come from a local cache filled by `./scripts/cattle charts.pull` (helm and the chart
repositories are reachable in CI); a release whose chart or helm is missing is SKIPPED, never passed."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cattle import env as environments
from cattle import tools, yamlio
from cattle.database.backups import validation_variables
from cattle.errors import ToolError
from cattle.manifests import policy
from cattle.manifests.ordering import dig
from cattle.manifests.render import RenderedObject, Rendering, render
from cattle.manifests.versiontable import chart_source
from cattle.manifests.versiontable import load as load_versions
from cattle.paths import repo_root
from cattle.problems import Problem
from cattle.schemas import SchemaStore, load_crd_files

_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][\w-]*)+)")
_INDEX_REF = re.compile(r"index\s+\.Values((?:\s+\"[^\"]+\")+)")


def cache_dir(root: Path) -> Path:
    """Where pulled charts live: $CATTLE_CHART_CACHE or .cattle/charts in the repository."""
    return Path(os.environ["CATTLE_CHART_CACHE"]) if os.environ.get("CATTLE_CHART_CACHE") else root / ".cattle/charts"


def chart_dir(root: Path, chart: str, version: str) -> Path:
    return cache_dir(root) / f"{chart}-{version}" / chart


def helm() -> str | None:
    """The helm binary (the venv's first, as for every other tool)."""
    return shutil.which("helm", path=f"{Path(tools.__file__).parents[1] / '.venv/bin'}{os.pathsep}"
                                     f"{os.environ.get('PATH', '')}")


@dataclass
class ReleaseResult:
    """What rendering one HelmRelease with its chart found."""

    env: str
    release: str
    chart: str
    version: str
    status: str = "ok"  # ok | FAILED | SKIPPED
    reason: str = ""
    objects: int = 0
    images: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


# --- values keys the chart reads -------------------------------------------------------------------------------
def _paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(values, dict):
        for key, value in values.items():
            yield (*prefix, str(key)), value
            yield from _paths(value, (*prefix, str(key)))


@dataclass
class ChartKeys:
    """The values a chart (and its subcharts) declares by default and the paths its templates reference."""

    defaults: dict[tuple[str, ...], Any] = field(default_factory=dict)
    referenced: set[tuple[str, ...]] = field(default_factory=set)
    schema: set[tuple[str, ...]] = field(default_factory=set)

    def reads(self, path: tuple[str, ...]) -> bool:
        """Whether the chart reads a values path: declared, referenced, or inside a free-form value (an empty map
        by default, or a map/list/scalar a template passes on whole)."""
        if path in self.defaults or path in self.referenced or path in self.schema:
            return True
        for cut in range(len(path) - 1, 0, -1):
            ancestor = path[:cut]
            if ancestor in self.referenced:
                return True
            if ancestor in self.defaults:
                default = self.defaults[ancestor]
                return not isinstance(default, dict) or not default
        return False


def chart_keys(directory: Path, prefix: tuple[str, ...] = ()) -> ChartKeys:
    """Defaults, template references and schema properties of a chart directory, subcharts under their names."""
    keys = ChartKeys()
    values = directory / "values.yaml"
    if values.is_file():
        keys.defaults.update({(*prefix, *p): v for p, v in _paths(yamlio.load(values.read_text(), str(values)) or {})})
    schema = directory / "values.schema.json"
    if schema.is_file():
        keys.schema.update((*prefix, *p) for p in _schema_paths(yamlio.load(schema.read_text(), str(schema)) or {}))
    for template in [*(directory / "templates").rglob("*")] if (directory / "templates").is_dir() else []:
        if template.is_file():
            text = template.read_text(errors="replace")
            keys.referenced.update((*prefix, *m.group(1).strip(".").split(".")) for m in _VALUES_REF.finditer(text))
            keys.referenced.update((*prefix, *re.findall(r'"([^"]+)"', m.group(1))) for m in _INDEX_REF.finditer(text))
    for sub in sorted((directory / "charts").iterdir()) if (directory / "charts").is_dir() else []:
        if (sub / "Chart.yaml").is_file():
            chart = sub / "Chart.yaml"
            name = str((yamlio.load(chart.read_text(), str(chart)) or {}).get("name") or sub.name)
            child = chart_keys(sub, (*prefix, name))
            keys.defaults.update(child.defaults)
            keys.referenced.update(child.referenced)
            keys.schema.update(child.schema)
            keys.defaults.setdefault((*prefix, name), {"enabled": True})
    keys.defaults.setdefault((*prefix, "global"), {})
    return keys


def _schema_paths(schema: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(schema, dict):
        for key, child in (schema.get("properties") or {}).items():
            yield (*prefix, str(key))
            yield from _schema_paths(child, (*prefix, str(key)))


def unread_keys(values: dict[str, Any], keys: ChartKeys) -> list[str]:
    """The topmost values paths the chart never reads (their children are not listed again)."""
    found: list[tuple[str, ...]] = []
    for path, _ in _paths(values):
        if any(path[:len(f)] == f for f in found):
            continue
        if not keys.reads(path):
            found.append(path)
    return [".".join(p) for p in found]


# --- rendering -------------------------------------------------------------------------------------------------
def template(binary: str, release: str, namespace: str, directory: Path, values: dict[str, Any],
             kube_version: str) -> str:
    """`helm template` of one release (ToolError with Helm's message, e.g. a values.schema.json violation)."""
    with tempfile.TemporaryDirectory(prefix="cattle-values-") as tmp:
        values_file = Path(tmp) / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        proc = tools.run([binary, "template", release, str(directory), "--namespace", namespace, "--values",
                          str(values_file), "--include-crds", "--kube-version", kube_version], timeout=300)
    return proc.stdout.decode()


def _check_output(result: ReleaseResult, manifest: str, crds: dict[str, dict[str, Any]], where: str) -> None:
    objects = [d for d in yamlio.load_all(manifest, f"helm template {where}") if isinstance(d, dict)]
    result.objects = len(objects)
    rendering = Rendering(result.env, [RenderedObject(o, f"helm:{result.release}", where) for o in objects])
    store = SchemaStore(dict(crds))
    store.add_crds(objects)
    checker = policy._Checker(rendering, store, {})
    for item in rendering.objects:
        checker.schemas(item)
        before = len(checker.problems)
        checker.images(item)
        # A chart chooses its own images by tag: only `latest`/untagged ones are errors here.
        checker.problems[before:] = [p for p in checker.problems[before:] if "pinned by tag only" not in p.message]
    result.problems.extend(checker.problems)
    for item in rendering.objects:
        pod = dig(item.obj, policy.POD_PATHS.get(str(item.obj.get("kind")), ("-",))) or {}
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            result.images.append(str(container.get("image")))
    result.images = sorted(set(result.images))


def check(names: list[str] | None = None, root: Path | None = None) -> list[ReleaseResult]:
    """Render every HelmRelease of the named environments with its cached chart and check the output."""
    from cattle.manifests.validate import vendored_crd_files  # validate imports policy: keep the import one-way

    base = root or repo_root()
    crds = load_crd_files(vendored_crd_files(base))
    binary = helm()
    results = []
    for name in names or environments.environment_names(base):
        environment = environments.load(name, base)
        rendering = render(environment, validation_variables(environment.protected))
        for item in rendering.objects:
            if item.obj.get("kind") != "HelmRelease":
                continue
            meta = item.obj.get("metadata") or {}
            chart = str(dig(item.obj, ("spec", "chart", "spec", "chart")) or "")
            version = str(dig(item.obj, ("spec", "chart", "spec", "version")) or "")
            if not chart:  # chartRef: the OCIRepository's chart, named after its URL, tag as version
                source = chart_source(rendering, item.obj) or {}
                chart = str(dig(source, ("spec", "url")) or "").rstrip("/").rsplit("/", 1)[-1]
                version = str(dig(source, ("spec", "ref", "tag")) or "")
            result = ReleaseResult(name, f"{meta.get('namespace')}/{meta.get('name')}", chart, version)
            results.append(result)
            directory = chart_dir(base, chart, version)
            if binary is None:
                result.status, result.reason = "SKIPPED", "no helm binary (CI installs the pinned one)"
                continue
            if not (directory / "Chart.yaml").is_file():
                result.status, result.reason = ("SKIPPED",
                                                f"chart not in the cache ({directory}): ./scripts/cattle charts.pull")
                continue
            values = dig(item.obj, ("spec", "values")) or {}
            result.unread = unread_keys(values, chart_keys(directory))
            try:
                manifest = template(binary, str(meta.get("name")), str(meta.get("namespace")), directory, values,
                                    environment.kubernetes.version)
            except ToolError as exc:
                result.status, result.reason = "FAILED", f"helm template failed: {exc.stderr or exc.message}"[:800]
                continue
            _check_output(result, manifest, crds, f"chart {chart} {version} ({item.source})")
            for key in result.unread:
                result.problems.append(Problem(name, item.source, item.name, f"values key {key} is not read by "
                                               f"chart {chart} {version}: Helm ignores it", "fix the key (compare "
                                               "the chart's values.yaml at the pinned version) or remove it",
                                               "chart-values"))
            if result.problems:
                result.status = "FAILED"
    return results


def pull(root: Path | None = None) -> list[str]:
    """Download every chart of the versions table into the cache (helm pull), checking a recorded digest."""
    base = root or repo_root()
    binary = helm()
    if binary is None:
        raise ToolError("helm is not installed", stderr="install the pinned helm (the validate workflow does)")
    done = []
    for row in load_versions(base):
        target = chart_dir(base, row.chart, row.version)
        if (target / "Chart.yaml").is_file():
            done.append(f"{row.chart} {row.version}: cached")
            continue
        with tempfile.TemporaryDirectory(prefix="cattle-chart-") as tmp:
            if row.repository.startswith("oci://"):
                argv = [binary, "pull", row.repository, "--version", row.version, "--destination", tmp]
            else:
                argv = [binary, "pull", row.chart, "--repo", row.repository, "--version", row.version,
                        "--destination", tmp]
            tools.run(argv, timeout=300)
            [archive] = list(Path(tmp).glob("*.tgz"))
            digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
            if row.digest and digest != row.digest:
                raise ToolError(f"{row.chart} {row.version}: downloaded {digest}, the versions table records "
                                f"{row.digest}", stderr="the chart repository serves another archive: stop")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive) as tar:
                tar.extractall(target.parent, filter="data")
        done.append(f"{row.chart} {row.version}: pulled ({digest})")
    return done


def format_text(results: list[ReleaseResult], markdown: bool = False) -> str:
    """A line per release (ok / FAILED / SKIPPED with the reason), then every problem; SKIPPED is never ok."""
    rows = [(r.env, r.release, f"{r.chart} {r.version}", r.status, str(r.objects), r.reason or
             (f"{len(r.problems)} problem(s)" if r.problems else f"{len(r.images)} image(s)")) for r in results]
    skipped = sum(r.status == "SKIPPED" for r in results)
    failed = sum(r.status == "FAILED" for r in results)
    verdict = (f"FAILED: {failed} release(s)" if failed else f"SKIPPED: {skipped} of {len(results)} release(s) "
               "not rendered (nothing was checked for them)" if skipped else f"ok: {len(results)} release(s)")
    if markdown:
        lines = ["## Charts rendered with their values (`./scripts/cattle charts.check`)", "", f"**{verdict}**", "",
                 "| env | release | chart | result | objects | detail |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(row)} |" for row in rows]
    else:
        from cattle.console import table
        lines = [table(["env", "release", "chart", "result", "objects", "detail"], [list(r) for r in rows]), verdict]
    for result in results:
        for p in result.problems:
            lines.append(f"\n[{p.env}] {p.file}: {p.object}\n  error ({p.rule}): {p.message}\n  fix: {p.hint}")
    return "\n".join(lines)
