"""Benchmark: back up and restore 10,000 KV secrets with real OpenBao servers on 127.0.0.1.

Prints the time to write, back up, and restore+unseal+verify onto a fresh server (target: under 15 s).
"""

from __future__ import annotations

import secrets as random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cattle.secrets.keys import write_new_key
from cattle.stores import FileStore
from cattle.vault import openbao as vault
from cattle.vault.server import BaoServer

COUNT = 10_000
TARGET_SECONDS = 15.0


def main() -> None:
    seal = vault.SealMaterial(random.token_hex(32))
    login = vault.Login("cattle-backup", random.token_hex(16))
    with tempfile.TemporaryDirectory() as tmp:
        identity = write_new_key(Path(tmp) / "key.txt")
        store = FileStore("file://bench", Path(tmp) / "store")
        with BaoServer(seal.key_hex, seal.key_id) as source:
            token = vault.client(source.addr).sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
            vault.wait_active(source.addr)
            root = vault.client(source.addr, token)
            vault.configure(root, login)
            root.sys.enable_secrets_engine("kv", path="bench", options={"version": "2"})
            started = time.monotonic()

            def write(i: int) -> None:
                vault.client(source.addr, token).secrets.kv.v2.create_or_update_secret(
                    path=f"team{i % 50}/secret{i}", mount_point="bench", secret={"value": f"v{i}"})

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(write, range(COUNT)))
            print(f"wrote {COUNT} secrets in {time.monotonic() - started:.1f}s")
            started = time.monotonic()
            manifest = vault.backup(source.addr, "bench", store, [identity.public], seal, login, keep=3)
            backup_s = time.monotonic() - started
        print(f"backup: {backup_s:.2f}s, snapshot {manifest.size / 1e6:.1f} MB encrypted")
        started = time.monotonic()
        with BaoServer(seal.key_hex, seal.key_id) as target:
            report = vault.restore(target.addr, "bench", store, [identity], seal, login)
        total = time.monotonic() - started
    assert report.counts["kv_secrets"] == COUNT + 1, report.counts
    print(f"restore onto a fresh server (start, init, restore, unseal, verify canary and counts): {total:.2f}s")
    print(f"target {TARGET_SECONDS:.0f}s: {total / TARGET_SECONDS:.2f} of budget")


if __name__ == "__main__":
    main()
