"""The report as one self-contained HTML page: inline CSS, inline SVG (cattle.report.svg), no script, no font, image
or stylesheet to fetch. Headline first, in plain words; every state is a word with a colour (never colour alone);
every chart has a table with the same numbers; narrow screens get charts drawn for their width; print drops the
navigation and keeps colours.
"""

from __future__ import annotations

from html import escape

from cattle.console import duration
from cattle.quantities import format_memory
from cattle.report import answer as boss
from cattle.report import svg as reportsvg
from cattle.report.model import (
    FRESHNESS_WORDS,
    PROOF_WORDS,
    EnvReport,
    Freshness,
    Level,
    Rebuild,
    Report,
    age,
    day,
    moment,
    span,
    worst,
)

CSS = """
:root { color-scheme: light; --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --paper: #ffffff; --wash: #f6f8fa;
  --ok-bg: #dafbe1; --ok-fg: #0f5323; --warn-bg: #fff8c5; --warn-fg: #6f4400; --bad-bg: #ffebe9; --bad-fg: #8c0d1c;
  --none-bg: #eaeef2; --none-fg: #32383f; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--wash); color: var(--ink); line-height: 1.5; overflow-wrap: break-word;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif; }
a { color: #0550ae; }
a:focus-visible, [tabindex]:focus-visible { outline: 3px solid #0550ae; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--paper); }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 1rem 1.25rem; }
header h1 { margin: .2rem 0; font-size: 1.75rem; }
.promise { font-size: 1.15rem; margin: .2rem 0 .5rem; }
.meta, .muted { color: var(--muted); font-size: .9rem; }
nav ul { list-style: none; padding: 0; margin: .5rem 0 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
section.env, section.glance, section.verdict, footer section { background: var(--paper); border: 1px solid var(--line);
  border-radius: .5rem; padding: 1rem 1.25rem; margin: 1rem 0; }
h2 { font-size: 1.4rem; margin: 0 0 .5rem; } h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.card h3 { margin: 0 0 .25rem; }
.headline { font-size: 1.1rem; margin: .4rem 0; }
.answer { font-size: 1.3rem; font-weight: 600; margin: .5rem 0; }
ul.causes { margin: .25rem 0 .5rem; padding-left: 1.25rem; } ul.causes li { margin: .2rem 0; }
dl.numbers { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; margin: .4rem 0; }
dl.numbers dt { font-weight: 600; } dl.numbers dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
ul.causes, .answer { overflow-wrap: anywhere; }
@media (max-width: 600px) { dl.numbers { grid-template-columns: 1fr; } dl.numbers dd { margin-bottom: .3rem; } }
.state { display: inline-block; padding: 0 .45em; border-radius: .3em; border: 1px solid currentColor;
  font-weight: 700; font-size: .85rem; letter-spacing: .02em; white-space: nowrap; vertical-align: .1em; }
.state.ok { background: var(--ok-bg); color: var(--ok-fg); }
.state.warn { background: var(--warn-bg); color: var(--warn-fg); }
.state.bad { background: var(--bad-bg); color: var(--bad-fg); }
.state.none { background: var(--none-bg); color: var(--none-fg); }
figure { margin: .5rem 0; } figcaption { color: var(--muted); font-size: .9rem; }
svg { max-width: 100%; height: auto; display: block; }
.narrow { display: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .25rem 0 .5rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
footer li, .long { overflow-wrap: anywhere; }
th { background: var(--wash); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .key { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: .85em; word-break: break-all; }
ul.checks { margin: .25rem 0; padding-left: 1.25rem; }
@media (max-width: 600px) {
  body { font-size: 15px; }
  header, main, footer { padding: .75rem; }
  section.env, section.glance, section.verdict, footer section { padding: .75rem; }
  .wide { display: none; } .narrow { display: block; }
  /* tables become one card per row, each value under its column's name */
  table, tbody, tr, td { display: block; width: 100%; }
  thead { position: absolute; left: -9999px; }
  caption { display: block; }
  tr { border-bottom: 2px solid var(--line); padding: .35rem 0; }
  td { border: none; padding: .1rem 0; text-align: left !important; white-space: normal !important; }
  td::before { content: attr(data-label) ": "; font-weight: 600; color: var(--muted); }
  td:empty { display: none; }
}
@media print {
  body { background: #fff; font-size: 11pt; }
  nav, .skip { display: none; }
  .wide { display: block !important; } .narrow { display: none !important; }
  section.env, section.glance, section.verdict, footer section { border: none; padding: 0; margin: 0 0 1rem; }
  section.env { break-before: page; }
  figure, table, .card { break-inside: avoid; }
  .state, svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .scroll { overflow: visible; }
  @page { margin: 14mm; }
}
"""

