"""`kubectl port-forward` to a Service, as a context manager yielding the local address."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cattle import tools
from cattle.errors import KubeApiError


@contextmanager
def forward(kubeconfig: Path | None, context: str | None, namespace: str, target: str, port: int,
            timeout: float = 60) -> Iterator[str]:
    argv = [str(tools.find("kubectl"))]
    if kubeconfig:
        argv += ["--kubeconfig", str(kubeconfig)]
    if context:
        argv += ["--context", context]
    argv += ["-n", namespace, "port-forward", target, f":{port}",
             "--address", "127.0.0.1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    address = None
    assert proc.stdout is not None
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline().decode(errors="replace")
        match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        if match:
            address = f"http://127.0.0.1:{match.group(1)}"
            break
    if address is None:
        proc.kill()
        raise KubeApiError(f"kubectl port-forward to {namespace}/{target} did not start within {timeout:.0f}s",
                           "is the Service there and its pod Running? kubectl -n openbao get pods")
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
