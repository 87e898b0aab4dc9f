"""Run records that outlive the machine that made them: drills, rebuilds, restore rehearsals (dr.rehearse) and
database restore drills (db.verify), one JSON document each.

A record is kept twice: in `.cattle/runs/` (this checkout, as before) and as a commit on the git branch
`cattle-runs`, at `<env>/<kind>-<time>.json`. The commit is written with git plumbing (a private index, `commit-tree`,
a compare-and-swap `update-ref`): the working tree, the index and HEAD are never touched. Pushing the branch is what
makes history survive the runner (the disaster-recovery workflow imports each job's records and pushes it weekly);
`report` reads the branch, origin's copy of it, and `.cattle/runs/`. Records hold no secret: timelines, check
results, backup ids.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cattle import console, tools
from cattle.errors import CattleError, PreflightError, ToolError
from cattle.paths import state_dir

BRANCH = "cattle-runs"
REFS = (f"refs/heads/{BRANCH}", f"refs/remotes/origin/{BRANCH}")
TIMELINE_KINDS = ("drill", "bootstrap")  # records shaped like timeline.write() output
NOT_RUN = "not run"  # the result of a run that stopped at preflight: nothing was restored, rebuilt or changed
PREFLIGHT = "preflight"  # a recording block's record["stage"] until its preflight has passed (never saved)


def stopped_at_preflight(message: str) -> str:
    """The detail of a record whose run stopped at preflight."""
    return f"stopped at preflight, nothing was changed: {message.splitlines()[0][:250]}"
KINDS = (*TIMELINE_KINDS, "rehearsal", "db-verify", "audit", "coldstart")
_ENV = re.compile(r"^[a-z][a-z0-9-]*$")
_IDENTITY = {"GIT_AUTHOR_NAME": "cattle", "GIT_AUTHOR_EMAIL": "cattle@localhost",
             "GIT_COMMITTER_NAME": "cattle", "GIT_COMMITTER_EMAIL": "cattle@localhost"}


class HistoryError(CattleError):
    """A run record is malformed, or the history branch cannot be written."""


def kind_of(record: dict[str, Any]) -> str:
    """A record's kind; bootstrap timelines written before records had a kind count as bootstrap."""
    return str(record.get("kind") or ("bootstrap" if "events" in record else ""))


def stamp(started: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))


def checked(record: Any, where: str) -> dict[str, Any]:
    """The record with its kind filled in, or a HistoryError naming what is wrong and where."""
    if not isinstance(record, dict):
        raise HistoryError(f"{where}: not a run record (a JSON object)")
    kind = kind_of(record)
    problems = []
    if kind not in KINDS:
        problems.append(f"kind {kind or '(none)'!r} is not one of {', '.join(KINDS)}")
    if not isinstance(record.get("env"), str) or not _ENV.match(record["env"]):
        problems.append("no environment name (env)")
    if not isinstance(record.get("started"), int | float) or isinstance(record.get("started"), bool):
        problems.append("no start time (started, seconds since the epoch)")
    if kind in (*TIMELINE_KINDS, "coldstart") and not isinstance(record.get("events"), list):
        problems.append("no events (a timeline record)")
    if not isinstance(record.get("result"), str):
        problems.append("no result")
    if problems:
        raise HistoryError(f"{where}: not a run record: {'; '.join(problems)}")
    return {**record, "kind": kind}


def branch_path(record: dict[str, Any]) -> str:
    return f"{record['env']}/{record['kind']}-{stamp(record['started'])}.json"


def local_name(record: dict[str, Any]) -> str:
    """Timelines keep timeline.write()'s name (the drill's record replaces its generation-2 bootstrap file)."""
    if record["kind"] in TIMELINE_KINDS:
        return f"{record['env']}-{stamp(record['started'])}.json"
    return f"{record['env']}-{record['kind']}-{stamp(record['started'])}.json"


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Saved:
    """Where a record was kept."""

    local: Path
    commit: str | None
    note: str = ""

    def describe(self) -> str:
        kept = f"run record: {self.local}"
        if self.commit:
            return f"{kept}; committed to branch {BRANCH} ({self.commit[:10]}; share it: git push origin {BRANCH})"
        return f"{kept}; not on branch {BRANCH}: {self.note}"


