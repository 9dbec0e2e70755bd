"""virtaudit never writes to what it reads (issue 6).

A tree of inputs (status files, a broken file, a symlink, archives and a dataset once they are supported)
is made read-only, then scanned and audited in every way the package offers: the Python API and each CLI
command and output format, run from inside the tree. Afterwards every input's bytes, size and mtime are
unchanged, no file appeared or vanished, no directory's mtime moved (a temporary file created and removed
would move it), and, where the mount updates access times, the files the core read kept their atime
(it opens them with O_NOATIME).

We run as root, which chmod does not stop: the read-only bits are set to be faithful to the real case, and
the before/after comparison is what proves that nothing was written.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_support import (
    GOOD_STATUS,
    atimes,
    every_file,
    file_states,
    good_files,
    make_tree_read_only,
    make_tree_writable,
    run_with_timeout,
)

pytestmark = pytest.mark.usefixtures("scan")

CLI = [sys.executable, "-m", "virtaudit.cli"]
THREE_DAYS = 3 * 24 * 3600


def archives_work() -> bool:
    from virtaudit import sources

    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"virtaudit-ro-probe-{os.getpid()}.tar"
    try:
        with tarfile.open(probe, "w") as tf:
            info = tarfile.TarInfo("h/g.xml")
            info.size = len(GOOD_STATUS)
            tf.addfile(info, io.BytesIO(GOOD_STATUS.encode()))
        try:
            sources.scan_special(probe)
        except NotImplementedError:
            return False
        return True
    finally:
        probe.unlink(missing_ok=True)


def cli_available() -> bool:
    proc = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=False, timeout=60)
    return proc.returncode == 0


def dir_states(root: Path) -> dict[str, tuple[int, tuple[str, ...]]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        out[dirpath] = (os.stat(dirpath).st_mtime_ns, tuple(sorted(dirnames + filenames)))
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A read-only tree of inputs; yields what it holds and what it looked like."""
    root = tmp_path / "inputs"
    xml = good_files(root / "hv-a", count=8)
    (root / "hv-b").mkdir()
    (root / "hv-b" / "broken.xml").write_text(GOOD_STATUS[:300])
    (root / "hv-b" / "link.xml").symlink_to(xml[0])
    xml += [root / "hv-b" / "broken.xml"]
    archives: list[Path] = []
    if archives_work():
        tgz = root / "fleet.tar.gz"
        with tarfile.open(tgz, "w:gz") as tf:
            for p in xml:
                tf.add(p, arcname=f"fleet/{p.parent.name}/{p.name}")
        z = root / "fleet.zip"
        with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in xml:
                zf.write(p, arcname=f"{p.parent.name}/{p.name}")
        archives = [tgz, z]
    dataset = None
    if cli_available():
        dataset = root / "dataset"
        proc = subprocess.run(
            [*CLI, "scan", str(root / "hv-a"), "--out", str(dataset), "-q"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert proc.returncode in (0, 3), proc.stderr
    files = every_file(root)
    before = file_states(files)  # reads every file: done before the access times are set
    make_tree_read_only(root)
    dirs_before = dir_states(root)
    # Access times in the past (3 days), set last: a plain read on a relatime mount moves them to now.
    past = time.time_ns() - THREE_DAYS * 10**9
    for p in files:
        if not p.is_symlink():
            os.utime(p, ns=(past, p.stat().st_mtime_ns))
    atime_before = atimes(files)
    try:
        yield {
            "root": root,
            "xml": xml,
            "archives": archives,
            "dataset": dataset,
            "files": files,
            "before": before,
            "dirs_before": dirs_before,
            "atime_before": atime_before,
            "out": tmp_path / "out",
        }
    finally:
        make_tree_writable(root)


def atime_is_updated_here(directory: Path) -> bool:
    """Whether this mount moves atime on a read (relatime does for an atime older than a day)."""
    probe = directory / f"atime-probe-{os.getpid()}"
    probe.write_bytes(b"x" * 100)
    try:
        past = time.time_ns() - THREE_DAYS * 10**9
        os.utime(probe, ns=(past, probe.stat().st_mtime_ns))
        with open(probe, "rb") as f:
            f.read()
        return probe.stat().st_atime_ns != past
    finally:
        probe.unlink()


def assert_unchanged(tree: dict[str, Any], *, check_atime_of: list[Path]) -> None:
    root: Path = tree["root"]
    assert dir_states(root) == tree["dirs_before"], (
        "a file appeared, vanished or was renamed in the input tree"
    )
    # atime first: reading the bytes to compare them moves it.
    if check_atime_of and atime_is_updated_here(tree["out"].parent):
        now = atimes(check_atime_of)
        moved = {p: (tree["atime_before"][p], t) for p, t in now.items() if t != tree["atime_before"][p]}
        assert not moved, f"access times changed (reads without O_NOATIME): {sorted(moved)}"
    after = file_states(tree["files"])
    changed = [p for p in after if after[p] != tree["before"][p]]
    assert not changed, f"inputs changed (bytes, size or mtime): {changed}"


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_with_timeout(
        lambda: subprocess.run(
            [*CLI, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
        ),
        timeout + 10,
        what=" ".join(args[:2]),
    )


def test_python_api_never_writes(tree: dict[str, Any]) -> None:
    import virtaudit

    root = tree["root"]
    cwd = os.getcwd()
    os.chdir(root)  # nothing may land in the working directory either
    try:
        for jobs in (1, 2):
            s = run_with_timeout(lambda jobs=jobs: virtaudit.scan(root / "hv-a", root / "hv-b", jobs=jobs))
            assert s.domains.height > 0
            assert s.errors.height >= 1  # broken.xml
            run_with_timeout(lambda s=s: virtaudit.audit(s))
        for batch in run_with_timeout(lambda: list(virtaudit.scan_batches(root / "hv-a", batch_files=3))):
            assert batch.files > 0
        if tree["archives"]:
            run_with_timeout(lambda: virtaudit.scan(*tree["archives"]))
        if tree["dataset"] is not None:
            run_with_timeout(lambda: virtaudit.audit(virtaudit.scan(tree["dataset"])))
        run_with_timeout(lambda: virtaudit.scan(root))
    finally:
        os.chdir(cwd)
    plain = [p for p in tree["xml"] if p.suffix == ".xml"]
    assert_unchanged(tree, check_atime_of=plain)


FORMATS = ["table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html"]


def test_cli_never_writes(tree: dict[str, Any]) -> None:
    if not cli_available():
        pytest.skip("the virtaudit CLI is not available yet")
    root, out = tree["root"], tree["out"]
    out.mkdir()
    inputs = [str(root / "hv-a"), str(root / "hv-b"), *map(str, tree["archives"])]
    if tree["dataset"] is not None:
        inputs.append(str(tree["dataset"]))
    for fmt in FORMATS:
        proc = run_cli(["audit", *inputs, "-f", fmt, "-o", str(out / f"report.{fmt}"), "-q"], cwd=root)
        assert proc.returncode == 3, (fmt, proc.returncode, proc.stderr[-2000:])  # broken.xml is unreadable
    proc = run_cli(["audit", *inputs, "-q"], cwd=root)
    assert proc.returncode == 3, proc.stderr[-2000:]
    proc = run_cli(["scan", *inputs, "--out", str(out / "dataset"), "-q"], cwd=root)
    assert proc.returncode == 3, proc.stderr[-2000:]
    proc = run_cli(["show", str(tree["xml"][0])], cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if tree["dataset"] is not None:
        proc = run_cli(["diff", str(tree["dataset"]), str(root / "hv-a"), "-q"], cwd=root)
        assert proc.returncode in (0, 1, 3), proc.stderr[-2000:]
    assert_unchanged(tree, check_atime_of=[p for p in tree["xml"] if p.suffix == ".xml"])


def test_archives_are_read_without_moving_their_access_time(tree: dict[str, Any]) -> None:
    """The core opens files with O_NOATIME; archives, read in Python, should be opened the same way."""
    import virtaudit

    if not tree["archives"]:
        pytest.skip("archives are not supported yet (virtaudit.sources.scan_special)")
    run_with_timeout(lambda: virtaudit.scan(*tree["archives"]))
    assert_unchanged(tree, check_atime_of=tree["archives"])


def test_a_symlink_out_of_the_tree_is_read_not_followed_for_writing(tmp_path: Path) -> None:
    """A symlinked input is read through the link; neither the link nor its target changes."""
    import virtaudit

    target = tmp_path / "elsewhere" / "real.xml"
    target.parent.mkdir()
    target.write_text(GOOD_STATUS)
    link_dir = tmp_path / "h"
    link_dir.mkdir()
    (link_dir / "g.xml").symlink_to(target)
    before = (target.read_bytes(), target.stat().st_mtime_ns, os.readlink(link_dir / "g.xml"))
    s = run_with_timeout(lambda: virtaudit.scan(link_dir))
    assert s.domains.height == 1
    assert (target.read_bytes(), target.stat().st_mtime_ns, os.readlink(link_dir / "g.xml")) == before
    shutil.rmtree(tmp_path / "elsewhere")
