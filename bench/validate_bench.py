"""Benchmark: validate all environments, cold (an empty build cache: every kustomize build runs, as a naive
validate would, and the CRD schemas are converted again) against warm (unchanged tree: builds come from the
content-addressed cache). Prints wall times, objects per second and the ratio; each figure is the best of three
runs in this process."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cattle.manifests import validate

TARGET_WARM_SECONDS = 1.0


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
    cold, warm = min(cold_runs), min(warm_runs)
    print(f"validate, 3 environments, {objects} objects")
    print(f"cold (every kustomize build runs): best {cold:.2f}s  ({objects / cold:.0f} objects/s)")
    print(f"warm (unchanged tree, builds cached): best {warm:.2f}s  ({objects / warm:.0f} objects/s)")
    print(f"warm/cold: {warm / cold:.2f}  (cold is {cold / warm:.1f}x the warm run); "
          f"warm against the {TARGET_WARM_SECONDS:.0f}s target: {warm / TARGET_WARM_SECONDS:.2f}")


if __name__ == "__main__":
    main()
