"""The Vault snapshot catalogue at its edges, on a directory store (no OpenBao): a date exactly at the clock-skew
allowance, a manifest missing one thing, retention keeping exactly `keep`, a snapshot one byte off, and what is
not a raft snapshot (issue 32, mutation survivors of cattle/vault/snapshots.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tarfile
import time
from pathlib import Path

import pytest
from pyrage import x25519

from cattle.errors import VaultError
from cattle.secrets.keys import Identity
from cattle.stores import FileStore
from cattle.vault import snapshots

KEY = x25519.Identity.generate()
IDENTITY = Identity(str(KEY), str(KEY.to_public()), "test")
NOW = float(snapshots.created_epoch("2026-11-10T00:00:00Z"))


def _manifest(snapshot_id: str, env: str = "testing", created: str = "2026-11-01T00:00:00Z", cluster: str = "",
              blob: bytes = b"", plaintext: bytes = b"") -> snapshots.Manifest:
    return snapshots.Manifest(snapshot_id, env, created, "2.7.2", len(blob), snapshots.sha256(blob),
                              snapshots.sha256(plaintext), [IDENTITY.public], "k1", "fp", snapshot_id,
                              cluster=cluster)


def _save(store: FileStore, snapshot_id: str, **fields: str) -> snapshots.Manifest:
    plaintext = f"raft {snapshot_id}".encode()
    blob = snapshots.encrypt(plaintext, [IDENTITY.public])
    manifest = _manifest(snapshot_id, blob=blob, plaintext=plaintext, **fields)
    snapshots.save(store, manifest, blob)
    return manifest


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(f"file://{tmp_path / 'vault'}", tmp_path / "vault")


def test_a_date_exactly_at_the_clock_skew_allowance_is_not_in_the_future_and_a_second_later_is() -> None:
    at_skew = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + snapshots.CLOCK_SKEW))
    past_skew = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + snapshots.CLOCK_SKEW + 1))
    assert snapshots.CLOCK_SKEW == 300
    assert snapshots.dated_in_the_future(_manifest("20261110T000500.000000Z-a", created=at_skew), NOW) is None
    why = snapshots.dated_in_the_future(_manifest("20261110T000501.000000Z-a", created=past_skew), NOW)
    assert why == ("dated in the future (id 20261110T000501.000000Z-a and created 2026-11-10T00:05:01Z; this "
                   "machine's clock says 2026-11-10T00:00:00Z): a copy given a wrong date, or a wrong clock")
    only_created = snapshots.dated_in_the_future(_manifest("20261101T000000.000000Z-a", created=past_skew), NOW)
    assert only_created is not None and only_created.startswith("dated in the future (created 2026-11-10T00:05:01Z;")
    only_id = snapshots.dated_in_the_future(_manifest("20261110T000501.000000Z-a"), NOW)
    assert only_id is not None and only_id.startswith("dated in the future (id 20261110T000501.000000Z-a;")


def test_a_new_id_starts_with_its_time_and_sorts_by_it() -> None:
    made = snapshots.new_id()
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}", made), made
    assert abs(snapshots.id_epoch(made) - time.time()) < 5


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_raft_snapshot_is_a_gzipped_tar_holding_meta_and_state() -> None:
    assert snapshots.raft_problem(_tar({"meta.json": b"{}", "state.bin": b"s"})) is None
    assert snapshots.raft_problem(b"") == "the file is empty"
    assert snapshots.raft_problem(b"\x1f") == "it is not gzip-compressed"
    assert snapshots.raft_problem(_tar({"meta.json": b"{}"})) == "it lacks state.bin"
    assert snapshots.raft_problem(_tar({"other": b""})) == "it lacks meta.json, state.bin"
    broken = snapshots.raft_problem(b"\x1f\x8b" + b"\x00" * 20)
    assert broken is not None and broken.startswith("it is not a readable gzip'd tar (")


def test_retention_keeps_exactly_keep_of_its_own_clusters_snapshots(store: FileStore) -> None:
    ids = [f"2026110{n}T000000.000000Z-a" for n in range(1, 5)]
    for snapshot_id in ids:
        _save(store, snapshot_id, cluster="c1")
    _save(store, "20261101T000000.000000Z-b", cluster="c2")
    assert snapshots.prune(store, "testing", 0, "c1") == []
    assert snapshots.prune(store, "testing", 4, "c1") == []
    assert snapshots.prune(store, "testing", 3, "c1") == ids[:1]
    assert snapshots.prune(store, "testing", 1, "c1") == ids[1:3]
    assert sorted(store.keys()) == sorted([f"{i}{s}" for i in (ids[3], "20261101T000000.000000Z-b")
                                           for s in (snapshots.MANIFEST_SUFFIX, snapshots.SNAPSHOT_SUFFIX)])


def test_a_manifest_missing_one_thing_is_unreadable_for_that_reason(store: FileStore) -> None:
    good = _save(store, "20261101T000000.000000Z-a")
    name = good.id + snapshots.MANIFEST_SUFFIX
    assert snapshots.read_manifest(store, name) == good
    raw = json.loads(store.get(name))

    def broken(change: dict[str, object], drop: str = "") -> str:
        body = {k: v for k, v in {**raw, **change}.items() if k != drop}
        store.put(name, json.dumps(body).encode())
        with pytest.raises(VaultError) as raised:
            snapshots.read_manifest(store, name)
        return raised.value.message.removeprefix(f"manifest {name} ")

    assert broken({}, drop="canary") == "lacks canary (truncated or not cattle's)"
    assert broken({"size": "12"}) == "has no usable size/sha256"
    assert broken({"sha256": ""}) == "has no usable size/sha256"
    assert broken({"id": "20261101T000000.000000Z-b"}) == ("names snapshot '20261101T000000.000000Z-b', not the one "
                                                          "it is stored as")
    assert broken({"created": "2026-11-01 00:00:00"}).startswith("has a malformed created time")
    store.put(name, b"[1]")
    with pytest.raises(VaultError, match="is not a JSON object"):
        snapshots.read_manifest(store, name)
    store.put(name, json.dumps({k: v for k, v in raw.items() if k != "cluster"}).encode())
    assert snapshots.read_manifest(store, name).cluster == ""  # a field with a default may be absent


def test_an_id_not_starting_with_its_time_is_unreadable(store: FileStore) -> None:
    name = "snapshot-a" + snapshots.MANIFEST_SUFFIX
    store.put(name, _manifest("snapshot-a").to_json())
    with pytest.raises(VaultError, match="has an id that does not start with its time"):
        snapshots.read_manifest(store, name)


def test_a_snapshot_one_byte_off_or_decrypting_to_other_bytes_is_refused(store: FileStore) -> None:
    manifest = _save(store, "20261101T000000.000000Z-a")
    assert snapshots.load(store, manifest, [IDENTITY]) == b"raft 20261101T000000.000000Z-a"
    with pytest.raises(VaultError, match="is corrupt or truncated"):
        snapshots.load(store, dataclasses.replace(manifest, size=manifest.size + 1), [IDENTITY])
    with pytest.raises(VaultError, match="is corrupt or truncated"):
        snapshots.load(store, dataclasses.replace(manifest, sha256="0" * 64), [IDENTITY])
    with pytest.raises(VaultError, match="decrypted to different bytes"):
        snapshots.load(store, dataclasses.replace(manifest, snapshot_sha256="0" * 64), [IDENTITY])
    stranger = x25519.Identity.generate()
    other = Identity(str(stranger), str(stranger.to_public()), "other")
    assert snapshots.opens(store, manifest, [IDENTITY]) is None
    assert snapshots.opens(store, manifest, [other]) == ("its data is encrypted for no key on this machine "
                                                         "(whatever its manifest says)")
    with pytest.raises(VaultError, match=f"tried {other.public}"):
        snapshots.load(store, manifest, [other])


def test_the_catalogue_sorts_every_object_and_names_at_most_five_doubts(store: FileStore) -> None:
    mine = _save(store, "20261101T000000.000000Z-a")
    _save(store, "20261102T000000.000000Z-a", env="staging")
    store.put("20261103T000000.000000Z-a" + snapshots.SNAPSHOT_SUFFIX, b"data without a manifest")
    for n in range(4):
        store.put(f"stray-{n}", b"?")
    catalog = snapshots.scan(store, "testing", now=NOW, keys=[IDENTITY.public])
    assert catalog.valid == (mine,) and [m.env for m in catalog.foreign] == ["staging"]
    assert len(catalog.doubts) == 6
    assert catalog.describe_doubts().endswith(" (and 1 more)")
    assert catalog.describe_doubts(limit=6).count("; ") == 5 and "more" not in catalog.describe_doubts(limit=6)
    elsewhere = snapshots.scan(store, "testing", now=NOW, keys=["age1notmine"])
    assert elsewhere.valid == () and [m.id for m, _ in elsewhere.undecryptable] == [mine.id]
    assert snapshots.find(store, "testing") == mine
    with pytest.raises(VaultError, match="belongs to environment 'staging', not 'testing'"):
        snapshots.find(store, "testing", "20261102T000000.000000Z-a")


def test_a_manifests_age_is_the_seconds_since_it_was_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots.time, "time", lambda: NOW)
    assert _manifest("20261109T230000.000000Z-a", created="2026-11-09T23:00:00Z").age_seconds == 3600.0


def test_a_new_ids_fraction_is_the_microseconds_of_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots.time, "time", lambda: NOW + 0.25)
    assert snapshots.new_id().startswith("20261110T000000.250000Z-")


def test_data_for_many_other_keys_is_caught_from_a_header_longer_than_a_kilobyte(store: FileStore) -> None:
    """21 recipients make a header of about 2.3 KB: read whole (HEADER_BYTES, 64 KiB), it says no key here opens
    it; cut short, age could not even parse it, and the check would pass it."""
    strangers = [str(x25519.Identity.generate().to_public()) for _ in range(21)]
    plaintext = b"raft snapshot for others"
    blob = snapshots.encrypt(plaintext, strangers)
    assert len(blob) > 2048
    manifest = _manifest("20261101T000000.000000Z-a", blob=blob, plaintext=plaintext)
    snapshots.save(store, manifest, blob)
    assert snapshots.opens(store, manifest, [IDENTITY]) == ("its data is encrypted for no key on this machine "
                                                           "(whatever its manifest says)")
