"""Backup stores: `file://DIR` and `s3://BUCKET/PREFIX` (any S3-compatible endpoint), one small interface.

S3 settings come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) plus
AWS_ENDPOINT_URL for a non-AWS endpoint (MinIO, Garage, moto, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from cattle.errors import StoreError
from cattle.paths import write_atomic


class Store(Protocol):
    """Named blobs in one place."""

    url: str

    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes: ...
    def head(self, name: str, length: int) -> bytes: ...
    def names(self) -> list[str]: ...
    def keys(self, under: str = "") -> list[str]: ...
    def times(self, under: str = "") -> dict[str, float]: ...
    def sizes(self, under: str = "") -> dict[str, int]: ...
    def delete(self, name: str) -> None: ...


@dataclass
class FileStore:
    """A directory on this machine (or a mounted volume)."""

    url: str
    directory: Path

    def put(self, name: str, data: bytes) -> None:
        try:
            write_atomic(self.directory / name, data)
        except OSError as exc:
            raise StoreError(f"cannot write {name} to {self.url}: {exc.strerror}",
                             "check the directory exists and is writable") from exc

    def get(self, name: str) -> bytes:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"{name} is not in {self.url}",
                             "list what is there with ./scripts/cattle vault.snapshots") from exc

    def head(self, name: str, length: int) -> bytes:
        """The first `length` bytes of an object (all of it when shorter)."""
        try:
            with (self.directory / name).open("rb") as handle:
                return handle.read(length)
        except FileNotFoundError as exc:
            raise StoreError(f"{name} is not in {self.url}",
                             "list what is there with ./scripts/cattle vault.snapshots") from exc

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_file() and not p.name.startswith("."))

    def keys(self, under: str = "") -> list[str]:
        """Every object whose name starts with `under` (a prefix, as in S3: "feeds-db-g" finds every
        generation), recursively, as store-relative names."""
        head = under.rsplit("/", 1)[0] if "/" in under else ""
        base = self.directory / head if head else self.directory
        if not base.is_dir():
            return []
        names = (str(p.relative_to(self.directory)) for p in base.rglob("*") if p.is_file())
        return sorted(name for name in names if name.startswith(under))

    def times(self, under: str = "") -> dict[str, float]:
        """Every object below `under` with its last-modified time (seconds since the epoch)."""
        return {name: (self.directory / name).stat().st_mtime for name in self.keys(under)}

    def sizes(self, under: str = "") -> dict[str, int]:
        """Every object below `under` with its size in bytes."""
        return {name: (self.directory / name).stat().st_size for name in self.keys(under)}

    def delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)


@dataclass
class S3Store:
    """A bucket and prefix on an S3-compatible endpoint."""

    url: str
    bucket: str
    prefix: str
    client: Any

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchKey", "404"):
                raise StoreError(f"{what}: not found in {self.url}") from exc
            raise StoreError(f"{what} failed on {self.url}: {code} {exc.response.get('Error', {}).get('Message', '')}",
                             "check the bucket exists and the credentials may use it") from exc
        except BotoCoreError as exc:
            endpoint = self.client.meta.endpoint_url
            raise StoreError(f"{what}: cannot reach the backup store {self.url} at {endpoint}: {exc}",
                             "check AWS_ENDPOINT_URL, the network and the credentials") from exc

    def put(self, name: str, data: bytes) -> None:
        self._call(f"upload {name}", self.client.put_object, Bucket=self.bucket, Key=self._key(name), Body=data)

    def get(self, name: str) -> bytes:
        response = self._call(f"download {name}", self.client.get_object, Bucket=self.bucket, Key=self._key(name))
        return bytes(response["Body"].read())

    def head(self, name: str, length: int) -> bytes:
        """The first `length` bytes of an object (a ranged GET)."""
        response = self._call(f"download {name}", self.client.get_object, Bucket=self.bucket, Key=self._key(name),
                              Range=f"bytes=0-{length - 1}")
        return bytes(response["Body"].read())

    def names(self) -> list[str]:
        return [name for name in self.keys() if "/" not in name]

    def keys(self, under: str = "") -> list[str]:
        """Every object below `under`, recursively, as store-relative names."""
        return sorted(self.times(under))

    def times(self, under: str = "") -> dict[str, float]:
        """Every object below `under` with its last-modified time (seconds since the epoch)."""
        return {name: obj["LastModified"].timestamp() for name, obj in self._objects(under).items()}

    def sizes(self, under: str = "") -> dict[str, int]:
        """Every object below `under` with its size in bytes."""
        return {name: int(obj["Size"]) for name, obj in self._objects(under).items()}

    def _objects(self, under: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        token: str | None = None
        prefix = f"{self.prefix}/" if self.prefix else ""
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix + under}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", self.client.list_objects_v2, **kwargs)
            found.update({obj["Key"][len(prefix):]: obj for obj in page.get("Contents", [])})
            if not page.get("IsTruncated"):
                return found
            token = page.get("NextContinuationToken")

    def delete(self, name: str) -> None:
        self._call(f"delete {name}", self.client.delete_object, Bucket=self.bucket, Key=self._key(name))


def s3_client(endpoint: str | None = None) -> Any:
    """A boto3 S3 client for AWS or any S3-compatible endpoint, with short timeouts and few retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "path"})
    session = boto3.session.Session()  # credentials as the environment has them now (the default session caches)
    return session.client("s3", endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"), config=config)


def open_store(url: str, root: Path | None = None) -> Store:
    """A store from its URL; relative file:// paths are taken from the repository root."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(parsed.netloc + parsed.path)
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
        return FileStore(url, path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"{url}: no bucket", "write s3://BUCKET/PREFIX")
        return S3Store(url, parsed.netloc, parsed.path.strip("/"), s3_client())
    raise StoreError(f"unsupported backup store {url!r}", "use file://DIR or s3://BUCKET/PREFIX")
