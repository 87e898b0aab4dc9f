"""Issue 31: the runbook's scenarios run verbatim against the local testing environment.

Each test takes the ```bash blocks of one section of docs/runbook.md as they are (editing the runbook changes what
runs; a command that no longer works turns the test red), applies a small explicit substitution table, and runs the
result with bash (`-eu -o pipefail`) as an on-call engineer's shell would, in a scratch working directory, against
local stand-ins: a real OpenBao from `vault.local`, the testing environment's own directory stores, a real
PostgreSQL backed up with barman-cloud, keys under a scratch `$HOME`.

What differs locally, and nothing else (SUBSTITUTIONS and each test's own rows):
- `./scripts/cattle` -> this checkout's scripts/cattle, by absolute path (the working directory is scratch, so what
  the commands write lands there or in the repository copy, never in the checkout);
- the environment `production` -> `testing` (the only environment a test may rebuild and whose stores are local);
- addresses and times only the local stand-ins know (the port vault.local chose, a time inside the test's WAL);
- what a person pastes (a key into `install /dev/stdin`) comes from a file on the shell's stdin.

A command that cannot run here is listed in that test's SKIPPED with the reason, and each test checks that exactly
those commands were skipped: a new runbook command is run, never silently left out. The total-loss scenario (a
rebuild needs a cluster) runs on the control plane tier: tests/controlplane/test_runbook_total_loss.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cattle.vault import snapshots
from tests.conftest import REPO

pytestmark = pytest.mark.slow
RUNBOOK = REPO / "docs" / "runbook.md"


@dataclass(frozen=True)
class Substitution:
    old: str
    new: str
    why: str


# applied to every scenario (after the skipped commands are taken out)
SUBSTITUTIONS = (
    Substitution("./scripts/cattle", str(REPO / "scripts" / "cattle"),
                 "the checkout, by absolute path: the shell's working directory is a scratch directory"),
    Substitution("production", "testing", "the environment: testing is the one with local stores and keys"),
)


def section(heading: str, path: Path = RUNBOOK) -> str:
    """The text of the one section whose heading (any level) starts with `heading`, up to the next heading of its
    level or higher."""
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"(#+) {re.escape(heading)}", line)]
    assert len(starts) == 1, f"{path.name} has {len(starts)} sections named {heading!r}"
    level = len(lines[starts[0]].split(" ")[0])
    end = next((i for i in range(starts[0] + 1, len(lines))
                if (m := re.match(r"(#+) ", lines[i])) and len(m.group(1)) <= level), len(lines))
    return "\n".join(lines[starts[0] + 1:end]) + "\n"


def commands(text: str) -> list[str]:
    """The commands of a section's ```bash blocks, in order: one per logical line (backslash continuations joined),
    as written, comments included."""
    found: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", "\\\n\0").splitlines():
            if line.startswith("\0"):
                found[-1] += "\n" + line[1:]
            elif line.strip():
                found.append(line)
    return found


def bare(command: str) -> str:
    """A command without its trailing comment: what SKIPPED tables name."""
    return re.sub(r"\s+#\s.*$", "", command).strip()


def script(heading: str, skipped: dict[str, str], substitutions: tuple[Substitution, ...],
           path: Path = RUNBOOK) -> str:
    """The section's commands as one bash script: SKIPPED commands left out (each must be found), then every
    substitution applied (each must match something, so a stale row is noticed)."""
    written = commands(section(heading, path))
    assert written, f"{path.name}'s section {heading!r} has no bash block"
    left_out = [bare(c) for c in written if bare(c) in skipped]
    assert sorted(left_out) == sorted(skipped), (
        f"skipped exactly what SKIPPED names: found {left_out}, expected {sorted(skipped)}")
    runnable = "\n".join(c for c in written if bare(c) not in skipped) + "\n"
    for row in substitutions:
        assert row.old in runnable, f"substitution {row.old!r} matches nothing in {heading!r} ({row.why})"
        runnable = runnable.replace(row.old, row.new)
    return runnable


@dataclass
class Shell:
    """An on-call engineer's shell: a scratch $HOME (keys under ~/.config/cattle), a scratch working directory."""
    home: Path
    cwd: Path

    def environment(self, changes: dict[str, str | None]) -> dict[str, str]:
        drop = ("CATTLE_CONFIG_HOME", "XDG_CONFIG_HOME", "CATTLE_CWD", "VAULT_", "BAO_")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        environ.update({k: v for k, v in changes.items() if v is not None})
        return {k: v for k, v in {**environ, "HOME": str(self.home)}.items() if changes.get(k, "") is not None}

    def run(self, text: str, stdin: Path | None = None, timeout: int = 900,
            environment: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        """Run `text` with bash; `environment` sets (or, with None, unsets) variables on top of this process's."""
        path = self.cwd / "runbook.sh"
        path.write_text(text)
        with open(stdin or os.devnull, "rb") as given:
            proc = subprocess.run(["bash", "-eu", "-o", "pipefail", str(path)], cwd=self.cwd, stdin=given,
                                  env=self.environment(environment or {}), capture_output=True, timeout=timeout,
                                  check=False)
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def shell(secrets_repo: Path, key_home: Path, tmp_path: Path) -> Shell:
    """The keys secrets_repo made, moved to where the runbook puts them (~/.config/cattle/age)."""
    home = tmp_path / "home"
    shutil.copytree(key_home, home / ".config" / "cattle")
    cwd = tmp_path / "terminal"
    cwd.mkdir()
    return Shell(home, cwd)


def _no_vault_variables() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}


