"""validate's own decisions at their edges, without rendering: a protected env's database default, a node size
against its cloud's list, placeholders of one env only, two envs sharing a store named once each, and the
report's text and JSON (issue 32, mutation survivors of cattle/manifests/validate.py)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cattle import env
from cattle.manifests import clusterfit, deprecations, policy, validate, versiontable
from cattle.manifests.render import RenderedObject, Rendering
from cattle.problems import Problem
from tests.conftest import REPO


@pytest.fixture(scope="module")
def production() -> env.Environment:
    return env.load("production")


def _built(monkeypatch: pytest.MonkeyPatch, *defaults: str) -> None:
    objects: list[dict[str, Any]] = [{"kind": "ConfigMap", "data": {"x": f"${{DB_BOOTSTRAP:={d}}}"}} for d in defaults]
    monkeypatch.setattr(validate, "build", lambda root, path: objects)


def test_a_protected_env_passes_only_when_every_database_default_is_undecided(
        production: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    _built(monkeypatch, "undecided", "undecided")
    assert validate.protected_database_problems(production) == []
    _built(monkeypatch, "undecided", "initdb", "recovery", "initdb")
    [problem] = validate.protected_database_problems(production)
    assert "(the default is 'initdb', 'recovery')" in problem.message
    assert (problem.file, problem.object, problem.rule) == ("clusters/production/kustomization.yaml",
                                                            "Kustomization apps", "protected-database")
    _built(monkeypatch)
    [never] = validate.protected_database_problems(production)
    assert "(DB_BOOTSTRAP is never chosen)" in never.message
    unprotected = dataclasses.replace(production, protected=False)
    _built(monkeypatch, "initdb")
    assert validate.protected_database_problems(unprotected) == []


def test_a_node_size_is_judged_against_the_first_cloud_the_env_pins(production: env.Environment,
                                                                     tmp_path: Path) -> None:
    assert production.cloud is not None
    root = tmp_path / "repo"
    (root / "infra" / "production").mkdir(parents=True)
    (root / "infra" / "server-types.yaml").write_text(
        "example/cloud: {checked: 2026-12-01, types: [small, large]}\nother/cloud: {types: [tiny]}\n")
    main = root / "infra" / "production" / "main.tf"
    main.write_text('source = "unknown/cloud"\nsource  =  "example/cloud"\nsource = "other/cloud"\n')
    here = dataclasses.replace(production, root=root, cloud=dataclasses.replace(production.cloud, node_size="small"))
    assert validate.server_type_problems(here) == []
    wrong = dataclasses.replace(here, cloud=dataclasses.replace(production.cloud, node_size="tiny"))
    [problem] = validate.server_type_problems(wrong)
    assert problem.message == "server type 'tiny' is not offered by example/cloud (as checked 2026-12-01: small, large)"
    assert (problem.file, problem.object, problem.rule) == ("clusters/production/environment.yaml",
                                                            "cluster.nodeSize", "server-type")
    main.write_text('source = "unknown/cloud"\n')
    assert validate.server_type_problems(wrong) == []  # a cloud without a list is not judged
    main.unlink()
    assert validate.server_type_problems(wrong) == []
    main.write_text('source = "example/cloud"\n')  # where 'tiny' is not offered: only the provider and cloud decide
    assert len(validate.server_type_problems(wrong)) == 1
    assert validate.server_type_problems(dataclasses.replace(wrong, provider="kind")) == []
    assert validate.server_type_problems(dataclasses.replace(wrong, cloud=None)) == []
    (root / "infra" / "server-types.yaml").unlink()
    assert validate.server_type_problems(wrong) == []


def test_placeholders_are_warned_about_in_their_own_environment_only(production: env.Environment) -> None:
    found = [("clusters/production/cluster-vars.yaml", 3, "example.com"), ("clusters/productionx/a.yaml", 1, "x"),
             ("clusters/staging/cluster-vars.yaml", 2, "example.org")]
    assert validate.placeholder_warnings(production, found) == [
        "clusters/production/cluster-vars.yaml:3: placeholder 'example.com' (make the repository yours: "
        "./scripts/cattle adopt)"]


def test_two_environments_sharing_a_store_are_each_told_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = env.SharedStore("vault", "production", "s3://b/p", "staging", "s3://b/p/s")
    monkeypatch.setattr(env, "shared_stores", lambda root, names: [pair, pair])
    found = validate.shared_store_problems(REPO)
    assert sorted(found) == ["production", "staging"]
    [mine] = found["production"]
    [theirs] = found["staging"]
    assert mine.message.startswith("production's backup store s3://b/p overlaps staging's s3://b/p/s (vault)")
    assert theirs.message.startswith("staging's backup store s3://b/p/s overlaps production's s3://b/p (vault)")
    assert (mine.object, mine.rule) == ("backup store s3://b/p", "shared-store")


def _report(name: str, problems: list[Problem], reused: bool = False) -> validate.EnvReport:
    return validate.EnvReport(name, objects=12, kinds=Counter({"Deployment": 2, "ConfigMap": 3}), problems=problems,
                              seconds=1.23456, warnings=["a placeholder"] if problems else [], reused=reused)


def test_the_report_lists_every_problem_and_warning_and_says_what_was_reused() -> None:
    problem = Problem("staging", "apps/a.yaml", "Deployment default/a", "bad", "fix it", "schema")
    reports = [_report("testing", [], reused=True), _report("staging", [problem])]
    assert [r.ok for r in reports] == [True, False]
    text = validate.format_text(reports)
    assert "unchanged" in text.splitlines()[2] and "1.23s" in text.splitlines()[3]
    assert text.splitlines()[2].split()[-1] == "ok" and text.splitlines()[3].split()[-1] == "FAILED"
    assert "\n[staging] apps/a.yaml: Deployment default/a\n  error (schema): bad\n  fix: fix it" in text
    assert text.endswith("\n\n[staging] warning: a placeholder")
    assert not validate.format_text([_report("testing", [])]).endswith("\n")
    data = json.loads(validate.format_json(reports))
    assert data[0] == {"env": "testing", "objects": 12, "kinds": {"ConfigMap": 3, "Deployment": 2}, "errors": 0,
                       "seconds": 1.235, "unchanged": True, "problems": [], "warnings": []}
    assert data[1]["errors"] == 1 and data[1]["problems"] == [problem.as_dict()]


def test_the_vendored_crds_are_every_yaml_file_plain_or_gzipped(tmp_path: Path) -> None:
    crds = tmp_path / "vendor" / "crds"
    (crds / "a").mkdir(parents=True)
    for name in ("a/x.yaml", "b.yaml.gz", "c.yml", "README.md"):
        (crds / name).write_text("")
    assert validate.vendored_crd_files(tmp_path) == [crds / "a" / "x.yaml", crds / "b.yaml.gz"]


def test_one_environments_report_counts_its_objects_and_kinds_and_times_itself(
        production: env.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = [RenderedObject({"kind": kind, "metadata": {"name": str(n)}}, "apps", "a.yaml")
               for n, kind in enumerate(["ConfigMap", "ConfigMap", "Deployment"])]
    rendering = Rendering("production", objects, [Problem("production", "x", "y", "rendering", "fix", "render")])
    monkeypatch.setattr(validate, "render", lambda environment, variables: rendering)
    found = Problem("production", "a.yaml", "ConfigMap/0", "policy", "fix", "schema")
    monkeypatch.setattr(policy, "check", lambda rendering, store, unpinned: [found])
    for module in (clusterfit, versiontable):
        monkeypatch.setattr(module, "check", lambda environment, rendering: [])
    monkeypatch.setattr(deprecations, "check", lambda *args: [])
    monkeypatch.setattr(validate, "protected_database_problems", lambda environment: [])
    ticks = iter([100.0, 102.5])
    monkeypatch.setattr("cattle.manifests.validate.time", SimpleNamespace(monotonic=lambda: next(ticks)))
    report = validate.validate_env(production, {}, None, [])
    assert (report.env, report.objects, dict(report.kinds)) == ("production", 3, {"ConfigMap": 2, "Deployment": 1})
    assert [p.message for p in report.problems] == ["rendering", "policy"]
    assert report.seconds == 2.5 and report.warnings == [] and not report.ok
