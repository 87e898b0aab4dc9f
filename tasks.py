"""cattle's command line: thin invoke tasks over the `cattle` package.

Every task parses its flags, calls one function, and prints the result.
A CattleError becomes a one-paragraph message and exit code 1; anything else keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task as invoke_task

from cattle.cli import repo_relative, user_path
from cattle.errors import CattleError

DEFAULT_ENV = "testing"
UNVERIFIED = 3  # secrets.check's exit code when it found nothing wrong but could not verify every MAC


# tasks that run unchanged under invoke's --dry (-R): `test` runs its commands through c.run, which --dry echoes
_DRY_BY_INVOKE = frozenset({"test"})
DRY_REFUSAL = ("error: --dry (-R) asks for a rehearsal, and {task} has none: nothing was run. Rehearse a rebuild "
               "with bootstrap --dry-run; read-only tasks (status, validate, diff, env.*, vault.snapshots, db.backups, "
               "charts.check) run as usual under --dry.")


# what Ctrl-C leaves behind, and whether a re-run is safe (exit 130, the shell's code for SIGINT)
INTERRUPTED = 130
LEFT_BY_DEFAULT = ("it stopped part-way: what it had finished stays as it is; run the same command again, which "
                   "starts from what it finds")
LEFT_BY_READ_ONLY = "nothing was changed; a re-run is safe"
LEFT_BY_VAULT_DRILL = ("nothing was left: the throwaway OpenBao cattle started was stopped and its data removed, and "
                       "nothing in the store changed; a re-run is safe")
LEFT_BY_DB_DRILL = ("nothing was left: the throwaway PostgreSQL cattle started was stopped and its data removed; the "
                    "store is unchanged and the run record says interrupted; a re-run is safe")
LEFT_BY_DB_RESTORE = ("nothing was left: the throwaway PostgreSQL cattle started was stopped and its data removed; "
                      "the store is unchanged; a re-run is safe")
_LEFT_BY_NAME = {"test": "the tests stopped; nothing was changed; a re-run is safe"}


def _guard(body: Callable[..., Any], read_only: bool, interrupted: str | None) -> Callable[..., Any]:
    """Every task: invoke's core flag --dry (-R) honoured or refused, never ignored (a task with --dry-run runs as a
    dry run, a read-only task runs, every other task stops before doing anything, exit 2); Ctrl-C says
    "interrupted", what was left and whether a re-run is safe, exit 130 (never a traceback)."""
    import functools
    import inspect

    has_dry_run = "dry_run" in inspect.signature(body).parameters
    left = interrupted or _LEFT_BY_NAME.get(body.__name__) or (LEFT_BY_READ_ONLY if read_only else LEFT_BY_DEFAULT)

    @functools.wraps(body)
    def run(c: Context, *args: Any, **kwargs: Any) -> Any:
        name = getattr(run, "full_name", body.__name__)
        if c.config.run.dry and not read_only and body.__name__ not in _DRY_BY_INVOKE:
            if not has_dry_run:
                raise Exit(DRY_REFUSAL.format(task=name), code=2)
            kwargs["dry_run"] = True
        try:
            return body(c, *args, **kwargs)
        except KeyboardInterrupt:
            raise Exit(f"interrupted: {name}: {left}", code=INTERRUPTED) from None
        except ValueError as exc:  # invoke's c.run passing Ctrl-C on to a command whose stdin it had closed
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise Exit(f"interrupted: {name}: {left}", code=INTERRUPTED) from None
            raise

    return run


def task(*args: Any, read_only: bool = False, interrupted: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """invoke's @task without automatic short flags: every flag has one long name meaning one thing across tasks
    (auto short flags gave -s three meanings). `read_only`: the task changes nothing, so it runs under --dry;
    `interrupted`: what Ctrl-C leaves and whether a re-run is safe, when not LEFT_BY_DEFAULT."""
    kwargs.setdefault("auto_shortflags", False)
    if len(args) == 1 and callable(args[0]) and not kwargs.get("name") and len(kwargs) == 1:
        decorator: Callable[..., Any] = invoke_task(**kwargs)
        return decorator(_guard(args[0], read_only, interrupted))  # type: ignore[no-any-return]

    def wrap(body: Callable[..., Any]) -> Any:
        return invoke_task(*args, **kwargs)(_guard(body, read_only, interrupted))

    return wrap

_PROVIDERS = "kind, k3d, opentofu or kubeconfig"  # cattle.bootstrap.preflight.PROVIDER_TOOLS (tests/test_tasks.py)
_SECRET_FILE = "a file under secrets/<env>/ (from where you stand, or from the repository root)"


@contextmanager
def failures() -> Iterator[None]:
    """Turn a CattleError into a clean exit with its message and hint."""
    try:
        yield
    except CattleError as exc:
        raise Exit(f"error: {exc}", code=1) from None


def _env_name(c: Context, env: str | None) -> str:
    return env or str(c.config.get("cattle", {}).get("env", DEFAULT_ENV))


def _choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """A flag value from a fixed set, or a clear error naming the set."""
    if value not in choices:
        raise Exit(f"error: --{option} {value!r} is not one of: {', '.join(choices)}", code=2)
    return value


# --- top level -------------------------------------------------------------------------------


@task(help={"env": "environment to rebuild (default: testing), or all: every environment at once",
            "provider": f"override the cluster provider: {_PROVIDERS}",
            "dry_run": "print the full plan (every step and object) and change nothing",
            "serve": "serve this checkout (working tree) to the cluster instead of a pushed remote (default for "
                     "kind/k3d when the env has no git.url)",
            "git_url": "Git URL for Flux (default: git.url of the environment, else remote origin)",
            "vault_addr": "OpenBao address for the restore (default: a kubectl port-forward)",
            "timeout": "seconds to wait for everything to be Ready (default: reconcile.timeout)",
            "allow_empty_database": "let a protected env start with an empty database when no backup exists",
            "allow_empty_vault": "start a fresh OpenBao although the env is protected or its store holds objects "
                                 "cattle cannot use (they are left untouched)",
            "snapshot": "the Vault snapshot to restore (an id from vault.snapshots; default: the newest valid)",
            "context": "kubeconfig context of the new cluster (default: cluster.context of the environment)",
            "to": "recover the database to this point in time, with a zone: '2026-12-04 14:01:30Z' (CNPG's "
                  "recoveryTarget; refused when the store cannot reach it; default: the end of the archive)"})
def bootstrap(c: Context, env: str | None = None, provider: str | None = None, dry_run: bool = False,
              serve: bool = False, git_url: str | None = None, vault_addr: str | None = None,
              timeout: float | None = None, allow_empty_database: bool = False,
              allow_empty_vault: bool = False, snapshot: str = "latest", context: str | None = None,
              to: str | None = None) -> None:
    """Rebuild an environment from git: cluster, Flux, secrets, reconcile, restore, report (RTO)."""
    from cattle.bootstrap import rebuild as flow

    seconds = float(timeout) if timeout is not None else None
    options = flow.Options(provider, dry_run, True if serve else None, git_url, vault_addr, seconds,
                           allow_empty_database, allow_empty_vault, snapshot, context, to)
    if env == "all":  # every environment at once: cattle.bootstrap.fleet
        from cattle.bootstrap import fleet

        if context:
            raise Exit("error: --context names one cluster; it cannot go with --env all", code=2)
        if to:
            raise Exit("error: --to is one environment's point in time; it cannot go with --env all", code=2)
        with failures():
            result = fleet.run_all(options)
        print("\n" + result.summary())
        if not result.ok:
            raise Exit(f"error: {sum(1 for r in result.runs if r.result != 'ok')} environment(s) failed", code=1)
        return
    with failures():
        flow.run(_env_name(c, env), options)


@task(iterable=["context", "provider"], help={
    "git_url": "URL of your copy of this repository (what Flux pulls)", "domain": "your base DNS name "
    "(production's; staging gets staging.DOMAIN)", "bucket": "your off-site backup bucket (s3://BUCKET/<env>/...)",
    "contact": "address for Let's Encrypt and alerts", "context": "ENV=CONTEXT: kubeconfig context of an "
    "environment's cluster (repeatable)", "provider": "ENV=PROVIDER: how an environment's cluster is made: kind, "
    "k3d, opentofu (infra/<env>/) or kubeconfig (repeatable)"})
def adopt(c: Context, git_url: str, domain: str, bucket: str, contact: str, context: list[str] | None = None,
          provider: list[str] | None = None) -> None:
    """Make the repository yours: every placeholder file, an age key and secrets per environment, custody checklist."""
    from cattle.env import environment_names
    from cattle.secrets import adopt as adoption

    with failures():
        known = environment_names(_root())
        contexts = adoption.per_environment("--context", context or [], known)
        providers = adoption.per_environment("--provider", provider or [], known)
        result = adoption.adopt(_root(), adoption.Settings(git_url, domain, bucket, contact, contexts, providers))
    print("\n".join([f"wrote {f}" for f in result.files] or ["no placeholder left to replace"]))
    for env_name, what in result.secrets.items():
        print(f"{env_name}: secrets {what}")
    print(result.checklist())


@task(read_only=True, help={"env": "environment (default: testing)",
                            "provider": f"override the cluster provider: {_PROVIDERS}",
                            "context": "kubeconfig context (default: cluster.context of the environment)"})
def status(c: Context, env: str | None = None, provider: str | None = None, context: str | None = None) -> None:
    """Show the readiness of every Flux Kustomization and HelmRelease of an environment."""
    from cattle.bootstrap import rebuild as flow

    with failures():
        print(flow.status(_env_name(c, env), provider, context))


@task(help={"env": "environment (default: testing)", "provider": f"override the cluster provider: {_PROVIDERS}",
            "yes": "do not ask for confirmation", "i_mean_production": "required to destroy a protected env"})
def destroy(c: Context, env: str | None = None, provider: str | None = None, yes: bool = False,
            i_mean_production: bool = False) -> None:
    """Delete an environment's cluster (asks first; production also needs --i-mean-production)."""
    from cattle.bootstrap import rebuild as flow

    name = _env_name(c, env)
    with failures():
        target = flow.destroy_target(name, provider, i_mean_production)
        if not yes:
            if not sys.stdin.isatty():
                raise Exit(f"refusing to destroy {target.description} without confirmation: pass --yes", code=1)
            if input(f"Destroy {target.description}? Type the environment name to confirm: ").strip() != name:
                raise Exit("not confirmed; nothing was deleted", code=1)
        flow.destroy(target)
    print(f"destroyed {target.description}")


