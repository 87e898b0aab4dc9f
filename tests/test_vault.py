"""Vault backup and restore against real OpenBao servers (raft, static seal, 127.0.0.1)."""

from __future__ import annotations

import secrets as random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cattle.errors import StoreError, VaultError, VaultInUse
from cattle.secrets.keys import Identity, write_new_key
from cattle.stores import FileStore, S3Store, Store, s3_client
from cattle.vault import openbao as vault
from cattle.vault import snapshots
from cattle.vault.server import BaoServer
from tests.vaultkit import everything, populate

pytestmark = pytest.mark.slow
LOGIN = vault.Login("cattle-backup", "correct-horse-battery-staple")


@pytest.fixture(scope="module")
def seal() -> vault.SealMaterial:
    return vault.SealMaterial(random.token_hex(32))


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return write_new_key(tmp_path_factory.mktemp("keys") / "testing-key.txt")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., BaoServer]]:
    started: list[BaoServer] = []

    def start(seal: vault.SealMaterial) -> BaoServer:
        server = BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / f"bao{len(started)}").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(wipe=True)


def _stranger() -> Identity:
    """A key this machine holds for nothing."""
    from pyrage import x25519

    key = x25519.Identity.generate()
    return Identity(str(key), str(key.to_public()), "stranger")


