"""What a Gateway exposes: an HTTPRoute must not forward a path that a ServiceMonitor scrapes (a metrics endpoint)
to its Service. The route rule that serves a path is the one Gateway API's precedence picks: an Exact match first,
then the longest PathPrefix (element-wise); a rule without matches is PathPrefix `/`. Matches that also need a
header, a query parameter or a method do not catch every request, so they protect nothing and are ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cattle.manifests.render import RenderedObject, Rendering

Report = Callable[[RenderedObject, str, str], None]


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _prefix_matches(prefix: str, path: str) -> bool:
    prefix = prefix.rstrip("/") or "/"
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def serving_rule(route: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The rule of an HTTPRoute that handles a request for `path` (None: no rule matches it)."""
    best: tuple[tuple[int, int], dict[str, Any]] | None = None
    for rule in (route.get("spec") or {}).get("rules") or []:
        for match in rule.get("matches") or [{}]:
            if match.get("headers") or match.get("queryParams") or match.get("method"):
                continue
            kind = (match.get("path") or {}).get("type", "PathPrefix")
            value = str((match.get("path") or {}).get("value", "/"))
            if kind == "Exact" and value == path:
                rank = (2, len(value))
            elif kind == "PathPrefix" and _prefix_matches(value, path):
                rank = (1, len(value.rstrip("/")))
            else:
                continue
            if best is None or rank > best[0]:
                best = (rank, rule)
    return best[1] if best else None


def _forwards(rule: dict[str, Any], service: str, ports: set[Any]) -> bool:
    if any(f.get("type") == "RequestRedirect" for f in rule.get("filters") or []):
        return False
    return any(ref.get("kind", "Service") == "Service" and ref.get("name") == service
               and (ref.get("port") in ports or not ports) for ref in rule.get("backendRefs") or [])


def _scraped(rendering: Rendering) -> Iterator[tuple[RenderedObject, str, dict[str, Any], set[Any], str]]:
    """(ServiceMonitor, namespace, Service, the Service's port numbers and names for the endpoint, path)."""
    services = [i.obj for i in rendering.objects if i.obj.get("kind") == "Service"]
    for item in rendering.objects:
        if item.obj.get("kind") != "ServiceMonitor":
            continue
        namespace = _meta(item.obj).get("namespace")
        spec = item.obj.get("spec") or {}
        wanted = (spec.get("selector") or {}).get("matchLabels") or {}
        for service in services:
            labels = _meta(service).get("labels") or {}
            if _meta(service).get("namespace") != namespace or not all(labels.get(k) == v
                                                                        for k, v in wanted.items()):
                continue
            for endpoint in spec.get("endpoints") or []:
                ports = {p.get("port") for p in (service.get("spec") or {}).get("ports") or []
                         if endpoint.get("port") in (p.get("name"), None) or p.get("port") == endpoint.get("port")}
                yield item, str(namespace), service, ports, str(endpoint.get("path") or "/metrics")


def check(rendering: Rendering, report: Report) -> None:
    """Report every HTTPRoute that forwards a scraped metrics path to the Service it is scraped from."""
    routes = [i for i in rendering.objects if i.obj.get("kind") == "HTTPRoute"]
    for monitor, namespace, service, ports, path in _scraped(rendering):
        name = str(_meta(service).get("name"))
        for route in routes:
            if _meta(route.obj).get("namespace") != namespace:
                continue
            rule = serving_rule(route.obj, path)
            if rule is not None and _forwards(rule, name, ports):
                report(route, f"forwards {path} to Service {namespace}/{name}, which "
                       f"ServiceMonitor {_meta(monitor.obj).get('name')} scrapes: metrics are public through the "
                       "Gateway", f"add a more specific rule for {path} that forwards nothing (e.g. a "
                       "RequestRedirect), or serve metrics on a port the route does not use")
