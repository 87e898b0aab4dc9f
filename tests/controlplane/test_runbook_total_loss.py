"""Issue 31: the runbook's total-loss scenario, steps 1, 3 and 4 (keys, rebuild, confirm), run verbatim on the control
plane tier: the ```bash blocks of docs/runbook.md's sections as written, through bash and ./scripts/cattle, against a
real kube-apiserver and the real Flux controllers, with the newest Vault snapshot of testing in its store.

The tier is "a cluster made by hand", so the rebuild takes the runbook's own fallback (`--provider kubeconfig
--context`, the tier's kubeconfig and context); the substitutions are the main suite's (tests/test_runbook_verbatim.py:
./scripts/cattle by path, production -> testing) plus TIER_SUBSTITUTIONS below, and the commands that cannot run here
are exactly TIER_SKIPPED, each with its reason."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.controlplane.conftest import CONTEXT
from tests.controlplane.tier import Tier
from tests.test_runbook_verbatim import SUBSTITUTIONS, Shell, Substitution, bare, commands, section

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]  # a whole rebuild on a busy 2-core machine

# step 2 (dr.rehearse, "no cluster needed") runs in the main suite (tests/test_runbook_verbatim.py): here the tier
# has pointed git's chart sources at its stand-in chart server, which the rehearsal's validate rightly refuses
SECTIONS = ("1. Keys", "3. Rebuild, cluster included", "4. Confirm")
TIER_SKIPPED = {
    "export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...":
        "no bucket: testing's Vault and database stores are directories here (the tier's and the fixture's)",
    "export AWS_ENDPOINT_URL=...": "no bucket, so no S3 endpoint",
    "export CATTLE_GIT_TOKEN=...": "no private git host: the checkout is served to the tier's Flux (--serve)",
    "./scripts/cattle bootstrap --env production":
        "creates the cluster with OpenTofu in the cloud account (infra/production/): no cloud here; the tier is a "
        "cluster made by hand, so the runbook's fallback command (the next one) rebuilds it",
    "curl -fsS https://feeds.cattle.example.com/healthz":
        "public DNS and a Let's Encrypt certificate: the tier's network namespace has only loopback, and no "
        "external-dns or ingress runs",
}


def tier_substitutions(kubeconfig: Path) -> tuple[Substitution, ...]:
    fallback = f"--provider kubeconfig --context {CONTEXT}"
    serve = ("--serve", "this checkout served to the tier's Flux on loopback: the git host is unreachable from the "
                        "tier's network namespace")
    return (
        *SUBSTITUTIONS,
        Substitution("bootstrap --env testing --dry-run", f"bootstrap --env testing --dry-run {fallback} {serve[0]}",
                     "the runbook's fallback row for a cluster made by hand: --provider kubeconfig --context; "
                     + serve[1]),
        Substitution("KUBECONFIG=~/new-cluster.kubeconfig", f"KUBECONFIG={kubeconfig}", "the tier's kubeconfig"),
        Substitution("--context new-cluster", f"--context {CONTEXT} {serve[0]}", "the tier's context; " + serve[1]),
        Substitution("status --env testing", f"status --env testing {fallback}",
                     "the cluster made by hand, as step 4 says for the fallback"),
    )


def test_the_runbooks_total_loss_steps_run_verbatim_on_the_tier(tier: Tier, secrets_repo: Path, key_home: Path,
                                                                tmp_path: Path) -> None:
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill
    from cattle.vault.server import BaoServer
    from tests.vaultkit import populate

    # what is left after the loss: git, the key, and the Vault store holding the lost OpenBao's newest snapshot
    testing = environments.load("testing", secrets_repo)
    seal, login = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "lost-openbao") as lost:
        root = vault.client(lost.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(lost.addr)
        populate(vault.client(lost.addr, root), login, secrets_per_mount=2)
        manifest = vaultdrill.backup(testing, lost.addr, None)
    # ... and the database store its newest complete base backup (CNPG does not run on the tier: the decision and
    # the ConfigMap that tells the cluster to recover are what a rebuild does with it)
    database_store = Path(os.environ["CATTLE_DB_STORE"].removeprefix("file://"))
    base = database_store / "feeds-db-g1" / "base" / "20261204T031500"
    base.mkdir(parents=True)
    (base / "backup.info").write_text("backup_label=None\nstatus=DONE\nend_time=2026-12-04 03:15:00+00:00\n"
                                      "version=170002\nsize=123456\n")
    wal = database_store / "feeds-db-g1" / "wals" / "0000000100000000" / "000000010000000000000003.gz"
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"wal")

    home = tmp_path / "home"
    shutil.copytree(key_home, home / ".config" / "cattle")
    pasted = tmp_path / "from-the-password-manager"
    shutil.move(home / ".config" / "cattle" / "age" / "testing.txt", pasted)  # step 1 installs it from stdin
    shell = Shell(home, tmp_path / "terminal")
    shell.cwd.mkdir()
    substitutions = tier_substitutions(tier.plane.kubeconfig)
    found, skipped, used = {}, set(), set()
    for heading in SECTIONS:
        found[heading], its_skips, its_substitutions = _section_script(heading, substitutions)
        skipped |= its_skips
        used |= its_substitutions
    assert skipped == set(TIER_SKIPPED), "skipped exactly the commands TIER_SKIPPED names"
    assert used == {s.old for s in substitutions}, "every substitution matches a command of steps 1, 3 and 4"

    try:  # steps 1 and 3 in one shell: what step 1 exports, step 3 has
        rebuild = shell.run(found[SECTIONS[0]] + found[SECTIONS[1]], stdin=pasted, timeout=1500)
    except Exception as exc:
        raise AssertionError(f"{exc}\n{tier.diagnosis()}") from exc
    said = rebuild.stdout + rebuild.stderr
    assert rebuild.returncode == 0, f"{said}\n{tier.diagnosis()}"
    assert f"restore the newest Vault snapshot {manifest.id}" in said  # the dry run's plan
    assert "database: recover generation g1 from base backup 20261204T031500" in said
    for line in ("✓ preflight", "✓ flux", "✓ secrets", "✓ sync", "✓ restore", "✓ reconcile", "✓ verify",
                 "RTO (testing): "):
        assert line in said, f"{line!r} not in the rebuild's output:\n{said}"
    canary = vault.login(vault_addr(), login).secrets.kv.v2.read_secret_version(
        path=vault.CANARY_PATH, mount_point=vault.CANARY_MOUNT, raise_on_deleted_version=True)
    assert canary["data"]["data"]["snapshot"] == manifest.id  # the lost OpenBao's data is back
    decided = json.loads(tier.plane.kubectl("get", "configmap", "-n", "flux-system", "cattle-bootstrap", "-o",
                                            "json").stdout)["data"]
    assert (decided["DB_BOOTSTRAP"], decided["DB_GENERATION"], decided["DB_RECOVERY_GENERATION"]) == (
        "recovery", "g2", "g1")
    assert json.loads((database_store / "cattle-generation.json").read_text())["current"] == "g2"  # step 5
    installed = home / ".config" / "cattle" / "age" / "testing.txt"
    assert installed.read_text() == pasted.read_text() and installed.stat().st_mode & 0o777 == 0o600

    confirm = shell.run(found[SECTIONS[2]])
    assert confirm.returncode == 0, confirm.stdout + confirm.stderr
    rows = [line.split() for line in confirm.stdout.splitlines() if line.startswith(("Kustomization ", "HelmRelease "))]
    assert {row[0] for row in rows} == {"Kustomization", "HelmRelease"}, confirm.stdout
    assert all(row[2] == "ready" for row in rows), confirm.stdout  # "every Kustomization and HelmRelease Ready"


def vault_addr() -> str:
    return os.environ["CATTLE_VAULT_ADDR_TESTING"]  # the tier's OpenBao (Tier sets it)


def _section_script(heading: str, substitutions: tuple[Substitution, ...]) -> tuple[str, set[str], set[str]]:
    """One section's commands as a script: TIER_SKIPPED's commands left out, then each substitution that matches
    applied in order; with the commands it skipped and the substitutions it used (the test checks both are whole)."""
    written = commands(section(heading))
    assert written, f"docs/runbook.md's section {heading!r} has no bash block"
    skipped = {bare(c) for c in written} & set(TIER_SKIPPED)
    text = "\n".join(c for c in written if bare(c) not in skipped) + "\n"
    used = set()
    for row in substitutions:
        if row.old in text:
            text = text.replace(row.old, row.new)
            used.add(row.old)
    return text, skipped, used
