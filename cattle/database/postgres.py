"""A local PostgreSQL instance (Debian's server binaries) in a private directory, for restore drills and tests.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.

It holds a restored database, so it listens on no TCP port: only on a Unix socket in its own 0700 directory (only
its user, and root, can reach it), and its directory is a scratch directory (cattle.secrets.scratch: 0700, stopped
and wiped on SIGINT/SIGTERM/SIGHUP, and by the next run after a SIGKILL)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cattle import tools
from cattle.errors import DatabaseError
from cattle.secrets import scratch
from cattle.vault.server import free_port

MINIMAL_CONF = """\
listen_addresses = ''
port = {port}
unix_socket_directories = '{sockets}'
unix_socket_permissions = 0700
max_connections = 20
shared_buffers = 32MB
fsync = off
log_destination = 'stderr'
"""


def server_bin(major: int | None = None) -> Path:
    """The bin directory of Debian's PostgreSQL server (a given major version, or the newest)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True) if root.is_dir() \
        else []
    if major is not None:
        versions = [v for v in versions if v == major]
    if not versions:
        wanted = f"PostgreSQL {major}" if major else "a PostgreSQL server"
        raise DatabaseError(f"{wanted} is not installed here (looked in /usr/lib/postgresql)",
                            f"install it: sudo apt-get install postgresql{'-' + str(major) if major else ''} "
                            "(./scripts/setup --test does this for the tests)")
    return root / str(versions[0]) / "bin"


@dataclass
class Postgres:
    """One instance: `init()` a new cluster, or point `datadir` at a restored one; then `start()`."""

    bindir: Path = field(default_factory=server_bin)
    base: Path = field(default_factory=lambda: scratch.directory("pg"))
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._scratch = self.base.parent == scratch.base()
        os.chmod(self.base, 0o700)
        self.datadir = self.base / "data"
        self.sockets = self.base / "sockets"
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        self._own(self.base)

    @property
    def _as_postgres(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
            for child in path.rglob("*"):
                shutil.chown(child, "postgres", "postgres")

    def run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return tools.run([*self._as_postgres, *argv], timeout=timeout)

    def init(self) -> None:
        self.datadir.mkdir(mode=0o700, exist_ok=True)
        self._own(self.datadir)
        self.run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                  "--no-sync"], timeout=120)

    def configure(self, extra: str = "") -> None:
        """A minimal postgresql.conf (the private socket only, no TCP) plus `extra`; trust on that socket alone."""
        (self.datadir / "postgresql.conf").write_text(
            MINIMAL_CONF.format(port=self.port, sockets=self.sockets) + extra)
        (self.datadir / "postgresql.auto.conf").write_text("")
        (self.datadir / "pg_hba.conf").write_text("local all all trust\n")
        self._own(self.datadir)

    def start(self, timeout: int = 120) -> None:
        os.chmod(self.datadir, 0o700)
        self.run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.base / "server.log"),
                  "-w", "-t", str(timeout), "start"], timeout=timeout + 10)
        if self._scratch:
            pid = (self.datadir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
            if pid.isdigit():
                scratch.track(self.base, int(pid), self.stop)

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                     timeout=60)

    def sql(self, query: str, database: str = "postgres") -> str:
        out = self.run([str(self.bindir / "psql"), "-h", str(self.sockets), "-p", str(self.port), "-U", "postgres",
                        "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query])
        return out.stdout.decode().strip()

    def log_tail(self) -> str:
        log = self.base / "server.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else ""

    def remove(self) -> None:
        self.stop()
        if self._scratch:
            scratch.release(self.base)
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()
