#!/usr/bin/env python3
"""Mutation score of the orchestration modules (cosmic-ray), not run in CI: it is slow.

    .venv/bin/python scripts/mutation.py                      # every module in MODULES
    .venv/bin/python scripts/mutation.py cattle/bootstrap/reconcile.py  # one module
    .venv/bin/python scripts/mutation.py --fast-only cattle/bootstrap/reconcile.py  # unit tests only: a lower bound
    .venv/bin/python scripts/mutation.py --fast-only --sample 120 cattle/bootstrap/rebuild.py  # 120 at random
    .venv/bin/python scripts/mutation.py --fast-only --again cattle/dr/drill.py  # its survivors, with today's tests
    .venv/bin/python scripts/mutation.py --again --sample 30 cattle/bootstrap/rebuild.py  # and 30 not sampled before
    .venv/bin/python scripts/mutation.py --tier --sample 10 cattle/bootstrap/reconcile.py  # against the real tier

Each module is mutated in a private copy of the repository (the working tree is never touched), and every
mutant runs the module's fast tests first and, only when they pass, its slower end-to-end tests against the mock
API. Results go to .cattle/mutation/<module>.json and a summary to stdout: killed, survived, timed out, and each
survivor with its line and operator, so it can be explained in tests/README.md or killed by a new test.
"""

from __future__ import annotations

import ast
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COSMIC_RAY = "cosmic-ray==8.7.0"
PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider --timeout=300"
# unit tests take seconds: a mutant that makes a wait loop forever (a deleted sleep on the fake clock) is caught by
# this deadline, counted as killed, and costs 30 s instead of 300
FAST_PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider --timeout=30"
KEEP_EVERY = 60  # seconds between copies of the running session into .cattle/mutation/
BOOTSTRAP_E2E = ("tests/test_bootstrap.py -n 2 -k 'dependency_order or retries or decryption_key or terminal or "
                 "timeout_names or handed or crd_is_established or rerun_is_idempotent'")
# --tier: the slower tests are the control plane tier's instead of the fake cluster's (a real kube-apiserver and the
# real Flux controllers, tests/controlplane; about three minutes a mutant the fast tests miss)
TIER_E2E = "tests/controlplane/test_failures.py tests/controlplane/test_rebuild.py -k 'from_nothing or failures'"
TIER_MODULES = ("cattle/bootstrap/reconcile.py", "cattle/bootstrap/fluxinstall.py", "cattle/manifests/flux.py",
                "cattle/bootstrap/rebuild.py")
