"""Inputs other than plain XML files: archives (sosreports, tarballs, zips) and Parquet datasets.

Archive members are read in memory, never unpacked to disk, and parsed by the same Rust core as files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from virtaudit.scanning import Scan

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".zip")


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ARCHIVE_SUFFIXES)


def is_dataset(path: Path) -> bool:
    """A directory written by ``virtaudit scan --out`` (it holds ``domains/`` and ``errors/``)."""
    return path.is_dir() and (path / "domains").is_dir() and (path / "errors").is_dir()


def is_special(path: Path) -> bool:
    return is_archive(path) or is_dataset(path)


def scan_special(path: Path, **options: Any) -> Scan:
    raise NotImplementedError(f"archives and datasets are not supported yet: {path}")
