"""SOPS files through the real `sops` binary: encrypt from memory, decrypt to memory, inspect metadata.

Plaintext only travels over stdin/stdout; files are replaced atomically. sops runs with an empty HOME so
that only the keys passed in are tried (no user-wide key file can make a wrong key look right).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from cattle import tools, yamlio
from cattle.errors import SecretsError, ToolError
from cattle.secrets.keys import Identity
from cattle.secrets.plaintext import envelope_problem
from cattle.secrets.sopsconfig import CONFIG


@contextmanager
def _sops_env(identities: list[Identity]) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="cattle-sops-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
        env.update(HOME=home, XDG_CONFIG_HOME=home, SOPS_AGE_KEY="\n".join(i.secret for i in identities))
        yield env


SOPS_TIMEOUT = 300  # seconds, as tools.run's


def _run(argv: list[str], root: Path, identities: list[Identity], stdin: bytes | None = None) -> bytes:
    sops = str(tools.find("sops"))
    with _sops_env(identities) as env:
        # subprocess.run, not tools.run: tools.run adds os.environ back to the env it is given, and with it a
        # SOPS_AGE_KEY_FILE (or _CMD) of the user's shell: a key sops would try beside the ones passed in
        try:
            proc = subprocess.run([sops, *argv], input=stdin, env=env, cwd=root, capture_output=True,
                                  timeout=SOPS_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"sops did not finish within {SOPS_TIMEOUT}s", argv=argv) from exc
    if proc.returncode != 0:
        raise ToolError(proc.stderr.decode(errors="replace").strip(), argv=argv, returncode=proc.returncode,
                        stderr=proc.stderr.decode(errors="replace"))
    return proc.stdout


def metadata(path: Path) -> dict[str, Any] | None:
    """The `sops` block of a file, or None when the file is not SOPS-encrypted."""
    try:
        docs = yamlio.load_all(path.read_text(), str(path))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return None
    block = docs[0].get("sops")
    if not isinstance(block, dict) or not block.get("mac"):
        return None
    return block if envelope_problem({**docs[0], "kind": "Secret"}) is None else None


def recipients(path: Path) -> list[str]:
    """The age recipients a SOPS file is encrypted for."""
    block = metadata(path) or {}
    return [str(entry.get("recipient")) for entry in block.get("age") or []]


def encrypt(root: Path, relpath: Path, plaintext: bytes) -> bytes:
    """Encrypt YAML for `relpath`'s creation rule; returns the encrypted document."""
    try:
        doc = yamlio.load(plaintext, str(relpath))
    except yaml.YAMLError as exc:  # never echo the offending line: it may hold the secret
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SecretsError(f"{relpath}: not valid YAML{where}",
                           "fix the YAML there (the content is not shown: it may be secret)") from None
    if isinstance(doc, dict) and "sops" in doc:
        raise SecretsError(f"{relpath} is already SOPS-encrypted; encrypting it again would lose it",
                           f"edit it with: ./scripts/cattle secrets.edit {relpath}")
    try:
        return _run(["--config", str(root / CONFIG), "encrypt", "--filename-override", str(relpath),
                     "/dev/stdin"], root, [], plaintext)
    except ToolError as exc:
        if "no matching creation rules" in exc.message:
            raise SecretsError(f"{relpath} matches no creation rule in {CONFIG}",
                               "secrets live in secrets/<env>/<name>.secret.yaml; run ./scripts/cattle secrets.init "
                               "--env <env> if the environment is new") from exc
        raise SecretsError(f"sops could not encrypt {relpath} (exit {exc.returncode}; its output is not shown: it "
                           "may quote the secret)", f"run sops by hand to see why: sops encrypt {relpath}") from None


DECRYPT_WORKERS = 4  # sops spends most of a decryption starting up and waiting: run a few at once


def decrypt_all(root: Path, relpaths: list[Path], identities: list[Identity]) -> dict[Path, bytes | SecretsError]:
    """Decrypt several files at once (one sops process each, DECRYPT_WORKERS in parallel); each file's plaintext or
    the SecretsError it raised, in the order given."""
    def one(relpath: Path) -> bytes | SecretsError:
        try:
            return decrypt(root, relpath, identities)
        except SecretsError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=DECRYPT_WORKERS) as pool:
        return dict(zip(relpaths, pool.map(one, relpaths), strict=True))


def decrypt(root: Path, relpath: Path, identities: list[Identity]) -> bytes:
    """Decrypt a SOPS file in memory with the given keys only."""
    path = root / relpath
    if metadata(path) is None:
        raise SecretsError(f"{relpath} is not SOPS-encrypted", "encrypt it: ./scripts/cattle secrets.encrypt FILE")
    try:
        return _run(["decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"], root, identities,
                    path.read_bytes())
    except ToolError as exc:
        text = exc.message
        if any(sign in text for sign in ("message authentication failed", "MAC mismatch", "Could not decrypt value",
                                          "base64")):
            raise SecretsError(f"{relpath} is corrupt or was tampered with (MAC check failed): {text[-200:]}",
                               "restore it from git history (git checkout -- FILE)") from exc
        if "no master key was able to decrypt" in text or "failed to get the data key" in text:
            mine = ", ".join(i.public for i in identities) or "none"
            raise SecretsError(f"none of the keys at hand can decrypt {relpath} (keys tried: {mine}; "
                               f"file is for {', '.join(recipients(path))})",
                               "get the right environment key (docs/secrets.md: key custody)") from exc
        raise SecretsError(f"sops could not decrypt {relpath}: {text[-300:]}") from exc
