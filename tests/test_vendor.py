"""Vendored upstream files are byte-for-byte what their VERSION records say."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

_ROW = re.compile(r"^\s+(\S+\.yaml)\s+(\d+) bytes\s+sha256 ([0-9a-f]{64})$", re.M)
VERSION_FILES = [*sorted((REPO / "vendor" / "crds").glob("*/VERSION")), REPO / "vendor/kwok/VERSION",
                 REPO / "clusters/flux-system/VERSION"]


@pytest.mark.parametrize("version_file", VERSION_FILES, ids=lambda p: p.parent.name)
def test_checksums_match(version_file: Path) -> None:
    rows = _ROW.findall(version_file.read_text())
    assert rows, f"no file records in {version_file}"
    for name, size, digest in rows:
        path = version_file.parent / name
        if not path.exists():  # kept gzip-compressed in the repository; the record is of the upstream bytes
            path = path.with_name(name + ".gz")
            data = gzip.decompress(path.read_bytes())
        else:
            data = path.read_bytes()
        assert len(data) == int(size), name
        assert hashlib.sha256(data).hexdigest() == digest, name
