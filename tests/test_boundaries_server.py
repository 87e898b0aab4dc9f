"""A local `bao server` at its edges, with a stand-in `bao` (a small Python script on 127.0.0.1 that says it started
and answers /v1/sys/health, or exits, or never starts, as told) and the start's wait on fake time: a port taken is
traded twice and no more, a server that exits is named with this start's log only, the log's and the exit message's
tails, the seal key file 0600, no VAULT_/BAO_ variable handed to the server, and which stop wipes which directory
(issue 32, boundaries of cattle/vault/server.py, which only tests with the real bao reached)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from cattle import tools
from cattle.errors import VaultError
from cattle.secrets import scratch as scratch_dirs
from cattle.vault import server
from cattle.vault.server import BaoServer
from tests.waiting import FakeClock

FAKE_BAO = """#!{python}
import http.server, os, re, sys, time
from pathlib import Path
from types import SimpleNamespace
mode = os.environ["FAKE_BAO_MODE"]
state = Path(os.environ["FAKE_BAO_STATE"])
starts = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(starts))
config = Path(sys.argv[2].removeprefix("-config=")).read_text()
Path(os.environ["FAKE_BAO_STATE"] + ".env").write_text(" ".join(sorted(os.environ)))
port = int(re.search(r'address = "127.0.0.1:(\\d+)"', config).group(1))
if mode.startswith("in use") and starts <= int(mode.split()[-1]):
    print(f"Error initializing listener: listen tcp 127.0.0.1:{{port}}: bind: address already in use", flush=True)
    sys.exit(1)
if mode.startswith("exit"):
    print("x" * 300 + f" the end of start {{starts}}", flush=True)
    sys.exit(3)
if mode == "silent":
    time.sleep(600)
if mode == "stubborn":
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
httpd = http.server.HTTPServer(("127.0.0.1", port), Health)
print("==> OpenBao server started! Log data will stream in below:", flush=True)
if mode == "serve once":
    httpd.handle_request()
    print("y" * 500 + " crashed", flush=True)
    sys.exit(7)
