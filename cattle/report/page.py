"""`./scripts/cattle report`: the recovery report a non-engineer can read, as files in one directory.

Data flows one way: gather (cattle.report.facts: run records, backup stores, key custody) → the model
(cattle.report.model) → render (cattle.report.html, cattle.report.svg). Written: `index.html` (self-contained: no
request of any kind), `badge.svg` (the latest drill against its budget, for the README), `badge-<env>.svg` and
`report.json` (the same facts as data).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cattle.report import answer as boss
from cattle.report import facts as reportfacts
from cattle.report import html as reporthtml
from cattle.report import svg as reportsvg
from cattle.report.model import PROOF_WORDS, Report

PAGE = "index.html"
BADGE = "badge.svg"


@dataclass(frozen=True)
class Built:
    directory: Path
    report: Report

    @property
    def page(self) -> Path:
        return self.directory / PAGE


def write(report: Report, directory: Path) -> Built:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PAGE).write_text(reporthtml.render(report), encoding="utf-8")
    (directory / BADGE).write_text(reportsvg.badge(report), encoding="utf-8")
    for env_report in report.envs:
        (directory / f"badge-{env_report.name}.svg").write_text(reportsvg.env_badge(env_report), encoding="utf-8")
    (directory / "report.json").write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    return Built(directory, report)


def build(root: Path, directory: Path, names: list[str] | None = None, *, runs: int = 12, now: float | None = None,
          records: tuple[Path, ...] = (), check_stores: bool = True) -> Built:
    """Gather everything and write the page and badges into `directory`."""
    return write(reportfacts.gather(root, names, runs=runs, now=now, directories=records,
                                    check_stores=check_stores), directory)


def summary_markdown(report: Report, link: str | None = None) -> str:
    """The headlines for a job summary (and the terminal)."""
    _, sentence, causes = boss.verdict(report)
    lines = ["## Recovery report", "", f"**{boss.question(report)}** {sentence}", ""]
    lines += [f"- {c.why}{'' if c.measured else ' (not measured)'}: `{c.fix}`" for c in causes]
    lines += ["", "Per environment:", ""]
    for env_report in report.envs:
        lines.append(f"- **{PROOF_WORDS[env_report.proof_level]}** {env_report.headline()}")
    if report.problems:
        lines.append(f"- {len(report.problems)} run record(s) could not be read (listed on the page)")
    if link:
        lines += ["", f"The page: {link}"]
    return "\n".join(lines) + "\n"
