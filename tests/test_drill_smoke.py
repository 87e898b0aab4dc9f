"""The drill's two doors to a live cluster, with the cluster stood in: write_canaries (generation 1 writes a row
through the app and a secret into OpenBao) and smoke (generation 2 finds them again and sees the app scraped and
logged). Port-forwards, curl through the Gateway and the OpenBao client are recorded fakes; Prometheus and Loki are
a real HTTP server on 127.0.0.1 answering as they do; a fake clock drives every wait."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from cattle import env
from cattle.bootstrap.timeline import Timeline
from cattle.dr import drill
from cattle.secrets import keys, sopsfile
from tests.waiting import FakeClock

GATEWAY = "http://127.0.0.1:4443"  # what the port-forward of the Envoy service answers with
OPENBAO = "http://127.0.0.1:8201"


class Clock(FakeClock):
    """time for the drill module: monotonic and sleep advance together, nothing really waits (bounded, as every
    tests.waiting.FakeClock: a wait that never ends fails in seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []
        import time

        self.strftime, self.gmtime, self.time = time.strftime, time.gmtime, time.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        super().sleep(seconds)


class Observability(BaseHTTPRequestHandler):
    """Prometheus' /api/v1/query and Loki's /loki/api/v1/query_range, answering from scripted queues."""

    answers: ClassVar[dict[str, list[tuple[int, str]]]] = {}
    asked: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.asked.append((url.path, parse_qs(url.query)))
        queue = self.answers[url.path]
        code, body = queue.pop(0) if len(queue) > 1 else queue[0]
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


def prometheus_up(value: str) -> tuple[int, str]:
    result = [{"metric": {"job": "miniflux"}, "value": [1.0, value]}] if value else []
    return 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def loki_lines(count: int) -> tuple[int, str]:
    result = [{"stream": {"namespace": "feeds"}, "values": [["1", "line"]] * count}] if count else []
    return 200, json.dumps({"status": "success", "data": {"resultType": "streams", "result": result}})


class FakeVault:
    """The parts of an hvac root client the drill uses, recording what it was asked."""

    def __init__(self, canary_id: str, mounts: tuple[str, ...] = ("cubbyhole/", "sys/")) -> None:
        self.stored = {"id": canary_id}
        self.mounts = list(mounts)
        self.calls: list[tuple[str, Any]] = []
        self.sys = self
        self.secrets = self
        self.kv = self
        self.v2 = self

    def list_mounted_secrets_engines(self) -> dict[str, Any]:
        return {"data": {m: {} for m in self.mounts}}

    def enable_secrets_engine(self, kind: str, path: str, options: dict[str, str]) -> None:
        self.calls.append(("enable", (kind, path, options)))
        self.mounts.append(path + "/")

    def create_or_update_secret(self, path: str, mount_point: str, secret: dict[str, str]) -> None:
        self.calls.append(("write", (mount_point, path, secret)))

    def read_secret_version(self, path: str, mount_point: str, raise_on_deleted_version: bool) -> dict[str, Any]:
        self.calls.append(("read", (mount_point, path, raise_on_deleted_version)))
        return {"data": {"data": json.loads(json.dumps(self.stored))}}  # a fresh string, as off the wire


@dataclasses.dataclass
class World:
    clock: Clock
    forwards: list[tuple[Any, ...]]
    curl: list[tuple[Any, ...]]
    answers: dict[str, list[tuple[int, str]]]  # path -> scripted (code, text) of curl through the Gateway
    vault: FakeVault | None
    roots_asked: list[str]
    observability: str


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Observability)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Observability.asked = []
    Observability.answers = {"/api/v1/query": [prometheus_up("1")], "/loki/api/v1/query_range": [loki_lines(2)]}
    observability = f"http://127.0.0.1:{server.server_address[1]}"
    state = World(Clock(), [], [], {"/healthz": [(200, "OK")], "/v1/categories": [(200, "[]")]},
                  FakeVault("drill-1"), [], observability)

    @contextmanager
    def forward(kubeconfig: Path | None, context: str | None, namespace: str, target: str, port: int,
                timeout: float = 60) -> Iterator[str]:
        state.forwards.append((kubeconfig, context, namespace, target, port))
        yield {"envoy-gateway-system": GATEWAY, "openbao": OPENBAO}.get(namespace, observability)

    def through_ingress(port: str, host: str, path: str, auth: tuple[str, str] | None = None, method: str = "GET",
                        body: dict[str, Any] | None = None) -> tuple[int, str]:
        state.curl.append((port, host, path, auth, method, body))
        queue = state.answers[path]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def root_client(environment: env.Environment, addr: str) -> FakeVault | None:
        state.roots_asked.append(addr)
        return state.vault

    monkeypatch.setattr(drill, "time", state.clock)
    monkeypatch.setattr(drill, "forward", forward)
    monkeypatch.setattr(drill, "_through_ingress", through_ingress)
    monkeypatch.setattr(drill, "_root_client", root_client)
    monkeypatch.setattr(drill, "_miniflux_login", lambda root, name: ("admin", f"pw-{name}"))
    monkeypatch.setattr(drill, "_gateway_service", lambda kube: "svc/envoy-public-1a2b")
    yield state
    server.shutdown()
    server.server_close()


