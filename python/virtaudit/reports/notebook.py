"""Findings for people in notebooks: ``virtaudit.view(findings)``.

:func:`virtaudit.audit` returns a plain polars DataFrame (the findings contract), which a notebook shows
as a raw frame with every message cut at 30 characters. :func:`view` wraps it for display only: the
counts by severity, then every finding (up to ``limit``) with its whole message, most severe first, as
HTML (``_repr_html_``) or text (``repr``). The frame itself is ``view(findings).findings``, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Final

from virtaudit.reports import SEVERITIES, normalize_findings

if TYPE_CHECKING:
    import polars as pl

DEFAULT_LIMIT: Final = 200
COLORS: Final = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#3b82f6",
    "info": "#94a3b8",
}


@dataclass(frozen=True)
class FindingsView:
    """A display of findings (see the module docstring)."""

    findings: pl.DataFrame
    limit: int = DEFAULT_LIMIT

    def _ordered(self) -> pl.DataFrame:
        import polars as pl

        f = normalize_findings(self.findings)
        rank = pl.col("severity").replace_strict(
            {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
        )
        return f.sort(rank, "host", "guest", "code", nulls_last=True, maintain_order=True)

    def counts(self) -> dict[str, int]:
        """Findings per severity, most severe first (zeros included)."""
        f = normalize_findings(self.findings)
        return {s: int((f["severity"] == s).sum()) for s in SEVERITIES}

    def _headline(self) -> str:
        f = self.findings
        guests = f.select("host", "path").unique().height if f.height else 0
        hosts = f["host"].n_unique() if f.height else 0
        return f"virtaudit findings: {f.height} in {guests} guests on {hosts} hosts"

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {n}" for s, n in self.counts().items())
        lines = [self._headline(), counts]
        shown = self._ordered().head(self.limit)
        for r in shown.iter_rows(named=True):
            lines.append(
                f"{r['severity']:<8} {r['code']} {r['host']}/{r['guest'] or r['path']}: {r['message']}"
            )
        if self.findings.height > shown.height:
            lines.append(f"… {self.findings.height - shown.height} more (view(findings, limit=0) shows all)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        chips = " ".join(
            f"<span style='background:{COLORS[s]};color:#fff;border-radius:9px;padding:1px 8px'>"
            f"{s} {n}</span>"
            for s, n in self.counts().items()
        )
        shown = self._ordered().head(self.limit)
        cols = ("severity", "host", "guest", "code", "rule", "message")
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in cols)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:left;white-space:{'normal' if c == 'message' else 'nowrap'}'>"
                f"{escape(str(r[c] if r[c] is not None else r['path']))}</td>"
                for c in cols
            )
            + "</tr>"
            for r in shown.iter_rows(named=True)
        )
        more = self.findings.height - shown.height
        tail = f"<p>… {more} more (<code>view(findings, limit=0)</code> shows all)</p>" if more > 0 else ""
        return (
            f"<div><b>{escape(self._headline())}</b><div style='margin:6px 0'>{chips}</div>"
            f"<table><tr>{head}</tr>{rows}</table>{tail}</div>"
        )


def view(findings: pl.DataFrame, *, limit: int = DEFAULT_LIMIT) -> FindingsView:
    """``findings`` (from :func:`virtaudit.audit`) for display: severity counts, then the findings with
    their whole messages (``limit`` rows; 0: all)."""
    return FindingsView(findings, limit if limit > 0 else max(findings.height, 1))
