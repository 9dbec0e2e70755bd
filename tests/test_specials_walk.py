"""The one walk that finds what of a named directory the core does not read (archives, extracted sosreports,
datasets: virtaudit.pipeline.specials), against the separate walks it replaced, kept here as the reference:
the same inputs are split the same way, in the same order, on a tree planted with every case."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from virtaudit.datasets import DATASET_META, dataset_dirs
from virtaudit.pipeline.inputs import kernel_path, split_inputs
from virtaudit.pipeline.specials import specials_under
from virtaudit.sosreports import SOS_SEARCH_DEPTH, is_sosreport_dir, may_be_sosreport, plain_parts
from virtaudit.sources import ARCHIVE_SUFFIXES, is_special

# --------------------------------------------------------------------------------------------------
# the reference: three walks, as split_inputs did them before the one walk


def _sosreports_under(path: Path, depth: int = SOS_SEARCH_DEPTH) -> list[Path]:
    found: list[Path] = []
    try:
        with os.scandir(path) as entries:
            children = sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return found
    for child in children:
        if is_sosreport_dir(child):
            found.append(child)
        elif depth > 1:
            found.extend(_sosreports_under(child, depth - 1))
    return found


def _archives_under(path: str) -> list[Path]:
    found: list[Path] = []
    for top, dirs, files in os.walk(path, onerror=None, followlinks=False):
        dirs.sort()
        found.extend(Path(top) / f for f in sorted(files) if f.lower().endswith(ARCHIVE_SUFFIXES))
    return [p for p in found if p.is_file() and not kernel_path(str(p))]


def reference_split(paths: list[str]) -> tuple[list[str], list[Path]]:
    plain: list[str] = []
    special: list[Path] = []
    for p in paths:
        if is_special(Path(p)):
            special.append(Path(p))
            if Path(p).is_dir() and not is_sosreport_dir(Path(p)):
                plain.append(p)
        elif not os.path.isdir(p):
            plain.append(p)
        else:
            reports = _sosreports_under(Path(p))
            plain.extend(plain_parts(Path(p), reports) if reports else [p])
            special.extend(reports)
            special.extend(_archives_under(p))
    return plain, special


# --------------------------------------------------------------------------------------------------
# the planted tree


def _file(path: Path, text: str = "<domstatus/>") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _sosreport(top: Path, how: str) -> None:
    if how == "sos":
        (top / "sos_commands").mkdir(parents=True)
    elif how == "collect":
        _file(top / "virtaudit-collect.txt", "x")
    else:  # libvirt's status directory beside a file naming the host
        (top / "var/run/libvirt/qemu").mkdir(parents=True)
        _file(top / "hostname", "h1")
    _file(top / "run/libvirt/qemu/g.xml")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    top = tmp_path / "fleet"
    for host in range(3):
        for guest in range(4):
            _file(top / f"host-{host}" / f"guest-{guest}.xml")
    _file(top / "host-1" / "bundle.tar.gz", "not really")
    _file(top / "host-1" / "BACKUP.ZIP", "x")
    _file(top / "host-2" / "notes.txt", "x")
    _file(top / "deep" / "a" / "b" / "c" / "d" / "old.tgz", "x")
    _sosreport(top / "case-1" / "sosreport-a", "sos")
    _sosreport(top / "case-1" / "sosreport-b", "collect")
    _sosreport(top / "x" / "y" / "sosreport-c", "status")
    _sosreport(top / "x" / "y" / "z" / "w" / "too-deep", "sos")  # (below the search depth)
    _file(top / "case-1" / "sosreport-a" / "sos_commands" / "inner.tar", "x")  # (an archive in a report)
    _sosreport(top / "case-1" / "sosreport-a" / "nested", "sos")  # (no report is searched below a report)
    # a directory named like an archive, a link to an archive, a broken link, a link to a directory
    (top / "dir.tar").mkdir()
    os.symlink(top / "host-1" / "bundle.tar.gz", top / "link.tar.gz")
    os.symlink(top / "missing.tar", top / "broken.tar")
    os.symlink(top / "case-1", top / "linked-case")
    # names the checks look for, in places where they do not make a report or a dataset
    _file(top / "host-0" / "sos_commands", "a file, not a directory")
    (top / "host-0" / "run").mkdir()
    return top


def test_one_walk_splits_a_directory_as_the_separate_walks_did(tree: Path) -> None:
    for paths in ([str(tree)], [str(tree / "case-1")], [str(tree / "x")], [str(tree), str(tree / "host-1")]):
        assert split_inputs(paths) == reference_split(paths), paths
    # (the tree plants what the comparison is about: a comparison of two empty lists would prove nothing)
    plain, special = split_inputs([str(tree)])
    names = [p.name for p in special]
    assert names == [
        *("sosreport-a", "sosreport-b", "sosreport-c"),
        *("link.tar.gz", "inner.tar", "old.tgz", "BACKUP.ZIP", "bundle.tar.gz"),
    ]
    assert "too-deep" not in names and "nested" not in names and "dir.tar" not in names
    assert str(tree / "host-0") in plain and str(tree / "case-1") not in plain


def test_a_directory_of_datasets_is_read_as_datasets_and_walked(tree: Path) -> None:
    _file(tree / "host-2" / DATASET_META, "{}")
    assert dataset_dirs(tree) == [tree / "host-2"]
    assert split_inputs([str(tree)]) == reference_split([str(tree)]) == ([str(tree)], [tree])
    assert specials_under(tree).datasets == [tree / "host-2"]


def test_an_unlistable_directory_is_left_to_the_core(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (as root every directory lists: the refusal is made by os.scandir, for both walks alike)
    real_scandir = os.scandir
    locked = {str(tree / "host-1"), str(tree / "case-1" / "sosreport-b")}

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if os.fspath(path) in locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    plain, special = split_inputs([str(tree)])
    assert (plain, special) == reference_split([str(tree)])
    names = [p.name for p in special]
    assert "BACKUP.ZIP" not in names and "sosreport-b" in names


def test_the_listing_test_admits_every_sosreport_layout(tmp_path: Path) -> None:
    # may_be_sosreport lets the walk skip is_sosreport_dir: it must say yes wherever that says yes.
    for how in ("sos", "collect", "status"):
        top = tmp_path / how
        _sosreport(top, how)
        assert is_sosreport_dir(top) and may_be_sosreport(os.listdir(top)), how
    assert not may_be_sosreport(["guest-1.xml", "notes.txt", "host-1"])