httpd.serve_forever()
"""


@pytest.fixture
def bao(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in bao; returns the file counting its starts."""
    script = tmp_path / "bin" / "bao"
    script.parent.mkdir()
    script.write_text(FAKE_BAO.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setattr(tools, "find", lambda name: script)
    monkeypatch.setenv("FAKE_BAO_STATE", str(tmp_path / "starts"))
    monkeypatch.setenv("FAKE_BAO_MODE", "serve")
    monkeypatch.setenv("VAULT_TOKEN", "s.not-for-the-server")
    monkeypatch.setenv("BAO_ADDR", "http://127.0.0.1:1")
    return tmp_path / "starts"


def _starts(counter: Path) -> int:
    return int(counter.read_text())


def test_a_server_started_serves_gets_a_0600_seal_key_and_no_vault_or_bao_variable(bao: Path, tmp_path: Path) -> None:
    node = BaoServer("ab" * 32, directory=tmp_path / "node")
    with node:
        assert server.exited(node.addr) is None  # running
        assert node.directory is not None
        key = node.directory / "seal.key"
        assert key.read_text() == "ab" * 32
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        names = Path(str(bao) + ".env").read_text().split()
        assert "FAKE_BAO_MODE" in names
        assert [n for n in names if n.startswith(("VAULT_", "BAO_"))] == []
    assert (tmp_path / "node" / "server.log").exists()  # a directory given is the caller's: kept
    assert server.exited(node.addr) is None  # stopped by cattle: forgotten, not "exited"


def test_a_port_taken_is_traded_for_another_twice(bao: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "in use 2")
    node = BaoServer(directory=tmp_path / "node")
    first = (node.port, node.cluster_port)
    with node:
        assert _starts(bao) == 3
        assert (node.port, node.cluster_port) != first


def test_a_port_taken_three_times_is_an_error(bao: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "in use 3")
    with pytest.raises(VaultError, match="address already in use"):
        BaoServer(directory=tmp_path / "node").start()
    assert _starts(bao) == 3


def test_a_server_that_exits_is_named_with_this_starts_log_only(bao: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "exit")
    node = BaoServer(directory=tmp_path / "node")
    with pytest.raises(VaultError, match=r"bao server exited with 3: x+ the end of start 1\n$"):
        node.start()
    assert node.log_tail() == "x" * 300 + " the end of start 1\n"  # the whole log, from its first character
    assert _starts(bao) == 1  # not retried
    with pytest.raises(VaultError, match="exited with 3") as second:
        node.start()
    assert "start 1" not in str(second.value) and str(second.value).endswith("the end of start 2\n")
    with pytest.raises(VaultError, match="exited with 3"):
        node.start()
    # the whole log is longer than 800 characters (three starts of 319): its tail is the last 800
    assert len(node.log_tail()) == 800 and node.log_tail().endswith("x the end of start 3\n")


def test_a_server_that_never_starts_is_stopped_after_its_timeout(bao: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "silent")
    clock = FakeClock(start=1000.0)
    monkeypatch.setattr(server, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    node = BaoServer(directory=tmp_path / "node")
    with pytest.raises(VaultError, match=r"did not listen on http://127\.0\.0\.1:[0-9]+ within 20s"):
        node.start()
    assert node.process is None  # stopped
    assert 1020.0 <= clock.now < 1020.1  # polled every 0.05 s up to the default 20 s


def test_a_server_that_exited_after_starting_is_named_with_its_code_and_last_400_characters(
        bao: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "serve once")
    node = BaoServer(directory=tmp_path / "node")
    node.start()  # its one answer went to the start's health check
    assert node.process is not None
    node.process.wait()
    said = server.exited(node.addr)
    assert said is not None
    assert said.startswith(f"the OpenBao cattle started at {node.addr} has exited (code 7); its log ends: ")
    tail = said.split("its log ends: ")[1]
    assert len(tail) == 400 and tail.endswith("y crashed")
    assert server.exited("http://127.0.0.1:1") is None  # not one of ours
    node.stop()


def test_only_a_scratch_directory_or_a_stop_asked_to_wipe_removes_the_data(bao: Path, tmp_path: Path) -> None:
    node = BaoServer(directory=tmp_path / "node")
    node.start()
    node.stop()
    assert (tmp_path / "node").is_dir()
    node.start()
    node.stop(wipe=True)
    assert not (tmp_path / "node").exists()
    scratch = BaoServer()
    with scratch:
        assert scratch.directory is not None and scratch.directory.is_dir()
        assert stat.S_IMODE(scratch.directory.stat().st_mode) == 0o700
    assert not scratch.directory.exists()
    kept = BaoServer()
    kept.start()
    kept.stop(wipe=False)
    assert kept.directory is not None and kept.directory.is_dir()  # a scratch directory kept when asked to
    scratch_dirs.release(kept.directory)


def test_free_ports_are_distinct_loopback_ports() -> None:
    ports = {server.free_port() for _ in range(5)}
    assert all(1024 <= p <= 65535 for p in ports)
    assert os.environ.get("FAKE_BAO_MODE") is None


def test_stopping_a_server_never_started_or_already_stopped_does_nothing(bao: Path, tmp_path: Path) -> None:
    BaoServer(directory=tmp_path / "never").stop()
    node = BaoServer(directory=tmp_path / "node")
    node.start()
    node.stop()
    node.stop()  # the second stop finds no process
    assert node.process is None and (tmp_path / "node").is_dir()


def test_a_server_that_ignores_sigterm_is_killed(bao: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_BAO_MODE", "stubborn")
    node = BaoServer(directory=tmp_path / "node")
    node.start()
    process = node.process
    assert process is not None
    ticks = iter(range(0, 10_000, 4))  # the 10 s wait for SIGTERM passes in fake seconds, 4 a look
    monkeypatch.setattr(subprocess, "_time", lambda: float(next(ticks)))
    try:
        node.stop()
    finally:
        monkeypatch.undo()
        if process.poll() is None:  # left running by a failed stop: not this test's to leave behind
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