def _source(start: Callable[..., BaoServer], seal: vault.SealMaterial) -> tuple[BaoServer, str]:
    server = start(seal)
    root_token = vault.client(server.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
    vault.wait_active(server.addr)
    populate(vault.client(server.addr, root_token), LOGIN)
    return server, root_token


def _backup(server: BaoServer, store: Store, identity: Identity, seal: vault.SealMaterial,
            env: str = "testing", keep: int = 5) -> snapshots.Manifest:
    return vault.backup(server.addr, env, store, [identity.public], seal, LOGIN, keep)


def test_total_loss_round_trip_restores_everything(servers: Callable[..., BaoServer], seal: vault.SealMaterial,
                                                   identity: Identity, tmp_path: Path) -> None:
    source, root_token = _source(servers, seal)
    before = everything(vault.client(source.addr, root_token))
    store = FileStore("file://backups", tmp_path / "backups")
    manifest = _backup(source, store, identity, seal)
    assert manifest.counts["kv_secrets"] == 42 and manifest.env == "testing"
    assert b"apps" not in store.get(manifest.id + snapshots.SNAPSHOT_SUFFIX)[:4096]  # encrypted at rest
    source.stop(wipe=True)  # total loss: process and data gone

    target = servers(seal)
    report = vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert report.initialised_target and not report.already_restored
    assert report.counts == manifest.counts
    assert everything(vault.client(target.addr, root_token)) == before  # the original root token works again

    again = vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert again.already_restored and again.snapshot == manifest.id
    assert everything(vault.client(target.addr, root_token)) == before


def test_s3_store_with_retention(servers: Callable[..., BaoServer], seal: vault.SealMaterial, identity: Identity,
                                 s3_endpoint: str) -> None:
    source, _ = _source(servers, seal)
    store = S3Store("s3://backups/vault-retention", "backups", "vault-retention", s3_client(s3_endpoint))
    made = [_backup(source, store, identity, seal, keep=2) for _ in range(3)]
    kept = snapshots.manifests(store)
    assert [m.id for m in kept] == [m.id for m in made[1:]]
    assert snapshots.opens(store, made[-1], [identity]) is None  # the age header, by a ranged GET
    assert "encrypted for no key on this machine" in (snapshots.opens(store, made[-1], [_stranger()]) or "")
    assert len(store.names()) == 4
    target = servers(seal)
    report = vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert report.snapshot == made[-1].id and report.counts["kv_secrets"] == 42


@pytest.fixture(scope="module")
def backup_made_once(seal: vault.SealMaterial, identity: Identity,
                     tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, snapshots.Manifest]:
    """One populated server's backup, made once per test process for the tests that only read it or damage a copy
    (a fresh OpenBao, populated, then backed up, costs seconds)."""
    directory = tmp_path_factory.mktemp("one-backup")
    with BaoServer(seal.key_hex, seal.key_id, directory=directory / "bao") as source:
        _source(lambda _seal: source, seal)
        manifest = _backup(source, FileStore("file://backups", directory / "backups"), identity, seal)
    return directory / "backups", manifest


@pytest.fixture
def one_backup(backup_made_once: tuple[Path, snapshots.Manifest],
               tmp_path: Path) -> tuple[FileStore, snapshots.Manifest]:
    """A private copy of that backup's store: a test may damage it."""
    made, manifest = backup_made_once
    shutil.copytree(made, tmp_path / "backups")
    return FileStore("file://backups", tmp_path / "backups"), manifest


def _damage(store: FileStore, manifest: snapshots.Manifest, how: str) -> None:
    path = store.directory / (manifest.id + snapshots.SNAPSHOT_SUFFIX)
    data = bytearray(path.read_bytes())
    if how == "corrupt":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(bytes(data[: len(data) // 3]))


@pytest.mark.parametrize("how", ["corrupt", "truncated"])
def test_damaged_snapshot_is_refused_and_target_untouched(servers: Callable[..., BaoServer],
                                                          seal: vault.SealMaterial, identity: Identity,
                                                          one_backup: tuple[FileStore, snapshots.Manifest],
                                                          how: str) -> None:
    store, manifest = one_backup
    _damage(store, manifest, how)
    target = servers(seal)
    with pytest.raises(VaultError, match=rf"snapshot {manifest.id} is corrupt or truncated"):
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert vault.health(target.addr) == 501  # still uninitialised: nothing was done to it


def test_wrong_age_key(servers: Callable[..., BaoServer], seal: vault.SealMaterial, tmp_path: Path,
                       one_backup: tuple[FileStore, snapshots.Manifest]) -> None:
    store, manifest = one_backup
    stranger = write_new_key(tmp_path / "stranger.txt")
    target = servers(seal)
    with pytest.raises(VaultError, match=rf"snapshot {manifest.id} cannot be decrypted with the keys at hand"):
        vault.restore(target.addr, "testing", store, [stranger], seal, LOGIN)
    assert vault.health(target.addr) == 501


def test_snapshot_of_another_environment(servers: Callable[..., BaoServer], seal: vault.SealMaterial,
                                         identity: Identity, one_backup: tuple[FileStore, snapshots.Manifest]) -> None:
    store, manifest = one_backup
    target = servers(seal)
    with pytest.raises(VaultError, match=rf"{manifest.id}.manifest.json: a snapshot of environment 'testing': this "
                                         "store is shared with another environment"):
        vault.restore(target.addr, "production", store, [identity], seal, LOGIN)
    with pytest.raises(VaultError, match=f"snapshot {manifest.id} belongs to environment 'testing', not 'production'"):
        vault.restore(target.addr, "production", store, [identity], seal, LOGIN, snapshot=manifest.id)
    assert vault.health(target.addr) == 501


def test_wrong_seal_key_is_refused_before_touching_the_target(servers: Callable[..., BaoServer],
                                                              identity: Identity,
                                                              one_backup: tuple[FileStore, snapshots.Manifest]) -> None:
    store, _ = one_backup
    other = vault.SealMaterial(random.token_hex(32))
    target = servers(other)
    with pytest.raises(VaultError, match="was sealed with key cattle-seal-1"):
        vault.restore(target.addr, "testing", store, [identity], other, LOGIN)
    assert vault.health(target.addr) == 501


def test_server_refuses_a_snapshot_sealed_with_another_key_and_keeps_its_data(
        servers: Callable[..., BaoServer], seal: vault.SealMaterial, identity: Identity,
        one_backup: tuple[FileStore, snapshots.Manifest]) -> None:
    store, _ = one_backup
    other = vault.SealMaterial(random.token_hex(32))
    target, token = _source(servers, other)  # a live server with its own data and seal key
    before = everything(vault.client(target.addr, token))
    with pytest.raises(VaultError, match="already holds data"):
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN, token=token)
    with pytest.raises(VaultError, match=r"OpenBao refused snapshot .* the target was left as it was"):
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN, token=token, force=True)
    assert everything(vault.client(target.addr, token)) == before


def test_sealed_or_unreachable_target(identity: Identity, one_backup: tuple[FileStore, snapshots.Manifest],
                                      seal: vault.SealMaterial) -> None:
    store, _ = one_backup
    with pytest.raises(VaultError, match=r"OpenBao at http://127.0.0.1:1 is unreachable"):
        vault.restore("http://127.0.0.1:1", "testing", store, [identity], seal, LOGIN)


def test_store_unreachable(servers: Callable[..., BaoServer], seal: vault.SealMaterial, identity: Identity) -> None:
    store = S3Store("s3://backups/x", "backups", "x", s3_client("http://127.0.0.1:1"))
    target = servers(seal)
    with pytest.raises(StoreError, match=r"cannot reach the backup store s3://backups/x at http://127.0.0.1:1"):
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert vault.health(target.addr) == 501


def test_verify_drill_uses_the_seal_key_and_login_from_sops(secrets_repo: Path, tmp_path: Path) -> None:
    """vault.verify end to end: seal key and backup login come from the env's SOPS files."""
    from cattle import env as environments
    from cattle.vault import restore as vaultdrill

    testing = environments.load("testing", secrets_repo)
    seal = vault.seal_material(secrets_repo, "testing")
    credentials = vault.backup_login(secrets_repo, "testing")
    assert len(bytes.fromhex(seal.key_hex)) == 32 and credentials.username == "cattle-backup"
    with BaoServer(seal.key_hex, seal.key_id) as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, token), credentials, secrets_per_mount=5)
        store_url = f"file://{tmp_path / 'store'}"
        manifest = vaultdrill.backup(testing, source.addr, store_url)
    report = vaultdrill.verify(testing, store_url)
    assert report.snapshot == manifest.id and report.counts == manifest.counts
    assert report.counts["kv_secrets"] == 12
    assert report.root_access.startswith("no init record in the store")


