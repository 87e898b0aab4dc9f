"""Preflight: check, before touching anything, that the main job can run on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cattle import tools
from cattle.env import Environment
from cattle.errors import ConfigError, PreflightError, ToolError

PROVIDER_TOOLS = {"kind": ("docker", "kind"), "k3d": ("docker", "k3d"), "kubeconfig": (), "opentofu": ("tofu",)}
BASE_TOOLS = ("kubectl", "sops", "git")
OFFLINE_ALTERNATIVES = (
    "./scripts/cattle validate            render and check every environment offline",
    "./scripts/cattle dr.rehearse         check keys, snapshots and manifests without a cluster",
    "./scripts/cattle test                run the whole test suite",
)


@dataclass(frozen=True)
class Check:
    """One preflight result."""

    name: str
    ok: bool
    detail: str
    hint: str | None = None


def check_tool(name: str) -> Check:
    """Whether a tool is present at a usable version."""
    try:
        path = tools.find(name)
    except ToolError as exc:
        return Check(name, False, exc.message, exc.hint)
    if name == "docker":
        return Check(name, True, f"Docker engine running ({path})")
    return Check(name, True, f"{tools.installed_version(name, path)} ({path})")


def check_context(context: str | None, env_name: str = "ENV") -> Check:
    """Whether a kubeconfig context exists; a typo is answered with the contexts that do (--context picks one)."""
    import difflib

    from kubernetes import config  # local import: only the kubeconfig provider needs it

    try:
        contexts, _ = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG") or None)
    except Exception as exc:  # the client raises ConfigException, or OSError for a missing file
        return Check("kubeconfig", False, f"cannot read kubeconfig: {exc}",
                     "set KUBECONFIG or create ~/.kube/config for the target cluster")
    names = [c["name"] for c in contexts]
    if context is None and names:
        return Check("kubeconfig", True, "current context")
    if context not in names:
        nearest = difflib.get_close_matches(context or "", names, n=1, cutoff=0.5)
        return Check("kubeconfig", False, f"context {context!r} not in kubeconfig (have: {', '.join(names)})",
                     (f"did you mean {nearest[0]}? " if nearest else "") + "pass --context with one of: "
                     f"{', '.join(names) or '(none: add the cluster to your kubeconfig first)'} (or set "
                     f"cluster.context in clusters/{env_name}/environment.yaml)")
    return Check("kubeconfig", True, f"context {context}")


def check_key(env: Environment) -> Check:
    """Whether the env's age key is at hand (a throwaway env may make a new one)."""
    from cattle.errors import SecretsError
    from cattle.secrets import keys, sopsconfig

    recipient = sopsconfig.env_recipient(env.root, env.name)
    try:
        identity = keys.require_identity(env.name, [recipient] if recipient else None)
    except SecretsError as exc:
        if env.generate_missing_key:
            return Check("age key", True, "none here: a new key and secret set will be made (throwaway env)")
        return Check("age key", False, exc.message, exc.hint)
    return Check("age key", True, f"{identity.public} from {identity.source}")


def check_server_version(env: Environment) -> Check:
    """The live API server's Kubernetes version: the env's declared minor, inside every component's range."""
    from cattle.errors import CattleError
    from cattle.kube import Kube

    path = os.environ.get("KUBECONFIG")
    try:
        kube = Kube.from_kubeconfig(Path(path) if path else None, env.kube_context)
        try:
            live = kube.version()
        finally:
            kube.close()
    except (CattleError, ValueError) as exc:
        cause = exc.__cause__  # the client's own error: its reason is not cut short
        reason = _unreachable(f"{exc} {getattr(cause, 'reason', cause) or ''}")
        if reason is not None:
            where = f"context {env.kube_context}" if env.kube_context else "the current context"
            return Check("kubernetes version", False, f"cannot read the server's version: the Kubernetes API at "
                         f"{_server_of(path, env.kube_context)} ({where}) cannot be reached: {reason}",
                         "check the cluster is running and this machine reaches it (VPN, firewall, DNS): "
                         f"kubectl{f' --context {env.kube_context}' if env.kube_context else ''} get --raw /version "
                         "shows the same; another cluster: pass --context")
        return Check("kubernetes version", False, f"cannot read the server's version: {exc}",
                     "check the cluster is reachable with the kubeconfig context")
    return judge_server_version(env, live)


