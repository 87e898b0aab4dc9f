"""`./scripts/cattle adopt`: make the repository yours in one step.

The repository ships with placeholders (`example.com`, `github.com/example/cattle.git`, the `cattle-backups` bucket,
`ops@example.com`) spread over the environment files and Flux variables, and with staging/production keys that were
never kept. `adopt` writes every file that holds a placeholder, creates each environment's age key (unless this
machine has it) and its secrets, and returns the key-custody checklist. Files are checked before anything is
written and restored if the result does not load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cattle import env as environments
from cattle.errors import CattleError, ConfigError, SecretsError
from cattle.paths import write_atomic
from cattle.secrets import files as secrets
from cattle.secrets import keys, sopsconfig, sopsfile
from cattle.secrets.spec import load_spec

PLACEHOLDER_URL = "https://github.com/example/cattle.git"
PLACEHOLDER_DOMAIN = "cattle.example.com"
PLACEHOLDER_BUCKET = "cattle-backups"
PLACEHOLDER_CONTACT = "ops@example.com"
PLACEHOLDER_PAGES = "https://example.github.io/cattle/"  # the recovery report's GitHub Pages (README badge)
_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
_PATTERN = re.compile(r"github\.com/example/cattle\.git|(?<![\w.-])(?:[\w-]+\.)*cattle\.example\.com|"
                      r"s3://cattle-backups/|ops@example\.com")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GIT_URL = re.compile(r"^(https://\S+|ssh://\S+|git@[\w.-]+:\S+)$")


@dataclass(frozen=True)
class Settings:
    """What makes the repository yours."""

    git_url: str
    domain: str
    bucket: str
    contact: str
    contexts: dict[str, str] = field(default_factory=dict)  # env -> kubeconfig context of its cluster
    providers: dict[str, str] = field(default_factory=dict)  # env -> cluster provider (kind, k3d, opentofu, ...)


@dataclass(frozen=True)
class KeyCustody:
    env: str
    public: str
    where: str
    created: bool


@dataclass
class Adoption:
    """What adopt did."""

    files: list[str] = field(default_factory=list)
    keys: list[KeyCustody] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # env -> what happened to its secrets
    pages: str | None = None  # where GitHub Pages publishes the recovery report (a repository on GitHub)

    def checklist(self) -> str:
        """The key-custody checklist: which key, to whom, where it is kept."""
        holders = {"production": "two named SRE leads; the team password manager", "staging": "the SRE team; the "
                   "team password manager", "testing": "anyone on the team; CI secret CATTLE_AGE_KEY_TESTING"}
        lines = ["Key custody checklist (docs/secrets.md, 'Where each key lives'):"]
        for item in self.keys:
            state = "new" if item.created else "already here"
            lines.append(f"  [ ] {item.env}: age key {item.public} ({state}, {item.where}) -> "
                         f"{holders.get(item.env, 'its custodian')}")
        lines.append("  [ ] break-glass: print the offline key whose public half is secrets/break-glass.pub and put "
                     "it in the safe (head of infrastructure + one deputy)")
        where = f" (the recovery report is published to {self.pages})" if self.pages else ""
        lines.append("  [ ] GitHub Pages: Settings > Pages > Build and deployment > Source: GitHub Actions"
                     f"{where}; the github-pages environment deploys only from the default branch (the workflow's "
                     "report job checks both and says so in its summary)")
        lines.append("  [ ] commit and push the changed files; Flux reads only what is pushed")
        return "\n".join(lines)


def check(settings: Settings) -> list[str]:
    """Every problem with the values given, before anything is written."""
    problems = []
    if not _GIT_URL.match(settings.git_url) or settings.git_url == PLACEHOLDER_URL:
        problems.append(f"--git-url {settings.git_url!r}: give the HTTPS or SSH URL of your repository")
    if not _DOMAIN.match(settings.domain) or settings.domain.endswith("example.com"):
        problems.append(f"--domain {settings.domain!r}: give a DNS name you control, e.g. cattle.acme.io")
    if not _BUCKET.match(settings.bucket) or settings.bucket == PLACEHOLDER_BUCKET:
        problems.append(f"--bucket {settings.bucket!r}: give your backup bucket's name (lowercase, 3-63 chars)")
    if not _EMAIL.match(settings.contact) or settings.contact == PLACEHOLDER_CONTACT:
        problems.append(f"--contact {settings.contact!r}: give the address Let's Encrypt and alerts reach")
    problems += [f"--provider {env}={provider}: the provider is one of {', '.join(PROVIDERS)}"
                 for env, provider in settings.providers.items() if provider not in PROVIDERS]
    return problems


PROVIDERS = ("kind", "k3d", "opentofu", "kubeconfig")


def per_environment(flag: str, values: list[str], known: list[str]) -> dict[str, str]:
    """`ENV=VALUE` arguments as a mapping; anything else is an error naming the flag (never silently dropped)."""
    found: dict[str, str] = {}
    for item in values:
        env, sep, value = item.partition("=")
        if not sep or not value:
            raise CattleError(f"{flag} {item!r}: expected ENV=VALUE, e.g. {flag} production=...",
                              "nothing was changed; run again with the values fixed")
        if env not in known:
            raise CattleError(f"{flag} {item!r}: there is no environment {env!r} (known: {', '.join(known)})",
                              "nothing was changed; run again with the values fixed")
        found[env] = value
    return found


def placeholders(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, placeholder) for every placeholder left in the environment files and Flux variables."""
    found = []
    for path in sorted((root / "clusters").glob("*/*.yaml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found += [(str(path.relative_to(root)), number, m.group(0)) for m in _PATTERN.finditer(line)]
    return found


def pages_url(git_url: str) -> str | None:
    """Where GitHub Pages publishes a GitHub repository's site (None for another git host)."""
    match = _GITHUB.match(git_url)
    return f"https://{match.group(1).lower()}.github.io/{match.group(2)}/" if match else None


def rewrite(text: str, settings: Settings) -> str:
    """A file's text with every placeholder replaced."""
    pages = pages_url(settings.git_url)
    if pages:
        text = text.replace(PLACEHOLDER_PAGES, pages)
    text = text.replace(PLACEHOLDER_URL, settings.git_url)
    text = text.replace(PLACEHOLDER_DOMAIN, settings.domain)
    text = text.replace(f"s3://{PLACEHOLDER_BUCKET}/", f"s3://{settings.bucket}/")
    return text.replace(PLACEHOLDER_CONTACT, settings.contact)


def _set_context(text: str, context: str) -> str:
    if re.search(r"(?m)^  context: ", text):
        return re.sub(r"(?m)^(  context: ).*$", lambda m: m.group(1) + context, text)
    return re.sub(r"(?m)^(cluster:\n)", lambda m: m.group(1) + f"  context: {context}\n", text, count=1)


def _set_provider(text: str, provider: str) -> str:
    return re.sub(r"(?m)^(  provider: ).*$", lambda m: m.group(1) + provider, text, count=1)


def write_files(root: Path, settings: Settings) -> list[str]:
    """Replace the placeholders (and contexts) in place; restore every file if the environments no longer load."""
    originals: dict[Path, str] = {}
    documents = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    for path in [*sorted((root / "clusters").glob("*/*.yaml")), *(d for d in documents if d.is_file())]:
        text = path.read_text()
        new = rewrite(text, settings)
        env_name = path.parent.name
        if path.name == environments.ENV_FILE and env_name in settings.contexts:
            new = _set_context(new, settings.contexts[env_name])
        if path.name == environments.ENV_FILE and env_name in settings.providers:
            new = _set_provider(new, settings.providers[env_name])
        if new != text:
            originals[path] = text
            write_atomic(path, new.encode())
    try:
        environments.load_all(root)
    except ConfigError:
        for path, text in originals.items():
            write_atomic(path, text.encode())
        raise
    return [str(p.relative_to(root)) for p in originals]


def ensure_keys_and_secrets(root: Path, result: Adoption) -> None:
    """Each environment's key (made unless this machine has the one its files are encrypted for) and secrets."""
    for name in environments.environment_names(root):
        recipient = sopsconfig.env_recipient(root, name)
        identity = keys.find_identity(name, [recipient] if recipient else None)
        created = identity is None
        if identity is None:
            if keys.find_identity(name) is not None:
                raise SecretsError(f"this machine holds a {name} key that is not the one {name}'s files are "
                                   "encrypted for", "move it aside (or get the right one from custody) and run "
                                   "adopt again")
            identity = secrets.init(root, name, force=True)
        result.keys.append(KeyCustody(name, identity.public, identity.source, created))
        stale = tuple(spec.name for spec in load_spec(root, name) if (root / "secrets" / name / spec.filename).exists()
                      and identity.public not in sopsfile.recipients(root / "secrets" / name / spec.filename))
        try:
            outcomes = secrets.generate(root, name, stale, regenerate_all=created)
        except SecretsError as exc:
            result.secrets[name] = f"NOT generated: {exc.message} ({exc.hint or ''}); run adopt again once set"
            continue
        changed = [o for o in outcomes if o.status != "unchanged"]
        result.secrets[name] = f"{len(changed)} secret(s) generated for the key" if changed else "unchanged"


def adopt(root: Path, settings: Settings) -> Adoption:
    """Make the repository yours; safe to run again (what is done already stays)."""
    problems = check(settings)
    if problems:
        raise CattleError("adopt cannot use these values:\n" + "\n".join(f"  - {p}" for p in problems),
                          "nothing was changed; run again with the values fixed")
    result = Adoption(files=write_files(root, settings), pages=pages_url(settings.git_url))
    ensure_keys_and_secrets(root, result)
    return result