# --- OpenBao lost its data, the cluster is fine --------------------------------------------------------------

OPENBAO_SKIPPED = {
    "kubectl -n openbao port-forward openbao-0 8200 &":
        "needs the cluster's OpenBao pod; vault.local's real OpenBao on 127.0.0.1 (testing's seal key) stands in",
}


def test_openbao_restore_runs_verbatim(shell: Shell, secrets_repo: Path) -> None:
    """docs/runbook.md "OpenBao lost its data": vault.snapshots and vault.restore, as written, onto an empty OpenBao
    started by vault.local with testing's seal key, from testing's own store; the snapshot's canary is back."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill
    from cattle.vault.server import BaoServer
    from tests.vaultkit import everything, populate

    testing = environments.load("testing", secrets_repo)
    seal, login = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id) as lost:  # the OpenBao whose data is gone: its snapshot is in the store
        root = vault.client(lost.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(lost.addr)
        populate(vault.client(lost.addr, root), login, secrets_per_mount=3)
        manifest = vaultdrill.backup(testing, lost.addr, None)
        before = everything(vault.client(lost.addr, root))

    local = subprocess.Popen([sys.executable, str(REPO / "tasks.py"), "vault.local", "--env", "testing"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_no_vault_variables())
    try:
        assert local.stdout is not None
        address = re.search(r"http://127\.0\.0\.1:\d+", local.stdout.readline())
        assert address is not None, "vault.local printed no address"
        text = script("OpenBao lost its data, the cluster is fine", OPENBAO_SKIPPED, (
            *SUBSTITUTIONS,
            Substitution("http://127.0.0.1:8200", address.group(0), "the port vault.local chose, not a port-forward"),
        ))
        proc = shell.run(text)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        listing, restored = proc.stdout.split("\nsnapshot ", 1)
        assert manifest.id in listing and "cannot use" not in listing
        assert restored.startswith(f"{manifest.id} (") and ": restored in " in restored
        assert vault.applied_login(address.group(0), login)
        canary = vault.login(address.group(0), login).secrets.kv.v2.read_secret_version(
            path=vault.CANARY_PATH, mount_point=vault.CANARY_MOUNT, raise_on_deleted_version=True)
        assert canary["data"]["data"]["snapshot"] == manifest.id
        assert everything(vault.client(address.group(0), root)) == before  # the snapshot's root token works again

        again = shell.run(text)  # "Running it again is safe"
        assert again.returncode == 0 and "already restored" in again.stdout, again.stdout + again.stderr
    finally:
        local.send_signal(signal.SIGINT)
        local.communicate(timeout=120)


# --- Point-in-time restore: "someone dropped a table at 14:02" -----------------------------------------------

def test_point_in_time_restore_runs_verbatim(shell: Shell, secrets_repo: Path, s3_endpoint: str) -> None:
    """docs/runbook.md's point-in-time restore, as written (testing for production, the drill's own time for the
    runbook's 14:01:30), on a copy of a real barman-cloud store (PostgreSQL: a row in the base backup, a row before
    the target, the table dropped and re-created with a row after it) in testing's own database store: the table
    as it was at the target, both rows before it and none after, in the query's answer and in the dump."""
    from tests.test_database import dropped_table_in_testings_store

    target = dropped_table_in_testings_store(s3_endpoint, secrets_repo)
    text = script('Point-in-time restore: "someone dropped a table at 14:02"', {}, (
        *SUBSTITUTIONS,
        Substitution("2026-12-04 14:01:30Z", target, "a time between the drill's commits before and after the drop"),
    ))
    proc = shell.run(text, environment={"CATTLE_DB_STORE": None})  # testing's own store, not the fixture's
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " DONE " in proc.stdout and "g1" in proc.stdout  # db.backups
    restored = proc.stdout[proc.stdout.index("OK: "):]
    assert restored.startswith(f"OK: testing's database as it was at {target[:19]}")
    assert "; query: 2\n" in restored  # in-the-base-backup and before-the-target; the later table is not there
    assert "wrote a pg_dump of database " in restored
    [dump] = [p for p in (shell.cwd / "feeds-at-1401.sql", secrets_repo / "feeds-at-1401.sql") if p.exists()]
    assert "before-the-target" in dump.read_text() and "after-the-target" not in dump.read_text()


