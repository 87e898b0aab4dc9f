"""`./scripts/cattle bootstrap --env E`: preflight → cluster → Flux → secret zero → sync → reconcile → restore → verify,
with a timeline (the RTO) written to .cattle/runs/. Every step is idempotent: re-running resumes a failed run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from cattle import console, env
from cattle.bootstrap import fluxinstall, gitsource, imagepulls, openbaostate, preflight, reconcile
from cattle.bootstrap.openbaostate import cluster_ca, openbao_nodes, restore_state
from cattle.bootstrap.plan import Facts, Plan, build_plan
from cattle.bootstrap.timeline import Timeline
from cattle.database import backups as database
from cattle.errors import CattleError, DatabaseError, PreflightError, StoreError
from cattle.kube import Kube
from cattle.manifests import flux
from cattle.manifests.render import render
from cattle.paths import repo_root, state_dir
from cattle.providers import Provider, get_provider
from cattle.providers.opentofu import OpenTofuProvider
from cattle.schemas import crd_kinds
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsconfig
from cattle.stores import Store, open_store
from cattle.vault import restore as vaultdrill

VAULT_ADDR_VARIABLE = openbaostate.VAULT_ADDR_VARIABLE


@dataclass(frozen=True)
class Options:
    """What the command line may change."""

    provider: str | None = None
    dry_run: bool = False
    serve: bool | None = None  # None: serve the checkout when a local cluster has no git.url
    git_url: str | None = None
    vault_addr: str | None = None
    timeout: float | None = None
    allow_empty_database: bool = False
    allow_empty_vault: bool = False
    snapshot: str = "latest"  # the Vault snapshot to restore (an id from vault.snapshots)
    context: str | None = None  # a kubeconfig context instead of cluster.context (no git edit mid-incident)
    recover_to: str | None = None  # point in time the database recovers to (bootstrap --to; default: the end)


OPENBAO_RELEASE = ("HelmRelease", "openbao", "openbao")


def _expected(environment: env.Environment, bootstrap_vars: dict[str, str] | None
              ) -> tuple[list[tuple[str, str, str]], dict[str, list[str]]]:
    """The Flux Kustomizations and HelmReleases git declares for the env, and the Kustomizations' dependsOn."""
    expected, depends, _ = _rendered_facts(environment, bootstrap_vars)
    return expected, depends


def _rendered_facts(environment: env.Environment, bootstrap_vars: dict[str, str] | None
                    ) -> tuple[list[tuple[str, str, str]], dict[str, list[str]], int]:
    """What the rebuild needs from the one rendering: the Flux objects to wait for, dependsOn, OpenBao's nodes."""
    rendering = render(environment, bootstrap_vars)
    expected: list[tuple[str, str, str]] = []
    depends: dict[str, list[str]] = {}
    nodes = 1
    for item in rendering.objects:
        kind, meta = item.obj.get("kind"), item.obj.get("metadata") or {}
        if (str(kind), str(meta.get("namespace")), str(meta.get("name"))) == OPENBAO_RELEASE:
            nodes = openbao_nodes(item.obj)
        if kind in reconcile.KINDS and str(item.obj.get("apiVersion")) == reconcile.KINDS[str(kind)]:
            expected.append((str(kind), str(meta.get("namespace")), str(meta.get("name"))))
            if kind == "Kustomization":
                depends[str(meta.get("name"))] = [d["name"] for d in item.obj["spec"].get("dependsOn") or []]
    return expected, depends, nodes


def gather_facts(environment: env.Environment, provider: Provider, options: Options, git_url: str,
                 vault_decision: vaultdrill.VaultDecision, database_reason: str,
                 failed_checks: list[preflight.Check] | None = None) -> Facts:
    """Read-only facts for the plan; with failed preflight checks (a dry run), what cannot be asked is unknown."""
    recipient = sopsconfig.env_recipient(environment.root, environment.name)
    identity = keys.find_identity(environment.name, [recipient] if recipient else None)
    source = gitsource.resolve(environment, git_url) if not options.serve else None
    exists = None if failed_checks else provider.exists()
    cluster_plan = None
    if isinstance(provider, OpenTofuProvider) and not failed_checks:
        cluster_plan = str(provider.plan())  # read-only: what the cluster phase would change
    return Facts(environment.name, provider.name, provider.creates_clusters, exists,
                 identity.source if identity else None, environment.generate_missing_key, git_url,
                 environment.git_branch, source.warning if source else None, vault_decision.action,
                 vault_decision.reason, database_reason, options.timeout or environment.reconcile_timeout,
                 tuple(f"{c.name}: {c.detail}" for c in failed_checks or []), environment.rto_budget, cluster_plan)


SERVE_HOST_VARIABLE = "CATTLE_SERVE_HOST"


