"""Fail closed: no bad store content, unreachable store or missing decision turns a restore into an empty start.

The property tests write real store contents (age-encrypted snapshots, manifests, barman backup.info files) in
every mix and run the same functions bootstrap runs at preflight (`vaultdrill.plan_vault`, `database.decide`),
then load what was chosen exactly as the restore does.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyrage import x25519

from cattle import env
from cattle.bootstrap import rebuild as bootstrap
from cattle.database import backups as database
from cattle.errors import DatabaseError, StoreError, VaultError
from cattle.secrets.keys import Identity
from cattle.stores import FileStore, open_store
from cattle.vault import restore as vaultdrill
from cattle.vault import snapshots

ENV = "production"
KEY = x25519.Identity.generate()
IDENTITY = Identity(str(KEY), str(KEY.to_public()), "test")


@dataclass
class FlakyStore(FileStore):
    """A directory store in which some objects cannot be read (403, a broken disk block)."""

    broken: set[str] = field(default_factory=set)

    def get(self, name: str) -> bytes:
        if name in self.broken:
            raise StoreError(f"download {name} failed on {self.url}: AccessDenied")
        return super().get(name)


def _snapshot_id(n: int) -> str:
    return f"2026110{1 + n % 9}T00{n // 60:02d}{n % 60:02d}.000000Z-abc{n:03d}"


STRANGER = x25519.Identity.generate()  # a key this machine does not hold


def _write_snapshot(store: FlakyStore, snapshot_id: str, env_name: str = ENV, created: str = "2026-11-01T00:00:00Z",
                    recipient: str = IDENTITY.public) -> None:
    plaintext = f"raft snapshot {snapshot_id}".encode()
    blob = snapshots.encrypt(plaintext, [recipient])
    manifest = snapshots.Manifest(snapshot_id, env_name, created, "2.7.2", len(blob),
                                  snapshots.sha256(blob), snapshots.sha256(plaintext), [recipient], "k1",
                                  "fp", snapshot_id)
    snapshots.save(store, manifest, blob)


KINDS = ("valid", "corrupt_blob", "truncated_manifest", "garbage_manifest", "foreign", "missing_manifest",
         "unreadable_manifest", "stray", "wrong_id", "future_id", "future_created", "malformed_created",
         "undecryptable", "lying_recipients")
READABLE = {"valid", "corrupt_blob"}  # a manifest of this env that reads whole, dated in the past, for a key at hand
FUTURE = {"future_id", "future_created"}  # reads whole, but dated in the future: stops a restore of the newest


def _fill(store: FlakyStore, entries: list[tuple[str, int]]) -> dict[str, str]:
    """Write one object set per entry; returns {snapshot id: kind}."""
    made: dict[str, str] = {}
    for kind, n in entries:
        snapshot_id = _snapshot_id(n)
        if kind == "future_id":  # a copy of an older snapshot given an id in 2099
            snapshot_id = "2099" + snapshot_id[4:]
        if snapshot_id in made:
            continue
        made[snapshot_id] = kind
        manifest_name = snapshot_id + snapshots.MANIFEST_SUFFIX
        if kind == "stray":
            store.put(f"notes-{n}.txt", b"someone's copy")
            continue
        created = {"future_created": "2099-01-01T00:00:00Z", "malformed_created": "yesterday"}.get(
            kind, "2026-11-01T00:00:00Z")
        recipient = str(STRANGER.to_public()) if kind == "undecryptable" else IDENTITY.public
        _write_snapshot(store, snapshot_id, "staging" if kind == "foreign" else ENV, created, recipient)
        if kind == "lying_recipients":  # the manifest names our key, the data is encrypted for another
            blob = snapshots.encrypt(f"raft snapshot {snapshot_id}".encode(), [str(STRANGER.to_public())])
            store.put(snapshot_id + snapshots.SNAPSHOT_SUFFIX, blob)
            raw = json.loads(store.get(manifest_name))
            raw.update(size=len(blob), sha256=snapshots.sha256(blob))
            store.put(manifest_name, json.dumps(raw).encode())
        path = store.directory / manifest_name
        if kind == "corrupt_blob":
            blob = store.directory / (snapshot_id + snapshots.SNAPSHOT_SUFFIX)
            blob.write_bytes(blob.read_bytes()[:-7] + b"damaged")
        elif kind == "truncated_manifest":
            path.write_bytes(path.read_bytes()[:40])
        elif kind == "garbage_manifest":
            path.write_bytes(b"\x00\xffnot json")
        elif kind == "missing_manifest":
            path.unlink()
        elif kind == "unreadable_manifest":
            store.broken.add(manifest_name)
        elif kind == "wrong_id":
            raw = json.loads(path.read_bytes())
            raw["id"] = _snapshot_id(n + 50)
            path.write_text(json.dumps(raw))
    return made


entries_strategy = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 30)), max_size=8)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> env.Environment:
    return env.load(ENV)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries_strategy, allow_empty=st.booleans(), protected=st.booleans())
@example(entries=[("valid", 1), ("lying_recipients", 2)], allow_empty=False, protected=True)
@example(entries=[("valid", 1), ("undecryptable", 2)], allow_empty=False, protected=True)
@example(entries=[("valid", 1), ("future_id", 0), ("foreign", 3)], allow_empty=True, protected=False)
def test_vault_never_starts_empty_over_a_backup_and_restores_only_the_newest_valid(
        production: env.Environment, entries: list[tuple[str, int]], allow_empty: bool, protected: bool) -> None:
    environment = env.Environment(**{**production.__dict__, "protected": protected})
    with tempfile.TemporaryDirectory() as tmp:
        store = FlakyStore("file://store", Path(tmp))
        made = _fill(store, entries)
        decision = vaultdrill.plan_vault(environment, allow_empty, store=store, identities=[IDENTITY])
        # a lying manifest reads whole and names our key: only its data shows it is not ours, and only the newest
        # snapshot's data is looked at before planning
        claimed = sorted(i for i, kind in made.items() if kind in READABLE or kind == "lying_recipients")
        lying_newest = bool(claimed) and made[claimed[-1]] == "lying_recipients"
        readable = sorted(i for i, kind in made.items() if kind in READABLE or
                          (kind == "lying_recipients" and i != claimed[-1]))
        doubts = [i for i, kind in made.items() if kind not in READABLE and kind != "lying_recipients"]
        locked = [i for i, kind in made.items() if kind == "undecryptable"]  # for a key this machine lacks
        if lying_newest:
            assert decision.action == "refuse" and "encrypted for no key on this machine" in decision.reason
        elif any(i > (readable[-1] if readable else "") for i in locked):  # never an older one in its place
            assert decision.action == "refuse" and "cannot be decrypted with the keys on this machine" in \
                decision.reason
        elif any(kind in FUTURE for kind in made.values()):
            assert decision.action == "refuse" and "dated in the future" in decision.reason
            assert all(i in decision.reason for i, kind in made.items() if kind in FUTURE)
        elif readable:
            assert decision.action == "restore" and decision.snapshot == readable[-1]
            manifest = snapshots.find(store, ENV, decision.snapshot)
            try:
                plaintext = snapshots.load(store, manifest, [IDENTITY])
            except VaultError as exc:
                assert (made[decision.snapshot], exc.message.split(" ")[2]) in (
                    ("corrupt_blob", "is"), ("undecryptable", "cannot"))
            else:
                assert plaintext == f"raft snapshot {decision.snapshot}".encode()
        elif doubts and not allow_empty:
            assert decision.action == "refuse" and "cannot account for" in decision.reason
        elif protected and not allow_empty:
            assert decision.action == "refuse" and "refusing to start" in decision.reason
        else:
            assert decision.action == "initialise"
        assert decision.action != "initialise" or not readable


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries_strategy, pick=st.integers(0, 30))
def test_a_named_snapshot_restores_whatever_else_the_store_holds(
        production: env.Environment, entries: list[tuple[str, int]], pick: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = FlakyStore("file://store", Path(tmp))
        made = _fill(store, [*entries, ("valid", pick)])
        wanted = _snapshot_id(pick)
        decision = vaultdrill.plan_vault(production, snapshot=wanted, store=store, identities=[IDENTITY])
        if made[wanted] in READABLE | FUTURE:  # the operator named it: a future date does not stop it, a key does
            assert (decision.action, decision.snapshot) == ("restore", wanted)
        else:
            assert decision.action == "refuse" and wanted in decision.reason


DB_KINDS = ("done", "failed", "no_info", "wal_only", "unreadable_info", "stray")


def _fill_database(store: FlakyStore, entries: list[tuple[str, int, int]]) -> set[tuple[int, str]]:
    """Barman layout per entry (kind, generation, backup number); returns the complete backups."""
    complete: set[tuple[int, str]] = set()
    for kind, generation, number in entries:
        server = f"{database.CLUSTER}-g{generation}"
        backup_id = f"20261101T0000{number:02d}"
        if kind == "stray":
            store.put(f"someone-else/{number}.tar", b"x")
        elif kind == "wal_only":
            store.put(f"{server}/wals/0000000100000000/00000001000000000000000{number % 9}", b"wal")
        else:
            store.put(f"{server}/base/{backup_id}/data.tar", b"base")
            if kind != "no_info":
                status = "DONE" if kind in ("done", "unreadable_info") else "FAILED"
                store.put(f"{server}/base/{backup_id}/backup.info",
                          f"status={status}\nend_time=2026-11-01 00:00:{number:02d}\nsize=4\n".encode())
            if kind == "unreadable_info":
                store.broken.add(f"{server}/base/{backup_id}/backup.info")
            if kind == "done":
                complete.add((generation, backup_id))
            elif kind != "no_info":  # an entry for the same backup id replaces its backup.info
                complete.discard((generation, backup_id))
    return complete


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.tuples(st.sampled_from(DB_KINDS), st.integers(1, 4), st.integers(0, 20)), max_size=8),
       protected=st.booleans())
@example(entries=[("done", 1, 0), ("failed", 1, 0)], protected=False)  # a later upload of the same backup id failed
@example(entries=[("done", 1, 0), ("done", 1, 1), ("failed", 1, 1)], protected=True)
def test_database_never_starts_empty_over_a_backup_and_recovers_only_the_newest(
        entries: list[tuple[str, int, int]], protected: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = FlakyStore("file://db", Path(tmp))
        complete = _fill_database(store, entries)
        generations = {g for kind, g, _ in entries if kind != "stray"}
        newest = max(generations, default=None)
        unreadable = any(kind == "unreadable_info" and g == newest for kind, g, _ in entries)
        try:
            decision = database.decide(store, ENV, protected=protected)
        except DatabaseError:
            # stopping is right only when there is doubt: no complete backup of the newest generation that can
            # be read, something in the store that is not a generation, or a protected env with nothing at all
            assert (newest is None and (store.keys() or protected)) or unreadable or \
                not any(g == newest for g, _ in complete)
            return
        assert not store.keys() or decision.mode == "recovery"
        if decision.mode == "recovery":
            assert decision.backup is not None
            newest_generation = max(g for kind, g, _ in entries if kind != "stray")
            assert decision.source == newest_generation
            assert (decision.source, decision.backup.backup_id) in complete
            assert decision.backup.backup_id == max(b for g, b in complete if g == newest_generation)
        else:
            assert not complete and not protected


def test_one_truncated_manifest_hides_nothing(production: env.Environment, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = FlakyStore("file://store", tmp_path)
    _fill(store, [("valid", 1), ("truncated_manifest", 2)])
    decision = vaultdrill.plan_vault(production, store=store, identities=[IDENTITY])
    assert (decision.action, decision.snapshot) == ("restore", _snapshot_id(1))
    assert f"{_snapshot_id(2)}.manifest.json: unreadable manifest" in decision.reason
    snapshots.find(store, ENV)
    assert f"{_snapshot_id(2)}.manifest.json" in capsys.readouterr().err


def test_a_truncated_manifest_alone_blocks_initialising_even_an_unprotected_env(
        production: env.Environment, tmp_path: Path) -> None:
    staging = env.Environment(**{**production.__dict__, "name": ENV, "protected": False})
    store = FlakyStore("file://store", tmp_path)
    _fill(store, [("truncated_manifest", 3)])
    decision = vaultdrill.plan_vault(staging, store=store, identities=[IDENTITY])
    assert decision.action == "refuse"
    assert f"{_snapshot_id(3)}.manifest.json: unreadable manifest (is not valid JSON" in decision.reason
    assert "--allow-empty-vault" in (decision.hint or "")
    with pytest.raises(VaultError, match="no readable snapshot of production"):
        snapshots.find(store, ENV)


def test_snapshot_data_without_a_manifest_is_a_doubt(production: env.Environment, tmp_path: Path) -> None:
    store = FlakyStore("file://store", tmp_path)
    _fill(store, [("missing_manifest", 4)])
    decision = vaultdrill.plan_vault(production, allow_empty=False, store=store, identities=[IDENTITY])
    assert decision.action == "refuse" and "vault.import" in decision.reason


def test_an_unreachable_store_fails_preflight_for_vault_and_database(
        secrets_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint answers (as with DNS failure, no credentials or a 403): never taken for an empty store."""
    from cattle.vault.server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("CATTLE_DB_STORE")
    planned = bootstrap.plan("staging", bootstrap.Options(provider="kubeconfig", dry_run=True))
    assert planned.blocked is not None
    message = planned.blocked.message
    assert "vault store: cannot read the Vault backup store s3://cattle-backups/staging/vault" in message
    assert "database store: cannot read the database backup store s3://cattle-backups/staging/postgres" in message
    assert "initialise a fresh OpenBao" not in planned.plan.render()


