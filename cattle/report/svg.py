"""The report's charts as inline SVG (no script, no font or image to fetch): the RTO trend against the budget, the
latest run's phases as a Gantt chart with the critical path, and the status badges.

Each chart is drawn for a given width (wide for desktops and print, narrow for phones: text stays readable instead
of being scaled down), carries a <title> and <desc> (role="img"), and says in text what colour also says.
"""

from __future__ import annotations

from html import escape

from cattle.console import duration
from cattle.report.model import PROOF_WORDS, EnvReport, Level, Rebuild, Report, day

COLOURS = {"ok": "#1a7f37", "warn": "#9a6700", "bad": "#cf222e", "none": "#57606a"}
INK, GRID, MUTED = "#1f2328", "#d0d7de", "#57606a"
CHAR = 6.6  # average advance of a 12px system sans-serif glyph, for fitting labels


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", weight: str = "normal",
          fill: str = INK, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}"{klass}>{escape(text)}</text>')


def _open(width: int, height: int, ident: str, title: str, desc: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d" font-family="inherit">'
            f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>')


def _step(span: float, most: int) -> float:
    """A round tick interval (seconds) giving at most `most` ticks over `span`."""
    for step in (60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= most:
            return float(step)
    return span / most


def _fit(text: str, room: float) -> str:
    most = max(4, int(room / CHAR))
    return text if len(text) <= most else text[: most - 1] + "…"


def point_label(run: Rebuild) -> str:
    return f"failed {duration(run.rto)}" if run.result != "ok" else duration(run.rto)


def trend_desc(report: EnvReport) -> str:
    runs = report.rebuilds
    ok = [r for r in runs if r.result == "ok"]
    parts = [f"{len(runs)} runs from {day(runs[0].started)} to {day(runs[-1].started)}."]
    if ok:
        parts.append(f"Fastest {duration(min(r.rto for r in ok))}, slowest {duration(max(r.rto for r in ok))}.")
    over = sum(1 for r in ok if not r.within_budget)
    failed = len(runs) - len(ok)
    parts.append(f"{over} over the budget, {failed} failed. Latest: {point_label(runs[-1])}, {runs[-1].verdict}.")
    return " ".join(parts)


def trend(report: EnvReport, width: int) -> str:
    """RTO of each run (oldest left) with the budget as a dashed line; every point labelled with its value."""
    runs, budget = report.rebuilds, report.budget
    narrow = width < 500
    height, left, right, top, bottom = 230, 40, 14, 30, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(budget * 1.25, max(r.rto for r in runs) * 1.18)
    step = _step(top_value, 5)

    def y(seconds: float) -> float:
        return top + plot_h - seconds / top_value * plot_h

    def x(index: int) -> float:
        return left + (index + 0.5) * plot_w / len(runs)

    ident = f"trend-{report.name}-{'n' if narrow else 'w'}"
    parts = [_open(width, height, ident, f"{report.name}: recovery time (RTO) of the last {len(runs)} "
                   f"{runs[-1].what.split(' ')[0]} runs against the {duration(budget)} budget", trend_desc(report))]
    tick = 0.0
    while tick <= top_value:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(left - 6, y(tick) + 4, duration(tick) if tick else "0", size=11, anchor="end",
                           fill=MUTED))
        tick += step
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(budget):.1f}" y2="{y(budget):.1f}" '
                 f'stroke="{COLOURS["bad"]}" stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append(_text(width - right, y(budget) - 6, f"budget {duration(budget)}", size=12, anchor="end",
                       weight="bold", fill=COLOURS["bad"]))
    done = [(x(i), y(r.rto)) for i, r in enumerate(runs) if r.result == "ok"]
    if len(done) > 1:
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in done)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{MUTED}" stroke-width="1.5"/>')
    every = max(1, round(len(runs) / (4 if narrow else 10)))
    for i, run in enumerate(runs):
        px, py = x(i), y(run.rto)
        colour = COLOURS[run.level]
        label = f"{day(run.started)}: {point_label(run)}, {run.verdict.lower()}"
        parts.append(f'<g class="point"><title>{escape(label)}</title>')
        if run.result != "ok":
            parts.append(f'<path d="M{px - 6:.1f},{py - 6:.1f}L{px + 6:.1f},{py + 6:.1f}M{px - 6:.1f},{py + 6:.1f}'
                         f'L{px + 6:.1f},{py - 6:.1f}" stroke="{colour}" stroke-width="3"/>')
        elif run.within_budget:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5.5" fill="{colour}"/>')
        else:
            parts.append(f'<path d="M{px:.1f},{py - 7:.1f}L{px + 7:.1f},{py:.1f}L{px:.1f},{py + 7:.1f}'
                         f'L{px - 7:.1f},{py:.1f}Z" fill="{colour}"/>')
        if not narrow or i == len(runs) - 1 or run.level != "ok":
            parts.append(_text(px, py - 11, point_label(run), size=12, anchor="middle", weight="bold",
                               fill=colour if run.level != "ok" else INK, cls="value"))
        if i % every == 0 or i == len(runs) - 1:
            parts.append(_text(px, height - bottom + 18, day(run.started)[5:], size=11, anchor="middle",
                               fill=MUTED))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def gantt(report: EnvReport, run: Rebuild, width: int) -> str:
    """The run's phases as bars on one time axis, the critical path in dark blue and named, the RTO and budget as
    vertical lines. Each label sits above its bar so it stays readable at any width."""
    narrow = width < 500
    row, left, right, top, bottom = 34, 8, 10, 50, 8
    span = max([p.end for p in run.phases] + [run.rto, run.budget]) * 1.02 or 1.0
    plot_w = width - left - right
    height = top + row * len(run.phases) + bottom

    def x(seconds: float) -> float:
        return left + max(0.0, seconds) / span * plot_w

    ident = f"gantt-{report.name}-{'n' if narrow else 'w'}"
    critical = " → ".join(run.critical_path) or "not recorded"
    parts = [_open(width, height, ident, f"{report.name}: phases of the {run.what} on {day(run.started)}",
                   f"{len(run.phases)} phases over {duration(max(p.end for p in run.phases))}; RTO "
                   f"{duration(run.rto)} against the {duration(run.budget)} budget; critical path: {critical}.")]
    step = _step(span, 4 if narrow else 8)
    tick = 0.0
    while tick <= span:
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="16" y2="{height - bottom}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(x(tick), 12, duration(tick) if tick else "0", size=11, anchor="middle" if tick else
                           "start", fill=MUTED))
        tick += step
    for i, phase in enumerate(run.phases):
        base = top + i * row
        flags = [duration(phase.seconds)]
        if phase.critical:
            flags.append("critical" if narrow else "critical path")
        if phase.status == "failed":
            flags.append("FAILED")
        elif phase.start >= run.rto and run.kind == "drill":
            flags.append("after the RTO" if narrow else "check after the RTO")
        colour = ("#cf222e" if phase.status == "failed" else "#0550ae" if phase.critical
                  else "#bf8700" if phase.name == "image pulls" else "#8c959f")
        x0, x1 = x(phase.start), max(x(phase.end), x(phase.start) + 2)
        tail = " · " + " · ".join(flags)
        text = phase.name + tail
        weight = "bold" if phase.critical else "normal"
        if x0 > left + plot_w * 0.55:  # a late bar: its label ends where the bar ends
            room = min(x1, width - right) - left
            label = _text(min(x1, width - right), base + 12, _fit(phase.name, room - len(tail) * CHAR) + tail,
                          anchor="end", weight=weight)
        else:
            room = width - right - x0
            label = _text(x0, base + 12, _fit(phase.name, room - len(tail) * CHAR) + tail, weight=weight)
        parts.append(f'<g class="phase"><title>{escape(text)}</title>{label}<rect x="{x0:.1f}" y="{base + 17}" '
                     f'width="{x1 - x0:.1f}" height="11" rx="2" fill="{colour}"/></g>')
    for seconds, label, colour, dash, line in ((run.rto, f"RTO {duration(run.rto)}", INK, "", 27),
                                               (run.budget, f"budget {duration(run.budget)}", COLOURS["bad"], "6 4",
                                                41)):
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x(seconds):.1f}" x2="{x(seconds):.1f}" y1="{line + 4}" y2="{height - bottom}" '
                     f'stroke="{colour}" stroke-width="2"{dashed}/>')
        anchor, offset = ("end", -4) if x(seconds) > width * 0.5 else ("start", 4)
        parts.append(_text(x(seconds) + offset, line, label, size=12, anchor=anchor, weight="bold", fill=colour))
    parts.append("</svg>")
    return "".join(parts)


