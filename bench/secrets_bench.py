"""Benchmark: encrypt and decrypt 100 Secret manifests with the real sops and an age key; prints timings."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cattle.paths import write_atomic
from cattle.secrets import keys, sopsconfig, sopsfile

COUNT = 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        identity = keys.write_new_key(root / "key.txt")
        os.environ.pop("SOPS_AGE_KEY", None)
        (root / "secrets/bench").mkdir(parents=True)
        sopsconfig.write(root, {"bench": identity.public})
        paths = [Path(f"secrets/bench/s{i:03}.secret.yaml") for i in range(COUNT)]
        started = time.monotonic()
        for i, relpath in enumerate(paths):
            plain = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: bench\n"
                     f"stringData:\n  password: value-{i}\n").encode()
            write_atomic(root / relpath, sopsfile.encrypt(root, relpath, plain))
        encrypt_s = time.monotonic() - started
        started = time.monotonic()
        for i, relpath in enumerate(paths):
            assert f"value-{i}".encode() in sopsfile.decrypt(root, relpath, [identity])
        decrypt_s = time.monotonic() - started
        env_files = paths[:6]  # one environment's secret files
        sequential, parallel = [], []
        for _ in range(3):
            started = time.monotonic()
            for relpath in env_files:
                sopsfile.decrypt(root, relpath, [identity])
            sequential.append(time.monotonic() - started)
            started = time.monotonic()
            results = sopsfile.decrypt_all(root, env_files, [identity])
            parallel.append(time.monotonic() - started)
            assert all(isinstance(r, bytes) for r in results.values())
    print(f"sops encrypt: {COUNT} secrets in {encrypt_s:.2f}s ({1000 * encrypt_s / COUNT:.0f} ms each)")
    print(f"one environment (6 files): one after another best {min(sequential):.2f}s, "
          f"{sopsfile.DECRYPT_WORKERS} at once best {min(parallel):.2f}s; ratio {min(parallel) / min(sequential):.2f} "
          f"(target: <= 0.3 s)")
    print(f"sops decrypt: {COUNT} secrets in {decrypt_s:.2f}s ({1000 * decrypt_s / COUNT:.0f} ms each)")


if __name__ == "__main__":
    main()
