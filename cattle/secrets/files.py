"""Secrets operations: init, generate, new, encrypt, decrypt, edit, rotate, updatekeys.

Every environment's files live in secrets/<env>/<name>.secret.yaml, encrypted with sops for the recipients
.sops.yaml names; secrets/<env>/kustomization.yaml lists them for Flux's `secrets` Kustomization.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from cattle import console
from cattle.errors import SecretsError
from cattle.paths import write_atomic
from cattle.secrets import keys, sopsconfig, sopsfile
from cattle.secrets import scratch as scratchdirs
from cattle.secrets.keys import Identity
from cattle.secrets.spec import generate_values, load_spec, manifest, spec_path

HOOK = """#!/bin/sh
# Installed by `./scripts/cattle secrets.init`: refuse commits that carry plaintext secrets or private keys.
root=$(git rev-parse --show-toplevel)
exec "$root/.venv/bin/invoke" --search-root "$root" secrets.check --no-decrypt --staged
"""
HOOK_MARK = "Installed by `./scripts/cattle secrets.init`"


@dataclass(frozen=True)
class Outcome:
    """What happened to one secret file."""

    name: str
    status: str
    path: str


def env_dir(root: Path, env: str) -> Path:
    return root / "secrets" / env


def secret_files(root: Path, env: str) -> list[Path]:
    """The environment's secret files, repository-relative."""
    directory = env_dir(root, env)
    return sorted(p.relative_to(root) for p in directory.glob(f"*{sopsconfig.SECRET_SUFFIX}"))


def sync_kustomization(root: Path, env: str) -> None:
    """List every secret file of the environment in its kustomization.yaml."""
    names = [p.name for p in secret_files(root, env)]
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": names}
    text = (f"# SOPS-encrypted Secrets of {env}; the list is kept by `./scripts/cattle secrets.*`.\n"
            + yaml.safe_dump(body, sort_keys=False))
    write_atomic(env_dir(root, env) / "kustomization.yaml", text.encode())


def install_hook(root: Path) -> str:
    """Install the pre-commit hook unless another hook is already there."""
    if not (root / ".git").is_dir():
        return "not a git checkout: pre-commit hook not installed"
    hooks = root / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "pre-commit"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        return f"{hook} exists and is not cattle's: add `./scripts/cattle secrets.check --no-decrypt` to it yourself"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    return f"pre-commit hook installed: {hook}"


def init(root: Path, env: str, *, force: bool = False) -> Identity:
    """Create the environment's age key (never overwriting one) and make it the env's recipient.

    Refuses an environment whose files are encrypted for another key unless `force`: a new key decrypts none
    of them, so this is only right when that key is truly lost (or for adopting a fresh repository).
    """
    existing = [p for p in secret_files(root, env) if sopsfile.metadata(root / p)]
    current = sopsconfig.env_recipient(root, env)
    orphaned = [p for p in existing if current is None or current in sopsfile.recipients(root / p)]
    if orphaned and not force and keys.find_identity(env) is None:
        wanted = current or ", ".join(sopsfile.recipients(root / orphaned[0]))
        raise SecretsError(
            f"secrets/{env} holds {len(orphaned)} file(s) encrypted for {wanted}; a new key decrypts none of them. "
            f"init would point .sops.yaml and cluster-vars at the new key, so Flux could no longer decrypt these "
            "files and new Vault snapshots would no longer open with the old key",
            f"get the {env} key from its custodian instead (docs/secrets.md, 'Where each key lives'). Only if it "
            f"is truly lost, or to adopt a fresh repository: ./scripts/cattle secrets.init --env {env} --force "
            "--regenerate (new values for every declared secret; the old ones stay readable only with the old key)")
    identity = keys.create_key(env)
    if existing and identity.public not in sopsfile.recipients(root / existing[0]):
        console.say(f"warning: {len(existing)} existing file(s) in secrets/{env} are encrypted for another key; "
                    f"regenerate them (secrets.generate --env {env} --rotate NAME) or restore the old key")
    sopsconfig.set_env_recipient(root, env, identity.public)
    console.say(install_hook(root))
    return identity


