"""invoke validate: the repository passes; each kind of breakage fails with its specific message."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cattle import env
from cattle.database.backups import validation_variables
from cattle.manifests import deprecations, validate
from cattle.manifests.render import render
from tests.conftest import REPO


def _problems(root: Path, name: str = "testing") -> list[str]:
    [report] = validate.validate([name], root)
    return [f"{p.rule}|{p.file}|{p.object}|{p.message}" for p in report.problems]


def test_repository_passes_for_all_three_environments() -> None:
    reports = validate.validate()
    assert [r.env for r in reports] == ["production", "staging", "testing"]
    for report in reports:
        assert report.problems == [], validate.format_text([report])
        assert report.objects > 50
        assert {"HelmRelease", "Kustomization", "Cluster", "Deployment", "Gateway"} <= set(report.kinds)


def test_rendering_substitutes_cluster_vars_and_applies_overlays() -> None:
    by_env = {}
    for name in ("testing", "production"):
        environment = env.load(name)
        rendering = render(environment, validation_variables(environment.protected))
        by_env[name] = {(i.obj["kind"], i.obj["metadata"]["name"]): i.obj for i in rendering.objects}
    route = by_env["testing"][("HTTPRoute", "miniflux")]
    assert route["spec"]["hostnames"] == ["feeds.testing.cattle.localhost"]
    assert by_env["production"][("HTTPRoute", "miniflux")]["spec"]["hostnames"] == ["feeds.cattle.example.com"]
    prom = lambda e: by_env[e][("HelmRelease", "kube-prometheus-stack")]["spec"]["values"]["prometheus"]  # noqa: E731
    assert prom("testing")["prometheusSpec"]["retention"] == "2d"
    assert prom("production")["prometheusSpec"]["retention"] == "30d"
    assert by_env["production"][("Cluster", "feeds-db")]["spec"]["instances"] == 3
    assert by_env["testing"][("Cluster", "feeds-db")]["spec"]["instances"] == 1
    assert ("PodDisruptionBudget", "miniflux") in by_env["production"]
    assert ("PodDisruptionBudget", "miniflux") not in by_env["testing"]
    paths = {k[1]: o["spec"]["path"] for k, o in by_env["production"].items() if k[0] == "Kustomization"}
    assert paths["apps"] == "./apps/production"
    assert paths["platform-controllers"] == "./platform/controllers/production"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _add_resource(root: Path, name: str) -> None:
    _edit(root / "apps/base/miniflux/kustomization.yaml", "  - dashboard.yaml", f"  - dashboard.yaml\n  - {name}")


def test_latest_image_is_an_error(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "miniflux:2.2.13", "miniflux:latest")
    assert _problems(repo_copy) == [
        "pinning|apps/base/miniflux/deployment.yaml|Deployment feeds/miniflux|"
        "image 'docker.io/miniflux/miniflux:latest' is not pinned (tag latest)"]


def test_chart_range_is_an_error(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/loki/release.yaml", "version: 18.11.0", "version: 18.x")
    [problem] = _problems(repo_copy)
    assert problem.startswith("pinning|platform/controllers/base/loki/release.yaml|HelmRelease logging/loki|")
    assert "'18.x' is not an exact version" in problem


def test_missing_depends_on_target(repo_copy: Path) -> None:
    _edit(repo_copy / "clusters/base/platform-configs.yaml", "- name: platform-controllers",
          "- name: platform-controllerz")
    problems = _problems(repo_copy)
    assert problems[0] == ("references|clusters/base/platform-configs.yaml|Kustomization flux-system/platform-configs|"
                           "dependsOn flux-system/platform-controllerz does not exist")
    # and what platform-configs reads from the secrets layer is no longer ordered after it
    assert problems[1:] and all(p.startswith("ordering|") for p in problems[1:]), problems


def test_secret_read_at_start_from_a_later_layer_is_a_deadlock(repo_copy: Path) -> None:
    """The old layer order (controllers before secrets) leaves OpenBao and Grafana waiting for their Secrets."""
    _edit(repo_copy / "clusters/base/platform-controllers.yaml", "  dependsOn:\n    - name: secrets\n", "")
    _edit(repo_copy / "clusters/base/secrets.yaml", "  interval: 1h",
          "  dependsOn:\n    - name: platform-controllers\n  interval: 1h")
    _edit(repo_copy / "clusters/base/apps.yaml", "    - name: platform-controllers\n",
          "    - name: platform-configs\n    - name: secrets\n")
    problems = [p for p in _problems(repo_copy) if p.startswith("ordering|")]
    assert sorted({p.split("|")[2] for p in problems}) == ["CronJob openbao/openbao-backup",
                                                           "HelmRelease monitoring/kube-prometheus-stack",
                                                           "HelmRelease openbao/openbao"]
    [openbao] = [p for p in problems if "|HelmRelease openbao/openbao|" in p]
    assert ("reads Secret openbao/openbao-seal-key at start, but that Secret is applied by Kustomization secrets, "
            "which platform-controllers does not depend on") in openbao


def test_dependency_cycle(repo_copy: Path) -> None:
    _edit(repo_copy / "clusters/base/platform-controllers.yaml", "    - name: secrets\n",
          "    - name: secrets\n    - name: apps\n")
    problems = _problems(repo_copy)
    assert any("dependsOn cycle:" in p and "flux-system/apps" in p and "flux-system/platform-controllers" in p
               for p in problems), problems


def test_too_deep_dependency_chain(repo_copy: Path) -> None:
    _edit(repo_copy / "clusters/base/apps.yaml", "- name: platform-controllers", "- name: platform-configs")
    problems = _problems(repo_copy)
    assert any("dependency chain is 4 deep (limit 3)" in p for p in problems), problems


def test_plaintext_secret(repo_copy: Path) -> None:
    (repo_copy / "apps/base/miniflux/leak.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  password: hunter2\n")
    _add_resource(repo_copy, "leak.yaml")
    assert _problems(repo_copy) == [
        "secrets|apps/base/miniflux/leak.yaml|Secret feeds/leak|plaintext Secret (no SOPS envelope)"]


def test_a_sops_key_alone_is_not_encryption(repo_copy: Path) -> None:
    (repo_copy / "apps/base/miniflux/leak.yaml").write_text(
        "{apiVersion: v1, kind: Secret, metadata: {name: leak}, stringData: {password: hunter2}, sops: {mac: x}}\n")
    _add_resource(repo_copy, "leak.yaml")
    assert _problems(repo_copy) == [
        "secrets|apps/base/miniflux/leak.yaml|Secret feeds/leak|plaintext Secret (SOPS envelope without a MAC)"]


def test_crd_field_typo(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/cert-manager/release.yaml", "  interval: 30m", "  intervall: 30m")
    problems = _problems(repo_copy)
    assert "schema|platform/controllers/base/cert-manager/release.yaml|HelmRelease cert-manager/cert-manager|" \
           "spec: Additional properties are not allowed ('intervall' was unexpected)" in problems


def test_builtin_field_typo_in_strict_mode(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/service.yaml", "targetPort: http", "targetPortt: http")
    [problem] = _problems(repo_copy)
    assert "Service feeds/miniflux" in problem and "'targetPortt' was unexpected" in problem


def test_unknown_kind(repo_copy: Path) -> None:
    (repo_copy / "apps/base/miniflux/widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n")
    _add_resource(repo_copy, "widget.yaml")
    [problem] = _problems(repo_copy)
    assert problem.startswith("schema|apps/base/miniflux/widget.yaml|Widget feeds/w|unknown kind Widget")


def test_unsubstituted_variable(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "https://feeds.${DOMAIN}", "https://feeds.${DOMIAN}")
    assert _problems(repo_copy) == [
        "substitution|apps/base/miniflux/deployment.yaml|Deployment feeds/miniflux|variable ${DOMIAN} is not defined"]


def test_missing_probe_and_resources(repo_copy: Path) -> None:
    path = repo_copy / "apps/base/miniflux/deployment.yaml"
    text = path.read_text()
    start, end = text.index("          livenessProbe:"), text.index("          readinessProbe:")
    path.write_text(text[:start] + text[end:])
    _edit(path, "            limits: {memory: 256Mi}\n", "")
    problems = _problems(repo_copy)
    assert any("container miniflux has no livenessProbe" in p for p in problems), problems
    assert any("container miniflux lacks resources" in p for p in problems), problems


def test_undeclared_namespace(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/kustomization.yaml", "namespace: feeds", "namespace: feedz")
    problems = _problems(repo_copy)
    assert any("namespace 'feedz' is not declared in this environment" in p for p in problems), problems


def test_cli_json_output_and_exit_code(repo_copy: Path) -> None:
    _edit(repo_copy / "apps/base/miniflux/deployment.yaml", "miniflux:2.2.13", "miniflux")
    proc = subprocess.run([sys.executable, "-m", "invoke", "validate", "--env", "testing", "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    [report] = json.loads(proc.stdout)
    assert report["env"] == "testing" and report["errors"] == 1
    assert report["problems"][0]["rule"] == "pinning"
    assert report["problems"][0]["hint"].startswith("use an exact version tag")


@pytest.mark.parametrize("name", ["testing", "staging", "production"])
def test_flux_install_is_the_vendored_one(name: str) -> None:
    rendering = render(env.load(name))
    controller = next(i.obj for i in rendering.objects
                      if i.obj["kind"] == "Deployment" and i.obj["metadata"]["name"] == "kustomize-controller")
    container = controller["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == ("ghcr.io/fluxcd/kustomize-controller:v1.9.4@sha256:"
                                  "2b8bec54ffb6caf421bd2a6c005d27f567d5dd4db7feb55794fb51fcabd69b8f")
    assert "--sops-age-secret=sops-age" in container["args"]


def test_chart_turning_on_monitors_must_wait_for_the_monitoring_crds(repo_copy: Path) -> None:
    _edit(repo_copy / "platform/controllers/base/cloudnative-pg/release.yaml",
          "  dependsOn:\n    - name: kube-prometheus-stack\n      namespace: monitoring\n", "")
    assert _problems(repo_copy) == [
        "ordering|platform/controllers/base/cloudnative-pg/release.yaml|HelmRelease cnpg-system/cloudnative-pg|"
        "turns on a ServiceMonitor/PodMonitor but does not depend on HelmRelease monitoring/kube-prometheus-stack, "
        "which installs their CRDs: its install fails while they are missing"]


def test_an_object_identical_in_every_environment_is_schema_checked_once(repo_copy: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The base is mostly the same in all three environments: its objects are validated once (a result is kept
    for each distinct object and schema), and a schema error planted in the base is still reported in every
    environment."""
    from cattle import schemas

    results: dict[str, list[tuple[str, str]]] = {}
    monkeypatch.setattr(schemas, "_RESULTS", results)
    monkeypatch.setitem(schemas._RESULTS_STATE, "loaded", True)  # this process's checks only, none from disk
    monkeypatch.setenv("CATTLE_CACHE_DIR", str(repo_copy.parent / "cache"))
    release = repo_copy / "platform/controllers/base/external-secrets/release.yaml"
    release.write_text(release.read_text().replace("  interval: 30m\n", "  interval: 30m\n  suspend: sometimes\n"))
    reports = validate.validate(None, repo_copy)
    objects = sum(r.objects for r in reports)
    assert 0 < len(results) < 0.6 * objects  # one check per distinct object, not one per environment
    for report in reports:
        assert any(p.rule == "schema" and "suspend" in p.message and "external-secrets" in p.object
                   for p in report.problems), report.env