def test_missing_credentials_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from cattle.vault.server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # never a public address
    store = open_store("s3://cattle-backups/staging/vault")
    with pytest.raises(StoreError, match="Unable to locate credentials"):
        snapshots.scan(store, "staging")


def test_a_protected_env_without_cattles_decision_does_not_build_its_database() -> None:
    """A plain Flux bootstrap (no cattle-bootstrap ConfigMap) must not start production's database empty."""
    from cattle.manifests.render import render

    production = env.load("production")
    refusal = "REFUSED-cattle-bootstrap-ConfigMap-missing-so-feeds-db-would-start-empty"
    problems = [p for p in render(production).problems if refusal in p.message]
    assert problems and problems[0].object == "Kustomization flux-system/apps"
    decided = render(production, database.Decision("recovery", 3, 2, None, "").variables)
    assert not decided.problems
    testing = render(env.load("testing"))  # a throwaway env keeps the initdb default
    assert not testing.problems


def test_a_repository_without_a_commit_says_so(repo_copy: Path, key_home: Path) -> None:
    import subprocess

    from cattle.errors import ConfigError

    subprocess.run(["git", "init", "-q", str(repo_copy)], check=True)
    with pytest.raises(ConfigError) as caught:
        bootstrap.run("staging", bootstrap.Options(provider="kubeconfig", dry_run=True))
    assert "a git repository without a commit yet" in caught.value.message
    assert "git commit" in (caught.value.hint or "")


