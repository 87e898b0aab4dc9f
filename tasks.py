"""cattle's command line: thin invoke tasks over the `cattle` package.

Every task parses its flags, calls one function, and prints the result.
A CattleError becomes a one-paragraph message and exit code 1; anything else keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cattle.errors import CattleError

DEFAULT_ENV = "testing"


@contextmanager
def failures() -> Iterator[None]:
    """Turn a CattleError into a clean exit with its message and hint."""
    try:
        yield
    except CattleError as exc:
        raise Exit(f"error: {exc}", code=1) from None


def _env_name(c: Context, env: str | None) -> str:
    return env or str(c.config.get("cattle", {}).get("env", DEFAULT_ENV))


# --- top level -------------------------------------------------------------------------------


@task(help={"env": "environment to rebuild (default: testing)",
            "provider": "override the cluster provider: kind, k3d or kubeconfig"})
def bootstrap(c: Context, env: str | None = None, provider: str | None = None) -> None:
    """Rebuild an environment from git: cluster, Flux, secrets, reconcile, restore, report."""
    from cattle import bootstrap as flow

    with failures():
        flow.run(_env_name(c, env), provider=provider)


@task(help={"env": "validate only this environment (default: all)",
            "format": "text (default) or json"})
def validate(c: Context, env: str | None = None, format: str = "text") -> None:
    """Render every environment offline as Flux would and check schemas and policy."""
    from cattle import validate as validation

    with failures():
        reports = validation.validate([env] if env else None)
    print(validation.format_json(reports) if format == "json" else validation.format_text(reports))
    if not all(r.ok for r in reports):
        raise Exit(code=1)


@task(help={"lint_only": "run ruff and mypy, not pytest", "k": "pytest -k expression"})
def test(c: Context, lint_only: bool = False, k: str | None = None) -> None:
    """Lint (ruff), type-check (mypy --strict) and run the whole test suite."""
    c.run("ruff check cattle tests tasks.py bench", echo=True)
    c.run("mypy --strict cattle", echo=True)
    if lint_only:
        return
    select = f" -k {k!r}" if k else ""
    result = c.run(f"pytest -n 2 --dist loadgroup{select}", echo=True, warn=True, pty=False)
    if result is None or result.exited == 5:
        raise Exit("pytest collected no tests: that is a failure, not a pass", code=1)
    if result.exited != 0:
        raise Exit(f"pytest failed (exit {result.exited})", code=result.exited)


# --- env.* -----------------------------------------------------------------------------------


@task(name="list")
def env_list(c: Context) -> None:
    """List the environments declared under clusters/."""
    from cattle import env as environments

    with failures():
        for item in environments.load_all():
            print(f"{item.name:12} provider={item.provider:10} domain={item.domain}")


@task(name="show", help={"env": "environment name (default: testing)"})
def env_show(c: Context, env: str | None = None) -> None:
    """Show one environment's settings and Flux variables."""
    from cattle import env as environments

    with failures():
        item = environments.load(_env_name(c, env))
        print(f"name: {item.name}\nprovider: {item.provider}\ncluster: {item.cluster_name}\n"
              f"domain: {item.domain}\ngit: {item.git_url or '(git remote origin)'} @ {item.git_branch}\n"
              f"reconcile timeout: {item.reconcile_timeout:.0f}s\nRTO budget: {item.rto_budget:.0f}s")
        for key, value in sorted(item.vars.items()):
            print(f"  {key}={value}")


env_ns = Collection("env", env_list, env_show)

ns = Collection(bootstrap, validate, test, env_ns)
ns.configure({"cattle": {"env": DEFAULT_ENV}})