def _badge(label: str, value: str, level: Level) -> str:
    left_w, right_w = int(len(label) * 6.8 + 12), int(len(value) * 6.8 + 12)
    width = left_w + right_w
    title = f"{label}: {value}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<rect width="{left_w}" height="20" fill="#424a53"/>'
            f'<rect x="{left_w}" width="{right_w}" height="20" fill="{COLOURS[level]}"/>'
            f'<g fill="#ffffff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="{left_w / 2:.1f}" y="14" text-anchor="middle">{escape(label)}</text>'
            f'<text x="{left_w + right_w / 2:.1f}" y="14" text-anchor="middle">{escape(value)}</text></g></svg>\n')


def badge(report: Report) -> str:
    """The README badge: the most recent drill of any environment against its budget (grey: none recorded)."""
    drilled = [(e, e.latest) for e in report.envs if e.latest is not None and e.latest.kind == "drill"]
    if not drilled:
        return _badge("recovery drill", "none recorded", "none")
    env_report, run = max(drilled, key=lambda pair: pair[1].started)
    level: Level
    if run.result != "ok":
        value, level = f"{env_report.name} failed {day(run.started)}", "bad"
    else:
        sign = "≤" if run.within_budget else ">"
        value, level = f"{env_report.name} {duration(run.rto)} {sign} {duration(run.budget)}", run.level
    if env_report.recency != "ok":
        value += f" ({day(run.started)})"
        level = "bad" if level == "bad" or env_report.recency == "bad" else "warn"
    return _badge("recovery drill", value, level)


def env_badge(report: EnvReport) -> str:
    return _badge(report.name, PROOF_WORDS[report.proof_level].lower(), report.proof_level)