# module -> (fast tests, slower tests run only for mutants the fast ones miss)
MODULES: dict[str, tuple[str, str]] = {
    "cattle/bootstrap/reconcile.py": ("tests/test_reconcile.py", BOOTSTRAP_E2E),
    "cattle/bootstrap/fluxinstall.py": ("tests/test_fluxinstall.py tests/test_reconcile.py", BOOTSTRAP_E2E),
    "cattle/manifests/flux.py": ("tests/test_fluxsync.py",
                       "tests/test_bootstrap.py -n 2 -k 'handed or decryption_key or dependency_order'"),
    "cattle/bootstrap/plan.py": ("tests/test_plan.py", "tests/test_failclosed.py tests/test_bootstrap.py "
                                 "-k 'dry_run or preflight or protected'"),
    "cattle/bootstrap/timeline.py": ("tests/test_timeline.py tests/test_drill.py", ""),
    "cattle/providers/base.py": ("tests/test_providers.py", ""),
    "cattle/providers/local.py": ("tests/test_providers.py", ""),
    "cattle/providers/kind.py": ("tests/test_providers.py", ""),
    "cattle/providers/k3d.py": ("tests/test_providers.py", ""),
    "cattle/providers/kubeconfig.py": ("tests/test_providers.py -k kubeconfig_provider", ""),
    "cattle/providers/opentofu.py": ("tests/test_opentofu_provider.py tests/test_opentofu.py -k 'not every_module "
                                     "and not at_least_two and not state_locked and not opentofu_pin and not "
                                     "same_guard'", ""),
    "cattle/dr/drill.py": ("tests/test_drill.py tests/test_drill_smoke.py", ""),
    "cattle/bootstrap/rebuild.py": ("tests/test_rebuild.py tests/test_failclosed.py tests/test_opentofu.py",
                                    "tests/test_bootstrap.py -n 2"),
    # the safety modules (issue 32): fast tests only, each selection a few seconds to a minute a mutant; a second
    # stage after `&&` (real bao servers, PostgreSQL) runs with PYTEST's 300 s a test, not the unit tests' 30 s
    "cattle/secrets/check.py": ("tests/test_secrets.py tests/test_boundaries.py -k 'check or plaintext or recipient "
                                "or tampered or creation_rule or stray or alias or pre_commit or could_not_verify "
                                "or wrong_key or outside'", ""),
    "cattle/secrets/plaintext.py": ("tests/test_boundaries_plaintext.py tests/test_secrets.py tests/test_boundaries.py "
                                    "-k 'plaintext or envelope or alias or stray or spelling'", ""),
    "cattle/vault/restore.py": ("tests/test_boundaries_vault.py tests/test_failclosed.py -k 'boundaries_vault or vault "
                                "or snapshot or manifest or doubt or unreachable' && " + PYTEST + " "
                                "tests/test_boundaries.py -k openbao tests/test_vault.py -k 'configure or import or "
                                "interrupted or refused_restore or verify_drill or init_record or say_what'", ""),
    "cattle/dr/rehearse.py": ("tests/test_boundaries_rehearse.py tests/test_rehearse.py "
                              "tests/test_boundaries.py::test_rehearse_judges_a_snapshot_by_its_age_in_hours_at_the_"
                              "26h_limit", ""),
    "cattle/database/verify.py": ("tests/test_boundaries_database.py -k 'verify or wal_file or data_archive or "
                                  "barman or primarys' && " + PYTEST + " tests/test_database.py -k 'db_verify or "
                                  "point_in_time or directory_store or named_generation'", ""),
    "cattle/database/backups.py": ("tests/test_boundaries_database.py tests/test_database.py tests/test_failclosed.py "
                                   "-k 'boundaries_database or (database and not db_verify and not directory_store "
                                   "and not rows_before) or empty_store or partial or unreachable or protected_env "
                                   "or valid_backup or named_generation'", ""),
    "cattle/manifests/validate.py": ("tests/test_boundaries_validate.py tests/test_validate.py "
                                     "tests/test_server_types.py tests/test_failclosed.py -k 'validate or server or "
                                     "shared'", ""),
    "cattle/manifests/policy.py": ("tests/test_boundaries_policy.py tests/test_validate.py tests/test_versions.py", ""),
    "cattle/secrets/keys.py": ("tests/test_boundaries_keys.py tests/test_secrets.py -k 'key or custody or rotat or "
                               "throwaway or flux or break_glass or could_not_verify'", ""),
    "cattle/vault/snapshots.py": ("tests/test_boundaries_snapshots.py tests/test_boundaries_vault.py "
                                  "tests/test_failclosed.py -k 'boundaries or vault or snapshot or manifest or "
                                  "doubt or future or retention or unreachable or another'", ""),
    "cattle/database/ondemand.py": ("tests/test_boundaries_ondemand.py", ""),
    "cattle/dr/history.py": ("tests/test_boundaries_history.py tests/test_audit.py tests/test_report.py", ""),
    "cattle/dr/runnerfacts.py": ("tests/test_boundaries_runnerfacts.py tests/test_runnerfacts.py", ""),
    "cattle/vault/endpoint.py": ("tests/test_boundaries_endpoint.py tests/test_raft_followers.py "
                                 "tests/test_baoendpoint.py", ""),
    "cattle/vault/raftpeers.py": ("tests/test_boundaries_raftpeers.py tests/test_raft_followers.py", ""),
    "cattle/dr/coldstart.py": ("tests/test_boundaries_coldstart.py tests/test_coldstart.py", ""),
    "cattle/dr/coldchecks.py": ("tests/test_boundaries_coldchecks.py tests/test_coldstart.py", ""),
    "cattle/secrets/adopt.py": ("tests/test_boundaries_adopt.py tests/test_adopt.py", ""),
    "cattle/secrets/scratch.py": ("tests/test_boundaries_scratch.py tests/test_scratch.py", ""),
    "cattle/secrets/spec.py": ("tests/test_boundaries_spec.py tests/test_dns.py tests/test_secrets.py -k "
                               "'boundaries_spec or dns or generate or missing_file or throwaway or "
                               "check_catches_planted'", ""),
    "cattle/secrets/sopsconfig.py": ("tests/test_boundaries_sopsconfig.py tests/test_secrets.py "
                                     "tests/test_boundaries.py -k 'boundaries_sopsconfig or recipient or rule or "
                                     "own_key or break_glass or wrong or throwaway'", ""),
    "cattle/secrets/sopsfile.py": ("tests/test_boundaries_sopsfile.py tests/test_secrets.py tests/test_boundaries.py "
                                   "-k 'boundaries_sopsfile or check or tamper or invalid_yaml or round_trip or "
                                   "encrypt or recipient or rotat'", ""),
    "cattle/secrets/files.py": ("tests/test_boundaries_files.py tests/test_secrets.py tests/test_scratch.py -k "
                                "'boundaries_files or generate or missing_file or rotat or throwaway or encrypt or "
                                "scratch or check_catches_wrong'", ""),
    # these start real OpenBao servers and PostgreSQL for most of their tests: a mutant they miss costs minutes
    "cattle/vault/openbao.py": ("tests/test_boundaries_openbao.py tests/test_raft_followers.py "
                                "tests/test_boundaries_vault.py tests/test_boundaries.py -k 'boundaries_vault or "
                                "openbao or raft_followers' && " + PYTEST + " tests/test_vault.py -k 'total_loss or "
                                "damaged or wrong or another or sealed or unreachable or refused or interrupted or "
                                "stopped'", ""),
    "cattle/vault/pending.py": ("tests/test_boundaries_pending.py tests/test_vault.py -k 'boundaries_pending or "
                                "interrupted or refused_restore or stopped or signals'", ""),
    "cattle/vault/setup.py": ("tests/test_boundaries_setup.py tests/test_vault.py -k 'boundaries_setup or "
                              "init_record or configure or interrupted or refused_restore'", ""),
    "cattle/vault/server.py": ("tests/test_boundaries_server.py tests/test_vault.py tests/test_baoendpoint.py -k "
                               "'boundaries_server or port_taken or dead_local or baoendpoint or verify_drill'", ""),
    "cattle/database/postgres.py": ("tests/test_boundaries_postgres.py tests/test_boundaries_database.py "
                                    "tests/test_database.py -k 'boundaries_postgres or primarys or db_verify or "
                                    "directory_store'", ""),
}