KUBECONFIG = (Path("/state/kubeconfig-testing"), "kind-testing")


def _smoke(canary: drill.Canary) -> Timeline:
    timeline = Timeline("testing", started=0.0)
    drill.smoke(env.load("testing"), object(), KUBECONFIG, canary, timeline)  # type: ignore[arg-type]
    return timeline


def test_smoke_finds_both_canaries_through_the_doors_users_use(world: World) -> None:
    world.answers["/healthz"] = [(0, ""), (503, "starting"), (200, "OK")]  # no connection, then not yet, then up
    world.answers["/v1/categories"] = [(200, json.dumps([{"id": 1, "title": "All"}, {"id": 7, "title": "drill-1"}]))]
    Observability.answers["/api/v1/query"] = [prometheus_up(""), prometheus_up("0"), prometheus_up("1")]
    Observability.answers["/loki/api/v1/query_range"] = [(503, "too many outstanding requests"), loki_lines(0),
                                                         loki_lines(3)]
    timeline = _smoke(drill.Canary("drill-1", "drill-1", vault_written=True))

    host = f"feeds.{env.load('testing').domain}"
    assert world.forwards == [(*KUBECONFIG, "envoy-gateway-system", "svc/envoy-public-1a2b", 443),
                              (*KUBECONFIG, "openbao", "svc/openbao-active", 8200),
                              (*KUBECONFIG, "monitoring", "svc/kube-prometheus-stack-prometheus", 9090),
                              (*KUBECONFIG, "logging", "svc/loki-gateway", 80)]
    assert world.curl == [("4443", host, "/healthz", None, "GET", None)] * 3 + [
        ("4443", host, "/v1/categories", ("admin", "pw-testing"), "GET", None)]
    assert world.roots_asked == [OPENBAO]
    assert world.vault is not None and world.vault.calls == [("read", ("drill", "canary", True))]
    assert [(path, query) for path, query in Observability.asked] == [
        ("/api/v1/query", {"query": ['up{job="miniflux"}']})] * 3 + [
        ("/loki/api/v1/query_range", {"query": ['{namespace="feeds"}'], "limit": ["5"], "since": ["1h"]})] * 3
    assert world.clock.slept == [5, 5, 10, 10, 10, 10]  # healthz every 5 s; Prometheus and Loki every 10 s
    assert [(e.phase, e.status, e.detail, e.waiting) for e in timeline.events] == [
        ("smoke: app through the ingress", "ok", f"https://{host}/healthz 200", False),
        ("smoke: canary row", "ok", "category drill-1 restored", False),
        ("smoke: Vault canary", "ok", "drill/canary restored", False),
        ("smoke: Prometheus scrapes the app", "ok", 'up{job="miniflux"} == 1', True),
        ("smoke: Loki has the app's logs", "ok", '{namespace="feeds"} has lines', True)]


def test_without_a_vault_canary_the_restores_own_canary_stands_and_no_client_is_made(world: World) -> None:
    world.answers["/v1/categories"] = [(200, json.dumps([{"title": "drill-1"}]))]
    timeline = _smoke(drill.Canary("drill-1", "drill-1", vault_written=False))
    assert world.roots_asked == [] and world.vault is not None and world.vault.calls == []
    vault_event = next(e for e in timeline.events if e.phase == "smoke: Vault canary")
    assert (vault_event.status, vault_event.detail) == ("ok", "checked by the restore (backup canary)")


def test_without_a_generation_1_category_the_canary_row_is_skipped_not_passed(world: World) -> None:
    world.answers["/v1/categories"] = [(200, json.dumps([{"title": "All"}, {"title": "News"}]))]
    timeline = _smoke(drill.Canary("drill-1", "", vault_written=True))
    row = next(e for e in timeline.events if e.phase == "smoke: canary row")
    assert (row.status, row.detail) == ("skipped", "no generation-1 canary recorded; the app lists 2 categories")