def test_secrets_check_with_only_a_wrong_key_says_it_is_the_wrong_one(secrets_repo: Path) -> None:
    from cattle.secrets import check as secretcheck
    from cattle.secrets import keys

    keys.key_file("staging").unlink()
    keys.write_new_key(keys.key_file("staging"))  # a key is here, but not the one the files are encrypted for
    problems, notes = secretcheck.check(secrets_repo, ["staging"])
    assert problems and {p.rule for p in problems} == {"key"}
    assert "is the wrong one: the file is encrypted for" in problems[0].message
    assert not notes


def test_validate_requires_every_protected_env_to_refuse_the_git_default(repo_copy: Path) -> None:
    """Planted: staging made protected without the protected-database component (the git default starts initdb)."""
    from cattle.manifests import validate

    path = repo_copy / "clusters/staging/environment.yaml"
    path.write_text(path.read_text().replace("protected: false\n", "protected: true\n"))
    [report] = validate.validate(["staging"], repo_copy)
    [problem] = [p for p in report.problems if p.rule == "protected-database"]
    assert "'initdb'" in problem.message and "protected-database" in problem.hint
    [production] = validate.validate(["production"], repo_copy)
    assert not [p for p in production.problems if p.rule == "protected-database"]


def test_a_protected_env_without_a_database_store_is_a_doubt(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.delenv("CATTLE_DB_STORE", raising=False)
    production = env.load("production")
    bare = replace(production, backups=replace(production.backups, database_store=None))
    decision, check = bootstrap.plan_database(bare, allow_empty=False)
    assert decision is None and check is not None and not check.ok
    assert "names no database backup store" in check.detail and "--allow-empty-database" in (check.hint or "")
    chosen, none = bootstrap.plan_database(bare, allow_empty=True)  # the explicit flag may start empty
    assert none is None and chosen is not None and chosen.mode == "initdb"
    unprotected = replace(bare, protected=False)
    assert bootstrap.plan_database(unprotected, allow_empty=False)[0] is not None


def test_a_copy_dated_in_the_future_never_wins_newest(production: env.Environment, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Fail closed, round two (3): an older snapshot copied under a 2099 id stops the restore of the newest (and
    vault.verify's), unless the operator names a snapshot; a malformed `created` is a named doubt."""
    store = FlakyStore("file://store", tmp_path)
    _fill(store, [("valid", 1), ("valid", 2), ("future_id", 1), ("malformed_created", 3)])
    copy = "2099" + _snapshot_id(1)[4:]
    decision = vaultdrill.plan_vault(production, store=store, identities=[IDENTITY])
    assert decision.action == "refuse"
    assert f"{copy}: dated in the future (id {copy}" in decision.reason and "--snapshot ID" in (decision.hint or "")
    with pytest.raises(VaultError, match="dated in the future"):
        snapshots.find(store, ENV)
    named = vaultdrill.plan_vault(production, snapshot=_snapshot_id(2), store=store, identities=[IDENTITY])
    assert (named.action, named.snapshot) == ("restore", _snapshot_id(2))
    catalog = snapshots.scan(store, ENV)
    assert [m.id for m in catalog.valid] == [_snapshot_id(1), _snapshot_id(2)]
    assert (f"{_snapshot_id(3)}.manifest.json: unreadable manifest (has a malformed created time 'yesterday'"
            in catalog.describe_doubts())
    skewed = snapshots.scan(store, ENV, now=snapshots.id_epoch(copy))  # a clock that is right about 2099
    assert skewed.newest is not None and skewed.newest.id == copy


def test_retention_never_keeps_a_future_dated_copy_in_place_of_a_real_snapshot(tmp_path: Path) -> None:
    """Fail closed, round two (3): keep 1 keeps the newest real snapshot; the 2099 copy is neither counted nor
    deleted (it is a doubt, for a person to look at)."""
    store = FlakyStore("file://store", tmp_path)
    _fill(store, [("valid", 1), ("valid", 2), ("future_id", 1), ("future_created", 4)])
    assert snapshots.prune(store, ENV, keep=1) == [_snapshot_id(1)]
    left = {n.removesuffix(snapshots.MANIFEST_SUFFIX) for n in store.names() if n.endswith(snapshots.MANIFEST_SUFFIX)}
    assert left == {_snapshot_id(2), "2099" + _snapshot_id(1)[4:], _snapshot_id(4)}


def test_the_cronjobs_retention_never_keeps_a_future_dated_copy(s3_endpoint: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed, round two (3): the CronJob's upload.py (keep 1) against a real S3-compatible store."""
    import os
    import subprocess
    import sys

    from cattle.stores import S3Store, s3_client
    from tests.conftest import REPO

    store = S3Store("s3://backups/future", "backups", "future", s3_client(s3_endpoint))
    for snapshot_id, created in ((_snapshot_id(1), "2026-11-01T00:00:00Z"),
                                 ("2099" + _snapshot_id(2)[4:], "2026-11-01T00:00:00Z"),
                                 (_snapshot_id(3), "2099-01-01T00:00:00Z")):
        plaintext = snapshot_id.encode()
        blob = snapshots.encrypt(plaintext, [IDENTITY.public])
        snapshots.save(store, snapshots.Manifest(snapshot_id, ENV, created, "2.6.2", len(blob),
                                                 snapshots.sha256(blob), snapshots.sha256(plaintext),
                                                 [IDENTITY.public], "cattle-seal-1", "fp", snapshot_id), blob)
    work = tmp_path / "work"
    work.mkdir()
    now = snapshots.new_id()
    (work / "snapshot").write_bytes(b"raft")
    (work / "id").write_text(now)
    (work / "seal.key").write_text("00" * 32)
    job = {**os.environ, "WORK_DIR": str(work), "AGE_RECIPIENTS": IDENTITY.public, "ENVIRONMENT": ENV,
           "SEAL_KEY_FILE": str(work / "seal.key"), "VAULT_BACKUP_STORE": "s3://backups/future",
           "AWS_ENDPOINT_URL": s3_endpoint, "KEEP": "1"}
    script = REPO / "platform/configs/base/openbao-backup/upload.py"
    subprocess.run([sys.executable, str(script)], env=job, check=True, timeout=60)
    left = {m.id for m in snapshots.manifests(store)}
    assert now in left and _snapshot_id(1) not in left
    assert {"2099" + _snapshot_id(2)[4:], _snapshot_id(3)} <= left  # left alone, for a person to look at


def _write_cluster_snapshot(store: FileStore, snapshot_id: str, env_name: str, cluster: str) -> None:
    plaintext = snapshot_id.encode()
    blob = snapshots.encrypt(plaintext, [IDENTITY.public])
    snapshots.save(store, snapshots.Manifest(snapshot_id, env_name, "2026-11-01T00:00:00Z", "2.6.2", len(blob),
                                             snapshots.sha256(blob), snapshots.sha256(plaintext), [IDENTITY.public],
                                             "cattle-seal-1", "fp", snapshot_id, cluster=cluster), blob)


def test_retention_touches_only_its_own_environments_and_clusters_snapshots(tmp_path: Path) -> None:
    """Fail closed, round two (2): staging's keep 1 on a store it shares with testing by mistake."""
    store = FlakyStore("file://shared", tmp_path)
    for n in (1, 2, 3):
        _write_cluster_snapshot(store, _snapshot_id(n), "testing", "cattle-testing")
    _write_cluster_snapshot(store, _snapshot_id(4), "staging", "cattle-staging-old")
    _write_cluster_snapshot(store, _snapshot_id(5), "staging", "cattle-staging")
    _write_cluster_snapshot(store, _snapshot_id(6), "staging", "cattle-staging")
    assert snapshots.prune(store, "staging", keep=1, cluster="cattle-staging") == [_snapshot_id(5)]
    left = {m.id for m in snapshots.manifests(store)}
    assert left == {_snapshot_id(n) for n in (1, 2, 3, 4, 6)}


def test_the_cronjobs_retention_touches_only_its_own_environments_snapshots(s3_endpoint: str, tmp_path: Path) -> None:
    """Fail closed, round two (2): the CronJob's upload.py as staging (keep 1) on a prefix testing writes to."""
    import os
    import subprocess
    import sys

    from cattle.stores import S3Store, s3_client
    from tests.conftest import REPO

    store = S3Store("s3://backups/shared", "backups", "shared", s3_client(s3_endpoint))
    for n in (1, 2):
        _write_cluster_snapshot(store, _snapshot_id(n), "testing", "cattle-testing")  # type: ignore[arg-type]
    _write_cluster_snapshot(store, _snapshot_id(3), "staging", "cattle-staging")  # type: ignore[arg-type]
    work = tmp_path / "work"
    work.mkdir()
    now = snapshots.new_id()
    (work / "snapshot").write_bytes(b"raft")
    (work / "id").write_text(now)
    (work / "seal.key").write_text("00" * 32)
    job = {**os.environ, "WORK_DIR": str(work), "AGE_RECIPIENTS": IDENTITY.public, "ENVIRONMENT": "staging",
           "CLUSTER_NAME": "cattle-staging", "SEAL_KEY_FILE": str(work / "seal.key"),
           "VAULT_BACKUP_STORE": "s3://backups/shared", "AWS_ENDPOINT_URL": s3_endpoint, "KEEP": "1"}
    script = REPO / "platform/configs/base/openbao-backup/upload.py"
    subprocess.run([sys.executable, str(script)], env=job, check=True, timeout=60, capture_output=True)
    kept = {m.id: m for m in snapshots.manifests(store)}
    assert set(kept) == {_snapshot_id(1), _snapshot_id(2), now}
    assert (kept[now].env, kept[now].cluster) == ("staging", "cattle-staging")


def test_another_environments_snapshot_in_the_store_is_a_named_doubt(production: env.Environment,
                                                                    tmp_path: Path) -> None:
    """Fail closed, round two (2): an unprotected env whose store holds only staging's snapshots does not start an
    empty OpenBao over them; the doubt names the snapshot and its environment."""
    unprotected = env.Environment(**{**production.__dict__, "protected": False})
    store = FlakyStore("file://store", tmp_path)
    _write_cluster_snapshot(store, _snapshot_id(7), "staging", "cattle-staging")
    decision = vaultdrill.plan_vault(unprotected, store=store, identities=[IDENTITY])
    assert decision.action == "refuse"
    assert (f"{_snapshot_id(7)}.manifest.json: a snapshot of environment 'staging' (cluster cattle-staging): this "
            "store is shared with another environment") in decision.reason


def test_validate_refuses_environments_sharing_a_backup_store(repo_copy: Path) -> None:
    """Fail closed, round two (2): testing's Vault store set to a prefix of staging's."""
    import re

    from cattle.manifests import validate

    path = repo_copy / "clusters/testing/environment.yaml"
    path.write_text(re.sub(r"(?m)^  vault: .*$", "  vault: s3://cattle-backups/staging", path.read_text()))
    shared = validate.shared_store_problems(repo_copy)
    assert sorted(shared) == ["staging", "testing"]
    messages = [p.message for p in shared["testing"] if p.object == "backup store s3://cattle-backups/staging"]
    assert "testing's backup store s3://cattle-backups/staging overlaps staging's s3://cattle-backups/staging/vault " \
           "(vault)" in "\n".join(messages)
    assert {p.rule for p in shared["testing"]} == {"shared-store"}
    [report] = validate.validate(["testing"], repo_copy)
    assert any(p.rule == "shared-store" for p in report.problems)
    assert not validate.shared_store_problems(REPO_ROOT)  # the repository as shipped shares none


REPO_ROOT = Path(__file__).resolve().parent.parent
