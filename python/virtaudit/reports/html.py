"""``--output-format html``: one self-contained page that opens offline.

Charts (inline SVG, drawn here) of the findings by severity, by rule, by host, and of the guests by arch and
machine; the findings table with client-side filters (a few lines of inline JavaScript); the inputs that
could not be read; and the catalog entry of each rule that fired. Nothing is fetched: a Content Security
Policy forbids every external load. Every value from the inputs is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import IO, TYPE_CHECKING, Any, Final

from virtaudit.reports import SEVERITIES, severity_rank
from virtaudit.reports.tally import platform_counts
from virtaudit.schema import SEVERITY_COLORS

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

COLORS: Final = SEVERITY_COLORS
MAX_TABLE_ROWS: Final = 20_000
MAX_BARS: Final = 20

CSS: Final = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#0f172a;color:#f8fafc;padding:18px 28px}
header h1{margin:0;font-size:20px;font-weight:650}
header .meta{color:#cbd5e1;font-size:13px;margin-top:4px}
main{padding:20px 28px;max-width:1500px;margin:0 auto}
.verdict{padding:10px 14px;border-radius:8px;font-weight:600;margin-bottom:16px}
.verdict.bad{background:#fee2e2;color:#7f1d1d;border:1px solid #fca5a5}
.verdict.warn{background:#fef3c7;color:#78350f;border:1px solid #fcd34d}
.verdict.ok{background:#dcfce7;color:#14532d;border:1px solid #86efac}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .n{font-size:24px;font-weight:700}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px;margin-bottom:20px;
align-items:start}
.chart h2,section h2{font-size:15px;margin:0 0 8px}
.chart svg{width:100%;height:auto;display:block}
.chart .bar{cursor:pointer}
.chart .bar:hover rect{opacity:.8}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;color:var(--muted);margin-top:6px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
margin-bottom:20px}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:10px}
.filters label.sev{display:inline-flex;align-items:center;gap:4px;padding:3px 9px;border-radius:999px;
border:1px solid var(--line);cursor:pointer;user-select:none}
.filters select,.filters input[type=search]{padding:5px 8px;border:1px solid #cbd5e1;border-radius:6px;
font:inherit}
.filters input[type=search]{min-width:240px}
.filters button{padding:5px 10px;border:1px solid #cbd5e1;border-radius:6px;background:#f1f5f9;
cursor:pointer;font:inherit}
.count{color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{position:sticky;top:0;background:#f1f5f9;font-weight:600;cursor:pointer;white-space:nowrap}
td.msg{min-width:320px}
td.nw{white-space:nowrap}
td code,td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;color:#fff;font-size:12px;font-weight:600}
.scroll{max-height:640px;overflow:auto;border:1px solid var(--line);border-radius:6px}
details{border-top:1px solid var(--line);padding:8px 0}
details summary{cursor:pointer;font-weight:600}
details p{margin:6px 0 6px 16px}
.empty{color:var(--muted);font-style:italic}
.judged{margin:0 0 14px}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px;text-align:center}
"""

