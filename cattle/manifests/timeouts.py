"""Timeouts must nest: a HelmRelease's within the Kustomization that applies (and waits for) it, and the chain of
Kustomization timeouts the rebuild waits on within the RTO budget. Otherwise a layer can overrun what contains it
while everything still reports "in progress"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cattle.manifests.ordering import dig
from cattle.manifests.render import KUSTOMIZATION_API, RenderedObject, Rendering

HELMRELEASE_DEFAULT = 300.0  # helm-controller: spec.timeout defaults to 5m
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> float:
    """Seconds of a Go duration as Flux writes them ('10m', '1h30m', '5m0s', '90s')."""
    text = text.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 10m or 1h30m")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def show(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s" if rest and minutes else f"{minutes}m" if minutes else f"{rest}s"


@dataclass(frozen=True)
class Layer:
    """A Flux Kustomization the rebuild waits on: its timeout and what it depends on."""

    name: str
    timeout: float
    depends_on: tuple[str, ...]
    item: RenderedObject | None


def kustomization_timeout(spec: dict[str, object]) -> float:
    """spec.timeout, which kustomize-controller defaults to spec.interval."""
    return go_duration(str(spec.get("timeout") or spec.get("interval") or "0s"))


def layers(rendering: Rendering) -> dict[str, Layer]:
    """The Kustomizations of flux-system that wait for what they apply (wait: true or healthChecks)."""
    items = {i.obj["metadata"]["name"]: i for i in rendering.objects if i.obj.get("kind") == "Kustomization"
             and str(i.obj.get("apiVersion", "")).startswith(KUSTOMIZATION_API)}
    found = {}
    for name, obj in rendering.kustomizations.items():
        spec = obj.get("spec") or {}
        if not (spec.get("wait") or spec.get("healthChecks")):
            continue
        depends = tuple(str(d.get("name")) for d in spec.get("dependsOn") or [])
        found[name] = Layer(name, kustomization_timeout(spec), depends, items.get(name))
    return found


def critical_path(found: dict[str, Layer]) -> list[Layer]:
    """The dependsOn chain whose timeouts add up to the most (cycles are validate's dependencies rule)."""
    best: dict[str, list[Layer]] = {}

    def longest(name: str, seen: frozenset[str]) -> list[Layer]:
        if name in best:
            return best[name]
        layer = found[name]
        chains = [longest(dep, seen | {name}) for dep in layer.depends_on if dep in found and dep not in seen]
        best[name] = [*max(chains, key=lambda c: sum(x.timeout for x in c), default=[]), layer]
        return best[name]

    return max((longest(name, frozenset()) for name in found), key=lambda c: sum(x.timeout for x in c), default=[])


def release_overruns(rendering: Rendering) -> list[tuple[RenderedObject, float, Layer]]:
    """Every HelmRelease whose timeout is longer than the Kustomization that applies and waits for it."""
    found = layers(rendering)
    overruns = []
    for item in rendering.objects:
        if item.obj.get("kind") != "HelmRelease" or item.kustomization not in found:
            continue
        text = dig(item.obj, ("spec", "timeout"))
        timeout = go_duration(str(text)) if text else HELMRELEASE_DEFAULT
        if timeout > found[item.kustomization].timeout:
            overruns.append((item, timeout, found[item.kustomization]))
    return overruns