def serve_host(provider: Provider) -> str:
    """The address of this machine that the cluster reaches: $CATTLE_SERVE_HOST, else the provider's docker
    network gateway (kind, k3d)."""
    from cattle.bootstrap.gitserve import docker_gateway

    host = os.environ.get(SERVE_HOST_VARIABLE)
    if host:
        return host
    if provider.docker_network is None:
        raise CattleError(f"serving this checkout to a {provider.name} cluster needs ${SERVE_HOST_VARIABLE}: an "
                          "address of this machine that the cluster can reach",
                          "set it, or push and pass --git-url (or set git.url in the environment file)")
    return docker_gateway(provider.docker_network)


DB_STORE_VARIABLE = "CATTLE_DB_STORE"


def database_store(environment: env.Environment) -> Store | None:
    url = os.environ.get(DB_STORE_VARIABLE) or environment.backups.database_store
    return open_store(url, environment.root) if url else None


def plan_database(environment: env.Environment, allow_empty: bool,
                  recover_to: str | None = None) -> tuple[database.Decision | None, preflight.Check | None]:
    """initdb or recovery from the env's database store, read once at preflight; a failed check when in doubt.
    `recover_to`: recovery to that point in time (refused when the store cannot reach it, or holds nothing)."""
    try:
        store = database_store(environment)
    except StoreError as exc:
        return None, preflight.Check("database store", False, exc.message, exc.hint)
    if store is None:
        if recover_to is not None:
            return None, preflight.Check("database store", False, f"--to {recover_to}: {environment.name} names no "
                                         "database backup store (backups.database) to recover from",
                                         f"set backups.database or {DB_STORE_VARIABLE}")
        if environment.protected and not allow_empty:  # no store to look in is a doubt too: never empty by default
            return None, preflight.Check(
                "database store", False, f"{environment.name} is protected but names no database backup store "
                "(backups.database), so cattle cannot know whether a backup exists",
                f"set backups.database in clusters/{environment.name}/environment.yaml (or {DB_STORE_VARIABLE}); "
                "for a brand-new environment pass --allow-empty-database")
        return database.Decision("initdb", 1, None, None, "no database backup store configured: new, empty "
                                 "database"), None
    try:
        if recover_to is not None:
            return database.decide_to_time(store, environment.name, database.parse_target(recover_to),
                                           protected=environment.protected), None
        return database.decide(store, environment.name, protected=environment.protected,
                               allow_empty=allow_empty), None
    except DatabaseError as exc:
        return None, preflight.Check("database store", False, exc.message, exc.hint)


BACKUP_ENDPOINT_VARIABLE = "CATTLE_BACKUP_S3_ENDPOINT"


def bootstrap_overrides() -> dict[str, str]:
    """Values this run sets over cluster-vars through the cattle-bootstrap ConfigMap: the in-cluster backup store's
    endpoint from $CATTLE_BACKUP_S3_ENDPOINT (a store whose address is only known on the machine that runs the
    rebuild, such as the CI job's own S3 server), so nothing in the checkout has to change."""
    endpoint = os.environ.get(BACKUP_ENDPOINT_VARIABLE)
    return {"BACKUP_S3_ENDPOINT": endpoint} if endpoint else {}


def database_choice(environment: env.Environment, kube: Kube,
                    decision: database.Decision) -> tuple[dict[str, str], str]:
    """The planned initdb/recovery for the CNPG Cluster, applied before Flux creates it (kept once it exists)."""
    kube.learn_flux(crd_kinds(environment.root / "vendor/crds/cloudnative-pg/postgresql.cnpg.io_clusters.yaml"))
    existing = kube.get("v1", "ConfigMap", flux.BOOTSTRAP_VARS, flux.NAMESPACE)
    if existing and kube.get("postgresql.cnpg.io/v1", "Cluster", database.CLUSTER, "feeds"):
        data = {str(k): str(v) for k, v in (existing.get("data") or {}).items()}
        return data, f"{database.CLUSTER} exists already ({data.get('DB_BOOTSTRAP')}, {data.get('DB_GENERATION')})"
    store = database_store(environment)
    if store is not None:
        database.record(store, decision)
    return decision.variables, decision.reason


@dataclass(frozen=True)
class Planned:
    """Everything bootstrap decided before touching anything, gathered once; the run executes exactly this (it
    neither loads the environment again nor renders it again)."""

    environment: env.Environment
    plan: Plan
    vault: vaultdrill.VaultDecision
    database: database.Decision | None
    blocked: PreflightError | None
    provider: Provider
    flux_objects: list[dict[str, Any]]  # the Flux install, from clusters/flux-system
    expected: list[tuple[str, str, str]]  # the Flux objects the reconcile waits for, from the one rendering
    depends: dict[str, list[str]]
    openbao_nodes: int = 1  # server.ha.replicas of git's OpenBao HelmRelease


