"""DNS from code: external-dns runs in every environment with public DNS and publishes exactly that environment's
route hostnames, owned under a name a rebuild keeps, with a token that Flux applies before the controller starts.
Checked on the objects as rendered for each environment (what Flux applies), not on the files.

Upstream facts (kubernetes-sigs/external-dns at external-dns-helm-chart-1.21.1, the pinned chart):
- charts/external-dns/values.yaml: `policy` is required; `provider.name`, `sources`, `txtOwnerId`, `domainFilters`,
  `env` (the container's environment);
- charts/external-dns/templates/clusterrole.yaml grants HTTPRoute access only when `sources` has
  `gateway-httproute`;
- provider/cloudflare/cloudflare.go reads the token from CF_API_TOKEN.
"""

from __future__ import annotations

from typing import Any

import pytest

from cattle import env
from cattle.database.backups import validation_variables
from cattle.manifests.render import Rendering, render
from cattle.secrets.spec import load_spec
from tests.conftest import REPO

PUBLIC = ("staging", "production")


def _rendering(name: str) -> Rendering:
    environment = env.load(name, REPO)
    return render(environment, validation_variables(environment.protected))


def _objects(rendering: Rendering, kind: str) -> list[dict[str, Any]]:
    return [item.obj for item in rendering.objects if item.obj.get("kind") == kind]


@pytest.fixture(scope="module")
def renderings() -> dict[str, Rendering]:
    return {name: _rendering(name) for name in (*PUBLIC, "testing")}


@pytest.mark.parametrize("name", PUBLIC)
def test_external_dns_publishes_the_environments_routes_under_its_own_owner(
        renderings: dict[str, Rendering], name: str) -> None:
    environment = env.load(name, REPO)
    rendering = renderings[name]
    assert not rendering.problems
    [release] = [r for r in _objects(rendering, "HelmRelease") if r["metadata"]["name"] == "external-dns"]
    values = release["spec"]["values"]
    assert values["sources"] == ["gateway-httproute"]
    assert values["policy"] == "sync"
    assert values["txtOwnerId"] == environment.cluster_name  # substituted; a rebuild keeps it, so it adopts its records
    assert values["domainFilters"] == [environment.domain]
    # every route this environment serves is inside the zone external-dns may write
    hostnames = [h for route in _objects(rendering, "HTTPRoute") for h in route["spec"].get("hostnames", [])]
    assert hostnames and all(h == environment.domain or h.endswith("." + environment.domain) for h in hostnames)
    # the token: read from a declared Secret of the same namespace, applied by the secrets layer (before the release)
    [token] = [e for e in values["env"] if e["name"] == "CF_API_TOKEN"]
    ref = token["valueFrom"]["secretKeyRef"]
    namespace = release["metadata"]["namespace"]
    declared = {(s.name, s.namespace): {k.name for k in s.keys} for s in load_spec(REPO, name)}
    assert ref["key"] in declared[(ref["name"], namespace)]
    [secret] = [s for s in _objects(rendering, "Secret")
                if (s["metadata"]["name"], s["metadata"]["namespace"]) == (ref["name"], namespace)]
    assert "sops" in secret  # encrypted in git
    layers = {(item.obj["kind"], item.obj["metadata"]["name"]): item.kustomization for item in rendering.objects
              if item.obj.get("metadata", {}).get("namespace") == namespace}
    assert layers[("Secret", "external-dns")] == "secrets"
    assert layers[("HelmRelease", "external-dns")] == "platform-controllers"


def test_testing_has_no_public_dns(renderings: dict[str, Rendering]) -> None:
    names = [r["metadata"]["name"] for r in _objects(renderings["testing"], "HelmRelease")]
    assert names and "external-dns" not in names