@task(help={"env": "environment whose branch to serve (default: testing)", "host": "address to listen on",
            "port": "port (default: 8480)"})
def serve(c: Context, env: str | None = None, host: str = "0.0.0.0", port: int = 8480) -> None:
    """Serve this checkout over git smart HTTP so a local cluster's Flux can fetch it (Ctrl-C stops)."""
    import time

    from cattle import env as environments
    from cattle.bootstrap.gitserve import GitServer

    with failures():
        item = environments.load(_env_name(c, env))
        with GitServer(item.root, item.git_branch, host=host, port=port) as server:
            print(f"serving commit {server.commit[:10]} of the working tree at {server.url(host)} (Ctrl-C stops)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


@task(read_only=True, help={"env": "validate only this environment (default: all)",
            "format": "text (default) or json"})
def validate(c: Context, env: str | None = None, format: str = "text") -> None:
    """Render every environment offline as Flux would and check schemas and policy."""
    from cattle.manifests import validate as validation

    _choice("format", format, ("text", "json"))
    with failures():
        reports = validation.validate([env] if env else None)
    print(validation.format_json(reports) if format == "json" else validation.format_text(reports))
    if not all(r.ok for r in reports):
        raise Exit(code=1)


@task(name="pull")
def charts_pull(c: Context) -> None:
    """Download every chart of platform/versions.yaml into .cattle/charts (needs helm and the chart repositories)."""
    from cattle.manifests import charts

    with failures():
        for line in charts.pull():
            print(line)


@task(read_only=True, name="check", help={"env": "only this environment (default: all)",
                          "format": "text (default) or markdown (for the job summary)",
                          "require": "fail when a release could not be rendered (CI: helm and every chart are there)"})
def charts_check(c: Context, env: str | None = None, format: str = "text", require: bool = False) -> None:
    """Render every HelmRelease with its cached chart and values; check the output; report unread values keys.

    A release whose chart (or helm) is missing is SKIPPED, which is never a pass: --require makes it an error."""
    from cattle.manifests import charts

    _choice("format", format, ("text", "markdown"))
    with failures():
        results = charts.check([env] if env else None)
    print(charts.format_text(results, markdown=format == "markdown"))
    if any(r.status == "FAILED" for r in results) or (require and any(r.status == "SKIPPED" for r in results)):
        raise Exit(code=1)


@task(read_only=True, help={"base": "git ref to compare with (e.g. origin/main)", "env": "only this environment",
            "format": "text (default) or markdown (for a PR comment or job summary)"})
def diff(c: Context, base: str, env: str | None = None, format: str = "text") -> None:
    """Render every env at REF and in the working tree; show added/removed/changed objects (secrets masked)."""
    from cattle.manifests import diff as differ
    from cattle.paths import repo_root

    _choice("format", format, ("text", "markdown"))
    with failures():
        results = differ.diff(repo_root(), base, [env] if env else None)
    print(differ.format_markdown(results, base) if format == "markdown" else differ.format_text(results))


AUDIT_FAILED = 2  # audit's exit code when it could not compare (1 is "a rebuild would lose something")


@task(read_only=True, help={"env": "environment (default: testing)",
                            "provider": f"override the cluster provider: {_PROVIDERS}",
                            "context": "kubeconfig context (default: cluster.context of the environment)",
                            "format": "text (default) or json",
                            "ignore": "a YAML list of accepted exceptions: {kind, namespace, name, reason, owner}"})
def audit(c: Context, env: str | None = None, provider: str | None = None, context: str | None = None,
          format: str = "text", ignore: str | None = None) -> None:
    """What a rebuild from git would lose right now: live objects not in git, hand edits, suspended or stale Flux
    objects, data with no restore path. Read-only; exit 0 when nothing, 1 when something, 2 when it cannot tell."""
    import time

    from cattle.audit import findings
    from cattle.audit import run as auditing
    from cattle.dr import history
    from cattle.paths import repo_root

    _choice("format", format, ("text", "json"))
    started = time.time()
    try:
        result = auditing.audit(_env_name(c, env), provider, context,
                                user_path(ignore, repo_root()) if ignore else None)
    except CattleError as exc:
        raise Exit(f"error: audit could not compare the cluster with git: {exc}", code=AUDIT_FAILED) from None
    print(findings.format_json(result) if format == "json" else findings.format_text(result))
    if c.config.run.dry:  # --dry: read-only, so it runs, but keeps no run record either
        print("--dry: no run record kept", file=sys.stderr)
    else:
        print(history.save(repo_root(), auditing.record(result, started)).describe(), file=sys.stderr)
    if not result.ok:
        raise Exit(code=1)


@task(iterable=["env", "records"],
      help={"output": "directory for index.html, badge.svg, badge-<env>.svg and report.json (default: "
                      ".cattle/report)",
            "env": "only this environment (repeatable; default: all)",
            "runs": "how many runs the RTO trend shows per environment (default: 12)",
            "records": "also read run records from this directory (repeatable); the history branch cattle-runs "
                       "and .cattle/runs are always read",
            "summary": "also append the headlines as markdown to this file (e.g. $GITHUB_STEP_SUMMARY)",
            "link": "the page's address, named in the summary",
            "check_stores": "read the backup stores (default); --no-check-stores: the page says 'not checked from "
                            "CI' (the workflow's report job holds no store credentials)"})
def report(c: Context, output: str = ".cattle/report", env: list[str] | None = None, runs: int = 12,
           records: list[str] | None = None, summary: str | None = None, link: str | None = None,
           check_stores: bool = True) -> None:
    """Build the recovery report: one self-contained HTML page (drills and RTO trend, backup freshness,
    restore rehearsals, key custody) and a status badge."""
    from cattle.report import page as pages

    root = _root()
    with failures():
        built = pages.build(root, user_path(output, root), env or None, runs=int(runs),
                            records=tuple(user_path(r, root) for r in records or ()), check_stores=check_stores)
    text = pages.summary_markdown(built.report, link)
    print(text + f"\nwritten: {built.page}")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text)


