"""``virtaudit rules`` and ``virtaudit explain``: the rule catalog."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from virtaudit.cli import console
from virtaudit.cli.options import RulesFormat, usage_error

__all__ = ["explain_command", "rules_command"]


def rules_command(
    output_format: Annotated[RulesFormat, typer.Option("--output-format", "-f", case_sensitive=False)] = (
        RulesFormat.table
    ),
) -> None:
    """The rule catalog: every code, its name, severities and affected versions."""
    import polars as pl

    from virtaudit.catalog import rules as catalog_rules

    catalog = catalog_rules()
    fmt = output_format.value
    if fmt == "json":
        sys.stdout.write(catalog.write_json() + "\n")
        return
    if fmt == "csv":
        flat = catalog.with_columns(
            pl.col(c).list.join(",") for c, t in catalog.schema.items() if isinstance(t, pl.List)
        )
        sys.stdout.write(flat.write_csv())
        return
    from rich.table import Table
    from rich.text import Text

    from virtaudit.reports.table import SEVERITY_STYLES

    table = Table(
        title="virtaudit rules (`virtaudit explain CODE` for details)", title_justify="left", expand=True
    )
    table.add_column("code", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("severities", no_wrap=True)
    table.add_column("scope", no_wrap=True)
    table.add_column("affected", ratio=1)
    for row in catalog.iter_rows(named=True):
        sev = Text()
        for i, s in enumerate(row.get("severities") or []):
            if i:
                sev.append(", ")
            sev.append(s, style=SEVERITY_STYLES.get(s, ""))
        table.add_row(
            row["code"], row["name"], sev, str(row.get("scope") or ""), Text(str(row.get("affected") or ""))
        )
    console.stdout_console().print(table)


def explain_command(
    code: Annotated[
        str, typer.Argument(help="A rule code (PCI001) or name (root-user-alias).", show_default=False)
    ],
) -> None:
    """Why a rule's hazard breaks guests, the evidence, the affected versions, and what to do."""
    import polars as pl
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from virtaudit.catalog import rules as catalog_rules

    catalog = catalog_rules()
    match = catalog.filter(
        (pl.col("code") == code.strip().upper()) | (pl.col("name") == code.strip().lower())
    )
    if match.height == 0:
        known = ", ".join(catalog["code"].to_list())
        raise usage_error(f"unknown rule {code!r}; known codes: {known}", "CODE")
    row = match.row(0, named=True)
    sections: list[Any] = []
    for title, key in (
        ("Severity", "severity_logic"),
        ("Why it breaks", "why"),
        ("Affected versions", "affected"),
        ("Evidence", "evidence"),
        ("What to do", "remediation"),
        ("Message", "message"),
    ):
        value = row.get(key)
        if value:
            sections.append(Text(title, style="bold"))
            sections.append(Text(str(value)))
            sections.append(Text(""))
    heading = (
        f"{row['code']} {row['name']}  ({', '.join(row.get('severities') or [])}; scope {row.get('scope')})"
    )
    console.stdout_console().print(
        Panel(Group(*sections[:-1]), title=Text(heading, style="bold"), title_align="left")
    )