ICONS = {"ok": "✓", "warn": "!", "bad": "✗", "none": "?"}


def state(level: Level, word: str) -> str:
    return f'<span class="state {level}"><span aria-hidden="true">{ICONS[level]}</span> {escape(word)}</span>'


def table(caption: str, headers: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    """A table in a horizontally scrollable region (cells are already HTML)."""
    head = "".join(f'<th scope="col"{" class=num" if i in numeric else ""}>{escape(h)}</th>'
                   for i, h in enumerate(headers))
    labels = [escape(h, quote=True) for h in headers]
    body = "".join("<tr>" + "".join(f'<td data-label="{labels[i]}"{" class=num" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<div class="scroll" role="region" tabindex="0" aria-label="{escape(caption)}"><table>'
            f"<caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def chart(wide: str, narrow: str, caption: str) -> str:
    return (f'<figure><div class="wide">{wide}</div><div class="narrow">{narrow}</div>'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _budget_state(run: Rebuild) -> str:
    return state(run.level, run.verdict)


def answer_section(report: Report) -> str:
    """The first thing on the page: the question, Yes or Not proven, and each cause with its command."""
    yes, sentence, causes = boss.verdict(report)
    word = state("ok", "YES") if yes else state("bad" if any(c.measured for c in causes) else "none", "NOT PROVEN")
    items = "".join(f"<li>{escape(c.why)}{'' if c.measured else ' (not measured)'}: <code>{escape(c.fix)}</code></li>"
                    for c in causes)
    return (f'<section class="verdict" aria-labelledby="h-answer"><h2 id="h-answer">{escape(boss.question(report))}'
            f'</h2><p class="answer">{word} {escape(sentence)}</p>'
            + (f'<ul class="causes">{items}</ul>' if items else "") + "</section>")


def _findings(report: EnvReport) -> str:
    audited = report.audit
    if audited is None or audited.ok:
        return ""
    rows = "".join(f"<li><code>{escape(where)}</code>: {escape(why)} → {escape(todo)}</li>"
                   for _, where, why, todo in audited.findings)
    return f"<details><summary>The list ({len(audited.findings)})</summary><ul class=causes>{rows}</ul></details>"


def numbers(report: EnvReport) -> str:
    """The two numbers a boss asks for, and the audit's, each with where and when it was measured."""
    audited = report.audit
    lose = state("none", "NOT AUDITED") if audited is None else state("ok" if audited.ok else "bad",
                                                                        "NOTHING" if audited.ok else "WOULD LOSE")
    return ('<dl class="numbers">'
            f"<dt>Time to recover</dt><dd>{escape(boss.time_to_recover(report))}</dd>"
            f"<dt>Data we would lose</dt><dd>{escape(boss.data_we_would_lose(report))}</dd>"
            f"<dt>A rebuild now would lose</dt><dd>{lose} {escape(boss.rebuild_would_lose(report))}"
            f"{_findings(report)}</dd></dl>")


def glance(report: EnvReport) -> str:
    rehearsed = ", ".join(f"{r.title.split(' (')[0]} {state('ok' if r.ok else 'bad', r.word)} {day(r.started)}"
                          for r in report.rehearsals) or state("none", "NONE RECORDED")
    counts = {level: sum(1 for f in report.freshness if f.level == level and f.age is not None)
              for level in ("ok", "warn", "bad")}
    unchecked = sum(1 for f in report.freshness if f.word == "NOT CHECKED")
    missing = sum(1 for f in report.freshness if f.age is None) - unchecked
    backups = ", ".join([f"{n} {FRESHNESS_WORDS[lvl].lower()}" for lvl, n in counts.items() if n]
                        + ([f"{missing} unreachable or missing"] if missing else [])
                        + ([f"{unchecked} not checked from CI"] if unchecked else []))
    return (f'<div class="card"><h3><a href="#env-{report.name}">{escape(report.name)}</a> '
            f"{state(report.proof_level, PROOF_WORDS[report.proof_level])}</h3>"
            f'<p class="headline">{escape(report.headline())}</p>' + numbers(report)
            + f"<p>Backups: {state(report.backup_level, _backup_word(report))} {escape(backups)}</p>"
            f"<p>Restore rehearsals: {rehearsed}</p></div>")


def _backup_word(report: EnvReport) -> str:
    if any(f.word == "UNREACHABLE" for f in report.freshness):
        return "UNREACHABLE"
    if report.freshness and all(f.word == "NOT CHECKED" for f in report.freshness):
        return "NOT CHECKED"
    return FRESHNESS_WORDS[worst([f.level for f in report.freshness])]


def trend_section(report: EnvReport) -> str:
    runs = report.rebuilds
    if not runs:
        return ("<h3>Recovery time, run after run</h3><p>No rebuild of this environment is recorded in the history "
                "read (see Sources at the end of the page).</p>")
    rows = [[day(r.started) + f" {moment(r.started)[11:16]}", escape(r.what), _budget_state(r),
             duration(r.rto), escape(_against(r)), duration(r.pulling) if r.pulling is not None else "not measured"]
            for r in reversed(runs)]
    return ("<h3>Recovery time, run after run</h3>"
            + chart(reportsvg.trend(report, 720), reportsvg.trend(report, 340),
                    f"RTO of each run (oldest left); dashed: the {duration(report.budget)} budget. "
                    "Dot: within budget; diamond: over budget; cross: failed.")
            + table(f"{report.name}: the last {len(runs)} runs, newest first",
                    ["when (UTC)", "run", "result", "RTO", "against the budget", "pulling images"], rows, (3, 5)))


def _against(run: Rebuild) -> str:
    if run.result != "ok":
        return f"failed after {duration(run.rto)}"
    gap = run.budget - run.rto
    return f"{duration(gap)} to spare" if gap >= 0 else f"{duration(-gap)} over"


def phases_section(report: EnvReport) -> str:
    run = report.latest
    if run is None or not run.phases:
        return ""
    rows = [[escape(p.name), duration(p.start), duration(p.seconds),
             state("bad" if p.status == "failed" else "ok" if p.status == "ok" else "none", p.status.upper()),
             "yes" if p.critical else "", escape(p.detail[:120])] for p in run.phases]
    path = " → ".join(run.critical_path) or "not recorded"
    overhead = (f" cattle's own work (time not spent waiting on the cluster): {duration(run.overhead)}."
                if run.overhead is not None else "")
    return (f"<h3>The latest {escape(run.what)}, phase by phase ({day(run.started)})</h3>"
            f"<p>Critical path (the chain of Flux layers that decided the total): <strong>{escape(path)}</strong>."
            f"{escape(overhead)}</p>"
            + chart(reportsvg.gantt(report, run, 720), reportsvg.gantt(report, run, 340),
                    "Each bar is a phase; dark blue bars are the critical path, red ones failed; the solid line is "
                    "the RTO, the dashed line the budget.")
            + table(f"{report.name}: phases of the {run.what} on {day(run.started)}",
                    ["phase", "started at", "took", "status", "critical path", "detail"], rows, (1, 2)))


def pulls_section(report: EnvReport) -> str:
    run = report.latest
    if run is None:
        return ""
    if run.pulls is None:
        return "<h3>Pulling images</h3><p>Image pulls were not measured in this run.</p>"
    pulled = [p for p in run.pulls if not p.cached]
    size = sum(p.size or 0 for p in pulled)
    window = run.pulling
    share = f", {window / run.rto:.0%} of the RTO" if window is not None and run.rto else ""
    cached = len(run.pulls) - len(pulled)
    text = (f"{len(pulled)} images pulled ({format_memory(size)}) between the first pull and the last: "
            f"{duration(window or 0)}{share}.")
    if cached:
        text += f" {cached} {'was' if cached == 1 else 'were'} already on the node."
    slowest = sorted(pulled, key=lambda p: -p.with_waiting)[:10]
    rows = [[f"<code>{escape(p.image)}</code>", f"{p.seconds:.1f}s", f"{p.with_waiting:.1f}s",
             format_memory(p.size) if p.size else ""] for p in slowest]
    more = f" (the {len(slowest)} slowest of {len(pulled)})" if len(pulled) > len(slowest) else ""
    return (f"<h3>Pulling images</h3><p>{escape(text)}</p>"
            + table(f"{report.name}: image pulls{more}", ["image", "pull", "including waiting", "size"], rows,
                    (1, 2, 3)))


def _freshness_row(fact: Freshness) -> list[str]:
    t = fact.threshold
    limits = f"fresh ≤ {span(t.ok)}, aging ≤ {span(t.warn)}"
    newest = escape(fact.newest) if fact.age is not None else escape(fact.problem)
    return [escape(t.what), f'<span class="long">{newest}<br><span class=muted>{escape(fact.store)}</span></span>',
            age(fact.age) if fact.age is not None else "—", limits, state(fact.level, fact.word)]


def freshness_section(report: EnvReport) -> str:
    return ("<h3>Backups: how fresh</h3>"
            + table(f"{report.name}: newest backups against their thresholds",
                    ["backup", "newest", "age", "threshold", "state"], [_freshness_row(f) for f in report.freshness],
                    (2,)))


def rehearsal_section(report: EnvReport) -> str:
    if not report.rehearsals:
        return ("<h3>Restore rehearsals of the real backups</h3><p>No restore rehearsal (dr.rehearse, db.verify) "
                "is recorded for this environment.</p>")
    rows = []
    for r in report.rehearsals:
        checks = "".join(f"<li>{'✓' if c.ok else '✗'} {escape(c.name)}: {'ok' if c.ok else 'FAILED'} — "
                         f"{escape(c.detail[:160])}</li>" for c in r.checks)
        detail = escape(r.summary()) + (f'<ul class="checks">{checks}</ul>' if checks else "")
        rows.append([escape(r.title), moment(r.started), state("ok" if r.ok else "bad", r.word),
                     f'<div class="long">{detail}</div>'])
    return ("<h3>Restore rehearsals of the real backups</h3>"
            "<p>The newest backups, restored without a cluster into a throwaway OpenBao and PostgreSQL.</p>"
            + table(f"{report.name}: the latest restore rehearsals", ["what", "when", "result", "detail"], rows))


def coldstart_section(report: EnvReport) -> str:
    """The latest cold-start drill: its verdict, and its own timeline (SKIPPED checks say why)."""
    run = report.coldstart
    title = "<h3>Cold start: every node powered off and on, nothing run</h3>"
    if run is None:
        return "" if report.protected else f"{title}<p>{escape(report.coldstart_line())}.</p>"
    level: Level = "bad" if run.result != "ok" else run.level
    rows = [[escape(p.name), duration(p.start), duration(p.seconds),
             state("bad" if p.status == "failed" else "ok" if p.status == "ok" else "none", p.status.upper()),
             f'<span class="long">{escape(p.detail[:200])}</span>'] for p in run.phases]
    return (f"{title}<p>{state(level, run.verdict)} {escape(report.coldstart_line())}; the RTO runs from power on "
            "to the last readiness check.</p>"
            + table(f"{report.name}: the cold start of {day(run.started)}", ["phase", "started at", "took", "status",
                                                                           "detail"], rows, (1, 2)))


def keys_section(report: EnvReport) -> str:
    rows = [[escape(k.role), f'<span class="key">{escape(k.recipient) or "—"}</span>',
             day(k.rotated) if k.rotated is not None else "unknown", escape(k.how)] for k in report.keys]
    return ("<h3>Keys: who can open the secrets and backups</h3>"
            "<p>age recipients of this environment's rule in <code>.sops.yaml</code>; where the private keys are "
            "kept is in docs/secrets.md (custody).</p>"
            + table(f"{report.name}: keys", ["key", "recipient (public key)", "last changed", "date from"], rows))


def env_section(report: EnvReport) -> str:
    notes = "".join(f"<p class=muted>{escape(n)}</p>" for n in report.notes)
    word = state(report.proof_level, PROOF_WORDS[report.proof_level])
    return (f'<section class="env" id="env-{report.name}" aria-labelledby="h-{report.name}">'
            f'<h2 id="h-{report.name}">{escape(report.name)} {word}</h2>'
            f'<p class="headline">{escape(report.headline())}</p>{notes}'
            + trend_section(report) + phases_section(report) + pulls_section(report) + freshness_section(report)
            + coldstart_section(report) + rehearsal_section(report) + keys_section(report) + "</section>")


def footer(report: Report) -> str:
    rows = [[escape(t.what), span(t.ok), span(t.warn), escape(t.why)] for t in report.thresholds]
    sources = "".join(f"<li>{escape(s)}</li>" for s in report.sources)
    problems = ("<p>Records that could not be read:</p><ul>" + "".join(f"<li>{escape(p)}</li>" for p in report.problems)
                + "</ul>") if report.problems else ""
    return ("<footer><section aria-labelledby=h-thresholds><h2 id=h-thresholds>Thresholds</h2>"
            + table("Freshness thresholds (cattle/report/model.py, docs/report.md)",
                    ["what", "fresh up to", "aging up to (older: stale)", "why"], rows)
            + f"</section><section aria-labelledby=h-sources><h2 id=h-sources>Sources</h2><ul>{sources}</ul>"
            f"{problems}<p class=muted>Built by <code>./scripts/cattle report</code> from revision "
            f"{escape(report.revision)} at {moment(report.generated)}; the last {report.runs} runs per environment."
            "</p></section></footer>")


def render(report: Report) -> str:
    title = "Recovery report: " + ", ".join(e.name for e in report.envs)
    nav = "".join(f'<li><a href="#env-{e.name}">{escape(e.name)}</a></li>' for e in report.envs)
    return ("<!doctype html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            '<meta name="color-scheme" content="light">'
            f"<style>{CSS}</style></head><body>"
            '<a class="skip" href="#main">Skip to the environments</a>'
            "<header><h1>Recovery report</h1>" + answer_section(report) +
            '<p class="promise">The promise: if everything is down, every environment is rebuilt from git and its '
            "backups within its budget. This page shows the proof, week after week.</p>"
            f'<p class="meta">Generated {moment(report.generated)} from revision {escape(report.revision)}.</p>'
            f'<nav aria-label="Environments"><ul>{nav}<li><a href="#h-thresholds">Thresholds</a></li>'
            '<li><a href="#h-sources">Sources</a></li></ul></nav></header>'
            '<main id="main"><section class="glance" aria-labelledby="h-glance"><h2 id="h-glance">At a glance</h2>'
            f'<div class="cards">{"".join(glance(e) for e in report.envs)}</div></section>'
            + "".join(env_section(e) for e in report.envs) + "</main>" + footer(report) + "</body></html>\n")
