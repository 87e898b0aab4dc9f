"""Image pulls, from the kubelet's pod events (Pulling / Pulled): how long each image took, so a rebuild's RTO shows
the share spent downloading (a rebuilt cluster pulls every image again). Read after the reconcile; events live an
hour by default, longer than a rebuild."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cattle import console
from cattle.bootstrap.timeline import Timeline
from cattle.errors import KubeApiError
from cattle.kube import Kube
from cattle.manifests.timeouts import go_duration
from cattle.quantities import format_memory

# kubelet pkg/kubelet/images/image_manager.go
_PULLED = re.compile(r'^Successfully pulled image "(?P<image>[^"]+)" in (?P<pull>\S+) \((?P<total>\S+) including '
                     r"waiting\)(?:\. Image size: (?P<size>\d+) bytes)?")
_PRESENT = re.compile(r'^Container image "(?P<image>[^"]+)" already present on machine')
_PULLING = re.compile(r'^Pulling image "(?P<image>[^"]+)"')


@dataclass(frozen=True)
class Pull:
    """One image as the node got it: pulled (how long, how big) or already there."""

    image: str
    seconds: float  # the pull itself
    with_waiting: float  # including the wait behind other pulls (the kubelet pulls one image at a time by default)
    size: int | None
    started: float | None  # the Pulling event
    finished: float | None  # the Pulled event
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timestamp(event: dict[str, Any]) -> float | None:
    text = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _seconds(text: str) -> float:
    try:
        return go_duration(text)
    except ValueError:
        return 0.0


def parse(events: list[dict[str, Any]]) -> list[Pull]:
    """Every image the kubelet pulled (its first successful pull) or found present, in the order pulls finished."""
    pulling: dict[str, float] = {}
    found: dict[str, Pull] = {}
    for event in sorted(events, key=lambda e: _timestamp(e) or 0.0):
        if (event.get("involvedObject") or {}).get("kind") != "Pod":
            continue
        message, reason, when = str(event.get("message") or ""), event.get("reason"), _timestamp(event)
        started = _PULLING.match(message) if reason == "Pulling" else None
        if started and when is not None:
            pulling.setdefault(started.group("image"), when)
        pulled = _PULLED.match(message) if reason == "Pulled" else None
        if pulled and not (pulled.group("image") in found and not found[pulled.group("image")].cached):
            image = pulled.group("image")
            found[image] = Pull(image, _seconds(pulled.group("pull")), _seconds(pulled.group("total")),
                                int(pulled.group("size")) if pulled.group("size") else None, pulling.get(image), when)
        present = _PRESENT.match(message) if reason == "Pulled" else None
        if present and present.group("image") not in found:
            found[present.group("image")] = Pull(present.group("image"), 0.0, 0.0, None, None, when, cached=True)
    return sorted(found.values(), key=lambda p: p.finished or 0.0)


def summary(pulls: list[Pull]) -> str:
    """'12 images pulled (1.9Gi) in 243s, 3 already present' for the timeline line."""
    pulled = [p for p in pulls if not p.cached]
    size = sum(p.size or 0 for p in pulled)
    text = (f"{len(pulled)} images pulled ({format_memory(size)}) in {sum(p.seconds for p in pulled):.0f}s "
            f"(longest: {max(pulled, key=lambda p: p.seconds).image})" if pulled else "no image pulled")
    cached = len(pulls) - len(pulled)
    return text + (f", {cached} already present" if cached else "")


def span(pulls: list[Pull]) -> tuple[float, float] | None:
    """From the first Pulling to the last Pulled event (None: no pull was seen)."""
    starts = [p.started for p in pulls if p.started is not None and not p.cached]
    ends = [p.finished for p in pulls if p.finished is not None and not p.cached]
    return (min(starts), max(ends)) if starts and ends else None


def markdown(pulls: list[Pull]) -> str:
    """A table for the job summary, slowest first."""
    if not pulls:
        return "No image pull events were seen.\n"
    rows = [f"| `{p.image}` | {'present' if p.cached else f'{p.seconds:.1f}s'} | "
            f"{'' if p.cached else f'{p.with_waiting:.1f}s'} | {format_memory(p.size) if p.size else ''} |"
            for p in sorted(pulls, key=lambda p: -p.with_waiting)]
    return "\n".join(["| image | pull | incl. waiting | size |", "| --- | --- | --- | --- |", *rows,
                      "", f"{summary(pulls)}."]) + "\n"


def read(kube: Kube) -> list[Pull]:
    """The pulls the cluster's events tell of (all namespaces)."""
    return parse(kube.list("v1", "Event"))


def record(kube: Kube, timeline: Timeline) -> list[Pull]:
    """Add the pulls to the timeline: one line spanning them, and each image (best effort: a rebuild does not fail
    because its events cannot be read)."""
    try:
        pulls = read(kube)
    except KubeApiError as exc:
        console.say(f"image pulls: cannot read the cluster's events ({exc.message})")
        return []
    window = span(pulls)
    if window is not None:
        timeline.record("image pulls", window[0], window[1], "ok", summary(pulls))
    timeline.pulls = [p.as_dict() for p in pulls]
    return pulls


VOLUME = "platform/image-volume.yaml"


@dataclass(frozen=True)
class Volume:
    """What a rebuild of an environment pulls, from VOLUME: images, compressed megabytes, how many are estimates."""

    images: int
    megabytes: int
    estimated: int

    def describe(self) -> str:
        size = f"{self.megabytes / 1000:.1f} GB" if self.megabytes >= 1000 else f"{self.megabytes} MB"
        if self.estimated == self.images:
            basis = "estimates, no registry manifest read"
        elif self.estimated:
            basis = f"{self.estimated} of them estimates"
        else:
            basis = "measured from the registry manifests"
        return (f"about {size} compressed in {self.images} images, pulled again by every rebuild (dr.drill: twice); "
                f"{basis} ({VOLUME})")


def volume(root: Path, env_name: str) -> Volume | None:
    """The image volume VOLUME lists for `env_name` (None: it lists none for that environment)."""
    path = root / VOLUME
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    if doc.get("env") != env_name:
        return None
    entries = list(doc.get("images") or [])
    return Volume(len(entries), sum(int(e["mb"]) for e in entries), sum(1 for e in entries if not e.get("measured")))
