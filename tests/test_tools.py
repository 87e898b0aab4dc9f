"""cattle.tools runs the real pinned binaries and explains a missing or wrong one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cattle import tools
from cattle.errors import ToolError


@pytest.mark.parametrize("name", ["kubectl", "sops", "bao"])
def test_pinned_binaries_report_their_pinned_version(name: str) -> None:
    path = tools.find(name)
    assert path.is_file()
    assert tools.installed_version(name, path) == tools.TOOLS[name].wanted


def test_kustomize_is_the_one_inside_kubectl() -> None:
    out = tools.run(["kubectl", "version", "--client"]).stdout.decode()
    assert "Kustomize Version: v5.8.1" in out


def test_a_version_is_asked_once_per_binary_and_again_when_the_binary_changes(tmp_path: Path) -> None:
    """Preflight asks every tool its version on each run; an unchanged binary is asked once per process, a replaced
    one (new size or modification time) is asked again, and the Docker engine (a daemon that may stop) always."""
    asked = tmp_path / "asked"

    def fake(name: str, answer: str) -> Path:
        binary = tmp_path / name
        binary.write_text(f"#!/bin/sh\necho x >> {asked}\necho '{answer}'\n")
        binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
        return binary

    def count() -> int:
        return len(asked.read_text().splitlines()) if asked.exists() else 0

    kind = fake("kind", "kind v0.31.0 go1.25 linux/amd64")
    assert [tools.installed_version("kind", kind) for _ in range(3)] == ["0.31.0"] * 3 and count() == 1
    kind = fake("kind", "kind v0.32.10 go1.25 linux/amd64")  # replaced: another size
    assert tools.installed_version("kind", kind) == "0.32.10" and count() == 2
    docker = fake("docker", "27.5.1")
    assert [tools.installed_version("docker", docker) for _ in range(2)] == ["27.5.1"] * 2 and count() == 4


def test_venv_binary_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\necho 'Client Version: v1.32.0'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert tools.locate("kubectl") != fake


def test_missing_tool_names_it_and_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tools.TOOLS, "nosuchtool", tools.Tool(
        "nosuchtool", ("--version",), r"(\d+\.\d+\.\d+)", "1.0.0", True, "pip install nosuchtool"))
    with pytest.raises(ToolError) as caught:
        tools.find("nosuchtool")
    assert "nosuchtool is not installed" in caught.value.message
    assert caught.value.hint == "pip install nosuchtool"


def test_wrong_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "oldtool"
    fake.write_text("#!/bin/sh\necho 'oldtool 0.9.0'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(tools.TOOLS, "oldtool", tools.Tool(
        "oldtool", ("--version",), r"oldtool (\d+\.\d+\.\d+)", "1.2.0", True, "upgrade oldtool"))
    with pytest.raises(ToolError, match=r"version 0\.9\.0, cattle is pinned to 1\.2\.0"):
        tools.find("oldtool")


def test_failed_command_carries_exit_code_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        tools.run(["kubectl", "kustomize", "/nonexistent/dir"])
    assert caught.value.returncode not in (None, 0)
    assert "nonexistent" in caught.value.stderr
