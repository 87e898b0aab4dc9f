"""`./scripts/cattle dr.drill --env testing`: a real total-loss drill in two generations.

Generation 1: bootstrap; write canaries (a row through the app into PostgreSQL, a secret into OpenBao); back up to
the off-cluster stores; destroy the cluster completely. Generation 2: bootstrap from scratch (which restores state),
smoke-check (the app answers through the ingress, both canaries are back, Prometheus scrapes the app, Loki has its
logs), write the timeline, and fail when generation 2's RTO exceeds the budget.

Always both generations: the backups generation 2 restores are the ones generation 1 just made (in CI the S3 store
lives only as long as the job). The environment may declare no registry mirror: the drill's RTO includes real pulls.
"""

from __future__ import annotations

import json
import secrets as random
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import requests

from cattle import console, env, yamlio
from cattle.bootstrap import imagepulls
from cattle.bootstrap import rebuild as bootstrap
from cattle.bootstrap.timeline import Timeline
from cattle.database import ondemand as dbbackup
from cattle.dr import history
from cattle.errors import CattleError, PreflightError
from cattle.kube import Kube
from cattle.paths import state_dir
from cattle.portforward import forward
from cattle.providers import get_provider
from cattle.secrets import keys, sopsfile
from cattle.vault import endpoint as baoendpoint
from cattle.vault import openbao as vault
from cattle.vault import restore as vaultdrill
from cattle.vault import setup as vaultinit

CANARY_FILE = "drill-canary.json"


class DrillFailed(CattleError):
    """The drill ran but the environment did not come back as promised."""


@dataclass(frozen=True)
class Canary:
    """What generation 1 wrote (kept in .cattle/drill-canary.json; no secret in it)."""

    id: str
    category: str
    vault_written: bool = False


def _root_client(environment: env.Environment, addr: str) -> hvac.Client | None:
    """A root client from the env's init record (cattle.vault.setup); None when the store has no record."""
    record = vaultinit.find(vaultdrill.store_for(environment), environment.name,
                            keys.decryption_identities(environment.name))
    return vault.client(addr, record.root_token) if record else None


def _miniflux_login(root: Path, name: str) -> tuple[str, str]:
    relpath = Path("secrets") / name / "miniflux-admin.secret.yaml"
    doc = yamlio.load(sopsfile.decrypt(root, relpath, keys.candidate_identities(name)), str(relpath))
    return str(doc["stringData"]["username"]), str(doc["stringData"]["password"])


def _gateway_service(kube: Kube) -> str:
    for service in kube.list("v1", "Service", "envoy-gateway-system"):
        labels = (service.get("metadata") or {}).get("labels") or {}
        if labels.get("gateway.envoyproxy.io/owning-gateway-name") == "public":
            return f"svc/{service['metadata']['name']}"
    raise DrillFailed("no Envoy service for Gateway envoy-gateway-system/public", "kubectl get gateway -A")


def _through_ingress(port: str, host: str, path: str, auth: tuple[str, str] | None = None,
                     method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, str]:
    """curl through the Gateway with the right SNI and Host (self-signed certificate in testing)."""
    argv = ["curl", "-ks", "-o", "-", "-w", "\n%{http_code}", "--resolve", f"{host}:{port}:127.0.0.1",
            "-X", method, f"https://{host}:{port}{path}"]
    if auth:
        argv += ["-u", f"{auth[0]}:{auth[1]}"]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    text, _, code = proc.stdout.rpartition("\n")
    return int(code or 0), text


def _retry(what: str, check: Callable[[], bool], timeout: float, interval: float) -> None:
    """Poll `check` every `interval` seconds until it is true; DrillFailed once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DrillFailed(f"{what}: not true within {timeout:.0f}s")
        time.sleep(interval)


def write_app_canary(environment: env.Environment, kube: Kube, kubeconfig: tuple[Path | None, str | None],
                     stack: ExitStack, canary_id: str) -> None:
    """The database canary: a category written through the app, behind the Gateway, into PostgreSQL."""
    ingress = stack.enter_context(forward(*kubeconfig, "envoy-gateway-system", _gateway_service(kube), 443))
    port = ingress.rsplit(":", 1)[1]
    host = f"feeds.{environment.domain}"
    auth = _miniflux_login(environment.root, environment.name)
    code, text = _through_ingress(port, host, "/v1/categories", auth, "POST", {"title": canary_id})
    if code not in (200, 201):
        raise DrillFailed(f"could not write the canary through the app: HTTP {code} {text[:200]}")


def write_vault_canary(environment: env.Environment, addr: str, canary_id: str) -> bool:
    """The Vault canary: drill/canary in OpenBao, with the root token of the env's init record; False without one."""
    c = _root_client(environment, addr)  # bootstrap initialised (or restored) OpenBao and kept its init record
    if c is None:
        return False
    if "drill/" not in c.sys.list_mounted_secrets_engines()["data"]:
        c.sys.enable_secrets_engine("kv", path="drill", options={"version": "2"})
    vault.retry_upgrading(lambda: c.secrets.kv.v2.create_or_update_secret(
        path="canary", mount_point="drill", secret={"id": canary_id}))
    return True


