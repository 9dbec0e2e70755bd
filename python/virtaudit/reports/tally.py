"""Counts of findings that add up batch by batch, so that a report of any size keeps only these.

Every guest's findings come from one batch (a guest is one input, and each input is in exactly one
batch), so "guests with findings" per host and rule add up across batches like the finding counts do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from virtaudit.reports._common import machine_family
from virtaudit.schema import SEVERITIES

if TYPE_CHECKING:
    import polars as pl

MERGE_EVERY: Final = 32
"""Per-batch counts are summed into one frame every this many batches."""

_KEYS: Final = ("host", "code", "rule", "severity")


def _rank() -> pl.Expr:
    import polars as pl

    return pl.col("severity").replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
    )


def platform_counts(guests: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """(platform, worst, guests): guests by arch and machine family and the worst severity each has
    (``clean``: none). ``guests`` needs host, path, arch and machine."""
    import polars as pl

    worst = findings.group_by("host", "path").agg(_rank().min().alias("rank"))
    return (
        guests.join(worst, on=["host", "path"], how="left")
        .with_columns(
            pl.col("rank")
            .replace_strict(dict(enumerate(SEVERITIES)), default="clean", return_dtype=pl.String)
            .alias("worst"),
            pl.concat_str(
                pl.col("arch").fill_null("?"),
                pl.lit(" · "),
                machine_family(pl.col("machine")).fill_null("?"),
            ).alias("platform"),
        )
        .group_by("platform", "worst")
        .agg(pl.len().cast(pl.UInt32).alias("guests"))
    )


@dataclass
class Tally:
    """Findings counted per (host, code, rule, severity), guests with findings per host, and, where
    asked for, guests per platform and worst severity (the HTML report's chart)."""

    by_key: list[pl.DataFrame] = field(default_factory=list)
    host_guests: list[pl.DataFrame] = field(default_factory=list)
    platforms: list[pl.DataFrame] | None = None
    total: int = 0

    @classmethod
    def of(cls, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> Tally:
        """The counts of one frame of findings (``guests``: also the platform counts)."""
        tally = cls(platforms=None if guests is None else [])
        tally.add(findings, guests)
        return tally

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        import polars as pl

        self.total += findings.height
        if findings.height:
            self.by_key.append(
                findings.group_by(*_KEYS).agg(
                    pl.len().cast(pl.UInt32).alias("findings"),
                    pl.col("path").n_unique().cast(pl.UInt32).alias("guests"),
                )
            )
            self.host_guests.append(
                findings.group_by("host").agg(pl.col("path").n_unique().cast(pl.UInt32).alias("guests"))
            )
        if self.platforms is not None and guests is not None:
            self.platforms.append(platform_counts(guests, findings))
        if len(self.by_key) >= MERGE_EVERY:
            self._merge()

    def _merge(self) -> None:
        self.by_key = [self.keys()]
        self.host_guests = [self.guests_per_host()]
        if self.platforms is not None:
            self.platforms = [self.platform_table()]

    def keys(self) -> pl.DataFrame:
        import polars as pl

        schema = {**dict.fromkeys(_KEYS, pl.String), "findings": pl.UInt32, "guests": pl.UInt32}
        frames = [pl.DataFrame(schema=schema), *self.by_key]
        return (
            pl.concat(frames, how="vertical_relaxed")
            .group_by(*_KEYS, maintain_order=True)
            .agg(pl.col("findings").sum().cast(pl.UInt32), pl.col("guests").sum().cast(pl.UInt32))
        )

    def guests_per_host(self) -> pl.DataFrame:
        """(host, guests): guests with at least one finding."""
        import polars as pl

        frames = [pl.DataFrame(schema={"host": pl.String, "guests": pl.UInt32}), *self.host_guests]
        return (
            pl.concat(frames, how="vertical_relaxed")
            .group_by("host", maintain_order=True)
            .agg(pl.col("guests").sum().cast(pl.UInt32))
        )

    def platform_table(self) -> pl.DataFrame:
        import polars as pl

        schema = {"platform": pl.String, "worst": pl.String, "guests": pl.UInt32}
        frames = [pl.DataFrame(schema=schema), *(self.platforms or [])]
        return (
            pl.concat(frames, how="vertical_relaxed")
            .group_by("platform", "worst", maintain_order=True)
            .agg(pl.col("guests").sum().cast(pl.UInt32))
        )

    @property
    def guests_with_findings(self) -> int:
        return int(self.guests_per_host()["guests"].sum())

    def summary(self) -> dict[str, pl.DataFrame]:
        """What :func:`virtaudit.reports.summary` gives for the same findings."""
        import polars as pl

        keys = self.keys()
        sev_enum = pl.Enum(list(SEVERITIES))
        by_severity = (
            pl.DataFrame({"severity": list(SEVERITIES)})
            .join(
                keys.group_by("severity").agg(pl.col("findings").sum().cast(pl.UInt32)),
                on="severity",
                how="left",
            )
            .with_columns(pl.col("findings").fill_null(0).cast(pl.UInt32))
            .with_columns(pl.col("severity").cast(sev_enum))
        )
        by_rule = (
            keys.with_columns(pl.col("severity").cast(sev_enum))
            .group_by("code", "rule", "severity")
            .agg(pl.col("findings").sum().cast(pl.UInt32), pl.col("guests").sum().cast(pl.UInt32))
            .sort(["severity", "findings", "code"], descending=[False, True, False])
        )
        per_sev = [
            pl.col("findings").filter(pl.col("severity") == s).sum().cast(pl.UInt32).alias(s)
            for s in SEVERITIES
        ]
        by_host = (
            keys.group_by("host")
            .agg(pl.col("findings").sum().cast(pl.UInt32), *per_sev)
            .join(self.guests_per_host(), on="host", how="left")
            .select("host", "findings", "guests", *SEVERITIES)
            .sort([*SEVERITIES, "host"], descending=[True] * len(SEVERITIES) + [False])
        )
        return {"by_severity": by_severity, "by_rule": by_rule, "by_host": by_host}