@pytest.mark.parametrize("categories, message", [
    ((0, ""), r"the app's API does not answer through the Gateway: HTTP 0 $"),  # curl's 000: no answer at all
    ((201, "[]"), r"the app's API does not answer through the Gateway: HTTP 201 \[\]$"),
    ((502, "x" * 300), r"the app's API does not answer through the Gateway: HTTP 502 x{200}$"),
    ((200, json.dumps([{"title": "All"}])), r"the canary category drill-1 is not back \(HTTP 200, \['All'\]\)"),
])
def test_a_missing_or_unreadable_canary_row_fails_the_smoke(world: World, categories: tuple[int, str],
                                                            message: str) -> None:
    world.answers["/v1/categories"] = [categories]
    with pytest.raises(drill.DrillFailed, match=message):
        _smoke(drill.Canary("drill-1", "drill-1", vault_written=True))


@pytest.mark.parametrize("stored", [{"id": "drill-0"}, {"id": "drill-2"}, {}])
def test_a_different_vault_canary_fails_the_smoke(world: World, stored: dict[str, str]) -> None:
    """An older generation's secret, a newer one (another drill wrote after the backup), or none at all: the restore
    brought back the wrong state."""
    world.answers["/v1/categories"] = [(200, json.dumps([{"title": "drill-1"}]))]
    assert world.vault is not None
    world.vault.stored = stored
    with pytest.raises(drill.DrillFailed, match=r"^the Vault canary is not back$"):
        _smoke(drill.Canary("drill-1", "drill-1", vault_written=True))


@pytest.mark.parametrize("stuck, message, gave_up_at", [
    ("healthz", r"^GET /healthz through the Gateway answers 200: not true within 300s$", 305),
    ("prometheus", r'^Prometheus has up\{job="miniflux"\} == 1: not true within 600s$', 610),
    ("loki", r"^Loki returns log lines of namespace feeds: not true within 600s$", 610),
])
def test_each_wait_gives_up_after_its_own_deadline(world: World, stuck: str, message: str,
                                                   gave_up_at: float) -> None:
    world.answers["/v1/categories"] = [(200, json.dumps([{"title": "drill-1"}]))]
    if stuck == "healthz":
        world.answers["/healthz"] = [(503, "no healthy upstream")]
    elif stuck == "prometheus":
        Observability.answers["/api/v1/query"] = [prometheus_up("0")]
    else:
        Observability.answers["/loki/api/v1/query_range"] = [loki_lines(0)]
    with pytest.raises(drill.DrillFailed, match=message):
        _smoke(drill.Canary("drill-1", "drill-1", vault_written=True))
    assert world.clock.now == gave_up_at  # polled until past the deadline, one interval at a time