JS: Final = """
(function(){
  var rows=Array.prototype.slice.call(document.querySelectorAll('#findings tbody tr'));
  var sev=document.querySelectorAll('input[name=sev]');
  var host=document.getElementById('f-host'),rule=document.getElementById('f-rule');
  var q=document.getElementById('f-q'),count=document.getElementById('f-count');
  function apply(){
    var on={};for(var i=0;i<sev.length;i++){if(sev[i].checked)on[sev[i].value]=1;}
    var h=host.value,r=rule.value,t=q.value.trim().toLowerCase(),n=0;
    rows.forEach(function(tr){
      var ok=on[tr.dataset.sev]&&(!h||tr.dataset.host===h)&&(!r||tr.dataset.code===r)&&
        (!t||tr.textContent.toLowerCase().indexOf(t)>=0);
      tr.hidden=!ok;if(ok)n++;
    });
    count.textContent=n;
  }
  [host,rule].forEach(function(e){e.addEventListener('change',apply);});
  q.addEventListener('input',apply);
  for(var i=0;i<sev.length;i++)sev[i].addEventListener('change',apply);
  document.getElementById('f-reset').addEventListener('click',function(){
    host.value='';rule.value='';q.value='';for(var i=0;i<sev.length;i++)sev[i].checked=true;apply();
  });
  document.querySelectorAll('.bar[data-k]').forEach(function(b){
    b.addEventListener('click',function(){
      var k=b.dataset.k,v=b.dataset.v;
      if(k==='sev'){for(var i=0;i<sev.length;i++)sev[i].checked=(sev[i].value===v);}
      else if(k==='host'){host.value=v;}
      else if(k==='code'){rule.value=v;}
      else if(k==='q'){q.value=v;}
      apply();document.getElementById('findings-section').scrollIntoView({behavior:'smooth'});
    });
  });
  document.querySelectorAll('#findings th').forEach(function(th,col){
    th.addEventListener('click',function(){
      var tb=document.querySelector('#findings tbody'),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
      rows.sort(function(a,b){
        var x=a.children[col].dataset.s||a.children[col].textContent;
        var y=b.children[col].dataset.s||b.children[col].textContent;
        return (x<y?-1:x>y?1:0)*(asc?1:-1);
      });
      rows.forEach(function(tr){tb.appendChild(tr);});
    });
  });
  apply();
})();
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _bar_chart(
    title: str,
    rows: list[tuple[str, list[tuple[str, int]], str, str]],
    *,
    note: str = "",
    label_width: int = 190,
    legend: bool = True,
) -> str:
    """Horizontal stacked bars: ``rows`` of (label, [(series, value)], filter key, filter value)."""
    width, bar_h, gap, right = 640, 20, 8, 48
    plot = width - label_width - right
    if not rows:
        return f'<div class="card chart"><h2>{_e(title)}</h2><p class="empty">Nothing to show.</p></div>'
    top = max(sum(v for _s, v in parts) for _l, parts, _k, _v in rows) or 1
    height = len(rows) * (bar_h + gap) + gap
    out = [
        f'<div class="card chart"><h2>{_e(title)}</h2>',
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
    ]
    for i, (label, parts, key, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        total = sum(v for _s, v in parts)
        shown = label if len(label) <= 28 else label[:27] + "…"
        attrs = f' data-k="{_e(key)}" data-v="{_e(value)}"' if key else ""
        out.append(f'<g class="bar"{attrs}><title>{_e(label)}: {total}</title>')
        out.append(
            f'<text x="{label_width - 8}" y="{y + bar_h - 5}" text-anchor="end" font-size="12" '
            f'fill="#374151">{_e(shown)}</text>'
        )
        x = float(label_width)
        for series, v in parts:
            if v <= 0:
                continue
            w = max(plot * v / top, 1.5)
            color = COLORS.get(series, "#64748b")
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{color}">'
                f"<title>{_e(label)} · {_e(series)}: {v}</title></rect>"
            )
            x += w
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + bar_h - 5}" font-size="12" fill="#111827" '
            f'font-weight="600">{total}</text></g>'
        )
    out.append("</svg>")
    present = sorted({s for _l, parts, _k, _v in rows for s, v in parts if v > 0}, key=_series_rank)
    if legend and len(present) > 1:
        out.append(
            '<div class="legend">'
            + "".join(
                f'<span><i style="background:{COLORS.get(s, "#64748b")}"></i>{_e(s)}</span>' for s in present
            )
            + "</div>"
        )
    if note:
        out.append(f'<div class="legend">{_e(note)}</div>')
    out.append("</div>")
    return "".join(out)


def _series_rank(series: str) -> int:
    return severity_rank(series) if series in SEVERITIES else len(SEVERITIES)


def _charts(report: AuditReport) -> str:
    import polars as pl

    counts = report.summary()
    sev_rows = [
        (s, [(s, int(n))], "sev", s)
        for s, n in counts["by_severity"].select(pl.col("severity").cast(pl.String), "findings").iter_rows()
    ]
    by_rule = (
        counts["by_rule"]
        .with_columns(pl.col("severity").cast(pl.String))
        .pivot(on="severity", index=["code", "rule"], values="findings")
        .fill_null(0)
    )
    rule_rows = []
    for row in by_rule.iter_rows(named=True):
        parts = [(s, int(row.get(s, 0) or 0)) for s in SEVERITIES]
        rule_rows.append((f"{row['code']} {row['rule']}", parts, "code", row["code"]))
    rule_rows.sort(
        key=lambda r: (
            min(_series_rank(s) for s, v in r[1] if v) if any(v for _s, v in r[1]) else 9,
            -sum(v for _s, v in r[1]),
            r[0],
        )
    )
    host_rows = [
        (row["host"], [(s, int(row[s])) for s in SEVERITIES], "host", row["host"])
        for row in counts["by_host"].iter_rows(named=True)
    ]
    host_note = f"{len(host_rows) - MAX_BARS} more hosts not drawn" if len(host_rows) > MAX_BARS else ""

    # Guests by arch and machine family, stacked by the worst severity each guest has ("clean": none).
    tally = report.tally
    platforms = (
        tally.platform_table()
        if tally is not None and tally.platforms is not None
        else platform_counts(report.guests, report.findings)
    )
    guests = platforms.pivot(on="worst", index="platform", values="guests").fill_null(0)
    platform_rows = []
    for row in guests.iter_rows(named=True):
        parts = [(s, int(row.get(s, 0) or 0)) for s in (*SEVERITIES, "clean")]
        platform_rows.append((row["platform"], parts, "q", ""))
    platform_rows.sort(key=lambda r: (-sum(v for _s, v in r[1]), r[0]))
    platform_rows = [(label, parts, "", "") for label, parts, _k, _v in platform_rows]
    return "".join(
        [
            '<div class="charts">',
            _bar_chart("Findings by severity", sev_rows, label_width=110, legend=False),
            _bar_chart("Findings by rule", rule_rows[:MAX_BARS], label_width=230),
            _bar_chart("Findings by host", host_rows[:MAX_BARS], note=host_note),
            _bar_chart(
                "Guests by arch and machine (colour: worst finding)",
                platform_rows[:MAX_BARS],
                label_width=230,
            ),
            "</div>",
        ]
    )


def _cards(report: AuditReport) -> str:
    c = report.counts()
    items = [
        ("files read", c["files"] - c["unreadable"]),
        ("hosts", c["hosts"]),
        ("guests", c["guests"]),
        ("guests with findings", c["guests_with_findings"]),
        ("findings", c["findings"]),
        (f"at or above {report.fail_on}", c["failing"]),
        ("unreadable inputs", c["unreadable"]),
    ]
    if report.baseline is not None:
        items.append(("suppressed by the baseline", c["suppressed"]))
    cells = "".join(
        f'<div class="card"><div class="n">{n}</div><div class="l">{_e(label)}</div></div>'
        for label, n in items
    )
    return f'<div class="cards">{cells}</div>'


VERDICT_COLORS: Final = {"at-risk": "#dc2626", "unknown": "#b45309", "restart-safe": "#16a34a"}


def _hosts(report: AuditReport) -> str:
    """The verdict per host: which hosts can be restarted now (the first thing an operator asks)."""
    hosts = report.host_verdicts()
    if hosts.height == 0:
        return ""
    counts = {v: int((hosts["verdict"] == v).sum()) for v in VERDICT_COLORS}
    rows = []
    for h in hosts.head(MAX_TABLE_ROWS).iter_rows(named=True):
        color = VERDICT_COLORS.get(h["verdict"], "#64748b")
        worst = (
            f"{_pill(h['worst_severity'])} <code>{_e(h['worst_code'])}</code>"
            if h["worst_severity"]
            else "none"
        )
        facts = (
            f"libvirt {_e(h['libvirt_version'] or '(target)')}, QEMU {_e(h['qemu_version'] or '?')} "
            f"<span class=count>from {_e(h['facts_source'])}</span>"
            if h["libvirt_version"] or h["qemu_version"]
            else '<span class="count">no host facts: judged at the target</span>'
        )
        rows.append(
            f"<tr><td class=nw>{_e(h['host'])}</td>"
            f'<td><span class="pill" style="background:{color}">{_e(h["verdict"])}</span></td>'
            f"<td>{h['guests']}</td><td>{h['unreadable'] or ''}</td><td>{h['failing']}</td>"
            f"<td class=nw>{worst}</td><td>{facts}</td></tr>"
        )
    return (
        f'<section id="hosts"><h2>Hosts: {counts["restart-safe"]} restart-safe, {counts["at-risk"]} at-risk, '
        f"{counts['unknown']} unknown</h2>"
        "<p class=count>restart-safe: every input read, nothing at or above "
        f"{_e(report.fail_on)}; at-risk: a finding at or above it; unknown: some input could not be "
        "read.</p>"
        '<div class="scroll"><table><thead><tr><th>host</th><th>verdict</th><th>guests</th>'
        f"<th>unreadable</th><th>at or above {_e(report.fail_on)}</th><th>worst finding</th>"
        "<th>judged with</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></section>"
    )


def _judged(report: AuditReport) -> str:
    judged = report.judged_against()
    warning = f'<div class="verdict warn">warning: {_e(judged["warning"])}</div>' if judged["warning"] else ""
    line = report.suppressed_line()
    suppressed = f'<p class="judged"><b>Baseline</b> {_e(line)}.</p>' if line else ""
    return f'<p class="judged"><b>Judged against</b> {_e(judged["means"])}.</p>{warning}{suppressed}'


def _pill(severity: str) -> str:
    color = COLORS.get(severity, "#64748b")
    return f'<span class="pill" style="background:{color}">{_e(severity)}</span>'


def _findings(report: AuditReport) -> str:
    import polars as pl

    f = report.findings
    total = report.finding_total
    counts = report.summary()
    ordered = f.with_columns(
        pl.col("severity")
        .replace_strict(
            {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
        )
        .alias("_rank")
    ).sort(["_rank", "host", "guest", "code"], nulls_last=True, maintain_order=True)
    shown = ordered.head(MAX_TABLE_ROWS)
    hosts = sorted({h for h in counts["by_host"]["host"].to_list() if h is not None})
    codes = counts["by_rule"].select("code", "rule").unique().sort("code").iter_rows()
    sev_present = {s for s, n in counts["by_severity"].iter_rows() if n}
    chips = "".join(
        f'<label class="sev"><input type="checkbox" name="sev" value="{s}" checked>'
        f'<i style="display:inline-block;width:9px;height:9px;border-radius:2px;background:{COLORS[s]}"></i>'
        f"{s}</label>"
        for s in SEVERITIES
        if s in sev_present or not sev_present
    )
    host_opts = "".join(f'<option value="{_e(h)}">{_e(h)}</option>' for h in hosts)
    code_opts = "".join(f'<option value="{_e(c)}">{_e(c)} {_e(r)}</option>' for c, r in codes)
    head = [
        "severity",
        "host",
        "guest",
        "code",
        "rule",
        "message",
        "element",
        "alias",
        "recorded bus",
        "expected bus",
        "libvirt",
    ]
    rows = []
    for r in shown.iter_rows(named=True):
        rows.append(
            f'<tr data-sev="{_e(r["severity"])}" data-host="{_e(r["host"])}" data-code="{_e(r["code"])}">'
            f'<td data-s="{r["_rank"]}">{_pill(r["severity"])}</td>'
            f"<td class=nw>{_e(r['host'])}</td>"
            f'<td title="{_e(r["path"])}">{_e(r["guest"] or r["path"])}</td>'
            f"<td class=nw><code>{_e(r['code'])}</code></td><td class=nw>{_e(r['rule'])}</td>"
            f'<td class="msg">{_e(r["message"])}</td>'
            f"<td>{_e(r['element'])}</td><td class=mono>{_e(r['alias'])}</td>"
            f"<td class=mono>{_e(r['recorded_bus'])}</td><td class=mono>{_e(r['expected_bus'])}</td>"
            f"<td>{_e(r['libvirt_version'])}</td></tr>"
        )
    truncated = (
        f'<p class="count">The table holds the {shown.height} most severe of {total} findings '
        f"({total - shown.height} more); the JSON, CSV or Parquet output has them all.</p>"
        if total > shown.height
        else ""
    )
    return (
        '<section id="findings-section"><h2>Findings</h2>'
        f'<div class="filters">{chips}'
        f'<select id="f-host" aria-label="host"><option value="">all hosts</option>{host_opts}</select>'
        f'<select id="f-rule" aria-label="rule"><option value="">all rules</option>{code_opts}</select>'
        '<input id="f-q" type="search" placeholder="search guest, alias, message…" aria-label="search">'
        '<button id="f-reset" type="button">Reset</button>'
        f'<span class="count">showing <b id="f-count">{shown.height}</b> of {total}</span></div>'
        f"{truncated}"
        '<div class="scroll"><table id="findings"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        + ("" if total else '<p class="empty">No findings.</p>')
        + "</section>"
    )


def _errors(errors: pl.DataFrame) -> str:
    if errors.height == 0:
        return ""
    rows = []
    for e in errors.head(MAX_TABLE_ROWS).iter_rows(named=True):
        rows.append(
            f"<tr><td>{_e(e['host'])}</td><td class=mono>{_e(e['path'])}</td><td>{_e(e['kind'])}</td>"
            f"<td>{_e(e['message'])}</td></tr>"
        )
    return (
        f'<section><h2 style="color:#b91c1c">Could not read ({errors.height})</h2>'
        "<p>These inputs were not audited: the findings above do not cover them.</p>"
        '<div class="scroll"><table><thead><tr><th>host</th><th>path</th><th>kind</th><th>message</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></section>"
    )


def _rules(report: AuditReport) -> str:
    if report.catalog is None or report.finding_total == 0:
        return ""
    fired = set(report.summary()["by_rule"]["code"].to_list())
    items = []
    for row in report.catalog.iter_rows(named=True):
        if row["code"] not in fired:
            continue
        items.append(
            f"<details><summary><code>{_e(row['code'])}</code> {_e(row.get('name'))}</summary>"
            f"<p><b>Why it breaks.</b> {_e(row.get('why'))}</p>"
            f"<p><b>What to do.</b> {_e(row.get('remediation'))}</p>"
            f"<p><b>Affected versions.</b> {_e(row.get('affected'))}</p>"
            f"<p><b>Severity.</b> {_e(row.get('severity_logic'))}</p>"
            f"<p><b>Evidence.</b> {_e(row.get('evidence'))}</p></details>"
        )
    if not items:
        return ""
    return "<section><h2>The rules that fired</h2>" + "".join(items) + "</section>"


def render(report: AuditReport) -> str:
    target = report.target_libvirt or "newest"
    if report.errors.height or report.failing:
        cls = "bad"
    elif report.finding_total:
        cls = "warn"
    else:
        cls = "ok"
    meta = (
        f"virtaudit {_e(report.version)} · generated {_e(report.generated)} · target libvirt {_e(target)}"
        f" · fail on {_e(report.fail_on)}"
        + (f" · showing {_e(report.min_severity)} and above" if report.min_severity else "")
    )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>virtaudit: libvirt restart-safety report</title>",
            f"<style>{CSS}</style></head><body>",
            "<header><h1>libvirt restart-safety audit</h1>",
            f'<div class="meta">{meta}</div></header><main>',
            f'<div class="verdict {cls}">{_e(report.verdict())}</div>',
            _judged(report),
            _hosts(report),
            _cards(report),
            _charts(report),
            _findings(report),
            _errors(report.errors),
            _rules(report),
            "</main><footer>Generated by virtaudit from the scan tables only: no file content beyond "
            "names, aliases and addresses is shown.</footer>",
            f"<script>{JS}</script></body></html>\n",
        ]
    )


def write(report: AuditReport, stream: IO[bytes]) -> None:
    stream.write(render(report).encode())