def ensure_cosmic_ray() -> Path:
    tool = Path(sys.executable).parent / "cosmic-ray"
    if not tool.exists():
        print(f"installing {COSMIC_RAY} into {Path(sys.executable).parent.parent}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", COSMIC_RAY], check=True)
    return tool


def private_copy(target: Path) -> None:
    """The files git tracks (and untracked, not ignored ones), as they are now."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_command(fast: str, slow: str, tmp: Path) -> str:
    """The mutant's tests, with a temp directory of this run's own: a mutant of cattle.secrets.scratch that sweeps
    live directories (or any mutant that removes what it should not) must not reach another run's scratch base
    ($TMPDIR/cattle-scratch-<uid>), as it did once, killing a concurrent test suite's PostgreSQL."""
    command = f"{FAST_PYTEST} {fast}"
    return f"export TMPDIR={tmp}; " + (f"{command} && {PYTEST} {slow}" if slow else command)


def run(module: str, tool: Path, fast_only: bool = False, sample: int | None = None,
        again: bool = False, tier: bool = False) -> dict[str, object]:
    """Mutate one module and run its tests on every mutant. `again`: start from the session this script kept for
    the module, and run only its survivors and the mutants it never reached, with the tests as they are now."""
    fast, slow = MODULES[module]
    slow = "" if fast_only else (TIER_E2E if tier else slow)
    kept = ROOT / ".cattle" / "mutation" / (module.replace("/", "_") + (".tier" if tier else "") + ".sqlite")
    with tempfile.TemporaryDirectory(prefix="cattle-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        private_copy(copy)
        (Path(tmp) / "tmp").mkdir()
        config = Path(tmp) / "cosmic-ray.toml"
        config.write_text(
            "[cosmic-ray]\n"
            f'module-path = "{module}"\n'
            "timeout = 900.0\n"
            "excluded-modules = []\n"
            f"test-command = {json.dumps('bash -c ' + json.dumps(test_command(fast, slow, Path(tmp) / 'tmp')))}\n"
            '[cosmic-ray.distributor]\nname = "local"\n')
        session = Path(tmp) / "session.sqlite"
        if again:
            if not kept.is_file():
                raise SystemExit(f"no kept session for {module} ({kept}): run it once without --again")
            shutil.copy(kept, session)
            db = sqlite3.connect(session)
            rerun = db.execute("DELETE FROM work_results WHERE worker_outcome = 'NORMAL' AND test_outcome = "
                               "'SURVIVED'").rowcount
            db.commit()
            db.close()
            print(f"running the {rerun} survivors (and any mutant not reached) again with today's tests", flush=True)
            if sample is not None:
                more_of_the_sample(session, sample)
        else:
            subprocess.run([str(tool), "init", str(config), str(session)], cwd=copy, check=True)
            skip_annotations(session, (copy / module).read_text())
            if sample is not None:
                keep_a_sample(session, sample)
        started = time.monotonic()
        kept.parent.mkdir(parents=True, exist_ok=True)
        # the tests get SIGHUP's default back: a run started under nohup would hand them its ignored SIGHUP, and
        # test_scratch's SIGHUP case then hangs to its timeout for every mutant, each counted as killed
        execute = subprocess.Popen([str(tool), "exec", str(config), str(session)], cwd=copy,
                                   preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
        try:
            while True:
                try:
                    execute.wait(timeout=KEEP_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    keep(session, kept)
        finally:  # a run stopped half-way keeps what it measured; --again runs the rest
            if execute.poll() is None:
                execute.terminate()
                execute.wait()
            keep(session, kept)
        if execute.returncode != 0:
            raise SystemExit(f"cosmic-ray exec failed ({execute.returncode}); what it measured is kept in {kept}")
        results = summarise(session, copy / module)
    results["module"], results["seconds"] = module, round(time.monotonic() - started)
    out = ROOT / ".cattle" / "mutation" / (module.replace("/", "_") + ".json")
    out.write_text(json.dumps(results, indent=2))
    return results


def keep(session: Path, kept: Path) -> None:
    """Copy the session database as it is now (sqlite's backup: consistent while cosmic-ray writes to it)."""
    source, target = sqlite3.connect(session), sqlite3.connect(kept)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's annotations are, (row, col) to (row, col). With `from __future__ import annotations`
    they are never evaluated, so a mutant inside one (`Path | None` -> `Path - None`) is equivalent."""
    tree = ast.parse(source)
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations"
               for a in n.names) for n in tree.body):
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in found]


def skip_annotations(session: Path, source: str) -> None:
    """Record every mutant inside an annotation as done (SKIPPED) before `exec`, so none of them costs a test run;
    summarise() counts them as equivalent."""
    spans = annotation_spans(source)
    db = sqlite3.connect(session)
    rows = db.execute("SELECT job_id, start_pos_row, start_pos_col FROM mutation_specs").fetchall()
    skipped = [(job,) for job, row, col in rows if any(start <= (row, col) < end for start, end in spans)]
    db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                   "VALUES ('SKIPPED', 'inside an annotation: equivalent', 'SURVIVED', '', ?)", skipped)
    db.commit()
    db.close()
    print(f"{len(skipped)} of {len(rows)} mutants are inside annotations: counted as equivalent, not run", flush=True)


def keep_a_sample(session: Path, size: int, seed: int = 13) -> None:
    """Run only `size` of the mutants not yet decided, chosen at random (seeded: the same sample every time); the
    others are recorded as not sampled, and the score is an estimate over the sample."""
    import random

    db = sqlite3.connect(session)
    pending = sorted(job for (job,) in db.execute(
        "SELECT job_id FROM mutation_specs WHERE job_id NOT IN (SELECT job_id FROM work_results)"))
    chosen = set(random.Random(seed).sample(pending, min(size, len(pending))))
    db.executemany("INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                   "VALUES ('SKIPPED', 'not sampled', 'SURVIVED', '', ?)", [(j,) for j in pending if j not in chosen])
    db.commit()
    db.close()
    print(f"sampling {len(chosen)} of the {len(pending)} mutants outside annotations (seed {seed})", flush=True)


def more_of_the_sample(session: Path, size: int) -> None:
    """Add `size` mutants the kept session left out of its sample (others than any run before)."""
    import random

    db = sqlite3.connect(session)
    left_out = sorted(job for (job,) in db.execute("SELECT job_id FROM work_results WHERE output = 'not sampled'"))
    chosen = random.Random(len(left_out)).sample(left_out, min(size, len(left_out)))
    db.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in chosen])
    db.commit()
    db.close()
    print(f"and {len(chosen)} more of the {len(left_out)} mutants not sampled before", flush=True)


def summarise(session: Path, source: Path) -> dict[str, object]:
    """Killed / survived / equivalent (inside an annotation) / timeouts from cosmic-ray's session database."""
    text = source.read_text()
    lines = text.splitlines()
    spans = annotation_spans(text)
    db = sqlite3.connect(session)
    rows = db.execute(
        "SELECT m.operator_name, m.start_pos_row, m.start_pos_col, m.occurrence, r.test_outcome, r.worker_outcome, "
        "r.diff, r.output FROM mutation_specs m JOIN work_results r ON m.job_id = r.job_id").fetchall()
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "incompetent": 0, "not sampled": 0}
    survivors = []
    for operator, row, col, occurrence, test_outcome, worker_outcome, diff, output in rows:
        if output == "not sampled":
            counts["not sampled"] += 1
        elif any(start <= (row, col) < end for start, end in spans):
            counts["equivalent"] += 1  # never evaluated (skip_annotations: not even run)
        elif str(worker_outcome).lower() != "normal" or str(test_outcome).lower() == "incompetent":
            counts["incompetent"] += 1  # a mutant that does not even import, or timed out
        elif str(test_outcome).lower() == "killed":
            counts["killed"] += 1
        else:
            counts["survived"] += 1
            survivors.append({"line": row, "operator": operator, "occurrence": occurrence,
                              "code": lines[row - 1].strip() if 0 < row <= len(lines) else "",
                              "diff": [d for d in (diff or "").splitlines() if d.startswith(("-", "+"))
                                       and not d.startswith(("---", "+++"))]})
    total = counts["killed"] + counts["survived"]
    return {**counts, "score": round(100 * counts["killed"] / total, 1) if total else None,
            "survivors": sorted(survivors, key=lambda s: (s["line"], s["operator"]))}


def main(argv: list[str]) -> int:
    # a stop (Ctrl-C, kill, or a background job whose SIGINT the shell ignores) ends the run through its `finally`,
    # which keeps what was measured
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fast_only, again, tier = "--fast-only" in argv, "--again" in argv, "--tier" in argv
    argv = [a for a in argv if a not in ("--fast-only", "--again", "--tier")]
    sample = None
    if "--sample" in argv:
        at = argv.index("--sample")
        sample = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2:]
    modules = argv or list(TIER_MODULES if tier else MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    tool = ensure_cosmic_ray()
    for module in modules:
        result = run(module, tool, fast_only, sample, again, tier)
        sampled = f", {result['not sampled']} not sampled" if result["not sampled"] else ""
        print(f"{module}: {result['killed']} killed, {result['survived']} survived, {result['equivalent']} "
              f"equivalent (in annotations), {result['incompetent']} incompetent/timed out{sampled}; score "
              f"{result['score']}% of the non-equivalent ({result['seconds']}s)", flush=True)
        for survivor in result["survivors"]:  # type: ignore[attr-defined]
            print(f"  survived: line {survivor['line']} {survivor['operator']}: {survivor['code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
