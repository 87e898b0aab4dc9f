"""Benchmark: how validate's cost grows with the number of objects. N extra ConfigMaps (each different, as real
configuration is) go into apps/base/miniflux, so every environment renders them; `python tasks.py validate` runs
cold (an empty cache: every kustomize build and schema check) as a whole process, for several N. Two costs are
measured: the wall time of the whole process, and cattle's own CPU (user + system of the Python process, without
its `kubectl kustomize` children, whose cost grows faster than linearly with the objects of one build: kustomize's,
not cattle's). A least-squares line through the points gives the fixed cost and the cost per rendered object; the
residuals say whether it stays linear.

    .venv/bin/python bench/validate_scaling_bench.py                 # this checkout
    .venv/bin/python bench/validate_scaling_bench.py --against REV   # and REV (a git worktree), same inputs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECLARATIVE = ("clusters", "platform", "apps", "secrets", "vendor", "infra")
EXTRA = (0, 300, 600, 1200)  # ConfigMaps added to the base, per environment


def planted_repo(base: Path, extra: int) -> Path:
    repo = base / f"repo-{extra}"
    for name in DECLARATIVE:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, repo / name)
    shutil.copy(ROOT / ".sops.yaml", repo / ".sops.yaml")
    app = repo / "apps" / "base" / "miniflux"
    documents = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scale-{i:05d}\ndata:\n  index: \"{i}\"\n"
                 f"  feed: https://example.org/feed/{i}.xml\n" for i in range(extra)]
    (app / "scale.yaml").write_text("---\n".join(documents) if documents else "")
    if documents:
        kustomization = app / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("resources:\n", "resources:\n  - scale.yaml\n", 1))
    return repo


RUN_VALIDATE = """
import resource, runpy, sys
code = 0
sys.argv = ["tasks.py", "validate", "--format", "json"]
try:
    runpy.run_path("tasks.py", run_name="__main__")
except SystemExit as exit:
    code = exit.code
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"own-cpu {usage.ru_utime + usage.ru_stime}", file=sys.stderr)
sys.exit(code)
"""


def cold_validate(checkout: Path, repo: Path, cache: Path) -> tuple[float, float, int]:
    """One whole `tasks.py validate` process on `repo` with an empty cache: its wall seconds, its own CPU seconds
    (kubectl excluded) and the objects it rendered."""
    shutil.rmtree(cache, ignore_errors=True)
    environment = {**os.environ, "CATTLE_REPO": str(repo), "CATTLE_CACHE_DIR": str(cache),
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RUN_VALIDATE], cwd=checkout, env=environment,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"validate failed in {checkout} on {repo.name}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    own = float(done.stderr.rsplit("own-cpu ", 1)[1].split()[0])
    return seconds, own, sum(int(report["objects"]) for report in json.loads(done.stdout))


def fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least squares seconds = fixed + per_object * objects; returns (fixed, per_object, worst relative residual)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    fixed = mean_y - slope * mean_x
    worst = max(abs(y - (fixed + slope * x)) / y for x, y in points)
    return fixed, slope, worst


def measure(name: str, checkout: Path, base: Path) -> tuple[float, float]:
    """Prints both fits; returns cattle's own CPU per object and its fixed CPU."""
    walls, owns = [], []
    for extra in EXTRA:
        repo = base / f"repo-{extra}"
        if not repo.exists():
            planted_repo(base, extra)
        runs = [cold_validate(checkout, repo, base / "cache") for _ in range(2)]
        wall, own = min(r[0] for r in runs), min(r[1] for r in runs)  # best of two
        objects = runs[0][2]
        walls.append((objects, wall))
        owns.append((objects, own))
        print(f"{name}: +{extra} ConfigMaps per environment, {objects} objects: {wall:.2f}s wall, "
              f"{own:.2f}s cattle's own CPU", flush=True)
    for what, points in (("wall, kustomize included", walls), ("cattle's own CPU", owns)):
        fixed, slope, worst = fit(points)
        print(f"{name}, {what}: {fixed:.2f}s fixed + {slope * 1000:.2f} ms per object "
              f"(worst residual {worst:.0%} of a point: {'linear' if worst < 0.1 else 'NOT linear'})", flush=True)
    fixed, slope, _ = fit(owns)
    return fixed, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="also measure this git revision (a worktree)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cattle-scaling-") as tmp:
        base = Path(tmp)
        fixed, slope = measure("this checkout", ROOT, base)
        if arguments.against:
            old = base / "old"
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), arguments.against], cwd=ROOT,
                           check=True)
            try:
                old_fixed, old_slope = measure(arguments.against, old, base)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=True)
            print(f"\ncattle's own CPU per object: {slope * 1000:.2f} ms now, {old_slope * 1000:.2f} ms at "
                  f"{arguments.against}: {slope / old_slope:.2f} of before; fixed: {fixed:.2f}s now, "
                  f"{old_fixed:.2f}s: {fixed / old_fixed:.2f} of before")


if __name__ == "__main__":
    main()