@task(help={"lint_only": "run ruff and mypy, not pytest", "k": "pytest -k expression",
            "tier": "which tests: all (default), main (the suite without a control plane) or controlplane (the tier "
                    "on a real kube-apiserver and the real Flux controllers, in its own network namespace)"})
def test(c: Context, lint_only: bool = False, k: str | None = None, tier: str = "all") -> None:
    """Lint (ruff), type-check (mypy --strict) and run the whole test suite: the main suite and, alongside it in the
    background, the control plane tier (tests/controlplane), whose output is shown when the main suite ends."""
    if tier not in ("all", "main", "controlplane"):
        raise Exit(f"--tier {tier!r}: choose all, main or controlplane", code=2)
    python = sys.executable
    c.run(f"{python} -m ruff check cattle tests tasks.py bench", echo=True)
    c.run(f"{python} -m mypy --strict cattle", echo=True)
    if lint_only:
        return
    select = f" -k {k!r}" if k else ""
    # two workers per core (at most 8): much of the suite's time is tests waiting on real servers (OpenBao
    # applies a restored snapshot ~5 s after taking it, PostgreSQL replays WAL), which the extra workers fill.
    # Measured on an idle 2-core machine: 3 workers 4:23, 4 workers 3:43, 5 workers 3:46 (tests/README.md)
    workers = min(2 * (os.cpu_count() or 2), 8)
    main_suite = ("the main suite", f"{python} -m pytest -n {workers} --dist loadgroup{select}")
    # two tests at a time, each in a network namespace of its own (tests/controlplane/conftest.py), so nothing
    # a test starts reaches beyond its loopback: a test mostly waits on the controllers, and each starts a whole
    # control plane (two for --env all)
    control_plane = ("the control plane tier", f"{python} -m pytest -n 2 --dist loadgroup tests/controlplane{select}")
    if tier != "all":
        what, command = main_suite if tier == "main" else control_plane
        _pytest_passed(what, c.run(command, echo=True, warn=True, pty=False))
        return
    # both at once: each tier leaves about a third of the two cores idle, waiting on servers (measured 2026-12-04:
    # the main suite 7.2 CPU-minutes in 5.3, the tier 9.9 in 8.3); the tier, the longer, starts first
    from cattle.testsuite import Background

    with Background(control_plane[0], control_plane[1], _root() / ".cattle" / "test-controlplane.log") as tier_run:
        main_result = c.run(main_suite[1], echo=True, warn=True, pty=False)
        tier_code = tier_run.finish()
    codes = {main_suite[0]: main_result.exited if main_result is not None else 1, control_plane[0]: tier_code}
    if k and set(codes.values()) != {5}:  # -k picks tests of one tier, most often: the other collecting none is fine
        codes = {what: code for what, code in codes.items() if code != 5}
    failed = [f"{what} (exit {code})" for what, code in codes.items() if code != 0]
    if failed:
        raise Exit(f"pytest failed in {' and '.join(failed)}; exit 5 means it collected no tests", code=1)


