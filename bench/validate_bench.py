"""Benchmark: validate all environments, cold (an empty build cache: every kustomize build runs, as a naive
validate would, and the CRD schemas are converted again) against warm (unchanged tree: builds come from the
content-addressed cache). Prints wall times, objects per second and the ratio; each figure is the best of three
runs in this process. Then the whole process (`python tasks.py validate`, what `./scripts/cattle validate` runs after
its setup check) warm, as the target counts it: with the kept reports (an unchanged environment is not checked
again) against without them (every environment rendered from cached builds and checked from cached schema results),
median of five runs each, interleaved."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cattle.manifests import validate

TARGET_WARM_SECONDS = 1.0
ROOT = Path(__file__).resolve().parent.parent


def whole_process(cache: Path, keep_reports: bool) -> float:
    """Wall seconds of one `python tasks.py validate` process on a warm cache."""
    if not keep_reports:
        shutil.rmtree(cache / "reports", ignore_errors=True)
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "tasks.py"), "validate"], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "CATTLE_CACHE_DIR": str(cache)})
    return time.monotonic() - started


def timed(cache: str) -> tuple[float, int]:
    os.environ["CATTLE_CACHE_DIR"] = cache
    started = time.monotonic()
    reports = validate.validate()
    return time.monotonic() - started, sum(r.objects for r in reports)


def main() -> None:
    cold_runs, warm_runs = [], []
    with tempfile.TemporaryDirectory(prefix="cattle-bench-") as tmp:
        for run in range(3):
            cold, objects = timed(str(Path(tmp) / f"cold-{run}"))  # a new, empty cache every time
            cold_runs.append(cold)
        warm_cache = str(Path(tmp) / "warm")
        timed(warm_cache)  # fill it
        for _ in range(3):
            warm_runs.append(timed(warm_cache)[0])
        whole_process(Path(warm_cache), keep_reports=True)  # the reports of this tree
        kept, rechecked = [], []
        for _ in range(5):
            kept.append(whole_process(Path(warm_cache), keep_reports=True))
            rechecked.append(whole_process(Path(warm_cache), keep_reports=False))
    cold, warm = min(cold_runs), min(warm_runs)
    print(f"validate, 3 environments, {objects} objects")
    print(f"cold (every kustomize build runs): best {cold:.2f}s  ({objects / cold:.0f} objects/s)")
    print(f"warm (unchanged tree: kept reports, cached builds): best {warm:.2f}s  ({objects / warm:.0f} objects/s)")
    print(f"warm/cold: {warm / cold:.2f}  (cold is {cold / warm:.1f}x the warm run); "
          f"warm against the {TARGET_WARM_SECONDS:.0f}s target: {warm / TARGET_WARM_SECONDS:.2f}")
    with_reports, without = statistics.median(kept), statistics.median(rechecked)
    print(f"whole process, warm, unchanged tree: median {with_reports:.2f}s with the kept reports, {without:.2f}s "
          f"checking every environment again from cached builds and schema results "
          f"(ratio {with_reports / without:.2f}); against the {TARGET_WARM_SECONDS:.0f}s target: "
          f"{with_reports / TARGET_WARM_SECONDS:.2f}")


if __name__ == "__main__":
    main()