def save(root: Path, record: dict[str, Any]) -> Saved:
    """Keep a record in .cattle/runs/ and on the history branch (best effort: a checkout that is not a git
    repository, or a git failure, keeps the local file and says why)."""
    record = checked(record, "the record to save")
    data = encode(record)
    local = state_dir(root) / "runs" / local_name(record)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    try:
        commit = commit_files(root, {branch_path(record): data},
                              f"{record['kind']} of {record['env']} at {stamp(record['started'])}: {record['result']}")
    except ToolError as exc:
        return Saved(local, None, exc.message.splitlines()[0][:200])
    return Saved(local, commit, "" if commit else f"{root} is not the top of a git repository")


@contextmanager
def recording(root: Path, kind: str, env: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Record what happens in the block: result ok, or failed with the error's message (then re-raised); a
    PreflightError, or any error while the block's record["stage"] is PREFLIGHT, is NOT_RUN (a refusal before
    anything was done is not a failed restore). The block adds its facts to the yielded dict; the record is saved
    either way."""
    record: dict[str, Any] = {"kind": kind, "env": env, "started": time.time(), "result": "running", **fields}
    try:
        yield record
        record["result"] = "ok"
    except CattleError as exc:
        if isinstance(exc, PreflightError) or record.get("stage") == PREFLIGHT:
            record["result"], record["detail"] = NOT_RUN, stopped_at_preflight(exc.message)
        else:
            record["result"], record["detail"] = "failed", exc.message.splitlines()[0][:300]
        raise
    finally:
        if record["result"] == "running":
            record["result"], record["detail"] = "failed", "interrupted"
        record.pop("stage", None)
        record["finished"] = time.time()
        console.say(save(root, record).describe())


def _git(root: Path, *args: str, env: dict[str, str] | None = None, data: bytes | None = None,
         check: bool = True) -> str:
    proc = tools.run(["git", *args], cwd=root, env=env, input=data, check=check, timeout=60)
    return proc.stdout.decode(errors="replace").strip() if proc.returncode == 0 else ""


def is_repository_top(root: Path) -> bool:
    """True when `root` is the top of a git work tree (never write into an enclosing repository)."""
    if not (root / ".git").exists():
        return False
    top = _git(root, "rev-parse", "--show-toplevel", check=False)
    return bool(top) and Path(top).resolve() == root.resolve()


def resolve(root: Path, ref: str) -> str | None:
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False) or None


def commit_files(root: Path, files: dict[str, bytes], message: str) -> str | None:
    """Add files to the history branch in one commit on top of the local branch (else origin's); returns the
    branch's commit, or None when `root` is not a git repository."""
    if not is_repository_top(root):
        return None
    local = resolve(root, REFS[0])
    parent = local or resolve(root, REFS[1])
    with tempfile.TemporaryDirectory(prefix="cattle-history-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_IDENTITY}
        if parent:
            _git(root, "read-tree", parent, env=env)
        for path, data in sorted(files.items()):
            blob = _git(root, "hash-object", "-w", "--stdin", data=data)
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(root, "write-tree", env=env)
        if parent and tree == _git(root, "rev-parse", f"{parent}^{{tree}}"):
            if not local:
                _git(root, "update-ref", REFS[0], parent, "0" * 40)
            return parent  # every record was there already
        commit = _git(root, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message, env=env)
    _git(root, "update-ref", "-m", f"cattle: {message}", REFS[0], commit, local or "0" * 40)
    return commit


@dataclass(frozen=True)
class Loaded:
    """Every record found, one per run, and what was read (or could not be)."""

    records: tuple[dict[str, Any], ...]
    sources: tuple[str, ...]
    problems: tuple[str, ...]


def _branch_files(root: Path, ref: str) -> dict[str, bytes]:
    names = [n for n in _git(root, "ls-tree", "-r", "--name-only", ref).splitlines() if n.endswith(".json")]
    if not names:
        return {}
    proc = tools.run(["git", "cat-file", "--batch"], cwd=root, input="".join(f"{ref}:{n}\n" for n in names).encode(),
                     timeout=120)
    out, files, offset = proc.stdout, {}, 0
    for name in names:
        header_end = out.index(b"\n", offset)
        header = out[offset:header_end].split()
        size = int(header[2]) if len(header) == 3 else 0
        files[name] = out[header_end + 1:header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return files


def load(root: Path, directories: tuple[Path, ...] = ()) -> Loaded:
    """The history branch (local and origin's), .cattle/runs/ and any extra directories, deduplicated: one record
    per (env, start time, kind); a drill replaces the bootstrap timeline of its own generation 2."""
    found: list[tuple[str, bytes]] = []
    sources: list[str] = []
    if is_repository_top(root):
        for ref in REFS:
            commit = resolve(root, ref)
            if commit is None:
                continue
            files = _branch_files(root, commit)
            found += [(f"{ref.removeprefix('refs/heads/').removeprefix('refs/remotes/')}:{n}", d)
                      for n, d in files.items()]
            sources.append(f"branch {ref.removeprefix('refs/heads/').removeprefix('refs/remotes/')} "
                           f"(commit {commit[:10]}): {len(files)} records")
        if len(sources) == 0:
            sources.append(f"no history branch {BRANCH} in {root} (fetch it: git fetch origin {BRANCH}:{BRANCH})")
    else:
        sources.append(f"{root} is not a git repository: no history branch read")
    for directory in (state_dir(root) / "runs", *directories):
        paths = sorted(directory.rglob("*.json")) if directory.is_dir() else []
        found += [(str(p), p.read_bytes()) for p in paths]
        sources.append(f"{directory}: {len(paths)} records" if directory.is_dir() else f"{directory}: not there")
    records: dict[tuple[str, float, str], dict[str, Any]] = {}
    problems: list[str] = []
    for where, data in found:
        try:
            record = checked(json.loads(data), where)
        except (ValueError, HistoryError) as exc:
            problems.append(exc.message if isinstance(exc, HistoryError) else f"{where}: not JSON ({exc})")
            continue
        family = "timeline" if record["kind"] in TIMELINE_KINDS else record["kind"]
        key = (record["env"], round(float(record["started"]), 2), family)
        kept = records.get(key)
        if kept is None or (kept["kind"] == "bootstrap" and record["kind"] == "drill"):
            records[key] = {**record, "source": where}
    ordered = sorted(records.values(), key=lambda r: (r["env"], float(r["started"])))
    return Loaded(tuple(ordered), tuple(sources), tuple(problems))


def import_directory(root: Path, directory: Path) -> tuple[str, list[str]]:
    """Commit every run record under `directory` (e.g. a workflow's downloaded artifacts) to the history branch in
    one commit. Returns (commit, the branch paths of the records)."""
    files: dict[str, bytes] = {}
    problems: list[str] = []
    for path in sorted(directory.rglob("*.json")):
        try:
            record = checked(json.loads(path.read_bytes()), str(path))
        except ValueError as exc:
            problems.append(f"{path}: not JSON ({exc})")
            continue
        except HistoryError as exc:
            problems.append(exc.message)
            continue
        record.pop("source", None)
        files[branch_path(record)] = encode(record)
    if problems:
        raise HistoryError(f"{len(problems)} file(s) under {directory} are not run records: {'; '.join(problems[:5])}",
                           "only run records (.cattle/runs/*.json) belong there")
    if not files:
        raise HistoryError(f"no run record under {directory}", "point --directory at downloaded .cattle/runs files")
    commit = commit_files(root, files, f"keep {len(files)} run record(s) from {directory.name}")
    if commit is None:
        raise HistoryError(f"{root} is not the top of a git repository: there is no branch {BRANCH} to keep "
                           "records on", "run this in a clone of the repository")
    return commit, sorted(files)
