"""Where Flux fetches this repository from, whether what it would fetch is what is checked out, and the
credentials Secret for it (never printed)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cattle.env import Environment
from cattle.errors import ConfigError
from cattle.manifests import flux


@dataclass(frozen=True)
class Source:
    """The git URL and branch Flux will use, and a warning when it differs from the checkout."""

    url: str
    branch: str
    head: str | None
    warning: str | None


def _repo(root: Path) -> Any:
    import git  # gitpython; imported here so commands that never touch git do not load it

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def resolve(env: Environment, url: str | None = None) -> Source:
    """The env's URL (argument, environment file, else `git remote get-url origin`) and push status."""
    repo = _repo(env.root)
    chosen = url or env.git_url
    if chosen is None and repo is not None and "origin" in [r.name for r in repo.remotes]:
        chosen = next(iter(repo.remotes.origin.urls))
    if chosen is None:
        raise ConfigError(f"no git URL for environment {env.name}: git.url is not set and there is no remote "
                          "'origin'", f"set git.url in clusters/{env.name}/environment.yaml, push to a remote, or "
                          "serve this checkout to a local cluster with --serve (docs/bootstrap.md)")
    if repo is None:
        return Source(chosen, env.git_branch, None, "not a git checkout: cannot tell whether it is pushed")
    if not repo.head.is_valid():
        raise ConfigError(f"{env.root} is a git repository without a commit yet: Flux deploys commits from "
                          f"{chosen}, so there is nothing it could fetch",
                          f"commit and push first (git add -A && git commit && git push -u origin "
                          f"{env.git_branch}), or serve this checkout to a local cluster with --serve")
    head = repo.head.commit.hexsha
    warning = None
    tracking = f"origin/{env.git_branch}"
    if repo.is_dirty(untracked_files=False):
        warning = "the working tree has uncommitted changes: Flux only sees what is committed and pushed"
    try:
        remote_sha = repo.commit(tracking).hexsha
        if remote_sha != head:
            warning = (f"local HEAD {head[:10]} is not {tracking} ({remote_sha[:10]}): "
                       "Flux will deploy what is pushed, not what is checked out; git push first")
    except Exception:  # no such remote branch
        warning = f"{tracking} does not exist here: push the branch ({env.git_branch}) so Flux can fetch it"
    return Source(chosen, env.git_branch, head, warning)


def credentials_secret() -> dict[str, Any] | None:
    """The flux-system git credentials Secret from the environment, or None for a public repository.

    HTTPS: CATTLE_GIT_TOKEN (+ CATTLE_GIT_USERNAME, default 'git'). SSH: CATTLE_GIT_SSH_KEY_FILE and
    CATTLE_GIT_KNOWN_HOSTS_FILE.
    """
    data: dict[str, str] = {}
    if os.environ.get("CATTLE_GIT_TOKEN"):
        data = {"username": os.environ.get("CATTLE_GIT_USERNAME", "git"), "password": os.environ["CATTLE_GIT_TOKEN"]}
    elif os.environ.get("CATTLE_GIT_SSH_KEY_FILE"):
        known = os.environ.get("CATTLE_GIT_KNOWN_HOSTS_FILE")
        if not known:
            raise ConfigError("CATTLE_GIT_SSH_KEY_FILE is set but CATTLE_GIT_KNOWN_HOSTS_FILE is not",
                              "point it at a known_hosts file with the git server's host key")
        data = {"identity": Path(os.environ["CATTLE_GIT_SSH_KEY_FILE"]).read_text(),
                "known_hosts": Path(known).read_text()}
    if not data:
        return None
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": flux.GIT_SECRET, "namespace": flux.NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "cattle"}},
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}}
