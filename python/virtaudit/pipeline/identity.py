"""A host's identity is never taken over by another input.

Two inputs may claim one host name: two sosreports of one host taken on different days, a sosreport and
a dataset, a copied report renamed. Merged under one name, one input's guests would pass as the other's
and its package versions would judge both. The first input to claim a name keeps it; every later one
(an archive, an extracted sosreport or a dataset) is renamed ``NAME@SOURCE`` (SOURCE: its file or
directory name), with a note saying so, and the rows, facts and findings of the two stay apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from virtaudit.pipeline.inputs import Piece
    from virtaudit.scanning import Scan

PLAIN: str = "<files>"


class HostClaims:
    """Which input claimed each host name first, and the renames made since."""

    def __init__(self, note: Callable[[str], None] | None = None) -> None:
        self.claims: dict[str, str] = {}
        self.renamed: list[tuple[str, str, str]] = []
        """(host, new name, source) for every input renamed."""
        self._note = note

    def claim_plain(self, batch: Scan) -> None:
        """Plain files share their host names freely (a host's status files come in many batches)."""
        for host in _hosts(batch):
            self.claims.setdefault(host, PLAIN)

    def claim(self, piece: Piece) -> Piece:
        """``piece`` with the hosts another input claimed first renamed ``NAME@SOURCE``."""
        source = piece.source
        if source is None:
            self.claim_plain(piece.scan)
            return piece
        hosts = _hosts(piece.scan)
        if piece.facts is not None:
            hosts |= set(piece.facts["host"].to_list())
        from virtaudit.sources import archive_name

        label = archive_name(Path(source)) or source
        mapping: dict[str, str] = {}
        for host in sorted(hosts):
            owner = self.claims.get(host)
            if owner is None or owner == source:
                self.claims[host] = source
                continue
            new = f"{host}@{label}"
            n = 2
            while new in self.claims and self.claims[new] != source:
                new, n = f"{host}@{label}#{n}", n + 1
            mapping[host] = new
            self.claims[new] = source
            self.renamed.append((host, new, source))
            if self._note is not None:
                first = "plain files" if owner == PLAIN else owner
                self._note(
                    f"host {host!r} of {source} was already read from {first}: its rows are kept apart "
                    f"as host {new!r}"
                )
        return rename_hosts(piece, mapping) if mapping else piece


def _hosts(scan: Scan) -> set[str]:
    return {
        host
        for frame in (scan.domains, scan.errors)
        if "host" in frame.columns
        for host in frame["host"].unique().to_list()
    }


def rename_hosts(piece: Piece, mapping: dict[str, str]) -> Piece:
    """``piece`` with its host names replaced by ``mapping`` in every table and in its facts."""
    import dataclasses

    import polars as pl

    def renamed(frame: pl.DataFrame) -> pl.DataFrame:
        if "host" not in frame.columns or frame.height == 0:
            return frame
        return frame.with_columns(pl.col("host").replace(mapping))

    scan = piece.scan
    tables = {name: renamed(frame) for name, frame in scan.tables().items()}
    new_scan = type(scan).from_tables(tables, scan.sources)
    facts = None if piece.facts is None else renamed(piece.facts)
    return dataclasses.replace(piece, scan=new_scan, facts=facts)


# --------------------------------------------------------------------------------------------------
# libvirt's other documents


def _in_libvirt_dir(path: str) -> bool:
    """Whether ``path`` (or an archive member's path) lies under a directory named ``libvirt``."""
    return "/libvirt/" in "/" + path.replace("!", "/")


def _autostart_link(path: str) -> bool:
    """``.../libvirt/.../autostart/NAME`` is a symbolic link to a file of the directory above it."""
    import os

    if not _in_libvirt_dir(path) or "!" in path:
        return False
    link = os.path.abspath(path)
    parent = os.path.dirname(link)
    if os.path.basename(parent) != "autostart" or not os.path.islink(link):
        return False
    target = os.path.realpath(link)
    return os.path.dirname(target) == os.path.realpath(os.path.dirname(parent)) and os.path.isfile(target)


class OtherDocuments:
    """libvirt's documents that are not guests (networks, nwfilters, storage pools... under a
    ``libvirt`` directory, such as ``/etc/libvirt/qemu/networks``): taken out of the error rows and
    counted by root element. The core names them (``not_domain``) only when the document is well-formed
    and its root is one of libvirt's own objects; anywhere else such a file stays an error row."""

    KIND: str = "not_domain"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def skip(self, scan: Scan) -> Scan:
        return self._skip_errors(self._skip_autostart(scan))

    def _skip_autostart(self, scan: Scan) -> Scan:
        """Guests read twice: ``/etc/libvirt/qemu/autostart/GUEST.xml`` is a symbolic link to
        ``../GUEST.xml``, read from the directory above; a link that resolves anywhere else is read."""
        import polars as pl

        domains = scan.domains
        if domains.height == 0 or "path" not in domains.columns:
            return scan
        candidates = domains.filter(pl.col("path").str.contains("/autostart/", literal=True))["path"]
        twice = [p for p in candidates.to_list() if _autostart_link(p)]
        if not twice:
            return scan
        self.counts["autostart link"] = self.counts.get("autostart link", 0) + len(twice)
        tables = {
            name: frame.filter(~pl.col("path").is_in(twice)) if "path" in frame.columns else frame
            for name, frame in scan.tables().items()
        }
        return type(scan).from_tables(tables, scan.sources)

    def _skip_errors(self, scan: Scan) -> Scan:
        import re

        import polars as pl

        errors = scan.errors
        if errors.height == 0:
            return scan
        other = errors.filter(pl.col("kind") == self.KIND)
        if other.height == 0:
            return scan
        keep: list[bool] = []
        for path, message in other.select("path", "message").iter_rows():
            skipped = _in_libvirt_dir(path)
            keep.append(not skipped)
            if skipped:
                match = re.search(r"<([A-Za-z]+)>", message or "")
                root = match.group(1) if match else "other"
                self.counts[root] = self.counts.get(root, 0) + 1
        dropped = other.filter(~pl.Series(keep, dtype=pl.Boolean))
        if dropped.height == 0:
            return scan
        tables = scan.tables()
        tables["errors"] = errors.join(dropped.select("path"), on="path", how="anti")
        return type(scan).from_tables(tables, scan.sources)

    def summary(self) -> str | None:
        """One line for the operator (None: nothing was skipped)."""
        if not self.counts:
            return None
        total = sum(self.counts.values())
        parts = ", ".join(f"{root} {n}" for root, n in sorted(self.counts.items()))
        return f"skipped {total} libvirt document(s) that are not guests ({parts})"
