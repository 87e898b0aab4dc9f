"""Shared fixtures: a private copy of the repository, and skips that name a missing tool."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import FakeClock

REPO = Path(__file__).resolve().parent.parent
DECLARATIVE = ("clusters", "platform", "apps", "secrets", "vendor", "infra")
CONTROL_PLANE_TIER = REPO / "tests" / "controlplane"
KIND_E2E = REPO / "tests" / "e2e"
# directories collected only when named on the command line: the control plane tier moves its process into a
# network namespace of its own, which the main suite's run must not do; the kind end-to-end test runs in the
# disaster-recovery workflow's own job (where Docker works it would otherwise run in every PR's suite)
NAMED_ONLY = (CONTROL_PLANE_TIER, KIND_E2E)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`pytest` (the main suite) leaves out the directories of NAMED_ONLY; `pytest tests/e2e` runs that one."""
    if collection_path not in NAMED_ONLY:
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path == collection_path or collection_path in path.parents for path in named)


@pytest.fixture(scope="session", autouse=True)
def cache_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CATTLE_CACHE_DIR for this test run only, shared by its xdist workers: no test is answered from the caches
    (kustomize builds, schema results, validate reports) of an earlier run or of the developer's own use."""
    import os

    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "cattle-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CATTLE_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the repository's declarative tree that a test may change; CATTLE_REPO points at it."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in DECLARATIVE:
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / ".sops.yaml", root / ".sops.yaml") if (REPO / ".sops.yaml").exists() else None
    monkeypatch.setenv("CATTLE_REPO", str(root))
    yield root


@pytest.fixture
def tool_lookup() -> Iterator[None]:
    """tools.find's answers (cached per process) forgotten before and after the test: for a test that puts stand-ins,
    or nothing, on PATH."""
    from cattle import tools

    tools.find.cache_clear()
    yield
    tools.find.cache_clear()


class StandIns:
    """Programs written as scripts into one directory put first on PATH, for a test that replaces kind, docker,
    tofu or the like."""

    def __init__(self, bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin_dir = bin_dir
        bin_dir.mkdir()
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def put(self, name: str, text: str) -> Path:
        """Write `text` (a whole script, with its #! line) as the program `name`; returns its path."""
        script = self.bin_dir / name
        script.write_text(text)
        script.chmod(0o755)
        return script


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_lookup: None) -> StandIns:
    """An empty directory of stand-in programs, first on PATH (tools.find forgets its answers around the test)."""
    return StandIns(tmp_path / "stand-ins", monkeypatch)


@pytest.fixture
def key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-test key store; no age key leaks in from the environment."""
    home = tmp_path / "config"
    monkeypatch.setenv("CATTLE_CONFIG_HOME", str(home))
    for name in AGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


EXTERNAL_SECRETS = {"CATTLE_SECRET_EXTERNAL_DNS_API_TOKEN": "test-dns-token",
                    **{f"CATTLE_SECRET_{name}_{key}": value for name in ("BACKUP_S3", "FEEDS_BACKUP_S3")
                       for key, value in (("ACCESS_KEY_ID", "test-access-key"),
                                          ("SECRET_ACCESS_KEY", "test-secret-key"))}}
AGE_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "CATTLE_AGE_KEY_TESTING", "CATTLE_AGE_KEY_STAGING",
                 "CATTLE_AGE_KEY_PRODUCTION")


@pytest.fixture(scope="session")
def secrets_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fresh keys and freshly generated secrets for the three environments, made once per test process with the
    real sops and age (about 1.3 s); secrets_repo copies them into each test's own repository and key store."""
    from cattle.secrets import files as secrets

    base = tmp_path_factory.mktemp("secrets-template")
    root = base / "repo"
    root.mkdir()
    for name in ("clusters", "secrets"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / ".sops.yaml", root / ".sops.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CATTLE_REPO", str(root))
        patch.setenv("CATTLE_CONFIG_HOME", str(base / "config"))
        for name in AGE_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in EXTERNAL_SECRETS.items():
            patch.setenv(name, value)
        for env in ("testing", "staging", "production"):
            (root / "secrets" / env / "miniflux-admin.secret.yaml").unlink()
            secrets.init(root, env, force=True)
            secrets.generate(root, env, regenerate_all=True)
    return base


@pytest.fixture
def secrets_repo(repo_copy: Path, key_home: Path, secrets_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository copy whose environments have fresh keys (in key_home) and freshly generated secrets (copied from
    secrets_template: what secrets.init and secrets.generate write, nothing else)."""
    for name, value in EXTERNAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CATTLE_DB_STORE", f"file://{repo_copy.parent / 'db-backups'}")
    for name in ("clusters", "secrets"):
        shutil.rmtree(repo_copy / name)
        shutil.copytree(secrets_template / "repo" / name, repo_copy / name)
    shutil.copy(secrets_template / "repo" / ".sops.yaml", repo_copy / ".sops.yaml")
    shutil.copytree(secrets_template / "config", key_home, dirs_exist_ok=True)
    return repo_copy


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto in server mode) on 127.0.0.1, with a bucket 'backups'."""
    import os

    from moto.server import ThreadedMotoServer

    from cattle.vault.server import free_port

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    from cattle.stores import s3_client

    s3_client(endpoint).create_bucket(Bucket="backups")
    yield endpoint
    server.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """time.monotonic and time.sleep on fake time from 1000 s for the test: a wait under test never really waits, and
    one that never ends fails within seconds (FakeClock's bounds)."""
    import time

    fake = FakeClock(start=1000.0)
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake
