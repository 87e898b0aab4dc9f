"""Broken git, as the real controllers report it, surfaced by cattle at once with its hint (never a timeout): a SOPS
file the key cattle hands Flux cannot decrypt, a manifest the API server refuses, a dependsOn naming nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyrage
import pytest

from cattle import tools
from cattle.bootstrap import rebuild as bootstrap
from cattle.errors import ReconcileFailed
from cattle.secrets import keys
from tests.controlplane.conftest import CONTEXT
from tests.controlplane.tier import Tier

# The rebuild's wait: a failure cattle only notices by timing out ends in WaitTimeout, not ReconcileFailed, and the
# test fails (a generous bound, not a measure of speed: noticing takes one reconcile, seconds).
WAIT = 600.0
pytestmark = pytest.mark.timeout(1200)


def _rebuild_fails(tier: Tier) -> ReconcileFailed:
    """Run the rebuild expecting the controller's failure as a ReconcileFailed (a WaitTimeout means cattle did not
    notice it)."""
    try:
        bootstrap.run("testing", bootstrap.Options(provider="kubeconfig", context=CONTEXT, serve=True, timeout=WAIT))
    except ReconcileFailed as failure:
        return failure
    except Exception as exc:
        raise AssertionError(f"expected the controller's failure, got {exc!r}\n{tier.diagnosis()}") from exc
    raise AssertionError(f"the rebuild succeeded\n{tier.diagnosis()}")


def _reencrypt_for_someone_else(path: Path, env_name: str) -> None:
    """The file's values re-encrypted to an age key nobody gave cattle (as if added with the wrong recipient)."""
    identity = keys.require_identity(env_name)
    stranger = pyrage.x25519.Identity.generate()
    sops_env = {**os.environ, "SOPS_AGE_KEY": identity.secret}
    sops = str(tools.find("sops"))
    plain = subprocess.run([sops, "--decrypt", str(path)], capture_output=True, check=True, env=sops_env).stdout
    path.write_bytes(plain)
    subprocess.run([sops, "--encrypt", "--in-place", "--age", str(stranger.to_public()),
                    "--encrypted-regex", "^(data|stringData)$", str(path)], check=True, env=sops_env,
                   cwd=path.parent)


def test_a_secret_the_handed_key_cannot_decrypt_ends_in_the_controllers_decryption_error(
        tier: Tier, secrets_repo: Path) -> None:
    _reencrypt_for_someone_else(secrets_repo / "secrets/testing/grafana-admin.secret.yaml", "testing")
    failure = _rebuild_fails(tier)
    assert "Kustomization flux-system/secrets failed" in failure.message
    assert "BuildFailed" in failure.message and "decrypt" in failure.message.lower(), failure.message
    assert "fix it in git" in (failure.hint or "")


def test_a_manifest_the_api_server_refuses_ends_in_its_validation_error(tier: Tier, secrets_repo: Path) -> None:
    overlay = secrets_repo / "apps/testing"
    (overlay / "bad-name.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n"
                                           "  namespace: feeds\ndata: {a: b}\n")
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text()
    kustomization.write_text(text.replace("resources:\n", "resources:\n  - bad-name.yaml\n", 1))
    failure = _rebuild_fails(tier)
    assert "Kustomization flux-system/apps failed" in failure.message
    assert "Not_A_Valid_Name" in failure.message and "Invalid" in failure.message, failure.message


def test_a_depends_on_naming_nothing_ends_in_the_controllers_dependency_error(tier: Tier, secrets_repo: Path) -> None:
    apps = secrets_repo / "clusters/base/apps.yaml"
    apps.write_text(apps.read_text().replace("    - name: platform-controllers", "    - name: platform-controler"))
    failure = _rebuild_fails(tier)
    assert "Kustomization flux-system/apps failed" in failure.message
    assert "platform-controler" in failure.message and "git does not declare" in failure.message