def _pytest_passed(what: str, result: Any) -> None:
    if result is None or result.exited == 5:
        raise Exit(f"pytest collected no tests in {what}: that is a failure, not a pass", code=1)
    if result.exited != 0:
        raise Exit(f"pytest failed in {what} (exit {result.exited})", code=result.exited)


@task(read_only=True, name="help", positional=["task"], help={"task": "a task to show (default: list them all)"})
def help_(c: Context, task: str | None = None) -> None:
    """List the tasks, or show one task's flags: help TASK (the same as --list / --help TASK)."""
    from cattle.cli import main

    main(ns, [sys.argv[0], "--help", task] if task else [sys.argv[0], "--list"])


# --- env.* -----------------------------------------------------------------------------------


@task(read_only=True, name="list")
def env_list(c: Context) -> None:
    """List the environments declared under clusters/."""
    from cattle import env as environments

    with failures():
        for item in environments.load_all():
            print(f"{item.name:12} provider={item.provider:10} domain={item.domain}")


@task(read_only=True, name="show", help={"env": "environment name (default: testing)"})
def env_show(c: Context, env: str | None = None) -> None:
    """Show one environment's settings and Flux variables."""
    from cattle import env as environments

    with failures():
        item = environments.load(_env_name(c, env))
        print(f"name: {item.name}\nprovider: {item.provider}\ncluster: {item.cluster_name}\n"
              f"domain: {item.domain}\nprotected: {'yes' if item.protected else 'no'}\n"
              f"git: {item.git_url or '(git remote origin)'} @ {item.git_branch}\n"
              f"reconcile timeout: {item.reconcile_timeout:.0f}s\nRTO budget: {item.rto_budget:.0f}s")
        for key, value in sorted(item.vars.items()):
            print(f"  {key}={value}")


env_ns = Collection("env", env_list, env_show)


# --- secrets.* -------------------------------------------------------------------------------


def _root() -> Path:
    from cattle.paths import repo_root

    return repo_root()


def _secret_file(file: str) -> Path:
    """A secret file argument as a path relative to the repository; a file that is nowhere is "no such file"
    (not "not under secrets/<env>/" for a typo made inside secrets/testing)."""
    root = _root()
    if not user_path(file, root).is_file():
        here = Path(os.environ.get("CATTLE_CWD") or Path.cwd())
        raise Exit(f"error: no such file: {file} (looked in {here} and in the repository root {root})", code=1)
    return repo_relative(file, root)