def plan(name: str | env.Environment, options: Options) -> Planned:
    """Load (unless given the environment), preflight and plan; touches nothing.

    A failed preflight raises at once, except in a dry run: there the plan is still made (what cannot be asked
    without the missing tools is marked unknown) and the preflight error is returned for the caller to raise
    after printing it.
    """
    environment = env.load(name) if isinstance(name, str) else name
    if options.context:
        environment = replace(environment, kube_context=options.context)
    failed = preflight.failed_checks(environment, options.provider)
    vault_decision = vaultdrill.plan_vault(environment, options.allow_empty_vault, options.snapshot)
    if vault_decision.action == "refuse":
        failed.append(preflight.Check("vault store", False, vault_decision.reason, vault_decision.hint))
    db_decision, db_check = plan_database(environment, options.allow_empty_database, options.recover_to)
    if db_check is not None:
        failed.append(db_check)
    blocked = preflight.error(environment, options.provider, failed) if failed else None
    if blocked is not None and not options.dry_run:
        raise blocked
    provider = get_provider(environment, options.provider, state_dir(environment.root))
    git_url = "(served from this checkout)" if options.serve else gitsource.resolve(environment, options.git_url).url
    database_reason = db_decision.reason if db_decision else "REFUSED: see the failed preflight check"
    facts = gather_facts(environment, provider, options, git_url, vault_decision, database_reason, failed)
    flux_objects = fluxinstall.manifests(environment.root)
    credentials = gitsource.credentials_secret()
    expected, depends, nodes = _rendered_facts(environment, {**db_decision.variables, **bootstrap_overrides()}
                                               if db_decision else None)
    the_plan = build_plan(facts, flux_objects,
                          flux.sync_objects(environment, git_url, with_credentials=credentials is not None),
                          [flux.GIT_SECRET] if credentials else [], expected, depends)
    return Planned(environment, the_plan, vault_decision, db_decision, blocked, provider, flux_objects, expected,
                   depends, nodes)


def run(name: str | env.Environment, options: Options | None = None, timeline: Timeline | None = None,
        on_waiter: Callable[[reconcile.Waiter], None] | None = None) -> Timeline | None:
    """Rebuild one environment from git; returns the timeline (None for a dry run).

    Given a name, the environment file is read here, once for the whole run (a caller that has loaded it already
    passes the Environment). `timeline` and `on_waiter` let a caller watch a run in progress
    (cattle.bootstrap.fleet's combined view).
    """
    options = options or Options()
    environment = env.load(name) if isinstance(name, str) else name
    if options.serve is None:
        local = (options.provider or environment.provider) in ("kind", "k3d")
        options = replace(options, serve=local and environment.git_url is None and options.git_url is None)
    timeline = timeline or Timeline(environment.name)
    try:
        with timeline.phase("preflight") as event:
            planned = plan(environment, options)
            environment, the_plan, blocked = planned.environment, planned.plan, planned.blocked
            event.detail = f"{len(the_plan.changes)} steps will act"
            if blocked is not None:
                event.status, event.detail = "failed", "a real run would stop here (dry run goes on to plan)"
        print(the_plan.render(with_objects=options.dry_run))
        if options.dry_run:
            timeline.events.clear()
            if blocked is not None:
                raise blocked
            return None
        _execute(planned, options, timeline, on_waiter)
        timeline.result = "ok"
        return timeline
    except CattleError:
        timeline.result = "failed"
        raise
    finally:
        if len(timeline.events) > 1:  # a run that got past preflight
            path = timeline.write(state_dir(repo_root()) / "runs")
            print("\n" + timeline.render())
            console.say(f"timeline written to {path}")


