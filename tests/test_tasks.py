"""The command line: every namespace listed with one-line help; errors are messages, not tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=120)


def test_list_shows_every_namespace_with_help() -> None:
    out = _invoke("--list").stdout
    for name in ("bootstrap", "status", "destroy", "validate", "test", "secrets.check", "secrets.rotate",
                 "vault.backup", "vault.restore", "vault.verify", "env.list"):
        line = next((line for line in out.splitlines() if line.strip().startswith(name + " ")), None)
        assert line is not None and len(line.split(None, 1)) == 2, f"{name} missing or without help in:\n{out}"


def test_unknown_env_is_a_clear_error_not_a_traceback() -> None:
    proc = _invoke("env.show", "--env", "prod")
    assert proc.returncode == 1
    assert "error: unknown environment 'prod'; valid environments: production, staging, testing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_destroy_refuses_production_without_the_flag() -> None:
    proc = _invoke("destroy", "--env", "production", "--yes")
    assert proc.returncode == 1
    assert "production is protected: destroying it needs --i-mean-production" in proc.stderr


def test_status_of_a_cluster_never_built_here_says_what_to_do(repo_copy: Path) -> None:
    proc = _invoke("status", "--env", "testing")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"no kubeconfig at {repo_copy}/.cattle/kubeconfig-cattle-testing" in proc.stderr
    assert "run ./scripts/cattle bootstrap --env ENV first" in proc.stderr


def test_bad_flag_values_are_named_with_the_valid_ones() -> None:
    fmt = _invoke("validate", "--format", "yaml")
    assert fmt.returncode == 2 and "error: --format 'yaml' is not one of: text, json" in fmt.stderr
    provider = _invoke("bootstrap", "--provider", "nope", "--dry-run")
    assert provider.returncode == 1 and "Traceback" not in provider.stderr
    assert "error: unknown provider 'nope'" in provider.stderr and "kind, k3d, kubeconfig" in provider.stderr


def _with_kind(tmp_path: Path, version: str) -> dict[str, str]:
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kind").write_text(f"#!/bin/sh\necho 'kind {version} go1.25 linux/amd64'\n")
    (bin_dir / "kind").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_dr_runner_prints_the_facts_and_appends_the_job_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps\n")
    proc = subprocess.run([sys.executable, "-m", "invoke", "dr.runner", "--env", "testing", "--summary", str(summary)],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
                          env=_with_kind(tmp_path, "v0.33.0"))
    for line in ("kind            v0.33.0 (pinned v0.33.0, clusters/kind.yaml)",
                 "node image      kindest/node:v1.36.4@", "Kubernetes      1.36.4", "runner          ",
                 "capacity check  requests 1785m CPU"):
        assert line in proc.stdout, proc.stdout + proc.stderr
    text = summary.read_text()
    assert text.startswith("earlier steps\n### Runner and cluster facts (testing), before anything is created")
    # this machine may be smaller than the 2 vCPU / 7 GB runner testing declares: then, and only then, it fails
    assert proc.returncode == (1 if "is smaller than the declared capacity" in proc.stdout else 0), proc.stdout


def test_dr_runner_fails_with_another_kind(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "invoke", "dr.runner", "--env", "testing"], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=120, env=_with_kind(tmp_path, "v0.27.0"))
    assert proc.returncode == 1
    assert "FAILED: kind v0.27.0 is not the pinned v0.33.0" in proc.stdout


def test_dr_drill_has_no_from_backup_flag() -> None:
    help_text = _invoke("--help", "dr.drill").stdout
    assert "--summary" in help_text and "from-backup" not in help_text


def _cattle(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """What ./scripts/cattle runs once set up: tasks.py as cattle's program."""
    return subprocess.run([sys.executable, str(REPO / "tasks.py"), *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=120, **kwargs)  # type: ignore[call-overload]


def test_an_unknown_task_or_flag_suggests_the_nearest() -> None:
    typo = _cattle("bootstrp")
    assert typo.returncode == 1 and typo.stderr.strip() == (
        "error: unknown task 'bootstrp'; did you mean bootstrap? (./scripts/cattle --list shows every task)")
    flag = _cattle("bootstrap", "--enf", "testing")
    assert flag.stderr.strip() == ("error: bootstrap has no flag --enf; did you mean --env? "
                                   "(see ./scripts/cattle bootstrap --help)")


def test_a_flag_without_its_value_is_one_line_with_the_usage() -> None:
    proc = _cattle("status", "--env")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: --env needs a value; usage: ./scripts/cattle status --env VALUE "
                                   "(see ./scripts/cattle status --help)")