# --- The age key is lost --------------------------------------------------------------------------------------

def _snapshot_in_testings_store(secrets_repo: Path) -> snapshots.Manifest:
    """A snapshot of a populated OpenBao with testing's seal key, taken into testing's own Vault store."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill
    from cattle.vault.server import BaoServer
    from tests.vaultkit import populate

    seal, login = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id) as server:
        root = vault.client(server.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(server.addr)
        populate(vault.client(server.addr, root), login, secrets_per_mount=2)
        return vaultdrill.backup(environments.load("testing", secrets_repo), server.addr, None)


def test_lost_age_key_runs_verbatim(shell: Shell, secrets_repo: Path, tmp_path: Path) -> None:
    """docs/runbook.md "The age key is lost", as written (testing for production; the break-glass identity typed
    into `install /dev/stdin` comes from the shell's stdin): testing's files and a Vault snapshot were encrypted for
    the break-glass key as well (secrets/break-glass.pub, secrets.updatekeys, as docs/secrets.md says); with
    testing's own key gone, secrets.check passes on the break-glass key, secrets.rotate re-keys every file to a new
    key (break-glass still a recipient), and vault.verify still restores the snapshot taken before."""
    from cattle import tools
    from cattle.secrets import files as secrets
    from cattle.secrets.keys import write_new_key

    safe = write_new_key(tmp_path / "safe" / "break-glass.txt")  # the offline copy
    (secrets_repo / "secrets" / "break-glass.pub").write_text(safe.public + "\n")
    assert secrets.update_recipients(secrets_repo, "testing")  # every testing file now opens with break-glass too
    manifest = _snapshot_in_testings_store(secrets_repo)
    assert safe.public in manifest.recipients

    keys = shell.home / ".config" / "cattle" / "age"
    lost = (keys / "testing.txt").read_text()
    (keys / "testing.txt").unlink()  # the key is lost
    typed = tmp_path / "typed"
    typed.write_text(safe.secret + "\n")  # what the custodian types from the safe's copy
    text = script("The age key is lost", {}, SUBSTITUTIONS)
    proc = shell.run(text, stdin=typed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "secrets.check: ok" in proc.stdout
    assert "rotated: new public key " in proc.stdout
    assert f"OK: snapshot {manifest.id} (" in proc.stdout  # encrypted before the rotation, for break-glass

    new = (keys / "testing.txt").read_text()
    assert safe.secret not in new and lost not in new  # a new key, neither the lost one nor break-glass
    [kept] = keys.glob("testing.txt.rotated-*")
    assert kept.read_text().strip() == safe.secret  # kept for the snapshots taken before
    sops_yaml = (secrets_repo / ".sops.yaml").read_text()
    new_public = re.search(r"rotated: new public key (age1\w+)", proc.stdout)
    assert new_public is not None and new_public.group(1) in sops_yaml and safe.public in sops_yaml
    seal_file = secrets_repo / "secrets" / "testing" / "openbao-seal-key.secret.yaml"
    for identity in (next(line for line in new.splitlines() if line.startswith("AGE-SECRET-KEY-")), safe.secret):
        opened = subprocess.run([tools.find("sops"), "decrypt", str(seal_file)], capture_output=True, text=True,
                                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SOPS_AGE_KEY": identity},
                                check=False, timeout=60)
        assert opened.returncode == 0, opened.stderr  # the new key alone, and break-glass alone, open every file
    kept.unlink()  # the SOPS files need neither the lost key nor the rotated-away one
    check = shell.run(f"{REPO / 'scripts' / 'cattle'} secrets.check --env testing\n")
    assert check.returncode == 0 and "secrets.check: ok" in check.stdout, check.stdout + check.stderr


def test_rotation_without_a_key_that_opens_every_file_is_still_refused(secrets_repo: Path, key_home: Path) -> None:
    """The other side of the lost-key fix (secrets.rotate accepts a key at hand that opens every file, such as
    break-glass): with only a key that opens none of them, it refuses before .sops.yaml changes."""
    from cattle.errors import SecretsError
    from cattle.secrets import files as secrets
    from cattle.secrets.keys import write_new_key

    (key_home / "age" / "testing.txt").unlink()
    write_new_key(key_home / "age" / "testing.txt")  # someone else's key: opens nothing of testing
    before = (secrets_repo / ".sops.yaml").read_text()
    with pytest.raises(SecretsError, match=r"the current key of testing \(age1\w+\) is not on this machine"):
        secrets.rotate(secrets_repo, "testing")
    assert (secrets_repo / ".sops.yaml").read_text() == before


# --- Total loss, step 2: rehearse (no cluster needed) ---------------------------------------------------------

def test_total_loss_rehearsal_runs_verbatim(shell: Shell, secrets_repo: Path) -> None:
    """docs/runbook.md step 2, as written (testing for production): with testing's key under ~/.config/cattle and a
    snapshot of its OpenBao in its own store, dr.rehearse ends `testing: READY`. Steps 3 and 4 (the rebuild and
    status) run on the control plane tier (tests/controlplane/test_runbook_total_loss.py), whose stand-in chart
    sources the rehearsal's validate would rightly refuse."""

    manifest = _snapshot_in_testings_store(secrets_repo)
    proc = shell.run(script("2. Rehearse before you touch anything", {}, SUBSTITUTIONS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✗" not in proc.stdout and f"snapshot {manifest.id} restored and unsealed, canary present" in proc.stdout
    assert "\ntesting: READY" in proc.stdout, proc.stdout


def test_the_extraction_runs_what_the_runbook_says_and_notices_stale_rows(tmp_path: Path) -> None:
    """The guard itself, on a runbook of the test's own: continuations joined, comments kept, a new command is in
    the script (it runs), a SKIPPED command the runbook no longer has and a substitution that matches nothing are
    errors, and the next section's commands are not taken."""
    doc = tmp_path / "runbook.md"
    doc.write_text("# Runbook\n\n## A. One (1 min)\n\ntext\n\n```bash\n./scripts/cattle x --env production \\\n"
                   "  --flag v   # why\ncurl https://example.com   # later\n"
                   "./scripts/cattle new --env production\n```\n"
                   "\n### A sub-section\n\n```bash\necho sub\n```\n\n## B. Two\n\n```bash\necho other\n```\n")
    assert commands(section("A. One", doc)) == [
        "./scripts/cattle x --env production \\\n  --flag v   # why", "curl https://example.com   # later",
        "./scripts/cattle new --env production", "echo sub"]
    skip = {"curl https://example.com": "no network"}
    text = script("A. One", skip, SUBSTITUTIONS, doc)
    assert "curl" not in text and "echo other" not in text
    assert f"{REPO}/scripts/cattle new --env testing" in text  # a new command runs
    with pytest.raises(AssertionError, match="skipped exactly what SKIPPED names"):
        script("A. One", {**skip, "kubectl gone": "a command the runbook no longer has"}, SUBSTITUTIONS, doc)
    with pytest.raises(AssertionError, match="matches nothing"):
        script("A. One", skip, (*SUBSTITUTIONS, Substitution("14:01:30Z", "now", "stale")), doc)
    with pytest.raises(AssertionError, match="has 0 sections"):
        section("C. Gone", doc)