def _print_outcomes(outcomes: list[Any]) -> None:
    for outcome in outcomes:
        print(f"{outcome.status:10} {outcome.path}")


@task(name="init", help={"env": "environment (default: testing)",
                         "regenerate": "also regenerate every declared secret for the new key (placeholders)",
                         "force": "replace the key of an env whose files are encrypted for another (lost) key"})
def secrets_init(c: Context, env: str | None = None, regenerate: bool = False, force: bool = False) -> None:
    """Create the env's age key (never overwrites one), set it in .sops.yaml, install the pre-commit hook."""
    from cattle.secrets import files as secrets
    from cattle.secrets import keys

    name = _env_name(c, env)
    with failures():
        identity = secrets.init(_root(), name, force=force)
        print(f"created {keys.key_file(name)} (0600); public key {identity.public} written to .sops.yaml")
        print("Put a copy of the private key in custody now (docs/secrets.md).")
        if regenerate:
            _print_outcomes(secrets.generate(_root(), name, regenerate_all=True))


@task(name="generate", iterable=["rotate"],
      help={"env": "environment (default: testing)", "rotate": "regenerate this existing secret (repeatable)"})
def secrets_generate(c: Context, env: str | None = None, rotate: list[str] | None = None) -> None:
    """Create every declared secret that is missing, encrypted; existing values stay unless --rotate NAME."""
    from cattle.secrets import files as secrets

    with failures():
        _print_outcomes(secrets.generate(_root(), _env_name(c, env), tuple(rotate or ())))


@task(name="new", iterable=["literal"],
      help={"env": "environment (default: testing)", "name": "Secret name", "namespace": "Secret namespace",
            "literal": "KEY=VALUE (repeatable)"})
def secrets_new(c: Context, name: str, namespace: str, env: str | None = None,
                literal: list[str] | None = None) -> None:
    """Encrypt a new Secret from literal values into secrets/<env>/<name>.secret.yaml."""
    from cattle.secrets import files as secrets

    pairs = [item.split("=", 1) for item in literal or []]
    if any(len(p) != 2 for p in pairs):
        raise Exit("error: --literal takes KEY=VALUE", code=1)
    with failures():
        print(secrets.new(_root(), _env_name(c, env), name, namespace, {k: v for k, v in pairs}))


@task(name="encrypt", help={"file": _SECRET_FILE})
def secrets_encrypt(c: Context, file: str) -> None:
    """Encrypt a plaintext Secret file in place (refuses an already-encrypted one)."""
    from cattle.secrets import files as secrets

    with failures():
        secrets.encrypt_in_place(_root(), _secret_file(file))
        print(f"encrypted {file}")


@task(name="decrypt", help={"file": _SECRET_FILE})
def secrets_decrypt(c: Context, file: str) -> None:
    """Print a secret file's plaintext (to stdout only; nothing is written)."""
    from cattle.secrets import files as secrets

    with failures():
        sys.stdout.write(secrets.decrypt(_root(), _secret_file(file)).decode())


@task(name="edit", help={"file": _SECRET_FILE})
def secrets_edit(c: Context, file: str) -> None:
    """Edit a secret in $EDITOR; it is re-encrypted only when changed."""
    from cattle.secrets import files as secrets

    with failures():
        print("changed" if secrets.edit(_root(), _secret_file(file)) else "unchanged")


@task(name="rotate", help={"env": "environment (default: testing)"})
def secrets_rotate(c: Context, env: str | None = None) -> None:
    """Re-key every file of the env to a new age key; the old key is kept until all decrypt with the new."""
    from cattle.secrets import files as secrets
    from cattle.secrets import keys

    with failures():
        identity = secrets.rotate(_root(), _env_name(c, env))
    old = keys.rotated_key_files(_env_name(c, env))
    print(f"rotated: new public key {identity.public}; update the custody copy and CI secret now")
    if old:
        print(f"the old key is kept as {old[-1]}: Vault snapshots and init records taken before now stay encrypted "
              "for it (they are not re-encrypted), and cattle keeps decrypting them with it; keep it (and its "
              "custody copy) until they have aged out of the store")


@task(name="updatekeys", help={"env": "environment (default: testing)"})
def secrets_updatekeys(c: Context, env: str | None = None) -> None:
    """Re-encrypt every file of the env for the recipients .sops.yaml requires (e.g. a new break-glass key)."""
    from cattle.secrets import files as secrets

    with failures():
        for path in secrets.update_recipients(_root(), _env_name(c, env)):
            print(f"re-encrypted {path}")


@task(name="check", help={"env": "check only this environment (default: all)",
                          "no_decrypt": "skip MAC verification (no keys needed; the pre-commit hook and CI use "
                                        "this); without it, a file this machine has no key for ends the check "
                                        "in NOT VERIFIED, exit 3",
                          "staged": "look for plaintext in what the next commit records (the index), not the "
                                    "working tree (the pre-commit hook uses this)"})
def secrets_check(c: Context, env: str | None = None, no_decrypt: bool = False, staged: bool = False) -> None:
    """Every secret encrypted for the right keys with a valid MAC; no plaintext Secret or key anywhere else."""
    from cattle.env import environment_names
    from cattle.secrets import check as secretcheck

    root = _root()
    with failures():
        problems, notes = secretcheck.check(root, [env] if env else environment_names(root), not no_decrypt, staged)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for p in problems:
        print(f"[{p.env}] {p.file}\n  error ({p.rule}): {p.message}\n  fix: {p.hint}")
    if problems:
        raise Exit(f"secrets.check: {len(problems)} problem(s)", code=1)
    if notes and not no_decrypt:  # a check that could not check is not ok
        raise Exit(f"secrets.check: NOT VERIFIED: {len(notes)} file(s) could not be decrypted here, so their MACs "
                   "are unchecked (nothing else is wrong); get the key (docs/secrets.md), or pass --no-decrypt to "
                   f"check without keys", code=UNVERIFIED)
    print("secrets.check: ok" + (" (MACs not verified: --no-decrypt)" if no_decrypt else ""))