def test_init_record_keeps_root_access_across_restores(secrets_repo: Path, tmp_path: Path) -> None:
    """A server cattle initialised: its init record is encrypted at rest, applies to later snapshots, and the
    restore drill proves its root token opens them; a revoked token makes the drill fail."""
    from cattle import env as environments
    from cattle.secrets import keys, sopsconfig
    from cattle.stores import open_store
    from cattle.vault import restore as vaultdrill
    from cattle.vault import setup as vaultinit
    from tests.kubemock import self_signed_ca_pem

    testing = environments.load("testing", secrets_repo)
    seal = vault.seal_material(secrets_repo, "testing")
    store_url = f"file://{tmp_path / 'store'}"
    store = open_store(store_url)
    assert vaultinit.find(store, "testing", keys.candidate_identities("testing")) is None
    with BaoServer(seal.key_hex, seal.key_id) as source:
        record = vaultinit.initialise(source.addr, "testing", store,
                                      sopsconfig.required_recipients(secrets_repo, "testing"),
                                      vault.backup_login(secrets_repo, "testing"), self_signed_ca_pem())
        [name] = [n for n in store.names() if n.endswith(vaultinit.RECORD_SUFFIX)]
        assert record.root_token.encode() not in store.get(name)  # encrypted at rest
        assert record.recovery_keys and vault.client(source.addr, record.root_token).is_authenticated()
        manifest = vaultdrill.backup(testing, source.addr, store_url)
        found = vaultinit.find(store, "testing", keys.candidate_identities("testing"), before=manifest.id)
        assert found == record
        assert vaultinit.find(store, "testing", keys.candidate_identities("testing"), before=record.id) is None
        report = vaultdrill.verify(testing, store_url)
        assert report.root_access == f"root token of init record {record.name} works"
        vault.client(source.addr, record.root_token).auth.token.revoke_self()
        revoked = vaultdrill.backup(testing, source.addr, store_url)
    with pytest.raises(VaultError, match=rf"the root token of init record {record.name} does not open snapshot "
                                         rf"{revoked.id}"):
        vaultdrill.verify(testing, store_url)