def _write_secret(root: Path, relpath: Path, document: Mapping[str, object]) -> None:
    plaintext = yaml.safe_dump(document, sort_keys=False).encode()
    write_atomic(root / relpath, sopsfile.encrypt(root, relpath, plaintext))


def generate(root: Path, env: str, rotate: tuple[str, ...] = (), *, regenerate_all: bool = False) -> list[Outcome]:
    """Create every declared secret that is missing; change an existing one only when named in `rotate`."""
    specs = load_spec(root, env)
    declared = {s.name for s in specs}
    unknown = sorted(set(rotate) - declared)
    if unknown:
        raise SecretsError(f"--rotate names undeclared secret(s): {', '.join(unknown)}",
                           f"declared in {spec_path(root, env)}: {', '.join(sorted(declared))}")
    sopsconfig.required_recipients(root, env)
    outcomes: list[Outcome] = []
    for spec in specs:
        relpath = Path("secrets") / env / spec.filename
        exists = (root / relpath).exists()
        if exists and spec.name not in rotate and not regenerate_all:
            outcomes.append(Outcome(spec.name, "unchanged", str(relpath)))
            continue
        _write_secret(root, relpath, manifest(spec, generate_values(spec)))
        outcomes.append(Outcome(spec.name, "rotated" if exists else "created", str(relpath)))
    sync_kustomization(root, env)
    return outcomes


def ensure_key(root: Path, env: str, *, may_generate: bool) -> tuple[Identity, list[Outcome]]:
    """The env's key; for a throwaway env without one, a new key and a freshly generated secret set."""
    recipient = sopsconfig.env_recipient(root, env)
    found = keys.find_identity(env, [recipient] if recipient else None)
    if found is not None:
        return found, []
    if not may_generate:
        keys.require_identity(env, [recipient] if recipient else None)
    stale = keys.key_file(env)
    if stale.exists():
        stale.rename(stale.with_name(f"{env}.txt.unused-{int(time.time())}"))
    identity = keys.write_new_key(keys.key_file(env))
    sopsconfig.set_env_recipient(root, env, identity.public)
    console.say(f"{env}: no key for its secrets here, so a new age key was made ({identity.public}) and every "
                "declared secret regenerated (allowed for this throwaway environment)")
    return identity, generate(root, env, regenerate_all=True)


def new(root: Path, env: str, name: str, namespace: str, data: dict[str, str]) -> Path:
    """Encrypt a new Secret from literal key=value pairs; refuses to replace an existing file."""
    relpath = Path("secrets") / env / f"{name}{sopsconfig.SECRET_SUFFIX}"
    if (root / relpath).exists():
        raise SecretsError(f"{relpath} already exists", f"change it with: ./scripts/cattle secrets.edit {relpath}")
    if not data:
        raise SecretsError("a Secret needs at least one key", "pass --literal KEY=VALUE (repeatable)")
    document = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                "type": "Opaque", "stringData": data}
    _write_secret(root, relpath, document)
    sync_kustomization(root, env)
    return relpath


def env_of(relpath: Path) -> str:
    parts = relpath.parts
    if len(parts) != 3 or parts[0] != "secrets":
        raise SecretsError(f"{relpath} is not under secrets/<env>/", "secrets live in secrets/<env>/<name>.secret.yaml")
    return parts[1]


def encrypt_in_place(root: Path, relpath: Path) -> None:
    """Encrypt a plaintext file where it is (refuses an already-encrypted one)."""
    path = root / relpath
    if not path.is_file():
        raise SecretsError(f"{relpath}: no such file")
    write_atomic(path, sopsfile.encrypt(root, relpath, path.read_bytes()))
    sync_kustomization(root, env_of(relpath))


def identities_for(root: Path, relpath: Path) -> list[Identity]:
    """Every key at hand for the file's environment."""
    return keys.candidate_identities(env_of(relpath))


def decrypt(root: Path, relpath: Path) -> bytes:
    """The plaintext of one secret file, in memory."""
    found = identities_for(root, relpath)
    if not found:
        keys.require_identity(env_of(relpath))
    return sopsfile.decrypt(root, relpath, found)


