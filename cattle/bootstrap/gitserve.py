"""Serve this checkout to a local cluster over git's smart HTTP protocol (`git http-backend`), read-only.

What is served is the working tree as it is now (committed or not): cattle writes it as a commit into a
private bare repository without touching your branches or index. For throwaway local clusters (kind, k3d)
that cannot reach a pushed remote; Flux's source-controller fetches from http://<host>:<port>/cattle.git.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cattle import tools
from cattle.errors import ProviderError

REPO_NAME = "cattle.git"
SERVE_HOST_VARIABLE = "CATTLE_SERVE_HOST"


def snapshot_commit(root: Path, bare: Path, branch: str) -> str:
    """Commit the working tree (tracked and untracked-not-ignored files) into `bare` as `branch`."""
    with tempfile.TemporaryDirectory(prefix="cattle-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_AUTHOR_NAME": "cattle", "GIT_AUTHOR_EMAIL":
               "cattle@localhost", "GIT_COMMITTER_NAME": "cattle", "GIT_COMMITTER_EMAIL": "cattle@localhost"}
        tools.run(["git", "add", "-A", "."], env=env, cwd=root)
        tree = tools.run(["git", "write-tree"], env=env, cwd=root).stdout.decode().strip()
        commit = tools.run(["git", "commit-tree", tree, "-m", "cattle: working tree served to a local cluster"],
                           env=env, cwd=root).stdout.decode().strip()
    tools.run(["git", "push", "--quiet", "--force", str(bare), f"{commit}:refs/heads/{branch}"], cwd=root)
    return commit


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": str(self.server.project_root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": self.client_address[0], "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _cgi
    do_POST = _cgi


class _Server(ThreadingHTTPServer):
    project_root: Path


class GitServer:
    """A background HTTP server for one snapshot of the checkout; a context manager."""

    def __init__(self, root: Path, branch: str = "main", host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.branch = branch
        self.project_root = Path(tempfile.mkdtemp(prefix="cattle-serve-"))
        self.bare = self.project_root / REPO_NAME
        tools.run(["git", "init", "--quiet", "--bare", str(self.bare)])
        self.commit = snapshot_commit(root, self.bare, branch)
        self.httpd = _Server((host, port), _Handler)
        self.httpd.project_root = self.project_root
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/{REPO_NAME}"

    def __enter__(self) -> GitServer:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.project_root, ignore_errors=True)


def ipv4_gateway(inspect: Any, network: str) -> str:
    """The IPv4 gateway of a network from `docker network inspect` JSON, whatever the order of its IPAM entries.

    kind >= v0.27 makes its network dual-stack and Docker lists the IPv6 entry first, without a gateway on
    GitHub-hosted runners: the first entry is not the host's address.
    """
    networks = inspect if isinstance(inspect, list) else [inspect]
    entries = [entry for item in networks if isinstance(item, dict)
               for entry in ((item.get("IPAM") or {}).get("Config") or []) if isinstance(entry, dict)]
    for entry in entries:
        try:
            address = ipaddress.ip_address(str(entry.get("Gateway") or "").split("/")[0])
        except ValueError:
            continue
        if address.version == 4:
            return str(address)
    subnets = ", ".join(str(entry.get("Subnet")) for entry in entries) or "none"
    raise ProviderError(f"docker network {network!r} has no IPv4 gateway (IPAM subnets: {subnets}): the cluster "
                        "could not reach this checkout's server", f"set ${SERVE_HOST_VARIABLE} to an address of this "
                        "machine that the cluster's nodes reach, or push and pass --git-url")


def docker_gateway(network: str = "kind") -> str:
    """The host's IPv4 address as seen from containers on a docker network (where kind and k3d nodes live)."""
    out = tools.run(["docker", "network", "inspect", network]).stdout
    try:
        inspect = json.loads(out)
    except ValueError as exc:
        raise ProviderError(f"docker network inspect {network} did not print JSON: {out[:200]!r}",
                            f"check the Docker engine, or set ${SERVE_HOST_VARIABLE}") from exc
    return ipv4_gateway(inspect, network)
