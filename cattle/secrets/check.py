"""`./scripts/cattle secrets.check`: every file under secrets/ is SOPS-encrypted for exactly the recipients .sops.yaml
requires and its MAC verifies; no plaintext Secret or private key material exists anywhere else."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from cattle import yamlio
from cattle.errors import ConfigError, SecretsError
from cattle.problems import Problem
from cattle.secrets import keys, sopsconfig, sopsfile
from cattle.secrets.files import env_dir, secret_files
from cattle.secrets.plaintext import MANIFEST_SUFFIXES, SECRET_KIND, plaintext_secrets
from cattle.secrets.spec import SPEC_FILE, load_spec, spec_files

PRIVATE_KEY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{50,}|-----BEGIN (?:RSA |OPENSSH |EC |DSA )?PRIVATE KEY-----")
_SKIP_DIRS = {".git", ".venv", "node_modules", ".cattle", ".mypy_cache", ".ruff_cache", ".pytest_cache",
              "__pycache__"}
_MANAGED = {"kustomization.yaml", SPEC_FILE}


def repo_files(root: Path) -> list[Path]:
    """Files git would commit (tracked and untracked-not-ignored); every file when not a git checkout."""
    if (root / ".git").exists():
        proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                              capture_output=True, check=False)
        if proc.returncode == 0:
            return sorted({Path(p) for p in proc.stdout.decode().split("\0") if p and (root / p).is_file()})
    found: list[Path] = []
    for path in root.rglob("*"):
        if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(root).parts):
            found.append(path.relative_to(root))
    return sorted(found)


def _problem(file: str, message: str, hint: str, rule: str, env: str = "repo") -> Problem:
    return Problem(env, file, "-", message, hint, rule)


def check_environment(root: Path, env: str, decrypt: bool = True) -> tuple[list[Problem], list[str]]:
    """Problems of one environment's secret files, and notes (e.g. MAC not verified without a key)."""
    problems: list[Problem] = []
    notes: list[str] = []
    try:
        required = sorted(sopsconfig.required_recipients(root, env))
    except SecretsError as exc:
        return [_problem(f"secrets/{env}", exc.message, exc.hint or "", "sops-config", env)], notes
    mirrored = sopsconfig.cluster_vars_recipients(root, env)
    if mirrored is not None and sorted(mirrored.split(",")) != required:
        problems.append(_problem(f"clusters/{env}/cluster-vars.yaml", f"BACKUP_AGE_RECIPIENTS is {mirrored!r}, "
                                 f"but .sops.yaml requires {','.join(required)}: in-cluster backups would be "
                                 "encrypted for the wrong keys",
                                 f"run: ./scripts/cattle secrets.updatekeys --env {env}",
                                 "recipients", env))
    directory = env_dir(root, env)
    for path in sorted(directory.iterdir()):
        if path.name in _MANAGED or path.is_dir():
            continue
        if not path.name.endswith(sopsconfig.SECRET_SUFFIX):
            problems.append(_problem(str(path.relative_to(root)), "matches no creation rule in .sops.yaml "
                                     f"(secret files end in {sopsconfig.SECRET_SUFFIX})",
                                     f"rename it to <name>{sopsconfig.SECRET_SUFFIX} and encrypt it", "secrets", env))
    identities = keys.candidate_identities(env) if decrypt else []
    listed = _listed(directory)
    to_verify: dict[tuple[str, ...], tuple[list[keys.Identity], list[Path]]] = {}
    for relpath in secret_files(root, env):
        block = sopsfile.metadata(root / relpath)
        if block is None and plaintext_secrets((root / relpath).read_text(errors="replace")):
            continue  # reported by check_repository, the one plaintext guard
        if block is None:
            problems.append(_problem(str(relpath), "not SOPS-encrypted (plaintext in secrets/)",
                                     f"encrypt it now: ./scripts/cattle secrets.encrypt {relpath}; rotate its values "
                                     "if it was ever pushed", "secrets", env))
            continue
        if block.get("encrypted_regex") != sopsconfig.ENCRYPTED_REGEX:
            problems.append(_problem(str(relpath), f"encrypted_regex is {block.get('encrypted_regex')!r}, "
                                     f"not {sopsconfig.ENCRYPTED_REGEX!r}", "re-encrypt it: invoke "
                                     f"secrets.updatekeys --env {env}", "secrets", env))
        actual = sorted(sopsfile.recipients(root / relpath))
        if actual != required:
            problems.append(_problem(str(relpath), f"encrypted for {', '.join(actual) or 'nobody'} but .sops.yaml "
                                     f"requires {', '.join(required)}",
                                     "re-encrypt for the required keys: "
                                     f"./scripts/cattle secrets.updatekeys --env {env}",
                                     "recipients", env))
        if relpath.name not in listed:
            problems.append(_problem(str(relpath), f"not listed in secrets/{env}/kustomization.yaml, so Flux "
                                     "never applies it", f"run ./scripts/cattle secrets.generate --env {env} (it syncs "
                                     "the list)", "secrets", env))
        if decrypt:
            usable = [i for i in identities if i.public in actual]
            if not usable and identities:
                here = ", ".join(i.public for i in identities)
                problems.append(_problem(str(relpath), f"the {env} key on this machine ({here}) is the wrong "
                                         f"one: the file is encrypted for {', '.join(actual)}",
                                         f"get the right {env} key from its custodian (docs/secrets.md, 'Where each "
                                         "key lives'); do not re-encrypt for the key you have", "key", env))
                continue
            if not usable:
                notes.append(f"{relpath}: MAC not verified ({keys.missing_key(env)})")
                continue
            to_verify.setdefault(tuple(i.public for i in usable), (usable, []))[1].append(relpath)
    for usable, relpaths in to_verify.values():  # MACs verified with sops processes running side by side
        for relpath, result in sopsfile.decrypt_all(root, relpaths, usable).items():
            if isinstance(result, SecretsError):
                problems.append(_problem(str(relpath), result.message, result.hint or "", "mac", env))
    if spec_files(root, env):
        try:
            declared = {s.filename for s in load_spec(root, env)}
        except (ConfigError, SecretsError) as exc:  # a broken spec is a finding, not a crash
            problems.append(_problem(f"secrets/{env}", exc.message, exc.hint or "fix the spec", "spec", env))
            declared = set()
        present = {p.name for p in secret_files(root, env)}
        for missing in sorted(declared - present):
            problems.append(_problem(f"secrets/{env}/{missing}", "declared in the spec but not generated",
                                     f"run: ./scripts/cattle secrets.generate --env {env}", "spec", env))
    return problems, notes