def test_in_cluster_cronjob_writes_what_restore_reads(servers: Callable[..., BaoServer], seal: vault.SealMaterial,
                                                      identity: Identity, s3_endpoint: str, tmp_path: Path) -> None:
    """Run the CronJob's own scripts (bao CLI shell, then upload.py) and restore what they uploaded."""
    import os
    import subprocess
    import sys

    import yaml

    from cattle import tools
    from tests.conftest import REPO

    source, _ = _source(servers, seal)
    job_dir = REPO / "platform/configs/base/openbao-backup"
    spec = yaml.safe_load((job_dir / "cronjob.yaml").read_text())["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    shell = spec["initContainers"][0]["args"][0].replace("/work", str(tmp_path))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bao").symlink_to(tools.find("bao"))
    seal_file = tmp_path / "seal.key"
    seal_file.write_text(seal.key_hex)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "BAO_ADDR": source.addr, "ENVIRONMENT": "testing",
           "HOME": str(tmp_path), "BACKUP_USERNAME": LOGIN.username, "BACKUP_PASSWORD": LOGIN.password}
    subprocess.run(["sh", "-ec", shell], env=env, check=True, timeout=60)
    snapshot_id = (tmp_path / "id").read_text()
    env.update(WORK_DIR=str(tmp_path), AGE_RECIPIENTS=identity.public, SEAL_KEY_FILE=str(seal_file),
               VAULT_BACKUP_STORE="s3://backups/cronjob", AWS_ENDPOINT_URL=s3_endpoint, KEEP="2")
    subprocess.run([sys.executable, str(job_dir / "upload.py")], env=env, check=True, timeout=60)
    source.stop(wipe=True)

    store = S3Store("s3://backups/cronjob", "backups", "cronjob", s3_client(s3_endpoint))
    target = servers(seal)
    report = vault.restore(target.addr, "testing", store, [identity], seal, LOGIN)
    assert report.snapshot == snapshot_id and report.counts["kv_secrets"] == 42