# --- vault.* ---------------------------------------------------------------------------------

_VAULT_HELP = {"env": "environment (default: testing)", "vault_addr": "OpenBao address (default: $VAULT_ADDR)",
               "store": "backup store URL (default: $CATTLE_VAULT_STORE, else the environment file's)"}


@task(name="configure", help={"env": _VAULT_HELP["env"], "vault_addr": _VAULT_HELP["vault_addr"],
                              "token": "a root/admin token (default: $VAULT_TOKEN)",
                              "kubernetes_ca": "PEM file of the cluster CA, for an OpenBao that does not run in the "
                                               "cluster (in-cluster it reads its pod's own)"})
def vault_configure(c: Context, env: str | None = None, vault_addr: str | None = None, token: str | None = None,
                    kubernetes_ca: str | None = None) -> None:
    """Set up an OpenBao for cattle (backup login, policy, canary mount) and the platform (external-secrets auth)."""
    from cattle import env as environments
    from cattle.vault import restore as vaultdrill

    with failures():
        item = environments.load(_env_name(c, env))
        server = vaultdrill.configure(item, vault_addr, token,
                                      user_path(kubernetes_ca, _root()) if kubernetes_ca else None)
    print(f"configured {server} for backups of {item.name} and for external-secrets (Kubernetes auth)")


@task(name="backup", help=_VAULT_HELP)
def vault_backup(c: Context, env: str | None = None, vault_addr: str | None = None, store: str | None = None) -> None:
    """Snapshot OpenBao, encrypt it for the env's age recipients, store it with a manifest; keep the last N."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill

    with failures():
        manifest = vaultdrill.backup(environments.load(_env_name(c, env)), vault_addr, store)
    print(f"snapshot {manifest.id}: {manifest.size} bytes, sha256 {manifest.sha256[:16]}…, "
          f"OpenBao {manifest.openbao_version}, {vault.describe_counts(manifest.counts)}")


@task(name="restore", help={**_VAULT_HELP, "snapshot": "snapshot id, or latest (default)",
                            "force": "replace the data of a server that already holds some",
                            "token": "token for an already-initialised server (default: $VAULT_TOKEN)"})
def vault_restore(c: Context, env: str | None = None, vault_addr: str | None = None, store: str | None = None,
                  snapshot: str = "latest", force: bool = False, token: str | None = None) -> None:
    """Restore a snapshot onto an OpenBao started with the env's seal key; verify canary and counts."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill

    with failures():
        report = vaultdrill.restore(environments.load(_env_name(c, env)), vault_addr, store, snapshot, force, token)
    state = "already restored" if report.already_restored else f"restored in {report.seconds:.1f}s"
    print(f"snapshot {report.snapshot} ({report.created}): {state}; {vault.describe_counts(report.counts)}")


@task(interrupted=LEFT_BY_VAULT_DRILL, name="verify",
      help={"env": "environment (default: testing)", "store": _VAULT_HELP["store"],
            "snapshot": "snapshot id, or latest (default)"})
def vault_verify(c: Context, env: str | None = None, store: str | None = None, snapshot: str = "latest") -> None:
    """Restore drill with no cluster: restore into a throwaway local OpenBao, check it unseals and holds the canary."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill

    with failures():
        report = vaultdrill.verify(environments.load(_env_name(c, env)), store, snapshot)
    print(f"OK: snapshot {report.snapshot} ({report.created}) decrypts, unseals and holds its canary or counts; "
          f"restored in {report.seconds:.1f}s; {vault.describe_counts(report.counts)}; {report.root_access}")


@task(read_only=True, name="snapshots", help={"env": "environment (default: testing)", "store": _VAULT_HELP["store"]})
def vault_snapshots(c: Context, env: str | None = None, store: str | None = None) -> None:
    """List the env's snapshots in its backup store with age and size."""
    from cattle import env as environments
    from cattle.console import table
    from cattle.vault import restore as vaultdrill
    from cattle.vault import snapshots

    with failures():
        item = environments.load(_env_name(c, env))
        catalog = snapshots.scan(vaultdrill.store_for(item, store), item.name)
    rows = [[m.id, m.created, f"{m.age_seconds / 3600:.1f}h", str(m.size), m.openbao_version,
             "canary" if m.canary else "counts"] for m in catalog.valid]
    print(table(["id", "created", "age", "bytes", "openbao", "verified by"], rows) if rows else
          f"no snapshots of {item.name} in {vaultdrill.store_for(item, store).url}")
    for doubt in catalog.doubts:
        print(f"cannot use: {doubt}")