def _unreachable(error: str) -> str | None:
    """The reason a connection failed, out of the HTTP client's MaxRetryError text (None: not a connection
    failure)."""
    import re

    if not any(mark in error for mark in ("MaxRetryError", "NewConnectionError", "ConnectTimeout",
                                          "cannot reach the Kubernetes API")):
        return None
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", error)
    if errno:
        return errno.group(1).strip().rstrip(".")
    return "the connection timed out" if "timed out" in error.lower() else "no answer"


def _server_of(kubeconfig: str | None, context: str | None) -> str:
    """The API server address a kubeconfig context names (read only; nothing is contacted)."""
    from kubernetes import config

    try:
        client = config.new_client_from_config(config_file=kubeconfig or None, context=context)
    except Exception:  # the client raises ConfigException, or OSError for a missing file
        return "(the kubeconfig's server)"
    host = str(client.configuration.host)
    client.close()
    return host


def judge_server_version(env: Environment, live: str) -> Check:
    """A server's Kubernetes version against the env's declared minor and every component's range (preflight for
    an existing cluster; right after the cluster phase for one cattle created)."""
    from cattle.manifests import compatibility

    try:
        outside = compatibility.unsupported(compatibility.load_table(env.root), live)
    except ValueError as exc:
        return Check("kubernetes version", False, f"cannot read the server's version {live!r}: {exc}",
                     "check the cluster is reachable and answers GET /version")
    if outside:
        names = "; ".join(f"{c.name} {c.version} supports {c.range} ({c.source})" for c in outside)
        return Check("kubernetes version", False, f"the server runs Kubernetes {live}, outside the supported "
                     f"range of: {names}", f"upgrade the cluster into every range ({compatibility.TABLE}), "
                     "or pin component versions that support it")
    if compatibility.minor(live) != compatibility.minor(env.kubernetes.version):
        return Check("kubernetes version", False, f"the server runs Kubernetes {live}, but "
                     f"clusters/{env.name}/environment.yaml declares {env.kubernetes.version}",
                     "set kubernetes.version to what the cluster runs, so validate checks the real version")
    return Check("kubernetes version", True, f"{live} (every component's range; {compatibility.TABLE})")


def check_kind_release(env: Environment) -> Check:
    """The installed kind is the pinned release: kind supports a node image only with the release that built it."""
    from cattle.manifests import compatibility

    pin = compatibility.load_kind_pin(env.root)
    installed = f"v{tools.installed_version('kind')}"
    if installed != pin.version:
        return Check("kind release", False, f"kind {installed} is installed; {compatibility.KIND_PIN} pins "
                     f"{pin.version}, whose node images the environment uses", "run ./scripts/setup (it installs "
                     "the pinned kind into .venv/bin, which cattle prefers)")
    return Check("kind release", True, f"{installed} (pinned), node image {env.kubernetes.node_image}")


def run_checks(env: Environment, provider: str | None = None) -> list[Check]:
    """Every preflight check for bootstrapping an environment."""
    chosen = provider or env.provider
    if chosen not in PROVIDER_TOOLS:
        raise ConfigError(f"unknown provider {chosen!r}", f"use one of: {', '.join(PROVIDER_TOOLS)}")
    checks = [check_tool(name) for name in (*BASE_TOOLS, *PROVIDER_TOOLS[chosen])]
    checks.append(check_key(env))
    if chosen == "kubeconfig":
        checks.append(check_context(env.kube_context, env.name))
        if checks[-1].ok:
            checks.append(check_server_version(env))
    if chosen == "kind" and all(c.ok for c in checks if c.name == "kind"):
        checks.append(check_kind_release(env))
    return checks


def failed_checks(env: Environment, provider: str | None = None) -> list[Check]:
    """The checks that failed (none: the main job can run here)."""
    return [c for c in run_checks(env, provider) if not c.ok]


def error(env: Environment, provider: str | None, failed: list[Check]) -> PreflightError:
    """The error for failed checks: what is missing, how to fix each, and what to run meanwhile."""
    lines = [f"  - {c.name}: {c.detail}" + (f"\n      fix: {c.hint}" if c.hint else "") for c in failed]
    alternatives = "\n".join(f"    {a}" for a in OFFLINE_ALTERNATIVES)
    return PreflightError(
        f"preflight for environment {env.name!r} (provider {provider or env.provider}) failed; "
        f"nothing was changed:\n" + "\n".join(lines),
        f"fix the above and re-run, or meanwhile run what needs no cluster:\n{alternatives}",
    )