def test_configure_task_sets_up_backups_and_external_secrets(secrets_repo: Path, tmp_path: Path) -> None:
    """`invoke vault.configure` on an OpenBao initialised by hand (e.g. with recovery shares split among people)."""
    import os
    import subprocess
    import sys

    from cattle.vault import setup as vaultinit
    from tests.conftest import REPO
    from tests.kubemock import self_signed_ca_pem

    seal = vault.seal_material(secrets_repo, "testing")
    ca = tmp_path / "ca.pem"
    ca.write_text(self_signed_ca_pem())
    with BaoServer(seal.key_hex, seal.key_id) as server:
        token = vault.client(server.addr).sys.initialize(recovery_shares=3, recovery_threshold=2)["root_token"]
        vault.wait_active(server.addr)
        base = [sys.executable, "-m", "invoke", "vault.configure", "--vault-addr", server.addr,
                "--kubernetes-ca", str(ca)]
        refused = subprocess.run([*base, "--token", "not-a-token"], cwd=REPO, capture_output=True, text=True,
                                 timeout=120, check=False)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert f"the token given to {server.addr} may not configure it (permission denied)" in refused.stderr
        env_vars = {k: v for k, v in os.environ.items() if k not in ("VAULT_TOKEN", "BAO_TOKEN")}
        nothing = subprocess.run([*base[:-2], "--kubernetes-ca", str(tmp_path / "nope.pem")], cwd=REPO,
                                 capture_output=True, text=True, timeout=120, check=False, env=env_vars)
        assert nothing.returncode == 1 and "Traceback" not in nothing.stderr
        assert "missing: a root token (--token" in nothing.stderr
        assert f"the cluster CA file {tmp_path / 'nope.pem'} (No such file or directory)" in nothing.stderr
        done = subprocess.run([*base, "--token", token], cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stderr
        root = vault.client(server.addr, token)
        assert root.auth.kubernetes.read_role(vaultinit.ESO_ROLE)["policies"] == [vaultinit.ESO_POLICY]
        assert root.auth.kubernetes.read_config()["kubernetes_ca_cert"] == ca.read_text()
        login = vault.backup_login(secrets_repo, "testing")
        assert vault.login(server.addr, login).is_authenticated()


def test_a_port_taken_after_it_was_picked_is_traded_for_another(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:  # another process's listener on the port BaoServer picked
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with BaoServer(port=port, directory=tmp_path / "bao") as server:
            assert server.port != port
            assert vault.health(server.addr) == 501  # up, not initialised
        assert "address already in use" in (tmp_path / "bao" / "server.log").read_text()


def _restore_records(store: FileStore) -> list[str]:
    return [n for n in store.names() if n.endswith(snapshots.PENDING_SUFFIX)]


def test_a_refused_restore_onto_a_fresh_server_is_finished_by_a_rerun(
        servers: Callable[..., BaoServer], seal: vault.SealMaterial, identity: Identity,
        one_backup: tuple[FileStore, snapshots.Manifest]) -> None:
    """Fail closed, round two (1): the server cattle initialised for a refused restore is never left tokenless."""
    store, sealed_elsewhere = one_backup
    other = vault.SealMaterial(random.token_hex(32))
    source, root_token = _source(servers, other)
    before = everything(vault.client(source.addr, root_token))
    right = _backup(source, store, identity, other)
    target = servers(other)  # runs with another seal key than the snapshot cattle is told to restore
    with pytest.raises(VaultError) as refused:
        vault.restore(target.addr, "testing", store, [identity], seal, LOGIN, snapshot=sealed_elsewhere.id)
    [record] = _restore_records(store)
    assert "left as it was" not in refused.value.message
    assert f"OpenBao refused snapshot {sealed_elsewhere.id}" in refused.value.message
    assert f"its throwaway root token is kept in {record}" in refused.value.message
    assert vault.health(target.addr) == 200  # initialised, and empty
    assert not snapshots.scan(store, "testing").doubts  # the record is cattle's own, not a doubt
    report = vault.restore(target.addr, "testing", store, [identity], other, LOGIN, snapshot=right.id)
    assert report.snapshot == right.id and report.initialised_target
    assert everything(vault.client(target.addr, root_token)) == before
    assert _restore_records(store) == []  # verified: the throwaway token is no longer kept


def test_a_restore_interrupted_while_initialising_is_finished_by_bootstrap(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed, round two (1): Ctrl-C during "initialising the fresh OpenBao", then bootstrap's restore phase
    re-run: it finishes the restore instead of taking cattle's own empty server for one in use."""
    from cattle import env as environments
    from cattle.vault import restore as vaultdrill

    testing = environments.load("testing", secrets_repo)
    seal, credentials = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    store_url = f"file://{tmp_path / 'store'}"
    monkeypatch.setenv(vaultdrill.STORE_VARIABLE, store_url)
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "source") as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, token), credentials, secrets_per_mount=3)
        before = everything(vault.client(source.addr, token))
        manifest = vaultdrill.backup(testing, source.addr)
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "target") as target:
        real_wait = vault.wait_active

        def interrupted(addr: str, timeout: float = 60) -> None:
            monkeypatch.setattr(vault, "wait_active", real_wait)
            raise KeyboardInterrupt  # the operator presses Ctrl-C while OpenBao is being initialised

        monkeypatch.setattr(vault, "wait_active", interrupted)
        with pytest.raises(KeyboardInterrupt):
            vaultdrill.restore(testing, target.addr)
        assert vault.health(target.addr) in (200, 429)  # initialised by cattle, empty
        decision = vaultdrill.plan_vault(testing)
        assert decision.action == "restore" and decision.snapshot == manifest.id
        done = vaultdrill.bring_up(testing, target.addr, decision)
        assert done.startswith(f"Vault snapshot {manifest.id} restored")
        assert everything(vault.client(target.addr, token)) == before
    assert _restore_records(FileStore(store_url, tmp_path / "store")) == []