def _listed(directory: Path) -> set[str]:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        return set()
    doc = yamlio.load(path.read_text(), str(path)) or {}
    return {str(r) for r in doc.get("resources") or []}


def _decoded(data: bytes) -> tuple[str, int | None]:
    """The text of a file, and the offset of its first byte that is not UTF-8 (None: it all is). Undecodable
    bytes become U+FFFD, so the rest is still checked (one stray byte must not hide a plaintext Secret)."""
    try:
        return data.decode(), None
    except UnicodeDecodeError as exc:
        return data.decode(errors="replace"), exc.start


def _working_tree_texts(root: Path) -> Iterator[tuple[Path, str, int | None]]:
    for relpath in repo_files(root):
        try:
            yield relpath, *_decoded((root / relpath).read_bytes())
        except OSError:
            continue


def staged_texts(root: Path) -> Iterator[tuple[Path, str, int | None]]:
    """The content the next commit would record for every file it adds or changes (the index, not the working
    tree: a file edited or deleted after `git add` is committed as it was added)."""
    proc = subprocess.run(["git", "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], cwd=root,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise SecretsError(f"cannot list the staged files in {root}: {proc.stderr.decode(errors='replace').strip()}",
                           "run it inside a git checkout")
    for name in filter(None, proc.stdout.decode().split("\0")):
        blob = subprocess.run(["git", "show", f":{name}"], cwd=root, capture_output=True, check=False)
        if blob.returncode == 0:
            yield Path(name), *_decoded(blob.stdout)


def check_repository(root: Path, staged: bool = False) -> list[Problem]:
    """Plaintext Secrets (decided by parsing, cattle.secrets.plaintext) and private key material in every file git
    would commit (`staged`: in what the index holds for the next commit)."""
    problems: list[Problem] = []
    for relpath, text, undecodable in staged_texts(root) if staged else _working_tree_texts(root):
        secret_file = relpath.parts[0] == "secrets" or relpath.suffix in MANIFEST_SUFFIXES
        if undecodable is not None and secret_file and (relpath.parts[0] == "secrets" or SECRET_KIND.search(text)):
            problems.append(_problem(str(relpath), f"not valid UTF-8 (byte {undecodable}): a file cattle cannot "
                                     "decode cannot be shown to hold no plaintext Secret",
                                     "remove the stray bytes (a SOPS-encrypted file is plain ASCII); if it held a "
                                     "plaintext Secret, encrypt it and rotate its values", "plaintext"))
        if relpath.parts[0] != "vendor" and PRIVATE_KEY.search(text):  # vendored CRDs quote PEM headers
            problems.append(_problem(str(relpath), "private key material (age or PEM private key)",
                                     "remove it from the repository and its history, then rotate that key",
                                     "private-key"))
        for name, why in plaintext_secrets(text, relpath.suffix in MANIFEST_SUFFIXES):
            problems.append(_problem(str(relpath), f"plaintext Secret {name}: {why}",
                                     "move it to secrets/<env>/ and encrypt it (./scripts/cattle secrets.new or "
                                     "secrets.encrypt); rotate its values if it was ever pushed", "plaintext"))
    return problems


def check(root: Path, envs: list[str], decrypt: bool = True,
          staged: bool = False) -> tuple[list[Problem], list[str]]:
    """Every secret problem of the repository, and notes on what could not be verified."""
    problems = check_repository(root, staged)
    notes: list[str] = []
    for env in envs:
        found, env_notes = check_environment(root, env, decrypt)
        problems += found
        notes += env_notes
    return problems, notes
