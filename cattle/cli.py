"""The `./scripts/cattle` program: invoke's Program with messages an operator can act on.

An unknown task or flag suggests the nearest one, a flag without its value is one line with the usage, `--help`
shows `./scripts/cattle`, and a closed pipe (`env.show | head`) ends quietly. File arguments are read from where
the user stands ($CATTLE_CWD, set by scripts/cattle) as well as from the repository root.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path
from typing import Any

from invoke.exceptions import ParseError
from invoke.program import Program

BINARY = "./scripts/cattle"
CWD_VARIABLE = "CATTLE_CWD"


def user_path(argument: str, root: Path) -> Path:
    """A file argument as the user meant it: absolute; else from their working directory when it exists there;
    else from the repository root."""
    path = Path(argument).expanduser()
    if path.is_absolute():
        return path
    here = Path(os.environ.get(CWD_VARIABLE) or Path.cwd()) / path
    return here.resolve() if here.exists() else (root / path).resolve()


def repo_relative(argument: str, root: Path) -> Path:
    """A file argument as a path relative to the repository (what the secrets functions take)."""
    path = user_path(argument, root)
    try:
        return path.relative_to(root.resolve())
    except ValueError:
        return Path(argument)


DRY_HELP = ("Rehearse: bootstrap runs as --dry-run, read-only tasks run, every other task refuses "
            "(nothing is run).")


class CattleProgram(Program):
    """invoke's Program, with suggestions instead of bare parser errors."""

    def core_args(self) -> list[Any]:
        """invoke's core flags; --dry (-R) says what it does for cattle's tasks (tasks.py honours or refuses it)."""
        arguments = list(super().core_args())
        for argument in arguments:
            if "dry" in argument.names:
                argument.help = DRY_HELP
        return arguments

    def _make_pairs(self, coll: Any, ancestors: list[str] | None = None) -> list[tuple[str, str | None]]:
        """--list: each task's first paragraph, whole (invoke's own listing has the docstring's first line, which cut
        sentences off mid-way)."""
        pairs: list[tuple[str, str | None]] = super()._make_pairs(coll, ancestors)
        tasks = [found for _, found in sorted(coll.tasks.items())]
        return [(name, summary(tasks[i]) if i < len(tasks) else help_text) for i, (name, help_text) in
                enumerate(pairs)]

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise ParseError(self.explain(str(exc))) from None

    def explain(self, error: str) -> str:
        """The parser's error as one actionable line."""
        unknown = re.match(r"No idea what '(.+)' is!", error)
        if unknown:
            return self._unknown(unknown.group(1))
        needs_value = re.match(r"Flag (?:<Argument: )?'?([\w-]+)", error) if "needed value" in error else None
        if needs_value:
            flag = "--" + needs_value.group(1).replace("_", "-").lstrip("-")
            task = self._current_task()
            return (f"error: {flag} needs a value; usage: {BINARY} {task or '<task>'} {flag} VALUE "
                    f"(see {BINARY} {task or '<task>'} --help)")
        missing = re.match(r"'([\w.-]+)' did not receive required positional arguments: (.+)", error)
        if missing:
            task = missing.group(1)
            flags = [f"--{n.replace('_', '-')}" for n in re.findall(r"'(\w+)'", missing.group(2))]
            usage = " ".join(f"{flag} {flag.lstrip('-').upper().replace('-', '_')}" for flag in flags)
            return (f"error: {task} needs {' and '.join(flags)}; usage: {BINARY} {task} {usage} "
                    f"(see {BINARY} {task} --help)")
        return f"error: {error}"

    def _current_task(self) -> str | None:
        for token in self.core.unparsed if self.core is not None else []:
            if not token.startswith("-") and token in self._task_names():
                return str(token)
        return None

    def _task_names(self) -> list[str]:
        assert self.collection is not None
        return sorted({*self.collection.task_names, *(a for names in self.collection.task_names.values()
                                                      for a in names)})

    def _unknown(self, token: str) -> str:
        if token.startswith("-"):
            task = self._current_task()
            flags = self._flags(task) if task else []
            nearest = difflib.get_close_matches(token, flags, n=1, cutoff=0.5)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            return f"error: {task or 'cattle'} has no flag {token}{hint} (see {BINARY} {task or ''} --help)".replace(
                "  ", " ")
        nearest = difflib.get_close_matches(token, self._task_names(), n=1, cutoff=0.5)
        hint = f"; did you mean {nearest[0]}?" if nearest else ""
        return f"error: unknown task {token!r}{hint} ({BINARY} --list shows every task)"

    def _flags(self, task: str) -> list[str]:
        assert self.collection is not None
        found = self.collection[task]
        flags: list[str] = []
        for argument in found.get_arguments():
            flags += [f"--{name.replace('_', '-')}" if len(name) > 1 else f"-{name}" for name in argument.names]
        return flags


def summary(task: Any) -> str | None:
    """A task's first docstring paragraph as one line."""
    doc = (task.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) or None


COMMAND_NAMES = ("cattle", BINARY, "scripts/cattle")


def completion_script(shell: str, tasks_file: Path) -> str:
    """invoke's completion script, registered for `./scripts/cattle` and `cattle` (not tasks.py); bash and zsh also
    get a `cattle` function running this checkout's tasks when no `cattle` is on PATH."""
    import contextlib
    import io

    from invoke.completion.complete import print_completion_script

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_completion_script(shell, list(COMMAND_NAMES))
    if shell not in ("bash", "zsh"):
        return out.getvalue()
    shim = (f"command -v cattle >/dev/null 2>&1 || cattle() {{ CATTLE_CWD=\"$PWD\" PATH=\"{Path(sys.executable).parent}"
            f":$PATH\" \"{sys.executable}\" \"{tasks_file}\" \"$@\"; }}\n")
    return f"# completion of cattle's tasks (for {', '.join(COMMAND_NAMES)})\n{shim}{out.getvalue()}"


def _argv(argv: list[str] | None) -> list[str]:
    """`help` and `help TASK` as users of kubectl and flux type them: --list and --help TASK."""
    args = list(sys.argv if argv is None else argv)
    if len(args) > 1 and args[1] == "help":
        return [args[0], "--help", *args[2:3]] if len(args) > 2 else [args[0], "--list"]
    return args


def main(namespace: Any, argv: list[str] | None = None) -> None:
    """Run the program over the task collection; a closed stdout ends quietly."""
    program = CattleProgram(namespace=namespace, name="cattle", binary=BINARY, version="0.1.0",
                            binary_names=list(COMMAND_NAMES))
    args = _argv(argv)
    if "--print-completion-script" in args[1:]:
        shells = args[args.index("--print-completion-script") + 1:][:1] or ["bash"]
        tasks_file = Path(args[0]).resolve() if args[0].endswith("tasks.py") else Path(os.getcwd()) / "tasks.py"
        sys.stdout.write(completion_script(shells[0], tasks_file))
        return
    try:
        program.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
