"""``virtaudit diff``: what changed between two scans of the same fleet.

Run before and after a libvirtd restart or upgrade (or a day apart), it lists per guest the devices,
aliases and PCI bus names that appeared, vanished or changed.

* Guests are matched by host and UUID (the name where a document has no UUID) and document kind; a
  guest found on another host in the later scan is matched by UUID alone and reported as ``moved``.
* Devices are matched within a guest by a stable key: a controller by type and index, a DIMM by slot,
  a device with a PCI address by element and address, else by element and alias, else by element and
  position among its kind. So an alias or model that changes on the same device is a ``changed`` row.
* QEMU's live device list is compared as a set of aliases; PCI bus names (what QEMU has, and what the
  target libvirt would use after a restart, see :func:`virtaudit.buses`) per controller index.

Everything is computed with polars joins over the scan tables; nothing reads XML text.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan

__all__ = ["CHANGE_COLUMNS", "diff", "errors_of", "finding_changes", "write"]

CHANGE_COLUMNS: Final = (
    "host",
    "guest",
    "uuid",
    "path",
    "scope",
    "change",
    "item",
    "field",
    "before",
    "after",
)
"""One row per difference. scope: guest | device | live_alias | bus | finding; change: appeared | vanished |
changed | moved, and for findings new | resolved; item: the device key, alias or controller (a finding's
code); field: what changed (null for whole items; a finding's severity)."""

SCOPES: Final = ("guest", "device", "live_alias", "bus", "finding")
GUEST_FIELDS: Final = (
    "host",
    "state",
    "reason",
    "arch",
    "machine",
    "virt_type",
    "emulator",
    "has_qemu_caps",
    "caps_count",
    "has_live_devices",
    "blockjobs_active",
)
DEVICE_FIELDS: Final = (
    "alias",
    "type",
    "model",
    "model_name",
    "address",
    "multifunction",
    "target_index",
    "target_chassis",
    "target_port",
    "target_hotplug",
    "video_device",
    "managed",
)
BUS_FIELDS: Final = ("alias", "qemu_bus", "restart_bus")


def _hex(expr: pl.Expr, width: int) -> pl.Expr:
    """``expr`` (an unsigned integer below 16**width) as ``width`` lower-case hex digits."""
    import polars as pl

    digits = {i: format(i, "x") for i in range(16)}
    nibbles = [
        ((expr.cast(pl.Int64) // (16**k)) % 16).replace_strict(digits, return_dtype=pl.String)
        for k in range(width - 1, -1, -1)
    ]
    return pl.concat_str(nibbles)


def _pci_address() -> pl.Expr:
    import polars as pl

    return (
        pl.when(pl.col("address_type") == "pci")
        .then(
            pl.concat_str(
                pl.when(pl.col("pci_domain").fill_null(0) == 0)
                .then(pl.lit(""))
                .otherwise(pl.concat_str(_hex(pl.col("pci_domain"), 4), pl.lit(":"))),
                _hex(pl.col("pci_bus"), 2),
                pl.lit(":"),
                _hex(pl.col("pci_slot"), 2),
                pl.lit("."),
                pl.col("pci_function").cast(pl.String),
            )
        )
        .when(pl.col("address_type") == "dimm")
        .then(pl.concat_str(pl.lit("dimm slot "), pl.col("dimm_slot").cast(pl.String)))
        .otherwise(pl.col("address_type"))
    )


def _guest_key() -> pl.Expr:
    import polars as pl

    return pl.coalesce(
        pl.col("uuid"),
        pl.concat_str(pl.lit("name:"), pl.col("name")),
        pl.concat_str(pl.lit("path:"), pl.col("path")),
    )


def _pairs(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Guest pairs: pair id, path_b, path_a (either null for a guest on one side only), moved."""
    import polars as pl

    b = before.select("path", "host", "kind", _guest_key().alias("gkey"))
    a = after.select("path", "host", "kind", _guest_key().alias("gkey"))
    keys = ["host", "gkey", "kind"]
    # Duplicates of a key within one side (two copies of a guest): number them so they pair in order.
    b = b.with_columns(pl.int_range(pl.len()).over(keys).alias("dup"))
    a = a.with_columns(pl.int_range(pl.len()).over(keys).alias("dup"))
    both = b.join(a, on=[*keys, "dup"], how="inner", suffix="_a").select(
        pl.col("path").alias("path_b"), pl.col("path_a"), pl.lit(False).alias("moved")
    )
    left = b.join(a, on=[*keys, "dup"], how="anti")
    right = a.join(b, on=[*keys, "dup"], how="anti")
    # A guest that moved host: the same uuid and kind, once on each side among the unmatched.
    lu = left.filter(pl.col("gkey").is_unique() & ~pl.col("gkey").str.starts_with("path:"))
    ru = right.filter(pl.col("gkey").is_unique() & ~pl.col("gkey").str.starts_with("path:"))
    moved = lu.join(ru, on=["gkey", "kind"], how="inner", suffix="_a").select(
        pl.col("path").alias("path_b"), pl.col("path_a"), pl.lit(True).alias("moved")
    )
    gone = left.join(moved, left_on="path", right_on="path_b", how="anti").select(
        pl.col("path").alias("path_b"), pl.lit(None, pl.String).alias("path_a"), pl.lit(False).alias("moved")
    )
    new = right.join(moved, left_on="path", right_on="path_a", how="anti").select(
        pl.lit(None, pl.String).alias("path_b"), pl.col("path").alias("path_a"), pl.lit(False).alias("moved")
    )
    pairs = pl.concat([both, moved, gone, new], how="vertical_relaxed")
    return pairs.with_row_index("pair")


def _as_text(expr: pl.Expr) -> pl.Expr:
    import polars as pl

    return expr.cast(pl.String)


def _empty() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={c: pl.String for c in CHANGE_COLUMNS})


def _field_changes(joined: pl.DataFrame, fields: tuple[str, ...], scope: str, item: pl.Expr) -> pl.DataFrame:
    """Rows for each field whose value differs between the ``X`` and ``X_a`` columns of ``joined``."""
    import polars as pl

    frames = []
    for name in fields:
        if name not in joined.columns or f"{name}_a" not in joined.columns:
            continue
        b, a = _as_text(pl.col(name)), _as_text(pl.col(f"{name}_a"))
        changed = joined.filter(b.ne_missing(a))
        if changed.height:
            frames.append(
                changed.select(
                    "pair",
                    pl.lit(scope).alias("scope"),
                    pl.lit("changed").alias("change"),
                    item.alias("item"),
                    pl.lit(name).alias("field"),
                    b.alias("before"),
                    a.alias("after"),
                )
            )
    if not frames:
        return pl.DataFrame(
            schema={
                "pair": pl.UInt32,
                "scope": pl.String,
                "change": pl.String,
                "item": pl.String,
                "field": pl.String,
                "before": pl.String,
                "after": pl.String,
            }
        )
    return pl.concat(frames, how="vertical_relaxed")


def _devices(scan: Scan, pairs: pl.DataFrame, side: str) -> pl.DataFrame:
    import polars as pl

    from virtaudit.rules._base import fmt

    path_col = "path_b" if side == "b" else "path_a"
    dev = scan.devices.join(
        pairs.filter(pl.col(path_col).is_not_null()).select("pair", pl.col(path_col).alias("path")),
        on="path",
        how="inner",
    ).with_columns(_pci_address().alias("address"))
    pos = pl.int_range(pl.len()).over("pair", "element")
    key = (
        pl.when((pl.col("element") == "controller") & pl.col("index").is_not_null())
        .then(fmt("controller {} {}", pl.col("type").fill_null("?"), pl.col("index")))
        .when(pl.col("address_type") == "dimm")
        .then(fmt("{} {}", pl.col("element"), pl.col("address")))
        .when(pl.col("address_type") == "pci")
        .then(fmt("{} at {}", pl.col("element"), pl.col("address")))
        .when(pl.col("alias").is_not_null())
        .then(fmt("{} {}", pl.col("element"), pl.col("alias")))
        .otherwise(fmt("{} #{}", pl.col("element"), pos))
    )
    dev = dev.with_columns(key.alias("dkey"))
    dup = pl.int_range(pl.len()).over("pair", "dkey")
    return dev.with_columns(
        pl.when(dup > 0).then(fmt("{} ({})", pl.col("dkey"), dup + 1)).otherwise(pl.col("dkey")).alias("dkey")
    )


def _bus_table(scan: Scan, pairs: pl.DataFrame, side: str, target_libvirt: str | None) -> pl.DataFrame | None:
    import polars as pl

    try:
        from virtaudit.busnames import buses

        frame = buses(scan, target_libvirt=target_libvirt)
    except (ImportError, AttributeError, ValueError):  # pragma: no cover - rules not available
        return None
    path_col = "path_b" if side == "b" else "path_a"
    return frame.join(
        pairs.filter(pl.col(path_col).is_not_null()).select("pair", pl.col(path_col).alias("path")),
        on="path",
        how="inner",
    ).select("pair", "index", "alias", "qemu_bus", "restart_bus")


def _whole(frame: pl.DataFrame, scope: str, change: str, item: pl.Expr) -> pl.DataFrame:
    """Rows of ``frame`` as changes of a whole item (appeared, vanished): no field, no values."""
    import polars as pl

    return frame.select(
        pl.col("pair").cast(pl.UInt32),
        pl.lit(scope).alias("scope"),
        pl.lit(change).alias("change"),
        item.cast(pl.String).alias("item"),
        pl.lit(None, pl.String).alias("field"),
        pl.lit(None, pl.String).alias("before"),
        pl.lit(None, pl.String).alias("after"),
    )


def _both_ways(
    b: pl.DataFrame, a: pl.DataFrame, on: list[str], scope: str, item: pl.Expr
) -> list[pl.DataFrame]:
    """What vanished from ``b`` and what appeared in ``a``, matched on ``on``."""
    return [
        _whole(b.join(a, on=on, how="anti"), scope, "vanished", item),
        _whole(a.join(b, on=on, how="anti"), scope, "appeared", item),
    ]


def _guest_changes(before: Scan, after: Scan, pairs: pl.DataFrame) -> list[pl.DataFrame]:
    import polars as pl

    doc_b = before.domains.join(pairs.select("pair", pl.col("path_b").alias("path")), on="path", how="inner")
    doc_a = after.domains.join(pairs.select("pair", pl.col("path_a").alias("path")), on="path", how="inner")
    frames = [
        _whole(pairs.filter(pl.col("path_a").is_null()), "guest", "vanished", pl.col("path_b")),
        _whole(pairs.filter(pl.col("path_b").is_null()), "guest", "appeared", pl.col("path_a")),
    ]
    matched = doc_b.join(doc_a, on="pair", how="inner", suffix="_a")
    moved = matched.join(pairs.filter("moved").select("pair"), on="pair", how="semi")
    if moved.height:
        frames.append(
            moved.select(
                pl.col("pair").cast(pl.UInt32),
                pl.lit("guest").alias("scope"),
                pl.lit("moved").alias("change"),
                pl.lit(None, pl.String).alias("item"),
                pl.lit("host").alias("field"),
                pl.col("host").alias("before"),
                pl.col("host_a").alias("after"),
            )
        )
    guest_fields = tuple(f for f in GUEST_FIELDS if f != "host")
    frames.append(_field_changes(matched, guest_fields, "guest", pl.lit(None, pl.String)))
    return frames


def _inner_changes(
    before: Scan, after: Scan, both: pl.DataFrame, target_libvirt: str | None
) -> list[pl.DataFrame]:
    """Changes inside the guests present on both sides: devices, QEMU's live device list, bus names."""
    import polars as pl

    from virtaudit.rules._base import fmt

    dev_b = _devices(before, both, "b")
    dev_a = _devices(after, both, "a")
    frames = _both_ways(dev_b, dev_a, ["pair", "dkey"], "device", pl.col("dkey"))
    dev_both = dev_b.join(dev_a, on=["pair", "dkey"], how="inner", suffix="_a")
    frames.append(_field_changes(dev_both, DEVICE_FIELDS, "device", pl.col("dkey")))

    def live(scan: Scan, side: str) -> pl.DataFrame:
        paths = both.select("pair", pl.col(f"path_{side}").alias("path"))
        return scan.live_aliases.join(paths, on="path").select("pair", "alias").unique()

    frames += _both_ways(
        live(before, "b"), live(after, "a"), ["pair", "alias"], "live_alias", pl.col("alias")
    )

    bus_b = _bus_table(before, both, "b", target_libvirt)
    bus_a = _bus_table(after, both, "a", target_libvirt)
    if bus_b is not None and bus_a is not None:
        item = fmt("pci controller {}", pl.col("index"))
        frames += _both_ways(bus_b, bus_a, ["pair", "index"], "bus", item)
        bus_both = bus_b.join(bus_a, on=["pair", "index"], how="inner", suffix="_a")
        frames.append(_field_changes(bus_both, ("qemu_bus", "restart_bus"), "bus", item))
    return frames


def diff(before: Scan, after: Scan, *, target_libvirt: str | None = None) -> pl.DataFrame:
    """The differences from ``before`` to ``after`` (:data:`CHANGE_COLUMNS`)."""
    import polars as pl

    pairs = _pairs(before.domains, after.domains)
    both = pairs.filter(pl.col("path_b").is_not_null() & pl.col("path_a").is_not_null())
    change_frames = _guest_changes(before, after, pairs) + _inner_changes(before, after, both, target_libvirt)
    changes = _concat_changes(change_frames)
    if changes.height == 0:
        return _empty()
    scope_rank = pl.col("scope").replace_strict({s: i for i, s in enumerate(SCOPES)}, return_dtype=pl.Int32)
    out = changes.join(_identities(before, after, pairs), on="pair", how="left")
    out = out.sort(
        ["host", "guest", "path", scope_rank, "item", "field"], nulls_last=False, maintain_order=True
    )
    return out.select(pl.col(c).cast(pl.String) for c in CHANGE_COLUMNS)


# A finding is the same one in both scans when these agree (its message may name paths or releases).
_FINDING_KEY: Final = ("host", "uuid", "code", "element", "alias", "severity")


def finding_changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The findings that are new in ``after`` and those ``before`` had that ``after`` has not (resolved),
    as change rows (:data:`CHANGE_COLUMNS`, scope ``finding``): ``virtaudit diff`` beside the structural
    changes, so that a restart or upgrade shows what it fixed and what it broke."""
    import polars as pl

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(*_FINDING_KEY, "guest", "path", "message").unique(
            subset=list(_FINDING_KEY), keep="first", maintain_order=True
        )

    old, new = keyed(before), keyed(after)
    rows = []
    for change, side, other, column in (("new", new, old, "after"), ("resolved", old, new, "before")):
        only = side.join(other, on=list(_FINDING_KEY), how="anti", nulls_equal=True)
        rows.append(
            only.select(
                "host",
                "guest",
                "uuid",
                "path",
                pl.lit("finding").alias("scope"),
                pl.lit(change).alias("change"),
                pl.col("code").alias("item"),
                pl.col("severity").alias("field"),
                (pl.lit(None, pl.String) if column == "after" else pl.col("message")).alias("before"),
                (pl.col("message") if column == "after" else pl.lit(None, pl.String)).alias("after"),
            )
        )
    out = pl.concat(rows, how="vertical_relaxed").sort(["host", "guest", "item"], maintain_order=True)
    return out.select(pl.col(c).cast(pl.String) for c in CHANGE_COLUMNS)


def _concat_changes(change_frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The change rows of every frame, cast to one schema: pair, scope, change, item, field, before,
    after."""
    import polars as pl

    whole_schema = {
        "pair": pl.UInt32,
        "scope": pl.String,
        "change": pl.String,
        "item": pl.String,
        "field": pl.String,
        "before": pl.String,
        "after": pl.String,
    }
    return pl.concat(
        [f.select(pl.col(c).cast(t) for c, t in whole_schema.items()) for f in change_frames],
        how="vertical_relaxed",
    )


def _identities(before: Scan, after: Scan, pairs: pl.DataFrame) -> pl.DataFrame:
    """Guest identity for every pair (pair, path, host, guest, uuid): the later document where there is
    one."""
    import polars as pl

    ident = pairs.select(
        "pair",
        pl.coalesce("path_a", "path_b").alias("path"),
    ).join(
        pl.concat(
            [
                after.domains.select("path", "host", pl.col("name").alias("guest"), "uuid"),
                before.domains.select("path", "host", pl.col("name").alias("guest"), "uuid"),
            ],
            how="vertical_relaxed",
        ).unique(subset="path", keep="first", maintain_order=True),
        on="path",
        how="left",
    )
    return ident.with_columns(pl.col("pair").cast(pl.UInt32))


def errors_of(before: Scan, after: Scan) -> pl.DataFrame:
    """Both scans' unreadable inputs, with a ``side`` column (before | after)."""
    import polars as pl

    return pl.concat(
        [
            before.errors.select(pl.lit("before").alias("side"), pl.all()),
            after.errors.select(pl.lit("after").alias("side"), pl.all()),
        ],
        how="vertical_relaxed",
    )


def _table(changes: pl.DataFrame, errors: pl.DataFrame, *, color: bool, quiet: bool) -> str:
    import io
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from virtaudit.reports._common import printable

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=max(100, shutil.get_terminal_size((140, 24)).columns),
        force_terminal=color,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
    )
    styles = {"appeared": "green", "vanished": "red", "changed": "yellow", "moved": "cyan"}
    if changes.height == 0:
        console.print(Text("No differences.", style="green"))
    else:
        if not quiet:
            counts = changes.group_by("change").len().sort("change")
            summary = ", ".join(f"{n} {c}" for c, n in counts.iter_rows())
            guests = changes.select("host", "path").unique().height
            console.print(Text(f"{changes.height} differences in {guests} guests: {summary}", style="bold"))
        table = Table(expand=True)
        for col in ("host", "guest", "scope", "change", "item", "field", "before", "after"):
            table.add_column(col, overflow="fold")
        for row in changes.iter_rows(named=True):
            table.add_row(
                *(Text(printable(row[c])) for c in ("host", "guest", "scope")),
                Text(printable(row["change"]), style=styles.get(row["change"], "")),
                *(Text(printable(row[c])) for c in ("item", "field", "before", "after")),
            )
        console.print(table)
    if errors.height:
        table = Table(
            title=f"Could not read ({errors.height})",
            title_justify="left",
            title_style="bold red",
            expand=True,
        )
        for col in ("side", "path", "kind", "message"):
            table.add_column(col, overflow="fold")
        for row in errors.iter_rows(named=True):
            table.add_row(*(Text(printable(row[c])) for c in ("side", "path", "kind", "message")))
        console.print(table)
    return buffer.getvalue()


def write(
    fmt: str,
    changes: pl.DataFrame,
    errors: pl.DataFrame,
    stream: IO[bytes],
    *,
    color: bool = False,
    quiet: bool = False,
) -> None:
    """Write the differences as table, json, jsonl or csv."""
    import json

    import polars as pl

    if fmt == "table":
        stream.write(_table(changes, errors, color=color, quiet=quiet).encode())
    elif fmt == "json":
        doc: dict[str, Any] = {
            "changes": changes.to_dicts(),
            "errors": errors.to_dicts(),
            "summary": {"changes": changes.height, "unreadable": errors.height},
        }
        stream.write((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
    elif fmt == "jsonl":
        lines = []
        if changes.height:
            lines += changes.select(pl.lit("change").alias("type"), pl.all()).write_ndjson().splitlines()
        if errors.height:
            lines += errors.select(pl.lit("error").alias("type"), pl.all()).write_ndjson().splitlines()
        stream.write("".join(line + "\n" for line in lines).encode())
    elif fmt == "csv":
        rows = changes
        if errors.height:
            rows = pl.concat(
                [
                    changes,
                    errors.select(
                        pl.col("host").cast(pl.String),
                        pl.lit(None, pl.String).alias("guest"),
                        pl.lit(None, pl.String).alias("uuid"),
                        pl.col("path").cast(pl.String),
                        pl.lit("input").alias("scope"),
                        pl.lit("unreadable").alias("change"),
                        pl.col("side").alias("item"),
                        pl.col("kind").cast(pl.String).alias("field"),
                        pl.lit(None, pl.String).alias("before"),
                        pl.col("message").cast(pl.String).alias("after"),
                    ),
                ],
                how="vertical_relaxed",
            )
        rows.write_csv(stream)
    else:
        raise ValueError(f"unknown diff format {fmt!r}")
