"""Where the repository and the user's cattle state live."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def repo_root() -> Path:
    """The repository cattle works on: $CATTLE_REPO, else the checkout holding this package."""
    override = os.environ.get("CATTLE_REPO")
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parent.parent


def state_dir(root: Path) -> Path:
    """Per-checkout run state (timelines, local backups); ignored by git."""
    return root / ".cattle"


def config_home() -> Path:
    """Per-user configuration (age keys): $CATTLE_CONFIG_HOME, else ~/.config/cattle."""
    override = os.environ.get("CATTLE_CONFIG_HOME")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cattle"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace a file in one step (a crash leaves the old or the new file, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