def test_a_missing_required_argument_is_one_line_with_the_usage() -> None:
    proc = _cattle("diff")
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: diff needs --base; usage: ./scripts/cattle diff --base BASE (see ./scripts/cattle diff --help)")


def test_help_names_the_program_as_the_user_runs_it() -> None:
    assert _cattle("--help").stdout.startswith("Usage: ./scripts/cattle [--core-opts]")


def test_a_closed_pipe_ends_quietly() -> None:
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # like `./scripts/cattle env.show | head` once head has exited
    try:
        proc = subprocess.run([sys.executable, str(REPO / "tasks.py"), "env.list"], cwd=REPO, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, check=False, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 0 and proc.stderr == ""


def test_file_arguments_resolve_from_where_the_user_stands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cattle.cli import repo_relative, user_path

    monkeypatch.setenv("CATTLE_CWD", str(REPO / "secrets"))
    assert repo_relative("testing/grafana-admin.secret.yaml", REPO) == Path("secrets/testing/grafana-admin.secret.yaml")
    assert repo_relative("secrets/testing/grafana-admin.secret.yaml", REPO) == Path(
        "secrets/testing/grafana-admin.secret.yaml")  # from the root, as before
    assert user_path(str(tmp_path / "ca.pem"), REPO) == tmp_path / "ca.pem"


def test_one_name_per_concept_and_no_letter_with_two_meanings() -> None:
    sys.path.insert(0, str(REPO))
    import tasks

    meanings: dict[str, set[str]] = {}
    for name in tasks.ns.task_names:
        for argument in tasks.ns[name].get_arguments():
            for flag in argument.names:
                meanings.setdefault(flag, set()).add(argument.names[0])
    assert {f: m for f, m in meanings.items() if len(m) > 1} == {}
    assert [f for f in meanings if len(f) == 1] == ["k"]  # test -k EXPR, pytest's own name; no auto short flags
    assert "addr" not in meanings and "no_serve" not in meanings  # --vault-addr and --[no-]serve everywhere


# the arguments a task cannot run without, for the --dry run of every task below
_REQUIRED = {"adopt": ["--git-url", "https://git.example.org/ops/infra.git", "--domain", "infra.example.org",
                       "--bucket", "dr", "--contact", "ops@example.org"],
             "diff": ["--base", "HEAD"], "secrets.new": ["--name", "x", "--namespace", "y", "--literal", "a=b"],
             "secrets.generate": ["--rotate", "grafana-admin"],
             "secrets.encrypt": ["--file", "secrets/testing/grafana-admin.secret.yaml"],
             "secrets.decrypt": ["--file", "secrets/testing/grafana-admin.secret.yaml"],
             "secrets.edit": ["--file", "secrets/testing/grafana-admin.secret.yaml"],
             "vault.import": ["--file", "snapshot.raw"], "db.restore": ["--to", "2026-12-04 14:01:30Z"],
             "dr.record": ["--directory", "records"],
             "test": ["--lint-only"]}


def _tree(base: Path) -> dict[str, tuple[int, bytes]]:
    import hashlib

    return {str(p.relative_to(base)): (p.stat().st_mode, hashlib.sha256(p.read_bytes()).digest())
            for p in sorted(base.rglob("*")) if p.is_file()}


def test_every_task_under_dry_changes_nothing(secrets_repo: Path, stand_ins: object, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """invoke's -R/--dry: a task with --dry-run rehearses, a read-only task runs, every other task refuses; nothing
    in the repository, the key store, the backup stores or on a cluster changes (issue 31, item 1)."""
    import os

    from tests.conftest import StandIns

    assert isinstance(stand_ins, StandIns)
    clusters = tmp_path / "cluster-calls.log"  # a cluster created or deleted shows up here
    for tool in ("kind", "k3d", "tofu"):
        stand_ins.put(tool, f"#!/bin/sh\ncase \"$*\" in *create*|*delete*|*apply*|*destroy*) echo \"{tool} $*\" "
                            f">> {clusters};; esac\n")
    for store in ("vault-store", "db-store"):
        (tmp_path / store).mkdir()
        (tmp_path / store / "kept").write_text("a backup\n")
    monkeypatch.setenv("CATTLE_VAULT_STORE", f"file://{tmp_path / 'vault-store'}")
    monkeypatch.setenv("CATTLE_DB_STORE", f"file://{tmp_path / 'db-store'}")
    monkeypatch.setenv("EDITOR", "sed -i s/a/b/")
    (tmp_path / "records").mkdir()
    (tmp_path / "snapshot.raw").write_bytes(b"raw")
    monkeypatch.setenv("CATTLE_CWD", str(tmp_path))
    sys.path.insert(0, str(REPO))
    import tasks

    before = _tree(tmp_path)
    refused = []
    for name in sorted(tasks.ns.task_names):
        for flag in ("--dry", "-R"):
            proc = _cattle(flag, name, *_REQUIRED.get(name, []), env=dict(os.environ))
            assert "Traceback" not in proc.stderr, (name, proc.stderr)
            assert _tree(tmp_path) == before, f"{flag} {name} changed something:\n{proc.stdout}\n{proc.stderr}"
            if "asks for a rehearsal" in proc.stderr:
                assert proc.returncode == 2 and f"and {name} has none: nothing was run" in proc.stderr
                refused.append(name)
    assert not clusters.exists()
    for name in ("destroy", "secrets.generate", "secrets.rotate", "vault.restore", "vault.backup", "db.verify",
                 "dr.drill", "dr.rehearse", "adopt", "report", "secrets.init"):
        assert name in refused
    dry = _cattle("--dry", "bootstrap", "--env", "testing")
    assert "asks for a rehearsal" not in dry.stderr and "dry run" in (dry.stdout + dry.stderr).lower()


def test_help_does_not_offer_a_flag_that_does_nothing() -> None:
    help_text = _cattle("--help").stdout
    assert "Echo commands instead of running" not in help_text
    assert "-R, --dry" in help_text and "bootstrap runs as --dry-run" in " ".join(help_text.split())


def test_env_show_prints_whether_the_environment_is_protected() -> None:
    assert "\nprotected: yes\n" in _cattle("env.show", "--env", "production").stdout
    assert "\nprotected: no\n" in _cattle("env.show", "--env", "testing").stdout


def test_messages_name_what_they_looked_at(repo_copy: Path, tmp_path: Path) -> None:
    """Issue 31, item 6: a secret file that is nowhere is "no such file"; empty stores are named; db.backups has
    the age and bytes columns its help promises (barman-cloud writes size=None: the bytes the store holds)."""
    import os

    environ = {**os.environ, "CATTLE_CWD": str(repo_copy / "secrets" / "testing")}
    nosuch = _cattle("secrets.decrypt", "--file", "nosuch.secret.yaml", env=environ)
    assert nosuch.returncode == 1 and "not under secrets/<env>/" not in nosuch.stderr
    assert nosuch.stderr.startswith(f"error: no such file: nosuch.secret.yaml (looked in {repo_copy}/secrets/testing")
    vault_store, db_store = tmp_path / "vault", tmp_path / "db"
    vault_store.mkdir()
    db_store.mkdir()
    empty = {**os.environ, "CATTLE_VAULT_STORE": f"file://{vault_store}", "CATTLE_DB_STORE": f"file://{db_store}"}
    assert _cattle("vault.snapshots", env=empty).stdout.strip() == f"no snapshots of testing in file://{vault_store}"
    assert _cattle("db.backups", env=empty).stdout.strip() == f"no base backups of testing in file://{db_store}"
    base = db_store / "feeds-db-g1" / "base" / "20261101T031500"
    base.mkdir(parents=True)
    (base / "backup.info").write_text("status=DONE\nend_time=2026-11-01 03:15:00+00:00\nsize=None\n")
    (base / "data.tar.gz").write_bytes(b"x" * 1000)
    listed = _cattle("db.backups", env=empty).stdout.splitlines()
    assert listed[0].split() == ["generation", "backup", "status", "ended", "age", "bytes"]
    row = listed[-1].split()
    assert row[:3] == ["g1", "20261101T031500", "DONE"] and row[-2].endswith("h") and float(row[-2][:-1]) > 0
    assert int(row[-1]) == 1000 + len((base / "backup.info").read_bytes())


def test_list_shows_each_tasks_summary_whole() -> None:
    """Issue 31, item 7: --list cut `report` (and `test`) mid-sentence."""
    listed = " ".join(_cattle("--list").stdout.split())
    assert "(drills and RTO trend, backup freshness, restore rehearsals, key custody) and a status badge." in listed
    sys.path.insert(0, str(REPO))
    import tasks
    from cattle.cli import summary

    for name in tasks.ns.task_names:
        text = summary(tasks.ns[name])
        assert text and f"{name} {text}" in listed, name


def test_every_provider_is_offered_where_a_task_takes_one() -> None:
    """Issue 31, item 7: bootstrap --help left out opentofu."""
    sys.path.insert(0, str(REPO))
    import tasks
    from cattle.bootstrap.preflight import PROVIDER_TOOLS

    takes = [n for n in tasks.ns.task_names if any("provider" in a.names for a in tasks.ns[n].get_arguments())]
    assert "bootstrap" in takes
    for name in takes:
        shown = " ".join(_cattle("--help", name).stdout.split())
        assert all(provider in shown for provider in PROVIDER_TOOLS), (name, shown)


def test_help_is_a_command() -> None:
    """Issue 31, item 7: `./scripts/cattle help` lists the tasks; `help TASK` is the task's --help."""
    listed = _cattle("help")
    assert listed.returncode == 0 and "bootstrap" in listed.stdout and "vault.local" in listed.stdout
    one = _cattle("help", "db.backups")
    assert one.returncode == 0 and one.stdout.startswith("Usage: ./scripts/cattle [--core-opts] db.backups")


def test_the_completion_script_completes_cattle_not_tasks_py() -> None:
    """Issue 31, item 7: the bash completion registers for ./scripts/cattle and cattle, and answers (real bash)."""
    script = _cattle("--print-completion-script", "bash").stdout
    program = ('source /dev/stdin; complete -p; for cmd in ./scripts/cattle cattle; do '
               'COMP_WORDS=("$cmd" vault.sn); _complete_cattle "$cmd" vault.sn; echo "got: ${COMPREPLY[*]}"; done')
    proc = subprocess.run(["bash", "-c", program], input=script, capture_output=True, text=True, check=False,
                          timeout=120)
    assert "_complete_cattle ./scripts/cattle" in proc.stdout and " cattle" in proc.stdout
    assert "tasks.py" not in [line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("complete")]
    assert proc.stdout.count("got: vault.snapshots") == 2, proc.stdout + proc.stderr


def test_vault_local_starts_an_openbao_for_the_runbook_and_ctrl_c_stops_it(secrets_repo: Path) -> None:
    """Issue 31, item 7: one command starts a local OpenBao with the env's seal key (real bao server)."""
    import os
    import re
    import signal

    import requests

    proc = subprocess.Popen([sys.executable, str(REPO / "tasks.py"), "vault.local", "--env", "testing"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("OpenBao for testing at http://127.0.0.1:"), first + (proc.stderr.read()
                                                                                      if proc.stderr else "")
        addr = re.search(r"at (http://127\.0\.0\.1:\d+)", first)
        assert addr is not None
        assert requests.get(f"{addr.group(1)}/v1/sys/health", timeout=30).status_code == 501  # uninitialised
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"interrupted: stopped the OpenBao at {addr.group(1)} and wiped its data" in out


def test_ctrl_c_in_test_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 4: Ctrl-C in `test` ended in invoke's traceback (ValueError: I/O operation on closed file,
    raised while c.run passed the interrupt on): one line saying interrupted, exit 130."""
    from invoke.context import Context
    from invoke.exceptions import Exit

    sys.path.insert(0, str(REPO))
    import tasks

    def interrupted_run(self: Context, command: str, **kwargs: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("I/O operation on closed file") from None

    monkeypatch.setattr(Context, "run", interrupted_run)
    with pytest.raises(Exit) as caught:
        tasks.ns["test"](Context())
    assert caught.value.code == 130
    assert caught.value.message == "interrupted: test: the tests stopped; nothing was changed; a re-run is safe"


def test_a_step_cut_by_ctrl_c_says_interrupted_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    from cattle import console

    with pytest.raises(KeyboardInterrupt), console.step("restoring snapshot s1"):
        raise KeyboardInterrupt
    err = capsys.readouterr().err
    assert "restoring snapshot s1: interrupted after " in err and "FAILED" not in err


def test_db_verify_refused_before_a_restore_is_recorded_as_not_run(repo_copy: Path) -> None:
    """Issue 31, item 8: db.verify that cannot read its store restored nothing: its run record says not run."""
    import json
    import os

    from cattle.vault.server import free_port

    environ = {**os.environ, "CATTLE_DB_STORE": "s3://backups/testing", "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    proc = _cattle("db.verify", "--env", "testing", env=environ)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [record] = [json.loads(p.read_text()) for p in (repo_copy / ".cattle" / "runs").glob("testing-db-verify-*")]
    assert record["result"] == "not run" and record["detail"].startswith("stopped at preflight, nothing was changed")


def test_the_testing_environment_needs_no_credentials_or_storage_of_its_own(repo_copy: Path) -> None:
    """Issue 31, item 2: on a fresh clone with no credentials, testing's stores are local directories: bootstrap's
    preflight reads both (no "Unable to locate credentials"), and db.backups / vault.snapshots read the same ones."""
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CATTLE_DB_STORE", "CATTLE_VAULT_STORE"))}
    plan = _cattle("bootstrap", "--env", "testing", "--dry-run", "--serve", env=clean)
    said = plan.stdout + plan.stderr
    assert "Unable to locate credentials" not in said and "database store:" not in said, said
    assert "database: no backup in file://.cattle/backups/testing/postgres: new, empty database" in said
    assert "no Vault snapshot in file://.cattle/backups/testing/vault" in said
    listed = _cattle("db.backups", "--env", "testing", env=clean)
    assert listed.returncode == 0
    assert listed.stdout.strip() == "no base backups of testing in file://.cattle/backups/testing/postgres"
    assert not (repo_copy / ".cattle" / "backups" / "testing" / "postgres").exists()  # reading made nothing


def test_bootstrap_to_a_point_in_time_plans_that_recovery_or_refuses_a_time_out_of_reach(
        repo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 3, the rebuild's flag: bootstrap --to TIME takes the decision a rebuild takes (recovery into
    the next generation) to that time (CNPG recoveryTarget, ConfigMap cattle-bootstrap); a time before the oldest
    base backup is a failed preflight check."""
    import os

    store = tmp_path / "db"
    base = store / "feeds-db-g1" / "base" / "20261101T031500"
    base.mkdir(parents=True)
    (base / "backup.info").write_text("status=DONE\nend_time=2026-11-01 03:15:00+00:00\nversion=150010\n")
    (base / "data.tar.gz").write_bytes(b"x")
    wal = store / "feeds-db-g1" / "wals" / "0000000100000000"
    wal.mkdir(parents=True)
    (wal / "000000010000000000000003.gz").write_bytes(b"wal")  # archived now: after the target below
    environ = {**os.environ, "CATTLE_DB_STORE": f"file://{store}"}
    planned = _cattle("bootstrap", "--env", "testing", "--dry-run", "--serve", "--to", "2026-11-02 12:00:00Z",
                      env=environ)
    said = planned.stdout + planned.stderr
    assert ("5. database: recover generation g1 from base backup 20261101T031500 (2026-11-01 03:15:00+00:00); to "
            "2026-11-02T12:00:00.000000Z (base backup 20261101T031500, then WAL up to that time)") in said, said
    from cattle import env as environments
    from cattle.bootstrap import rebuild

    monkeypatch.setenv("CATTLE_DB_STORE", f"file://{store}")
    decision, failed = rebuild.plan_database(environments.load("testing"), False, "2026-11-02 12:00:00Z")
    assert failed is None and decision is not None
    assert decision.variables == {"DB_BOOTSTRAP": "recovery-to-time", "DB_GENERATION": "g2",
                                  "DB_RECOVERY_GENERATION": "g1",
                                  "DB_RECOVERY_TARGET_TIME": '"2026-11-02T12:00:00.000000Z"'}
    early = _cattle("bootstrap", "--env", "testing", "--dry-run", "--serve", "--to", "2026-10-01 00:00:00Z",
                    env=environ)
    assert "is before the oldest base backup of generation g1" in early.stdout + early.stderr
