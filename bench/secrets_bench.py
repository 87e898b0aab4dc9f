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
    print(f"sops encrypt: {COUNT} secrets in {encrypt_s:.2f}s ({1000 * encrypt_s / COUNT:.0f} ms each)")
    print(f"sops decrypt: {COUNT} secrets in {decrypt_s:.2f}s ({1000 * decrypt_s / COUNT:.0f} ms each)")


if __name__ == "__main__":
    main()
