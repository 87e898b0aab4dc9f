"""Benchmark: cattle's own share of a rebuild. A full `bootstrap --env testing` against the kmock API server on
127.0.0.1 (the fake Flux reconciles at once) and a real OpenBao, so nearly all the time is the toolchain's:
rendering, server-side apply, secret zero, the Vault phase (initialise, configure, first snapshot), the report.

Prints the RTO, the overhead the report attributes to cattle, and each phase; the 15-minute budget of a real rebuild
leaves the rest to the cluster. Then the CPU the rebuild cost: cattle's own thread, the whole process (cattle, the
fake API server and its fake Flux) and its children (sops, age, the OpenBao server).

    .venv/bin/python bench/bootstrap_bench.py                  # one run, with its phases and CPU
    .venv/bin/python bench/bootstrap_bench.py --against REV --runs 3
        # this checkout and REV (a git worktree, running REV's own bench and mock), each as a whole process,
        # N runs each: median CPU (user + system, children included) and the ratio
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cattle import env as environments  # noqa: E402
from cattle.bootstrap import fluxinstall  # noqa: E402
from cattle.bootstrap import rebuild as bootstrap  # noqa: E402
from cattle.manifests import render  # noqa: E402
from cattle.secrets import files as secrets  # noqa: E402
from cattle.vault import openbao as vault  # noqa: E402
from cattle.vault.server import BaoServer  # noqa: E402
from tests.kubemock import FakeCluster, Scenario, children_of  # noqa: E402

BUDGET_SECONDS = 15 * 60


def one_run() -> None:
    process_before, children_before = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    thread_cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        repo = base / "repo"
        for name in ("clusters", "platform", "apps", "secrets", "vendor"):
            shutil.copytree(ROOT / name, repo / name)
        shutil.copy(ROOT / ".sops.yaml", repo / ".sops.yaml")
        os.environ.update(CATTLE_REPO=str(repo), CATTLE_CONFIG_HOME=str(base / "config"),
                          CATTLE_VAULT_STORE=f"file://{base / 'vault'}", CATTLE_DB_STORE=f"file://{base / 'db'}")
        secrets.init(repo, "testing", force=True)
        secrets.generate(repo, "testing", regenerate_all=True)
        testing = environments.load("testing", repo)
        children = children_of(render.render(testing))
        crds = [o for o in fluxinstall.manifests(repo) if o["kind"] == "CustomResourceDefinition"]
        fake = FakeCluster(base, crds, Scenario(delay=0.0, children=children, repo=repo))
        seal = vault.seal_material(repo, "testing")
        try:
            with BaoServer(seal.key_hex, seal.key_id, directory=base / "openbao") as server:
                os.environ.update(KUBECONFIG=str(fake.kubeconfig), CATTLE_VAULT_ADDR=server.addr)
                started = time.thread_time()
                timeline = bootstrap.run("testing", bootstrap.Options(
                    provider="kubeconfig", git_url="https://git.example.com/cattle.git", timeout=120.0))
                thread_cpu = time.thread_time() - started
        finally:
            fake.close()
    assert timeline is not None
    overhead = timeline.total - timeline.waiting_seconds
    print(f"\nbootstrap against a mock API and a real OpenBao: {timeline.total:.1f}s "
          f"({timeline.total / BUDGET_SECONDS:.3f} of the 15-minute budget)")
    print(f"toolchain overhead as reported: {overhead:.1f}s")
    for event in timeline.events:
        if not event.phase.startswith("reconcile "):
            print(f"  {event.phase:20} {event.seconds:6.1f}s")
    process, children = _cpu(resource.RUSAGE_SELF) - process_before, _cpu(resource.RUSAGE_CHILDREN) - children_before
    print(f"CPU of the rebuild: cattle's thread {thread_cpu:.2f}s; the whole process (cattle, fake API, fake Flux) "
          f"{process:.2f}s; its children (sops, age, OpenBao) {children:.2f}s")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def whole_process_cpu(checkout: Path) -> float:
    """User + system CPU of one `python bench/bootstrap_bench.py` in `checkout`, children included."""
    before = _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "bench/bootstrap_bench.py"], cwd=checkout, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _cpu(resource.RUSAGE_CHILDREN) - before


def against(revision: str, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cattle-bench-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), revision], cwd=ROOT, check=True)
        try:
            measured: dict[str, list[float]] = {"this checkout": [], revision: []}
            for run in range(runs):  # interleaved, so a change in the machine's load touches both alike
                for name, checkout in (("this checkout", ROOT), (revision, old)):
                    measured[name].append(whole_process_cpu(checkout))
                    print(f"run {run + 1}/{runs} {name}: {measured[name][-1]:.1f}s CPU", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=True)
    now, then = statistics.median(measured["this checkout"]), statistics.median(measured[revision])
    print(f"\nbootstrap --env testing against the mock API, whole process CPU (median of {runs}): "
          f"{then:.1f}s at {revision}, {now:.1f}s now: {now / then:.2f} of before")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="compare with this git revision (a worktree)")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    if arguments.against:
        against(arguments.against, arguments.runs)
    else:
        one_run()


if __name__ == "__main__":
    main()
