"""``--output-format github``: GitHub Actions workflow commands, one a line, as ``ruff --output-format
github`` prints them: ``::error file=PATH,title=CODE rule::message``.

Findings at ``critical`` and ``high`` are ``::error``, ``medium`` ``::warning``, ``low`` and ``info``
``::notice``; each unreadable input is an ``::error`` (its guests were not audited); then one ``::notice``
(``::error`` for ``at-risk`` and ``unknown``) per host with its verdict. Values are escaped as the runner
expects (``%``, CR and LF everywhere; ``:`` and ``,`` in properties too), so no input value can start a
command of its own.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Final

from virtaudit.reports._spool import BucketFiles, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

LEVELS: Final = {"critical": "error", "high": "error", "medium": "warning", "low": "notice", "info": "notice"}
VERDICT_LEVELS: Final = {"at-risk": "error", "unknown": "error", "restart-safe": "notice"}


def escape_data(value: object) -> str:
    """A workflow command's message (the runner's ``escapeData``)."""
    return str("" if value is None else value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: object) -> str:
    """A workflow command's property value (the runner's ``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **props: Any) -> str:
    """``::level k=v,...::message``; properties that are None are left out."""
    given = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v is not None)
    return f"::{level} {given}::{escape_data(message)}" if given else f"::{level}::{escape_data(message)}"


def finding_line(f: dict[str, Any]) -> str:
    guest = f["guest"] or f["path"]
    return command(
        LEVELS.get(f["severity"], "warning"),
        f"{f['host']}/{guest}: {f['message']}",
        file=f["path"],
        title=f"virtaudit {f['code']} {f['rule']} ({f['severity']})",
    )


class Spool:
    """Command lines per severity, written as the batches arrive."""

    def __init__(self, **_run: object) -> None:
        self.rows = BucketFiles()

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            lines = [finding_line(f) for f in part.iter_rows(named=True)]
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        from virtaudit.reports.hosts import verdict_line

        self.rows.copy_to(stream)
        self.rows.close()
        lines = [
            command(
                "error",
                f"could not read {e['path']}: {e['kind']}: {e['message']} (its guests were not audited)",
                file=e["path"],
                line=e["line"],
                col=e["column"],
                title=f"virtaudit: unreadable input ({e['kind']})",
            )
            for e in report.errors.iter_rows(named=True)
        ]
        lines += [
            command(
                VERDICT_LEVELS[h["verdict"]],
                verdict_line(h, report.fail_on),
                title=f"virtaudit host {h['host']}: {h['verdict']}",
            )
            for h in report.host_verdicts().iter_rows(named=True)
        ]
        if (line := report.suppressed_line()) is not None:
            lines.append(command("notice", line, title="virtaudit baseline"))
        judged = report.judged_against()
        if judged["warning"]:
            lines.append(command("warning", str(judged["warning"]), title="virtaudit target"))
        stream.write(("\n".join(lines) + "\n").encode() if lines else b"")


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
