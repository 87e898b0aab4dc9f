"""A local OpenBao server (the real `bao server`): raft storage in a directory, TLS off, 127.0.0.1, a free port,
optionally the static seal. Used by restore drills (`vault.verify`), tests and benchmarks. Without a directory
given, it runs in a scratch directory (cattle.secrets.scratch: 0700, stopped and wiped on SIGINT/SIGTERM/SIGHUP, and
by the next run after a SIGKILL), since it holds restored secrets and the seal key beside them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

from cattle import tools
from cattle.errors import VaultError
from cattle.secrets import scratch

_running: dict[str, BaoServer] = {}  # address -> a server this process started (for exited())


def exited(addr: str) -> str | None:
    """When `addr` is a server this process started and it has exited: what to say instead of "unreachable"
    (its exit code and log tail); else None."""
    server = _running.get(addr)
    if server is None or server.process is None or server.process.poll() is None:
        return None
    tail = " ".join(server.log_tail().split())[-400:]
    return (f"the OpenBao cattle started at {addr} has exited (code {server.process.returncode}); its log ends: "
            f"{tail or '(empty)'}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BaoServer:
    """One `bao server` process; a context manager that stops it and removes its data."""

    seal_key_hex: str | None = None
    seal_key_id: str = "cattle-seal-1"
    directory: Path | None = None
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)  # kept across restarts: raft peers know a node by it
    join: str | None = None  # the API address of a node to join as a raft peer
    node_id: str = "local"
    process: subprocess.Popen[bytes] | None = None
    _owned_dir: bool = False

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self, base: Path) -> str:
        cluster_port = self.cluster_port
        seal = ""
        if self.seal_key_hex is not None:
            key_file = base / "seal.key"
            key_file.write_text(self.seal_key_hex)
            key_file.chmod(0o600)
            seal = f'seal "static" {{\n  current_key_id = "{self.seal_key_id}"\n  current_key = "file://{key_file}"\n}}\n'
        join = f'  retry_join {{\n    leader_api_addr = "{self.join}"\n  }}\n' if self.join else ""
        return (f'storage "raft" {{\n  path = "{base / "data"}"\n  node_id = "{self.node_id}"\n'
                f"  performance_multiplier = 1\n{join}}}\n"
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
                f'  cluster_address = "127.0.0.1:{cluster_port}"\n  tls_disable = true\n}}\n'
                f'api_addr = "{self.addr}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n{seal}')

    def start(self, timeout: float = 20) -> BaoServer:
        """Start the server; a port another process took between `free_port()` and the bind is traded for a new
        one (twice at most): ports are picked, not reserved."""
        for _ in range(2):
            try:
                return self._start_once(timeout)
            except VaultError as exc:
                if "address already in use" not in str(exc):
                    raise
                self.port, self.cluster_port = free_port(), free_port()
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> BaoServer:
        if self.directory is None:
            self.directory = scratch.directory("bao")
            self._owned_dir = True
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        config = self.directory / "server.hcl"
        config.write_text(self._config(self.directory))
        log_path = self.directory / "server.log"
        offset = log_path.stat().st_size if log_path.exists() else 0  # this start's lines come after
        log = log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self.process = subprocess.Popen([str(tools.find("bao")), "server", f"-config={config}"],
                                        stdout=log, stderr=subprocess.STDOUT, env=env)
        if self._owned_dir:
            scratch.track(self.directory, self.process.pid, self._terminate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise VaultError(f"bao server exited with {self.process.returncode}: {self.log_tail(offset)}")
            if self._started(log_path, offset):  # its listeners are bound: the port answers for this process
                try:
                    requests.get(f"{self.addr}/v1/sys/health", timeout=1)
                    _running[self.addr] = self
                    return self
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.stop()
        raise VaultError(f"bao server did not listen on {self.addr} within {timeout:.0f}s: {self.log_tail(offset)}")

    @staticmethod
    def _started(log_path: Path, offset: int) -> bool:
        with log_path.open("rb") as log:
            log.seek(offset)
            return b"==> OpenBao server started!" in log.read()

    def log_tail(self, offset: int = 0) -> str:
        if self.directory is None or not (self.directory / "server.log").exists():
            return ""
        with (self.directory / "server.log").open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")[-800:]

    def _terminate(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self, wipe: bool | None = None) -> None:
        if _running.get(self.addr) is self:
            del _running[self.addr]
        self._terminate()
        self.process = None
        if (self._owned_dir if wipe is None else wipe) and self.directory is not None:
            if self._owned_dir:
                scratch.release(self.directory)
            else:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> BaoServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
