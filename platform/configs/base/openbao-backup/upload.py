"""In-cluster half of the OpenBao backup CronJob: encrypt the snapshot the `snapshot` init container saved,
upload it with its manifest to S3, keep the newest KEEP. Same format as `./scripts/cattle vault.backup` (cattle/vault/snapshots.py),
so `./scripts/cattle vault.restore` and `vault.verify` read what this writes. Needs pyrage and boto3 (pinned in the CronJob)."""

import calendar
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pyrage
from pyrage import x25519

WORK = Path(os.environ.get("WORK_DIR", "/work"))


def main() -> None:
    snapshot = (WORK / "snapshot").read_bytes()
    snapshot_id = (WORK / "id").read_text().strip()
    recipients = [r.strip() for r in os.environ["AGE_RECIPIENTS"].split(",") if r.strip()]
    blob = bytes(pyrage.encrypt(snapshot, [x25519.Recipient.from_str(r) for r in recipients]))
    seal_key = bytes.fromhex(Path(os.environ["SEAL_KEY_FILE"]).read_text().strip())
    manifest = {
        "format": 1, "id": snapshot_id, "env": os.environ["ENVIRONMENT"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "openbao_version": (WORK / "version").read_text().strip() if (WORK / "version").exists() else "unknown",
        "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
        "snapshot_sha256": hashlib.sha256(snapshot).hexdigest(), "recipients": recipients,
        "seal_key_id": os.environ.get("SEAL_KEY_ID", "cattle-seal-1"),
        "seal_key_fingerprint": hashlib.sha256(seal_key).hexdigest()[:16], "canary": snapshot_id, "counts": {},
        "cluster": os.environ.get("CLUSTER_NAME", ""),
    }
    store = urlparse(os.environ["VAULT_BACKUP_STORE"])
    bucket, prefix = store.netloc, store.path.strip("/")
    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    key = f"{prefix}/{snapshot_id}" if prefix else snapshot_id
    s3.put_object(Bucket=bucket, Key=f"{key}.snapshot.age", Body=blob)
    s3.put_object(Bucket=bucket, Key=f"{key}.manifest.json", Body=json.dumps(manifest, indent=2).encode())
    print(f"uploaded {snapshot_id}: {len(blob)} bytes to {os.environ['VAULT_BACKUP_STORE']}")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "").get("Contents", [])
    keys = sorted(o["Key"][: -len(".manifest.json")] for o in listing if o["Key"].endswith(".manifest.json"))
    ids = [key for key in keys if _prunable(s3, bucket, key, time.time(), manifest["env"], manifest["cluster"])]
    for old in ids[: -int(os.environ.get("KEEP", "7"))]:
        for suffix in (".manifest.json", ".snapshot.age"):
            s3.delete_object(Bucket=bucket, Key=old + suffix)
        print(f"pruned {old}")


CLOCK_SKEW = 300  # as cattle/vault/snapshots.py


def _prunable(s3: Any, bucket: str, key: str, now: float, env: str, cluster: str) -> bool:
    """Whether a backup counts for retention: its manifest reads whole, names this environment and cluster (a store
    shared by mistake must not lose another environment's snapshots), and neither its id nor its created time lies
    in the future (such a copy would otherwise be kept for ever in place of a real snapshot). What does not count is
    never deleted either: cattle reports it as a doubt."""
    try:
        raw = json.loads(s3.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())
        created = calendar.timegm(time.strptime(raw["created"], "%Y-%m-%dT%H:%M:%SZ"))
        stamped = calendar.timegm(time.strptime(str(raw["id"])[:15], "%Y%m%dT%H%M%S"))
    except (ValueError, KeyError, TypeError):
        print(f"left alone (unreadable manifest): {key}")
        return False
    if raw.get("env") != env or raw.get("cluster", "") != cluster:
        print(f"left alone (environment {raw.get('env')!r}, cluster {raw.get('cluster', '')!r}): {key}")
        return False
    if max(created, stamped) > now + CLOCK_SKEW:
        print(f"left alone (dated in the future): {key}")
        return False
    return True


if __name__ == "__main__":
    main()
