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
