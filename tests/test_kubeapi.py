"""The fake API server's server-side apply: field ownership and conflicts as a real API server reports them, driven
through cattle's own client (what a re-run over objects someone else wrote meets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cattle.errors import KubeApiError
from cattle.kube import Kube
from tests.kubeapi import owned_fields
from tests.kubemock import FakeCluster, Scenario

PATH = "/api/v1/namespaces/flux-system/configmaps/cattle-bootstrap"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeCluster, Kube]]:
    fake = FakeCluster(tmp_path, [], Scenario())
    fake.add_namespace("flux-system")
    kube = Kube.from_kubeconfig(fake.kubeconfig, "kmock")
    yield fake, kube
    kube.close()
    fake.close()


def _config_map(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cattle-bootstrap", "namespace": "flux-system"}, "data": data}


def _apply_as(fake: FakeCluster, manager: str, obj: dict[str, Any], force: bool = False) -> int:
    return fake.apply_as(manager, PATH, obj, force)


def test_an_apply_that_changes_a_field_another_manager_owns_is_refused_with_409_naming_it(
        api: tuple[FakeCluster, Kube]) -> None:
    fake, kube = api
    assert _apply_as(fake, "kubectl", _config_map(DB_BOOTSTRAP="initdb", NOTE="by hand")) == 201
    with pytest.raises(KubeApiError) as caught:
        kube.apply(_config_map(DB_BOOTSTRAP="recovery"))
    assert caught.value.message.endswith('failed: 409 Apply failed with 1 conflict: conflict with "kubectl": '
                                         '.data.DB_BOOTSTRAP')
    assert (fake._get(PATH) or {})["data"] == {"DB_BOOTSTRAP": "initdb", "NOTE": "by hand"}  # nothing written


def test_the_same_value_is_shared_and_force_takes_the_field_over(api: tuple[FakeCluster, Kube]) -> None:
    fake, kube = api
    assert _apply_as(fake, "kubectl", _config_map(DB_BOOTSTRAP="initdb")) == 201
    kube.apply(_config_map(DB_BOOTSTRAP="initdb"))  # agrees with kubectl: both own the field now
    assert _apply_as(fake, "kubectl", _config_map(DB_BOOTSTRAP="recovery")) == 409  # cattle's share protects it
    kube.apply(_config_map(DB_BOOTSTRAP="recovery"), force=True)  # cattle's objects win conflicts on a re-run
    assert (fake._get(PATH) or {})["data"] == {"DB_BOOTSTRAP": "recovery"}
    kube.apply(_config_map(DB_BOOTSTRAP="recovery, g2"))  # kubectl lost the field: no conflict for cattle
    assert _apply_as(fake, "kubectl", _config_map(DB_BOOTSTRAP="initdb")) == 409  # now cattle's alone
    assert _apply_as(fake, "kubectl", _config_map(DB_BOOTSTRAP="initdb"), force=True) == 200


def test_ownership_is_per_field_and_an_update_takes_what_it_writes(api: tuple[FakeCluster, Kube]) -> None:
    fake, kube = api
    kube.apply(_config_map(DB_BOOTSTRAP="initdb"))
    assert _apply_as(fake, "kubectl", _config_map(NOTE="another field")) == 200  # no field in common: no conflict
    fake._http("PATCH", PATH + "?fieldManager=kustomize-controller", {"data": {"DB_BOOTSTRAP": "recovery"}},
               "application/merge-patch+json")  # an update never conflicts; it takes the fields it writes
    with pytest.raises(KubeApiError) as caught:
        kube.apply(_config_map(DB_BOOTSTRAP="initdb", NOTE="cattle's"))
    assert caught.value.message.endswith('failed: 409 Apply failed with 2 conflicts: conflicts with "kubectl":\n'
                                         '- .data.NOTE\nconflicts with "kustomize-controller" using v1:\n'
                                         '- .data.DB_BOOTSTRAP')


def test_owned_fields_are_the_leaves_apart_from_identity_and_status() -> None:
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n", "labels": {"a": "1"}},
           "type": "Opaque", "stringData": {"k": "v"}, "spec": {"list": [1, 2], "empty": {}}, "status": {"x": 1}}
    assert owned_fields(obj) == {("metadata", "labels", "a"): "1", ("type",): "Opaque", ("stringData", "k"): "v",
                                 ("spec", "list"): [1, 2], ("spec", "empty"): {}}