def test_requests_to_prometheus_and_loki_have_a_deadline(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    world.answers["/v1/categories"] = [(200, json.dumps([{"title": "drill-1"}]))]
    timeouts: list[object] = []
    real = requests.get

    def get(url: str, **kwargs: Any) -> requests.Response:
        timeouts.append(kwargs.get("timeout"))
        return real(url, **kwargs)

    monkeypatch.setattr(drill.requests, "get", get)
    _smoke(drill.Canary("drill-1", "drill-1", vault_written=True))
    assert timeouts == [10, 10]


@pytest.mark.parametrize("code", [200, 201])
def test_write_canaries_writes_the_row_and_the_secret_then_backs_up(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                    code: int) -> None:
    happened: list[Any] = []
    world.answers["/v1/categories"] = [(code, '{"id": 9}')]

    def reach(stack: ExitStack, forwarder: Any, timeout: float = 300) -> tuple[str, int]:
        happened.append("reach")
        return OPENBAO, 200

    monkeypatch.setattr(drill.baoendpoint, "reach", reach)
    monkeypatch.setattr(drill.vaultdrill, "backup", lambda environment, addr: happened.append(("vault backup", addr)))
    monkeypatch.setattr(drill.dbbackup, "request_backup", lambda kube, root: happened.append("database backup"))
    environment = env.load("testing")
    with ExitStack() as stack:
        canary = drill.write_canaries(environment, object(), KUBECONFIG, stack)  # type: ignore[arg-type]
    assert re.fullmatch(r"drill-\d{8}T\d{6}-[0-9a-f]{4}", canary.id)  # when (UTC) and a random suffix
    assert canary.category == canary.id and canary.vault_written
    assert world.forwards == [(*KUBECONFIG, "envoy-gateway-system", "svc/envoy-public-1a2b", 443)]
    assert world.curl == [("4443", f"feeds.{environment.domain}", "/v1/categories", ("admin", "pw-testing"), "POST",
                           {"title": canary.id})]
    assert world.vault is not None and world.vault.calls == [
        ("enable", ("kv", "drill", {"version": "2"})), ("write", ("drill", "canary", {"id": canary.id}))]
    assert happened == ["reach", ("vault backup", OPENBAO), "database backup"]  # backed up after both writes
    with pytest.raises(dataclasses.FrozenInstanceError):
        canary.id = "changed"  # type: ignore[misc]


def test_write_canaries_without_an_init_record_writes_no_secret_and_says_so(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.answers["/v1/categories"] = [(201, "{}")]
    world.vault = None
    monkeypatch.setattr(drill.baoendpoint, "reach", lambda stack, forwarder, timeout=300: (OPENBAO, 200))
    monkeypatch.setattr(drill.vaultdrill, "backup", lambda environment, addr: None)
    monkeypatch.setattr(drill.dbbackup, "request_backup", lambda kube, root: None)
    with ExitStack() as stack:
        canary = drill.write_canaries(env.load("testing"), object(), KUBECONFIG, stack)  # type: ignore[arg-type]
    assert canary.vault_written is False and world.roots_asked == [OPENBAO]


def test_write_canaries_stops_when_the_app_refuses_the_row(world: World) -> None:
    world.answers["/v1/categories"] = [(401, "access unauthorized " * 20)]
    with ExitStack() as stack, pytest.raises(drill.DrillFailed) as refused:
        drill.write_canaries(env.load("testing"), object(), KUBECONFIG, stack)  # type: ignore[arg-type]
    refusal = ("access unauthorized " * 20)[:200]
    assert refused.value.message == f"could not write the canary through the app: HTTP 401 {refusal}"
    assert world.roots_asked == []  # nothing written to OpenBao, nothing backed up


def test_the_apps_admin_login_comes_from_the_sops_file(secrets_repo: Path) -> None:
    relpath = Path("secrets/testing/miniflux-admin.secret.yaml")
    doc = yaml.safe_load(sopsfile.decrypt(secrets_repo, relpath, keys.candidate_identities("testing")))
    assert drill._miniflux_login(secrets_repo, "testing") == (doc["stringData"]["username"],
                                                              doc["stringData"]["password"])


def test_the_run_record_keeps_the_rto_to_the_hundredth_and_options_are_keyword_only() -> None:
    timeline = Timeline("testing", started=1000.0)
    assert drill.record(timeline, 123.456, 900.0)["rto_seconds"] == 123.46
    parameters = inspect.signature(drill.drill).parameters
    assert parameters["name"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(parameters[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("provider", "serve", "summary"))


def test_a_drill_mount_left_by_an_earlier_drill_is_reused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.answers["/v1/categories"] = [(201, "{}")]
    world.vault = FakeVault("drill-0", mounts=("cubbyhole/", "drill/", "sys/"))
    monkeypatch.setattr(drill.baoendpoint, "reach", lambda stack, forwarder, timeout=300: (OPENBAO, 200))
    monkeypatch.setattr(drill.vaultdrill, "backup", lambda environment, addr: None)
    monkeypatch.setattr(drill.dbbackup, "request_backup", lambda kube, root: None)
    with ExitStack() as stack:
        canary = drill.write_canaries(env.load("testing"), object(), KUBECONFIG, stack)  # type: ignore[arg-type]
    assert world.vault.calls == [("write", ("drill", "canary", {"id": canary.id}))]  # no second mount


def test_the_root_client_comes_from_the_init_record_when_the_store_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from cattle.vault import setup as vaultinit

    module = drill
    environment = env.load("testing")
    monkeypatch.setattr(module.vaultdrill, "store_for", lambda e: f"store of {e.name}")
    asked: list[tuple[Any, ...]] = []
    record = vaultinit.InitRecord("20261203T0000Z", "testing", "2026-12-03", "s.root", ["recovery"])

    def find(store: str, name: str, identities: Any) -> Any:
        asked.append((store, name))
        return found[0]

    found: list[Any] = [record]
    monkeypatch.setattr(module.vaultinit, "find", find)
    client = module._root_client(environment, OPENBAO)
    assert client is not None and client.url == OPENBAO and client.token == "s.root"
    found[0] = None
    assert module._root_client(environment, OPENBAO) is None  # no record: nothing to log in with
    assert asked == [("store of testing", "testing")] * 2