def _execute(planned: Planned, options: Options, timeline: Timeline,
             on_waiter: Callable[[reconcile.Waiter], None] | None = None) -> None:
    environment = planned.environment
    assert planned.database is not None  # a plan without a database decision is blocked at preflight
    root = environment.root
    timeout = options.timeout or environment.reconcile_timeout
    provider = planned.provider
    with ExitStack() as stack:
        with timeline.phase("secrets: age key") as event:
            identity, outcomes = secrets.ensure_key(root, environment.name,
                                                    may_generate=environment.generate_missing_key)
            event.detail = f"{identity.source}" + (f"; regenerated {len(outcomes)} secrets" if outcomes else "")
        with timeline.phase("cluster", waiting=True) as event:
            created = provider.ensure()
            event.detail = "created" if created else "reused"
        if options.serve:  # after the cluster: its docker network (where the host address comes from) exists now
            from cattle.bootstrap.gitserve import GitServer

            host = serve_host(provider)
            server = stack.enter_context(GitServer(root, environment.git_branch, host="0.0.0.0"))
            git_url = server.url(host)
            console.say(f"serving this checkout (commit {server.commit[:10]}) at {git_url}")
        else:
            git_url = gitsource.resolve(environment, options.git_url).url
        kube = Kube.from_kubeconfig(*provider.kubeconfig())
        stack.callback(kube.close)
        if provider.creates_clusters:  # preflight could not ask a cluster that did not exist yet: ask it now
            version = preflight.judge_server_version(environment, kube.version())
            if not version.ok:
                raise PreflightError(f"the {provider.name} cluster of {environment.name}: {version.detail}",
                                     version.hint)
        with timeline.phase("flux", waiting=True) as event:
            count = fluxinstall.install(kube, planned.flux_objects, timeout)
            event.detail = f"{count} objects"
        with timeline.phase("secrets") as event:
            kube.apply(keys.flux_secret(identity, environment.name), force=True)  # cattle owns secret zero
            credentials = gitsource.credentials_secret()
            if credentials:
                kube.apply(credentials, force=True)
            event.detail = "sops-age" + (" + git credentials" if credentials else "")
        with timeline.phase("database") as event:
            decision_vars, event.detail = database_choice(environment, kube, planned.database)
            kube.apply(flux.bootstrap_configmap({**decision_vars, **bootstrap_overrides()}), force=True)
        with timeline.phase("sync") as event:
            for obj in flux.sync_objects(environment, git_url, with_credentials=credentials is not None):
                kube.apply(obj, force=True)
            event.detail = f"{git_url} @ {environment.git_branch}"
        expected, depends = planned.expected, planned.depends  # the rendering made at preflight
        vault_done: list[str] = []

        def bring_up_vault() -> None:  # as soon as OpenBao is up: the secret store of platform-configs needs it
            with timeline.phase("restore", waiting=True) as vault_event:
                vault_event.detail = restore_state(environment, provider.kubeconfig(), options.vault_addr,
                                                   planned.vault, cluster_ca(kube), planned.openbao_nodes)
            vault_done.append(vault_event.detail)

        waiter = reconcile.Waiter(kube, expected, on_ready={OPENBAO_RELEASE: bring_up_vault},
                                  budget=environment.rto_budget, spent=time.time() - timeline.started)
        if on_waiter is not None:
            on_waiter(waiter)
        with timeline.phase("reconcile", waiting=True) as event:
            try:
                waiter.wait(timeout)
            finally:
                for item in waiter.tracked.values():
                    if item.kind == "Kustomization" and item.first_seen:
                        timeline.record(f"reconcile {item.name}", item.first_seen, item.ready_at or item.first_seen,
                                        item.state, item.message[:80])
                timeline.critical_path = reconcile.critical_path(waiter.tracked, depends)
            event.detail = f"{len(expected)} objects Ready"
        imagepulls.record(kube, timeline)  # how much of the reconcile was downloading images, per image
        if not vault_done:  # no OpenBao HelmRelease among the env's objects: restore after the reconcile
            bring_up_vault()
        with timeline.phase("verify") as event:
            event.detail = f"{waiter.verify()} Flux objects Ready"


def connect(name: str | env.Environment, provider_name: str | None,
            context: str | None = None) -> tuple[env.Environment, Kube]:
    environment = env.load(name) if isinstance(name, str) else name
    if context:
        environment = replace(environment, kube_context=context)
    provider = get_provider(environment, provider_name, state_dir(environment.root))
    return environment, Kube.from_kubeconfig(*provider.kubeconfig())


def status(name: str, provider_name: str | None = None, context: str | None = None) -> str:
    """The readiness table of an environment's Flux objects."""
    environment, kube = connect(name, provider_name, context)
    try:
        kube.learn_flux(fluxinstall.manifests(environment.root))
        return reconcile.status_table(kube)
    finally:
        kube.close()


@dataclass(frozen=True)
class DestroyTarget:
    """The cluster destroy would delete, and the provider that deletes it: what the operator confirms is what goes."""

    description: str
    provider: Provider


def destroy_target(name: str, provider_name: str | None, i_mean_production: bool) -> DestroyTarget:
    """What destroy would delete; refuses a protected environment without the explicit flag."""
    environment = env.load(name)
    if environment.protected and not i_mean_production:
        raise CattleError(f"{name} is protected: destroying it needs --i-mean-production",
                          "double-check the environment name; this deletes the whole cluster")
    provider = get_provider(environment, provider_name, state_dir(environment.root))
    return DestroyTarget(f"{provider.name} cluster {environment.cluster_name} ({name})", provider)


def destroy(target: DestroyTarget) -> None:
    """Delete the cluster destroy_target() named (the environment is not read again in between)."""
    target.provider.delete()