def edit(root: Path, relpath: Path, editor: str | None = None) -> bool:
    """Decrypt into a private temp file, open the editor, re-encrypt when changed. True if changed."""
    plaintext = decrypt(root, relpath)
    tmp = scratchdirs.directory("edit")  # 0700; removed on SIGINT/SIGTERM/SIGHUP too (cattle.secrets.scratch)
    try:
        scratch = tmp / relpath.name
        scratch.touch(mode=0o600)
        scratch.write_bytes(plaintext)
        command = editor or os.environ.get("EDITOR") or "vi"
        result = subprocess.run([*command.split(), str(scratch)], check=False)
        if result.returncode != 0:
            raise SecretsError(f"editor {command!r} exited {result.returncode}; {relpath} left unchanged")
        edited = scratch.read_bytes()
    finally:
        scratchdirs.release(tmp)  # overwrites, then removes
    if edited == plaintext:
        return False
    write_atomic(root / relpath, sopsfile.encrypt(root, relpath, edited))
    return True


def reencrypt_all(root: Path, env: str, identities: list[Identity]) -> list[Path]:
    """Re-encrypt every file of the env for the recipients .sops.yaml names now (fresh data keys)."""
    done: list[Path] = []
    for relpath in secret_files(root, env):
        plaintext = sopsfile.decrypt(root, relpath, identities)
        write_atomic(root / relpath, sopsfile.encrypt(root, relpath, plaintext))
        done.append(relpath)
    return done


def update_recipients(root: Path, env: str) -> list[Path]:
    """Rewrite .sops.yaml (picking up secrets/break-glass.pub) and re-encrypt the env's files for it."""
    recipient = sopsconfig.env_recipient(root, env)
    if recipient is None:
        raise SecretsError(f".sops.yaml has no rule for {env}", f"run: ./scripts/cattle secrets.init --env {env}")
    sopsconfig.set_env_recipient(root, env, recipient)
    return reencrypt_all(root, env, keys.candidate_identities(env))


def _all_decrypt(root: Path, env: str, identities: list[Identity]) -> bool:
    """Every file of the env opens with these keys (e.g. the break-glass identity when the env's key is lost)."""
    try:
        for relpath in secret_files(root, env):
            sopsfile.decrypt(root, relpath, identities)
    except SecretsError:
        return False
    return bool(identities)


def rotate(root: Path, env: str) -> Identity:
    """Re-key every file of the env to a new age key.

    The new key is written beside the old one first (<env>.txt.new). Until every file decrypts with the new
    key alone, the old key stays where it was, so an interrupted rotation leaves all files decryptable and a
    second run resumes with the same new key. At the end the old key is kept as <env>.txt.rotated-<time>: the
    Vault snapshots and init records in the backup store stay encrypted for it (they are not re-encrypted), and
    cattle keeps it as a decryption key for them (keys.decryption_identities) until they age out.
    """
    current = keys.key_file(env)
    pending = keys.pending_key_file(env)
    old_recipient = sopsconfig.env_recipient(root, env)
    if not current.is_file() and not pending.is_file():
        raise SecretsError(f"rotation needs the current key in {current} (keys from variables cannot be rotated "
                           "in place)", f"write the current key to {current} (chmod 600) and run again")
    new_key = keys.parse_identities(pending.read_text(), str(pending))[0] if pending.is_file() \
        else keys.write_new_key(pending)
    everything = keys.candidate_identities(env)
    if old_recipient and old_recipient != new_key.public and not any(i.public == old_recipient for i in everything) \
            and not _all_decrypt(root, env, everything):  # the break-glass key opens every file as well
        raise SecretsError(f"the current key of {env} ({old_recipient}) is not on this machine",
                           "rotation must decrypt every file first: get the current key from custody")
    sopsconfig.set_env_recipient(root, env, new_key.public)
    with console.step(f"re-encrypting secrets/{env} for {new_key.public}"):
        files = reencrypt_all(root, env, everything)
    for relpath in files:
        sopsfile.decrypt(root, relpath, [new_key])
    if current.is_file():
        shutil.move(current, current.with_name(f"{env}.txt.rotated-{time.strftime('%Y%m%dT%H%M%S')}"))
    pending.rename(current)
    return keys.Identity(new_key.secret, new_key.public, str(current))