def test_a_restore_that_stopped_before_its_token_was_kept_stops_the_rerun(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed, round two (1): a restore killed while OpenBao was initialising left a record without a token;
    a re-run against an initialised server says what to do instead of leaving it "as it is"."""
    from cattle import env as environments
    from cattle.secrets import sopsconfig
    from cattle.vault import pending
    from cattle.vault import restore as vaultdrill

    testing = environments.load("testing", secrets_repo)
    seal, credentials = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    store_url = f"file://{tmp_path / 'store'}"
    monkeypatch.setenv(vaultdrill.STORE_VARIABLE, store_url)
    store = FileStore(store_url, tmp_path / "store")
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "source") as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        vault.configure(vault.client(source.addr, token), credentials)
        manifest = vaultdrill.backup(testing, source.addr)
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "target") as target:
        lost = pending.new("testing", manifest.id)  # what a SIGKILL during initialising leaves
        pending.save(store, lost, sopsconfig.required_recipients(secrets_repo, "testing"))
        vault.client(target.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)  # its answer never kept
        vault.wait_active(target.addr)
        decision = vaultdrill.plan_vault(testing)
        with pytest.raises(VaultError) as stopped:
            vaultdrill.bring_up(testing, target.addr, decision)
        assert not isinstance(stopped.value, VaultInUse)
        assert lost.name in stopped.value.message and "holds no data" in stopped.value.message
        assert "wipe it" in (stopped.value.hint or "")


def test_signals_during_a_step_that_must_not_be_cut_are_acted_on_after_it() -> None:
    import signal

    from cattle.vault import pending

    finished = []
    with pytest.raises(KeyboardInterrupt), pending.signals_deferred():
        signal.raise_signal(signal.SIGINT)
        finished.append("the step")
    assert finished == ["the step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("content", [b"not a snapshot at all\n", b"", bytes(range(256)) * 64])
def test_importing_a_file_that_is_not_a_snapshot_is_a_clear_error(secrets_repo: Path, tmp_path: Path,
                                                                 content: bytes) -> None:
    """Fail closed, round two (11): vault.import of a non-snapshot says so (no traceback), and stores nothing."""
    from cattle import env as environments
    from cattle.vault import restore as vaultdrill

    testing = environments.load("testing", secrets_repo)
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    store_url = f"file://{tmp_path / 'store'}"
    with pytest.raises(VaultError) as caught:
        vaultdrill.import_snapshot(testing, path, store_url, workdir=tmp_path / "bao")
    assert f"{path} is not an OpenBao raft snapshot" in caught.value.message
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").iterdir())


def test_the_vault_tasks_say_what_is_wrong_instead_of_a_traceback(secrets_repo: Path, tmp_path: Path) -> None:
    """Fail closed, round two (11): vault.snapshots over a manifest with a malformed date, vault.import of a file
    that is not a snapshot: clear messages from the tasks, never a traceback."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    store = FileStore(f"file://{tmp_path / 'store'}", tmp_path / "store")
    plaintext = b"raft"
    blob = snapshots.encrypt(plaintext, [write_new_key(tmp_path / "k.txt").public])
    good = snapshots.Manifest("20261101T000000.000000Z-abc001", "testing", "2026-11-01T00:00:00Z", "2.6.2", len(blob),
                              snapshots.sha256(blob), snapshots.sha256(plaintext), [], "cattle-seal-1", "fp", "c")
    snapshots.save(store, good, blob)
    odd = json.loads(good.to_json())
    odd.update(id="20261102T000000.000000Z-abc002", created="2026-13-45 25:99")
    store.put(odd["id"] + snapshots.SNAPSHOT_SUFFIX, blob)
    store.put(odd["id"] + snapshots.MANIFEST_SUFFIX, json.dumps(odd).encode())
    base = [sys.executable, "-m", "invoke"]
    listed = subprocess.run([*base, "vault.snapshots", "--env", "testing", "--store", store.url], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert good.id in listed.stdout
    assert (f"cannot use: {odd['id']}.manifest.json: unreadable manifest (has a malformed created time "
            "'2026-13-45 25:99'") in listed.stdout
    (tmp_path / "notes.txt").write_text("not a snapshot\n")
    imported = subprocess.run([*base, "vault.import", "--env", "testing", "--file", str(tmp_path / "notes.txt"),
                               "--store", store.url], cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False, env={**os.environ, "CATTLE_REPO": str(secrets_repo)})
    assert imported.returncode == 1 and "Traceback" not in imported.stderr, imported.stderr
    assert f"{tmp_path / 'notes.txt'} is not an OpenBao raft snapshot: it is not gzip-compressed" in imported.stderr


def test_a_backup_overlapping_another_keeps_only_a_snapshot_holding_its_own_canary(
        servers: Callable[..., BaoServer], seal: vault.SealMaterial, identity: Identity, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed, round two (6): a second backup writes the canary between this one's canary and its snapshot
    (the interleaving of three concurrent runs, made certain); the snapshot reported good must verify."""
    source, _ = _source(servers, seal)
    store = FileStore("file://backups", tmp_path / "backups")
    real_inventory = vault.inventory
    overlapped: list[str] = []

    def another_backup_writes_its_canary(c: object) -> dict[str, int]:
        if not overlapped:
            overlapped.append(snapshots.new_id())
            vault.login(source.addr, LOGIN).secrets.kv.v2.create_or_update_secret(
                path=vault.CANARY_PATH, mount_point=vault.CANARY_MOUNT, secret={"snapshot": overlapped[0]})
        return real_inventory(c)  # type: ignore[arg-type]

    monkeypatch.setattr(vault, "inventory", another_backup_writes_its_canary)
    manifest = _backup(source, store, identity, seal)
    monkeypatch.setattr(vault, "inventory", real_inventory)
    assert overlapped
    target = servers(seal)
    token = vault.initialise_fresh(target.addr)
    vault.apply_snapshot(target.addr, token, snapshots.load(store, manifest, [identity]), manifest.id,
                         lambda: vault.applied_login(target.addr, LOGIN))
    assert vault._canary(target.addr, LOGIN) == manifest.canary == manifest.id


def test_snapshots_taken_before_a_key_rotation_still_restore_and_the_plan_never_picks_one_it_cannot_decrypt(
        secrets_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed, round two (5): after secrets.rotate the older snapshots are encrypted for the rotated-away key;
    cattle keeps that key as a decryption key (rotate says so). Without it, the plan refuses instead of picking a
    snapshot it cannot open."""
    import os
    import subprocess
    import sys

    from cattle import env as environments
    from cattle.secrets import keys
    from cattle.vault import restore as vaultdrill
    from tests.conftest import REPO

    testing = environments.load("testing", secrets_repo)
    seal, credentials = vault.seal_material(secrets_repo, "testing"), vault.backup_login(secrets_repo, "testing")
    store_url = f"file://{tmp_path / 'store'}"
    monkeypatch.setenv(vaultdrill.STORE_VARIABLE, store_url)
    with BaoServer(seal.key_hex, seal.key_id, directory=tmp_path / "source") as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        vault.configure(vault.client(source.addr, token), credentials)
        before = vaultdrill.backup(testing, source.addr)
    rotated = subprocess.run([sys.executable, "-m", "invoke", "secrets.rotate", "--env", "testing"], cwd=REPO,
                             capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ))
    assert rotated.returncode == 0, rotated.stderr
    [old] = keys.rotated_key_files("testing")
    assert f"the old key is kept as {old}: Vault snapshots and init records taken before now stay encrypted" \
        in rotated.stdout
    assert not {i.public for i in keys.candidate_identities("testing")} & set(before.recipients)
    decision = vaultdrill.plan_vault(testing)
    assert (decision.action, decision.snapshot) == ("restore", before.id)
    report = vaultdrill.verify(testing)  # restores with the rotated-away key
    assert report.snapshot == before.id
    old.unlink()  # the old key thrown away too early
    refused = vaultdrill.plan_vault(testing)
    assert refused.action == "refuse"
    assert f"{before.id}: encrypted for {before.recipients[0]}, and no key on this machine" in refused.reason
    named = vaultdrill.plan_vault(testing, snapshot=before.id)
    assert named.action == "refuse" and "no key on this machine is one of them" in named.reason


def test_configure_outside_a_cluster_points_at_kubernetes_ca(secrets_repo: Path) -> None:
    """Issue 31, item 6: vault.configure with a root token on an OpenBao outside any cluster (no pod CA file) says
    to pass --kubernetes-ca FILE, not to use the root token it was given."""
    import subprocess
    import sys

    from tests.conftest import REPO

    seal = vault.seal_material(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id) as server:
        token = vault.client(server.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(server.addr)
        proc = subprocess.run([sys.executable, str(REPO / "tasks.py"), "vault.configure", "--vault-addr",
                               server.addr, "--token", token], cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "use a root token" not in proc.stderr, proc.stderr
    assert "pass --kubernetes-ca FILE" in proc.stderr and "kube-root-ca.crt" in proc.stderr, proc.stderr


def test_ctrl_c_during_vault_verify_says_interrupted_what_was_left_and_exits_130(secrets_repo: Path,
                                                                                 tmp_path: Path) -> None:
    """Issue 31, item 4: not "restoring snapshot … FAILED" and exit 1: interrupted, nothing left, a re-run is safe,
    exit 130 (real bao servers; SIGINT sent once the throwaway server is being initialised, with the whole restore
    still ahead)."""
    import os
    import signal
    import subprocess
    import sys

    from cattle import env as environments
    from cattle.vault import restore as vaultdrill
    from tests.conftest import REPO

    testing = environments.load("testing", secrets_repo)
    seal = vault.seal_material(secrets_repo, "testing")
    store_url = f"file://{tmp_path / 'store'}"
    with BaoServer(seal.key_hex, seal.key_id) as source:
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, token), vault.backup_login(secrets_repo, "testing"), secrets_per_mount=5)
        vaultdrill.backup(testing, source.addr, store_url)
    before = sorted(p.name for p in (tmp_path / "store").iterdir())
    proc = subprocess.Popen([sys.executable, str(REPO / "tasks.py"), "vault.verify", "--store", store_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "initialising the fresh OpenBao" in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + err
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "FAILED" not in err, err
    assert ("interrupted: vault.verify: nothing was left: the throwaway OpenBao cattle started was stopped and its "
            "data removed, and nothing in the store changed; a re-run is safe") in err
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == before


def test_a_dead_local_openbao_is_named_with_its_log_not_blamed_on_vault_addr(seal: vault.SealMaterial) -> None:
    """Issue 31, item 4: when the OpenBao cattle started exits, the wait says so at once, with its log tail,
    instead of polling to its deadline and pointing at VAULT_ADDR / --vault-addr."""
    with BaoServer(seal.key_hex, seal.key_id) as server:
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        with pytest.raises(VaultError) as waited:
            vault.wait_active(server.addr, timeout=30)
        with pytest.raises(VaultError) as asked:
            vault.health(server.addr)
        for error in (waited.value, asked.value):
            assert error.message.startswith(f"the OpenBao cattle started at {server.addr} has exited (code -9); "
                                            "its log ends: "), error.message
            assert "OpenBao server started" in error.message  # the log tail
            assert "VAULT_ADDR" not in f"{error.message} {error.hint}"


def test_the_local_vault_recipe_runs_as_written_against_the_testing_environment(secrets_repo: Path) -> None:
    """Issue 31, items 2 and 7: docs/vault.md's local recipe, as written (the port vault.local printed put in), on
    testing's defaults: its local store, its seal key, a real OpenBao from vault.local."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from cattle import env as environments
    from cattle.vault import restore as vaultdrill
    from tests.conftest import REPO

    testing = environments.load("testing", secrets_repo)
    assert testing.backups.vault_store == "file://.cattle/backups/testing/vault"
    seal = vault.seal_material(secrets_repo, "testing")
    with BaoServer(seal.key_hex, seal.key_id) as source:  # what a local bootstrap leaves in testing's store
        token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        vault.wait_active(source.addr)
        populate(vault.client(source.addr, token), vault.backup_login(secrets_repo, "testing"), secrets_per_mount=3)
        manifest = vaultdrill.backup(testing, source.addr, None)
    text = (REPO / "docs" / "vault.md").read_text()
    block = re.search(r"<!-- local: vault-restore -->\n```bash\n(.*?)```", text, re.S)
    assert block is not None
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "CATTLE_VAULT_STORE"))}
    local = subprocess.Popen([sys.executable, str(REPO / "tasks.py"), "vault.local", "--env", "testing"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)
    try:
        assert local.stdout is not None
        port = re.search(r"http://127\.0\.0\.1:(\d+)", local.stdout.readline())
        assert port is not None
        said = []
        for line in block.group(1).splitlines():
            argv = line.split("#")[0].replace("PORT", port.group(1)).split()
            assert argv[0] == "./scripts/cattle"
            proc = subprocess.run([sys.executable, str(REPO / "tasks.py"), *argv[1:]], capture_output=True,
                                  text=True, check=False, timeout=300, env=environ)
            assert proc.returncode == 0, f"{line}\n{proc.stdout}{proc.stderr}"
            said.append(proc.stdout)
        assert manifest.id in said[0]
        assert said[1].startswith(f"snapshot {manifest.id} (") and "restored in" in said[1]
        assert said[2].startswith(f"OK: snapshot {manifest.id} (")
    finally:
        local.send_signal(signal.SIGINT)
        local.communicate(timeout=120)
