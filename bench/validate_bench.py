"""Benchmark: validate all environments; prints wall time, object count and the 10 s target ratio."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cattle.manifests import validate

TARGET_SECONDS = 10.0


def main() -> None:
    runs = []
    for _ in range(3):
        started = time.monotonic()
        reports = validate.validate()
        runs.append(time.monotonic() - started)
    objects = sum(r.objects for r in reports)
    best = min(runs)
    print(f"validate: {len(reports)} environments, {objects} objects, "
          f"{sum(len(r.problems) for r in reports)} problems")
    print(f"wall time: best {best:.2f}s, runs {', '.join(f'{t:.2f}s' for t in runs)} (first may fill the CRD cache)")
    print(f"target {TARGET_SECONDS:.0f}s: {best / TARGET_SECONDS:.2f} of budget; "
          f"{objects / best:.0f} objects/s")


if __name__ == "__main__":
    main()