def test_a_warm_run_reuses_the_schema_results_on_disk(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second process (here: a cleared in-memory cache) checks again only what changed."""
    from cattle import schemas

    monkeypatch.setenv("CATTLE_CACHE_DIR", str(repo_copy.parent / "cache"))
    monkeypatch.setattr(schemas, "_RESULTS", {})
    monkeypatch.setitem(schemas._RESULTS_STATE, "loaded", True)
    first = validate.validate(["testing"], repo_copy)
    assert (repo_copy.parent / "cache" / schemas.RESULTS_FILE).is_file()
    import jsonschema

    checked: list[str] = []
    for cls in (jsonschema.Draft7Validator, jsonschema.Draft202012Validator):
        def counted(self: Any, instance: Any, _real: Any = cls.iter_errors) -> Any:
            if isinstance(instance, dict) and {"apiVersion", "kind", "metadata"} <= set(instance):
                checked.append(str(instance["kind"]))  # a whole object, not a part the schema descends into
            return _real(self, instance)

        monkeypatch.setattr(cls, "iter_errors", counted)

    class CountedFast:  # the compiled engine, which answers first for a valid object
        def __init__(self, fast: Any) -> None:
            self.fast = fast

        def is_valid(self, instance: Any) -> bool:
            checked.append(str(instance["kind"]))
            return self.fast is not None and bool(self.fast.is_valid(instance))

    real_fast = schemas._fast_validator
    monkeypatch.setattr(schemas, "_fast_validator", lambda *args, **kw: CountedFast(real_fast(*args, **kw)))
    monkeypatch.setattr(schemas, "_RESULTS", {})  # a new process: nothing in memory
    monkeypatch.setitem(schemas._RESULTS_STATE, "loaded", False)
    again = validate.validate(["testing"], repo_copy)
    assert checked == [] and [p.message for p in again[0].problems] == [p.message for p in first[0].problems]
    release = repo_copy / "platform/controllers/base/external-secrets/release.yaml"
    release.write_text(release.read_text().replace("interval: 30m", "interval: 31m"))
    validate.validate(["testing"], repo_copy)
    assert checked == ["HelmRelease"]  # only the changed object is checked again


def test_a_cold_run_parses_the_vendored_crds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema conversion and the deprecation index both need the vendored CRDs; with nothing cached, and the
    three environments checked at once, their YAML is still parsed once (the index was built by every thread)."""
    from cattle import schemas

    monkeypatch.setenv("CATTLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(schemas.CrdFiles, "_parsed", {})
    monkeypatch.setattr(deprecations, "_deprecated_fields",
                        functools.lru_cache(maxsize=4)(deprecations._deprecated_fields.__wrapped__))
    vendored = set(schemas.CrdFiles(validate.vendored_crd_files(REPO)).contents)
    parsed: list[int] = []
    real = schemas.yamlio.load_all

    def counted(stream: Any, source: str = "<text>") -> Any:
        if isinstance(stream, bytes) and stream in vendored:
            parsed.append(len(stream))
        return real(stream, source)

    monkeypatch.setattr(schemas.yamlio, "load_all", counted)
    reports = validate.validate(None, REPO)
    assert len(reports) == 3 and all(not r.problems for r in reports)
    assert len(parsed) == len(vendored)  # each file once, for both uses


def test_an_unchanged_environment_is_answered_from_the_last_runs_report(
        repo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm run renders and checks nothing whose inputs are unchanged; a change to any input (a file a build
    reaches, a vendored CRD, cattle's code) checks that environment again; an unreadable stored report is ignored."""
    from cattle.manifests import reports

    monkeypatch.setenv("CATTLE_CACHE_DIR", str(tmp_path / "cache"))
    release = repo_copy / "platform/controllers/base/external-secrets/release.yaml"
    release.write_text(release.read_text().replace("  interval: 30m\n", "  interval: 30m\n  suspend: sometimes\n"))
    checked: list[str] = []
    real = validate.validate_env

    def counted(environment: env.Environment, *args: Any) -> validate.EnvReport:
        checked.append(environment.name)
        return real(environment, *args)

    monkeypatch.setattr(validate, "validate_env", counted)
    [first] = validate.validate(["testing"], repo_copy)
    assert checked == ["testing"] and not first.reused
    assert any(p.rule == "schema" and "suspend" in p.message for p in first.problems) and first.warnings

    [again] = validate.validate(["testing"], repo_copy)
    assert checked == ["testing"] and again.reused  # nothing rendered, nothing checked
    assert ([p.as_dict() for p in again.problems], again.warnings, again.objects, again.kinds) == \
        ([p.as_dict() for p in first.problems], first.warnings, first.objects, first.kinds)
    text = validate.format_text([again])
    assert "unchanged" in text and "suspend" in text and not again.ok
    assert json.loads(validate.format_json([again]))[0]["unchanged"] is True

    validate.validate(["staging"], repo_copy)
    assert checked == ["testing", "staging"]  # another environment has a report of its own

    release.write_text(release.read_text().replace("suspend: sometimes", "suspend: false"))
    [fixed] = validate.validate(["testing"], repo_copy)
    assert checked[-1] == "testing" and len(checked) == 3 and fixed.ok and not fixed.reused

    crd = sorted((repo_copy / "vendor/crds/cert-manager").glob("*.yaml"))[0]
    crd.write_text(crd.read_text() + "\n# a newer vendored copy\n")
    validate.validate(["testing"], repo_copy)
    assert len(checked) == 4

    monkeypatch.setattr(reports, "code_digest", lambda: "another cattle")
    validate.validate(["testing"], repo_copy)
    assert len(checked) == 5

    for stored in (tmp_path / "cache" / "reports").iterdir():
        stored.write_text("{not json")
    [reread] = validate.validate(["testing"], repo_copy)
    assert len(checked) == 6 and reread.ok and not reread.reused


def test_the_compiled_schema_engine_agrees_with_the_reference_engine_on_every_object() -> None:
    """jsonschema-rs only says fast that an object is valid; the reference engine (jsonschema) says what is wrong. So
    the compiled one may never accept what the reference one rejects: compared on every rendered object of the three
    environments and on a broken copy of each (an unknown field, a name that is not a string, a list for a map)."""
    import copy

    from cattle import schemas

    crds = schemas.load_crd_files(validate.vendored_crd_files(REPO))
    compared = broken = 0
    uncompiled: set[str] = set()
    for name in ("testing", "staging", "production"):
        environment = env.load(name)
        rendering = render(environment, validation_variables(environment.protected))
        store = schemas.SchemaStore(dict(crds))
        store.add_crds(item.obj for item in rendering.objects)
        for item in rendering.objects:
            obj = {k: v for k, v in item.obj.items() if k != "sops"}
            api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
            reference = store.validator(api_version, kind)
            if reference is None:
                continue
            key = store._schema_key(api_version, kind)
            fast = schemas._fast_validator(key, reference.schema, builtin=key.startswith("builtin:"))
            if fast is None:  # the reference engine checks every object of this kind
                uncompiled.add(f"{api_version}/{kind}")
                continue
            variants = [obj]
            for breakage in ("unknown field", "name type", "labels type"):
                bad = copy.deepcopy(obj)
                if breakage == "unknown field":
                    bad["spek"] = {}
                elif breakage == "name type":
                    bad["metadata"]["name"] = 5
                else:
                    bad["metadata"]["labels"] = ["a", "b"]
                variants.append(bad)
            for variant in variants:
                accepted = not any(True for _ in reference.iter_errors(variant))
                assert fast.is_valid(variant) == accepted, (name, item.kustomization, kind, variant.get("metadata"))
                compared += 1
                broken += not accepted
    assert compared > 1000 and broken >= 0.7 * compared * 3 / 4  # most broken copies are rejected by both
    # prometheus-operator's rule groups use `^(?i)(abort|warn)?$`, an inline flag ECMA-262 regexes do not have
    assert uncompiled == {"monitoring.coreos.com/v1/PrometheusRule"}
