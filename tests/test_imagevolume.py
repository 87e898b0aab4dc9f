"""platform/image-volume.yaml stays the list of what a testing rebuild pulls: every image git names for testing is in
it, and its chart images are those of the chart versions pinned now (issue 27, item 8)."""

from __future__ import annotations

import yaml

from cattle import env
from cattle.bootstrap import fluxinstall, imagepulls
from cattle.manifests import policy
from cattle.manifests.ordering import dig
from cattle.manifests.render import render
from tests.conftest import REPO


def _git_images() -> set[str]:
    environment = env.load("testing")
    found: set[str] = set()
    for item in render(environment).objects:
        obj, kind = item.obj, str(item.obj.get("kind"))
        if kind in policy.POD_PATHS:
            pod = dig(obj, policy.POD_PATHS[kind]) or {}
            found |= {str(c["image"]) for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])}
        elif kind == "Cluster":
            found.add(str(dig(obj, ("spec", "imageName"))))
    for obj in fluxinstall.manifests(environment.root):
        if obj.get("kind") == "Deployment":
            found |= {str(c["image"]) for c in obj["spec"]["template"]["spec"]["containers"]}
    return {image.split("@")[0] for image in found}


def test_every_image_git_names_for_testing_is_counted() -> None:
    doc = yaml.safe_load((REPO / imagepulls.VOLUME).read_text())
    listed = {entry["image"] for entry in doc["images"] if entry["from"] == "git"}
    assert listed == _git_images()


def test_the_chart_images_are_those_of_the_pinned_chart_versions() -> None:
    doc = yaml.safe_load((REPO / imagepulls.VOLUME).read_text())
    pinned = yaml.safe_load((REPO / "platform/versions.yaml").read_text())["charts"]
    pins = {p["chart"]: str(p["version"]) for p in pinned}
    assert {chart: pins[chart] for chart in doc["charts"]} == {k: str(v) for k, v in doc["charts"].items()}
    assert {e["from"] for e in doc["images"]} - {"git"} == set(doc["charts"])


def test_the_volume_is_the_sum_and_says_what_is_estimated() -> None:
    volume = imagepulls.volume(REPO, "testing")
    assert volume is not None
    doc = yaml.safe_load((REPO / imagepulls.VOLUME).read_text())
    assert (volume.images, volume.megabytes) == (len(doc["images"]), sum(e["mb"] for e in doc["images"]))
    assert volume.estimated == volume.images  # nothing read from a registry yet
    assert imagepulls.volume(REPO, "production") is None  # listed for testing only