def canary_id() -> str:
    return f"drill-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{random.token_hex(2)}"


def write_canaries(environment: env.Environment, kube: Kube, kubeconfig: tuple[Path | None, str | None],
                   stack: ExitStack) -> Canary:
    """A category through the app, a secret in OpenBao (initialising and configuring a fresh one)."""
    written = canary_id()
    write_app_canary(environment, kube, kubeconfig, stack, written)
    addr, _ = baoendpoint.reach(stack, baoendpoint.kubectl_forwarder(*kubeconfig))
    vault_written = write_vault_canary(environment, addr, written)
    vaultdrill.backup(environment, addr)
    dbbackup.request_backup(kube, environment.root)
    return Canary(written, written, vault_written=vault_written)


def read_app_canary(environment: env.Environment, port: str, category: str) -> str:
    """Whether the canary category is listed by the app's API through the Gateway at `port`; DrillFailed if not."""
    host = f"feeds.{environment.domain}"
    code, text = _through_ingress(port, host, "/v1/categories", _miniflux_login(environment.root, environment.name))
    if code != 200:
        raise DrillFailed(f"the app's API does not answer through the Gateway: HTTP {code} {text[:200]}")
    titles = [c.get("title") for c in json.loads(text or "[]")]
    if category not in titles:
        raise DrillFailed(f"the canary category {category} is not back (HTTP {code}, {titles})")
    return f"category {category} restored"


def read_vault_canary(environment: env.Environment, addr: str, canary_id: str) -> bool:
    """Whether drill/canary holds `canary_id` (DrillFailed if not); False when there is no root token to read it."""
    c = _root_client(environment, addr)
    if c is None:
        return False
    read = c.secrets.kv.v2.read_secret_version(path="canary", mount_point="drill", raise_on_deleted_version=True)
    if read["data"]["data"].get("id") != canary_id:
        raise DrillFailed("the Vault canary is not back")
    return True


def smoke(environment: env.Environment, kube: Kube, kubeconfig: tuple[Path | None, str | None], canary: Canary,
          timeline: Timeline) -> None:
    """Everything a user would notice, checked through the same doors users use."""
    with ExitStack() as stack:
        ingress = stack.enter_context(forward(*kubeconfig, "envoy-gateway-system", _gateway_service(kube), 443))
        port, host = ingress.rsplit(":", 1)[1], f"feeds.{environment.domain}"
        auth = _miniflux_login(environment.root, environment.name)
        with timeline.phase("smoke: app through the ingress") as event:
            _retry("GET /healthz through the Gateway answers 200",
                   lambda: _through_ingress(port, host, "/healthz")[0] == 200, 300, 5)
            event.detail = f"https://{host}/healthz 200"
        with timeline.phase("smoke: canary row") as event:
            if not canary.category:
                code, text = _through_ingress(port, host, "/v1/categories", auth)
                if code != 200:
                    raise DrillFailed(f"the app's API does not answer through the Gateway: HTTP {code} {text[:200]}")
                event.status = "skipped"
                event.detail = (f"no generation-1 canary recorded; the app lists "
                                f"{len(json.loads(text or '[]'))} categories")
            else:
                event.detail = read_app_canary(environment, port, canary.category)
        with timeline.phase("smoke: Vault canary") as event:
            addr = stack.enter_context(forward(*kubeconfig, "openbao", "svc/openbao-active", 8200))
            read = canary.vault_written and read_vault_canary(environment, addr, canary.id)
            event.detail = "drill/canary restored" if read else "checked by the restore (backup canary)"
        prometheus = stack.enter_context(forward(*kubeconfig, "monitoring",
                                                 "svc/kube-prometheus-stack-prometheus", 9090))
        with timeline.phase("smoke: Prometheus scrapes the app", waiting=True) as event:
            def scraped() -> bool:
                answer = requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="miniflux"}'}, timeout=10)
                return any(r["value"][1] == "1" for r in answer.json()["data"]["result"])
            _retry("Prometheus has up{job=\"miniflux\"} == 1", scraped, 600, 10)
            event.detail = 'up{job="miniflux"} == 1'
        loki = stack.enter_context(forward(*kubeconfig, "logging", "svc/loki-gateway", 80))
        with timeline.phase("smoke: Loki has the app's logs", waiting=True) as event:
            def logged() -> bool:
                answer = requests.get(f"{loki}/loki/api/v1/query_range", timeout=10,
                                      params={"query": '{namespace="feeds"}', "limit": "5", "since": "1h"})
                return bool(answer.ok and answer.json()["data"]["result"])
            _retry("Loki returns log lines of namespace feeds", logged, 600, 10)
            event.detail = '{namespace="feeds"} has lines'