@task(name="local", help={"env": "environment whose seal key the server starts with (default: testing)"})
def vault_local(c: Context, env: str | None = None) -> None:
    """Start a local OpenBao (127.0.0.1, the env's seal key, uninitialised) for trying the Vault runbook; Ctrl-C
    stops it and wipes its data."""
    import time

    from cattle.vault import openbao as vault
    from cattle.vault.server import BaoServer

    name = _env_name(c, env)
    with failures():
        seal = vault.seal_material(_root(), name)
        with BaoServer(seal.key_hex, seal.key_id) as server:
            print(f"OpenBao for {name} at {server.addr}: uninitialised, started with {name}'s seal key; its data "
                  "is wiped when it stops (Ctrl-C)\n"
                  f"  export VAULT_ADDR={server.addr}\n"
                  f"  ./scripts/cattle vault.restore --env {name} --vault-addr {server.addr}   # restore onto it "
                  "(docs/vault.md)", flush=True)
            try:
                while server.process is not None and server.process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print(f"interrupted: stopped the OpenBao at {server.addr} and wiped its data", flush=True)
                return
            code = server.process.poll() if server.process is not None else None
            raise Exit(f"error: the OpenBao at {server.addr} exited (code {code}); its log ends:\n"
                       f"{server.log_tail()}", code=1)


@task(name="import", help={"env": "environment (default: testing)", "file": "a raw snapshot from "
                           "`bao operator raft snapshot save`", "store": _VAULT_HELP["store"]})
def vault_import(c: Context, file: str, env: str | None = None, store: str | None = None) -> None:
    """Bring a snapshot taken without cattle into the store (restored once locally to prove and count it)."""
    from cattle import env as environments
    from cattle.vault import openbao as vault
    from cattle.vault import restore as vaultdrill

    with failures():
        manifest = vaultdrill.import_snapshot(environments.load(_env_name(c, env)), user_path(file, _root()), store)
    print(f"imported as snapshot {manifest.id}: {manifest.size} bytes encrypted, "
          f"{vault.describe_counts(manifest.counts)}; restores verify these counts (it has no cattle canary)")


# --- db.* ------------------------------------------------------------------------------------

_DB_HELP = {"env": "environment (default: testing)",
            "store": "database backup store (default: $CATTLE_DB_STORE, else backups.database of the env)"}


def _db_store(c: Context, env: str | None, store: str | None) -> str:
    import os

    from cattle import env as environments

    item = environments.load(_env_name(c, env))
    url = store or os.environ.get("CATTLE_DB_STORE") or item.backups.database_store
    if not url:
        raise Exit(f"error: {item.name} has no database backup store (backups.database)", code=1)
    return url


@task(read_only=True, name="backups", help=_DB_HELP)
def db_backups(c: Context, env: str | None = None, store: str | None = None) -> None:
    """List every base backup of every database generation with its age and size."""
    from cattle.console import table
    from cattle.database import backups as database
    from cattle.stores import open_store

    url = _db_store(c, env, store)
    with failures():
        found = database.listing(open_store(url, _root()))
    rows = [[f"g{b.generation}", b.backup_id, b.status, b.end_time, b.age(), str(b.size)] for b in found]
    print(table(["generation", "backup", "status", "ended", "age", "bytes"], rows) if rows else
          f"no base backups of {_env_name(c, env)} in {url}")


@task(interrupted=LEFT_BY_DB_DRILL, name="verify",
      help={**_DB_HELP, "query": "canary SQL to run on the restored database",
            "generation": "restore this generation (default: the newest complete backup)"})
def db_verify(c: Context, env: str | None = None, store: str | None = None, query: str | None = None,
              generation: int | None = None) -> None:
    """Restore drill with no cluster: newest base backup + WAL into a throwaway local PostgreSQL, canary query."""
    from cattle.database import verify as dbverify
    from cattle.dr import history

    url = _db_store(c, env, store)
    with failures(), history.recording(_root(), "db-verify", _env_name(c, env), store=url) as record:
        record["stage"] = history.PREFLIGHT  # until a backup is chosen: a refusal there is "not run"
        report = dbverify.verify(url, query, generation, root=_root(), env=_env_name(c, env),
                                 begun=lambda: record.update(stage="restore"))
        record.update(generation=report.generation, backup_id=report.backup_id, wal_files=report.wal_files,
                      seconds=round(report.seconds, 1), detail=f"g{report.generation} base backup "
                      f"{report.backup_id} restored and replayed {report.wal_files} WAL files in {report.seconds:.0f}s")
    print(f"OK: g{report.generation} backup {report.backup_id} restored with {report.wal_files} WAL files "
          f"(PostgreSQL {report.postgres_major}) in {report.seconds:.1f}s; databases: {', '.join(report.databases)}"
          + (f"; query: {report.query_result}" if query else ""))
    for note in report.notes:
        print(f"  {note}")


@task(interrupted=LEFT_BY_DB_RESTORE, name="restore",
      help={**_DB_HELP, "to": "the time to restore to, with a zone: '2026-12-04 14:01:30Z' (refused before the oldest "
                              "base backup ended or after the newest archived WAL)",
            "query": "SQL to run on the restored database (miniflux's when it exists)",
            "dump": "write a pg_dump of the restored database to this file (to copy the lost rows back)",
            "generation": "restore from this generation (default: the one a rebuild would recover from)"})
def db_restore(c: Context, to: str, env: str | None = None, store: str | None = None, query: str | None = None,
               dump: str | None = None, generation: int | None = None) -> None:
    """Point-in-time restore with no cluster: the base backup before TIME plus WAL up to TIME, into a throwaway local
    PostgreSQL; query it or dump it (e.g. the table dropped at 14:02, as it was at 14:01:30)."""
    from cattle.database import backups as database
    from cattle.database import verify as dbverify

    url = _db_store(c, env, store)
    with failures():
        target = database.parse_target(to)
        report = dbverify.verify(url, query, int(generation) if generation is not None else None, root=_root(),
                                 env=_env_name(c, env), target=target,
                                 dump=user_path(dump, _root()) if dump else None)
    print(f"OK: {_env_name(c, env)}'s database as it was at {target.isoformat(sep=' ')}: g{report.generation} backup "
          f"{report.backup_id} with {report.wal_files} WAL files (PostgreSQL {report.postgres_major}) in "
          f"{report.seconds:.1f}s; databases: {', '.join(report.databases)}"
          + (f"; query: {report.query_result}" if query else ""))
    for note in report.notes:
        print(f"  {note}")


