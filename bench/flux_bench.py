"""Benchmark: a whole `bootstrap --env testing` on the control plane tier (a real kube-apiserver and the real Flux
controllers, tests/controlplane), phase by phase, once with cattle's nudges (reconcile.fluxcd.io/requestedAt the
moment an object's dependencies are Ready) and once without, in one run.

The Flux phase is measured against the controllers' own work: for each Kustomization on the critical path, the time
kustomize-controller spent on its last reconcile (status.history lastReconciledDuration), summed. The goal: the Flux
phase (reconcile) within 2x that work. Runs as root in a network namespace of its own (loopback only).

    .venv/bin/python bench/flux_bench.py          # needs the tier built: ./scripts/setup --test
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cattle.bootstrap import rebuild as bootstrap  # noqa: E402
from cattle.bootstrap.reconcile import Waiter  # noqa: E402
from cattle.bootstrap.timeline import Timeline  # noqa: E402
from cattle.secrets import files as secrets  # noqa: E402
from tests.conftest import DECLARATIVE, EXTERNAL_SECRETS  # noqa: E402
from tests.controlplane import build, netns  # noqa: E402
from tests.controlplane.tier import Tier  # noqa: E402

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def go_duration(text: str) -> float:
    """Seconds of a Go duration string (`1m2.5s`, `850ms`)."""
    return sum(float(number) * _UNIT[unit] for number, unit in _DURATION.findall(text))


def one_rebuild(base: Path, binaries: dict[str, Path], nudge: bool) -> tuple[Timeline, float]:
    repo = base / "repo"
    for name in DECLARATIVE:
        shutil.copytree(ROOT / name, repo / name)
    shutil.copy(ROOT / ".sops.yaml", repo / ".sops.yaml")
    patch = pytest.MonkeyPatch()
    try:
        for name, value in {**EXTERNAL_SECRETS, "CATTLE_REPO": str(repo), "CATTLE_CONFIG_HOME": str(base / "config"),
                            "CATTLE_DB_STORE": f"file://{base / 'db'}", "CATTLE_CACHE_DIR": str(base / "cache")
                            }.items():
            patch.setenv(name, value)
        secrets.init(repo, "testing", force=True)
        secrets.generate(repo, "testing", regenerate_all=True)
        with Tier(repo, base / "tier", binaries, patch) as tier:
            def choose(waiter: Waiter) -> None:
                waiter.nudge = nudge

            timeline = bootstrap.run("testing", bootstrap.Options(provider="kubeconfig", context="cattle-tier",
                                                                  serve=True, timeout=900.0), on_waiter=choose)
            assert timeline is not None
            items = json.loads(tier.plane.kubectl("get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A",
                                                  "-o", "json").stdout)["items"]
            work = {i["metadata"]["name"]: go_duration(((i.get("status") or {}).get("history") or [{}])[0]
                                                       .get("lastReconciledDuration", "0s")) for i in items}
        return timeline, sum(work.get(name, 0.0) for name in timeline.critical_path)
    finally:
        patch.undo()


def main() -> int:
    if os.geteuid() != 0:
        print("flux_bench needs root: it makes its own network namespace", file=sys.stderr)
        return 2
    netns.enter_private_namespace()
    netns.keep_servers_ports_apart()
    binaries = build.binaries()
    results = {}
    for nudge in (True, False):
        with tempfile.TemporaryDirectory(prefix="cattle-flux-bench-") as tmp:
            results[nudge] = one_rebuild(Path(tmp), binaries, nudge)
    print(f"\n{'phase':24} {'with nudges':>12} {'without':>10}")
    phases = [e.phase for e in results[True][0].events if not e.phase.startswith("reconcile ")]
    for phase in phases:
        seconds = [next((e.seconds for e in results[n][0].events if e.phase == phase), 0.0) for n in (True, False)]
        print(f"{phase:24} {seconds[0]:11.1f}s {seconds[1]:9.1f}s")
    for nudge in (True, False):
        timeline, work = results[nudge]
        flux = next(e.seconds for e in timeline.events if e.phase == "reconcile")
        label = "with nudges" if nudge else "without nudges"
        print(f"{label}: Flux phase {flux:.1f}s, controllers' own work on the critical path "
              f"({' → '.join(timeline.critical_path)}) {work:.1f}s, ratio {flux / max(work, 0.1):.2f} (goal <= 2)")
    with_nudges = next(e.seconds for e in results[True][0].events if e.phase == "reconcile")
    without = next(e.seconds for e in results[False][0].events if e.phase == "reconcile")
    print(f"nudges: the Flux phase takes {with_nudges / without:.2f} of the time it takes without them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