def summary_markdown(timeline: Timeline, rto: float, budget: float) -> str:
    """The job summary: verdict, the timeline table and a mermaid Gantt chart of the phases."""
    verdict = "within" if rto <= budget else "OVER"
    pulls = imagepulls.markdown([imagepulls.Pull(**p) for p in timeline.pulls])
    return (f"## Disaster-recovery drill: {timeline.env}\n\nGeneration 2 RTO **{rto:.0f}s** — {verdict} "
            f"the budget of {budget:.0f}s.\n\n```\n{timeline.render()}\n```\n\n```mermaid\n{timeline.mermaid()}\n```\n"
            f"\n### Image pulls (generation 2, from pod events; included in the RTO)\n\n{pulls}")


def record(timeline: Timeline, rto: float, budget: float) -> dict[str, Any]:
    """The drill's run record (cattle.dr.history): generation 2's timeline, its RTO (until bootstrap was done; the
    smoke checks after it only verify) and the budget it was held to."""
    return {**timeline.as_dict(), "kind": "drill", "rto_seconds": round(rto, 2), "rto_budget_seconds": budget}


def drill(name: str, *, provider: str | None = None, serve: bool = True, summary: Path | None = None) -> Timeline:
    environment = env.load(name)
    if environment.protected:
        raise CattleError(f"{name} is protected: a drill destroys the cluster", "drill testing (or a copy of prod)")
    if environment.registry_mirrors:
        raise CattleError(f"{name} declares registry mirrors ({', '.join(sorted(environment.registry_mirrors))}): "
                          "the drill measures the honest RTO, image pulls from the upstream registries included",
                          "drill an environment without registry.mirrors (bootstrap uses them; the drill does not)")
    options = bootstrap.Options(provider=provider, serve=serve)
    cluster = get_provider(environment, provider, state_dir(environment.root))
    started, stage = time.time(), "generation 1"
    try:
        console.say("=== generation 1: build, write canaries, back up, destroy ===")
        bootstrap.run(environment, options)
        _, kube = bootstrap.connect(environment, provider)
        with ExitStack() as stack:
            stack.callback(kube.close)
            canary = write_canaries(environment, kube, cluster.kubeconfig(), stack)
        (state_dir(environment.root) / CANARY_FILE).write_text(json.dumps(canary.__dict__))
        cluster.delete()
        console.say("generation 1 destroyed: nothing is left but git, the keys and the off-cluster backups")
        console.say("=== generation 2: rebuild from git and backups ===")
        stage = "generation 2"
        timeline = bootstrap.run(environment, options)
    except CattleError as exc:  # no generation-2 timeline: keep a failed drill record all the same
        not_run = stage == "generation 1" and isinstance(exc, PreflightError)  # refused before anything was made
        console.say(history.save(environment.root, {
            "kind": "drill", "env": name, "started": started, "result": history.NOT_RUN if not_run else "failed",
            "events": [], "rto_seconds": round(time.time() - started, 2), "rto_budget_seconds": environment.rto_budget,
            "detail": history.stopped_at_preflight(exc.message) if not_run else
            f"{stage}: {exc.message.splitlines()[0][:250]}"}).describe())
        raise
    assert timeline is not None
    rto = timeline.total  # service is back when bootstrap (with its restores) is done; smoke checks only verify
    over_budget = None
    if rto > environment.rto_budget:
        over_budget = DrillFailed(f"generation 2 took {rto:.0f}s, over the RTO budget of "
                                  f"{environment.rto_budget:.0f}s", "see the critical path in the timeline")
    _, kube = bootstrap.connect(environment, provider)
    detail = ""
    try:
        smoke(environment, kube, cluster.kubeconfig(), canary, timeline)
    except BaseException:
        timeline.result = "failed"
        raise
    finally:
        kube.close()
        if over_budget is not None:  # a rebuild that works but too slowly is a failed drill, in the record too
            timeline.result, detail = "failed", over_budget.message
        console.say(history.save(environment.root, {**record(timeline, rto, environment.rto_budget),
                                                    **({"detail": detail} if detail else {})}).describe())
        if summary:
            summary.write_text(summary_markdown(timeline, rto, environment.rto_budget))
        print(timeline.render())
    if over_budget is not None:
        raise over_budget
    return timeline