@task(name="backup", help={"env": "environment (default: testing)",
                           "provider": f"override the cluster provider: {_PROVIDERS}"})
def db_backup(c: Context, env: str | None = None, provider: str | None = None) -> None:
    """Take an on-demand base backup of the env's database (a CNPG Backup) and wait for it."""
    from cattle.bootstrap import rebuild as flow
    from cattle.database import ondemand as dbbackup

    with failures():
        environment, kube = flow.connect(_env_name(c, env), provider)
        try:
            backup = dbbackup.request_backup(kube, environment.root)
        finally:
            kube.close()
    print(f"completed: {backup['metadata']['name']} ({(backup.get('status') or {}).get('backupId', '')})")


db_ns = Collection("db", db_backup, db_backups, db_verify, db_restore)


# --- dr.* ------------------------------------------------------------------------------------


@task(name="drill", help={"env": "environment (default: testing; protected ones are refused)",
                          "provider": f"override the cluster provider: {_PROVIDERS}",
                          "serve": "serve this checkout to the cluster (default; --no-serve lets Flux fetch the "
                                   "pushed remote)",
                          "summary": "also write a markdown summary (timeline + mermaid Gantt) to this file"})
def dr_drill(c: Context, env: str | None = None, provider: str | None = None, serve: bool = True,
             summary: str | None = None) -> None:
    """Total-loss drill: build, write canaries, back up, destroy, rebuild, smoke-check; fail over the RTO budget."""
    from cattle.dr import drill

    with failures():
        drill.drill(_env_name(c, env), provider=provider, serve=serve,
                    summary=Path(summary) if summary else None)


@task(name="coldstart", help={"env": "environment (default: testing; protected ones are refused)",
                              "provider": f"override the cluster provider: {_PROVIDERS} (only kind can power-cycle)",
                              "summary": "also write a markdown summary (verdict and timeline) to this file"})
def dr_coldstart(c: Context, env: str | None = None, provider: str | None = None, summary: str | None = None) -> None:
    """Cold-start drill: power every node off and on, no cattle command in between; everything Ready again in budget."""
    from cattle.dr import coldstart

    with failures():
        coldstart.coldstart(_env_name(c, env), provider=provider, summary=Path(summary) if summary else None)


@task(name="runner", help={"env": "environment (default: testing)",
                           "summary": "also append the facts as markdown to this file (e.g. $GITHUB_STEP_SUMMARY)"})
def dr_runner(c: Context, env: str | None = None, summary: str | None = None) -> None:
    """Before anything is created: kind (installed/pinned), node image, Kubernetes, CPU/memory, capacity check."""
    from cattle import env as environments
    from cattle.dr import runnerfacts

    with failures():
        facts = runnerfacts.gather(environments.load(_env_name(c, env)))
    print(facts.render())
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(facts.markdown())
    if not facts.ok:
        raise Exit(code=1)


@task(interrupted=LEFT_BY_VAULT_DRILL, name="rehearse", help={"env": "environment (default: testing)"})
def dr_rehearse(c: Context, env: str | None = None) -> None:
    """No-cluster readiness check: tools, keys, manifests, a recent Vault snapshot that restores. READY/NOT READY."""
    from cattle import env as environments
    from cattle.dr import history, rehearse

    with failures():
        item = environments.load(_env_name(c, env))
        result = rehearse.rehearse(item)
    print(result.render())
    print(history.save(item.root, result.as_record()).describe())
    if not result.ready:
        raise Exit(code=1)


@task(name="record", help={"directory": "a directory holding run records (.cattle/runs/*.json), e.g. the "
                                         "disaster-recovery workflow's downloaded artifacts"})
def dr_record(c: Context, directory: str) -> None:
    """Keep run records on the history branch cattle-runs (one commit; push the branch to share them)."""
    from cattle.dr import history

    with failures():
        commit, paths = history.import_directory(_root(), user_path(directory, _root()))
    print(f"branch {history.BRANCH} at {commit[:10]} holds the {len(paths)} record(s) found in {directory}")


dr_ns = Collection("dr", dr_drill, dr_coldstart, dr_rehearse, dr_runner, dr_record)

vault_ns = Collection("vault", vault_configure, vault_backup, vault_restore, vault_verify, vault_snapshots,
                      vault_import, vault_local)

secrets_ns = Collection("secrets", secrets_init, secrets_generate, secrets_new, secrets_encrypt, secrets_decrypt,
                        secrets_edit, secrets_rotate, secrets_updatekeys, secrets_check)

charts_ns = Collection("charts", charts_pull, charts_check)
ns = Collection(bootstrap, adopt, status, destroy, serve, validate, diff, audit, report, test, help_, env_ns,
                secrets_ns, vault_ns, db_ns, dr_ns, charts_ns)
ns.configure({"cattle": {"env": DEFAULT_ENV}})
for _name in ns.task_names:  # the name --dry's refusal gives
    ns[_name].body.full_name = _name


if __name__ == "__main__":  # ./scripts/cattle runs this file: invoke's Program with cattle's messages
    from cattle.cli import main

    main(ns)
